package domain

import (
	"context"
	"io"
	"time"
)

// Clock tells the time; tests inject a fixed or stepping one.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now implements Clock.
func (f ClockFunc) Now() time.Time { return f() }

// OrganizationStore keeps tenants.
type OrganizationStore interface {
	// CreateOrganization inserts org. Returns CodeConflict if the slug is taken,
	// CodeInvalid if required fields are missing.
	CreateOrganization(ctx context.Context, org *Organization) error
	// FindOrganization returns CodeNotFound if there is no such organization.
	FindOrganization(ctx context.Context, id string) (*Organization, error)
	// FindOrganizationBySlug returns CodeNotFound if no organization has slug.
	FindOrganizationBySlug(ctx context.Context, slug string) (*Organization, error)
}

// UserStore looks up team members for sign-in and request authentication.
// Users are created and changed through the Writer like every synced record.
type UserStore interface {
	// FindUserByEmail matches case-insensitively across all organizations
	// (an email signs in to exactly one). Returns CodeNotFound.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// FindUser returns the user only if it belongs to orgID; CodeNotFound otherwise.
	FindUser(ctx context.Context, orgID, id string) (*User, error)
}

// SessionStore keeps refresh tokens (hashed) and their rotation families.
type SessionStore interface {
	// CreateRefreshToken stores the first token of a new family.
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// RotateRefreshToken atomically consumes the token whose hash is oldHash
	// and stores next in the same family (next.FamilyID, UserID and OrgID are
	// filled from the old token). It returns the consumed token.
	// Returns CodeRefreshInvalid if the token is unknown, expired or revoked,
	// and CodeRefreshReused, after revoking the whole family, if it was
	// already consumed, unless it was consumed less than grace before now
	// and its family's newest token is still unused: then the answer to
	// that rotation was lost on its way to the phone, and the unused token
	// is revoked and replaced by next.
	RotateRefreshToken(ctx context.Context, oldHash string, next *RefreshToken, now time.Time, grace time.Duration) (*RefreshToken, error)
	// RevokeRefreshToken revokes the family of the token whose hash is given.
	// Unknown tokens are not an error (sign-out is idempotent).
	RevokeRefreshToken(ctx context.Context, hash string, now time.Time) error
	// RevokeUserSessions revokes every family of a user (deactivation,
	// password change).
	RevokeUserSessions(ctx context.Context, orgID, userID string, now time.Time) error
	// SessionRevoked reports whether the user's token family was revoked
	// (signed out, a replayed refresh token, a password change), which
	// ends the access tokens issued under it too. An unknown family is not
	// revoked: its tokens expired and were removed.
	SessionRevoked(ctx context.Context, orgID, userID, familyID string) (bool, error)
}

// LeadFilter selects leads. Nil fields do not filter. Scope filtering by
// access is applied by the caller through Principal.
type LeadFilter struct {
	OrgID      string
	Principal  *Principal // if set, only leads the principal may see
	Status     *LeadStatus
	AssignedTo *string
	Limit      int
	Offset     int
}

// RecordStore reads organization-owned records.
type RecordStore interface {
	// FindRecord loads one record of kind in orgID. Soft-deleted records are
	// not found. Returns CodeNotFound (also for another organization's id).
	FindRecord(ctx context.Context, orgID string, kind EntityKind, id string) (Record, error)
	// ResolveAnchor returns the ownership chain access rules read for the
	// record. Returns CodeNotFound like FindRecord.
	ResolveAnchor(ctx context.Context, orgID string, kind EntityKind, id string) (Anchor, error)
	// ListLeads returns leads matching f, newest first.
	ListLeads(ctx context.Context, f LeadFilter) ([]*Lead, error)
}

// OutboxMessage is a side effect (a job to enqueue) written in the same
// transaction as the data change that causes it, and relayed afterwards, so
// that a crash between commit and enqueue loses or doubles nothing.
type OutboxMessage struct {
	ID          string
	OrgID       string
	Kind        string
	Payload     []byte
	CreatedAt   time.Time
	AvailableAt time.Time
}

// Change is one entry of an organization's change log: the record kind and id
// a transaction touched, at the organization sequence number it committed as.
type Change struct {
	OrgID    string
	Seq      int64
	Kind     EntityKind
	EntityID string
	Op       ChangeOp
	ActorID  string
}

// ChangeOp says whether a change upserted or deleted its record.
type ChangeOp string

// The change operations.
const (
	OpUpsert ChangeOp = "upsert"
	OpDelete ChangeOp = "delete"
)

// Tx is the one write path for synced records. Every write, from any origin
// (device push, REST, admin app, worker, webhook, seed), goes through a Tx so
// that the organization's change sequence is bumped, every touched row gets
// that sequence as its version, the change log records it, and outbox rows
// commit with it.
type Tx interface {
	// Principal is who the transaction acts for (recorded in audit fields).
	Principal() Principal
	// Now is the transaction's timestamp, used for every audit field.
	Now() time.Time
	// Find loads a record of the transaction's organization, including
	// soft-deleted ones. Returns CodeNotFound.
	Find(kind EntityKind, id string) (Record, error)
	// Create inserts rec, stamping Meta. Returns CodeConflict if the id exists.
	Create(rec Record) error
	// Update saves every field of rec, stamping Meta. Returns CodeNotFound.
	Update(rec Record) error
	// Delete tombstones a soft-deletable record or removes any other.
	// Returns CodeNotFound.
	Delete(kind EntityKind, id string) error
	// Enqueue adds a side effect to the outbox.
	Enqueue(msg OutboxMessage) error
}

// Writer runs fn in a database transaction for principal's organization and
// commits its effects atomically. It returns fn's error after rolling back.
type Writer interface {
	Write(ctx context.Context, p Principal, fn func(tx Tx) error) error
}

// Store is everything the application needs from the database.
type Store interface {
	OrganizationStore
	UserStore
	SessionStore
	RecordStore
	Writer
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// BlobInfo describes a stored object.
type BlobInfo struct {
	Key         string
	Size        int64
	ContentType string
	ModifiedAt  time.Time
}

// BlobStore keeps photo bytes (originals and derivatives). Keys are
// slash-separated paths chosen by the caller; implementations refuse keys that
// could escape their namespace ("..", absolute, empty segments).
type BlobStore interface {
	// Put stores r under key, replacing any object there. size may be -1 if
	// unknown. Returns CodeInvalid for a bad key.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (BlobInfo, error)
	// Get opens the object. The caller closes it. Returns CodeNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, BlobInfo, error)
	// Stat describes the object. Returns CodeNotFound.
	Stat(ctx context.Context, key string) (BlobInfo, error)
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every object whose key starts with prefix, in key
	// order, stopping at fn's first error.
	List(ctx context.Context, prefix string, fn func(BlobInfo) error) error
	// Ping checks that the store is reachable and its bucket or directory usable.
	Ping(ctx context.Context) error
}

// RateLimit allows Events per Period, with bursts up to Events.
type RateLimit struct {
	Events int
	Period time.Duration
}

// RateDecision is the answer to one attempt.
type RateDecision struct {
	Allowed    bool
	Remaining  int
	RetryAfter time.Duration
}

// RateLimiter counts attempts per key across every server replica.
type RateLimiter interface {
	// Allow records one attempt under key and says whether it is within limit.
	Allow(ctx context.Context, key string, limit RateLimit) (RateDecision, error)
}
