package mobile

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
)

// The tus 1.0 protocol's constants.
const (
	tusVersion      = "1.0.0"
	tusExtensions   = "creation,creation-with-upload,checksum,termination,expiration"
	tusContentType  = "application/offset+octet-stream"
	tusChecksumAlgo = "sha256"
)

// Defaults of UploadsConfig.
const (
	DefaultUploadPartSize = 8 << 20
	DefaultPhotoURLTTL    = 10 * time.Minute
)

// UploadsConfig turns on the photo routes: resumable uploads (tus 1.0) under
// /v1/uploads, signed download URLs and before/after pairs.
type UploadsConfig struct {
	Uploads domain.UploadStore
	Photos  domain.PhotoStore
	Blobs   domain.BlobStore
	Parts   domain.PartStore
	// Multipart, if set, takes the bytes as a multipart upload of the final
	// object (no second copy at the end); otherwise the parts are separate
	// objects joined by Parts.Compose.
	Multipart domain.MultipartStore
	Writer    domain.Writer
	// Signer issues download URLs straight from the store (MinIO). Without
	// one the server signs its own /v1/blobs/... URLs with URLKey and
	// serves the bytes itself (the directory store of `fieldsync dev`).
	Signer domain.BlobSigner
	URLKey []byte
	Clock  domain.Clock
	// TTL is how long an upload without progress is kept (default
	// domain.DefaultUploadTTL).
	TTL time.Duration
	// OrgQuota bounds the bytes of an organization's unfinished uploads
	// (default domain.DefaultOrgUploadQuota).
	OrgQuota int64
	// MaxSize bounds one upload (default domain.MaxUploadBytes).
	MaxSize int64
	// PartSize is the most bytes held in memory per request: a PATCH body is
	// stored as parts of this size (default DefaultUploadPartSize, at least
	// 5 MiB so MinIO can join the parts itself).
	PartSize int
	// URLTTL is the lifetime of signed download URLs (default DefaultPhotoURLTTL).
	URLTTL time.Duration
	// ReadIdle is how long a PATCH may wait for the next bytes of its body
	// before the server gives up on it (default 30 s).
	ReadIdle time.Duration
}

type uploads struct {
	UploadsConfig
	log     *slog.Logger
	records domain.RecordStore
	buffers chan []byte
}

func (s *server) mountUploads(v1 fiber.Router, cfg UploadsConfig) {
	if cfg.Clock == nil {
		cfg.Clock = domain.ClockFunc(time.Now)
	}
	if cfg.TTL <= 0 {
		cfg.TTL = domain.DefaultUploadTTL
	}
	if cfg.OrgQuota <= 0 {
		cfg.OrgQuota = domain.DefaultOrgUploadQuota
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = domain.MaxUploadBytes
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = DefaultUploadPartSize
	}
	if cfg.URLTTL <= 0 {
		cfg.URLTTL = DefaultPhotoURLTTL
	}
	if cfg.ReadIdle <= 0 {
		cfg.ReadIdle = 30 * time.Second
	}
	u := &uploads{UploadsConfig: cfg, log: s.log, records: s.records, buffers: make(chan []byte, 8)}
	v1.Options("/uploads", u.options)
	v1.Options("/uploads/:id", u.options)
	v1.Post("/uploads", tusHeaders, s.requireAuth, u.create)
	v1.Head("/uploads/:id", tusHeaders, s.requireAuth, u.head)
	v1.Patch("/uploads/:id", tusHeaders, s.requireAuth, u.patch)
	v1.Delete("/uploads/:id", tusHeaders, s.requireAuth, u.terminate)
	v1.Get("/photos/:id/urls", s.requireAuth, u.photoURLs)
	v1.Get("/projects/:id/photo-pairs", s.requireAuth, u.photoPairs)
	v1.Get("/blobs/*", u.serveSigned)
}

// tusHeaders checks the protocol version and answers with it, errors too.
// A request refused before its body was read has the rest of the body
// (up to drainLimit) read and dropped, because closing a connection with
// unread bytes resets it, and the client would never see the answer
// explaining what to do.
func tusHeaders(c *fiber.Ctx) error {
	c.Set("Tus-Resumable", tusVersion)
	var err error
	if c.Get("Tus-Resumable") != tusVersion {
		c.Set("Tus-Version", tusVersion)
		err = domain.Errorf(domain.CodeTusVersion, "send Tus-Resumable: %s", tusVersion)
	} else {
		err = c.Next()
	}
	if err != nil {
		if s := c.Context().RequestBodyStream(); s != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(s, drainLimit))
		}
	}
	return err
}

// drainLimit bounds what a refused request's body costs to read and drop.
const drainLimit = 8 << 20

// options answers tus discovery; it needs no credentials (browsers send it
// as a CORS preflight without them).
func (u *uploads) options(c *fiber.Ctx) error {
	c.Set("Tus-Resumable", tusVersion)
	c.Set("Tus-Version", tusVersion)
	c.Set("Tus-Extension", tusExtensions)
	c.Set("Tus-Max-Size", strconv.FormatInt(u.MaxSize, 10))
	c.Set("Tus-Checksum-Algorithm", tusChecksumAlgo)
	return c.SendStatus(http.StatusNoContent)
}

// create is the tus creation extension: Upload-Length and, in
// Upload-Metadata, the photo_id of a photo record made by sync. With the
// creation-with-upload extension the request's body (Content-Type
// application/offset+octet-stream) holds the first bytes, which are taken
// as a PATCH at offset 0 would take them: a client that sends the whole
// photo this way needs one request.
func (u *uploads) create(c *fiber.Ctx) error {
	p, err := mustPrincipal(c)
	if err != nil {
		return err
	}
	var want []byte
	withBody := c.Request().Header.ContentLength() != 0 && c.Get(fiber.HeaderContentType) != ""
	if withBody {
		if mt, _, _ := strings.Cut(c.Get(fiber.HeaderContentType), ";"); strings.TrimSpace(mt) != tusContentType {
			return domain.Errorf(domain.CodeUnsupportedMedia, "send the first bytes as %s, or no body", tusContentType)
		}
		if want, err = parseChecksum(c.Get("Upload-Checksum")); err != nil {
			return err
		}
	}
	ctx := c.UserContext()
	if c.Get("Upload-Defer-Length") != "" {
		return domain.Errorf(domain.CodeMalformedRequest, "Upload-Defer-Length is not supported: send Upload-Length")
	}
	length, err := strconv.ParseInt(c.Get("Upload-Length"), 10, 64)
	if err != nil || length < 0 {
		return domain.Errorf(domain.CodeMalformedRequest, "Upload-Length must be a non-negative integer")
	}
	if length > u.MaxSize {
		return domain.Errorf(domain.CodePayloadTooLarge, "Upload-Length %d is over the %d byte limit", length, u.MaxSize)
	}
	meta, err := parseMetadata(c.Get("Upload-Metadata"))
	if err != nil {
		return err
	}
	photoID := meta["photo_id"]
	if photoID == "" {
		return domain.Invalid(domain.FieldError{Field: "photo_id", Message: "Upload-Metadata must carry the photo_id of a photo created by sync"})
	}
	if _, err := uuid.Parse(photoID); err != nil {
		return domain.ErrNotFound("photo")
	}
	// The photo, the caller's scope, the bytes of the organization's
	// unfinished uploads and whether the photo's bytes are stored already
	// (deduplication: then the upload completes at once) are independent
	// reads, asked at once. The store's answer is used only if the caller
	// may see the photo.
	var (
		ph                      *domain.Photo
		info                    domain.BlobInfo
		findErr, statErr, scope error
		inFlight                int64
		qerr                    error
		wg                      gosync.WaitGroup
	)
	wg.Add(3)
	go func() {
		defer wg.Done()
		if ph, findErr = u.findPhoto(ctx, p.OrgID, photoID); findErr == nil {
			info, statErr = u.Blobs.Stat(ctx, domain.OriginalKey(p.OrgID, ph.SHA256))
		}
	}()
	go func() { defer wg.Done(); scope = u.canReadPhoto(ctx, p, photoID) }()
	go func() { defer wg.Done(); inFlight, qerr = u.Uploads.UploadBytesInFlight(ctx, p.OrgID) }()
	wg.Wait()
	if scope != nil {
		return scope
	}
	if findErr != nil {
		return findErr
	}
	key := domain.OriginalKey(p.OrgID, ph.SHA256)
	if length != ph.ByteSize {
		return domain.Invalid(domain.FieldError{Field: "Upload-Length",
			Message: fmt.Sprintf("must equal the photo's byte_size (%d)", ph.ByteSize)})
	}
	now := u.Clock.Now()
	up := &domain.Upload{
		ID: uuid.NewString(), OrgID: p.OrgID, PhotoID: ph.ID, UserID: p.UserID,
		Length: length, SHA256: ph.SHA256, ExpiresAt: now.Add(u.TTL),
	}
	if statErr == nil && info.Size == length {
		up.Offset, up.Complete = length, true
		up.Content = info.ContentType
		if err := u.Uploads.CreateUpload(ctx, up); err != nil {
			return err
		}
		if err := u.markUploaded(ctx, p, up, key, nil); err != nil {
			return err
		}
		if withBody {
			c.Set(fiber.HeaderConnection, "close") // the bytes are not needed
		}
		return u.created(c, up)
	} else if statErr != nil && !domain.IsCode(statErr, domain.CodeNotFound) {
		return statErr
	}
	if qerr != nil {
		return qerr
	}
	if inFlight+length > u.OrgQuota {
		return domain.Errorf(domain.CodeUploadQuota,
			"the organization has %d bytes of unfinished uploads; finish or cancel some first", inFlight)
	}
	if err := u.Uploads.CreateUpload(ctx, up); err != nil {
		return err
	}
	if withBody {
		if err := u.receive(c, p, up, 0, want); err != nil {
			return err
		}
		c.Response().ResetBody()
	}
	return u.created(c, up)
}

func (u *uploads) created(c *fiber.Ctx, up *domain.Upload) error {
	c.Set(fiber.HeaderLocation, "/v1/uploads/"+up.ID)
	c.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
	if !up.Complete {
		c.Set("Upload-Expires", up.ExpiresAt.UTC().Format(http.TimeFormat))
	}
	return c.SendStatus(http.StatusCreated)
}

// parseMetadata decodes tus Upload-Metadata: comma-separated pairs of a key
// and a base64 value (the value may be absent).
func parseMetadata(h string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(h) == "" {
		return out, nil
	}
	for pair := range strings.SplitSeq(h, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(pair), " ")
		if k == "" {
			return nil, domain.Errorf(domain.CodeMalformedRequest, "Upload-Metadata has an empty key")
		}
		val, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			return nil, domain.Errorf(domain.CodeMalformedRequest, "Upload-Metadata value of %q is not base64", k)
		}
		out[k] = string(val)
	}
	return out, nil
}

// visiblePhoto loads a live photo the caller may see; anything else
// (missing, deleted, another organization's, outside the scope) is the same
// not_found.
func (u *uploads) visiblePhoto(ctx context.Context, p domain.Principal, id string) (*domain.Photo, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, domain.ErrNotFound("photo")
	}
	anchor, err := u.records.ResolveAnchor(ctx, p.OrgID, domain.KindPhoto, id)
	if err != nil {
		return nil, err
	}
	if err := domain.Authorize(p, domain.ActionRead, anchor); err != nil {
		return nil, err
	}
	return u.findPhoto(ctx, p.OrgID, id)
}

// canReadPhoto is visiblePhoto without loading the photo, for requests that
// only need to know the caller may still see it.
func (u *uploads) canReadPhoto(ctx context.Context, p domain.Principal, id string) error {
	anchor, err := u.records.ResolveAnchor(ctx, p.OrgID, domain.KindPhoto, id)
	if err != nil {
		return err
	}
	return domain.Authorize(p, domain.ActionRead, anchor)
}

func (u *uploads) findPhoto(ctx context.Context, orgID, id string) (*domain.Photo, error) {
	rec, err := u.records.FindRecord(ctx, orgID, domain.KindPhoto, id)
	if err != nil {
		return nil, err
	}
	ph, ok := rec.(*domain.Photo)
	if !ok {
		return nil, domain.ErrNotFound("photo")
	}
	return ph, nil
}

// loadUpload finds the caller's upload: another organization's id, or an
// upload of a photo the caller can no longer see, is not_found.
func (u *uploads) loadUpload(c *fiber.Ctx) (domain.Principal, *domain.Upload, error) {
	p, err := mustPrincipal(c)
	if err != nil {
		return p, nil, err
	}
	id := c.Params("id")
	if _, err := uuid.Parse(id); err != nil {
		return p, nil, domain.ErrNotFound("upload")
	}
	ctx := c.UserContext()
	up, err := u.Uploads.FindUpload(ctx, p.OrgID, id)
	if err != nil {
		return p, nil, err
	}
	if err := u.canReadPhoto(ctx, p, up.PhotoID); err != nil {
		if domain.IsCode(err, domain.CodeNotFound) {
			return p, nil, domain.ErrNotFound("upload")
		}
		return p, nil, err
	}
	if !up.Complete && !u.Clock.Now().Before(up.ExpiresAt) {
		return p, nil, domain.Errorf(domain.CodeUploadExpired, "this upload expired; create a new one")
	}
	return p, up, nil
}

func (u *uploads) head(c *fiber.Ctx) error {
	p, up, err := u.loadUpload(c)
	if err != nil {
		return err
	}
	if !up.Complete && up.Offset == up.Length {
		// The request that stored the last bytes did not finish the upload
		// (its process died): finish it now.
		if err := u.finish(c.UserContext(), p, up); err != nil {
			return err
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	u.offsetHeaders(c, up)
	return c.SendStatus(http.StatusOK)
}

func (u *uploads) offsetHeaders(c *fiber.Ctx, up *domain.Upload) {
	c.Set("Upload-Offset", strconv.FormatInt(up.Offset, 10))
	c.Set("Upload-Length", strconv.FormatInt(up.Length, 10))
	if !up.Complete {
		c.Set("Upload-Expires", up.ExpiresAt.UTC().Format(http.TimeFormat))
	}
}

// terminate is the tus termination extension: the parts and the row go; the
// photo's bytes, if the upload completed, stay (the photo references them).
func (u *uploads) terminate(c *fiber.Ctx) error {
	p, up, err := u.loadUpload(c)
	if err != nil && !domain.IsCode(err, domain.CodeUploadExpired) {
		return err
	}
	if up == nil { // expired: reload to remove it anyway
		if up, err = u.Uploads.FindUpload(c.UserContext(), p.OrgID, c.Params("id")); err != nil {
			return err
		}
	}
	ctx := c.UserContext()
	if err := u.discard(ctx, up); err != nil {
		return err
	}
	if !up.Complete {
		if err := u.setUploadState(ctx, p, up.PhotoID, domain.UploadPartial, domain.UploadPending); err != nil {
			return err
		}
	}
	return c.SendStatus(http.StatusNoContent)
}

// discard removes an upload's parts and then its row, so a failure part way
// leaves the row for housekeeping to retry.
func (u *uploads) discard(ctx context.Context, up *domain.Upload) error {
	if up.MultipartID != "" && u.Multipart != nil && !up.Complete {
		if err := u.Multipart.AbortMultipart(ctx, domain.OriginalKey(up.OrgID, up.SHA256), up.MultipartID); err != nil {
			return err
		}
	}
	if err := u.deletePrefix(ctx, domain.UploadPrefix(up.OrgID, up.ID)); err != nil {
		return err
	}
	return u.Uploads.DeleteUpload(ctx, up.OrgID, up.ID)
}

func (u *uploads) deletePrefix(ctx context.Context, prefix string) error {
	var keys []string
	if err := u.Blobs.List(ctx, prefix, func(info domain.BlobInfo) error {
		keys = append(keys, info.Key)
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := u.Blobs.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// setUploadState moves the photo's upload_state from one value to another
// through the one write path (so every device in scope sees it), and does
// nothing if the photo is in any other state.
func (u *uploads) setUploadState(ctx context.Context, p domain.Principal, photoID string, from, to domain.UploadState) error {
	return u.Writer.Write(ctx, p, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindPhoto, photoID)
		if err != nil {
			return err
		}
		ph := rec.(*domain.Photo)
		if ph.UploadState != from || ph.DeletedAt != nil {
			return nil
		}
		ph.UploadState = to
		return tx.Update(ph)
	})
}

// finisher finishes the upload row once its bytes are stored.
type finisher func(ctx context.Context, uploads domain.UploadFinisher) error

// markUploaded records that the photo's bytes are stored at key, and
// enqueues its processing in the same transaction. finish (if any)
// completes the upload: in that transaction when the store can (so a
// crash cannot leave one done without the other, and it costs no commit
// of its own), otherwise right after it.
func (u *uploads) markUploaded(ctx context.Context, p domain.Principal, up *domain.Upload, key string, finish finisher) error {
	finished := false
	err := u.Writer.Write(ctx, p, func(tx domain.Tx) error {
		finished = false
		if ut, ok := tx.(domain.UploadTx); ok && finish != nil {
			if err := finish(ctx, ut.TxUploads()); err != nil {
				return err
			}
			finished = true
		}
		rec, err := tx.Find(domain.KindPhoto, up.PhotoID)
		if err != nil {
			return err
		}
		ph := rec.(*domain.Photo)
		if ph.DeletedAt != nil || ph.SHA256 != up.SHA256 {
			return nil
		}
		if ph.UploadState == domain.UploadComplete && ph.OriginalKey == key {
			return nil // an earlier request finished it
		}
		ph.UploadState = domain.UploadComplete
		ph.OriginalKey = key
		if up.Content != "" {
			ph.ContentType = up.Content
		}
		ph.ProcessingState = domain.ProcessingPending
		ph.FailureReason = ""
		if err := tx.Update(ph); err != nil {
			return err
		}
		payload, err := json.Marshal(domain.PhotoProcessPayload{OrgID: ph.OrgID, PhotoID: ph.ID, SHA256: ph.SHA256})
		if err != nil {
			return err
		}
		return tx.Enqueue(domain.OutboxMessage{Kind: domain.PhotoProcessTask, Payload: payload})
	})
	if err == nil && finish != nil && !finished {
		err = finish(ctx, u.Uploads)
	}
	return err
}

// markRefused ends a photo's upload with a reason every device sees.
func (u *uploads) markRefused(ctx context.Context, p domain.Principal, photoID, reason string) error {
	return u.Writer.Write(ctx, p, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindPhoto, photoID)
		if err != nil {
			return err
		}
		ph := rec.(*domain.Photo)
		if ph.DeletedAt != nil || ph.UploadState == domain.UploadComplete {
			return nil
		}
		ph.UploadState = domain.UploadPending
		ph.ProcessingState = domain.ProcessingFailed
		ph.FailureReason = reason
		return tx.Update(ph)
	})
}

// refuse discards an upload whose bytes can never make a valid photo, marks
// the photo, and returns err for the client.
func (u *uploads) refuse(ctx context.Context, p domain.Principal, up *domain.Upload, reason string, err error) error {
	if derr := u.discard(ctx, up); derr != nil {
		u.log.WarnContext(ctx, "discarding a refused upload failed", slog.String("upload_id", up.ID), slog.String("error", derr.Error()))
	}
	if merr := u.markRefused(ctx, p, up.PhotoID, reason); merr != nil {
		u.log.WarnContext(ctx, "marking a refused photo failed", slog.String("photo_id", up.PhotoID), slog.String("error", merr.Error()))
	}
	return err
}

// finish turns a fully received upload into the photo's original: it
// checks the content hash, joins the parts into the one object of that hash
// (unless it exists: deduplication), marks the photo uploaded and enqueues
// its processing, then removes the parts. Every step may be repeated, so a
// request that dies part way is finished by the next one.
func (u *uploads) finish(ctx context.Context, p domain.Principal, up *domain.Upload) error {
	h, err := restoreHash(up.HashState)
	if err != nil {
		return err
	}
	scan, err := restoreScan(up)
	if err != nil {
		return err
	}
	if err := u.checkBytes(ctx, p, up, h, scan); err != nil {
		return err
	}
	key := domain.OriginalKey(up.OrgID, up.SHA256)
	if up.MultipartID != "" {
		if err := u.completeMultipart(ctx, up, key); err != nil {
			if !domain.IsCode(err, domain.CodeInvalid) {
				return err
			}
			// The parts cannot be joined (two requests raced on one part):
			// the upload starts over rather than fail for ever.
			if derr := u.discard(ctx, up); derr != nil {
				return derr
			}
			_ = u.setUploadState(ctx, p, up.PhotoID, domain.UploadPartial, domain.UploadPending)
			return domain.WrapError(domain.CodeUploadExpired, err, "this upload's parts could not be joined; create a new upload")
		}
	} else if _, err := u.Blobs.Stat(ctx, key); domain.IsCode(err, domain.CodeNotFound) {
		keys := make([]string, len(up.Parts))
		for i, part := range up.Parts {
			keys[i] = part.Key
		}
		if _, err := u.Parts.Compose(ctx, key, keys, up.Content); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	err = u.markUploaded(ctx, p, up, key, func(ctx context.Context, uploads domain.UploadFinisher) error {
		return uploads.CompleteUpload(ctx, up.OrgID, up.ID)
	})
	if err != nil {
		return err
	}
	up.Complete = true
	if up.MultipartID != "" {
		// Only the tail can be left (a request that died after storing a
		// tail it never recorded leaves one that housekeeping removes), so
		// no listing is needed.
		u.dropParts(ctx, up.Parts)
		return nil
	}
	if err := u.deletePrefix(ctx, domain.UploadPrefix(up.OrgID, up.ID)); err != nil {
		// Housekeeping removes them with the row later.
		u.log.WarnContext(ctx, "removing upload parts failed", slog.String("upload_id", up.ID), slog.String("error", err.Error()))
	}
	return nil
}

// checkBytes refuses an upload whose bytes, all received, do not hash to
// the photo's sha256 or are not a whole image (a photo truncated on the
// phone): the upload is discarded and the photo says why.
func (u *uploads) checkBytes(ctx context.Context, p domain.Principal, up *domain.Upload, h hash.Hash, scan *domain.ImageScan) error {
	if got := hex.EncodeToString(h.Sum(nil)); got != up.SHA256 {
		return u.refuse(ctx, p, up, domain.FailureHashMismatch, errHashMismatch())
	}
	if err := scan.Check(); err != nil {
		return u.refuse(ctx, p, up, domain.FailureCorrupt, err)
	}
	return nil
}

func errHashMismatch() error {
	return domain.Errorf(domain.CodeContentMismatch, "the uploaded bytes do not hash to the photo's sha256; the upload was discarded")
}

// restoreScan continues the image scan of an upload's bytes. An upload
// begun before scans were kept cannot be checked and is not.
func restoreScan(up *domain.Upload) (*domain.ImageScan, error) {
	s := &domain.ImageScan{}
	if len(up.ScanState) == 0 {
		if up.Offset > 0 {
			s.Skip()
		}
		return s, nil
	}
	if err := s.UnmarshalBinary(up.ScanState); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "the upload's state is damaged")
	}
	return s, nil
}

func marshalScan(s *domain.ImageScan) []byte {
	b, _ := s.MarshalBinary() // cannot fail
	return b
}

func restoreHash(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if len(state) == 0 {
		return h, nil
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, domain.WrapError(domain.CodeInternal, err, "the upload's state is damaged")
	}
	return h, nil
}

func marshalHash(h hash.Hash) []byte {
	b, _ := h.(encoding.BinaryMarshaler).MarshalBinary() // sha256 cannot fail
	return b
}

// partKey names a part by its offset and a random suffix, so two requests
// racing on one offset never overwrite each other's bytes.
func partKey(up *domain.Upload, offset int64) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s%015d-%s", domain.UploadPrefix(up.OrgID, up.ID), offset, hex.EncodeToString(r[:]))
}
