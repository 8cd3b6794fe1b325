// Package miniotest runs a real MinIO server for tests, from the `minio`
// binary that `make services` installs. There is no fake S3: the tests of the
// MinIO store talk to the same server production runs.
//
// A package that needs a server either starts its own with Start, or shares
// one among its tests:
//
//	func TestMain(m *testing.M) { miniotest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		srv := miniotest.Shared(t)
//		...
//	}
//
// Without the binary a test skips, or fails when CI=true, with one line saying
// how to install it.
package miniotest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is a running MinIO server.
type Server struct {
	Endpoint  string // host:port on 127.0.0.1, without a scheme
	AccessKey string
	SecretKey string
}

// minioVersion is the MinIO release the tests are written against; `make services`
// installs it.
const minioVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

const (
	notFoundMessage = "minio server binary not found: run `make services` (go install github.com/minio/minio@" + minioVersion + ")"

	// startTimeout bounds the wait for a server to answer; a healthy one
	// takes a second or two.
	startTimeout = 60 * time.Second
	// stopTimeout is how long a server gets to exit after SIGTERM before it
	// is killed.
	stopTimeout = 10 * time.Second
	// startAttempts covers losing a free port to another process between
	// choosing it and the server binding it.
	startAttempts = 3
)

// Start starts a server for tb alone, with its data in tb.TempDir(), and
// stops it when tb ends.
func Start(tb testing.TB) Server {
	tb.Helper()
	bin := requireBinary(tb)
	p, err := start(bin, tb.TempDir())
	if err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.stop(); err != nil {
			tb.Errorf("miniotest: %v", err)
		}
	})
	return p.server
}

// shared is the server of the test binary: Shared starts it on first use and
// Main stops it, since a start costs more than most tests that use it.
var shared struct {
	mainRunning atomic.Bool
	once        sync.Once
	proc        *process
	dataDir     string
	missing     bool
	err         error
}

// Shared returns the test binary's server, starting it on first use. The
// package's TestMain must call Main, which stops the server at the end.
func Shared(tb testing.TB) Server {
	tb.Helper()
	if !shared.mainRunning.Load() {
		tb.Fatal("miniotest: Shared needs the package's TestMain to call miniotest.Main(m)")
	}
	shared.once.Do(func() {
		bin, ok := findBinary()
		if !ok {
			shared.missing = true
			return
		}
		shared.dataDir, shared.err = os.MkdirTemp("", "miniotest-")
		if shared.err == nil {
			shared.proc, shared.err = start(bin, shared.dataDir)
		}
	})
	if shared.missing {
		binaryMissing(tb)
	}
	if shared.err != nil {
		tb.Fatalf("miniotest: %v", shared.err)
	}
	return shared.proc.server
}

// Main runs the package's tests, then stops the shared server and removes
// its data. It exits the process with the tests' status.
func Main(m *testing.M) {
	shared.mainRunning.Store(true)
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintln(os.Stderr, "miniotest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func stopShared() error {
	var errs []error
	if shared.proc != nil {
		errs = append(errs, shared.proc.stop())
	}
	if shared.dataDir != "" {
		errs = append(errs, os.RemoveAll(shared.dataDir))
	}
	return errors.Join(errs...)
}

// requireBinary returns the server binary's path, or skips or fails tb.
func requireBinary(tb testing.TB) string {
	tb.Helper()
	bin, ok := findBinary()
	if !ok {
		binaryMissing(tb)
	}
	return bin
}

// binaryMissing ends tb: in CI a missing service is a failure, elsewhere a
// reason to skip.
func binaryMissing(tb testing.TB) {
	tb.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		tb.Fatal(notFoundMessage)
	}
	tb.Skip(notFoundMessage)
}

// findBinary looks where `make services` and `go install` put the server:
// $MINIO_BIN, then minio on PATH, then $GOBIN and $GOPATH/bin (by default
// $HOME/go/bin).
func findBinary() (string, bool) {
	if p := os.Getenv("MINIO_BIN"); p != "" && isExecutable(p) {
		return p, true
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, true
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	for _, p := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	for _, d := range dirs {
		if p := filepath.Join(d, "minio"); isExecutable(p) {
			return p, true
		}
	}
	return "", false
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// process is a started server.
type process struct {
	server Server
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	output *tailBuffer
}

func start(bin, dataDir string) (*process, error) {
	var errs []error
	for range startAttempts {
		p, err := startOnce(bin, dataDir)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func startOnce(bin, dataDir string) (*process, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	srv := Server{
		Endpoint:  net.JoinHostPort("127.0.0.1", ports[0]),
		AccessKey: randomAlnum(16),
		SecretKey: randomAlnum(32),
	}
	cmd := exec.Command(bin, "server",
		"--address", srv.Endpoint,
		"--console-address", net.JoinHostPort("127.0.0.1", ports[1]),
		"--quiet", dataDir)
	cmd.Env = append(withoutMinIOVars(os.Environ()),
		"MINIO_ROOT_USER="+srv.AccessKey,
		"MINIO_ROOT_PASSWORD="+srv.SecretKey,
	)
	out := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{server: srv, cmd: cmd, exited: make(chan struct{}), output: out}
	go func() {
		_ = cmd.Wait() // the exit status says nothing the output does not
		close(p.exited)
	}()
	if err := p.waitReady(); err != nil {
		_ = p.stop()
		return nil, err
	}
	return p, nil
}

// withoutMinIOVars keeps a developer's own MinIO settings (MINIO_VOLUMES,
// MINIO_CONFIG_ENV_FILE, ...) from changing the test server.
func withoutMinIOVars(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "MINIO_") {
			out = append(out, kv)
		}
	}
	return out
}

// waitReady polls the liveness endpoint. MinIO answers it before its object
// layer is up, flagging that in a header, so the header is checked too.
func (p *process) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	url := "http://" + p.server.Endpoint + "/minio/health/live"
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get("X-Minio-Server-Status") != "offline" {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("minio server exited during start-up: %s", p.output.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("minio server did not answer %s within %s: %s", url, startTimeout, p.output.String())
		}
	}
}

// stop asks the server to exit, and kills it if it does not.
func (p *process) stop() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = terminate(p.cmd.Process)
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("minio server ignored SIGTERM for %s and was killed", stopTimeout)
}

// freePorts reserves n distinct ports at once, so that they differ, then
// releases them for the server.
func freePorts(n int) ([]string, error) {
	ports := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		_, port, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, port)
	}
	return ports, nil
}

// randomAlnum returns letters and digits only, which MinIO accepts as
// credentials without escaping.
func randomAlnum(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// tailBuffer keeps the last max bytes the server wrote, for the error
// message when it fails to start.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if extra := t.buf.Len() - t.max; extra > 0 {
		t.buf.Next(extra)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(t.buf.String())
}
