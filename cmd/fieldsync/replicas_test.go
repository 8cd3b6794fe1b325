package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/blob/miniotest"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// runAsCommand makes this test binary act as `fieldsync` when a test starts
// it as a separate OS process: a replica killed with SIGKILL is then a real
// process dying, not a goroutine cancelled.
const runAsCommand = "FIELDSYNC_TEST_RUN_AS_COMMAND"

func init() {
	if os.Getenv(runAsCommand) == "1" {
		main() // exits
	}
}

// replica is `fieldsync serve` running as its own process.
type replica struct {
	cmd  *exec.Cmd
	base string
	out  *syncBuffer
	done chan error
}

var listeningRE = regexp.MustCompile(`"msg":"http listening","addr":"([^"]+)"`)

// startReplica starts `fieldsync serve` as a child process with vars and
// waits until it answers /readyz.
func startReplica(t *testing.T, vars map[string]string) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), runAsCommand+"=1")
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	r := &replica{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start fieldsync serve: %v", err)
	}
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() { r.kill() })
	deadline := time.Now().Add(2 * time.Minute)
	for r.base == "" {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("fieldsync serve exited before listening (%v):\n%s", err, r.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if m := listeningRE.FindStringSubmatch(r.out.String()); m != nil {
			r.base = "http://" + m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("fieldsync serve did not listen:\n%s", r.out.String())
		}
	}
	for {
		resp, err := http.Get(r.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fieldsync serve not ready (%v):\n%s", err, r.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process at once (SIGKILL): nothing it held in memory
// survives. Safe to call twice.
func (r *replica) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	r.cmd = nil
}

// An upload cut at random offsets, resumed alternately on two `fieldsync
// serve` processes, one of which is killed with SIGKILL while a PATCH
// streams into it and replaced by a fresh process, ends with the exact
// bytes in exactly one object and nothing else left in the bucket: all the
// upload's state is in PostgreSQL and MinIO, none in a process.
func TestUploadResumesAcrossServerProcesses(t *testing.T) {
	t.Parallel()
	dbURL := sqltest.PostgresURL(t)
	srv := miniotest.Start(t)
	bucket := "replicas-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	vars := map[string]string{
		"FIELDSYNC_HTTP_ADDR": "127.0.0.1:0",
		"FIELDSYNC_DATA_DIR":  t.TempDir(),
		"DATABASE_URL":        dbURL,
		"REDIS_URL":           testRedisURL(t, 13),
		"FIELDSYNC_JWT_KEYS":  mustSpec(t, "replicas"),
		"MINIO_ENDPOINT":      srv.Endpoint,
		"MINIO_ACCESS_KEY":    srv.AccessKey,
		"MINIO_SECRET_KEY":    srv.SecretKey,
		"MINIO_BUCKET":        bucket,
	}
	for _, step := range []string{"migrate", "seed"} {
		if code, out, stderr := runCmd(t, vars, step); code != 0 {
			t.Fatalf("%s: %d %s %s", step, code, out, stderr)
		}
	}
	a, b := startReplica(t, vars), startReplica(t, vars)
	c := &client{t: t, base: a.base, http: &http.Client{Timeout: 30 * time.Second}}
	signed := c.signIn("manager@iswitch.demo")
	token, orgID := signed.AccessToken, signed.User.OrgID

	data := noisyJPEG(t, 2000, 1500)
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	photoID := uuid.NewString()
	pushPhoto(c, token, demoProject(c, token), photoID, "after", data)

	resp := c.tus("POST", a.base+"/v1/uploads", token, map[string]string{"Upload-Length": strconv.Itoa(len(data)),
		"Upload-Metadata": "photo_id " + base64.StdEncoding.EncodeToString([]byte(photoID))}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create upload: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if i := strings.Index(loc, "/v1/uploads/"); i >= 0 {
		loc = loc[i:]
	}
	offset := func(base string) int64 {
		t.Helper()
		r := c.tus("HEAD", base+loc, token, nil, nil)
		n, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
		if r.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("HEAD on %s: %d %q", base, r.StatusCode, r.Header.Get("Upload-Offset"))
		}
		return n
	}

	rng := rand.New(rand.NewPCG(11, 29))
	var off int64
	var seen []int64 // the offsets the replicas answered, for the log
	defer func() { t.Logf("%d bytes; offsets answered: %v", len(data), seen) }()
	resume := func(r *replica) []byte {
		t.Helper()
		got := offset(r.base)
		if got < off {
			t.Fatalf("offset went back from %d to %d", off, got)
		}
		off = got
		seen = append(seen, got)
		return data[off:]
	}
	cuts := func(rs ...*replica) {
		t.Helper()
		for i := range 4 {
			r := rs[i%len(rs)]
			rest := resume(r)
			cutPATCH(t, r.base, loc, token, off, rest, len(rest)/8+rng.IntN(len(rest)/4))
		}
	}
	cuts(a, b)
	// A PATCH into a, and a dies with SIGKILL while the body streams in;
	// a fresh process takes its place.
	rest := resume(a)
	killMidPATCH(t, a, loc, token, off, rest)
	fresh := startReplica(t, vars)
	cuts(b, fresh)
	rest = resume(fresh)
	done := c.tus("PATCH", fresh.base+loc, token, map[string]string{
		"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.FormatInt(off, 10),
	}, rest)
	if done.StatusCode != http.StatusNoContent || done.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("final PATCH on a fresh process: %d, offset %q", done.StatusCode, done.Header.Get("Upload-Offset"))
	}

	var ph domain.Photo
	c.base = b.base
	c.do("GET", "/v1/photos/"+photoID, token, nil).json(t, &ph)
	if ph.UploadState != domain.UploadComplete {
		t.Fatalf("photo after the upload: %+v", ph)
	}
	mc, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var keys []string
	for obj := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		keys = append(keys, obj.Key)
	}
	want := domain.OriginalKey(orgID, hash)
	if len(keys) != 1 || keys[0] != want {
		t.Fatalf("objects in the bucket: %v, want only %s", keys, want)
	}
	obj, err := mc.GetObject(ctx, bucket, want, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := sha256.Sum256(stored); !bytes.Equal(got[:], sum[:]) || len(stored) != len(data) {
		t.Fatalf("stored %d bytes hashing to %x, want %d bytes hashing to %s", len(stored), got, len(data), hash)
	}
	if uploads := countRows(t, dbURL, "uploads"); uploads != 1 {
		t.Errorf("%d upload rows, want the one that completed", uploads)
	}
}

// cutPATCH sends a tus PATCH announcing all of rest but writing only its
// first n bytes, then closes its side, as a phone losing its signal does,
// and waits for the server to finish with it.
func cutPATCH(t *testing.T, base, path, token string, offset int64, rest []byte, n int) {
	t.Helper()
	conn := sendPartialPATCH(t, base, path, token, offset, rest, n)
	defer conn.Close()
	_ = conn.(*net.TCPConn).CloseWrite()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _ = io.Copy(io.Discard, conn)
}

// killMidPATCH streams the first half of rest into r and kills r with
// SIGKILL while the request is still open.
func killMidPATCH(t *testing.T, r *replica, path, token string, offset int64, rest []byte) {
	t.Helper()
	conn := sendPartialPATCH(t, r.base, path, token, offset, rest, len(rest)/2)
	defer conn.Close()
	// Let the server take in what was sent.
	time.Sleep(300 * time.Millisecond)
	r.kill()
}

func sendPartialPATCH(t *testing.T, base, path, token string, offset int64, rest []byte, n int) net.Conn {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n",
		path, host, token, offset, len(rest))
	if _, err := conn.Write(append([]byte(head), rest[:n]...)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// noisyJPEG encodes a w×h image of noise: a real JPEG that barely
// compresses, about w×h bytes.
func noisyJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// countRows counts a table's rows directly in the database.
func countRows(t *testing.T, dbURL, table string) int {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
