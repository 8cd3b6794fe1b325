package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/client/uploadq"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// PhotoArgs are the app's arguments of photo.create (docs/sync-protocol.md);
// AddPhoto adds the file's sha256, byte_size and content_type.
type PhotoArgs struct {
	// ID is the photo's id (empty: a new one).
	ID            string           `json:"id"`
	ProjectID     string           `json:"project_id"`
	AppointmentID string           `json:"appointment_id,omitempty"`
	Kind          domain.PhotoKind `json:"kind"`
	Caption       string           `json:"caption,omitempty"`
	// TakenAt is when the photo was taken (zero: now).
	TakenAt   time.Time `json:"taken_at"`
	Latitude  *float64  `json:"latitude,omitempty"`
	Longitude *float64  `json:"longitude,omitempty"`
	// Width and Height need schema 2 (0: not sent).
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
}

// photoCreate is photo.create's argument object.
type photoCreate struct {
	PhotoArgs
	SHA256      string `json:"sha256"`
	ByteSize    int64  `json:"byte_size"`
	ContentType string `json:"content_type"`
}

const photoCreateName = "photo.create"

// AddPhoto records a photo the user took: it reads the file at path
// (sha256, size, and the type from its bytes), records photo.create in the
// outbox (the photo is shown at once) and queues the file's upload, both
// in one local transaction, so a restart finds both or neither. The upload
// waits until the server has processed the photo.create (a push
// acknowledged it), then Run sends it; the file stays where it is (and is
// removed after the server confirmed every byte, with
// Config.DeleteAfterUpload). A file that cannot be a photo is refused with
// nothing recorded: invalid (unreadable, empty, not a regular file),
// payload_too_large (over 50 MiB), unsupported_image_type (not JPEG, PNG or
// WebP: HEIC included), and an id already added: conflict.
func (c *Client) AddPhoto(ctx context.Context, args PhotoArgs, path string) (photoID string, mutationID int64, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", 0, pathError(err.Error())
	}
	sum, size, contentType, err := inspectPhoto(abs)
	if err != nil {
		return "", 0, err
	}
	if args.ID == "" {
		args.ID = NewID()
	}
	if args.TakenAt.IsZero() {
		args.TakenAt = time.Now().UTC()
	}
	raw, err := json.Marshal(photoCreate{PhotoArgs: args, SHA256: sum, ByteSize: size, ContentType: contentType})
	if err != nil {
		return "", 0, fmt.Errorf("client: args of %s: %w", photoCreateName, err)
	}
	err = c.st.tx(ctx, func(tx txq) error {
		if mutationID, err = record(ctx, tx, photoCreateName, raw); err != nil {
			return err
		}
		added, err := c.queue.Insert(ctx, tx, uploadq.Item{PhotoID: args.ID, Path: abs, SHA256: sum, Size: size, WaitFor: mutationID})
		if err == nil && !added {
			err = domain.Errorf(domain.CodeConflict, "photo %s was added before", args.ID)
		}
		return err
	})
	if err != nil {
		return "", 0, fmt.Errorf("client: add photo: %w", err)
	}
	c.changed()
	c.Poke()
	return args.ID, mutationID, nil
}

func pathError(msg string) error {
	return domain.Invalid(domain.FieldError{Field: "path", Message: msg})
}

// inspectPhoto reads the file once: its sha256, size and sniffed type.
func inspectPhoto(path string) (sum string, size int64, contentType string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, "", pathError("the photo file cannot be opened: " + err.Error())
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return "", 0, "", pathError("the photo file cannot be read: " + err.Error())
	case !fi.Mode().IsRegular():
		return "", 0, "", pathError("the photo path is not a regular file")
	case fi.Size() == 0:
		return "", 0, "", pathError("the photo file is empty")
	case fi.Size() > domain.MaxUploadBytes:
		return "", 0, "", domain.Errorf(domain.CodePayloadTooLarge, "the photo is %d bytes, over the %d byte limit", fi.Size(), domain.MaxUploadBytes)
	}
	head := make([]byte, domain.SniffLen)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", 0, "", pathError("the photo file cannot be read: " + err.Error())
	}
	if contentType, err = domain.SniffImage(head[:n]); err != nil {
		return "", 0, "", err
	}
	h := sha256.New()
	h.Write(head[:n])
	rest, err := io.Copy(h, io.LimitReader(f, domain.MaxUploadBytes))
	if err != nil {
		return "", 0, "", pathError("the photo file cannot be read: " + err.Error())
	}
	return hex.EncodeToString(h.Sum(nil)), int64(n) + rest, contentType, nil
}

// PhotoStage is one word for where a photo is on its way to the office.
type PhotoStage string

// The stages, in the order a photo passes them.
const (
	// PhotoWaiting: its photo.create has not reached the server yet.
	PhotoWaiting PhotoStage = "waiting"
	// PhotoQueued: waiting for the next upload attempt (NextAttempt).
	PhotoQueued PhotoStage = "queued"
	// PhotoUploading: an upload attempt is running (Offset of Size).
	PhotoUploading PhotoStage = "uploading"
	// PhotoPending: the server has no bytes yet, and this device does not
	// hold them (another device took the photo).
	PhotoPending PhotoStage = "pending"
	// PhotoUploaded: the server holds every byte; processing comes next.
	PhotoUploaded   PhotoStage = "uploaded"
	PhotoProcessing PhotoStage = "processing"
	PhotoReady      PhotoStage = "ready"
	// PhotoFailed: refused for good; Reason says why.
	PhotoFailed PhotoStage = "failed"
)

// PhotoState is one photo's way to the office: this device's upload queue
// merged with the server's record as last pulled.
type PhotoState struct {
	PhotoID string     `json:"photo_id"`
	Stage   PhotoStage `json:"stage"`
	// Reason is a failed photo's machine-readable reason: the server's
	// failure_reason or error code (unsupported_image_type,
	// image_too_large, image_corrupt, content_hash_mismatch, …), the
	// rejection code of its photo.create, not_found for a photo deleted
	// or gone from the user's scope before its upload, or
	// local_file / local_file_changed for a file the device lost.
	Reason string `json:"reason,omitempty"`
	// The upload queue's view (empty when the photo is not in it).
	Upload      uploadq.State `json:"upload,omitempty"`
	Offset      int64         `json:"offset"`
	Size        int64         `json:"size"`
	Attempts    int           `json:"attempts"`
	NextAttempt time.Time     `json:"next_attempt,omitzero"`
	LastError   string        `json:"last_error,omitempty"`
	Path        string        `json:"path,omitempty"`
	// The server's record as last pulled (empty until a pull carried it).
	UploadState     domain.UploadState     `json:"upload_state,omitempty"`
	ProcessingState domain.ProcessingState `json:"processing_state,omitempty"`
	FailureReason   string                 `json:"failure_reason,omitempty"`
}

// PhotoState returns one photo's state (not_found if neither the upload
// queue nor the server copies know it).
func (c *Client) PhotoState(ctx context.Context, photoID string) (PhotoState, error) {
	it, err := c.queue.Item(ctx, photoID)
	queued := err == nil
	if err != nil && !errors.Is(err, uploadq.ErrNotQueued) {
		return PhotoState{}, err
	}
	rec, known, err := getRecord(ctx, c.st.db, "records", domain.KindPhoto, photoID)
	if err != nil {
		return PhotoState{}, err
	}
	if !queued && !known {
		return PhotoState{}, domain.ErrNotFound("photo")
	}
	var item *uploadq.Item
	if queued {
		item = &it
	}
	var data json.RawMessage
	if known {
		data = rec.Data
	}
	return mergePhoto(photoID, item, data), nil
}

// PendingPhotos returns the state of every photo added on this device that
// is not ready yet (the uploads a user may need to look at), oldest first.
func (c *Client) PendingPhotos(ctx context.Context) ([]PhotoState, error) {
	items, err := c.queue.Items(ctx)
	if err != nil {
		return nil, err
	}
	var out []PhotoState
	for i := range items {
		rec, known, err := getRecord(ctx, c.st.db, "records", domain.KindPhoto, items[i].PhotoID)
		if err != nil {
			return nil, err
		}
		var data json.RawMessage
		if known {
			data = rec.Data
		}
		if s := mergePhoto(items[i].PhotoID, &items[i], data); s.Stage != PhotoReady {
			out = append(out, s)
		}
	}
	return out, nil
}

// mergePhoto makes one stage of the queue's item (nil: not queued here)
// and the server copy's data (nil: not pulled). The server's word on
// processing comes first; the device knows best how far its own upload
// got.
func mergePhoto(id string, it *uploadq.Item, data json.RawMessage) PhotoState {
	s := PhotoState{PhotoID: id}
	if data != nil {
		var ph struct {
			UploadState     domain.UploadState     `json:"upload_state"`
			ProcessingState domain.ProcessingState `json:"processing_state"`
			FailureReason   string                 `json:"failure_reason"`
		}
		_ = json.Unmarshal(data, &ph)
		s.UploadState, s.ProcessingState, s.FailureReason = ph.UploadState, ph.ProcessingState, ph.FailureReason
	}
	if it != nil {
		s.Upload, s.Offset, s.Size, s.Attempts = it.State, it.Offset, it.Size, it.Attempts
		s.NextAttempt, s.LastError, s.Path = it.NextAttempt, it.LastError, it.Path
	}
	switch {
	case s.ProcessingState == domain.ProcessingReady:
		s.Stage = PhotoReady
	case s.ProcessingState == domain.ProcessingFailed:
		s.Stage, s.Reason = PhotoFailed, s.FailureReason
	case it != nil && it.State == uploadq.StateFailed:
		s.Stage, s.Reason = PhotoFailed, it.Code
	case s.ProcessingState == domain.ProcessingRunning:
		s.Stage = PhotoProcessing
	case s.UploadState == domain.UploadComplete || (it != nil && it.State == uploadq.StateUploaded):
		s.Stage = PhotoUploaded
	case it != nil && it.State == uploadq.StateUploading:
		s.Stage = PhotoUploading
	case it != nil && it.State == uploadq.StateQueued:
		s.Stage = PhotoQueued
	case it != nil:
		s.Stage = PhotoWaiting
	default:
		s.Stage = PhotoPending
	}
	return s
}

// Upload attempts every photo upload that is due now, one after another,
// and returns how many the server confirmed: what Run does in the
// background. Failures are recorded on the photos (PhotoState).
func (c *Client) Upload(ctx context.Context) (int, error) {
	return c.queue.RunOnce(ctx)
}

// releaseUploads starts the uploads of photos whose photo.create the server
// has processed (the acknowledged mutations), and wakes the queue.
func (c *Client) releaseUploads(ctx context.Context) error {
	acked, err := getInt(ctx, c.st.db, metaAcked)
	if err != nil {
		return err
	}
	n, err := c.queue.Release(ctx, nil, acked)
	if err != nil {
		return err
	}
	if n > 0 {
		c.queue.Wake()
		c.changed()
	}
	return nil
}

// stopUploads fails, in a pull page's transaction, the uploads the page
// made impossible: a photo.create the server rejected (the photo never
// existed there) and a photo deleted or gone from the user's scope. The
// files stay: the server never confirmed them.
func (c *Client) stopUploads(ctx context.Context, tx txq, outcomes []fsync.Outcome, changes []fsync.Change, ms []fsync.Mutation) error {
	for _, o := range outcomes {
		if o.Kind != domain.OutcomeRejected || o.Name != photoCreateName {
			continue
		}
		for _, m := range ms {
			if m.ID == o.MutationID {
				_, id := Target(m)
				if err := c.queue.Fail(ctx, tx, id, o.Code, "photo.create rejected: "+o.Message); err != nil {
					return err
				}
			}
		}
	}
	for _, ch := range changes {
		if ch.Op == fsync.OpDelete && ch.Kind == domain.KindPhoto {
			if err := c.queue.Fail(ctx, tx, ch.ID, string(domain.CodeNotFound), "the photo was deleted or left the user's scope before its upload"); err != nil {
				return err
			}
		}
	}
	return nil
}
