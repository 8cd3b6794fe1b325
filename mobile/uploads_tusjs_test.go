package mobile

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// requireTusJS finds node and installs tus-js-client (pinned by
// testdata/tusjs/package-lock.json) on first use. Without node or the
// package registry the test skips, or fails under CI=true.
func requireTusJS(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found: install Node.js 20 (apt-get install -y nodejs npm) to run the tus-js-client test")
	}
	dir := filepath.Join("testdata", "tusjs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tus-js-client", "package.json")); err != nil {
		cmd := exec.CommandContext(t.Context(), "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			missing("npm ci in %s failed (is the npm registry reachable?): %v\n%s", dir, err, out)
		}
	}
	return node
}

// An independent tus client (tus-js-client, as web and React Native apps
// use it) uploads a photo in chunks, loses its connection, and resumes the
// same upload on a second server: the bytes arrive exactly, once.
func TestTusJSClient(t *testing.T) {
	node := requireTusJS(t)
	for _, kind := range stores() {
		t.Run(kind.String(), func(t *testing.T) {
			e := newPhotoEnv(t, kind)
			second := e.serve(sqltest.Reopen(t, e.store), newBlobsLike(t, kind, e.blobs))
			data := jpegBytes(31, 600<<10+123)
			file := filepath.Join(t.TempDir(), "roof.jpg")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			ph := e.photo(data)
			cmd := exec.CommandContext(t.Context(), node, "upload.mjs")
			cmd.Dir = filepath.Join("testdata", "tusjs")
			cmd.Env = append(os.Environ(), "ENDPOINT="+e.base, "ENDPOINT2="+second, "TOKEN="+e.token(e.tech),
				"FILE="+file, "PHOTO_ID="+ph.ID)
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("tus-js-client: %v\n%s%s", err, out, stderr)
			}
			var res struct {
				URL                 string `json:"url"`
				AcceptedBeforeAbort int64  `json:"acceptedBeforeAbort"`
				Size                int64  `json:"size"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("tus-js-client output %q: %v", out, err)
			}
			if res.AcceptedBeforeAbort <= 0 || res.AcceptedBeforeAbort >= res.Size {
				t.Errorf("the first server took %d of %d bytes; the test needs a resume part way", res.AcceptedBeforeAbort, res.Size)
			}
			e.requireStored(ph, data)
		})
	}
}
