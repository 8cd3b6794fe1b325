package domain

import (
	"context"
	"io"
	"time"
)

// UploadStore keeps the state of resumable photo uploads, shared by every
// server replica. Every method takes the organization explicitly; another
// organization's upload answers CodeNotFound like a missing one.
type UploadStore interface {
	UploadFinisher
	// CreateUpload inserts u (ID, OrgID, PhotoID, UserID, Length, SHA256 and
	// ExpiresAt are required). Returns CodeInvalid if they are not set.
	CreateUpload(ctx context.Context, u *Upload) error
	// FindUpload loads an upload. Returns CodeNotFound.
	FindUpload(ctx context.Context, orgID, id string) (*Upload, error)
	// AdvanceUpload stores u's new Offset, Parts, HashState, Content and
	// ExpiresAt, but only if the stored offset is still from: of two
	// requests racing on one upload exactly one advances it, the other gets
	// CodeOffsetMismatch. Returns CodeNotFound if the upload is gone.
	AdvanceUpload(ctx context.Context, u *Upload, from int64) error
	// DeleteUpload removes the row; a missing one is not an error.
	DeleteUpload(ctx context.Context, orgID, id string) error
	// UploadBytesInFlight sums the declared lengths of the organization's
	// unfinished uploads (for the per-organization quota).
	UploadBytesInFlight(ctx context.Context, orgID string) (int64, error)
	// ExpiredUploads lists up to limit unfinished uploads whose ExpiresAt is
	// before now, and complete ones last touched before now minus keep, of
	// every organization.
	ExpiredUploads(ctx context.Context, now time.Time, keep time.Duration, limit int) ([]*Upload, error)
}

// UploadFinisher is the part of UploadStore that finishes uploads.
type UploadFinisher interface {
	// CompleteUpload marks the upload complete (its bytes are the photo's
	// original now). Completing a complete upload is a no-op.
	CompleteUpload(ctx context.Context, orgID, id string) error
	// AdvanceAndComplete is AdvanceUpload and CompleteUpload in one
	// statement, for a request that received and stored the upload's last
	// bytes: u's new state is stored and the upload marked complete if the
	// stored offset is still from. An upload another request completed
	// meanwhile is left as it is, without error. Returns
	// CodeOffsetMismatch if another request moved it on without
	// completing it, CodeNotFound if it is gone.
	AdvanceAndComplete(ctx context.Context, u *Upload, from int64) error
}

// UploadTx is implemented by the Tx of a store that keeps the uploads too:
// an upload finished through TxUploads commits with the transaction, so
// its completion and its photo's new state are one step (and one commit
// fewer).
type UploadTx interface {
	// TxUploads finishes uploads within the transaction.
	TxUploads() UploadFinisher
}

// PhotoStore answers the photo queries the API and the housekeeping need.
type PhotoStore interface {
	// ProjectPhotos lists the live photos of a project, oldest taken first.
	ProjectPhotos(ctx context.Context, orgID, projectID string) ([]*Photo, error)
	// PhotoHashInUse reports whether any live photo of the organization has
	// the content hash, so its objects must be kept.
	PhotoHashInUse(ctx context.Context, orgID, sha256hex string) (bool, error)
	// PhotosWithHash lists the live photos of the organization whose
	// content hash is sha256hex.
	PhotosWithHash(ctx context.Context, orgID, sha256hex string) ([]*Photo, error)
}

// PartStore joins stored objects into one, for uploads that arrive in parts.
// Both blob stores (MinIO and the directory) implement it.
type PartStore interface {
	// Compose writes the concatenation of the objects at parts (in order)
	// to dst, replacing any object there. The parts stay; the caller deletes
	// them. Returns CodeNotFound if a part is missing, CodeInvalid for a bad
	// key or no parts.
	Compose(ctx context.Context, dst string, parts []string, contentType string) (BlobInfo, error)
}

// MultipartPart is one stored part of a multipart upload.
type MultipartPart struct {
	Number int    `json:"n"`
	ETag   string `json:"e"`
	Size   int64  `json:"s"`
}

// MultipartStore writes one object as numbered parts that become the object
// without being copied (S3 multipart uploads on MinIO). A multipart upload
// survives the process that started it, so any replica may add parts.
type MultipartStore interface {
	// StartMultipart begins a multipart upload to key and returns its id.
	StartMultipart(ctx context.Context, key, contentType string) (string, error)
	// PutPart stores part number n (1 to 10000) of the upload. Every part
	// but the last must be at least MinMultipartPart bytes on MinIO.
	PutPart(ctx context.Context, key, id string, n int, r io.Reader, size int64) (MultipartPart, error)
	// CompleteMultipart makes the parts, in ascending number, the object at
	// key. Returns CodeInvalid if a part is missing or too small.
	CompleteMultipart(ctx context.Context, key, id string, parts []MultipartPart) (BlobInfo, error)
	// AbortMultipart drops the upload and its parts; an unknown id is not an error.
	AbortMultipart(ctx context.Context, key, id string) error
	// PutVerified stores the size bytes of r as the whole object at key in
	// one request, replacing any object there, for an upload that arrived
	// whole: one call instead of a multipart upload's three. The caller
	// has hashed the bytes already; the store checks them against
	// sha256hex and refuses bytes that differ (CodeContentMismatch),
	// leaving what was at key as it was. Returns CodeInvalid for a bad key
	// or hash.
	PutVerified(ctx context.Context, key string, r io.Reader, size int64, contentType, sha256hex string) (BlobInfo, error)
}

// MinMultipartPart is S3's smallest part but the last.
const MinMultipartPart = 5 << 20

// BlobSigner issues URLs that fetch one object without other credentials
// until ttl has passed.
type BlobSigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// PhotoProcessTask is the outbox kind of the job that makes a photo's
// derivatives once its bytes are uploaded.
const PhotoProcessTask = "photo.process"

// PhotoProcessPayload is that job's payload: which photo, of which
// organization, and the content hash it was uploaded with (a photo whose
// hash changed since is not the one the job was for).
type PhotoProcessPayload struct {
	OrgID   string `json:"org_id"`
	PhotoID string `json:"photo_id"`
	SHA256  string `json:"sha256"`
}
