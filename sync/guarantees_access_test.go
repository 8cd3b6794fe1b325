package sync_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

// bigTree is a lead of owner with two of everything that hangs under it:
// appointments (one under the lead, one under its project), interactions
// and photos.
func (b *bundle) bigTree(t *testing.T, owner, tech *domain.User) []synctest.Key {
	t.Helper()
	tr := b.tree(t, owner, tech)
	keys := tr.keys()
	a := sqltest.Appointment(t, b.s, b.asManager, func(a *domain.Appointment) { a.ProjectID = tr.project.ID })
	i := sqltest.Interaction(t, b.s, b.asManager, func(i *domain.Interaction) { i.ProjectID = tr.project.ID })
	p := sqltest.Photo(t, b.s, b.asManager, func(p *domain.Photo) {
		p.ProjectID, p.SHA256, p.ByteSize, p.ContentType = tr.project.ID, sha, 2000, "image/jpeg"
	})
	return append(keys, synctest.Key{Kind: domain.KindAppointment, ID: a.ID},
		synctest.Key{Kind: domain.KindInteraction, ID: i.ID}, synctest.Key{Kind: domain.KindPhoto, ID: p.ID})
}

func keyID(keys []synctest.Key, kind domain.EntityKind) string {
	for _, k := range keys {
		if k.Kind == kind {
			return k.ID
		}
	}
	return ""
}

// setRole changes a user's role through the store, as the admin app does.
func setRole(t *testing.T, b *bundle, u *domain.User, role domain.Role) {
	t.Helper()
	edit(t, b.s, b.asAdmin, domain.KindUser, u.ID, func(x *domain.User) { x.Role = role })
}

// Guarantee 7: access changes are sync events.
//
// Guards against a reassigned lead that stays on the old rep's phone (or
// never reaches the new rep's, because nothing under it changed after the
// new rep's cursor), against the old rep's pending edits vanishing without
// a word, and against the same for a tech taken off a project, a
// deactivated user and a changed role.
func TestGuarantee07AccessChanges(t *testing.T) {
	t.Parallel()
	t.Run("lead reassigned", func(t *testing.T) {
		sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
			b := setup(t, s)
			tree := b.bigTree(t, b.repA, nil)
			leadID := keyID(tree, domain.KindLead)
			a := synctest.NewDevice(t, b.e, b.asA)
			bb := synctest.NewDevice(t, b.e, b.asB)
			mgr := synctest.NewDevice(t, b.e, b.asManager)
			for _, d := range []*synctest.Device{a, bb, mgr} {
				d.MustPull(t)
			}
			// B's cursor is now past every record of the tree.
			pending := []fsync.Mutation{
				a.Mutation("lead.update", update(leadID, version(a, domain.KindLead, leadID), map[string]any{"notes": "call after 5"})),
				a.Mutation("appointment.update", update(keyID(tree, domain.KindAppointment), version(a, domain.KindAppointment, keyID(tree, domain.KindAppointment)), map[string]any{"notes": "gate code"})),
				a.Mutation("interaction.log", map[string]any{"id": synctest.NewID(), "lead_id": leadID, "kind": "call", "occurred_at": at(9, 0)}),
			}
			mgr.MustPush(t, "lead.update", update(leadID, version(mgr, domain.KindLead, leadID), map[string]any{"assigned_to": b.repB.ID}))

			gotA := lastChanges(a.MustPull(t))
			gotB := lastChanges(bb.MustPull(t))
			for _, k := range tree {
				if c := gotA[k]; c.Op != fsync.OpDelete {
					t.Errorf("A's next pull gave %s %+v, want a delete", k.Kind, c)
				}
				if c := gotB[k]; c.Op != fsync.OpPut {
					t.Errorf("B's next pull gave %s %+v, want a put", k.Kind, c)
				}
				if a.Has(k.Kind, k.ID) || !bb.Has(k.Kind, k.ID) {
					t.Errorf("%s: A has it %v, B has it %v", k.Kind, a.Has(k.Kind, k.ID), bb.Has(k.Kind, k.ID))
				}
			}
			if err := a.PushPending(ctx); err != nil {
				t.Fatal(err)
			}
			a.MustPull(t)
			for _, m := range pending {
				o := requireOutcome(t, a, m.ID, domain.OutcomeRejected, string(fsync.RejectNotFound))
				if !strings.Contains(o.Message, "no longer shared") {
					t.Errorf("rejection of %s says %q: not why", m.Name, o.Message)
				}
			}
			if l := find[*domain.Lead](t, b, domain.KindLead, leadID); l.Notes == "call after 5" || l.InteractionCount != 0 {
				t.Errorf("A's pending edits reached a lead no longer theirs: notes %q, %d logged calls", l.Notes, l.InteractionCount)
			}
			for _, d := range []*synctest.Device{a, bb, mgr} {
				d.MustPull(t)
				d.RequireScope(t, s)
			}
		})
	})
	t.Run("tech taken off a project", func(t *testing.T) {
		sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
			b := setup(t, s)
			techU := sqltest.User(t, s, b.org, domain.RoleFieldTech)
			tree := b.bigTree(t, b.repA, b.techT)
			projectID := keyID(tree, domain.KindProject)
			tT := synctest.NewDevice(t, b.e, b.asT)
			tU := synctest.NewDevice(t, b.e, sqltest.As(techU))
			mgr := synctest.NewDevice(t, b.e, b.asManager)
			for _, d := range []*synctest.Device{tT, tU, mgr} {
				d.MustPull(t)
			}
			held := func(d *synctest.Device) []synctest.Key {
				var out []synctest.Key
				for _, k := range tree {
					if d.Has(k.Kind, k.ID) {
						out = append(out, k)
					}
				}
				return out
			}
			before := held(tT)
			if len(before) < 5 || len(held(tU)) != 0 {
				t.Fatalf("before: T holds %d records of the job, U %d", len(before), len(held(tU)))
			}
			photo := tree[len(tree)-1].ID
			pending := tT.Mutation("photo.update", update(photo, version(tT, domain.KindPhoto, photo), map[string]any{"caption": "valley"}))
			mgr.MustPush(t, "project.update", update(projectID, version(mgr, domain.KindProject, projectID), map[string]any{"assigned_tech": techU.ID}))
			tT.MustPull(t)
			tU.MustPull(t)
			if got := held(tT); len(got) != 0 {
				t.Errorf("T still holds %v", got)
			}
			if got := held(tU); !slices.Equal(got, before) {
				t.Errorf("U holds %v, want what T held: %v", got, before)
			}
			if err := tT.PushPending(ctx); err != nil {
				t.Fatal(err)
			}
			tT.MustPull(t)
			requireOutcome(t, tT, pending.ID, domain.OutcomeRejected, string(fsync.RejectNotFound))
			for _, d := range []*synctest.Device{tT, tU, mgr} {
				d.MustPull(t)
				d.RequireScope(t, s)
			}
		})
	})
	t.Run("user deactivated", func(t *testing.T) {
		sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
			b := setup(t, s)
			tree := b.bigTree(t, b.repA, nil)
			h := newHTTPHarness(t, s, b.e)
			a := synctest.NewDevice(t, b.e, b.asA)
			bb := synctest.NewDevice(t, b.e, b.asB)
			a.MustPull(t)
			bb.MustPull(t)
			token := h.token(b.repA)
			pull := map[string]any{"protocol_version": 1, "schema_version": fsync.SchemaVersion, "app_version": "t",
				"client_id": a.ClientID, "cursor": a.Cursor, "ack_outcomes_through": 0}
			if status, body := h.do(http.MethodPost, "/v1/sync/pull", token, pull); status != http.StatusOK {
				t.Fatalf("pull over HTTP before the deactivation: %d %v", status, body)
			}
			// The admin app deactivates A and hands A's leads to B.
			edit(t, s, b.asAdmin, domain.KindUser, b.repA.ID, func(u *domain.User) { u.Active = false })
			edit(t, s, b.asManager, domain.KindLead, keyID(tree, domain.KindLead), func(l *domain.Lead) { l.AssignedTo = b.repB.ID })
			// A's still unexpired token no longer syncs anything.
			push := map[string]any{"protocol_version": 1, "schema_version": fsync.SchemaVersion, "app_version": "t",
				"client_id": a.ClientID, "mutations": []any{}}
			for _, r := range []struct {
				method, path string
				body         any
			}{
				{http.MethodPost, "/v1/sync/pull", pull},
				{http.MethodPost, "/v1/sync/push", push},
				{http.MethodGet, "/v1/sync/checksums?client_id=" + a.ClientID, nil},
				{http.MethodGet, "/v1/sync/events?client_id=" + a.ClientID, nil},
			} {
				status, body := h.do(r.method, r.path, token, r.body)
				if status != http.StatusUnauthorized || code(body) != string(domain.CodeAccountDisabled) {
					t.Errorf("%s %s by a deactivated user: %d %v, want 401 account_disabled (docs/api.md)", r.method, r.path, status, body)
				}
			}
			// B has everything A had.
			bb.MustPull(t)
			for _, k := range tree {
				if !bb.Has(k.Kind, k.ID) {
					t.Errorf("B lacks %s after the handover", k.Kind)
				}
			}
			bb.RequireScope(t, s)
			rep, err := b.e.Explain(ctx, b.asManager, a.ClientID, domain.KindLead, keyID(tree, domain.KindLead))
			if err != nil || rep.Record == nil || rep.Record.InScope {
				t.Fatalf("explain = %+v, %v", rep, err)
			}
			rep, _ = b.e.Explain(ctx, b.asManager, a.ClientID, domain.KindUser, b.repB.ID)
			if !strings.Contains(rep.Record.Reason, "deactivated") {
				t.Errorf("explain for the deactivated user's device says %q", rep.Record.Reason)
			}
		})
	})
	t.Run("role changed", func(t *testing.T) {
		sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
			b := setup(t, s)
			mine := b.bigTree(t, b.repA, nil)
			theirs := b.bigTree(t, b.repB, nil)
			d := synctest.NewDevice(t, b.e, b.asA)
			d.MustPull(t)
			pending := d.Mutation("lead.update", update(keyID(mine, domain.KindLead), version(d, domain.KindLead, keyID(mine, domain.KindLead)), map[string]any{"notes": "kept across the reset"}))
			holds := func(keys []synctest.Key) bool {
				for _, k := range keys {
					if !d.Has(k.Kind, k.ID) {
						return false
					}
				}
				return true
			}
			// Promoted: the whole organization.
			setRole(t, b, b.repA, domain.RoleManager)
			d.Principal.Role = domain.RoleManager // what authentication reads per request
			d.MustPull(t)
			if d.Resets[len(d.Resets)-1] != fsync.ResetRoleChanged || !holds(theirs) {
				t.Fatalf("after the promotion: resets %v, holds B's tree %v", d.Resets, holds(theirs))
			}
			// Back to sales: B's records leave.
			setRole(t, b, b.repA, domain.RoleSales)
			d.Principal.Role = domain.RoleSales
			d.MustPull(t)
			if d.Resets[len(d.Resets)-1] != fsync.ResetRoleChanged || !holds(mine) {
				t.Fatalf("after the demotion: resets %v", d.Resets)
			}
			for _, k := range theirs {
				if d.Has(k.Kind, k.ID) {
					t.Fatalf("the demoted rep still holds B's %s", k.Kind)
				}
			}
			if len(d.Pending) != 1 {
				t.Fatalf("pending after two resets: %v", d.Pending)
			}
			d.MustSync(t)
			requireNoOutcome(t, d, pending.ID)
			d.RequireScope(t, s)

			// Promoted and demoted again between two pulls of the
			// device, with A's lead handed to B meanwhile: while A was a
			// manager nobody had to tell A's phones anything (managers
			// see it all), so the phone's next pull as a rep must not
			// trust its cursor.
			setRole(t, b, b.repA, domain.RoleManager)
			edit(t, s, b.asManager, domain.KindLead, keyID(mine, domain.KindLead), func(l *domain.Lead) { l.AssignedTo = b.repB.ID })
			setRole(t, b, b.repA, domain.RoleSales)
			d.MustPull(t)
			for _, k := range mine {
				if d.Has(k.Kind, k.ID) {
					t.Errorf("after a promotion and demotion between two pulls, A still holds the %s handed to B", k.Kind)
				}
			}
			d.RequireScope(t, s)
		})
	})
}

// Guarantee 13: schema versions.
//
// Guards against an old app that breaks on records with fields it does not
// know, erases them when it saves, or loses its offline work when the
// server no longer (or not yet) serves its version.
func TestGuarantee13SchemaVersions(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		tr := b.tree(t, b.repA, b.techT)
		lead := b.lead(t, b.repA, func(l *domain.Lead) { l.WhiteGlove, l.RoutingRule = true, "top_performer" })
		edit(t, s, sqltest.System(b.org), domain.KindPhoto, tr.photo.ID, func(p *domain.Photo) {
			p.Width, p.Height, p.ProcessingState = 4032, 3024, domain.ProcessingReady
		})
		apps := map[int]*synctest.Device{}
		for _, v := range []int{1, 2, fsync.SchemaVersion} {
			apps[v] = synctest.NewDeviceSchema(t, b.e, b.asA, v)
			apps[v].MustPull(t)
		}
		tech1 := synctest.NewDeviceSchema(t, b.e, b.asT, 1)
		tech1.MustPull(t)
		// The same records at the same versions, whatever the app.
		want := apps[fsync.SchemaVersion].Checksums()
		for v, d := range apps {
			if got := d.Checksums(); !slices.Equal(got, want) {
				t.Errorf("schema %d app holds other records than the current app: %v vs %v", v, got, want)
			}
		}
		has := func(d *synctest.Device, kind domain.EntityKind, id, f string) bool {
			var v any
			return d.Field(kind, id, f, &v)
		}
		for v, fields := range map[int][2][]string{
			1: {nil, {"white_glove", "routing_rule", "score_breakdown"}},
			2: {{"white_glove", "routing_rule"}, {"score_breakdown"}},
			3: {{"white_glove", "routing_rule", "score_breakdown"}, nil},
		} {
			for _, f := range fields[0] {
				if !has(apps[v], domain.KindLead, lead.ID, f) {
					t.Errorf("schema %d app lacks lead.%s", v, f)
				}
			}
			for _, f := range fields[1] {
				if has(apps[v], domain.KindLead, lead.ID, f) {
					t.Errorf("schema %d app got lead.%s, which it does not know", v, f)
				}
			}
		}

		// Saving from an old app never erases what it does not know.
		stored := find[*domain.Lead](t, b, domain.KindLead, lead.ID)
		apps[1].MustPush(t, "lead.update", update(lead.ID, version(apps[1], domain.KindLead, lead.ID), map[string]any{"notes": "from the old app"}))
		tech1.MustPush(t, "photo.update", update(tr.photo.ID, version(tech1, domain.KindPhoto, tr.photo.ID), map[string]any{"caption": "north slope"}))
		got := find[*domain.Lead](t, b, domain.KindLead, lead.ID)
		if got.Notes != "from the old app" || !got.WhiteGlove || got.RoutingRule != "top_performer" ||
			!jsonEqual(t, got.ScoreBreakdown, stored.ScoreBreakdown) {
			t.Errorf("after the schema 1 app saved: notes %q white_glove %v routing_rule %q breakdown changed %v",
				got.Notes, got.WhiteGlove, got.RoutingRule, !jsonEqual(t, got.ScoreBreakdown, stored.ScoreBreakdown))
		}
		ph := find[*domain.Photo](t, b, domain.KindPhoto, tr.photo.ID)
		if ph.Caption != "north slope" || ph.Width != 4032 || ph.Height != 3024 || ph.ProcessingState != domain.ProcessingReady {
			t.Errorf("after the schema 1 tech app saved the photo: %+v", ph)
		}
		for _, d := range append(slices.Collect(mapValues(apps)), tech1) {
			d.MustPull(t)
			d.RequireScope(t, s)
		}

		// An app the server does not serve (too new a schema or
		// protocol) gets upgrade_required for everything, and keeps its
		// offline work for when it can sync again.
		d := synctest.NewDevice(t, b.e, b.asA)
		d.MustPull(t)
		offline := []fsync.Mutation{
			d.Mutation("lead.update", update(lead.ID, version(d, domain.KindLead, lead.ID), map[string]any{"city": "Royal Oak"})),
			d.Mutation("interaction.log", map[string]any{"id": synctest.NewID(), "lead_id": lead.ID, "kind": "note", "occurred_at": at(8, 0)}),
		}
		for _, v := range []struct{ protocol, schema int }{{1, fsync.SchemaVersion + 1}, {fsync.ProtocolVersion + 1, fsync.SchemaVersion}} {
			d.Protocol, d.Schema = v.protocol, v.schema
			_, err := d.Push(ctx, offline...)
			sqltest.RequireCode(t, err, domain.CodeUpgradeRequired)
			_, err = d.Pull(ctx)
			sqltest.RequireCode(t, err, domain.CodeUpgradeRequired)
			if len(d.Pending) != 2 {
				t.Fatalf("pending after upgrade_required: %v", d.Pending)
			}
		}
		if l := find[*domain.Lead](t, b, domain.KindLead, lead.ID); l.City == "Royal Oak" {
			t.Fatal("a refused app's mutation was applied")
		}
		d.Protocol, d.Schema = fsync.ProtocolVersion, fsync.SchemaVersion // the app is updated
		d.MustSync(t)
		if l := find[*domain.Lead](t, b, domain.KindLead, lead.ID); l.City != "Royal Oak" || l.InteractionCount != 1 {
			t.Fatalf("after the update the offline work did not apply: city %q, %d interactions", l.City, l.InteractionCount)
		}
		for _, m := range offline {
			requireNoOutcome(t, d, m.ID)
		}
		d.RequireScope(t, s)
	})
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(x) == string(y)
}

// Guarantee 14: side effects exactly once.
//
// Guards against a job (a new-lead alert, a thumbnail, an SMS) enqueued
// apart from the write that causes it: lost when the process dies between
// commit and enqueue, or sent for a write that rolled back. The outbox
// commits with the data; the relay that moves it to the job queue, and
// its crash between enqueue and mark, are tested in
// jobs/relay_test.go (TestRelayOnceRecoversFromCrashBetweenEnqueueAndMark,
// TestRelayOnceNeverSeesRolledBackMessages, TestConcurrentRelaysEnqueueEachMessageOnce).
// The write here is a store.Write with tx.Enqueue, as intake and the
// workers do; lead.create's own alert chain is tested by
// TestLeadCreateStartsTheAlertChainForOthers.
func TestGuarantee14SideEffectsOnce(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		d := synctest.NewDevice(t, b.e, b.asA)
		d.MustPull(t)
		newLead := func(name string) *domain.Lead {
			return &domain.Lead{Source: "web", FirstName: name, Phone: "248-555-0100", Status: domain.LeadNew, AssignedTo: b.repA.ID}
		}
		alert := func(id, leadID string) domain.OutboxMessage {
			payload, _ := json.Marshal(map[string]string{"lead_id": leadID})
			// The message id is the job's task id: deterministic per
			// cause, so a second enqueue of the same effect is refused.
			return domain.OutboxMessage{ID: id, Kind: "lead.alert", Payload: payload}
		}
		claims := 0
		claim := func() map[string]domain.OutboxMessage {
			t.Helper()
			// Each claim hours after the last, so that no earlier
			// claim's lease hides a message.
			claims++
			msgs, err := s.ClaimOutbox(ctx, 100, time.Now().Add(time.Duration(claims)*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]domain.OutboxMessage{}
			for _, m := range msgs {
				out[m.ID] = m
			}
			return out
		}

		// Committed: the record and its message, together.
		kept, keptMsg := newLead("Kept"), synctest.NewID()
		if err := s.Write(ctx, sqltest.System(b.org), func(tx domain.Tx) error {
			if err := tx.Create(kept); err != nil {
				return err
			}
			return tx.Enqueue(alert(keptMsg, kept.ID))
		}); err != nil {
			t.Fatal(err)
		}
		msgs := claim()
		if m, ok := msgs[keptMsg]; !ok || m.Kind != "lead.alert" || !strings.Contains(string(m.Payload), kept.ID) {
			t.Fatalf("outbox after the commit: %+v", msgs)
		}
		d.MustPull(t)
		if !d.Has(domain.KindLead, kept.ID) {
			t.Fatal("the committed lead did not sync")
		}

		// Rolled back (a rule failed after the enqueue): neither.
		seq := seqOf(t, s, b.org.ID)
		lost, lostMsg := newLead("Lost"), synctest.NewID()
		failed := errors.New("the routing rules refused the lead")
		err := s.Write(ctx, sqltest.System(b.org), func(tx domain.Tx) error {
			if err := tx.Create(lost); err != nil {
				return err
			}
			if err := tx.Enqueue(alert(lostMsg, lost.ID)); err != nil {
				return err
			}
			return failed
		})
		if !errors.Is(err, failed) {
			t.Fatalf("write = %v, want the rule's error", err)
		}
		// The same cause enqueued again (a retried webhook): the id is
		// taken, and the record written with it rolls back too.
		dup := newLead("Duplicate")
		err = s.Write(ctx, sqltest.System(b.org), func(tx domain.Tx) error {
			if err := tx.Create(dup); err != nil {
				return err
			}
			return tx.Enqueue(alert(keptMsg, kept.ID))
		})
		sqltest.RequireCode(t, err, domain.CodeConflict)

		for _, id := range []string{lost.ID, dup.ID} {
			if _, err := s.FindRecord(ctx, b.org.ID, domain.KindLead, id); !domain.IsCode(err, domain.CodeNotFound) {
				t.Errorf("a rolled-back lead exists (%v)", err)
			}
		}
		if got := seqOf(t, s, b.org.ID); got != seq {
			t.Errorf("rolled-back writes moved the sequence from %d to %d", seq, got)
		}
		msgs = claim()
		if _, ok := msgs[lostMsg]; ok || len(msgs) != 1 {
			t.Errorf("outbox after the rollbacks: %+v, want only the committed message", msgs)
		}
		pages := d.MustPull(t)
		if n := len(lastChanges(pages)); n != 0 {
			t.Errorf("rolled-back writes reached the device: %d changes", n)
		}
		d.RequireScope(t, s)
	})
}

// Guarantee 15: authorization.
//
// Guards against a device pushing or pulling as another user (a stolen or
// mistaken client id), changing a record outside its user's scope, and a
// photo (record or bytes) reaching someone whose scope does not hold it,
// even knowing its id or its hash.
func TestGuarantee15Authorization(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		trA := b.tree(t, b.repA, b.techT)
		trB := b.tree(t, b.repB, nil)
		h := newHTTPHarness(t, s, b.e)
		dA := synctest.NewDevice(t, b.e, b.asA)
		dB := synctest.NewDevice(t, b.e, b.asB)
		dA.MustPull(t)
		dB.MustPull(t)

		// B with A's client id: refused by the engine and over HTTP.
		_, err := b.e.Push(ctx, b.asB, dA.PushRequest())
		sqltest.RequireCode(t, err, domain.CodeForbidden)
		_, err = b.e.Pull(ctx, b.asB, dA.PullRequest())
		sqltest.RequireCode(t, err, domain.CodeForbidden)
		_, err = b.e.Checksums(ctx, b.asB, dA.ClientID)
		sqltest.RequireCode(t, err, domain.CodeForbidden)
		tokenB := h.token(b.repB)
		status, body := h.do(http.MethodPost, "/v1/sync/pull", tokenB, map[string]any{"protocol_version": 1,
			"schema_version": fsync.SchemaVersion, "app_version": "t", "client_id": dA.ClientID, "cursor": "", "ack_outcomes_through": 0})
		if status != http.StatusForbidden || code(body) != string(domain.CodeForbidden) {
			t.Errorf("pull with another user's client id over HTTP: %d %v", status, body)
		}
		// A user of another organization with A's client id: unknown.
		other := setup(t, s)
		_, err = other.e.Pull(ctx, other.asA, fsync.PullRequest{Versions: dA.PullRequest().Versions, ClientID: dA.ClientID})
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		// Registering A's client id as B's device is refused too.
		_, err = b.e.RegisterDevice(ctx, b.asB, fsync.DeviceRegistration{Versions: dA.PullRequest().Versions, ClientID: dA.ClientID, Platform: domain.PlatformIOS})
		sqltest.RequireCode(t, err, domain.CodeForbidden)
		// Nothing was applied for anyone.
		if probe, err := dA.Push(ctx); err != nil || probe.LastMutationID != 0 {
			t.Fatalf("A's state after the attempts: %+v, %v", probe, err)
		}

		// B pushing for records outside B's scope: each rejected as not
		// found (indistinguishable from records that do not exist), and
		// nothing changed.
		before := seqOf(t, s, b.org.ID)
		attempts := []fsync.Mutation{
			dB.Mutation("lead.update", update(trA.lead.ID, trA.lead.Version, map[string]any{"notes": "mine now", "assigned_to": b.repB.ID})),
			dB.Mutation("interaction.log", map[string]any{"id": synctest.NewID(), "lead_id": trA.lead.ID, "kind": "call", "occurred_at": at(9, 0)}),
			dB.Mutation("photo.update", update(trA.photo.ID, trA.photo.Version, map[string]any{"caption": "seen"})),
			dB.Mutation("photo.delete", map[string]any{"id": trA.photo.ID}),
			dB.Mutation("photo.create", map[string]any{"id": synctest.NewID(), "project_id": trA.project.ID, "kind": "after",
				"taken_at": at(10, 0), "sha256": sha, "byte_size": 1000, "content_type": "image/jpeg"}),
			dB.Mutation("appointment.create", map[string]any{"id": synctest.NewID(), "lead_id": trA.lead.ID, "kind": "inspection",
				"starts_at": at(11, 0), "ends_at": at(12, 0)}),
			dB.Mutation("lead.update", update(synctest.NewID(), 1, map[string]any{"notes": "no such lead"})),
		}
		if err := dB.PushPending(ctx); err != nil {
			t.Fatal(err)
		}
		dB.MustPull(t)
		var messages []string
		for _, m := range attempts {
			o := requireOutcome(t, dB, m.ID, domain.OutcomeRejected, string(fsync.RejectNotFound))
			messages = append(messages, o.Message)
		}
		// A's lead and a lead that does not exist read the same.
		if first, last := messages[0], messages[len(messages)-1]; !strings.Contains(first, "not found") || first != last {
			t.Errorf("out-of-scope and missing records must read the same: %q vs %q", first, last)
		}
		if got := seqOf(t, s, b.org.ID); got != before {
			t.Errorf("refused mutations wrote: sequence %d → %d", before, got)
		}

		// The photo: in A's and the tech's scope, not in B's, whichever
		// way B asks.
		fB := domain.ScopeFilter{OrgID: b.org.ID, UserID: b.repB.ID, Role: domain.RoleSales}
		if in, _, err := s.InScope(ctx, fB, domain.KindPhoto, trA.photo.ID); err != nil || in {
			t.Errorf("A's photo in B's scope: %v, %v", in, err)
		}
		if dB.Has(domain.KindPhoto, trA.photo.ID) {
			t.Error("B's device received A's photo")
		}
		for _, u := range []struct {
			who    *domain.User
			status int
		}{{b.repA, http.StatusOK}, {b.techT, http.StatusOK}, {b.manager, http.StatusOK}, {b.repB, http.StatusNotFound}} {
			status, body := h.do(http.MethodGet, "/v1/photos/"+trA.photo.ID, h.token(u.who), nil)
			if status != u.status {
				t.Errorf("GET A's photo as %s: %d %v, want %d", u.who.Role, status, body, u.status)
			}
		}
		// Knowing the hash: B records a photo with the same bytes on B's
		// own job. That is B's record; A's stays out of B's reach.
		mine := dB.MustPush(t, "photo.create", map[string]any{"id": synctest.NewID(), "project_id": trB.project.ID, "kind": "before",
			"taken_at": at(13, 0), "sha256": trA.photo.SHA256, "byte_size": trA.photo.ByteSize, "content_type": "image/jpeg"})
		dB.MustPull(t)
		requireNoOutcome(t, dB, mine.ID)
		if status, _ := h.do(http.MethodGet, "/v1/photos/"+trA.photo.ID, tokenB, nil); status != http.StatusNotFound {
			t.Errorf("after recording the same hash, B reads A's photo: %d", status)
		}
		photos := keysOf(dB, domain.KindPhoto)
		if len(photos) != 2 || slices.Contains(photos, trA.photo.ID) {
			t.Errorf("B's photos: %v, want B's job photo and B's new one", photos)
		}
		dA.MustPull(t)
		dA.RequireScope(t, s)
		dB.RequireScope(t, s)
	})
}

// commitLog records what the store's commit hook hears: the source of the
// pokes (cmd/fieldsync's openSync hands it to the poke bus).
type commitLog struct {
	mu    gosync.Mutex
	users [][]string
}

func (c *commitLog) hook(_ string, _ int64, users []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.users = append(c.users, users)
}

func (c *commitLog) last() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.users) == 0 {
		return nil
	}
	return c.users[len(c.users)-1]
}

// Guarantee 16: observable.
//
// Guards against a support question ("why doesn't rep X see lead Y?") that
// nobody can answer without reading the database, and against a sync
// engine whose latency, rejections and pokes nobody measures. The
// commit-to-poke lag histogram itself is the poke bus's
// (storage/pokebus/pokebus_test.go); here the commit hook that feeds it is
// checked to name the users a push concerns.
func TestGuarantee16Observable(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		metrics := &recordingMetrics{}
		e := fsync.New(fsync.Config{Store: s, Metrics: metrics})
		commits := &commitLog{}
		s.OnCommit(commits.hook)
		t.Cleanup(func() { s.OnCommit(nil) })
		leadA := b.lead(t, b.repA)
		leadB := b.lead(t, b.repB)
		d := synctest.NewDevice(t, e, b.asA)
		d.MustPull(t)
		bad := d.MustPush(t, "lead.set_status", map[string]any{"id": leadA.ID, "status": "won"})
		good := d.MustPush(t, "lead.update", update(leadA.ID, version(d, domain.KindLead, leadA.ID), map[string]any{"notes": "ladder"}))
		if users := commits.last(); !slices.Contains(users, b.repA.ID) {
			t.Errorf("the push's commit pokes %v, not the lead's rep", users)
		}
		// One page: the rejection arrives but is not acknowledged yet.
		if _, err := d.PullPage(ctx, d.PullRequest()); err != nil {
			t.Fatal(err)
		}

		// "Why doesn't rep A see lead B?"
		rep, err := e.Explain(ctx, b.asManager, d.ClientID, domain.KindLead, leadB.ID)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := s.SyncState(ctx, b.org.ID)
		if rep.Cursor != d.Cursor || rep.CursorSeq != st.Seq || rep.OrgSeq != st.Seq || rep.UserID != b.repA.ID ||
			rep.LastMutationID != good.ID || rep.LastPullAt == nil || rep.LastPushAt == nil {
			t.Errorf("device report = %+v (device cursor %s, org seq %d)", rep, d.Cursor, st.Seq)
		}
		if len(rep.Pending) != 1 || rep.Pending[0].MutationID != bad.ID || rep.Pending[0].Code != string(fsync.RejectInvalidTransition) {
			t.Errorf("pending rejections = %+v, want mutation %d's", rep.Pending, bad.ID)
		}
		if r := rep.Record; r == nil || !r.Exists || r.InScope || !strings.Contains(r.Reason, b.repB.ID) {
			t.Errorf("record report for another rep's lead = %+v", rep.Record)
		}
		rep, _ = e.Explain(ctx, b.asManager, d.ClientID, domain.KindLead, leadA.ID)
		if r := rep.Record; r == nil || !r.InScope || !r.Delivered {
			t.Errorf("record report for the rep's own lead = %+v", rep.Record)
		}
		_, err = e.Explain(ctx, b.asB, d.ClientID, domain.KindLead, leadA.ID)
		sqltest.RequireCode(t, err, domain.CodeForbidden)
		// The same answer over HTTP, for the admin app.
		h := newHTTPHarness(t, s, e)
		status, body := h.do(http.MethodGet, fmt.Sprintf("/v1/admin/sync/devices/%s?kind=lead&record_id=%s", d.ClientID, leadB.ID), h.token(b.manager), nil)
		if rec, _ := body["record"].(map[string]any); status != http.StatusOK || rec["in_scope"] != false {
			t.Errorf("GET /v1/admin/sync/devices: %d %v", status, body)
		}

		// Metrics: every push and pull, with what it did, and every
		// rejection by mutation and code.
		metrics.mu.Lock()
		defer metrics.mu.Unlock()
		if len(metrics.pushes) < 2 || len(metrics.pulls) < 2 {
			t.Fatalf("metrics saw %d pushes and %d pulls", len(metrics.pushes), len(metrics.pulls))
		}
		if p := metrics.pushes[0]; p.Rejected != 1 || p.Applied != 0 || p.Duration <= 0 {
			t.Errorf("first push's stats = %+v", p)
		}
		if p := metrics.pushes[1]; p.Applied != 1 || p.Rejected != 0 {
			t.Errorf("second push's stats = %+v", p)
		}
		if p := metrics.pulls[0]; !p.Snapshot || p.ResetReason != fsync.ResetInitial || p.Changes == 0 {
			t.Errorf("first pull's stats = %+v", p)
		}
		if last := metrics.pulls[len(metrics.pulls)-1]; last.Outcomes != 1 {
			t.Errorf("the pull that delivered the rejection reported %d outcomes", last.Outcomes)
		}
		if !slices.Equal(metrics.rejected, []string{"lead.set_status:" + string(fsync.RejectInvalidTransition)}) {
			t.Errorf("rejections counted: %v", metrics.rejected)
		}
	})
}
