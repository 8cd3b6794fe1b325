package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
)

// A photo's whole life through `fieldsync dev`: its record is pushed by a
// device, its bytes arrive by tus, the worker (outbox, relay, asynq) makes
// the derivatives, and a signed URL serves the thumbnail.
func TestPhotoEndToEndDev(t *testing.T) {
	t.Parallel()
	p := startCmd(t, map[string]string{"FIELDSYNC_HTTP_ADDR": "127.0.0.1:0", "FIELDSYNC_DATA_DIR": t.TempDir()}, "dev")
	base := "http://" + p.addr
	c := &client{t: t, base: base, http: &http.Client{Timeout: 30 * time.Second}}
	mgr := c.signIn("manager@iswitch.demo").AccessToken

	projectID := demoProject(c, mgr)

	img := image.NewRGBA(image.Rect(0, 0, 1200, 800))
	for y := range 800 {
		for x := range 1200 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 90, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()

	photoID := uuid.NewString()
	pushPhoto(c, mgr, projectID, photoID, "before", data)

	resp := c.tus("POST", "/v1/uploads", mgr, map[string]string{"Upload-Length": strconv.Itoa(len(data)),
		"Upload-Metadata": "photo_id " + base64.StdEncoding.EncodeToString([]byte(photoID))}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create upload: %d", resp.StatusCode)
	}
	resp = c.tus("PATCH", resp.Header.Get("Location"), mgr, map[string]string{"Content-Type": "application/offset+octet-stream",
		"Upload-Offset": "0"}, data)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d", resp.StatusCode)
	}

	var ph domain.Photo
	deadline := time.Now().Add(60 * time.Second)
	for {
		c.do("GET", "/v1/photos/"+photoID, mgr, nil).json(t, &ph)
		if ph.ProcessingState == domain.ProcessingReady || ph.ProcessingState == domain.ProcessingFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("photo not processed within a minute: %+v", ph)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ph.ProcessingState != domain.ProcessingReady || ph.UploadState != domain.UploadComplete || ph.Width != 1200 || ph.Height != 800 {
		t.Fatalf("photo after processing: %+v", ph)
	}
	var urls struct {
		Thumb string `json:"thumb"`
	}
	c.do("GET", "/v1/photos/"+photoID+"/urls", mgr, nil).json(t, &urls)
	r, err := c.http.Get(urls.Thumb)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	cfg, err := jpeg.DecodeConfig(r.Body)
	if r.StatusCode != http.StatusOK || err != nil || cfg.Width != 320 {
		t.Fatalf("thumb by signed URL: %d %v %dx%d", r.StatusCode, err, cfg.Width, cfg.Height)
	}
	other := c.signIn("manager@lakeside.demo").AccessToken
	expect(t, "URLs for another organization", c.do("GET", "/v1/photos/"+photoID+"/urls", other, nil), http.StatusNotFound, domain.CodeNotFound)
	if code := p.stop(t); code != 0 {
		t.Fatalf("dev exited %d", code)
	}
}

// demoProject finds a project of the demo organization that token's user
// can read.
func demoProject(c *client, token string) string {
	c.t.Helper()
	for n := range 50 {
		id := demoID(demoSlug, "/lead/", n, "/project")
		if c.do("GET", "/v1/projects/"+id, token, nil).status == http.StatusOK {
			return id
		}
	}
	c.t.Fatal("no demo project found")
	return ""
}

// pushPhoto registers a new device for token's user and pushes the
// metadata of a photo of data (photo.create) under projectID.
func pushPhoto(c *client, token, projectID, photoID, kind string, data []byte) {
	c.t.Helper()
	sum := sha256.Sum256(data)
	device := uuid.NewString()
	versions := map[string]any{"protocol_version": 1, "schema_version": 2, "app_version": "test"}
	reg := map[string]any{"client_id": device, "platform": "ios"}
	push := map[string]any{"client_id": device, "mutations": []map[string]any{{
		"id": 1, "name": "photo.create", "args": map[string]any{
			"id": photoID, "project_id": projectID, "kind": kind, "taken_at": time.Now().UTC().Format(time.RFC3339),
			"sha256": hex.EncodeToString(sum[:]), "byte_size": len(data), "content_type": "image/jpeg",
		},
	}}}
	for k, v := range versions {
		reg[k], push[k] = v, v
	}
	expect(c.t, "register device", c.do("POST", "/v1/devices", token, reg), http.StatusCreated, "")
	expect(c.t, "push photo.create", c.do("POST", "/v1/sync/push", token, push), http.StatusOK, "")
}

// tus sends one tus request with token to path (a URL, or a path under
// c.base) and returns the answer with its body read.
func (c *client) tus(method, path, token string, hdr map[string]string, body []byte) *http.Response {
	c.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = c.base + path
	}
	req, err := http.NewRequest(method, path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
