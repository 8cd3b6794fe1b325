package mobile

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/blob"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

func (e *photoEnv) urls(user *domain.User, photoID string) (PhotoURLs, tusAnswer) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/v1/photos/"+photoID+"/urls", nil)
	req.Header.Set("Authorization", "Bearer "+e.token(user))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out PhotoURLs
	a := tusAnswer{status: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatal(err)
		}
	} else {
		_ = json.Unmarshal(raw, &a.problem)
	}
	return out, a
}

func fetch(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Signed URLs go only to users whose scope holds the photo, fetch the
// bytes without other credentials, and stop working when they expire;
// knowing the object key (or the hash) grants nothing.
func TestPhotoURLs(t *testing.T) {
	for _, kind := range stores() {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			e := newPhotoEnv(t, kind, func(c *UploadsConfig) { c.URLTTL = 2 * time.Second })
			if kind == minioStore {
				// Production: MinIO signs, with its own clock.
				e.cfg.Signer = e.blobs.(*blob.MinIO)
				e.base = e.serve(e.store, e.blobs)
			}
			data := jpegBytes(21, 30<<10)
			ph := e.photo(data)
			if _, a := e.urls(e.tech, ph.ID); a.status != http.StatusConflict {
				t.Errorf("URLs before the upload: %d", a.status)
			}
			loc := e.mustCreate(e.base, ph)
			if a := e.patch(e.base, loc, 0, data, nil); a.status != http.StatusNoContent {
				t.Fatalf("PATCH: %d %+v", a.status, a.problem)
			}
			for _, u := range []*domain.User{e.outsider, e.foreign} {
				if _, a := e.urls(u, ph.ID); a.status != http.StatusNotFound || a.problem.Code != domain.CodeNotFound {
					t.Errorf("URLs for %s outside the scope: %d %q", u.Role, a.status, a.problem.Code)
				}
			}
			out, a := e.urls(e.tech, ph.ID)
			if a.status != http.StatusOK || out.Original == "" || out.Thumb != "" {
				t.Fatalf("URLs: %d %+v", a.status, out)
			}
			if !strings.Contains(out.Original, "sig=") && !strings.Contains(out.Original, "X-Amz-Signature=") {
				t.Errorf("URL is not signed: %s", out.Original)
			}
			status, body := fetch(t, out.Original)
			if status != http.StatusOK || sha(body) != sha(data) {
				t.Fatalf("fetching the signed URL: %d, %d bytes", status, len(body))
			}
			// The key alone, or a signature for another key, is nothing.
			u, _ := url.Parse(out.Original)
			bare := *u
			bare.RawQuery = ""
			if status, _ := fetch(t, bare.String()); status == http.StatusOK {
				t.Errorf("the object key without a signature fetched the photo")
			}
			if kind == dirStore {
				q := u.Query()
				forged := *u
				forged.Path = strings.Replace(u.Path, "/original", "/thumb.jpg", 1)
				forged.RawQuery = q.Encode()
				if status, _ := fetch(t, forged.String()); status != http.StatusNotFound {
					t.Errorf("a signature moved to another key: %d", status)
				}
				e.clock.Add(3 * time.Second)
			} else {
				time.Sleep(3 * time.Second) // MinIO checks expiry with its own clock
			}
			if status, _ := fetch(t, out.Original); status != http.StatusForbidden {
				t.Errorf("an expired URL answered %d, want 403", status)
			}
		})
	}
}

func TestPhotoPairs(t *testing.T) {
	t.Parallel()
	e := newPhotoEnv(t, dirStore)
	mk := func(kind domain.PhotoKind, taken time.Time, appt string) *domain.Photo {
		return sqltest.Photo(t, e.store, sqltest.As(e.tech), func(p *domain.Photo) {
			p.ProjectID, p.Kind, p.TakenAt, p.AppointmentID = e.project.ID, kind, taken, appt
			p.SHA256, p.ByteSize, p.ContentType = strings.Repeat("a", 64), 10, domain.ContentJPEG
		})
	}
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	appt := sqltest.Appointment(t, e.store, sqltest.System(e.org), func(a *domain.Appointment) {
		a.ProjectID, a.AssignedTo = e.project.ID, e.tech.ID
	})
	b1 := mk(domain.PhotoBefore, t0, "")
	b2 := mk(domain.PhotoBefore, t0.Add(time.Minute), appt.ID)
	a1 := mk(domain.PhotoAfter, t0.Add(2*time.Minute), "")
	a2 := mk(domain.PhotoAfter, t0.Add(3*time.Minute), appt.ID)
	d := mk(domain.PhotoDuring, t0.Add(4*time.Minute), "")
	get := func(u *domain.User) (int, PhotoPairs) {
		req, _ := http.NewRequest(http.MethodGet, e.base+"/v1/projects/"+e.project.ID+"/photo-pairs", nil)
		req.Header.Set("Authorization", "Bearer "+e.token(u))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out PhotoPairs
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, out := get(e.tech)
	if status != http.StatusOK || len(out.Pairs) != 2 || len(out.Unpaired) != 1 {
		t.Fatalf("pairs: %d %+v", status, out)
	}
	if out.Pairs[0].Before.ID != b2.ID || out.Pairs[0].After.ID != a2.ID ||
		out.Pairs[1].Before.ID != b1.ID || out.Pairs[1].After.ID != a1.ID || out.Unpaired[0].ID != d.ID {
		t.Errorf("pairs matched wrongly: %+v", out)
	}
	for _, u := range []*domain.User{e.outsider, e.foreign} {
		if status, _ := get(u); status != http.StatusNotFound {
			t.Errorf("pairs for %s outside the scope: %d", u.Role, status)
		}
	}
}
