package sync_test

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

func validCursor() fsync.Cursor {
	return fsync.Cursor{
		Format: fsync.CursorFormat, Epoch: "ep-1", OrgID: "org", UserID: "user", Role: domain.RoleSales,
		Mode: fsync.ModeIncremental, Seq: 42, Ack: 7,
	}
}

func TestCursorRoundTrip(t *testing.T) {
	snap := validCursor()
	snap.Mode, snap.Seq, snap.Start, snap.Session = fsync.ModeSnapshot, 10, 10, true
	snap.Kinds = []domain.EntityKind{domain.KindLead, domain.KindPhoto}
	snap.After = "0d6f4c0a-3b7e-4a51-9d43-2f5b8e1c7a90"
	repairSnap := validCursor()
	repairSnap.Mode, repairSnap.Seq, repairSnap.Start, repairSnap.Session = fsync.ModeSnapshot, 5, 9, true
	repairSnap.Kinds = []domain.EntityKind{domain.KindPhoto}
	repairSnap.Repair = []domain.EntityKind{domain.KindLead, domain.KindPhoto}
	repairInc := validCursor()
	repairInc.Seq, repairInc.Start, repairInc.Repair, repairInc.Session = 5, 9, []domain.EntityKind{domain.KindLead}, true
	for name, c := range map[string]fsync.Cursor{
		"incremental": validCursor(), "snapshot": snap, "repair snapshot": repairSnap, "repair incremental": repairInc,
	} {
		t.Run(name, func(t *testing.T) {
			s := c.Encode()
			if strings.ContainsAny(s, "+/=") {
				t.Fatalf("cursor %q is not unpadded base64url", s)
			}
			got, err := fsync.DecodeCursor(s)
			if err != nil {
				t.Fatalf("DecodeCursor: %v", err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
			}
		})
	}
}

func TestDecodeCursorRejects(t *testing.T) {
	enc := func(js string) string { return base64.RawURLEncoding.EncodeToString([]byte(js)) }
	mod := func(f func(c *fsync.Cursor)) string {
		c := validCursor()
		c.Session = true // valid in both modes, so each case breaks one rule
		f(&c)
		return c.Encode()
	}
	cases := map[string]string{
		"empty":               ``,
		"not base64":          `!!!`,
		"padded base64":       base64.URLEncoding.EncodeToString([]byte(`{"v":1}`)),
		"std base64 alphabet": strings.ReplaceAll(strings.ReplaceAll(validCursor().Encode(), "-", "+"), "_", "/") + "+/",
		"too long":            strings.Repeat("A", fsync.MaxCursorLen+1),
		"not json":            enc(`hello`),
		"json array":          enc(`[1,2]`),
		"trailing data":       enc(`{"v":1,"e":"x","o":"o","u":"u","r":"sales","m":"i","s":1} {}`),
		"unknown field":       enc(`{"v":1,"e":"x","o":"o","u":"u","r":"sales","m":"i","s":1,"zz":1}`),
		"wrong type":          enc(`{"v":"1","e":"x","o":"o","u":"u","r":"sales","m":"i","s":1}`),
		"other format":        mod(func(c *fsync.Cursor) { c.Format = 2 }),
		"no org":              mod(func(c *fsync.Cursor) { c.OrgID = "" }),
		"no user":             mod(func(c *fsync.Cursor) { c.UserID = "" }),
		"bad role":            mod(func(c *fsync.Cursor) { c.Role = "owner" }),
		"bad mode":            mod(func(c *fsync.Cursor) { c.Mode = "x" }),
		"negative seq":        mod(func(c *fsync.Cursor) { c.Seq = -1 }),
		"negative ack":        mod(func(c *fsync.Cursor) { c.Ack = -1 }),
		"incremental kinds":   mod(func(c *fsync.Cursor) { c.Kinds = []domain.EntityKind{domain.KindLead} }),
		"incremental after":   mod(func(c *fsync.Cursor) { c.After = "x" }),
		"snapshot outside session": mod(func(c *fsync.Cursor) {
			c.Mode, c.Start, c.Kinds, c.Session = fsync.ModeSnapshot, c.Seq, []domain.EntityKind{domain.KindLead}, false
		}),
		"snapshot no kinds": mod(func(c *fsync.Cursor) { c.Mode, c.Start = fsync.ModeSnapshot, c.Seq }),
		"unsynced kind": mod(func(c *fsync.Cursor) {
			c.Mode, c.Start, c.Kinds = fsync.ModeSnapshot, c.Seq, []domain.EntityKind{domain.KindDevice}
		}),
		"kinds out of order": mod(func(c *fsync.Cursor) {
			c.Mode, c.Start, c.Kinds = fsync.ModeSnapshot, c.Seq, []domain.EntityKind{domain.KindPhoto, domain.KindLead}
		}),
		"duplicate kinds": mod(func(c *fsync.Cursor) {
			c.Mode, c.Start, c.Kinds = fsync.ModeSnapshot, c.Seq, []domain.EntityKind{domain.KindLead, domain.KindLead}
		}),
		"full snapshot moved": mod(func(c *fsync.Cursor) {
			c.Mode, c.Start, c.Kinds = fsync.ModeSnapshot, c.Seq+1, []domain.EntityKind{domain.KindLead}
		}),
		"start before seq": mod(func(c *fsync.Cursor) {
			c.Mode, c.Start, c.Kinds = fsync.ModeSnapshot, c.Seq-1, []domain.EntityKind{domain.KindLead}
		}),
		"repair of other kind": mod(func(c *fsync.Cursor) {
			c.Mode, c.Start, c.Kinds, c.Repair = fsync.ModeSnapshot, c.Seq, []domain.EntityKind{domain.KindLead}, []domain.EntityKind{domain.KindPhoto}
		}),
		"stale repair filter":  mod(func(c *fsync.Cursor) { c.Start, c.Repair = c.Seq, []domain.EntityKind{domain.KindLead} }),
		"start without repair": mod(func(c *fsync.Cursor) { c.Start = c.Seq + 1 }),
		"huge id": mod(func(c *fsync.Cursor) {
			c.Mode, c.Start, c.Kinds, c.After = fsync.ModeSnapshot, c.Seq, []domain.EntityKind{domain.KindLead}, strings.Repeat("a", 65)
		}),
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			if c, err := fsync.DecodeCursor(s); err == nil {
				t.Fatalf("DecodeCursor(%q) = %+v, want an error", s, c)
			}
		})
	}
}
