package blob_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/blob"
	"github.com/iswitchroofs/fieldsync/storage/blob/blobtest"
)

func TestDirConformance(t *testing.T) {
	blobtest.RunConformance(t, func(t *testing.T) domain.BlobStore {
		return newDir(t, t.TempDir())
	})
}

func newDir(tb testing.TB, root string) *blob.Dir {
	tb.Helper()
	d, err := blob.NewDir(root)
	if err != nil {
		tb.Fatalf("NewDir(%q): %v", root, err)
	}
	return d
}

// files lists the regular files under root, relative to it.
func files(tb testing.TB, root string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestDirFailuresLeaveNoFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d := newDir(t, root)
	ctx := t.Context()

	_, _ = d.Put(ctx, "../escape", strings.NewReader("x"), 1, "")
	_, _ = d.Put(ctx, "a/../../escape", strings.NewReader("x"), 1, "")
	_, _ = d.Put(ctx, "short", strings.NewReader("x"), 2, "")
	_, _ = d.Put(ctx, "broken", io.MultiReader(strings.NewReader("x"), iotestErr{}), -1, "")
	if got := files(t, filepath.Dir(root)); len(got) != 0 {
		t.Errorf("failed Puts left files: %q", got)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("broken") }

func TestDirKeyCannotBeObjectAndFolder(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d := newDir(t, root)
	blobtest.MustPut(t, d, "a", strings.NewReader("object"), -1, "")
	blobtest.MustPut(t, d, "x/y", strings.NewReader("object"), -1, "")

	_, err := d.Put(t.Context(), "a/b", strings.NewReader("under an object"), -1, "")
	blobtest.RequireCode(t, err, domain.CodeConflict, "Put under an object")
	_, err = d.Put(t.Context(), "a/b/c", strings.NewReader("deeper under an object"), -1, "")
	blobtest.RequireCode(t, err, domain.CodeConflict, "Put deeper under an object")
	_, err = d.Put(t.Context(), "x", strings.NewReader("over a folder"), -1, "")
	blobtest.RequireCode(t, err, domain.CodeConflict, "Put over a folder")

	got, _ := blobtest.MustGet(t, d, "a")
	blobtest.RequireBytes(t, got, []byte("object"))
	if keys := blobtest.Keys(blobtest.ListAll(t, d, "")); strings.Join(keys, ",") != "a,x/y" {
		t.Errorf("List = %q, want [a x/y]", keys)
	}
	if got := files(t, filepath.Join(root, "tmp")); len(got) != 0 {
		t.Errorf("refused Puts left staging files: %q", got)
	}
}

// Get's reader must not expose the header that holds the content type, even
// to a caller that seeks, as http.ServeContent does for Range requests.
func TestDirGetServesRanges(t *testing.T) {
	t.Parallel()
	d := newDir(t, t.TempDir())
	data := blobtest.Payload(42, 100_000)
	blobtest.MustPut(t, d, "photos/p.jpg", bytes.NewReader(data), -1, "image/jpeg")

	rc, info, err := d.Get(t.Context(), "photos/p.jpg")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rs, ok := rc.(io.ReadSeeker)
	if !ok {
		t.Fatalf("Get's reader %T is not an io.ReadSeeker", rc)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/p.jpg", nil)
	req.Header.Set("Range", "bytes=0-9,99990-")
	rec.Header().Set("Content-Type", info.ContentType)
	http.ServeContent(rec, req, "p.jpg", info.ModifiedAt, rs)
	if rec.Code != http.StatusPartialContent {
		t.Fatalf("status %d, want 206", rec.Code)
	}
	body := rec.Body.String()
	if !strings.Contains(body, string(data[:10])) || !strings.Contains(body, string(data[99990:])) {
		t.Errorf("the ranges did not carry the object's first and last bytes")
	}

	rec = httptest.NewRecorder()
	http.ServeContent(rec, httptest.NewRequest(http.MethodGet, "/p.jpg", nil), "p.jpg", info.ModifiedAt, rs)
	blobtest.RequireBytes(t, rec.Body.Bytes(), data)
}

func TestDirCorruptObjectIsInternal(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d := newDir(t, root)
	if err := os.WriteFile(filepath.Join(root, "objects", "dropped.jpg"), []byte("not written by Put"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := d.Stat(t.Context(), "dropped.jpg")
	blobtest.RequireCode(t, err, domain.CodeInternal, "Stat of a file not written by Put")
	err = d.List(t.Context(), "", func(domain.BlobInfo) error { return nil })
	blobtest.RequireCode(t, err, domain.CodeInternal, "List over a file not written by Put")
}

func TestNewDirRemovesOnlyStaleStagingFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	newDir(t, root)
	stale := filepath.Join(root, "tmp", "put-crashed")
	fresh := filepath.Join(root, "tmp", "put-in-progress")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	newDir(t, root)
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stale staging file is still there (%v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("the fresh staging file, maybe another process's Put, was removed: %v", err)
	}
}

func TestNewDir(t *testing.T) {
	t.Parallel()
	_, err := blob.NewDir("")
	blobtest.RequireCode(t, err, domain.CodeInvalid, "NewDir of an empty root")

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.NewDir(file); err == nil {
		t.Error("NewDir on a file succeeded")
	}

	nested := filepath.Join(t.TempDir(), "data", "photos")
	d := newDir(t, nested)
	if err := d.Ping(t.Context()); err != nil {
		t.Errorf("Ping of a created directory = %v", err)
	}
}

func TestDirPingUnavailable(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d := newDir(t, root)
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	blobtest.RequireCode(t, d.Ping(t.Context()), domain.CodeUnavailable, "Ping of a removed directory")
}

// A crash between creating a key's folders and renaming the object into
// place can leave an empty folder where a key goes; it must not block the key.
func TestDirEmptyFolderGivesWay(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	d := newDir(t, root)
	if err := os.MkdirAll(filepath.Join(root, "objects", "photos", "p1"), 0o755); err != nil {
		t.Fatal(err)
	}
	blobtest.MustPut(t, d, "photos/p1", strings.NewReader("photo"), 5, "image/jpeg")
	got, _ := blobtest.MustGet(t, d, "photos/p1")
	blobtest.RequireBytes(t, got, []byte("photo"))
}
