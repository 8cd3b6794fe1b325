package synctest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// SnapshotReader is the part of the store ServerScope reads: the live
// records of a user's scope, page by page, as a snapshot streams them.
type SnapshotReader interface {
	SnapshotPage(ctx context.Context, f domain.ScopeFilter, kind domain.EntityKind, afterID string, limit int) ([]domain.SnapshotRecord, error)
}

// ServerScope reads, straight from the store and not through the engine,
// every live record p may see now, with its version and JSON: the server's
// view of p's scope, which a device of p must equal once quiesced.
func ServerScope(ctx context.Context, s SnapshotReader, p domain.Principal) (map[Key]Record, error) {
	const page = 1000
	f := domain.ScopeFilter{OrgID: p.OrgID, UserID: p.UserID, Role: p.Role}
	out := map[Key]Record{}
	for _, kind := range domain.SyncedKinds() {
		for after := ""; ; {
			recs, err := s.SnapshotPage(ctx, f, kind, after, page)
			if err != nil {
				return nil, fmt.Errorf("synctest: server scope of %s: %w", kind, err)
			}
			for _, r := range recs {
				out[Key{r.Kind, r.ID}] = Record{Version: r.Version, Data: r.Payload}
			}
			if len(recs) < page {
				break
			}
			after = recs[len(recs)-1].ID
		}
	}
	return out, nil
}

// metaFields are the header fields of every record's JSON. A device that
// confirmed its own write with an op version holds them as of its last
// put (only the version moves), so they are not compared; the version is,
// through Record.Version.
var metaFields = []string{"id", "org_id", "version", "created_at", "updated_at", "created_by", "updated_by"}

// Diff lists how the device's committed copy differs from want (the
// server's view, from ServerScope): records missing or extra, versions that
// differ, and fields the device holds with another value than the server.
// A field the server has and the device lacks is not a difference: the
// device's schema may not know it, and a record the device built from its
// own create (op version) lacks the server's defaults. None of that hides
// a stale value, which is what a missed or misapplied change leaves.
func (d *Device) Diff(want map[Key]Record) []string {
	var out []string
	keys := slices.SortedFunc(maps.Keys(want), compareKeys)
	for _, k := range keys {
		w := want[k]
		got, ok := d.Records[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("missing %s %s (server version %d)", k.Kind, k.ID, w.Version))
		case got.Version != w.Version:
			out = append(out, fmt.Sprintf("%s %s at version %d, server %d", k.Kind, k.ID, got.Version, w.Version))
		default:
			for _, f := range fieldDiff(got.Data, w.Data, newerFields(k.Kind, d.Schema)) {
				out = append(out, fmt.Sprintf("%s %s: %s", k.Kind, k.ID, f))
			}
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(d.Records), compareKeys) {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("extra %s %s (version %d): deleted, out of scope, or never existed", k.Kind, k.ID, d.Records[k].Version))
		}
	}
	return out
}

func compareKeys(a, b Key) int {
	if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// fieldDiff compares the fields of got with those of want, except the
// header fields, both ways: a field the server holds (not zero) must be
// on the device too, unless the device's schema does not have it (newer).
func fieldDiff(got, want json.RawMessage, newer []string) []string {
	var g, w map[string]json.RawMessage
	if err := json.Unmarshal(got, &g); err != nil {
		return []string{fmt.Sprintf("local data is not an object: %s", got)}
	}
	if err := json.Unmarshal(want, &w); err != nil {
		return []string{fmt.Sprintf("server data is not an object: %s", want)}
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(g)) {
		if slices.Contains(metaFields, name) {
			continue
		}
		sv, ok := w[name]
		if !sameJSON(g[name], sv, ok) {
			shown := "absent"
			if ok {
				shown = string(sv)
			}
			out = append(out, fmt.Sprintf("field %s is %s on the device, %s on the server", name, g[name], shown))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(w)) {
		if _, ok := g[name]; !ok && !slices.Contains(metaFields, name) && !slices.Contains(newer, name) && !isZeroJSON(w[name]) {
			out = append(out, fmt.Sprintf("field %s is absent on the device, %s on the server", name, w[name]))
		}
	}
	return out
}

// newerFields are the fields of kind that schemas after schema added: a
// pull for that schema leaves them out.
func newerFields(kind domain.EntityKind, schema int) []string {
	var out []string
	for _, c := range fsync.SchemaHistory() {
		if c.Kind == kind && c.Since > schema {
			out = append(out, c.Fields...)
		}
	}
	return out
}

// sameJSON compares two JSON values the way the records mean them: an
// absent server field (omitempty) equals a zero value; times equal at the
// microseconds the database keeps; objects and arrays structurally.
func sameJSON(a, b json.RawMessage, present bool) bool {
	if !present {
		return isZeroJSON(a)
	}
	if bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b)) {
		return true
	}
	var av, bv any
	if json.Unmarshal(a, &av) != nil || json.Unmarshal(b, &bv) != nil {
		return false
	}
	return sameValue(av, bv)
}

func sameValue(a, b any) bool {
	switch av := a.(type) {
	case string:
		bs, ok := b.(string)
		if !ok {
			return false
		}
		if av == bs {
			return true
		}
		at, aerr := time.Parse(time.RFC3339Nano, av)
		bt, berr := time.Parse(time.RFC3339Nano, bs)
		return aerr == nil && berr == nil && at.Truncate(time.Microsecond).Equal(bt.Truncate(time.Microsecond))
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(av) != len(bm) {
			return false
		}
		for k, v := range av {
			if w, ok := bm[k]; !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		bs, ok := b.([]any)
		if !ok || len(av) != len(bs) {
			return false
		}
		for i := range av {
			if !sameValue(av[i], bs[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

func isZeroJSON(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// RequireScope fails the test unless the device's committed copy is
// exactly its user's scope on the server: the protocol's own checksums
// agree (RequireConverged) and every record, version and field the device
// holds equals the store's (Diff against ServerScope). Call it only when
// nothing writes to the organization.
func (d *Device) RequireScope(tb testing.TB, s SnapshotReader) {
	tb.Helper()
	if len(d.Violations) > 0 {
		tb.Fatalf("synctest: device %s saw protocol violations: %v", d.ClientID, d.Violations)
	}
	want, err := ServerScope(context.Background(), s, d.Principal)
	if err != nil {
		tb.Fatal(err)
	}
	diff := d.Diff(want)
	bad, err := d.Mismatch(context.Background())
	if err != nil {
		tb.Fatalf("synctest: checksums: %v", err)
	}
	if len(diff) > 0 || len(bad) > 0 {
		if len(diff) > 20 {
			diff = append(diff[:20], fmt.Sprintf("… and %d more", len(diff)-20))
		}
		tb.Fatalf("synctest: device %s of %s (%s) differs from the server's view of its scope (checksums differ in %v):\n  %s",
			d.ClientID, d.Principal.UserID, d.Principal.Role, bad, strings.Join(diff, "\n  "))
	}
}

// View is what the app shows for a record: the committed copy with the
// device's pending mutations of it re-applied on top (none of the rejected
// ones), as the protocol asks after every page. ok is false when the app
// shows no such record.
func (d *Device) View(kind domain.EntityKind, id string) (json.RawMessage, bool) {
	r, ok := d.Records[Key{kind, id}]
	data := r.Data
	if !ok {
		data = nil
	}
	for _, m := range d.Pending {
		if o, rejected := d.Outcomes[m.ID]; rejected && o.Kind == domain.OutcomeRejected {
			continue
		}
		if k, mid := Target(m); k == kind && mid == id {
			data = d.apply(data, m)
		}
	}
	return data, data != nil
}

// ViewField decodes one field of View into dst; false if the app shows no
// such record or field.
func (d *Device) ViewField(kind domain.EntityKind, id, field string, dst any) bool {
	data, ok := d.View(kind, id)
	if !ok {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return false
	}
	raw, ok := m[field]
	return ok && json.Unmarshal(raw, dst) == nil
}

// Unpushed returns the pending mutations the server has not acknowledged:
// what the device sends on its next push.
func (d *Device) Unpushed() []fsync.Mutation {
	var out []fsync.Mutation
	for _, m := range d.Pending {
		if m.ID > d.LastMutationID {
			out = append(out, m)
		}
	}
	return out
}

// PushPending pushes every unacknowledged mutation as one batch (a client's
// ordinary push), in batches of at most fsync.MaxMutationsPerPush.
func (d *Device) PushPending(ctx context.Context) error {
	for {
		ms := d.Unpushed()
		if len(ms) == 0 {
			return nil
		}
		ms = ms[:min(len(ms), fsync.MaxMutationsPerPush)]
		resp, err := d.Push(ctx, ms...)
		if err != nil {
			return err
		}
		if resp.Gap != nil {
			return fmt.Errorf("synctest: push of %d..%d: gap %+v", ms[0].ID, ms[len(ms)-1].ID, *resp.Gap)
		}
		if resp.LastMutationID < ms[len(ms)-1].ID {
			return fmt.Errorf("synctest: push of %d..%d acknowledged only %d", ms[0].ID, ms[len(ms)-1].ID, resp.LastMutationID)
		}
	}
}

// Sync pushes what is pending and pulls until has_more is false.
func (d *Device) Sync(ctx context.Context) error {
	if err := d.PushPending(ctx); err != nil {
		return err
	}
	_, err := d.Pull(ctx)
	return err
}

// MustSync is Sync that fails the test on an error.
func (d *Device) MustSync(tb testing.TB) {
	tb.Helper()
	if err := d.Sync(context.Background()); err != nil {
		tb.Fatalf("synctest: sync of device %s (%s): %v", d.ClientID, d.Principal.Role, err)
	}
}
