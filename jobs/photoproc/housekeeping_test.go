package photoproc_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs/photoproc"
)

func TestHousekeeping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	kept := e.uploaded(t, []byte("kept photo bytes"))
	gone := e.uploaded(t, []byte("deleted photo bytes"))
	put := func(key string) {
		if _, err := e.blobs.Put(ctx, key, bytes.NewReader([]byte("x")), 1, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	put(domain.DerivativeKey(e.org.ID, gone.SHA256, "thumb"))
	if err := e.store.Write(ctx, domain.Principal{OrgID: e.org.ID, Role: domain.RoleAdmin}, func(tx domain.Tx) error {
		return tx.Delete(domain.KindPhoto, gone.ID)
	}); err != nil {
		t.Fatal(err)
	}
	// A photo half uploaded and abandoned, and a part no upload records.
	half := e.uploaded(t, []byte("half uploaded"))
	if err := e.store.Write(ctx, domain.Principal{OrgID: e.org.ID, Role: domain.RoleAdmin}, func(tx domain.Tx) error {
		rec, _ := tx.Find(domain.KindPhoto, half.ID)
		ph := rec.(*domain.Photo)
		ph.UploadState, ph.OriginalKey = domain.UploadPartial, ""
		return tx.Update(ph)
	}); err != nil {
		t.Fatal(err)
	}
	_ = e.blobs.Delete(ctx, domain.OriginalKey(e.org.ID, half.SHA256))
	up := &domain.Upload{ID: uuid.NewString(), OrgID: e.org.ID, PhotoID: half.ID, UserID: uuid.NewString(),
		Length: 100, SHA256: half.SHA256, ExpiresAt: time.Now().Add(time.Hour)}
	if err := e.store.CreateUpload(ctx, up); err != nil {
		t.Fatal(err)
	}
	// Its multipart upload holds a part too.
	mpKey := domain.OriginalKey(e.org.ID, half.SHA256)
	var err error
	if up.MultipartID, err = e.blobs.StartMultipart(ctx, mpKey, domain.ContentJPEG); err != nil {
		t.Fatal(err)
	}
	if _, err := e.blobs.PutPart(ctx, mpKey, up.MultipartID, 1, bytes.NewReader([]byte("part")), 4); err != nil {
		t.Fatal(err)
	}
	if err := e.store.AdvanceUpload(ctx, up, 0); err != nil {
		t.Fatal(err)
	}
	put(domain.UploadPrefix(e.org.ID, up.ID) + "000000000000000-aa")
	put(domain.UploadPrefix(e.org.ID, uuid.NewString()) + "000000000000000-bb")

	clock := &fixedClock{time.Now()}
	h := &photoproc.Housekeeper{Uploads: e.store, Photos: e.store, Orgs: e.store, Blobs: e.blobs, Writer: e.store,
		Clock: clock, Log: slog.New(slog.DiscardHandler)}
	s, err := h.SweepOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s != (photoproc.Swept{}) {
		t.Fatalf("a sweep before anything expired removed %+v", s)
	}
	clock.t = time.Now().Add(photoproc.DefaultOrphanGrace + time.Hour)
	if s, err = h.SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if s != (photoproc.Swept{Uploads: 1, Parts: 1, Objects: 2}) {
		t.Errorf("swept %+v, want 1 upload, 1 part, 2 objects", s)
	}
	left := listAll(t, e.blobs, "")
	if len(left) != 1 || left[0] != kept.OriginalKey {
		t.Errorf("objects left: %v, want only %s", left, kept.OriginalKey)
	}
	if _, err := e.store.FindUpload(ctx, e.org.ID, up.ID); !domain.IsCode(err, domain.CodeNotFound) {
		t.Errorf("expired upload row: %v", err)
	}
	if _, err := e.blobs.CompleteMultipart(ctx, mpKey, up.MultipartID, []domain.MultipartPart{{Number: 1}}); !domain.IsCode(err, domain.CodeInvalid) {
		t.Errorf("the expired upload's multipart upload is still there: %v", err)
	}
	if got := e.reload(t, half.ID); got.UploadState != domain.UploadPending {
		t.Errorf("abandoned photo upload_state %q, want pending", got.UploadState)
	}
}

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }
