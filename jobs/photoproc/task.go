package photoproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Deps are what the photo task needs; cmd/fieldsync fills them.
type Deps struct {
	Records domain.RecordStore
	Blobs   domain.BlobStore
	Writer  domain.Writer
	Log     *slog.Logger
	Sizes   Sizes
}

// Handler processes domain.PhotoProcessTask tasks.
type Handler struct{ d Deps }

// Register adds the photo task's handler to the worker's mux.
func Register(mux *asynq.ServeMux, d Deps) *Handler {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	h := &Handler{d: d}
	mux.Handle(domain.PhotoProcessTask, h)
	return h
}

// ProcessTask implements asynq.Handler. A failure the bytes cause marks the
// photo failed (the reason syncs) and completes the task; any other failure
// (the store or database unreachable) returns an error, so asynq retries
// with backoff, and the last attempt marks the photo failed too.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p domain.PhotoProcessPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.OrgID == "" || p.PhotoID == "" {
		return fmt.Errorf("photo task payload: %v: %w", err, asynq.SkipRetry)
	}
	err := h.Process(ctx, p)
	var perm *PermanentError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &perm):
		h.d.Log.InfoContext(ctx, "photo refused", append(logAttrs(p), slog.String("reason", perm.Reason))...)
		return h.fail(ctx, p, perm.Reason)
	case lastAttempt(ctx):
		if ferr := h.fail(ctx, p, "processing_unavailable"); ferr != nil {
			return ferr
		}
		return err
	}
	return err
}

func lastAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	max, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= max
}

// Process makes and stores the photo's derivatives and records them. It is
// idempotent: a photo already processed, deleted, or re-pointed at other
// bytes since the task was enqueued is left alone.
func (h *Handler) Process(ctx context.Context, p domain.PhotoProcessPayload) error {
	ph, err := h.photo(ctx, p)
	if err != nil || ph == nil {
		return err
	}
	if ph.ProcessingState == domain.ProcessingReady && ph.ThumbKey != "" {
		return nil
	}
	if err := h.update(ctx, p, func(ph *domain.Photo) bool {
		if ph.ProcessingState == domain.ProcessingRunning {
			return false
		}
		ph.ProcessingState = domain.ProcessingRunning
		return true
	}); err != nil {
		return err
	}
	data, err := readOriginal(ctx, h.d.Blobs, ph.OriginalKey, domain.MaxUploadBytes)
	if err != nil {
		return err
	}
	res, err := Process(data, h.d.Sizes)
	if err != nil {
		return err
	}
	keys := map[string]string{}
	for _, d := range res.Derivatives {
		key := domain.DerivativeKey(p.OrgID, ph.SHA256, d.Variant)
		if _, err := h.d.Blobs.Put(ctx, key, bytes.NewReader(d.JPEG), int64(len(d.JPEG)), domain.ContentJPEG); err != nil {
			return err
		}
		keys[d.Variant] = key
	}
	return h.update(ctx, p, func(ph *domain.Photo) bool {
		ph.Width, ph.Height = res.Width, res.Height
		ph.ThumbKey, ph.ScreenKey = keys["thumb"], keys["screen"]
		ph.ProcessingState = domain.ProcessingReady
		ph.FailureReason = ""
		return true
	})
}

// photo loads the task's photo, or nil if the task no longer applies.
func (h *Handler) photo(ctx context.Context, p domain.PhotoProcessPayload) (*domain.Photo, error) {
	rec, err := h.d.Records.FindRecord(ctx, p.OrgID, domain.KindPhoto, p.PhotoID)
	if domain.IsCode(err, domain.CodeNotFound) {
		return nil, nil // deleted since: nothing to do
	}
	if err != nil {
		return nil, err
	}
	ph, ok := rec.(*domain.Photo)
	if !ok || ph.SHA256 != p.SHA256 || ph.OriginalKey == "" {
		return nil, nil
	}
	return ph, nil
}

// update changes the photo through the one write path as the system, if
// it is still the photo the task was for and change says so.
func (h *Handler) update(ctx context.Context, p domain.PhotoProcessPayload, change func(*domain.Photo) bool) error {
	sys := domain.Principal{OrgID: p.OrgID, Role: domain.RoleAdmin}
	return h.d.Writer.Write(ctx, sys, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindPhoto, p.PhotoID)
		if domain.IsCode(err, domain.CodeNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ph := rec.(*domain.Photo)
		if ph.DeletedAt != nil || ph.SHA256 != p.SHA256 || !change(ph) {
			return nil
		}
		return tx.Update(ph)
	})
}

func (h *Handler) fail(ctx context.Context, p domain.PhotoProcessPayload, reason string) error {
	return h.update(ctx, p, func(ph *domain.Photo) bool {
		ph.ProcessingState = domain.ProcessingFailed
		ph.FailureReason = reason
		return true
	})
}
