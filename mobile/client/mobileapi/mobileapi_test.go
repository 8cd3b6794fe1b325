package mobileapi_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iswitchroofs/fieldsync/mobile/client/mobileapi"
)

// The facade works offline: a mutation is shown at once, listed, counted,
// and survives closing and reopening the store; arguments that are not a
// JSON object are refused before anything is recorded.
func TestFacadeOffline(t *testing.T) {
	t.Parallel()
	o := mobileapi.NewOptions()
	o.BaseURL, o.StorePath, o.Platform = "http://127.0.0.1:1", filepath.Join(t.TempDir(), "app.db"), "ios"
	c, err := mobileapi.Open(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mutate("lead.create", `["not", "an object"]`); err == nil {
		t.Fatal("non-object arguments were accepted")
	}
	id := "0d6f4c0a-3b7e-4a51-9d43-2f5b8e1c7a90"
	mid, err := c.Mutate("lead.create", `{"id":"`+id+`","first_name":"Ana","phone":"+15125550100"}`)
	if err != nil || mid != 1 {
		t.Fatalf("mutate: %d %v", mid, err)
	}
	got, err := c.Get("lead", id)
	if err != nil || !strings.Contains(got, `"first_name":"Ana"`) {
		t.Fatalf("get: %q %v", got, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = mobileapi.Open(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.List("lead")
	var leads []map[string]any
	if err != nil || json.Unmarshal([]byte(list), &leads) != nil || len(leads) != 1 || leads[0]["id"] != id {
		t.Fatalf("list after reopening: %s %v", list, err)
	}
	if n, err := c.PendingCount(); err != nil || n != 1 {
		t.Fatalf("pending: %d %v", n, err)
	}
	if got, _ := c.Get("lead", "11111111-1111-4111-8111-111111111111"); got != "" {
		t.Fatalf("a missing record: %q", got)
	}
}

// A photo added through the facade is recorded and waits for its upload;
// its state and the pending list come as JSON, and bad input is refused
// with the code at the head of the message.
func TestFacadePhotosOffline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := mobileapi.NewOptions()
	o.BaseURL, o.StorePath, o.Platform = "http://127.0.0.1:1", filepath.Join(dir, "app.db"), "android"
	o.DeleteAfterUpload, o.UploadChunkBytes = true, 256<<10
	c, err := mobileapi.Open(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	photo := filepath.Join(dir, "IMG_0001.jpg")
	if err := os.WriteFile(photo, []byte("\xFF\xD8\xFF\xE0 the rest of a JPEG"), 0o600); err != nil {
		t.Fatal(err)
	}
	heic := filepath.Join(dir, "IMG_0002.jpg")
	if err := os.WriteFile(heic, []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := `{"project_id":"0d6f4c0a-3b7e-4a51-9d43-2f5b8e1c7a90","kind":"before","taken_at":"2026-11-21T15:04:05Z"}`
	for _, tc := range []struct{ name, args, path, code string }{
		{"sha256 is the file's", `{"project_id":"x","kind":"before","sha256":"00"}`, photo, "invalid: "},
		{"not an object", `["before"]`, photo, "invalid: "},
		{"HEIC", args, heic, "unsupported_image_type: "},
		{"no file", args, filepath.Join(dir, "gone.jpg"), "invalid: "},
	} {
		if _, err := c.AddPhoto(tc.args, tc.path); err == nil || !strings.HasPrefix(err.Error(), tc.code) {
			t.Errorf("%s: %v, want an error starting %q", tc.name, err, tc.code)
		}
	}
	id, err := c.AddPhoto(args, photo)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.PhotoState(id)
	var st map[string]any
	if err != nil || json.Unmarshal([]byte(raw), &st) != nil || st["stage"] != "waiting" || st["size"] != float64(23) {
		t.Fatalf("photo state: %s %v", raw, err)
	}
	raw, err = c.PendingPhotos()
	var list []map[string]any
	if err != nil || json.Unmarshal([]byte(raw), &list) != nil || len(list) != 1 || list[0]["photo_id"] != id {
		t.Fatalf("pending photos: %s %v", raw, err)
	}
	if n, err := c.PendingCount(); err != nil || n != 1 {
		t.Fatalf("pending mutations: %d %v", n, err)
	}
	if _, err := c.PhotoState("11111111-1111-4111-8111-111111111111"); err == nil || !strings.HasPrefix(err.Error(), "not_found: ") {
		t.Fatalf("state of an unknown photo: %v", err)
	}
}
