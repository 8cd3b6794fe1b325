package photoproc

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Housekeeping defaults.
const (
	// DefaultOrphanGrace is how long an object no photo references is kept:
	// long enough for a photo deleted by mistake to be restored, and for an
	// upload finishing right now to record its photo.
	DefaultOrphanGrace = 7 * 24 * time.Hour
	// DefaultKeepComplete is how long a finished upload's row stays, so a
	// client that lost the last answer can still HEAD it.
	DefaultKeepComplete = 24 * time.Hour
	expiredBatch        = 200
)

// Orgs lists the organizations housekeeping walks.
type Orgs interface {
	OrganizationIDs(ctx context.Context) ([]string, error)
}

// Housekeeper removes what uploads leave behind: expired uploads (their
// parts and rows), parts no upload row names (a server that died between
// storing a part and recording it), and photo objects no live photo
// references, after a grace period. Every step is idempotent, so each
// worker replica may run one.
type Housekeeper struct {
	Uploads domain.UploadStore
	Photos  domain.PhotoStore
	Orgs    Orgs
	Blobs   domain.BlobStore
	Writer  domain.Writer
	Clock   domain.Clock
	Log     *slog.Logger
	// Interval between passes (default one hour).
	Interval time.Duration
	// Grace before an unreferenced object or an unrecorded part goes
	// (default DefaultOrphanGrace).
	Grace time.Duration
	// KeepComplete is how long finished uploads stay (default DefaultKeepComplete).
	KeepComplete time.Duration
}

// Swept counts what one pass removed.
type Swept struct {
	Uploads int // upload rows (with their parts)
	Parts   int // parts of no upload
	Objects int // photo objects of no live photo
}

// Run sweeps at start and then every Interval until ctx ends.
func (h *Housekeeper) Run(ctx context.Context) {
	interval := h.Interval
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if s, err := h.SweepOnce(ctx); err != nil {
			h.Log.Warn("photo housekeeping failed", slog.String("error", err.Error()))
		} else if s != (Swept{}) {
			h.Log.Info("photo housekeeping", slog.Int("uploads", s.Uploads), slog.Int("parts", s.Parts), slog.Int("objects", s.Objects))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SweepOnce runs one pass. It goes on past one item's failure and returns
// the first error.
func (h *Housekeeper) SweepOnce(ctx context.Context) (Swept, error) {
	var s Swept
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	now := h.Clock.Now()
	grace := h.Grace
	if grace <= 0 {
		grace = DefaultOrphanGrace
	}
	keepComplete := h.KeepComplete
	if keepComplete <= 0 {
		keepComplete = DefaultKeepComplete
	}
	expired, err := h.Uploads.ExpiredUploads(ctx, now, keepComplete, expiredBatch)
	keep(err)
	for _, up := range expired {
		if err := h.removeUpload(ctx, up); err != nil {
			keep(err)
			continue
		}
		s.Uploads++
	}
	orgs, err := h.Orgs.OrganizationIDs(ctx)
	if err != nil {
		keep(err)
		return s, firstErr
	}
	cutoff := now.Add(-grace)
	for _, org := range orgs {
		n, err := h.sweepParts(ctx, org, cutoff)
		s.Parts += n
		keep(err)
		n, err = h.sweepObjects(ctx, org, cutoff)
		s.Objects += n
		keep(err)
	}
	return s, firstErr
}

// removeUpload drops an upload's multipart upload and parts, then its row; a photo left
// half-uploaded goes back to pending, so the device uploads it again.
func (h *Housekeeper) removeUpload(ctx context.Context, up *domain.Upload) error {
	if mp, ok := h.Blobs.(domain.MultipartStore); ok && up.MultipartID != "" && !up.Complete {
		if err := mp.AbortMultipart(ctx, domain.OriginalKey(up.OrgID, up.SHA256), up.MultipartID); err != nil {
			return err
		}
	}
	if err := deletePrefix(ctx, h.Blobs, domain.UploadPrefix(up.OrgID, up.ID), time.Time{}); err != nil {
		return err
	}
	if err := h.Uploads.DeleteUpload(ctx, up.OrgID, up.ID); err != nil {
		return err
	}
	if up.Complete {
		return nil
	}
	sys := domain.Principal{OrgID: up.OrgID, Role: domain.RoleAdmin}
	return h.Writer.Write(ctx, sys, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindPhoto, up.PhotoID)
		if domain.IsCode(err, domain.CodeNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ph := rec.(*domain.Photo)
		if ph.UploadState != domain.UploadPartial || ph.DeletedAt != nil {
			return nil
		}
		ph.UploadState = domain.UploadPending
		return tx.Update(ph)
	})
}

// sweepParts removes parts older than cutoff whose upload row is gone.
func (h *Housekeeper) sweepParts(ctx context.Context, org string, cutoff time.Time) (int, error) {
	prefix := "uploads/" + org + "/"
	byUpload := map[string][]domain.BlobInfo{}
	if err := h.Blobs.List(ctx, prefix, func(info domain.BlobInfo) error {
		id, _, _ := strings.Cut(strings.TrimPrefix(info.Key, prefix), "/")
		byUpload[id] = append(byUpload[id], info)
		return nil
	}); err != nil {
		return 0, err
	}
	n := 0
	for id, parts := range byUpload {
		if _, err := h.Uploads.FindUpload(ctx, org, id); !domain.IsCode(err, domain.CodeNotFound) {
			if err != nil {
				return n, err
			}
			continue // its row is there: expiry removes it
		}
		for _, p := range parts {
			if p.ModifiedAt.Before(cutoff) {
				if err := h.Blobs.Delete(ctx, p.Key); err != nil {
					return n, err
				}
				n++
			}
		}
	}
	return n, nil
}

// sweepObjects removes the objects (original and derivatives) of content
// hashes no live photo has, once all of them are older than cutoff.
func (h *Housekeeper) sweepObjects(ctx context.Context, org string, cutoff time.Time) (int, error) {
	prefix := domain.PhotoObjectsPrefix(org)
	byHash := map[string][]domain.BlobInfo{}
	if err := h.Blobs.List(ctx, prefix, func(info domain.BlobInfo) error {
		hash, _, _ := strings.Cut(strings.TrimPrefix(info.Key, prefix), "/")
		byHash[hash] = append(byHash[hash], info)
		return nil
	}); err != nil {
		return 0, err
	}
	n := 0
	for hash, objs := range byHash {
		young := false
		for _, o := range objs {
			young = young || !o.ModifiedAt.Before(cutoff)
		}
		if young {
			continue
		}
		inUse, err := h.Photos.PhotoHashInUse(ctx, org, hash)
		if err != nil {
			return n, err
		}
		if inUse {
			continue
		}
		for _, o := range objs {
			if err := h.Blobs.Delete(ctx, o.Key); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// deletePrefix deletes the objects under prefix (modified before before,
// if it is set).
func deletePrefix(ctx context.Context, blobs domain.BlobStore, prefix string, before time.Time) error {
	var keys []string
	if err := blobs.List(ctx, prefix, func(info domain.BlobInfo) error {
		if before.IsZero() || info.ModifiedAt.Before(before) {
			keys = append(keys, info.Key)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := blobs.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
