package domain

import (
	"context"
	"encoding/json"
	"time"
)

// SyncedKinds are the kinds phones hold a local copy of, in the order a
// snapshot (initial sync or reset) streams them: parents before children.
// Back-office kinds (reviews, referrals, campaigns, notifications, devices)
// stay on the server.
func SyncedKinds() []EntityKind {
	return []EntityKind{
		KindUser, KindLead, KindCustomer, KindProject,
		KindAppointment, KindInteraction, KindPhoto, KindAlert,
	}
}

// IsSynced reports whether kind is one phones hold.
func IsSynced(kind EntityKind) bool {
	for _, k := range SyncedKinds() {
		if k == kind {
			return true
		}
	}
	return false
}

// More change operations. A grant or revoke targets one user whose access
// to the record changed (a reassignment) while the record itself may not
// have: a grant carries the full record, a revoke removes it from that
// user's devices.
const (
	OpGrant  ChangeOp = "grant"
	OpRevoke ChangeOp = "revoke"
)

// ChangeOrigin names the device mutation a transaction applies, so the
// change log can tell the device its own writes apart (no echo).
type ChangeOrigin struct {
	ClientID   string
	MutationID int64
	// EchoOnly says the server stored exactly what the device sent (plus
	// version and audit fields): the device already holds the result and
	// needs only the new version.
	EchoOnly bool
}

// ChangeRow is one change-log entry as a pull reads it.
type ChangeRow struct {
	Seq      int64
	Kind     EntityKind
	EntityID string
	Op       ChangeOp
	// Version is the record's version after the change (the seq for
	// upserts and deletes, the record's current version for a grant).
	Version int64
	// Payload is the record's JSON as of this change (upsert, grant); nil
	// for delete and revoke.
	Payload json.RawMessage
	// Anchor is the record's access anchor as of this change.
	Anchor Anchor
	// TargetUser is set on grant and revoke rows only.
	TargetUser string
	Origin     ChangeOrigin
	CreatedAt  time.Time
}

// ScopeFilter selects what one user may see: every synced record of the
// organization for managers and admins; for reps and techs, the records
// whose anchor names them (CanSee), and grants and revokes aimed at them.
type ScopeFilter struct {
	OrgID  string
	UserID string
	Role   Role
}

// ChangePage is a run of whole transactions from the change log.
type ChangePage struct {
	Rows []ChangeRow
	// UpTo is the last sequence number the page covers: every change in
	// (after, UpTo] visible to the filter is in Rows. A page never ends in
	// the middle of a transaction.
	UpTo int64
	// More reports whether visible changes exist after UpTo (up to the
	// organization's sequence when the page was read).
	More bool
}

// SnapshotRecord is one live record of a snapshot page.
type SnapshotRecord struct {
	Kind    EntityKind
	ID      string
	Version int64
	Payload json.RawMessage
}

// ScopePart is the checksum of one kind of a user's scope: the number of
// live records and the hex SHA-256 of their "id:version\n" lines sorted by id.
type ScopePart struct {
	Kind  EntityKind `json:"kind"`
	Count int        `json:"count"`
	Hash  string     `json:"hash"`
}

// OrgSyncState is what cursors are checked against.
type OrgSyncState struct {
	// Seq is the organization's latest committed change sequence number.
	Seq int64
	// Epoch changes when the organization's history is replaced (restore,
	// re-import); cursors from another epoch force a reset.
	Epoch string
	// Floor is the highest sequence number pruned from the change log;
	// a cursor below it cannot be served incrementally and forces a reset.
	Floor int64
}

// SyncClient is the server's record of one device's sync state.
type SyncClient struct {
	ID             string // the device id the phone generated; the protocol's client_id
	OrgID          string
	UserID         string
	Platform       Platform
	AppVersion     string
	SchemaVersion  int
	LastMutationID int64
	// Role is the user's role when the device last completed a sync; a
	// different current role forces a reset (its scope changed shape).
	Role       Role
	Cursor     string
	LastPullAt *time.Time
	LastPushAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// OutcomeKind says whether a mutation was refused or applied with a lost field.
type OutcomeKind string

// The outcome kinds.
const (
	OutcomeRejected OutcomeKind = "rejected"
	OutcomeConflict OutcomeKind = "conflict"
)

// MutationOutcome is a rejection or conflict a device must be told about on
// its next pull, until it acknowledges it.
type MutationOutcome struct {
	OrgID      string
	ClientID   string
	MutationID int64
	Name       string
	Kind       OutcomeKind
	Code       string
	Message    string
	// Details is JSON: for a conflict, the fields the device lost with its
	// value and the server's; for a rejection, anything that helps the user.
	Details   json.RawMessage
	CreatedAt time.Time
}

// SyncTx is the write path's extra surface for the sync engine, inside the
// same transaction as the mutation's effects.
type SyncTx interface {
	Tx
	// Client loads the device's sync state for update, locking it until
	// the transaction ends, so one device's transactions run one at a time.
	// Returns CodeNotFound.
	Client(clientID string) (*SyncClient, error)
	// Settings are the organization's settings as of the transaction (read
	// with its lock, so a push needs no lookup before its transaction).
	Settings() (OrgSettings, error)
	// SaveClient stores the device's sync state (LastMutationID advances in
	// the same transaction as the mutation's effects: exactly once).
	SaveClient(c *SyncClient) error
	// RecordOutcome stores a rejection or conflict for the device.
	RecordOutcome(o MutationOutcome) error
	// SetOrigin tags the change rows written after it with the mutation.
	SetOrigin(o ChangeOrigin)
	// StateAt returns the record's JSON as of sequence number seq (its
	// latest upsert at or before seq), for three-way field merges; ok is
	// false when history no longer reaches back that far.
	StateAt(kind EntityKind, id string, seq int64) (state json.RawMessage, ok bool, err error)
	// OverlappingAppointments lists the scheduled, live appointments of
	// userID that overlap [start, end), except excludeID, under the
	// transaction's organization lock so two bookings cannot both pass.
	OverlappingAppointments(userID string, start, end time.Time, excludeID string) ([]*Appointment, error)
}

// SyncStore is what the sync engine needs from the database.
type SyncStore interface {
	OrganizationStore
	RecordStore
	UserStore
	// SyncWrite is Writer.Write with the sync surface of the transaction.
	SyncWrite(ctx context.Context, p Principal, fn func(tx SyncTx) error) error
	// SyncState returns the organization's sequence, epoch and history floor.
	SyncState(ctx context.Context, orgID string) (OrgSyncState, error)
	// ChangesForScope reads whole transactions after seq visible to f, at
	// most about maxRows rows (a single larger transaction is returned whole).
	ChangesForScope(ctx context.Context, f ScopeFilter, after int64, maxRows int) (ChangePage, error)
	// SnapshotPage reads up to limit live records of kind visible to f with
	// id > afterID, in id order.
	SnapshotPage(ctx context.Context, f ScopeFilter, kind EntityKind, afterID string, limit int) ([]SnapshotRecord, error)
	// ScopeChecksum returns the checksum of kind in f's scope.
	ScopeChecksum(ctx context.Context, f ScopeFilter, kind EntityKind) (ScopePart, error)
	// InScope reports whether the record is in f's scope now, with its anchor.
	InScope(ctx context.Context, f ScopeFilter, kind EntityKind, id string) (bool, Anchor, error)
	// RegisterClient creates or updates a device's sync state for its user.
	// Returns CodeForbidden if the id belongs to another user or organization.
	RegisterClient(ctx context.Context, c *SyncClient) error
	// FindClient loads a device's sync state in orgID. Returns CodeNotFound.
	FindClient(ctx context.Context, orgID, clientID string) (*SyncClient, error)
	// TouchPull records a completed pull: cursor, role and time.
	TouchPull(ctx context.Context, orgID, clientID, cursor string, role Role, at time.Time) error
	// Outcomes returns the device's outcomes with MutationID > afterMutationID.
	Outcomes(ctx context.Context, orgID, clientID string, afterMutationID int64) ([]MutationOutcome, error)
}
