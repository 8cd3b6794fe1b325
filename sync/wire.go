package sync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// ProtocolVersion is the wire protocol this server speaks. A request for
// another version gets the upgrade_required answer.
const ProtocolVersion = 1

// SchemaVersion is the entity schema of this server; clients down to
// MinSchemaVersion (two back) sync the same records.
const (
	SchemaVersion    = 3
	MinSchemaVersion = 1
)

// Limits of one request. A pull page defaults to 2,000 records: a reset of
// a large scope costs a round trip per page, which on a phone's network is
// most of its time, while a page of 2,000 is still little to lose when a
// connection is cut mid-page (the next pull resumes from the last page).
const (
	MaxMutationsPerPush = 1000
	MaxPushBytes        = 4 << 20
	DefaultPullLimit    = 2000
	MaxPullLimit        = 5000
)

// Versions is what every sync request carries so the server can refuse an
// app it cannot serve before touching anything.
type Versions struct {
	ProtocolVersion int    `json:"protocol_version"`
	SchemaVersion   int    `json:"schema_version"`
	AppVersion      string `json:"app_version"`
}

// Mutation is one named domain operation a device performed offline. ID
// increases by exactly one per device, starting at 1.
type Mutation struct {
	ID   int64           `json:"id"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// PushRequest is the body of POST /v1/sync/push.
type PushRequest struct {
	Versions
	ClientID  string     `json:"client_id"`
	Mutations []Mutation `json:"mutations"`
}

// Gap tells a device its batch skipped ids: nothing from Got on was applied.
type Gap struct {
	Expected int64 `json:"expected"`
	Got      int64 `json:"got"`
}

// PushResponse acknowledges a push. LastMutationID is the highest id the
// server has processed for the device (applied or rejected): the device
// drops every pending mutation up to it.
type PushResponse struct {
	LastMutationID int64 `json:"last_mutation_id"`
	// Processed counts mutations of this batch processed now (not replays).
	Processed int  `json:"processed"`
	Gap       *Gap `json:"gap,omitempty"`
}

// PullRequest is the body of POST /v1/sync/pull.
type PullRequest struct {
	Versions
	ClientID string `json:"client_id"`
	// Cursor is the opaque cursor of the previous pull; empty on a new device.
	Cursor string `json:"cursor"`
	// Limit caps the records of one page (0: DefaultPullLimit; anything
	// above MaxPullLimit is capped to it). A page of whole transactions
	// may exceed it when one transaction alone does.
	Limit int `json:"limit,omitempty"`
	// AckOutcomesThrough is the highest mutation id whose outcome the device
	// has shown its user; outcomes up to it are not sent again.
	AckOutcomesThrough int64 `json:"ack_outcomes_through"`
	// RepairKinds asks for a fresh snapshot of just these kinds (after a
	// checksum mismatch); the rest of the store is left alone. It is
	// ignored inside a reset session (compare checksums after a pull that
	// ended with has_more false).
	RepairKinds []domain.EntityKind `json:"repair_kinds,omitempty"`
}

// Change operations on the wire.
const (
	// OpPut: store Data as the record (insert or replace).
	OpPut = "put"
	// OpDelete: remove the record (deleted, or no longer in the user's scope).
	OpDelete = "delete"
	// OpVersion: the device's own mutation was stored exactly as sent; only
	// the version is new.
	OpVersion = "version"
)

// Change is one record-level entry of a pull page: at most one per record
// in a page (its last state), puts and versions first in SyncedKinds order
// (parents before children), then deletes in the reverse order. Version is
// the record's version after the change. Data is the record's JSON for a
// put, without the fields newer than the app's schema version; it is
// absent for delete and version.
type Change struct {
	Op      string            `json:"op"`
	Kind    domain.EntityKind `json:"kind"`
	ID      string            `json:"id"`
	Version int64             `json:"version"`
	Data    json.RawMessage   `json:"data,omitempty"`
	// MutationID is set on op version only: the stored record is the
	// device's copy as last received with its own mutations of this
	// record up to and including MutationID applied, in order, leaving
	// out those the server rejected (the device reads the page's outcomes
	// first). A device keeps its pending mutations until a pull session
	// ends (HasMore false), because a later page may still refer to them.
	MutationID int64 `json:"mutation_id,omitempty"`
}

// Outcome is a rejection or a conflict of one of the device's mutations.
type Outcome struct {
	MutationID int64              `json:"mutation_id"`
	Name       string             `json:"name"`
	Kind       domain.OutcomeKind `json:"kind"`
	Code       string             `json:"code"`
	Message    string             `json:"message"`
	Details    json.RawMessage    `json:"details,omitempty"`
}

// PullResponse is one page of a pull.
type PullResponse struct {
	Cursor  string `json:"cursor"`
	HasMore bool   `json:"has_more"`
	// Reset starts a snapshot session: the device stages every page through
	// the one with HasMore false, then replaces its synced records of
	// ResetKinds (all kinds if empty) with the staged ones in one local
	// transaction, and re-applies its pending mutations on top. The first
	// pull of a new device (empty cursor) is such a session too.
	Reset       bool                `json:"reset,omitempty"`
	ResetKinds  []domain.EntityKind `json:"reset_kinds,omitempty"`
	ResetReason string              `json:"reset_reason,omitempty"`
	Changes     []Change            `json:"changes"`
	// LastMutationID is the highest mutation id processed for the device,
	// at least the MutationID of every op version in the page: every
	// mutation up to it is reflected in the data once has_more is false.
	LastMutationID int64     `json:"last_mutation_id"`
	Outcomes       []Outcome `json:"outcomes"`
	ServerTime     time.Time `json:"server_time"`
}

// ChecksumsResponse is the body of GET /v1/sync/checksums.
type ChecksumsResponse struct {
	Parts []domain.ScopePart `json:"parts"`
}

// DeviceRegistration is the body of POST /v1/devices.
type DeviceRegistration struct {
	Versions
	ClientID  string          `json:"client_id"`
	Platform  domain.Platform `json:"platform"`
	PushToken string          `json:"push_token,omitempty"`
}

// DeviceReport answers "why doesn't this device see record Y?".
type DeviceReport struct {
	ClientID       string     `json:"client_id"`
	UserID         string     `json:"user_id"`
	Role           string     `json:"role"`
	Cursor         string     `json:"cursor"`
	CursorSeq      int64      `json:"cursor_seq"`
	OrgSeq         int64      `json:"org_seq"`
	LastMutationID int64      `json:"last_mutation_id"`
	LastPullAt     *time.Time `json:"last_pull_at,omitempty"`
	LastPushAt     *time.Time `json:"last_push_at,omitempty"`
	Pending        []Outcome  `json:"pending_outcomes"`
	// Record is present when the question named one.
	Record *RecordReport `json:"record,omitempty"`
}

// RecordReport says whether a record is in a device's scope, and why.
type RecordReport struct {
	Kind    domain.EntityKind `json:"kind"`
	ID      string            `json:"id"`
	Exists  bool              `json:"exists"`
	InScope bool              `json:"in_scope"`
	Version int64             `json:"version,omitempty"`
	// Delivered says the device's cursor is at or past the record's version.
	Delivered bool   `json:"delivered"`
	Reason    string `json:"reason"`
}

// AppendJSON appends r's JSON encoding to b. It equals json.Marshal's, but
// copies each change's Data as it is instead of re-validating and
// compacting it (which encoding/json does to every json.RawMessage): on an
// initial sync that was about a fifth of the server's CPU per record. Data
// is always JSON this package or the store produced.
func (r PullResponse) AppendJSON(b []byte) ([]byte, error) {
	changes := r.Changes
	r.Changes = nil
	env, err := json.Marshal(r)
	if err != nil {
		return b, err
	}
	// With Changes nil the envelope holds the key once, as `"changes":null`:
	// inside a string value those quotes would be escaped.
	const hole = `"changes":null`
	i := bytes.Index(env, []byte(hole))
	if i < 0 {
		return b, fmt.Errorf("sync: pull response encoding has no changes key")
	}
	b = append(b, env[:i+len(`"changes":`)]...)
	if changes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for k, c := range changes {
			if k > 0 {
				b = append(b, ',')
			}
			if b, err = c.appendJSON(b); err != nil {
				return b, err
			}
		}
		b = append(b, ']')
	}
	return append(b, env[i+len(hole):]...), nil
}

// appendJSON appends c as json.Marshal would, with Data copied verbatim.
// The header is written by hand: it runs once per record of every page.
func (c Change) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"op":`...)
	b = appendJSONString(b, c.Op)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, string(c.Kind))
	b = append(b, `,"id":`...)
	b = appendJSONString(b, c.ID)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, c.Version, 10)
	if len(c.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, c.Data...)
	}
	if c.MutationID != 0 {
		b = append(b, `,"mutation_id":`...)
		b = strconv.AppendInt(b, c.MutationID, 10)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string, as encoding/json writes it.
// Ids, kinds and ops are plain ASCII and are copied; anything else goes
// through encoding/json (which also escapes <, > and &).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
