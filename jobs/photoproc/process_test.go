package photoproc_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs/photoproc"
	"github.com/iswitchroofs/fieldsync/storage/blob"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// testJPEG encodes a w×h image whose left half is red and right half blue,
// with an EXIF block carrying the given orientation and a camera name that
// must not survive into derivatives.
func testJPEG(t testing.TB, w, h int, orientation uint16) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{255, 0, 0, 255}
			if x >= w/2 {
				c = color.RGBA{0, 0, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	return append(append(append([]byte{}, out[:2]...), exifSegment(orientation, "SECRETCAM-GPS-51.5N")...), out[2:]...)
}

// exifSegment is an APP1 Exif segment with Orientation and Make in IFD0.
func exifSegment(orientation uint16, make string) []byte {
	var tiff bytes.Buffer
	be := binary.BigEndian
	tiff.WriteString("MM\x00\x2a")
	_ = binary.Write(&tiff, be, uint32(8))
	_ = binary.Write(&tiff, be, uint16(2))
	// Orientation, SHORT, 1, value in the first two bytes of the field.
	_ = binary.Write(&tiff, be, []uint16{0x0112, 3})
	_ = binary.Write(&tiff, be, uint32(1))
	_ = binary.Write(&tiff, be, []uint16{orientation, 0})
	// Make, ASCII, at offset 38 (after the IFD).
	_ = binary.Write(&tiff, be, []uint16{0x010F, 2})
	_ = binary.Write(&tiff, be, uint32(len(make)+1))
	_ = binary.Write(&tiff, be, uint32(38))
	_ = binary.Write(&tiff, be, uint32(0)) // no next IFD
	tiff.WriteString(make + "\x00")
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	be.PutUint16(seg[2:], uint16(len(payload)+2))
	return append(seg, payload...)
}

// bombPNG is a tiny PNG whose header declares w×h pixels.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk := append([]byte("IHDR"), ihdr...)
	_ = binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.Write(chunk)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	b.Write(bytes.Repeat([]byte{0}, 64))
	return b.Bytes()
}

func TestProcessOrientsAndStrips(t *testing.T) {
	t.Parallel()
	src := testJPEG(t, 800, 400, 6) // 6: the camera was turned; show rotated 90° clockwise
	res, err := photoproc.Process(src, photoproc.Sizes{Thumb: 100, Screen: 300})
	if err != nil {
		t.Fatal(err)
	}
	if res.Width != 400 || res.Height != 800 {
		t.Fatalf("oriented size %dx%d, want 400x800", res.Width, res.Height)
	}
	want := map[string]image.Point{"screen": {150, 300}, "thumb": {50, 100}}
	for _, d := range res.Derivatives {
		if bytes.Contains(d.JPEG, []byte("Exif")) || bytes.Contains(d.JPEG, []byte("SECRETCAM")) {
			t.Errorf("%s keeps the source's metadata", d.Variant)
		}
		img, err := jpeg.Decode(bytes.NewReader(d.JPEG))
		if err != nil {
			t.Fatalf("%s: %v", d.Variant, err)
		}
		if got := img.Bounds().Size(); got != want[d.Variant] {
			t.Errorf("%s is %v, want %v", d.Variant, got, want[d.Variant])
		}
		// Rotated clockwise, the red left half is now on top.
		r, _, b, _ := img.At(img.Bounds().Dx()/2, img.Bounds().Dy()/4).RGBA()
		if r < b {
			t.Errorf("%s: the top is not red (r %d b %d): orientation not applied", d.Variant, r>>8, b>>8)
		}
	}
}

func TestProcessRefusesBadImages(t *testing.T) {
	t.Parallel()
	good := testJPEG(t, 400, 200, 1)
	var pngBuf bytes.Buffer
	_ = png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 10, 10)))
	for name, tc := range map[string]struct {
		data   []byte
		reason string
	}{
		"truncated jpeg":     {good[:len(good)/2], domain.FailureCorrupt},
		"bomb png":           {bombPNG(100_000, 100_000), domain.FailureTooLarge},
		"just over 50 MP":    {bombPNG(10_001, 5_000), domain.FailureTooLarge},
		"gif behind a .jpg":  {append([]byte("GIF89a"), make([]byte, 100)...), domain.FailureUnsupportedType},
		"empty":              {nil, domain.FailureUnsupportedType},
		"truncated png head": {pngBuf.Bytes()[:20], domain.FailureCorrupt},
	} {
		_, err := photoproc.Process(tc.data, photoproc.Sizes{})
		perm, ok := err.(*photoproc.PermanentError)
		if !ok || perm.Reason != tc.reason {
			t.Errorf("%s: got %v, want reason %s", name, err, tc.reason)
		}
	}
}

// FuzzProcess feeds arbitrary bytes to the decoder path: it must answer a
// result or a permanent error, never panic or run away.
func FuzzProcess(f *testing.F) {
	f.Add(testJPEG(f, 64, 32, 3))
	f.Add(bombPNG(60_000, 60_000))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := photoproc.Process(data, photoproc.Sizes{Thumb: 16, Screen: 32}); err != nil {
			if _, ok := err.(*photoproc.PermanentError); !ok {
				t.Fatalf("non-permanent error %v", err)
			}
		}
	})
}

// env is a real database and directory store with an uploaded photo.
type env struct {
	store *sqlstore.Store
	blobs *blob.Dir
	org   *domain.Organization
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{store: sqltest.Postgres(t), org: nil}
	var err error
	if e.blobs, err = blob.NewDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	e.org = sqltest.Org(t, e.store)
	return e
}

func (e *env) uploaded(t *testing.T, data []byte) *domain.Photo {
	t.Helper()
	sys := sqltest.System(e.org)
	cust := sqltest.Customer(t, e.store, sys)
	pr := sqltest.Project(t, e.store, sys, func(p *domain.Project) { p.CustomerID = cust.ID })
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	key := domain.OriginalKey(e.org.ID, hexSum)
	if _, err := e.blobs.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), domain.ContentJPEG); err != nil {
		t.Fatal(err)
	}
	return sqltest.Photo(t, e.store, sys, func(p *domain.Photo) {
		p.ProjectID, p.SHA256, p.ByteSize = pr.ID, hexSum, int64(len(data))
		p.ContentType, p.UploadState, p.OriginalKey = domain.ContentJPEG, domain.UploadComplete, key
	})
}

func (e *env) reload(t *testing.T, id string) *domain.Photo {
	t.Helper()
	rec, err := e.store.FindRecord(t.Context(), e.org.ID, domain.KindPhoto, id)
	if err != nil {
		t.Fatal(err)
	}
	return rec.(*domain.Photo)
}

func task(t *testing.T, ph *domain.Photo) *asynq.Task {
	t.Helper()
	b, err := json.Marshal(domain.PhotoProcessPayload{OrgID: ph.OrgID, PhotoID: ph.ID, SHA256: ph.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	return asynq.NewTask(domain.PhotoProcessTask, b)
}

func TestTaskUpdatesThePhoto(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ph := e.uploaded(t, testJPEG(t, 1000, 500, 1))
	h := photoproc.Register(asynq.NewServeMux(), photoproc.Deps{Records: e.store, Blobs: e.blobs, Writer: e.store})
	for range 2 { // a repeated task changes nothing
		if err := h.ProcessTask(t.Context(), task(t, ph)); err != nil {
			t.Fatal(err)
		}
	}
	got := e.reload(t, ph.ID)
	if got.ProcessingState != domain.ProcessingReady || got.Width != 1000 || got.Height != 500 ||
		got.ThumbKey != domain.DerivativeKey(e.org.ID, ph.SHA256, "thumb") || got.ScreenKey == "" {
		t.Fatalf("photo after processing: %+v", got)
	}
	rc, info, err := e.blobs.Get(t.Context(), got.ThumbKey)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(b)); err != nil || cfg.Width != 320 || info.ContentType != domain.ContentJPEG {
		t.Errorf("thumb: %+v %v %q", cfg, err, info.ContentType)
	}
}

func TestTaskMarksBadBytesFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ph := e.uploaded(t, bombPNG(80_000, 80_000))
	h := photoproc.Register(asynq.NewServeMux(), photoproc.Deps{Records: e.store, Blobs: e.blobs, Writer: e.store})
	if err := h.ProcessTask(t.Context(), task(t, ph)); err != nil {
		t.Fatalf("a permanent failure completes the task, got %v", err)
	}
	got := e.reload(t, ph.ID)
	if got.ProcessingState != domain.ProcessingFailed || got.FailureReason != domain.FailureTooLarge {
		t.Fatalf("photo: %q %q", got.ProcessingState, got.FailureReason)
	}
	if objs := listAll(t, e.blobs, "photos/"); len(objs) != 1 {
		t.Errorf("objects after a refusal: %v", objs)
	}
}

// unreachable fails every read as a MinIO outage does.
type unreachable struct{ domain.BlobStore }

func (unreachable) Get(context.Context, string) (io.ReadCloser, domain.BlobInfo, error) {
	return nil, domain.BlobInfo{}, domain.Errorf(domain.CodeUnavailable, "the photo store is unavailable")
}

func TestTaskRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ph := e.uploaded(t, testJPEG(t, 100, 100, 1))
	h := photoproc.Register(asynq.NewServeMux(), photoproc.Deps{Records: e.store, Blobs: unreachable{e.blobs}, Writer: e.store})
	if err := h.ProcessTask(t.Context(), task(t, ph)); !domain.IsCode(err, domain.CodeUnavailable) {
		t.Fatalf("transient failure: got %v, want an error asynq retries", err)
	}
	if got := e.reload(t, ph.ID); got.ProcessingState == domain.ProcessingFailed {
		t.Fatalf("a transient failure marked the photo failed")
	}
	// The store is back: the retry succeeds.
	h = photoproc.Register(asynq.NewServeMux(), photoproc.Deps{Records: e.store, Blobs: e.blobs, Writer: e.store})
	if err := h.ProcessTask(t.Context(), task(t, ph)); err != nil {
		t.Fatal(err)
	}
	if got := e.reload(t, ph.ID); got.ProcessingState != domain.ProcessingReady {
		t.Fatalf("after the retry: %q", got.ProcessingState)
	}
}

func listAll(t *testing.T, s domain.BlobStore, prefix string) []string {
	t.Helper()
	var keys []string
	if err := s.List(t.Context(), prefix, func(i domain.BlobInfo) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}
