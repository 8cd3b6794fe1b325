package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile"
	"github.com/iswitchroofs/fieldsync/mobile/client"
	"github.com/iswitchroofs/fieldsync/mobile/client/uploadq"
	"github.com/iswitchroofs/fieldsync/storage/blob"
	"github.com/iswitchroofs/fieldsync/storage/blob/miniotest"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// photoEnv is env with the photo routes on, storing into a bucket of its
// own on the shared real MinIO server, and a field tech assigned to a
// project.
type photoEnv struct {
	*env
	blobs   *blob.MinIO
	tech    *domain.User
	project *domain.Project
}

func newPhotoEnv(t *testing.T) *photoEnv {
	t.Helper()
	srv := miniotest.Shared(t)
	blobs, err := blob.NewMinIO(t.Context(), blob.MinIOConfig{
		Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Bucket: "client-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16],
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(mc *mobile.Config) {
		s := mc.Records.(*sqlstore.Store)
		mc.Uploads = &mobile.UploadsConfig{
			Uploads: s, Photos: s, Blobs: blobs, Parts: blobs, Multipart: blobs, Writer: s,
			URLKey: []byte("0123456789abcdef0123456789abcdef"), PartSize: domain.MinMultipartPart,
		}
	})
	pe := &photoEnv{env: e, blobs: blobs, tech: e.user(t, domain.RoleFieldTech)}
	cust := sqltest.Customer(t, e.store, e.sys)
	pe.project = sqltest.Project(t, e.store, e.sys, func(p *domain.Project) { p.CustomerID, p.AssignedTech = cust.ID, pe.tech.ID })
	return pe
}

// stored returns the bytes the server keeps for the photo's hash.
func (e *photoEnv) stored(t *testing.T, sum string) []byte {
	t.Helper()
	rc, _, err := e.blobs.Get(t.Context(), domain.OriginalKey(e.org.ID, sum))
	if err != nil {
		t.Fatalf("the photo's bytes on the server: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *photoEnv) serverPhoto(t *testing.T, id string) *domain.Photo {
	t.Helper()
	rec, err := e.store.FindRecord(ctx, e.org.ID, domain.KindPhoto, id)
	if err != nil {
		t.Fatalf("the photo record on the server: %v", err)
	}
	return rec.(*domain.Photo)
}

// writeJPEG writes a real JPEG of noise (it barely compresses, so a small
// image makes a file of several chunks) and returns its path and bytes.
func writeJPEG(t *testing.T, seed uint64, w, h int) (string, []byte) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, seed))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "IMG_"+strconv.FormatUint(seed, 10)+".jpg")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func photoState(t *testing.T, d *device, id string) client.PhotoState {
	t.Helper()
	s, err := d.PhotoState(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitStage(t *testing.T, d *device, id string, stage client.PhotoStage) client.PhotoState {
	t.Helper()
	var s client.PhotoState
	waitFor(t, "photo stage "+string(stage), func() bool {
		s = photoState(t, d, id)
		return s.Stage == stage
	})
	return s
}

func isUploadPatch(r *http.Request) bool {
	return r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/v1/uploads/")
}

// A tech photographs a roof with no signal: the photo is shown at once and
// waits; the app restarts, still offline. Back online, the running client
// pushes the photo.create and starts the upload at once; the app is killed
// in the middle of it (a chunk in flight). After the restart the upload
// resumes from the server's offset, the server ends up with exactly the
// file's bytes in MinIO, and the device sees the photo uploaded, then
// ready once the office's processing is done.
func TestPhotoUploadSurvivesOfflineAndRestart(t *testing.T) {
	t.Parallel()
	e := newPhotoEnv(t)
	d := e.device(t, e.tech, func(c *client.Config) { c.UploadChunkSize, c.UploadOneRequestSize = 32<<10, -1 })
	d.mustSync(t)
	path, data := writeJPEG(t, 1, 640, 400)
	if len(data) < 4*32<<10 {
		t.Fatalf("the test photo is only %d bytes; it should take several chunks", len(data))
	}

	d.net.offline.Store(true)
	lat, lon := 30.2672, -97.7431
	id, mid, err := d.AddPhoto(ctx, client.PhotoArgs{ProjectID: e.project.ID, Kind: domain.PhotoBefore, Caption: "north slope",
		Latitude: &lat, Longitude: &lon}, path)
	if err != nil {
		t.Fatal(err)
	}
	if got := field(t, d, domain.KindPhoto, id, "sha256"); got != hexSum(data) {
		t.Fatalf("the photo is not shown at once with its hash: %q", got)
	}
	if s := photoState(t, d, id); s.Stage != client.PhotoWaiting || s.Size != int64(len(data)) || s.Offset != 0 {
		t.Fatalf("offline: %+v", s)
	}
	if err := d.Sync(ctx); err == nil {
		t.Fatal("sync while offline succeeded")
	}
	d.reopen(t)
	if s := photoState(t, d, id); s.Stage != client.PhotoWaiting {
		t.Fatalf("after a restart offline: %+v", s)
	}
	if ms, _ := d.Pending(ctx); len(ms) != 1 || ms[0].ID != mid || ms[0].Name != "photo.create" {
		t.Fatalf("outbox after the restart: %+v", ms)
	}

	// Online: the third chunk hangs until the app is killed.
	var patches, creates atomic.Int32
	var restarted atomic.Bool
	var resent atomic.Int64
	inFlight := make(chan struct{})
	d.net.before = func(r *http.Request) bool {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/uploads" {
			creates.Add(1)
		}
		if !isUploadPatch(r) {
			return false
		}
		if restarted.Load() {
			resent.Add(r.ContentLength)
		} else if patches.Add(1) == 3 {
			close(inFlight)
			<-r.Context().Done()
		}
		return false
	}
	d.net.offline.Store(false)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	select {
	case <-inFlight:
	case <-time.After(15 * time.Second):
		t.Fatal("the upload did not start after the push")
	}
	mid1 := photoState(t, d, id)
	if mid1.Stage != client.PhotoUploading || mid1.Offset != 2*32<<10 {
		t.Fatalf("in the middle of the upload: %+v", mid1)
	}
	if n := creates.Load(); n != 1 {
		t.Fatalf("%d upload creations before the first chunks, want 1: none before the push brought the record", n)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	restarted.Store(true)
	d.reopen(t)
	if s := photoState(t, d, id); s.Upload != uploadq.StateQueued || s.Offset != 2*32<<10 {
		t.Fatalf("after the restart: %+v", s)
	}
	d.run(t)
	var s client.PhotoState
	waitFor(t, "the device to pull the photo uploaded", func() bool {
		s = photoState(t, d, id)
		return s.Stage == client.PhotoUploaded && s.UploadState == domain.UploadComplete
	})
	if s.Offset != int64(len(data)) || s.Upload != uploadq.StateUploaded {
		t.Fatalf("uploaded: %+v", s)
	}
	if got := resent.Load(); got != int64(len(data))-2*32<<10 {
		t.Fatalf("after the restart %d bytes were sent, want the %d the server lacked", got, int64(len(data))-2*32<<10)
	}
	if got := e.stored(t, hexSum(data)); !bytes.Equal(got, data) {
		t.Fatalf("the server holds %d bytes (sha256 %s), want the file's %d (%s)", len(got), hexSum(got), len(data), hexSum(data))
	}
	ph := e.serverPhoto(t, id)
	if ph.UploadState != domain.UploadComplete || ph.SHA256 != hexSum(data) || ph.Caption != "north slope" || ph.TakenBy != e.tech.ID {
		t.Fatalf("server record: %+v", ph)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the file went without DeleteAfterUpload: %v", err)
	}
	if list, err := d.PendingPhotos(ctx); err != nil || len(list) != 1 || list[0].Stage != client.PhotoUploaded {
		t.Fatalf("pending photos while processing is due: %+v %v", list, err)
	}

	// The office's processing finishes (as its worker writes): the device
	// is poked, pulls, and the photo is ready.
	err = e.store.Write(ctx, e.sys, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindPhoto, id)
		if err != nil {
			return err
		}
		p := rec.(*domain.Photo)
		p.ProcessingState, p.Width, p.Height = domain.ProcessingReady, 640, 400
		return tx.Update(p)
	})
	if err != nil {
		t.Fatal(err)
	}
	waitStage(t, d, id, client.PhotoReady)
	if list, err := d.PendingPhotos(ctx); err != nil || len(list) != 0 {
		t.Fatalf("pending photos once ready: %+v %v", list, err)
	}
}

// A photo.create the server rejects (the project is not the tech's) fails
// the photo's upload with the rejection's code, and the file stays even
// with DeleteAfterUpload: the server never confirmed it.
func TestRejectedPhotoKeepsItsFile(t *testing.T) {
	t.Parallel()
	e := newPhotoEnv(t)
	other := sqltest.Project(t, e.store, e.sys, func(p *domain.Project) {
		p.CustomerID = sqltest.Customer(t, e.store, e.sys).ID
	})
	var oc outcomes
	d := e.device(t, e.tech, oc.tune, func(c *client.Config) { c.DeleteAfterUpload = true })
	path, _ := writeJPEG(t, 2, 64, 64)
	id, mid, err := d.AddPhoto(ctx, client.PhotoArgs{ProjectID: other.ID, Kind: domain.PhotoAfter}, path)
	if err != nil {
		t.Fatal(err)
	}
	d.run(t)
	s := waitStage(t, d, id, client.PhotoFailed)
	if s.Reason != "not_found" || s.Upload != uploadq.StateFailed || !strings.Contains(s.LastError, "photo.create rejected") {
		t.Fatalf("rejected photo: %+v", s)
	}
	waitFor(t, "the rejection to reach the app", func() bool {
		oc.mu.Lock()
		defer oc.mu.Unlock()
		return len(oc.rejections) == 1 && oc.rejections[0].MutationID == mid && oc.rejections[0].Code == "not_found"
	})
	if _, ok, _ := d.Get(ctx, domain.KindPhoto, id); ok {
		t.Fatal("a rejected photo is still shown")
	}
	if n, err := d.Upload(ctx); err != nil || n != 0 {
		t.Fatalf("upload of a failed photo: %d %v", n, err)
	}
	if s := photoState(t, d, id); s.Stage != client.PhotoFailed {
		t.Fatalf("a failed photo came back: %+v", s)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the file of a rejected photo was removed: %v", err)
	}
	if list, err := d.PendingPhotos(ctx); err != nil || len(list) != 1 || list[0].PhotoID != id || list[0].Stage != client.PhotoFailed {
		t.Fatalf("pending photos: %+v %v", list, err)
	}
}

// With DeleteAfterUpload, a file is removed only once the device heard the
// server confirm every byte: when the answer to the last chunk is lost (the
// server has it all), the file stays until the next attempt asks the
// server's offset. The app hears of each step of the upload, and an access
// token that expired before it is refreshed as for any other call.
func TestDeleteAfterUploadWaitsForConfirmation(t *testing.T) {
	t.Parallel()
	e := newPhotoEnv(t)
	var changes atomic.Int64
	d := e.device(t, e.tech, func(c *client.Config) {
		c.DeleteAfterUpload, c.UploadChunkSize, c.UploadOneRequestSize = true, 32<<10, -1
		c.OnChange = func() { changes.Add(1) }
	})
	path, data := writeJPEG(t, 3, 320, 240)
	chunks := (len(data) + 32<<10 - 1) / (32 << 10)
	if chunks < 2 {
		t.Fatalf("the test photo is only %d bytes", len(data))
	}
	id, _, err := d.AddPhoto(ctx, client.PhotoArgs{ProjectID: e.project.ID, Kind: domain.PhotoDuring}, path)
	if err != nil {
		t.Fatal(err)
	}
	d.mustSync(t)
	if s := photoState(t, d, id); s.Stage != client.PhotoQueued {
		t.Fatalf("after the push: %+v", s)
	}
	var lost atomic.Bool
	d.net.before = func(r *http.Request) bool {
		off, _ := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
		return isUploadPatch(r) && off+r.ContentLength == int64(len(data)) && lost.CompareAndSwap(false, true)
	}
	e.clock.advance(16 * time.Minute) // past the 15-minute access token
	before := changes.Load()
	if n, err := d.Upload(ctx); err != nil || n != 0 {
		t.Fatalf("upload with the last answer lost: %d confirmed, %v", n, err)
	}
	if got := d.Stats().Refreshes; got != 1 {
		t.Fatalf("refreshes = %d, want 1", got)
	}
	if got := changes.Load() - before; got < int64(chunks) {
		t.Fatalf("the app heard of %d changes during an upload of %d chunks", got, chunks)
	}
	s := photoState(t, d, id)
	if s.Stage != client.PhotoQueued || s.Attempts != 1 || s.Offset >= int64(len(data)) {
		t.Fatalf("after the lost answer: %+v", s)
	}
	if ph := e.serverPhoto(t, id); ph.UploadState != domain.UploadComplete {
		t.Fatalf("the server should hold the photo already: %+v", ph)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the file went before the device heard the server confirm it: %v", err)
	}
	waitFor(t, "the next attempt", func() bool {
		n, err := d.Upload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file is still there after the server confirmed it: %v", err)
	}
	if got := e.stored(t, hexSum(data)); !bytes.Equal(got, data) {
		t.Fatal("the server holds other bytes than the photo's")
	}
	if s := photoState(t, d, id); s.Stage != client.PhotoUploaded {
		t.Fatalf("after the confirmation: %+v", s)
	}
}

// A file that cannot be a photo is refused with its code, and nothing is
// recorded: no mutation, no upload.
func TestAddPhotoRefusesBadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := client.Open(client.Config{BaseURL: "http://127.0.0.1:1", StorePath: filepath.Join(dir, "device.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := write("huge.jpg", []byte{0xFF, 0xD8, 0xFF, 0xE0})
	if err := os.Truncate(huge, domain.MaxUploadBytes+1); err != nil {
		t.Fatal(err)
	}
	args := client.PhotoArgs{ProjectID: client.NewID(), Kind: domain.PhotoBefore}
	for _, tc := range []struct {
		name, path string
		code       domain.Code
	}{
		{"missing", filepath.Join(dir, "gone.jpg"), domain.CodeInvalid},
		{"directory", dir, domain.CodeInvalid},
		{"empty", write("empty.jpg", nil), domain.CodeInvalid},
		{"over 50 MiB", huge, domain.CodePayloadTooLarge},
		{"HEIC", write("IMG_0001.jpg", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")), domain.CodeUnsupportedImage},
		{"text behind a .jpg name", write("notes.jpg", []byte("gate code 4411, dog in yard")), domain.CodeUnsupportedImage},
	} {
		if _, _, err := c.AddPhoto(ctx, args, tc.path); domain.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	good, _ := writeJPEG(t, 4, 8, 8)
	args.ID = client.NewID()
	if _, _, err := c.AddPhoto(ctx, args, good); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.AddPhoto(ctx, args, good); domain.ErrorCode(err) != domain.CodeConflict {
		t.Errorf("the same photo id again: %v, want conflict", err)
	}
	if ms, _ := c.Pending(ctx); len(ms) != 1 {
		t.Fatalf("outbox: %+v, want the one good photo", ms)
	}
	if list, err := c.PendingPhotos(ctx); err != nil || len(list) != 1 || list[0].PhotoID != args.ID {
		t.Fatalf("pending photos: %+v %v", list, err)
	}
	if _, err := c.PhotoState(ctx, client.NewID()); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("state of an unknown photo: %v", err)
	}
}
