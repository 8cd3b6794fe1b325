package mobile

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
)

// PhotoURLs are short-lived download URLs of a photo's bytes; a variant not
// made yet (processing pending or failed) is absent.
type PhotoURLs struct {
	PhotoID   string    `json:"photo_id"`
	Original  string    `json:"original,omitempty"`
	Thumb     string    `json:"thumb,omitempty"`
	Screen    string    `json:"screen,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// photoURLs issues signed URLs only to a caller whose scope holds the photo;
// the object keys are never shown, and knowing one grants nothing.
func (u *uploads) photoURLs(c *fiber.Ctx) error {
	p, err := mustPrincipal(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	ph, err := u.visiblePhoto(ctx, p, c.Params("id"))
	if err != nil {
		return err
	}
	if ph.OriginalKey == "" {
		return domain.Errorf(domain.CodeConflict, "the photo's bytes are not uploaded yet (upload_state %s)", ph.UploadState)
	}
	now := u.Clock.Now()
	out := PhotoURLs{PhotoID: ph.ID, ExpiresAt: now.Add(u.URLTTL).UTC().Truncate(time.Second)}
	for _, v := range []struct {
		key string
		dst *string
	}{{ph.OriginalKey, &out.Original}, {ph.ThumbKey, &out.Thumb}, {ph.ScreenKey, &out.Screen}} {
		if v.key == "" {
			continue
		}
		if *v.dst, err = u.sign(ctx, c, v.key, now); err != nil {
			return err
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}

func (u *uploads) sign(ctx context.Context, c *fiber.Ctx, key string, now time.Time) (string, error) {
	if u.Signer != nil {
		return u.Signer.PresignGet(ctx, key, u.URLTTL)
	}
	exp := strconv.FormatInt(now.Add(u.URLTTL).Unix(), 10)
	q := url.Values{"exp": {exp}, "sig": {u.signature(key, exp)}}
	return c.BaseURL() + "/v1/blobs/" + key + "?" + q.Encode(), nil
}

// signature is an HMAC of the key and the expiry under the server's URL key.
func (u *uploads) signature(key, exp string) string {
	m := hmac.New(sha256.New, u.URLKey)
	m.Write([]byte(key))
	m.Write([]byte{0})
	m.Write([]byte(exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// serveSigned serves an object named by a URL that photoURLs signed. A bad
// or missing signature answers not_found (as if there were no such object);
// an expired one answers forbidden, so the app knows to ask for a new URL.
func (u *uploads) serveSigned(c *fiber.Ctx) error {
	if len(u.URLKey) == 0 {
		return domain.Errorf(domain.CodeRouteNotFound, "no such endpoint")
	}
	key, err := url.PathUnescape(c.Params("*"))
	if err != nil {
		return domain.ErrNotFound("object")
	}
	exp, sig := c.Query("exp"), c.Query("sig")
	if !hmac.Equal([]byte(sig), []byte(u.signature(key, exp))) {
		return domain.ErrNotFound("object")
	}
	at, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !u.Clock.Now().Before(time.Unix(at, 0)) {
		return domain.Errorf(domain.CodeForbidden, "this link has expired; ask for a new one")
	}
	ctx := c.UserContext()
	rc, info, err := u.Blobs.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	c.Set(fiber.HeaderContentType, info.ContentType)
	c.Set(fiber.HeaderCacheControl, "private, max-age="+strconv.FormatInt(at-u.Clock.Now().Unix(), 10))
	c.Set("X-Content-Type-Options", "nosniff")
	// Read it here: the reader is closed when the handler returns, before
	// fasthttp would stream it.
	data, err := io.ReadAll(io.LimitReader(rc, info.Size+1))
	if err != nil {
		return err
	}
	return c.Send(data)
}

// PhotoPair is a before photo and the after photo matched to it.
type PhotoPair struct {
	Before *domain.Photo `json:"before"`
	After  *domain.Photo `json:"after"`
}

// PhotoPairs is a project's before/after pairs and the photos left over.
type PhotoPairs struct {
	ProjectID string          `json:"project_id"`
	Pairs     []PhotoPair     `json:"pairs"`
	Unpaired  []*domain.Photo `json:"unpaired"`
}

// photoPairs matches a project's before and after photos: those of one
// appointment pair first, in the order they were taken, then the rest in
// order. During photos are not paired.
func (u *uploads) photoPairs(c *fiber.Ctx) error {
	p, err := mustPrincipal(c)
	if err != nil {
		return err
	}
	id := c.Params("id")
	if _, err := uuid.Parse(id); err != nil {
		return domain.ErrNotFound("project")
	}
	ctx := c.UserContext()
	anchor, err := u.records.ResolveAnchor(ctx, p.OrgID, domain.KindProject, id)
	if err != nil {
		return err
	}
	if err := domain.Authorize(p, domain.ActionRead, anchor); err != nil {
		return err
	}
	photos, err := u.Photos.ProjectPhotos(ctx, p.OrgID, id)
	if err != nil {
		return err
	}
	out := PairPhotos(photos)
	out.ProjectID = id
	return c.JSON(out)
}

// PairPhotos pairs before with after photos (see photoPairs). photos must
// be in the order they were taken.
func PairPhotos(photos []*domain.Photo) PhotoPairs {
	out := PhotoPairs{Pairs: []PhotoPair{}, Unpaired: []*domain.Photo{}}
	used := make(map[string]bool)
	pair := func(sameAppointment bool) {
		for _, b := range photos {
			if b.Kind != domain.PhotoBefore || used[b.ID] {
				continue
			}
			for _, a := range photos {
				if a.Kind != domain.PhotoAfter || used[a.ID] {
					continue
				}
				if sameAppointment && (a.AppointmentID == "" || a.AppointmentID != b.AppointmentID) {
					continue
				}
				used[b.ID], used[a.ID] = true, true
				out.Pairs = append(out.Pairs, PhotoPair{Before: b, After: a})
				break
			}
		}
	}
	pair(true)
	pair(false)
	for _, ph := range photos {
		if !used[ph.ID] {
			out.Unpaired = append(out.Unpaired, ph)
		}
	}
	return out
}
