// Package blobtest is the conformance suite for domain.BlobStore: one set of
// tests that every implementation runs, so that code written against the
// directory store in development behaves the same on MinIO in production.
//
// An implementation's test calls RunConformance with a constructor for fresh,
// empty stores:
//
//	func TestConformance(t *testing.T) {
//		blobtest.RunConformance(t, func(t *testing.T) domain.BlobStore {
//			s, err := blob.NewDir(t.TempDir())
//			...
//			return s
//		})
//	}
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// RunConformance runs the suite. newStore is called once per subtest, in
// parallel, and must return a store that is empty and used by nothing else.
func RunConformance(t *testing.T, newStore func(t *testing.T) domain.BlobStore) {
	t.Helper()
	setup := func(t *testing.T) domain.BlobStore {
		t.Helper()
		t.Parallel()
		return newStore(t)
	}

	t.Run("RoundTrip", func(t *testing.T) {
		s := setup(t)
		// The large sizes cross the part sizes of multipart uploads: 5 MiB
		// for an unknown size and 16 MiB for a known one in minio-go.
		for _, n := range []int{0, 1, 64 << 10, 7 << 20, 17<<20 + 3} {
			for _, known := range []bool{true, false} {
				key := fmt.Sprintf("round/%d-%v.bin", n, known)
				t.Run(fmt.Sprintf("%dB/known=%v", n, known), func(t *testing.T) {
					t.Parallel()
					data := Payload(uint64(n), n)
					size := int64(n)
					if !known {
						size = -1
					}
					before := time.Now().Add(-2 * time.Second)
					put := MustPut(t, s, key, bytes.NewReader(data), size, "image/jpeg")
					after := time.Now().Add(2 * time.Second)
					want := domain.BlobInfo{Key: key, Size: int64(n), ContentType: "image/jpeg"}
					if got := withoutTime(put); got != want {
						t.Errorf("Put returned %+v, want %+v", got, want)
					}
					if put.ModifiedAt.Before(before) || put.ModifiedAt.After(after) || put.ModifiedAt.Location() != time.UTC {
						t.Errorf("Put's ModifiedAt %v is not UTC and now", put.ModifiedAt)
					}
					got, info := MustGet(t, s, key)
					RequireBytes(t, got, data)
					stat := MustStat(t, s, key)
					if info != stat {
						t.Errorf("Get's info %+v differs from Stat's %+v", info, stat)
					}
					if withoutTime(stat) != want || stat.ModifiedAt.Sub(put.ModifiedAt).Abs() > 2*time.Second {
						t.Errorf("Stat = %+v, want %+v modified about %v", stat, want, put.ModifiedAt)
					}
					listed := ListAll(t, s, key)
					if len(listed) != 1 || listed[0] != stat {
						t.Errorf("List(%q) = %+v, want [%+v]", key, listed, stat)
					}
				})
			}
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s := setup(t)
		MustPut(t, s, "o/photo", bytes.NewReader(Payload(1, 3000)), 3000, "image/png")
		second := Payload(2, 10)
		MustPut(t, s, "o/photo", bytes.NewReader(second), -1, "image/jpeg")
		got, info := MustGet(t, s, "o/photo")
		RequireBytes(t, got, second)
		if info.Size != 10 || info.ContentType != "image/jpeg" {
			t.Errorf("after overwrite Get's info = %+v, want size 10 image/jpeg", info)
		}
		if keys := Keys(ListAll(t, s, "")); !slices.Equal(keys, []string{"o/photo"}) {
			t.Errorf("List = %q, want one object", keys)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		s, ctx := setup(t), t.Context()
		MustPut(t, s, "folder/object", strings.NewReader("x"), 1, "")
		// A folder of keys is not an object, nor is a path through one.
		for _, key := range []string{"missing", "folder", "folder/other", "folder/object/deeper"} {
			_, err := s.Stat(ctx, key)
			RequireCode(t, err, domain.CodeNotFound, "Stat(%q)", key)
			rc, _, err := s.Get(ctx, key)
			RequireCode(t, err, domain.CodeNotFound, "Get(%q)", key)
			if rc != nil {
				t.Errorf("Get(%q) returned a reader with its error", key)
				_ = rc.Close()
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s, ctx := setup(t), t.Context()
		if err := s.Delete(ctx, "never/was"); err != nil {
			t.Errorf("Delete of a missing object = %v, want nil", err)
		}
		MustPut(t, s, "d/e/f", strings.NewReader("bytes"), 5, "text/plain")
		MustPut(t, s, "d/keep", strings.NewReader("keep"), 4, "text/plain")
		for i := range 2 {
			if err := s.Delete(ctx, "d/e/f"); err != nil {
				t.Fatalf("Delete #%d = %v, want nil", i+1, err)
			}
		}
		_, err := s.Stat(ctx, "d/e/f")
		RequireCode(t, err, domain.CodeNotFound, "Stat after Delete")
		if err := s.Delete(ctx, "d"); err != nil {
			t.Errorf("Delete of a folder's name = %v, want nil", err)
		}
		if keys := Keys(ListAll(t, s, "")); !slices.Equal(keys, []string{"d/keep"}) {
			t.Errorf("List after Delete = %q, want [d/keep]", keys)
		}
		// Deleting the only object in a folder frees the folder's name.
		MustPut(t, s, "d/e", strings.NewReader("now an object"), -1, "text/plain")
		got, _ := MustGet(t, s, "d/e")
		RequireBytes(t, got, []byte("now an object"))
	})

	t.Run("List", func(t *testing.T) {
		s := setup(t)
		// Byte order, not walk order: '-' and '.' sort before '/', upper
		// case before lower, and multi-byte UTF-8 after ASCII.
		keys := []string{"a-b", "a.txt", "a/b", "a/b-c", "a/bc", "a/c/d", "a0", "ab", "b/x", "Z", "é/x", "a/c/e/f"}
		stored := map[string]domain.BlobInfo{}
		for i, k := range rand.New(rand.NewPCG(1, 2)).Perm(len(keys)) {
			ct := fmt.Sprintf("application/x-%d", i)
			stored[keys[k]] = MustPut(t, s, keys[k], bytes.NewReader(Payload(uint64(k), k+1)), int64(k+1), ct)
		}
		for _, prefix := range []string{"", "a", "a/", "a/b", "a/c/", "a/c/e/", "b", "b/", "é", "Z", "nothing/", "a/b-c/"} {
			var want []string
			for _, k := range keys {
				if strings.HasPrefix(k, prefix) {
					want = append(want, k)
				}
			}
			slices.Sort(want)
			got := ListAll(t, s, prefix)
			if !slices.Equal(Keys(got), want) {
				t.Errorf("List(%q) = %q, want %q", prefix, Keys(got), want)
				continue
			}
			for _, info := range got {
				put := stored[info.Key]
				if withoutTime(info) != withoutTime(put) {
					t.Errorf("List(%q) gave %+v, want %+v", prefix, info, put)
				}
				if stat := MustStat(t, s, info.Key); info != stat {
					t.Errorf("List(%q) gave %+v, Stat gives %+v", prefix, info, stat)
				}
			}
		}
	})

	t.Run("ListStopsAtFirstError", func(t *testing.T) {
		s, ctx := setup(t), t.Context()
		for _, k := range []string{"s/1", "s/2", "s/3"} {
			MustPut(t, s, k, strings.NewReader(k), -1, "")
		}
		stop := errors.New("stop here")
		var seen []string
		err := s.List(ctx, "s/", func(info domain.BlobInfo) error {
			seen = append(seen, info.Key)
			return stop
		})
		if !errors.Is(err, stop) {
			t.Errorf("List returned %v, want fn's error", err)
		}
		if !slices.Equal(seen, []string{"s/1"}) {
			t.Errorf("fn saw %q, want only the first key", seen)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		s, ctx := setup(t), t.Context()
		badKeys := map[string]string{
			"empty":                        "",
			"absolute":                     "/abs/key",
			"dot-dot":                      "a/../b",
			"dot-dot alone":                "..",
			"dot-dot first":                "../b",
			"dot segment":                  "a/./b",
			"dot alone":                    ".",
			"empty segment":                "a//b",
			"trailing slash":               "a/",
			"backslash":                    `a\b`,
			"backslash escape":             `..\..\etc`,
			"NUL":                          "a\x00b",
			"newline":                      "a\nb",
			"tab":                          "a\tb",
			"DEL":                          "a\x7fb",
			"C1 control":                   "a\u0085b",
			"invalid UTF-8":                "a\xffb",
			"1025 bytes":                   strings.Repeat("k", 1025),
			"256-byte segment":             "a/" + strings.Repeat("s", 256),
			"only a slash":                 "/",
			"trailing slash at 1024 bytes": strings.Repeat("a/", 512),
			"leading slash dot":            "/./a",
		}
		for name, key := range badKeys {
			body := &countingReader{r: strings.NewReader("payload")}
			_, err := s.Put(ctx, key, body, 7, "text/plain")
			RequireCode(t, err, domain.CodeInvalid, "Put of bad key %s", name)
			if body.reads > 0 {
				t.Errorf("Put read the body of bad key %s", name)
			}
			_, err = s.Stat(ctx, key)
			RequireCode(t, err, domain.CodeInvalid, "Stat of bad key %s", name)
			_, _, err = s.Get(ctx, key)
			RequireCode(t, err, domain.CodeInvalid, "Get of bad key %s", name)
			RequireCode(t, s.Delete(ctx, key), domain.CodeInvalid, "Delete of bad key %s", name)
		}
		// The longest valid key, with the longest valid segments, works.
		longest := strings.Repeat(strings.Repeat("s", 255)+"/", 3) + strings.Repeat("s", 254) + "/t"
		MustPut(t, s, longest, strings.NewReader("ok"), 2, "")
		MustDelete(t, s, longest)

		for _, prefix := range []string{"/a", "a//", "../", "a/../", "a/..", "..", ".", `a\`, "a\x00", "a\nb"} {
			err := s.List(ctx, prefix, func(domain.BlobInfo) error { return nil })
			RequireCode(t, err, domain.CodeInvalid, "List(%q)", prefix)
		}
		for _, ct := range []string{"not a media type", "image/jpeg\r\nX-Evil: 1", "text/plain; charset=é", "image/" + strings.Repeat("x", 250)} {
			_, err := s.Put(ctx, "ct/bad", strings.NewReader("x"), 1, ct)
			RequireCode(t, err, domain.CodeInvalid, "Put with content type %q", ct)
		}
		_, err := s.Put(ctx, "size/bad", strings.NewReader("x"), -2, "")
		RequireCode(t, err, domain.CodeInvalid, "Put with size -2")

		if keys := Keys(ListAll(t, s, "")); len(keys) != 0 {
			t.Errorf("bad input stored %q", keys)
		}
	})

	t.Run("ContentType", func(t *testing.T) {
		s := setup(t)
		cases := map[string]string{
			"":                                     "application/octet-stream",
			"image/jpeg":                           "image/jpeg",
			"image/heic":                           "image/heic",
			"Image/PNG":                            "Image/PNG",
			"text/plain; charset=utf-8":            "text/plain; charset=utf-8",
			"application/vnd.fieldsync.photo+json": "application/vnd.fieldsync.photo+json",
		}
		i := 0
		for given, want := range cases {
			i++
			key := fmt.Sprintf("ct/%d", i)
			if put := MustPut(t, s, key, strings.NewReader("x"), 1, given); put.ContentType != want {
				t.Errorf("Put(%q) returned content type %q, want %q", given, put.ContentType, want)
			}
			if _, info := MustGet(t, s, key); info.ContentType != want {
				t.Errorf("Get after Put(%q) = %q, want %q", given, info.ContentType, want)
			}
			if listed := ListAll(t, s, key); len(listed) != 1 || listed[0].ContentType != want {
				t.Errorf("List after Put(%q) = %+v, want %q", given, listed, want)
			}
		}
	})

	t.Run("SizeMismatch", func(t *testing.T) {
		s, ctx := setup(t), t.Context()
		old := Payload(7, 2048)
		MustPut(t, s, "size/existing", bytes.NewReader(old), int64(len(old)), "image/png")
		cases := []struct {
			name string
			body []byte
			size int64
		}{
			{"short", Payload(1, 50), 100},
			{"long", Payload(1, 20), 10},
			{"long, declared empty", []byte("x"), 0},
			{"short, multi-MiB", Payload(1, 6<<20), 6<<20 + 1},
			{"long, multi-MiB", Payload(1, 17<<20+1), 17 << 20},
		}
		for _, c := range cases {
			for _, key := range []string{"size/new", "size/existing"} {
				_, err := s.Put(ctx, key, bytes.NewReader(c.body), c.size, "text/plain")
				RequireCode(t, err, domain.CodeInvalid, "Put of a %s body to %s", c.name, key)
			}
		}
		_, err := s.Stat(ctx, "size/new")
		RequireCode(t, err, domain.CodeNotFound, "Stat after bodies of the wrong size")
		got, info := MustGet(t, s, "size/existing")
		RequireBytes(t, got, old)
		if info.ContentType != "image/png" {
			t.Errorf("a failed overwrite changed the content type to %q", info.ContentType)
		}
	})

	t.Run("FailedPutLeavesNothing", func(t *testing.T) {
		s, ctx := setup(t), t.Context()
		old := Payload(9, 1000)
		MustPut(t, s, "fail/existing", bytes.NewReader(old), -1, "image/png")
		boom := errors.New("connection reset by phone")
		for _, size := range []int64{8 << 20, -1, 12 << 20} {
			for _, key := range []string{"fail/new", "fail/existing"} {
				// 6 MiB crosses the first part of an unknown-size upload.
				r := io.MultiReader(bytes.NewReader(Payload(3, 6<<20)), errReader{boom})
				_, err := s.Put(ctx, key, r, size, "image/jpeg")
				if !errors.Is(err, boom) {
					t.Errorf("Put(%s, size %d) with a failing body = %v, want the body's error", key, size, err)
				}
			}
		}
		_, err := s.Stat(ctx, "fail/new")
		RequireCode(t, err, domain.CodeNotFound, "Stat after failed Puts")
		got, _ := MustGet(t, s, "fail/existing")
		RequireBytes(t, got, old)
		if keys := Keys(ListAll(t, s, "")); !slices.Equal(keys, []string{"fail/existing"}) {
			t.Errorf("List after failed Puts = %q", keys)
		}
	})

	t.Run("CanceledPutLeavesNothing", func(t *testing.T) {
		s, ctx := setup(t), t.Context()
		old := Payload(11, 1000)
		MustPut(t, s, "cancel/existing", bytes.NewReader(old), -1, "image/png")
		cases := []struct {
			name string
			size int64
			body func(cancel context.CancelFunc, ctx context.Context) io.Reader
		}{
			// A request body: it notices the cancellation and fails.
			{"body fails, known size", 4 << 20, func(cancel context.CancelFunc, ctx context.Context) io.Reader {
				return io.MultiReader(bytes.NewReader(Payload(5, 1<<20)), &cancelReader{cancel: cancel, ctx: ctx})
			}},
			{"body fails, unknown size", -1, func(cancel context.CancelFunc, ctx context.Context) io.Reader {
				return io.MultiReader(bytes.NewReader(Payload(5, 6<<20)), &cancelReader{cancel: cancel, ctx: ctx})
			}},
			// A body that ignores the context and goes on for 32 MiB more:
			// only a store that watches ctx stops the Put (one that does not
			// stores the object and fails the test rather than hanging it).
			{"body ignores ctx", -1, func(cancel context.CancelFunc, _ context.Context) io.Reader {
				return io.MultiReader(bytes.NewReader(Payload(5, 1<<20)), &cancelReader{cancel: cancel, ignoreCtx: 32 << 20})
			}},
		}
		for _, c := range cases {
			for _, key := range []string{"cancel/new", "cancel/existing"} {
				putCtx, cancel := context.WithCancel(ctx)
				_, err := s.Put(putCtx, key, c.body(cancel, putCtx), c.size, "image/jpeg")
				cancel()
				if !errors.Is(err, context.Canceled) {
					t.Errorf("%s: Put(%s) = %v, want context.Canceled in the chain", c.name, key, err)
				}
			}
		}
		_, err := s.Stat(ctx, "cancel/new")
		RequireCode(t, err, domain.CodeNotFound, "Stat after canceled Puts")
		got, _ := MustGet(t, s, "cancel/existing")
		RequireBytes(t, got, old)

		canceledCtx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = s.Put(canceledCtx, "cancel/before", strings.NewReader("x"), 1, "")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put with a canceled context = %v, want context.Canceled", err)
		}
		if keys := Keys(ListAll(t, s, "")); !slices.Equal(keys, []string{"cancel/existing"}) {
			t.Errorf("List after canceled Puts = %q", keys)
		}
	})

	t.Run("ConcurrentDistinctKeys", func(t *testing.T) {
		s, ctx := setup(t), t.Context()
		const writers = 16
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				data := Payload(uint64(100+i), 64<<10+i*1000)
				size := int64(len(data))
				if i%2 == 1 {
					size = -1
				}
				if _, err := s.Put(ctx, fmt.Sprintf("many/%02d", i), bytes.NewReader(data), size, ""); err != nil {
					t.Errorf("Put #%d: %v", i, err)
				}
			})
		}
		wg.Wait()
		for i := range writers {
			got, _ := MustGet(t, s, fmt.Sprintf("many/%02d", i))
			RequireBytes(t, got, Payload(uint64(100+i), 64<<10+i*1000))
		}
		if n := len(ListAll(t, s, "many/")); n != writers {
			t.Errorf("List found %d objects, want %d", n, writers)
		}
	})

	t.Run("ConcurrentSameKey", func(t *testing.T) {
		s, ctx := setup(t), t.Context()
		const writers, rounds, readers = 8, 3, 4
		type version struct {
			ct   string
			size int
		}
		// Payloads of different lengths and contents, so a mix of two is
		// never equal to either.
		versions := map[[32]byte]version{}
		payloads := make([][]byte, writers)
		for i := range writers {
			payloads[i] = Payload(uint64(1000+i), 512<<10+i*4096)
			versions[sha256.Sum256(payloads[i])] = version{fmt.Sprintf("application/x-writer-%d", i), len(payloads[i])}
		}
		check := func(what string, data []byte, info domain.BlobInfo) {
			v, ok := versions[sha256.Sum256(data)]
			switch {
			case !ok:
				t.Errorf("%s read %d bytes that no writer wrote", what, len(data))
			case info.ContentType != v.ct || info.Size != int64(v.size):
				t.Errorf("%s read one writer's bytes with info %+v, want %s and %d bytes", what, info, v.ct, v.size)
			}
		}

		done := make(chan struct{})
		var readersWG, writersWG sync.WaitGroup
		for range readers {
			readersWG.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					rc, info, err := s.Get(ctx, "same")
					if domain.IsCode(err, domain.CodeNotFound) {
						continue // no writer has finished yet
					}
					if err != nil {
						t.Errorf("Get during writes: %v", err)
						return
					}
					data, err := io.ReadAll(rc)
					_ = rc.Close()
					if err != nil {
						t.Errorf("reading during writes: %v", err)
						return
					}
					check("a Get during writes", data, info)
				}
			})
		}
		for i := range writers {
			writersWG.Go(func() {
				for r := range rounds {
					size := int64(len(payloads[i]))
					if (i+r)%2 == 1 {
						size = -1
					}
					if _, err := s.Put(ctx, "same", bytes.NewReader(payloads[i]), size, fmt.Sprintf("application/x-writer-%d", i)); err != nil {
						t.Errorf("writer %d: %v", i, err)
					}
				}
			})
		}
		writersWG.Wait()
		close(done)
		readersWG.Wait()
		got, info := MustGet(t, s, "same")
		check("the final Get", got, info)
	})

	t.Run("Ping", func(t *testing.T) {
		s, ctx := setup(t), t.Context()
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping = %v", err)
		}
	})
}

// Payload returns n bytes that do not compress and that seed reproduces.
func Payload(seed uint64, n int) []byte {
	var key [32]byte
	copy(key[:], fmt.Sprint(seed))
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b) // never fails
	return b
}

// MustPut stores r under key or fails tb.
func MustPut(tb testing.TB, s domain.BlobStore, key string, r io.Reader, size int64, contentType string) domain.BlobInfo {
	tb.Helper()
	info, err := s.Put(tb.Context(), key, r, size, contentType)
	if err != nil {
		tb.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

// MustGet reads the whole object or fails tb.
func MustGet(tb testing.TB, s domain.BlobStore, key string) ([]byte, domain.BlobInfo) {
	tb.Helper()
	rc, info, err := s.Get(tb.Context(), key)
	if err != nil {
		tb.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("reading %q: %v", key, err)
	}
	return data, info
}

// MustStat describes the object or fails tb.
func MustStat(tb testing.TB, s domain.BlobStore, key string) domain.BlobInfo {
	tb.Helper()
	info, err := s.Stat(tb.Context(), key)
	if err != nil {
		tb.Fatalf("Stat(%q): %v", key, err)
	}
	return info
}

// MustDelete deletes the object or fails tb.
func MustDelete(tb testing.TB, s domain.BlobStore, key string) {
	tb.Helper()
	if err := s.Delete(tb.Context(), key); err != nil {
		tb.Fatalf("Delete(%q): %v", key, err)
	}
}

// ListAll collects what List reports for prefix, or fails tb.
func ListAll(tb testing.TB, s domain.BlobStore, prefix string) []domain.BlobInfo {
	tb.Helper()
	var out []domain.BlobInfo
	err := s.List(tb.Context(), prefix, func(info domain.BlobInfo) error {
		out = append(out, info)
		return nil
	})
	if err != nil {
		tb.Fatalf("List(%q): %v", prefix, err)
	}
	return out
}

// Keys returns the keys of infos, in order.
func Keys(infos []domain.BlobInfo) []string {
	keys := make([]string, len(infos))
	for i, info := range infos {
		keys[i] = info.Key
	}
	return keys
}

// RequireCode fails tb unless err carries code. what and args name the call.
func RequireCode(tb testing.TB, err error, code domain.Code, what string, args ...any) {
	tb.Helper()
	if got := domain.ErrorCode(err); got != code {
		tb.Errorf("%s: got error %v (code %q), want code %q", fmt.Sprintf(what, args...), err, got, code)
	}
}

// RequireBytes fails tb unless got equals want, naming the first difference
// rather than printing megabytes.
func RequireBytes(tb testing.TB, got, want []byte) {
	tb.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	tb.Errorf("got %d bytes, want %d; first difference at offset %d", len(got), len(want), i)
}

func withoutTime(info domain.BlobInfo) domain.BlobInfo {
	info.ModifiedAt = time.Time{}
	return info
}

type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// cancelReader cancels the Put's context on its first read. Then it either
// fails with the context's error, as a request body does, or, with ignoreCtx
// set, returns that many more bytes as a body that ignores the context would.
type cancelReader struct {
	cancel    context.CancelFunc
	ctx       context.Context
	ignoreCtx int
}

func (c *cancelReader) Read(p []byte) (int, error) {
	c.cancel()
	if c.ignoreCtx > 0 {
		n := min(len(p), c.ignoreCtx)
		clear(p[:n])
		c.ignoreCtx -= n
		return n, nil
	}
	if c.ctx == nil {
		return 0, io.EOF
	}
	<-c.ctx.Done()
	return 0, c.ctx.Err()
}
