package sync

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/iswitchroofs/fieldsync/domain"
)

// CursorFormat is the version of the cursor's inner format. A cursor of
// another format is undecodable, which resets the device: a cheap way to
// change the format without breaking anybody.
const CursorFormat = 1

// MaxCursorLen bounds an encoded cursor. Real cursors are a few hundred
// bytes; anything longer is garbage and is refused before decoding.
const MaxCursorLen = 2048

// CursorMode says how the next pull continues.
type CursorMode string

// The cursor modes.
const (
	// ModeIncremental reads the change log after Seq.
	ModeIncremental CursorMode = "i"
	// ModeSnapshot streams live records, kind by kind, after After.
	ModeSnapshot CursorMode = "s"
)

// Cursor is the position of a device in its scope's history. On the wire
// it is opaque: base64url (no padding) of this struct's JSON. It names the
// database epoch, organization, user and role it was computed for, so a
// cursor that no longer fits (restored database, another user signed in on
// the phone, a role change) resets the device instead of skipping changes.
type Cursor struct {
	Format int         `json:"v"`
	Epoch  string      `json:"e"`
	OrgID  string      `json:"o"`
	UserID string      `json:"u"`
	Role   domain.Role `json:"r"`
	Mode   CursorMode  `json:"m"`
	// Seq is the change-log position: everything up to it is delivered
	// (incremental), or it is where the log resumes once the snapshot is
	// done (snapshot).
	Seq int64 `json:"s"`
	// Start is the organization's sequence when the snapshot session
	// began (S0): the snapshot holds every change up to it.
	Start int64 `json:"s0,omitempty"`
	// Kinds are the kinds the snapshot still has to stream, the first one
	// in progress, in domain.SyncedKinds order.
	Kinds []domain.EntityKind `json:"k,omitempty"`
	// After is the last id streamed of Kinds[0].
	After string `json:"a,omitempty"`
	// Repair lists the kinds a repair session re-sent at Start. While the
	// log is replayed from an older Seq up to Start, their changes are
	// skipped: the snapshot already holds their newer state.
	Repair []domain.EntityKind `json:"rk,omitempty"`
	// Session is set from the first page of a reset session until the page
	// that ends it (has_more false). The device stages the session apart
	// from its live copy, so a record it wrote itself during the session
	// may be missing there: while Session is set, its own changes come as
	// full puts, never as op version.
	Session bool `json:"rs,omitempty"`
	// Ack is the ack_outcomes_through the device sent with the pull that
	// produced this cursor (for Explain: what the device has not seen yet).
	Ack int64 `json:"ack,omitempty"`
}

// Encode returns the cursor's wire form.
func (c Cursor) Encode() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("sync: marshal cursor: %v", err)) // plain fields: cannot fail
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// errCursor is returned for every malformed cursor; the reason is never
// shown to the device (it gets a reset), only logged.
var errCursor = errors.New("malformed cursor")

// DecodeCursor parses and checks a cursor. Anything that is not exactly a
// cursor this server could have produced is refused: wrong encoding,
// unknown format, unknown or missing fields, trailing bytes, negative
// positions, kinds that are not synced or out of order, inconsistent mode.
func DecodeCursor(s string) (Cursor, error) {
	var c Cursor
	if s == "" || len(s) > MaxCursorLen {
		return c, fmt.Errorf("%w: length %d", errCursor, len(s))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return c, fmt.Errorf("%w: %v", errCursor, err)
	}
	if err := strictUnmarshal(b, &c); err != nil {
		return Cursor{}, fmt.Errorf("%w: %v", errCursor, err)
	}
	if err := c.check(); err != nil {
		return Cursor{}, fmt.Errorf("%w: %v", errCursor, err)
	}
	return c, nil
}

func (c Cursor) check() error {
	switch {
	case c.Format != CursorFormat:
		return fmt.Errorf("format %d", c.Format)
	case len(c.Epoch) > 128:
		return errors.New("epoch too long")
	case c.OrgID == "" || len(c.OrgID) > 64 || c.UserID == "" || len(c.UserID) > 64:
		return errors.New("bad organization or user")
	case !c.Role.Valid():
		return errors.New("bad role")
	case c.Seq < 0 || c.Start < 0 || c.Ack < 0:
		return errors.New("negative position")
	case len(c.After) > 64:
		return errors.New("id too long")
	}
	if err := orderedKinds(c.Kinds); err != nil {
		return err
	}
	if err := orderedKinds(c.Repair); err != nil {
		return err
	}
	switch c.Mode {
	case ModeSnapshot:
		if !c.Session {
			return errors.New("snapshot outside a reset session")
		}
		if len(c.Kinds) == 0 || c.Start < c.Seq {
			return errors.New("bad snapshot position")
		}
		if len(c.Repair) == 0 && c.Start != c.Seq {
			return errors.New("full snapshot resumes at its start")
		}
		for _, k := range c.Kinds {
			if len(c.Repair) > 0 && !slices.Contains(c.Repair, k) {
				return errors.New("repair snapshot of a kind not repaired")
			}
		}
	case ModeIncremental:
		if len(c.Kinds) > 0 || c.After != "" {
			return errors.New("incremental cursor with snapshot position")
		}
		// The repair filter lasts only until the log reaches Start.
		if (len(c.Repair) > 0) != (c.Start > c.Seq) {
			return errors.New("bad repair position")
		}
	default:
		return fmt.Errorf("mode %q", c.Mode)
	}
	return nil
}

// orderedKinds checks that kinds are synced kinds, each once, in
// SyncedKinds order (which makes the encoding of a position unique).
func orderedKinds(kinds []domain.EntityKind) error {
	all := domain.SyncedKinds()
	last := -1
	for _, k := range kinds {
		i := slices.Index(all, k)
		if i < 0 {
			return fmt.Errorf("kind %q is not synced", k)
		}
		if i <= last {
			return errors.New("kinds out of order")
		}
		last = i
	}
	return nil
}
