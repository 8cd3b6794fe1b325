package miniotest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func TestStart(t *testing.T) {
	var srv Server
	var dataDir string
	t.Run("running", func(t *testing.T) {
		began := time.Now()
		srv = Start(t)
		t.Logf("the server answered after %v", time.Since(began).Round(time.Millisecond))

		c, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.MakeBucket(t.Context(), "photos", minio.MakeBucketOptions{}); err != nil {
			t.Fatalf("the server refused its own credentials: %v", err)
		}
		if host, _, _ := net.SplitHostPort(srv.Endpoint); host != "127.0.0.1" {
			t.Errorf("the server listens on %s, want loopback only", srv.Endpoint)
		}
		dataDir = filepath.Dir(t.TempDir()) // where Start's TempDir lives too
	})
	if t.Failed() || t.Skipped() {
		return
	}
	// Stopped by the subtest's cleanup, and its data removed.
	if c, err := net.DialTimeout("tcp", srv.Endpoint, time.Second); err == nil {
		_ = c.Close()
		t.Errorf("the server still accepts connections after its test ended")
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the data directory is still there: %v", err)
	}
}

// The server must not outlive a test binary that is killed (by a timeout,
// or by hand), which skips every cleanup.
func TestServerDiesWithTestBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux can tie a child's life to its parent")
	}
	if os.Getenv("MINIOTEST_HELPER") == "1" {
		bin := requireBinary(t)
		p, err := start(bin, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("minio pid %d\n", p.cmd.Process.Pid)
		time.Sleep(time.Hour) // until killed
	}
	requireBinary(t)

	helper := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTestBinary$")
	helper.Env = append(os.Environ(), "MINIOTEST_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	scanner := bufio.NewScanner(out)
	for scanner.Scan() {
		if rest, ok := strings.CutPrefix(scanner.Text(), "minio pid "); ok {
			pid, _ = strconv.Atoi(rest)
			break
		}
	}
	if pid == 0 {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatal("the helper test binary did not start a server")
	}
	if !alive(pid) {
		t.Fatalf("the server (pid %d) is not running", pid)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()

	for deadline := time.Now().Add(30 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the server (pid %d) outlived its killed test binary", pid)
		}
	}
}

// alive reports whether pid runs; a zombie that nobody reaps counts as dead.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

func TestFindBinaryOrder(t *testing.T) {
	dirs := map[string]string{}
	for _, name := range []string{"explicit", "path", "gobin", "gopath", "home"} {
		dirs[name] = t.TempDir()
	}
	fakeBinary := func(dir string) string {
		p := filepath.Join(dir, "minio")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	explicit := fakeBinary(dirs["explicit"])
	onPath := fakeBinary(dirs["path"])
	inGOBIN := fakeBinary(dirs["gobin"])
	if err := os.MkdirAll(filepath.Join(dirs["gopath"], "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	inGOPATH := fakeBinary(filepath.Join(dirs["gopath"], "bin"))
	if err := os.MkdirAll(filepath.Join(dirs["home"], "go", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	inHome := fakeBinary(filepath.Join(dirs["home"], "go", "bin"))

	t.Setenv("MINIO_BIN", explicit)
	t.Setenv("PATH", dirs["path"])
	t.Setenv("GOBIN", dirs["gobin"])
	t.Setenv("GOPATH", t.TempDir()+string(filepath.ListSeparator)+dirs["gopath"])
	t.Setenv("HOME", dirs["home"])
	steps := []struct {
		want   string
		remove func()
	}{
		{explicit, func() { t.Setenv("MINIO_BIN", filepath.Join(dirs["explicit"], "absent")) }},
		{onPath, func() { t.Setenv("PATH", t.TempDir()) }},
		{inGOBIN, func() { t.Setenv("GOBIN", "") }},
		{inGOPATH, func() { t.Setenv("GOPATH", "") }},
		{inHome, func() { t.Setenv("HOME", t.TempDir()) }},
		{"", nil},
	}
	for _, step := range steps {
		got, ok := findBinary()
		if got != step.want || ok != (step.want != "") {
			t.Fatalf("findBinary() = %q, %v; want %q", got, ok, step.want)
		}
		if step.remove != nil {
			step.remove()
		}
	}
}

func TestMissingBinary(t *testing.T) {
	t.Setenv("MINIO_BIN", "")
	t.Setenv("PATH", t.TempDir())
	t.Setenv("GOBIN", "")
	t.Setenv("GOPATH", t.TempDir())

	t.Setenv("CI", "true")
	if got := runTB(t, func(tb testing.TB) { requireBinary(tb) }); got.fatal != notFoundMessage || got.skip != "" {
		t.Errorf("with CI=true: fatal %q, skip %q; want the message as a failure", got.fatal, got.skip)
	}
	t.Setenv("CI", "")
	if got := runTB(t, func(tb testing.TB) { requireBinary(tb) }); got.skip != notFoundMessage || got.fatal != "" {
		t.Errorf("without CI: fatal %q, skip %q; want the message as a skip", got.fatal, got.skip)
	}
	if strings.Contains(notFoundMessage, "\n") {
		t.Errorf("the message is more than one line")
	}
}

func TestSharedNeedsMain(t *testing.T) {
	got := runTB(t, func(tb testing.TB) { Shared(tb) })
	if !strings.Contains(got.fatal, "miniotest.Main") {
		t.Errorf("Shared without Main: fatal %q, want a pointer to Main", got.fatal)
	}
}

// recordingTB records how a helper ends tb, without ending the real test.
type recordingTB struct {
	testing.TB
	fatal, skip string
}

func (r *recordingTB) Helper()                      {}
func (r *recordingTB) Fatal(args ...any)            { r.fatal = fmt.Sprint(args...); runtime.Goexit() }
func (r *recordingTB) Skip(args ...any)             { r.skip = fmt.Sprint(args...); runtime.Goexit() }
func (r *recordingTB) Fatalf(f string, args ...any) { r.Fatal(fmt.Sprintf(f, args...)) }

// runTB runs f on its own goroutine, as Fatal and Skip end the goroutine.
func runTB(t *testing.T, f func(testing.TB)) *recordingTB {
	r := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}
