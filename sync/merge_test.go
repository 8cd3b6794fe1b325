package sync_test

import (
	"context"
	"encoding/json"
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

// Guarantee 5: offline edits of different fields both survive; edits of
// the same field resolve first-committed-wins and the loser gets a
// conflict outcome; fields not sent are never touched.
func TestFieldLevelMerge(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		lead := b.lead(t, b.repA, func(l *domain.Lead) { l.Street, l.City, l.Notes = "1 Elm St", "Troy", "first visit" })
		rep := synctest.NewDevice(t, b.e, b.asA)
		mgr := synctest.NewDevice(t, b.e, b.asManager)
		rep.MustPull(t)
		mgr.MustPull(t)
		base := version(rep, domain.KindLead, lead.ID)

		// Both offline, different fields.
		rep.MustPush(t, "lead.update", update(lead.ID, base, map[string]any{"notes": "dog in yard"}))
		m := mgr.MustPush(t, "lead.update", update(lead.ID, base, map[string]any{"city": "Birmingham"}))
		got := find[*domain.Lead](t, b, domain.KindLead, lead.ID)
		if got.Notes != "dog in yard" || got.City != "Birmingham" || got.Street != "1 Elm St" {
			t.Fatalf("after two offline edits: notes %q city %q street %q", got.Notes, got.City, got.Street)
		}
		mgr.MustPull(t)
		requireNoOutcome(t, mgr, m.ID)

		// Same field: the rep's edit commits first and wins; the
		// manager's other field in the same mutation still applies.
		rep.MustPush(t, "lead.update", update(lead.ID, base, map[string]any{"street": "9 Oak Ave"}))
		loser := mgr.MustPush(t, "lead.update", update(lead.ID, base, map[string]any{"street": "4 Pine Rd", "zip": "48009"}))
		got = find[*domain.Lead](t, b, domain.KindLead, lead.ID)
		if got.Street != "9 Oak Ave" || got.Zip != "48009" {
			t.Fatalf("same-field edits: street %q zip %q, want the first street and the loser's zip", got.Street, got.Zip)
		}
		mgr.MustPull(t)
		o := requireOutcome(t, mgr, loser.ID, domain.OutcomeConflict, fsync.ConflictField)
		var details []fsync.FieldConflict
		if err := json.Unmarshal(o.Details, &details); err != nil {
			t.Fatalf("conflict details %s: %v", o.Details, err)
		}
		if len(details) != 1 || details[0].Field != "street" || string(details[0].Yours) != `"4 Pine Rd"` ||
			string(details[0].Server) != `"9 Oak Ave"` {
			t.Fatalf("conflict details = %s", o.Details)
		}
		// The winner hears of no conflict.
		rep.MustPull(t)
		if len(rep.Outcomes) != 0 {
			t.Fatalf("winner got outcomes %v", rep.Outcomes)
		}
		// Sending the value the server already has is no conflict.
		agree := mgr.MustPush(t, "lead.update", update(lead.ID, base, map[string]any{"street": "9 Oak Ave"}))
		mgr.MustPull(t)
		requireNoOutcome(t, mgr, agree.ID)

		// When history no longer reaches base_version, every field whose
		// value differs is a conflict (the server cannot tell who
		// changed it), and equal ones are no conflict.
		if _, err := s.PruneHistory(ctx, b.org.ID, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		blind := mgr.MustPush(t, "lead.update", update(lead.ID, base, map[string]any{"notes": "gate code 12", "city": "Birmingham"}))
		mgr.MustPull(t)
		o = requireOutcome(t, mgr, blind.ID, domain.OutcomeConflict, fsync.ConflictField)
		if !strings.Contains(string(o.Details), `"notes"`) || strings.Contains(string(o.Details), `"city"`) {
			t.Fatalf("conflicts without history = %s, want notes only", o.Details)
		}
		if got := find[*domain.Lead](t, b, domain.KindLead, lead.ID); got.Notes != "dog in yard" {
			t.Fatalf("notes = %q, the server's value must stay", got.Notes)
		}
		rep.MustPull(t)
		rep.RequireConverged(t)
		mgr.RequireConverged(t)
	})
}

// Guarantee 6: delete wins over a concurrent update; the tombstone reaches
// every device that had the record; nothing is resurrected.
func TestDeleteWins(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		tr := b.tree(t, b.repA, b.techT)
		tech := synctest.NewDevice(t, b.e, b.asT)
		rep := synctest.NewDevice(t, b.e, b.asA)
		mgr := synctest.NewDevice(t, b.e, b.asManager)
		photoID := synctest.NewID()
		tech.MustPush(t, "photo.create", map[string]any{
			"id": photoID, "project_id": tr.project.ID, "kind": "after", "taken_at": time.Now(),
			"sha256": sha, "byte_size": 2048, "content_type": "image/heic", "caption": "ridge",
		})
		for _, d := range []*synctest.Device{tech, rep, mgr} {
			d.MustPull(t)
			if !d.Has(domain.KindPhoto, photoID) {
				t.Fatalf("device of %s lacks the photo", d.Principal.Role)
			}
		}
		base := version(tech, domain.KindPhoto, photoID)
		mgr.MustPush(t, "photo.delete", map[string]any{"id": photoID})
		edit := tech.MustPush(t, "photo.update", update(photoID, base, map[string]any{"caption": "ridge cap, north side"}))
		again := tech.MustPush(t, "photo.update", update(photoID, base, map[string]any{"kind": "during"}))
		for _, d := range []*synctest.Device{tech, rep, mgr} {
			d.MustPull(t)
			if d.Has(domain.KindPhoto, photoID) {
				t.Fatalf("the %s's device still has the deleted photo", d.Principal.Role)
			}
			d.RequireConverged(t)
		}
		requireOutcome(t, tech, edit.ID, domain.OutcomeRejected, string(fsync.RejectRecordDeleted))
		requireOutcome(t, tech, again.ID, domain.OutcomeRejected, string(fsync.RejectRecordDeleted))
		// Deleting again is a no-op, not a rejection.
		del := mgr.MustPush(t, "photo.delete", map[string]any{"id": photoID})
		mgr.MustPull(t)
		requireNoOutcome(t, mgr, del.ID)
		if _, err := s.FindRecord(ctx, b.org.ID, domain.KindPhoto, photoID); !domain.IsCode(err, domain.CodeNotFound) {
			t.Fatalf("deleted photo found: %v", err)
		}
	})
}

// Guarantee 7: reassigning a lead from rep A to rep B removes it and
// everything under it from A's devices, delivers all of it to B's although
// none of it changed, and rejects A's pending edit with a reason.
func TestReassignmentMovesTheTree(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		tr := b.tree(t, b.repA, nil)
		a := synctest.NewDevice(t, b.e, b.asA)
		bb := synctest.NewDevice(t, b.e, b.asB)
		mgr := synctest.NewDevice(t, b.e, b.asManager)
		for _, d := range []*synctest.Device{a, bb, mgr} {
			d.MustPull(t)
		}
		for _, k := range tr.keys() {
			if !a.Has(k.Kind, k.ID) || bb.Has(k.Kind, k.ID) {
				t.Fatalf("before: A has %s %v, B has it %v", k.Kind, a.Has(k.Kind, k.ID), bb.Has(k.Kind, k.ID))
			}
		}
		pending := a.Mutation("lead.update", update(tr.lead.ID, version(a, domain.KindLead, tr.lead.ID), map[string]any{"notes": "call after 5"}))

		mgr.MustPush(t, "lead.update", update(tr.lead.ID, version(mgr, domain.KindLead, tr.lead.ID), map[string]any{"assigned_to": b.repB.ID}))

		a.MustPull(t)
		pages := bb.MustPull(t)
		for _, k := range tr.keys() {
			if a.Has(k.Kind, k.ID) {
				t.Errorf("after: A still has %s", k.Kind)
			}
			if !bb.Has(k.Kind, k.ID) {
				t.Errorf("after: B lacks %s", k.Kind)
			}
		}
		puts := 0
		for _, p := range pages {
			for _, c := range p.Changes {
				if c.Op == fsync.OpPut && c.Kind != domain.KindUser {
					puts++
				}
			}
		}
		if puts < len(tr.keys()) {
			t.Errorf("B got %d puts, want the whole tree of %d", puts, len(tr.keys()))
		}
		if resp, err := a.Push(ctx, pending); err != nil || resp.LastMutationID != pending.ID {
			t.Fatalf("pending push = %+v, %v", resp, err)
		}
		a.MustPull(t)
		o := requireOutcome(t, a, pending.ID, domain.OutcomeRejected, string(fsync.RejectNotFound))
		if !strings.Contains(o.Message, "no longer shared") {
			t.Errorf("rejection message %q does not say why", o.Message)
		}
		if got := find[*domain.Lead](t, b, domain.KindLead, tr.lead.ID); got.Notes == "call after 5" {
			t.Error("A's edit was applied to a lead no longer theirs")
		}
		for _, d := range []*synctest.Device{a, bb, mgr} {
			d.MustPull(t)
			d.RequireConverged(t)
		}
	})
}

// Guarantee 9: a device's own change comes back as op version when the
// server stored exactly what the device computed, and in full otherwise;
// other devices of the same user get it in full.
func TestNoEcho(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		lead := b.lead(t, b.repA)
		d1 := synctest.NewDevice(t, b.e, b.asA)
		d2 := synctest.NewDevice(t, b.e, b.asA)
		d1.MustPull(t)
		d2.MustPull(t)
		opOf := func(pages []fsync.PullResponse, kind domain.EntityKind, id string) string {
			op := ""
			for _, p := range pages {
				for _, c := range p.Changes {
					if c.Kind == kind && c.ID == id {
						op = c.Op
					}
				}
			}
			return op
		}

		d1.MustPush(t, "lead.update", update(lead.ID, version(d1, domain.KindLead, lead.ID), map[string]any{"notes": "side gate"}))
		if op := opOf(d1.MustPull(t), domain.KindLead, lead.ID); op != fsync.OpVersion {
			t.Fatalf("own echo-only update came back as %q, want version", op)
		}
		if op := opOf(d2.MustPull(t), domain.KindLead, lead.ID); op != fsync.OpPut {
			t.Fatalf("the user's other device got %q, want put", op)
		}
		var notes string
		if !d2.Field(domain.KindLead, lead.ID, "notes", &notes) || notes != "side gate" {
			t.Fatalf("other device notes = %q", notes)
		}

		// A scoring input: the server rescored, so the device needs it all.
		d1.MustPush(t, "lead.update", update(lead.ID, version(d1, domain.KindLead, lead.ID), map[string]any{"property_value": 650000}))
		if op := opOf(d1.MustPull(t), domain.KindLead, lead.ID); op != fsync.OpPut {
			t.Fatalf("own update that rescored came back as %q, want put", op)
		}
		// A stale base: the device lacks server changes, so it gets a put.
		stale := version(d1, domain.KindLead, lead.ID)
		d2.MustPush(t, "lead.update", update(lead.ID, version(d2, domain.KindLead, lead.ID), map[string]any{"city": "Novi"}))
		d1.MustPush(t, "lead.update", update(lead.ID, stale, map[string]any{"state": "MI"}))
		if op := opOf(d1.MustPull(t), domain.KindLead, lead.ID); op != fsync.OpPut {
			t.Fatalf("own update on a stale base came back as %q, want put", op)
		}

		// interaction.log: the interaction is an echo, the lead it
		// rescored is not.
		ia := synctest.NewID()
		d1.MustPush(t, "interaction.log", map[string]any{"id": ia, "lead_id": lead.ID, "kind": "note", "body": "left a card", "occurred_at": time.Now()})
		pages := d1.MustPull(t)
		if op := opOf(pages, domain.KindInteraction, ia); op != fsync.OpVersion {
			t.Fatalf("own interaction came back as %q, want version", op)
		}
		if op := opOf(pages, domain.KindLead, lead.ID); op != fsync.OpPut {
			t.Fatalf("rescored lead came back as %q, want put", op)
		}
		var count int
		if !d1.Field(domain.KindLead, lead.ID, "interaction_count", &count) || count != 1 {
			t.Fatalf("interaction_count on the device = %d", count)
		}
		// Status with base_version: echo; without: put.
		d1.MustPush(t, "lead.set_status", map[string]any{"id": lead.ID, "status": "contacted", "base_version": version(d1, domain.KindLead, lead.ID)})
		if op := opOf(d1.MustPull(t), domain.KindLead, lead.ID); op != fsync.OpVersion {
			t.Fatalf("own status change with base_version came back as %q, want version", op)
		}
		d1.MustPush(t, "lead.set_status", map[string]any{"id": lead.ID, "status": "qualified"})
		if op := opOf(d1.MustPull(t), domain.KindLead, lead.ID); op != fsync.OpPut {
			t.Fatalf("own status change without base_version came back as %q, want put", op)
		}
		d1.RequireConverged(t)
		d2.MustPull(t)
		d2.RequireConverged(t)

		// Inside a reset session the device stages apart from its live
		// copy, so even its own echo-only change must come in full.
		d3 := synctest.NewDevice(t, b.e, b.asA)
		d3.Limit = 1
		for {
			resp, err := d3.PullPage(ctx, d3.PullRequest())
			if err != nil {
				t.Fatal(err)
			}
			cur, err := fsync.DecodeCursor(resp.Cursor)
			if err != nil {
				t.Fatal(err)
			}
			if cur.Mode == fsync.ModeIncremental {
				if !resp.HasMore || !d3.Staging() {
					t.Fatal("the snapshot ended its session before catching up")
				}
				break
			}
		}
		appt := synctest.NewID()
		d3.MustPush(t, "appointment.create", map[string]any{"id": appt, "lead_id": lead.ID, "kind": "inspection",
			"title": "Roof", "starts_at": at(9, 0), "ends_at": at(10, 0)})
		if op := opOf(d3.MustPull(t), domain.KindAppointment, appt); op != fsync.OpPut {
			t.Fatalf("own change inside a reset session came back as %q, want put", op)
		}
		var title string
		if !d3.Field(domain.KindAppointment, appt, "title", &title) || title != "Roof" {
			t.Fatalf("appointment on the device after the session: title %q", title)
		}
		d3.RequireConverged(t)
		// After the session, echoes are versions again.
		d3.MustPush(t, "appointment.update", update(appt, version(d3, domain.KindAppointment, appt), map[string]any{"notes": "ladder"}))
		if op := opOf(d3.MustPull(t), domain.KindAppointment, appt); op != fsync.OpVersion {
			t.Fatalf("own echo after the session came back as %q, want version", op)
		}
	})
}

// racingStore commits a push of the device between the pull's read of the
// device's state and its read of the change log.
type racingStore struct {
	domain.SyncStore
	once   gosync.Once
	before func()
}

func (r *racingStore) ChangesForScope(ctx context.Context, f domain.ScopeFilter, after int64, maxRows int) (domain.ChangePage, error) {
	r.once.Do(r.before)
	return r.SyncStore.ChangesForScope(ctx, f, after, maxRows)
}

// An op version names the mutation it confirms, and the page's
// last_mutation_id covers it even when the push committed during the pull.
func TestVersionOpCoveredByLastMutationID(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		lead := b.lead(t, b.repA)
		d := synctest.NewDevice(t, b.e, b.asA)
		d.MustPull(t)
		m := d.Mutation("lead.update", update(lead.ID, version(d, domain.KindLead, lead.ID), map[string]any{"notes": "porch"}))
		racing := &racingStore{SyncStore: s, before: func() {
			if _, err := b.e.Push(ctx, b.asA, d.PushRequest(m)); err != nil {
				t.Errorf("racing push: %v", err)
			}
		}}
		d.Engine = fsync.New(fsync.Config{Store: racing})
		resp, err := d.PullPage(ctx, d.PullRequest())
		if err != nil {
			t.Fatal(err)
		}
		var got *fsync.Change
		for i, c := range resp.Changes {
			if c.Kind == domain.KindLead && c.ID == lead.ID {
				got = &resp.Changes[i]
			}
		}
		if got == nil || got.Op != fsync.OpVersion || got.MutationID != m.ID || resp.LastMutationID < m.ID {
			t.Fatalf("page: change %+v, last_mutation_id %d; want op version of mutation %d covered", got, resp.LastMutationID, m.ID)
		}
		var notes string
		if !d.Field(domain.KindLead, lead.ID, "notes", &notes) || notes != "porch" || len(d.Pending) != 0 {
			t.Fatalf("device after the page: notes %q, pending %v", notes, d.Pending)
		}
		d.Engine = b.e
		d.RequireConverged(t)
	})
}
