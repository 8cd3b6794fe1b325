package mobile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	"github.com/iswitchroofs/fieldsync/storage/blob"
	"github.com/iswitchroofs/fieldsync/storage/blob/blobtest"
	"github.com/iswitchroofs/fieldsync/storage/blob/miniotest"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// stepClock is a clock tests move by hand.
type stepClock struct {
	mu  gosync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// allowAll is a rate limiter for tests that never sign in with a password.
type allowAll struct{}

func (allowAll) Allow(context.Context, string, domain.RateLimit) (domain.RateDecision, error) {
	return domain.RateDecision{Allowed: true}, nil
}

// photoEnv is a real server (PostgreSQL, a blob store, the session service)
// with an organization whose tech is assigned to a project, an outsider in
// the same organization, and a user of another organization.
type photoEnv struct {
	t        testing.TB
	store    *sqlstore.Store
	blobs    photoStore
	clock    *stepClock
	org      *domain.Organization
	tech     *domain.User
	outsider *domain.User
	foreign  *domain.User
	project  *domain.Project
	tokens   *auth.Tokens
	keys     *auth.KeyRing
	base     string // http://host:port of the first server
	cfg      UploadsConfig
}

type storeKind int

const (
	dirStore storeKind = iota
	minioStore
)

func (k storeKind) String() string { return [...]string{"dir", "minio"}[k] }

// photoStore is what the upload routes need of a blob store.
type photoStore interface {
	domain.BlobStore
	domain.PartStore
	domain.MultipartStore
}

// newBlobs opens a blob store of kind; a MinIO store gets its own bucket on
// the shared real server.
func newBlobs(t testing.TB, kind storeKind) photoStore {
	t.Helper()
	if kind == dirStore {
		d, err := blob.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	srv := miniotest.Shared(t)
	m, err := blob.NewMinIO(t.Context(), blob.MinIOConfig{
		Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Bucket: "photos-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16],
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newPhotoEnv(t testing.TB, kind storeKind, tweak ...func(*UploadsConfig)) *photoEnv {
	t.Helper()
	e := &photoEnv{t: t, store: sqltest.Postgres(t), blobs: newBlobs(t, kind),
		clock: &stepClock{now: time.Now().UTC().Truncate(time.Second)}}
	e.org = sqltest.Org(t, e.store)
	e.tech = sqltest.User(t, e.store, e.org, domain.RoleFieldTech)
	e.outsider = sqltest.User(t, e.store, e.org, domain.RoleFieldTech)
	other := sqltest.Org(t, e.store)
	e.foreign = sqltest.User(t, e.store, other, domain.RoleAdmin)
	sys := sqltest.System(e.org)
	cust := sqltest.Customer(t, e.store, sys)
	e.project = sqltest.Project(t, e.store, sys, func(p *domain.Project) {
		p.CustomerID = cust.ID
		p.AssignedTech = e.tech.ID
	})
	spec, err := auth.GenerateKeySpec("test")
	if err != nil {
		t.Fatal(err)
	}
	if e.keys, err = auth.ParseKeyRing(spec); err != nil {
		t.Fatal(err)
	}
	e.tokens = auth.NewTokens(e.keys, nil, time.Hour)
	e.cfg = UploadsConfig{
		Uploads: e.store, Photos: e.store, Blobs: e.blobs, Parts: e.blobs, Writer: e.store,
		URLKey: []byte("0123456789abcdef0123456789abcdef"), Clock: e.clock, PartSize: 64 << 10, Multipart: e.blobs,
	}
	if kind == minioStore {
		e.cfg.PartSize = domain.MinMultipartPart // S3's smallest part but the last
	}
	for _, f := range tweak {
		f(&e.cfg)
	}
	e.base = e.serve(e.store, e.blobs)
	return e
}

// serve starts one server process's worth of application on its own
// listener, database pool and blob client, as another replica would be.
func (e *photoEnv) serve(st *sqlstore.Store, blobs photoStore) string {
	e.t.Helper()
	svc, err := auth.NewService(auth.Config{Users: st, Sessions: st, Limiter: allowAll{}, Keys: e.keys})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := e.cfg
	cfg.Uploads, cfg.Photos, cfg.Writer, cfg.Blobs, cfg.Parts = st, st, st, blobs, blobs
	if cfg.Multipart != nil {
		cfg.Multipart = blobs
	}
	app := New(Config{Auth: svc, Users: st, Records: st, Uploads: &cfg})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	e.t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return "http://" + ln.Addr().String()
}

func (e *photoEnv) token(u *domain.User) string {
	e.t.Helper()
	tok, _, err := e.tokens.Issue(domain.Principal{UserID: u.ID, OrgID: u.OrgID, Role: u.Role}, uuid.NewString())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// jpegBytes is n bytes with a JPEG's structure (the upload checks the
// structure, not the pixels): a start of scan, image data without markers,
// and the end-of-image marker.
func jpegBytes(seed uint64, n int) []byte {
	b := blobtest.Payload(seed, n)
	copy(b, []byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02})
	for i := 6; i < n-2; i++ {
		if b[i] == 0xFF {
			b[i] = 0xFE
		}
	}
	copy(b[n-2:], []byte{0xFF, 0xD9})
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// photo creates the photo record for data, as the tech.
func (e *photoEnv) photo(data []byte) *domain.Photo {
	e.t.Helper()
	return sqltest.Photo(e.t, e.store, sqltest.As(e.tech), func(p *domain.Photo) {
		p.ProjectID = e.project.ID
		p.SHA256 = sha(data)
		p.ByteSize = int64(len(data))
		p.ContentType = domain.ContentJPEG
	})
}

type tusAnswer struct {
	status  int
	header  http.Header
	problem Problem
}

func (e *photoEnv) do(base, method, path string, user *domain.User, hdr map[string]string, body []byte) tusAnswer {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, base+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", tusVersion)
	if user != nil {
		req.Header.Set("Authorization", "Bearer "+e.token(user))
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := tusAnswer{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode >= 400 && method != http.MethodHead {
		if err := json.Unmarshal(raw, &a.problem); err != nil {
			e.t.Fatalf("%s %s: %d answer is not problem+json: %q", method, path, resp.StatusCode, raw)
		}
		if a.header.Get("Tus-Resumable") != tusVersion && strings.HasPrefix(path, "/v1/uploads") {
			e.t.Errorf("%s %s: error answer lacks Tus-Resumable", method, path)
		}
	}
	return a
}

func (e *photoEnv) create(base string, user *domain.User, ph *domain.Photo, length int64) tusAnswer {
	e.t.Helper()
	return e.do(base, http.MethodPost, "/v1/uploads", user, map[string]string{
		"Upload-Length":   strconv.FormatInt(length, 10),
		"Upload-Metadata": "photo_id " + base64.StdEncoding.EncodeToString([]byte(ph.ID)) + ",filename " + base64.StdEncoding.EncodeToString([]byte("roof.jpg")),
	}, nil)
}

func (e *photoEnv) mustCreate(base string, ph *domain.Photo) string {
	e.t.Helper()
	a := e.create(base, e.tech, ph, ph.ByteSize)
	if a.status != http.StatusCreated {
		e.t.Fatalf("create: %d %+v", a.status, a.problem)
	}
	return a.header.Get("Location")
}

func (e *photoEnv) patch(base, loc string, offset int64, body []byte, hdr map[string]string) tusAnswer {
	e.t.Helper()
	h := map[string]string{"Content-Type": tusContentType, "Upload-Offset": strconv.FormatInt(offset, 10)}
	for k, v := range hdr {
		h[k] = v
	}
	return e.do(base, http.MethodPatch, loc, e.tech, h, body)
}

func (e *photoEnv) offset(base, loc string) int64 {
	e.t.Helper()
	a := e.do(base, http.MethodHead, loc, e.tech, nil, nil)
	if a.status != http.StatusOK {
		e.t.Fatalf("HEAD %s: %d", loc, a.status)
	}
	n, err := strconv.ParseInt(a.header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		e.t.Fatalf("HEAD Upload-Offset %q", a.header.Get("Upload-Offset"))
	}
	return n
}

// cutPatch sends a PATCH declaring the rest of the upload but writes only
// keep bytes of it before its side of the connection goes, as a phone
// losing its signal does. It waits for the server's answer, so the next
// request sees what the server kept.
func (e *photoEnv) cutPatch(base, loc string, offset int64, rest []byte, keep int) {
	e.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "PATCH %s HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: %s\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n", loc, e.token(e.tech), tusContentType, offset, len(rest))
	_, _ = w.Write(rest[:keep])
	_ = w.Flush()
	_ = conn.(*net.TCPConn).CloseWrite()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _ = io.Copy(io.Discard, conn) // the answer, then the server closes
}

func (e *photoEnv) reload(id string) *domain.Photo {
	e.t.Helper()
	rec, err := e.store.FindRecord(e.t.Context(), e.org.ID, domain.KindPhoto, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return rec.(*domain.Photo)
}

// requireStored checks the end state of a completed upload: exactly one
// object holds the photo's bytes, no part is left, and the photo says so.
func (e *photoEnv) requireStored(ph *domain.Photo, data []byte) {
	e.t.Helper()
	key := domain.OriginalKey(e.org.ID, sha(data))
	got, _ := blobtest.MustGet(e.t, e.blobs, key)
	if sha(got) != sha(data) {
		e.t.Fatalf("stored object sha256 %s, want %s", sha(got), sha(data))
	}
	if objs := blobtest.ListAll(e.t, e.blobs, "photos/"+e.org.ID+"/"); len(objs) != 1 {
		e.t.Errorf("objects under the organization's photos: %v, want exactly one", blobtest.Keys(objs))
	}
	if parts := blobtest.ListAll(e.t, e.blobs, "uploads/"); len(parts) != 0 {
		e.t.Errorf("upload parts left behind: %v", blobtest.Keys(parts))
	}
	p := e.reload(ph.ID)
	if p.UploadState != domain.UploadComplete || p.OriginalKey != key || p.ProcessingState != domain.ProcessingPending {
		e.t.Errorf("photo after upload: upload_state %q original_key %q processing %q", p.UploadState, p.OriginalKey, p.ProcessingState)
	}
}

// requireNothingLeft checks that a refused upload left no part, no row and
// no object.
func (e *photoEnv) requireNothingLeft(loc string) {
	e.t.Helper()
	if parts := blobtest.ListAll(e.t, e.blobs, "uploads/"); len(parts) != 0 {
		e.t.Errorf("upload parts left behind: %v", blobtest.Keys(parts))
	}
	if objs := blobtest.ListAll(e.t, e.blobs, "photos/"); len(objs) != 0 {
		e.t.Errorf("objects left behind: %v", blobtest.Keys(objs))
	}
	if loc != "" {
		id := strings.TrimPrefix(loc, "/v1/uploads/")
		if _, err := e.store.FindUpload(e.t.Context(), e.org.ID, id); !domain.IsCode(err, domain.CodeNotFound) {
			e.t.Errorf("upload row left behind (err %v)", err)
		}
	}
}

func stores() []storeKind { return []storeKind{dirStore, minioStore} }

// An upload cut at random offsets and resumed, many times over, ends with
// the exact bytes in exactly one object; every other request lands on a
// second server (its own database pool and blob client), as a resume on
// another replica does.
func TestUploadResumesAfterRandomCuts(t *testing.T) {
	for _, kind := range stores() {
		for _, multipart := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/multipart=%v", kind, multipart), func(t *testing.T) {
				t.Parallel()
				resumeAfterCuts(t, kind, multipart)
			})
		}
	}
}

func resumeAfterCuts(t *testing.T, kind storeKind, multipart bool) {
	e := newPhotoEnv(t, kind, func(c *UploadsConfig) {
		if !multipart {
			c.Multipart, c.PartSize = nil, 64<<10
		}
	})
	second := e.serve(sqltest.Reopen(t, e.store), newBlobsLike(t, kind, e.blobs))
	rng := rand.New(rand.NewPCG(7, uint64(kind)))
	for round := range 3 {
		size := 300<<10 + rng.IntN(200<<10)
		if e.cfg.PartSize > size/2 {
			size = 2*e.cfg.PartSize + rng.IntN(e.cfg.PartSize) // several full parts and a short last one
		}
		data := jpegBytes(uint64(100+round), size)
		ph := e.photo(data)
		loc := e.mustCreate(e.base, ph)
		servers := []string{e.base, second}
		var off int64
		for cut := 0; off < int64(len(data)); cut++ {
			srv := servers[cut%2]
			if got := e.offset(srv, loc); got < off {
				t.Fatalf("offset went back from %d to %d", off, got)
			} else {
				off = got
			}
			rest := data[off:]
			if cut < 12 && len(rest) > 1 {
				e.cutPatch(srv, loc, off, rest, rng.IntN(len(rest)))
				continue
			}
			a := e.patch(srv, loc, off, rest, nil)
			if a.status != http.StatusNoContent {
				t.Fatalf("final PATCH: %d %+v", a.status, a.problem)
			}
			off = int64(len(data))
		}
		if got := e.offset(second, loc); got != int64(len(data)) {
			t.Fatalf("final offset %d, want %d", got, len(data))
		}
		e.requireStored(ph, data)
		// The next round's photo is another object.
		if err := e.blobs.Delete(t.Context(), domain.OriginalKey(e.org.ID, sha(data))); err != nil {
			t.Fatal(err)
		}
	}
}

// newBlobsLike opens a second client on the same store as first.
func newBlobsLike(t testing.TB, kind storeKind, first photoStore) photoStore {
	t.Helper()
	if kind == dirStore {
		return first // one directory; a second process would open the same path
	}
	m := first.(*blob.MinIO)
	srv := miniotest.Shared(t)
	second, err := blob.NewMinIO(t.Context(), blob.MinIOConfig{
		Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: m.Bucket(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return second
}

// Each PATCH with Upload-Checksum is kept only if its bytes match; a
// mismatch answers 460 and keeps the offset where it was.
func TestUploadChecksum(t *testing.T) {
	t.Parallel()
	e := newPhotoEnv(t, dirStore)
	data := jpegBytes(3, 100<<10)
	ph := e.photo(data)
	loc := e.mustCreate(e.base, ph)
	sum := func(b []byte) string {
		s := sha256.Sum256(b)
		return "sha256 " + base64.StdEncoding.EncodeToString(s[:])
	}
	first := data[:40<<10]
	a := e.patch(e.base, loc, 0, first, map[string]string{"Upload-Checksum": sum(data[1 : 40<<10+1])})
	if a.status != 460 || a.problem.Code != domain.CodeChecksumMismatch {
		t.Fatalf("mismatched checksum: %d %q", a.status, a.problem.Code)
	}
	if got := e.offset(e.base, loc); got != 0 {
		t.Fatalf("offset after a mismatch = %d, want 0", got)
	}
	if parts := blobtest.ListAll(t, e.blobs, "uploads/"); len(parts) != 0 {
		t.Fatalf("parts kept after a mismatch: %v", blobtest.Keys(parts))
	}
	a = e.patch(e.base, loc, 0, first, map[string]string{"Upload-Checksum": "md5 AAAA"})
	if a.status != http.StatusBadRequest || a.problem.Code != domain.CodeChecksumAlgorithm {
		t.Fatalf("md5 checksum: %d %q", a.status, a.problem.Code)
	}
	a = e.patch(e.base, loc, 0, first, map[string]string{"Upload-Checksum": sum(first)})
	if a.status != http.StatusNoContent || a.header.Get("Upload-Offset") != strconv.Itoa(len(first)) {
		t.Fatalf("good checksum: %d offset %q", a.status, a.header.Get("Upload-Offset"))
	}
	a = e.patch(e.base, loc, int64(len(first)), data[len(first):], map[string]string{"Upload-Checksum": sum(data[len(first):])})
	if a.status != http.StatusNoContent {
		t.Fatalf("last PATCH: %d %+v", a.status, a.problem)
	}
	e.requireStored(ph, data)
}

// An upload whose length is a whole number of parts ends on a full part.
func TestUploadOfWholeParts(t *testing.T) {
	t.Parallel()
	e := newPhotoEnv(t, dirStore)
	for _, n := range []int{1, 3} {
		data := jpegBytes(uint64(40+n), n*e.cfg.PartSize)
		ph := e.photo(data)
		loc := e.mustCreate(e.base, ph)
		if a := e.patch(e.base, loc, 0, data, nil); a.status != http.StatusNoContent {
			t.Fatalf("%d parts: %d %+v", n, a.status, a.problem)
		}
		e.requireStored(ph, data)
		if err := e.blobs.Delete(t.Context(), domain.OriginalKey(e.org.ID, sha(data))); err != nil {
			t.Fatal(err)
		}
	}
}

// Bytes that are not JPEG, PNG or WebP are refused on their first PATCH,
// whatever the file is called, and leave nothing behind; the photo records
// why, for every device.
func TestUploadRefusesOtherTypes(t *testing.T) {
	t.Parallel()
	heic := append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), blobtest.Payload(5, 4000)...)
	gif := append([]byte("GIF89a"), blobtest.Payload(6, 4000)...)
	text := []byte(strings.Repeat("<html>not a photo</html>", 100))
	for name, data := range map[string][]byte{"heic": heic, "gif": gif, "html_named_jpg": text} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newPhotoEnv(t, dirStore)
			ph := e.photo(data)
			loc := e.mustCreate(e.base, ph)
			a := e.patch(e.base, loc, 0, data, nil)
			if a.status != http.StatusUnsupportedMediaType || a.problem.Code != domain.CodeUnsupportedImage {
				t.Fatalf("PATCH: %d %q, want 415 %s", a.status, a.problem.Code, domain.CodeUnsupportedImage)
			}
			e.requireNothingLeft(loc)
			p := e.reload(ph.ID)
			if p.ProcessingState != domain.ProcessingFailed || p.FailureReason != domain.FailureUnsupportedType {
				t.Errorf("photo: processing %q reason %q", p.ProcessingState, p.FailureReason)
			}
		})
	}
}

// Bytes that do not hash to the photo's declared sha256 are discarded when
// the upload ends, whether they arrive in one request (the store checks
// the hash as it takes them) or in two (the server's running hash).
func TestUploadContentHashMismatch(t *testing.T) {
	for _, kind := range stores() {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			e := newPhotoEnv(t, kind)
			for i, requests := range []int{1, 2} {
				data := jpegBytes(uint64(8+2*i), 50<<10)
				ph := e.photo(data)
				loc := e.mustCreate(e.base, ph)
				other := jpegBytes(uint64(9+2*i), len(data))
				from := 0
				if requests == 2 {
					if a := e.patch(e.base, loc, 0, other[:1000], nil); a.status != http.StatusNoContent {
						t.Fatalf("first PATCH: %d %+v", a.status, a.problem)
					}
					from = 1000
				}
				a := e.patch(e.base, loc, int64(from), other[from:], nil)
				if a.status != http.StatusUnprocessableEntity || a.problem.Code != domain.CodeContentMismatch {
					t.Fatalf("%d requests: %d %q", requests, a.status, a.problem.Code)
				}
				e.requireNothingLeft(loc)
				if p := e.reload(ph.ID); p.FailureReason != domain.FailureHashMismatch {
					t.Errorf("%d requests: failure_reason %q", requests, p.FailureReason)
				}
			}
		})
	}
}

func TestUploadLimits(t *testing.T) {
	t.Parallel()
	e := newPhotoEnv(t, dirStore, func(c *UploadsConfig) { c.OrgQuota = 150 << 10 })
	data := jpegBytes(10, 100<<10)
	ph := e.photo(data)

	a := e.create(e.base, e.tech, ph, domain.MaxUploadBytes+1)
	if a.status != http.StatusRequestEntityTooLarge || a.problem.Code != domain.CodePayloadTooLarge {
		t.Errorf("over the size limit: %d %q", a.status, a.problem.Code)
	}
	a = e.create(e.base, e.tech, ph, ph.ByteSize+1)
	if a.status != http.StatusUnprocessableEntity || a.problem.Code != domain.CodeInvalid {
		t.Errorf("length other than byte_size: %d %q", a.status, a.problem.Code)
	}
	loc := e.mustCreate(e.base, ph)
	// A second unfinished upload would pass the organization's quota.
	a = e.create(e.base, e.tech, e.photo(jpegBytes(11, 100<<10)), 100<<10)
	if a.status != http.StatusRequestEntityTooLarge || a.problem.Code != domain.CodeUploadQuota {
		t.Errorf("over the organization quota: %d %q", a.status, a.problem.Code)
	}
	// A body longer than what is left is refused before it is read.
	a = e.patch(e.base, loc, 0, append(data, 1, 2, 3), nil)
	if a.status != http.StatusRequestEntityTooLarge || a.problem.Code != domain.CodePayloadTooLarge {
		t.Errorf("body over Upload-Length: %d %q", a.status, a.problem.Code)
	}
	if parts := blobtest.ListAll(t, e.blobs, "uploads/"); len(parts) != 0 {
		t.Errorf("parts kept: %v", blobtest.Keys(parts))
	}
	a = e.patch(e.base, loc, 5, data[5:], nil)
	if a.status != http.StatusConflict || a.problem.Code != domain.CodeOffsetMismatch {
		t.Errorf("wrong offset: %d %q", a.status, a.problem.Code)
	}
	a = e.do(e.base, http.MethodHead, loc, e.tech, map[string]string{"Tus-Resumable": ""}, nil)
	if a.status != http.StatusPreconditionFailed {
		t.Errorf("no Tus-Resumable: %d", a.status)
	}
	a = e.patch(e.base, loc, 0, data, map[string]string{"Content-Type": "image/jpeg"})
	if a.status != http.StatusUnsupportedMediaType || a.problem.Code != domain.CodeUnsupportedMedia {
		t.Errorf("wrong content type: %d %q", a.status, a.problem.Code)
	}
}

// Another organization's upload id, and an upload of a photo outside the
// caller's scope, answer exactly like a missing one.
func TestUploadScope(t *testing.T) {
	t.Parallel()
	e := newPhotoEnv(t, dirStore)
	data := jpegBytes(12, 20<<10)
	ph := e.photo(data)
	loc := e.mustCreate(e.base, ph)
	for _, u := range []*domain.User{e.foreign, e.outsider} {
		for _, m := range []string{http.MethodHead, http.MethodPatch, http.MethodDelete} {
			a := e.do(e.base, m, loc, u, map[string]string{"Content-Type": tusContentType, "Upload-Offset": "0"}, data)
			if m == http.MethodHead {
				if a.status != http.StatusNotFound {
					t.Errorf("%s by %s: %d, want 404", m, u.Role, a.status)
				}
				continue
			}
			if a.status != http.StatusNotFound || a.problem.Code != domain.CodeNotFound {
				t.Errorf("%s by %s: %d %q, want 404 not_found", m, u.Role, a.status, a.problem.Code)
			}
		}
		a := e.create(e.base, u, ph, ph.ByteSize)
		if a.status != http.StatusNotFound || a.problem.Code != domain.CodeNotFound {
			t.Errorf("create for another's photo: %d %q", a.status, a.problem.Code)
		}
	}
	if got := e.offset(e.base, loc); got != 0 {
		t.Errorf("offset after foreign requests: %d", got)
	}
	missing := "/v1/uploads/" + uuid.NewString()
	if a := e.do(e.base, http.MethodDelete, missing, e.tech, nil, nil); a.problem.Code != domain.CodeNotFound {
		t.Errorf("missing upload: %d %q", a.status, a.problem.Code)
	}
}

// The same bytes uploaded for a second photo complete at once, and are
// stored once.
func TestUploadDeduplicates(t *testing.T) {
	t.Parallel()
	e := newPhotoEnv(t, dirStore)
	data := jpegBytes(13, 80<<10)
	first := e.photo(data)
	loc := e.mustCreate(e.base, first)
	if a := e.patch(e.base, loc, 0, data, nil); a.status != http.StatusNoContent {
		t.Fatalf("PATCH: %d %+v", a.status, a.problem)
	}
	second := e.photo(data)
	a := e.create(e.base, e.tech, second, second.ByteSize)
	if a.status != http.StatusCreated || a.header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("create of known bytes: %d offset %q", a.status, a.header.Get("Upload-Offset"))
	}
	// A client that PATCHes anyway is told it is done.
	b := e.patch(e.base, a.header.Get("Location"), 0, data, nil)
	if b.status != http.StatusNoContent || b.header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("PATCH of a complete upload: %d offset %q", b.status, b.header.Get("Upload-Offset"))
	}
	e.requireStored(first, data)
	e.requireStored(second, data)
	// Each photo's processing was queued once, in its upload's transaction.
	msgs, err := e.store.ClaimOutbox(t.Context(), 100, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	queued := map[string]int{}
	for _, m := range msgs {
		if m.Kind != domain.PhotoProcessTask {
			continue
		}
		var p domain.PhotoProcessPayload
		if err := json.Unmarshal(m.Payload, &p); err != nil || p.SHA256 != sha(data) || p.OrgID != e.org.ID {
			t.Errorf("outbox payload %s: %v", m.Payload, err)
		}
		queued[p.PhotoID]++
	}
	if len(queued) != 2 || queued[first.ID] != 1 || queued[second.ID] != 1 {
		t.Errorf("photo.process messages per photo: %v", queued)
	}
}

// Termination removes the parts and the row; an upload left alone expires.
func TestUploadTerminationAndExpiry(t *testing.T) {
	t.Parallel()
	e := newPhotoEnv(t, dirStore)
	data := jpegBytes(14, 200<<10)
	ph := e.photo(data)
	loc := e.mustCreate(e.base, ph)
	e.cutPatch(e.base, loc, 0, data, 100<<10)
	if e.offset(e.base, loc) == 0 {
		t.Fatal("no bytes kept from a cut PATCH")
	}
	if p := e.reload(ph.ID); p.UploadState != domain.UploadPartial {
		t.Errorf("upload_state %q, want %q", p.UploadState, domain.UploadPartial)
	}
	if a := e.do(e.base, http.MethodDelete, loc, e.tech, nil, nil); a.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %+v", a.status, a.problem)
	}
	e.requireNothingLeft(loc)
	if p := e.reload(ph.ID); p.UploadState != domain.UploadPending {
		t.Errorf("upload_state after termination %q", p.UploadState)
	}

	loc = e.mustCreate(e.base, ph)
	a := e.patch(e.base, loc, 0, data[:1000], nil)
	if exp, err := http.ParseTime(a.header.Get("Upload-Expires")); err != nil || !exp.After(e.clock.Now()) {
		t.Fatalf("Upload-Expires %q", a.header.Get("Upload-Expires"))
	}
	e.clock.Add(domain.DefaultUploadTTL + time.Minute)
	a = e.patch(e.base, loc, 1000, data[1000:], nil)
	if a.status != http.StatusGone || a.problem.Code != domain.CodeUploadExpired {
		t.Fatalf("PATCH after expiry: %d %q", a.status, a.problem.Code)
	}
}

// The server's own answers: discovery, and the body limit of other routes
// once bodies stream.
func TestUploadOptionsAndBodyGuard(t *testing.T) {
	t.Parallel()
	e := newPhotoEnv(t, dirStore)
	req, _ := http.NewRequest(http.MethodOptions, e.base+"/v1/uploads", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Tus-Version") != tusVersion ||
		!strings.Contains(resp.Header.Get("Tus-Extension"), "checksum") || resp.Header.Get("Tus-Checksum-Algorithm") != "sha256" {
		t.Errorf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
	big := bytes.Repeat([]byte("x"), DefaultBodyLimit+10)
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(big)
		if chunked {
			body = io.MultiReader(body) // hides the length: sent chunked
		}
		req, _ := http.NewRequest(http.MethodPost, e.base+"/v1/auth/sign-in", body)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized body (chunked %v) to another route: %d", chunked, resp.StatusCode)
		}
	}
}

// noisyImage is an image that compresses badly, so its files are big.
func noisyImage(seed uint64, w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	copy(img.Pix, blobtest.Payload(seed, len(img.Pix)))
	return img
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A photo truncated on the phone (its sha256 is of the truncated file, so
// the hash matches) is refused when its upload ends, whether it arrives in
// one request or in several on two replicas: image_corrupt, nothing left
// behind, and the photo says why, for every device. A whole image with
// bytes after its end (phones append their own) is taken.
func TestUploadRefusesTruncatedImage(t *testing.T) {
	for _, kind := range stores() {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			e := newPhotoEnv(t, kind)
			second := e.serve(sqltest.Reopen(t, e.store), newBlobsLike(t, kind, e.blobs))
			full := encodeJPEG(t, noisyImage(1, 600, 400))
			// Over a megabyte: the store reads it in many steps while it
			// arrives, all but its last byte, before the check fails.
			large := encodeJPEG(t, noisyImage(3, 1400, 1100))
			var pngBuf bytes.Buffer
			if err := png.Encode(&pngBuf, noisyImage(2, 200, 100)); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name     string
				data     []byte
				requests int
			}{
				{"jpeg cut to two thirds, one request", full[:len(full)*2/3], 1},
				{"jpeg without its last byte, two requests on two servers", full[:len(full)-1], 2},
				{"png without its IEND chunk", pngBuf.Bytes()[:pngBuf.Len()-12], 1},
				{"large jpeg without its end marker, streamed to the store", large[:len(large)-2], 1},
			} {
				ph := e.photo(tc.data)
				loc := e.mustCreate(e.base, ph)
				var a tusAnswer
				if tc.requests == 1 {
					a = e.patch(e.base, loc, 0, tc.data, nil)
				} else {
					half := len(tc.data) / 2
					if b := e.patch(e.base, loc, 0, tc.data[:half], nil); b.status != http.StatusNoContent {
						t.Fatalf("%s: first PATCH: %d %+v", tc.name, b.status, b.problem)
					}
					a = e.patch(second, loc, int64(half), tc.data[half:], nil)
				}
				if a.status != http.StatusUnprocessableEntity || a.problem.Code != domain.CodeImageCorrupt {
					t.Fatalf("%s: %d %q, want 422 %s", tc.name, a.status, a.problem.Code, domain.CodeImageCorrupt)
				}
				if !strings.Contains(a.problem.Detail, "truncated") {
					t.Errorf("%s: the answer does not say the file is truncated: %q", tc.name, a.problem.Detail)
				}
				e.requireNothingLeft(loc)
				p := e.reload(ph.ID)
				if p.ProcessingState != domain.ProcessingFailed || p.FailureReason != domain.FailureCorrupt || p.UploadState != domain.UploadPending {
					t.Errorf("%s: photo: upload %q processing %q reason %q", tc.name, p.UploadState, p.ProcessingState, p.FailureReason)
				}
			}
			trailing := append(append([]byte{}, full...), blobtest.Payload(3, 32)...)
			ph := e.photo(trailing)
			loc := e.mustCreate(e.base, ph)
			if a := e.patch(e.base, loc, 0, trailing, nil); a.status != http.StatusNoContent {
				t.Fatalf("whole JPEG with trailing bytes: %d %+v", a.status, a.problem)
			}
			e.requireStored(ph, trailing)
		})
	}
}

// A decompression bomb (a small, well-formed PNG whose header declares
// 100,000 × 100,000 pixels) is refused by its first bytes, in one request
// or when the first of several arrives: image_too_large, nothing stored,
// and the photo says why.
func TestUploadRefusesDecompressionBomb(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, noisyImage(4, 300, 200)); err != nil {
		t.Fatal(err)
	}
	bomb := buf.Bytes()
	// IHDR's data (width, height, …) starts at byte 16; its CRC covers the
	// chunk type and data, bytes 12 to 29.
	binary.BigEndian.PutUint32(bomb[16:], 100_000)
	binary.BigEndian.PutUint32(bomb[20:], 100_000)
	binary.BigEndian.PutUint32(bomb[29:], crc32.ChecksumIEEE(bomb[12:29]))
	if cfg, err := png.DecodeConfig(bytes.NewReader(bomb)); err != nil || cfg.Width != 100_000 {
		t.Fatalf("the bomb's header: %+v %v", cfg, err)
	}
	for _, kind := range stores() {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			e := newPhotoEnv(t, kind)
			for _, first := range []int{len(bomb), len(bomb) / 2} {
				ph := e.photo(bomb)
				loc := e.mustCreate(e.base, ph)
				a := e.patch(e.base, loc, 0, bomb[:first], nil)
				if a.status != http.StatusUnprocessableEntity || a.problem.Code != domain.CodeImageTooLarge {
					t.Fatalf("first %d bytes: %d %q, want 422 %s", first, a.status, a.problem.Code, domain.CodeImageTooLarge)
				}
				e.requireNothingLeft(loc)
				p := e.reload(ph.ID)
				if p.ProcessingState != domain.ProcessingFailed || p.FailureReason != domain.FailureTooLarge || p.UploadState != domain.UploadPending {
					t.Errorf("first %d bytes: photo: upload %q processing %q reason %q", first, p.UploadState, p.ProcessingState, p.FailureReason)
				}
			}
		})
	}
}

// An upload small enough to be held whole until its first PATCH ends is
// stored as usual when that PATCH is cut short, before or after one full
// part, and completes when resumed.
func TestUploadHeldWholeButCutShort(t *testing.T) {
	for _, kind := range stores() {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			e := newPhotoEnv(t, kind)
			part := e.cfg.PartSize
			for i, keep := range []int{part / 2, part + 1000} {
				data := jpegBytes(uint64(60+i), part+part/2)
				ph := e.photo(data)
				loc := e.mustCreate(e.base, ph)
				e.cutPatch(e.base, loc, 0, data, keep)
				if got := e.offset(e.base, loc); got != int64(keep) {
					t.Fatalf("offset after a PATCH cut at %d: %d", keep, got)
				}
				if p := e.reload(ph.ID); p.UploadState != domain.UploadPartial {
					t.Errorf("upload_state %q after a cut, want %q", p.UploadState, domain.UploadPartial)
				}
				if a := e.patch(e.base, loc, int64(keep), data[keep:], nil); a.status != http.StatusNoContent {
					t.Fatalf("resume from %d: %d %+v", keep, a.status, a.problem)
				}
				e.requireStored(ph, data)
				if err := e.blobs.Delete(t.Context(), domain.OriginalKey(e.org.ID, sha(data))); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// With creation-with-upload the POST carries the first bytes: the whole
// photo in one request, or a start that a PATCH completes. Bytes that are
// not an image are refused as from a PATCH.
func TestUploadCreationWithUpload(t *testing.T) {
	for _, kind := range stores() {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			e := newPhotoEnv(t, kind)
			post := func(ph *domain.Photo, body []byte) tusAnswer {
				return e.do(e.base, http.MethodPost, "/v1/uploads", e.tech, map[string]string{
					"Upload-Length":   strconv.FormatInt(ph.ByteSize, 10),
					"Upload-Metadata": "photo_id " + base64.StdEncoding.EncodeToString([]byte(ph.ID)),
					"Content-Type":    tusContentType,
				}, body)
			}
			for i, first := range []int{-1, 3000} {
				data := jpegBytes(uint64(70+i), 40<<10)
				ph := e.photo(data)
				body := data
				if first > 0 {
					body = data[:first]
				}
				a := post(ph, body)
				if a.status != http.StatusCreated || a.header.Get("Upload-Offset") != strconv.Itoa(len(body)) || a.header.Get("Location") == "" {
					t.Fatalf("POST with %d bytes: %d offset %q location %q %+v", len(body), a.status,
						a.header.Get("Upload-Offset"), a.header.Get("Location"), a.problem)
				}
				if first > 0 {
					if b := e.patch(e.base, a.header.Get("Location"), int64(first), data[first:], nil); b.status != http.StatusNoContent {
						t.Fatalf("PATCH after a POST with bytes: %d %+v", b.status, b.problem)
					}
				}
				e.requireStored(ph, data)
				if err := e.blobs.Delete(t.Context(), domain.OriginalKey(e.org.ID, sha(data))); err != nil {
					t.Fatal(err)
				}
			}
			gif := append([]byte("GIF89a"), blobtest.Payload(71, 4000)...)
			ph := e.photo(gif)
			a := post(ph, gif)
			if a.status != http.StatusUnsupportedMediaType || a.problem.Code != domain.CodeUnsupportedImage {
				t.Fatalf("POST with a GIF: %d %q", a.status, a.problem.Code)
			}
			e.requireNothingLeft("")
			if n, err := e.store.UploadBytesInFlight(t.Context(), e.org.ID); err != nil || n != 0 {
				t.Errorf("uploads left in flight: %d %v", n, err)
			}
			a = e.do(e.base, http.MethodPost, "/v1/uploads", e.tech, map[string]string{
				"Upload-Length":   strconv.FormatInt(ph.ByteSize, 10),
				"Upload-Metadata": "photo_id " + base64.StdEncoding.EncodeToString([]byte(ph.ID)),
				"Content-Type":    "image/gif",
			}, gif)
			if a.status != http.StatusUnsupportedMediaType || a.problem.Code != domain.CodeUnsupportedMedia {
				t.Errorf("POST with a body of another Content-Type: %d %q", a.status, a.problem.Code)
			}
		})
	}
}
