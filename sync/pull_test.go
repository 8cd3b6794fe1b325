package sync_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

// Guarantee 10: a snapshot streams the whole scope in pages of at most
// limit records, ends (with the changes made meanwhile) equal to the scope,
// and resumes from any page's cursor.
func TestSnapshotPaging(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		trees := []tree{b.tree(t, b.repA, b.techT), b.tree(t, b.repB, nil), b.tree(t, b.repA, nil)}
		for i := range 4 {
			b.lead(t, b.repA, func(l *domain.Lead) { l.FirstName = fmt.Sprint("Extra ", i) })
		}
		const limit = 3
		d := synctest.NewDevice(t, b.e, b.asManager)
		d.Limit = limit

		var saved []*synctest.Device
		var pages []fsync.PullResponse
		for i := 0; ; i++ {
			saved = append(saved, d.Clone())
			resp, err := d.PullPage(ctx, d.PullRequest())
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, resp)
			if len(resp.Changes) > limit {
				t.Fatalf("page %d has %d changes, limit %d", i, len(resp.Changes), limit)
			}
			if i == 0 && (!resp.Reset || resp.ResetReason != fsync.ResetInitial) {
				t.Fatalf("first page of a new device: reset %v reason %q", resp.Reset, resp.ResetReason)
			}
			if i > 0 && resp.Reset {
				t.Fatalf("page %d starts another reset", i)
			}
			if i == 4 {
				// Writes in the middle of the session reach the device
				// before the session ends.
				sqltest.Lead(t, s, b.asManager, func(l *domain.Lead) { l.FirstName, l.Phone = "Late", "248-555-0100" })
				if err := s.Write(ctx, b.asManager, func(tx domain.Tx) error {
					return tx.Delete(domain.KindInteraction, trees[0].interaction.ID)
				}); err != nil {
					t.Fatal(err)
				}
			}
			if !resp.HasMore {
				break
			}
			if !d.Staging() {
				t.Fatalf("page %d: the session was swapped in before it ended", i)
			}
		}
		if len(pages) < 8 {
			t.Fatalf("only %d pages for a scope of %d records at limit %d", len(pages), len(d.Records), limit)
		}
		d.RequireConverged(t)
		if d.Has(domain.KindInteraction, trees[0].interaction.ID) {
			t.Fatal("a record deleted during the snapshot survived it")
		}
		// Every page's cursor resumes the session: a dropped connection
		// costs one page.
		for i := 1; i < len(saved); i++ {
			again := saved[i]
			if _, err := again.Pull(ctx); err != nil {
				t.Fatalf("resume from page %d: %v", i, err)
			}
			again.RequireConverged(t)
		}
	})
}

// Guarantee 11: another epoch, a cursor below the history floor, a role
// change, another user's cursor and garbage all force a reset that ends
// in the scope; a repair re-sends just the kinds asked for.
func TestResets(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		tr := b.tree(t, b.repA, nil)
		d := synctest.NewDevice(t, b.e, b.asA)
		d.MustPull(t)
		d.RequireConverged(t)
		expectReset := func(reason string) {
			t.Helper()
			before := len(d.Resets)
			d.MustPull(t)
			if len(d.Resets) != before+1 || d.Resets[before] != reason {
				t.Fatalf("resets %v, want a new %q", d.Resets, reason)
			}
			d.RequireConverged(t)
			d.MustPull(t)
			if len(d.Resets) != before+1 {
				t.Fatalf("reset %q repeated: %v", reason, d.Resets)
			}
		}

		if _, err := s.RotateEpoch(ctx, b.org.ID); err != nil {
			t.Fatal(err)
		}
		expectReset(fsync.ResetEpoch)

		b.lead(t, b.repA)
		if _, err := s.PruneHistory(ctx, b.org.ID, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		expectReset(fsync.ResetHistoryExpired)

		garbage := d.Cursor[:len(d.Cursor)-4] + "AAAA"
		d.Cursor = garbage
		expectReset(fsync.ResetCursorInvalid)

		// The phone changes hands: another user signs in, the app keeps
		// its client id registration per user, but the cursor is stale.
		other := synctest.NewDevice(t, b.e, b.asB)
		other.Cursor = d.Cursor
		other.MustPull(t)
		if len(other.Resets) != 1 || other.Resets[0] != fsync.ResetForeignCursor {
			t.Fatalf("foreign cursor: resets %v", other.Resets)
		}
		other.RequireConverged(t)

		// A damaged local copy is repaired kind by kind.
		delete(d.Records, synctest.Key{Kind: domain.KindProject, ID: tr.project.ID})
		bad, err := d.Mismatch(ctx)
		if err != nil || !slices.Equal(bad, []domain.EntityKind{domain.KindProject}) {
			t.Fatalf("mismatch = %v, %v; want project", bad, err)
		}
		b.lead(t, b.repA) // a change of another kind during the repair
		req := d.PullRequest()
		req.RepairKinds = []domain.EntityKind{domain.KindProject}
		resp, err := d.PullPage(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !resp.Reset || resp.ResetReason != fsync.ResetRepair || !slices.Equal(resp.ResetKinds, []domain.EntityKind{domain.KindProject}) {
			t.Fatalf("repair page: reset %v %q %v", resp.Reset, resp.ResetReason, resp.ResetKinds)
		}
		d.MustPull(t)
		d.RequireConverged(t)

		// A role change reshapes the scope: the rep becomes a manager.
		theirs := b.lead(t, b.repB)
		if err := s.Write(ctx, b.asAdmin, func(tx domain.Tx) error {
			u := find[*domain.User](t, b, domain.KindUser, b.repA.ID)
			u.Role = domain.RoleManager
			return tx.Update(u)
		}); err != nil {
			t.Fatal(err)
		}
		d.Principal.Role = domain.RoleManager
		expectReset(fsync.ResetRoleChanged)
		if !d.Has(domain.KindLead, theirs.ID) {
			t.Fatal("after becoming a manager the device lacks another rep's lead")
		}
	})
}

// Guarantee 13: an app two schema versions back syncs the same records
// without the fields it does not know, cannot name them, and never erases
// them.
func TestOldSchemaClient(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		tr := b.tree(t, b.repA, b.techT)
		lead := b.lead(t, b.repA, func(l *domain.Lead) { l.WhiteGlove, l.RoutingRule = true, "top_performer" })
		old := synctest.NewDeviceSchema(t, b.e, b.asA, 1)
		cur := synctest.NewDeviceSchema(t, b.e, b.asA, fsync.SchemaVersion)
		old.MustPull(t)
		cur.MustPull(t)
		for _, f := range []string{"white_glove", "routing_rule", "score_breakdown"} {
			var v any
			if old.Field(domain.KindLead, lead.ID, f, &v) {
				t.Errorf("schema 1 device got lead.%s", f)
			}
			if !cur.Field(domain.KindLead, lead.ID, f, &v) {
				t.Errorf("current device lacks lead.%s", f)
			}
		}
		for _, f := range []string{"width", "height", "processing_state"} {
			var v any
			if old.Field(domain.KindPhoto, tr.photo.ID, f, &v) {
				t.Errorf("schema 1 device got photo.%s", f)
			}
		}
		var score int
		if !old.Field(domain.KindLead, lead.ID, "score", &score) {
			t.Error("schema 1 device lacks lead.score, a field it knows")
		}

		base := version(old, domain.KindLead, lead.ID)
		unknown := old.MustPush(t, "lead.update", update(lead.ID, base, map[string]any{"white_glove": false}))
		old.MustPush(t, "lead.update", update(lead.ID, base, map[string]any{"notes": "from the old app"}))
		old.MustPull(t)
		requireOutcome(t, old, unknown.ID, domain.OutcomeRejected, string(fsync.RejectUnknownField))
		got := find[*domain.Lead](t, b, domain.KindLead, lead.ID)
		if !got.WhiteGlove || got.RoutingRule != "top_performer" || got.Notes != "from the old app" {
			t.Fatalf("after the old app's edit: white_glove %v routing_rule %q notes %q", got.WhiteGlove, got.RoutingRule, got.Notes)
		}
		// A schema 2 app knows white_glove but not the breakdown.
		mid := synctest.NewDeviceSchema(t, b.e, b.asA, 2)
		mid.MustPull(t)
		var v any
		if !mid.Field(domain.KindLead, lead.ID, "white_glove", &v) || mid.Field(domain.KindLead, lead.ID, "score_breakdown", &v) {
			t.Error("schema 2 device: wrong lead fields")
		}
		old.RequireConverged(t)
	})
}

// Unserved versions get upgrade_required; devices must be registered and
// their own.
func TestVersionsAndClients(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		d := synctest.NewDevice(t, b.e, b.asA)
		for _, v := range []fsync.Versions{
			{ProtocolVersion: 2, SchemaVersion: 3}, {ProtocolVersion: 1, SchemaVersion: 4},
			{ProtocolVersion: 1, SchemaVersion: 0}, {ProtocolVersion: 0, SchemaVersion: 3},
		} {
			req := d.PushRequest(d.Mutation("lead.create", map[string]any{}))
			req.Versions = v
			_, err := b.e.Push(ctx, b.asA, req)
			if v.ProtocolVersion == 0 || v.SchemaVersion == 0 {
				sqltest.RequireCode(t, err, domain.CodeInvalid)
			} else {
				sqltest.RequireCode(t, err, domain.CodeUpgradeRequired)
			}
			d.Next--
			preq := d.PullRequest()
			preq.Versions = v
			if _, err := b.e.Pull(ctx, b.asA, preq); err == nil {
				t.Fatalf("pull with %+v succeeded", v)
			}
			if _, err := b.e.RegisterDevice(ctx, b.asA, fsync.DeviceRegistration{Versions: v, ClientID: synctest.NewID(), Platform: domain.PlatformAndroid}); err == nil {
				t.Fatalf("register with %+v succeeded", v)
			}
		}
		// Nothing was processed by the refused pushes.
		if probe, err := d.Push(ctx); err != nil || probe.LastMutationID != 0 {
			t.Fatalf("probe = %+v, %v", probe, err)
		}

		stranger := d.PushRequest()
		stranger.ClientID = synctest.NewID()
		_, err := b.e.Push(ctx, b.asA, stranger)
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		if !strings.Contains(domain.ErrorMessage(err), "register") {
			t.Fatalf("unknown client message %q does not say to register", domain.ErrorMessage(err))
		}
		_, err = b.e.Push(ctx, b.asB, d.PushRequest())
		sqltest.RequireCode(t, err, domain.CodeForbidden)
		_, err = b.e.Pull(ctx, b.asB, d.PullRequest())
		sqltest.RequireCode(t, err, domain.CodeForbidden)
		_, err = b.e.Checksums(ctx, b.asB, d.ClientID)
		sqltest.RequireCode(t, err, domain.CodeForbidden)
		_, err = b.e.RegisterDevice(ctx, b.asB, fsync.DeviceRegistration{
			Versions: fsync.Versions{ProtocolVersion: 1, SchemaVersion: 3}, ClientID: d.ClientID, Platform: domain.PlatformIOS})
		sqltest.RequireCode(t, err, domain.CodeForbidden)
		_, err = b.e.RegisterDevice(ctx, b.asA, fsync.DeviceRegistration{
			Versions: fsync.Versions{ProtocolVersion: 1, SchemaVersion: 3}, ClientID: d.ClientID, Platform: "blackberry"})
		sqltest.RequireCode(t, err, domain.CodeInvalid)

		// Registering again keeps the sync state and refreshes the token.
		d.MustPush(t, "lead.create", map[string]any{"id": synctest.NewID(), "first_name": "Kim", "phone": "248-555-0100"})
		c, err := b.e.RegisterDevice(ctx, b.asA, fsync.DeviceRegistration{
			Versions: fsync.Versions{ProtocolVersion: 1, SchemaVersion: 2, AppVersion: "3.0"}, ClientID: d.ClientID,
			Platform: domain.PlatformIOS, PushToken: "new-token"})
		if err != nil || c.LastMutationID != 1 || c.SchemaVersion != 2 || c.UserID != b.repA.ID {
			t.Fatalf("re-register = %+v, %v", c, err)
		}
		dev := find[*domain.Device](t, b, domain.KindDevice, d.ClientID)
		if dev.PushToken != "new-token" || dev.UserID != b.repA.ID || dev.AppVersion != "3.0" {
			t.Fatalf("device record = %+v", dev)
		}
	})
}

// Guarantee 16: Explain says why a device does or does not hold a record.
func TestExplain(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		lead := b.lead(t, b.repA)
		d := synctest.NewDevice(t, b.e, b.asA)
		d.MustPull(t)
		bad := d.MustPush(t, "lead.set_status", map[string]any{"id": lead.ID, "status": "won"})
		// One page: the outcome arrives; the device acknowledges it with
		// its next pull.
		if _, err := d.PullPage(ctx, d.PullRequest()); err != nil {
			t.Fatal(err)
		}

		_, err := b.e.Explain(ctx, b.asA, d.ClientID, domain.KindLead, lead.ID)
		sqltest.RequireCode(t, err, domain.CodeForbidden)
		_, err = b.e.Explain(ctx, b.asManager, d.ClientID, domain.KindDevice, lead.ID)
		sqltest.RequireCode(t, err, domain.CodeInvalid)

		rep, err := b.e.Explain(ctx, b.asManager, d.ClientID, domain.KindLead, lead.ID)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := s.SyncState(ctx, b.org.ID)
		if rep.UserID != b.repA.ID || rep.Role != string(domain.RoleSales) || rep.LastMutationID != bad.ID ||
			rep.CursorSeq != st.Seq || rep.OrgSeq != st.Seq || rep.LastPullAt == nil || rep.LastPushAt == nil {
			t.Fatalf("report = %+v (org seq %d)", rep, st.Seq)
		}
		if len(rep.Pending) != 1 || rep.Pending[0].MutationID != bad.ID {
			t.Fatalf("pending = %+v", rep.Pending)
		}
		if r := rep.Record; r == nil || !r.Exists || !r.InScope || !r.Delivered || !strings.Contains(r.Reason, "delivered") {
			t.Fatalf("record report = %+v", rep.Record)
		}

		mgr := synctest.NewDevice(t, b.e, b.asManager)
		mgr.MustPull(t)
		mgr.MustPush(t, "lead.update", update(lead.ID, version(mgr, domain.KindLead, lead.ID), map[string]any{"assigned_to": b.repB.ID}))
		rep, err = b.e.Explain(ctx, b.asManager, d.ClientID, domain.KindLead, lead.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r := rep.Record; r.InScope || !strings.Contains(r.Reason, b.repB.ID) {
			t.Fatalf("after reassignment: %+v", r)
		}
		d.MustPull(t)
		rep, _ = b.e.Explain(ctx, b.asManager, d.ClientID, "", "")
		if len(rep.Pending) != 0 || rep.Record != nil {
			t.Fatalf("after the ack: pending %+v record %+v", rep.Pending, rep.Record)
		}
		rep, _ = b.e.Explain(ctx, b.asManager, d.ClientID, domain.KindLead, synctest.NewID())
		if rep.Record.Exists || !strings.Contains(rep.Record.Reason, "no lead") {
			t.Fatalf("missing record: %+v", rep.Record)
		}
		if err := s.Write(ctx, b.asManager, func(tx domain.Tx) error { return tx.Delete(domain.KindLead, lead.ID) }); err != nil {
			t.Fatal(err)
		}
		rep, _ = b.e.Explain(ctx, b.asManager, d.ClientID, domain.KindLead, lead.ID)
		if rep.Record.Exists || !strings.Contains(rep.Record.Reason, "deleted") {
			t.Fatalf("deleted record: %+v", rep.Record)
		}
	})
}
