package uploadq_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	"github.com/iswitchroofs/fieldsync/mobile/client/uploadq"
)

// recorder notes each request's method and whether it carried a body, and
// can cut the body of the requests cut picks half way.
type recorder struct {
	mu   gosync.Mutex
	seen []string
	cut  func(*http.Request) bool
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	name := req.Method
	if req.ContentLength > 0 {
		name += "+body"
	}
	r.seen = append(r.seen, name)
	cut := r.cut != nil && req.ContentLength > 0 && r.cut(req)
	r.mu.Unlock()
	if cut {
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(&cutReader{r: req.Body, left: req.ContentLength / 2})
	}
	return http.DefaultTransport.RoundTrip(req)
}

// take returns the requests seen since the last call.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

func sameRequests(got []string, want ...string) bool { return slices.Equal(got, want) }

func mustUpload(t *testing.T, q *uploadq.Queue, photoID string) uploadq.Item {
	t.Helper()
	if _, err := q.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	it, err := q.Item(t.Context(), photoID)
	if err != nil {
		t.Fatal(err)
	}
	if it.State != uploadq.StateUploaded {
		t.Fatalf("photo %s not uploaded: %+v", photoID, it)
	}
	return it
}

// A photo that fits in one chunk is created and sent in one request
// (creation-with-upload), and so is a second photo of the same bytes (the
// server has them already). A larger photo is created empty and sent in
// chunks; a small one whose one request was cut is resumed the same way.
func TestQueueSmallPhotoInOneRequest(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := &clock{t: time.Now()}
	rt := &recorder{}
	q := open(t, s, filepath.Join(t.TempDir(), "queue.db"), c, rt)
	defer q.Close()

	// sendPhoto queues a new photo of n bytes (seed picks them), uploads
	// it, and checks the requests it took and the bytes the server holds.
	sendPhoto := func(what string, seed uint64, n int, want ...string) {
		t.Helper()
		ph, path, data := s.photo(t, seed, n)
		if _, err := q.Enqueue(t.Context(), ph.ID, path); err != nil {
			t.Fatal(err)
		}
		mustUpload(t, q, ph.ID)
		if got := rt.take(); !sameRequests(got, want...) {
			t.Fatalf("%s: requests %v, want %v", what, got, want)
		}
		if got := s.stored(t, data); string(got) != string(data) {
			t.Fatalf("%s: the server holds other bytes", what)
		}
	}
	sendPhoto("small photo", 5, 20<<10, "POST+body")
	sendPhoto("the same bytes again", 5, 20<<10, "POST+body")
	sendPhoto("large photo", 6, 100<<10, "POST", "PATCH+body", "PATCH+body", "PATCH+body")
	// With OneRequestSize above ChunkSize, a photo up to it goes whole on
	// its first attempt.
	whole := open(t, s, filepath.Join(t.TempDir(), "whole.db"), c, rt, 128<<10)
	defer whole.Close()
	ph, path, data := s.photo(t, 8, 100<<10)
	if _, err := whole.Enqueue(t.Context(), ph.ID, path); err != nil {
		t.Fatal(err)
	}
	mustUpload(t, whole, ph.ID)
	if got := rt.take(); !sameRequests(got, "POST+body") {
		t.Fatalf("a photo of 100 KiB with OneRequestSize 128 KiB: requests %v, want one POST with the body", got)
	}
	if got := s.stored(t, data); string(got) != string(data) {
		t.Fatal("the server holds other bytes than the photo sent in one request")
	}

	cut, path, data := s.photo(t, 7, 30<<10)
	rt.cut = func(r *http.Request) bool { return r.Method == http.MethodPost }
	if _, err := q.Enqueue(t.Context(), cut.ID, path); err != nil {
		t.Fatal(err)
	}
	if _, err := q.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	it, _ := q.Item(t.Context(), cut.ID)
	if it.State != uploadq.StateQueued || it.Attempts != 1 || it.Code != "" {
		t.Fatalf("after the cut POST: %+v", it)
	}
	rt.take()
	c.add(11 * time.Minute)
	mustUpload(t, q, cut.ID)
	if got := rt.take(); !sameRequests(got, "POST", "PATCH+body") {
		t.Fatalf("retry of a cut small photo: requests %v, want an empty POST and a PATCH", got)
	}
	if got := s.stored(t, data); string(got) != string(data) {
		t.Fatal("the server holds other bytes than the cut photo's")
	}
}

// A photo queued to wait for its record is not attempted until Release
// covers its mutation; an expired access token is refreshed once and the
// request repeated; Fail stops a queued photo for good (and leaves an
// uploaded one alone); a file changed since it was queued fails on the
// phone without a byte sent, and is kept.
func TestQueueWaitReleaseRefreshAndFail(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := &clock{t: time.Now()}
	rt := &recorder{}
	past := domain.ClockFunc(func() time.Time { return time.Now().Add(-time.Hour) })
	expired, _, err := auth.NewTokens(s.keys, past, time.Minute).Issue(
		domain.Principal{UserID: s.tech.ID, OrgID: s.org.ID, Role: s.tech.Role}, uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	var token atomic.Value
	token.Store(expired)
	var refreshes atomic.Int32
	q, err := uploadq.Open(t.Context(), uploadq.Config{
		Path: filepath.Join(t.TempDir(), "queue.db"), BaseURL: s.url, ChunkSize: 48 << 10, OneRequestSize: -1, Now: c.now,
		HTTP:  &http.Client{Transport: rt},
		Token: func(context.Context) (string, error) { return token.Load().(string), nil },
		Refresh: func(_ context.Context, stale string) error {
			if stale != expired {
				t.Errorf("refresh of %q, want the expired token", stale)
			}
			refreshes.Add(1)
			token.Store(s.token)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	ph, path, data := s.photo(t, 8, 60<<10)
	added, err := q.Insert(t.Context(), nil, uploadq.Item{PhotoID: ph.ID, Path: path, SHA256: ph.SHA256, Size: ph.ByteSize, WaitFor: 7})
	if err != nil || !added {
		t.Fatalf("insert: %v %v", added, err)
	}
	if added, err := q.Insert(t.Context(), nil, uploadq.Item{PhotoID: ph.ID, Path: path, SHA256: ph.SHA256, Size: ph.ByteSize}); err != nil || added {
		t.Fatalf("insert again: %v %v, want nothing changed", added, err)
	}
	if _, err := q.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := rt.take(); len(got) != 0 {
		t.Fatalf("a waiting photo was attempted: %v", got)
	}
	if n, err := q.Release(t.Context(), nil, 6); err != nil || n != 0 {
		t.Fatalf("release through 6: %d %v", n, err)
	}
	if it, _ := q.Item(t.Context(), ph.ID); it.State != uploadq.StateWaiting || it.WaitFor != 7 {
		t.Fatalf("before its mutation was processed: %+v", it)
	}
	if n, err := q.Release(t.Context(), nil, 7); err != nil || n != 1 {
		t.Fatalf("release through 7: %d %v", n, err)
	}
	mustUpload(t, q, ph.ID)
	if got := refreshes.Load(); got != 1 {
		t.Fatalf("%d refreshes, want 1", got)
	}
	if got := rt.take(); !sameRequests(got, "POST", "POST", "PATCH+body", "PATCH+body") {
		t.Fatalf("requests %v, want the refused POST, its repeat and two PATCHes", got)
	}
	if got := s.stored(t, data); string(got) != string(data) {
		t.Fatal("the server holds other bytes than the photo's")
	}
	if err := q.Fail(t.Context(), nil, ph.ID, "not_found", "too late"); err != nil {
		t.Fatal(err)
	}
	if it, _ := q.Item(t.Context(), ph.ID); it.State != uploadq.StateUploaded {
		t.Fatalf("Fail undid an upload the server confirmed: %+v", it)
	}

	refused, path, _ := s.photo(t, 9, 10<<10)
	if _, err := q.Enqueue(t.Context(), refused.ID, path); err != nil {
		t.Fatal(err)
	}
	if err := q.Fail(t.Context(), nil, refused.ID, "not_found", "photo.create rejected"); err != nil {
		t.Fatal(err)
	}
	changed, cpath, _ := s.photo(t, 10, 10<<10)
	if _, err := q.Enqueue(t.Context(), changed.ID, cpath); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cpath, []byte("edited by another app"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := q.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := rt.take(); len(got) != 0 {
		t.Fatalf("requests %v for a failed photo and a changed file, want none", got)
	}
	if it, _ := q.Item(t.Context(), refused.ID); it.State != uploadq.StateFailed || it.Code != "not_found" || it.LastError != "photo.create rejected" {
		t.Fatalf("failed photo: %+v", it)
	}
	if it, _ := q.Item(t.Context(), changed.ID); it.State != uploadq.StateFailed || it.Code != uploadq.CodeLocalFileChanged {
		t.Fatalf("changed file: %+v", it)
	}
	for _, p := range []string{path, cpath} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a failed photo's file was removed: %v", err)
		}
	}
}

// A queue file made before photos could wait for their record gains the
// new columns; its rows keep their state (an attempt cut by the app's
// death is queued again).
func TestQueueOpensAnOlderFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`CREATE TABLE photo_uploads (photo_id TEXT PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT NOT NULL,
		size INTEGER NOT NULL, upload_url TEXT NOT NULL DEFAULT '', offset_done INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0, next_attempt INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
		queued_at INTEGER NOT NULL);
		INSERT INTO photo_uploads (photo_id, path, sha256, size, offset_done, state, attempts, queued_at)
		VALUES ('p1', '/photos/1.jpg', 'ab', 100, 40, 'uploading', 2, 1)`)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	q, err := uploadq.Open(t.Context(), uploadq.Config{Path: path, BaseURL: "http://127.0.0.1:1",
		Token: func(context.Context) (string, error) { return "", nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	it, err := q.Item(t.Context(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	if it.State != uploadq.StateQueued || it.Offset != 40 || it.Attempts != 2 || it.WaitFor != 0 || it.Code != "" {
		t.Fatalf("row of the older file: %+v", it)
	}
}
