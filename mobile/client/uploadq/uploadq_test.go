package uploadq_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	"github.com/iswitchroofs/fieldsync/mobile/client/uploadq"
	"github.com/iswitchroofs/fieldsync/storage/blob"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

type allowAll struct{}

func (allowAll) Allow(context.Context, string, domain.RateLimit) (domain.RateDecision, error) {
	return domain.RateDecision{Allowed: true}, nil
}

// server is the real API (PostgreSQL, the directory photo store) with a
// tech assigned to a project.
type server struct {
	store   *sqlstore.Store
	blobs   *blob.Dir
	org     *domain.Organization
	tech    *domain.User
	project *domain.Project
	url     string
	token   string
	keys    *auth.KeyRing
}

func newServer(t *testing.T) *server {
	t.Helper()
	s := &server{store: sqltest.Postgres(t)}
	var err error
	if s.blobs, err = blob.NewDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	s.org = sqltest.Org(t, s.store)
	s.tech = sqltest.User(t, s.store, s.org, domain.RoleFieldTech)
	sys := sqltest.System(s.org)
	cust := sqltest.Customer(t, s.store, sys)
	s.project = sqltest.Project(t, s.store, sys, func(p *domain.Project) { p.CustomerID, p.AssignedTech = cust.ID, s.tech.ID })
	spec, _ := auth.GenerateKeySpec("test")
	keys, err := auth.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	s.keys = keys
	svc, err := auth.NewService(auth.Config{Users: s.store, Sessions: s.store, Limiter: allowAll{}, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if s.token, _, err = auth.NewTokens(keys, nil, time.Hour).Issue(
		domain.Principal{UserID: s.tech.ID, OrgID: s.org.ID, Role: s.tech.Role}, uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	app := mobile.New(mobile.Config{Auth: svc, Users: s.store, Records: s.store, Uploads: &mobile.UploadsConfig{
		Uploads: s.store, Photos: s.store, Blobs: s.blobs, Parts: s.blobs, Writer: s.store, URLKey: []byte("k"),
		PartSize: 32 << 10,
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	s.url = "http://" + ln.Addr().String()
	return s
}

// photo writes a photo file and creates its record. The file has a JPEG's
// structure (a start of scan, random image data without markers, the
// end-of-image marker), which is what the server checks.
func (s *server) photo(t *testing.T, seed uint64, n int) (*domain.Photo, string, []byte) {
	t.Helper()
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range data {
		if data[i] = byte(r.Uint32()); data[i] == 0xFF {
			data[i] = 0xFE
		}
	}
	copy(data, []byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02})
	copy(data[n-2:], []byte{0xFF, 0xD9})
	path := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	ph := sqltest.Photo(t, s.store, sqltest.As(s.tech), func(p *domain.Photo) {
		p.ProjectID, p.SHA256, p.ByteSize, p.ContentType = s.project.ID, hex.EncodeToString(sum[:]), int64(n), domain.ContentJPEG
	})
	return ph, path, data
}

func (s *server) stored(t *testing.T, data []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(data)
	rc, _, err := s.blobs.Get(t.Context(), domain.OriginalKey(s.org.ID, hex.EncodeToString(sum[:])))
	if err != nil {
		t.Fatalf("stored original: %v", err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

// flaky cuts request bodies part way, as a phone losing its signal does:
// half the requests with a body break after a random number of bytes.
type flaky struct {
	mu  gosync.Mutex
	rng *rand.Rand
}

func (f *flaky) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	cut := req.Body != nil && req.ContentLength > 16 && f.rng.IntN(2) == 0
	keep := int64(0)
	if cut {
		keep = f.rng.Int64N(req.ContentLength)
	}
	f.mu.Unlock()
	if cut {
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(&cutReader{r: req.Body, left: keep})
	}
	return http.DefaultTransport.RoundTrip(req)
}

type cutReader struct {
	r    io.Reader
	left int64
}

var errSignalLost = errors.New("signal lost")

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errSignalLost
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

type clock struct {
	mu gosync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// open opens a queue that sends 48 KiB chunks, and photos in one request
// only up to that size (oneRequest > 0 raises it).
func open(t *testing.T, s *server, path string, c *clock, rt http.RoundTripper, oneRequest ...int) *uploadq.Queue {
	t.Helper()
	one := -1
	if len(oneRequest) > 0 {
		one = oneRequest[0]
	}
	q, err := uploadq.Open(t.Context(), uploadq.Config{
		Path: path, BaseURL: s.url, ChunkSize: 48 << 10, OneRequestSize: one, DeleteAfterUpload: true, Now: c.now,
		Token: func(context.Context) (string, error) { return s.token, nil },
		HTTP:  &http.Client{Transport: rt},
	})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// Over a network that cuts every other request, and with the app killed
// and restarted in between, the queue delivers the exact bytes, keeps the
// local file until the server confirmed them, and then removes it.
func TestQueueSurvivesCutsAndRestarts(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ph, path, data := s.photo(t, 1, 400<<10+17)
	dbPath := filepath.Join(t.TempDir(), "queue.db")
	c := &clock{t: time.Now()}
	rt := &flaky{rng: rand.New(rand.NewPCG(3, 4))}
	q := open(t, s, dbPath, c, rt)
	it, err := q.Enqueue(t.Context(), ph.ID, path)
	if err != nil {
		t.Fatal(err)
	}
	if it.State != uploadq.StateQueued || it.SHA256 != ph.SHA256 || it.Size != ph.ByteSize {
		t.Fatalf("queued item: %+v", it)
	}
	var lastOffset int64
	for round := 0; ; round++ {
		if round > 60 {
			t.Fatalf("not uploaded after %d rounds: %+v", round, it)
		}
		if round%3 == 2 { // the app is killed and started again
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			q = open(t, s, dbPath, c, rt)
		}
		if _, err := q.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		if it, err = q.Item(t.Context(), ph.ID); err != nil {
			t.Fatal(err)
		}
		if it.Offset < lastOffset {
			t.Fatalf("confirmed offset went back from %d to %d", lastOffset, it.Offset)
		}
		lastOffset = it.Offset
		if it.State == uploadq.StateUploaded {
			break
		}
		if it.State != uploadq.StateQueued || it.Attempts == 0 || !it.NextAttempt.After(c.now()) {
			t.Fatalf("after a failed attempt: %+v", it)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("the local file went before the server confirmed it: %v", err)
		}
		c.add(11 * time.Minute) // past the longest backoff
	}
	defer q.Close()
	if got := s.stored(t, data); string(got) != string(data) {
		t.Fatalf("server holds %d bytes that differ from the %d sent", len(got), len(data))
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the local file is still there after the server confirmed it: %v", err)
	}
	if it.Offset != it.Size {
		t.Errorf("item offset %d of %d", it.Offset, it.Size)
	}
}

// A refusal no retry can fix stops the item with the server's code and
// keeps the file; a photo the server does not know yet (its photo.create
// not pushed) is retried later.
func TestQueuePermanentAndTransientRefusals(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := &clock{t: time.Now()}
	q := open(t, s, filepath.Join(t.TempDir(), "queue.db"), c, http.DefaultTransport)
	defer q.Close()
	heic := []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic and more bytes of a HEIC photo")
	path := filepath.Join(t.TempDir(), "IMG_0001.jpg")
	if err := os.WriteFile(path, heic, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(heic)
	ph := sqltest.Photo(t, s.store, sqltest.As(s.tech), func(p *domain.Photo) {
		p.ProjectID, p.SHA256, p.ByteSize, p.ContentType = s.project.ID, hex.EncodeToString(sum[:]), int64(len(heic)), "image/heic"
	})
	if _, err := q.Enqueue(t.Context(), ph.ID, path); err != nil {
		t.Fatal(err)
	}
	unknown := uuid.NewString()
	if _, err := q.Enqueue(t.Context(), unknown, path); err != nil {
		t.Fatal(err)
	}
	if _, err := q.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	it, _ := q.Item(t.Context(), ph.ID)
	if it.State != uploadq.StateFailed || it.LastError == "" {
		t.Errorf("HEIC: %+v", it)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a refused photo's file was removed: %v", err)
	}
	it, _ = q.Item(t.Context(), unknown)
	if it.State != uploadq.StateQueued || it.Attempts != 1 {
		t.Errorf("unknown photo: %+v", it)
	}

	// A photo file truncated on the phone (its record's sha256 is of the
	// truncated file) is refused for good, and kept.
	truncated, tpath, _ := s.photo(t, 77, 300<<10)
	data, err := os.ReadFile(tpath)
	if err != nil {
		t.Fatal(err)
	}
	data = data[:len(data)-1000]
	tpath = filepath.Join(t.TempDir(), "IMG_0002.jpg")
	if err := os.WriteFile(tpath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tsum := sha256.Sum256(data)
	truncated.SHA256, truncated.ByteSize = hex.EncodeToString(tsum[:]), int64(len(data))
	if err := s.store.Write(t.Context(), sqltest.As(s.tech), func(tx domain.Tx) error { return tx.Update(truncated) }); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(t.Context(), truncated.ID, tpath); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := q.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	it, _ = q.Item(t.Context(), truncated.ID)
	if it.State != uploadq.StateFailed || !strings.Contains(it.LastError, "image_corrupt") {
		t.Errorf("truncated photo: %+v", it)
	}
	if _, err := os.Stat(tpath); err != nil {
		t.Errorf("a refused photo's file was removed: %v", err)
	}
}
