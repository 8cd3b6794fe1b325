package sync_test

import (
	"context"
	"errors"
	"fmt"
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

func logCall(d *synctest.Device, leadID string) fsync.Mutation {
	return d.Mutation("interaction.log", map[string]any{
		"id": synctest.NewID(), "lead_id": leadID, "kind": "call", "occurred_at": time.Now(),
	})
}

// Guarantee 3: a replayed batch, in sequence or by eight concurrent
// duplicates, applies each mutation once.
func TestPushReplayAppliesOnce(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		lead := b.lead(t, b.repA)
		d := synctest.NewDevice(t, b.e, b.asA)

		batch := []fsync.Mutation{logCall(d, lead.ID), logCall(d, lead.ID), logCall(d, lead.ID)}
		resp, err := d.Push(ctx, batch...)
		if err != nil || resp.Processed != 3 || resp.LastMutationID != 3 || resp.Gap != nil {
			t.Fatalf("first push = %+v, %v", resp, err)
		}
		resp, err = d.Push(ctx, batch...)
		if err != nil || resp.Processed != 0 || resp.LastMutationID != 3 {
			t.Fatalf("retried push = %+v, %v; want nothing processed", resp, err)
		}
		if n := find[*domain.Lead](t, b, domain.KindLead, lead.ID).InteractionCount; n != 3 {
			t.Fatalf("interaction count after a retry = %d, want 3", n)
		}

		// A retry that overlaps: the acknowledged part is skipped, the
		// rest applies.
		overlap := append(batch[1:], logCall(d, lead.ID))
		if resp, err := d.Push(ctx, overlap...); err != nil || resp.Processed != 1 || resp.LastMutationID != 4 {
			t.Fatalf("overlapping push = %+v, %v", resp, err)
		}

		batch = nil
		for range 5 {
			batch = append(batch, logCall(d, lead.ID))
		}
		var wg gosync.WaitGroup
		results := make([]fsync.PushResponse, 8)
		errs := make([]error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = b.e.Push(ctx, b.asA, d.PushRequest(batch...))
			}()
		}
		wg.Wait()
		processed := 0
		for i := range 8 {
			if errs[i] != nil {
				t.Fatalf("concurrent push %d: %v", i, errs[i])
			}
			processed += results[i].Processed
			if results[i].Gap != nil {
				t.Fatalf("concurrent push %d reported a gap: %+v", i, results[i])
			}
		}
		if processed != 5 {
			t.Fatalf("8 concurrent duplicates processed %d mutations in total, want 5", processed)
		}
		if n := find[*domain.Lead](t, b, domain.KindLead, lead.ID).InteractionCount; n != 9 {
			t.Fatalf("interaction count = %d, want 9", n)
		}
		last, err := b.e.Push(ctx, b.asA, d.PushRequest())
		if err != nil || last.LastMutationID != 9 {
			t.Fatalf("probe = %+v, %v; want last mutation 9", last, err)
		}
	})
}

// Guarantee 3: a batch past last+1 applies nothing and names the id the
// server expects.
func TestPushGap(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		d := synctest.NewDevice(t, b.e, b.asA)
		d.Next = 3
		id := synctest.NewID()
		m := d.Mutation("lead.create", map[string]any{"id": id, "first_name": "Gap", "phone": "248-555-0101"})
		resp, err := d.Push(ctx, m, d.Mutation("lead.create", map[string]any{"id": synctest.NewID(), "first_name": "Gap", "phone": "248-555-0102"}))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Gap == nil || resp.Gap.Expected != 1 || resp.Gap.Got != 3 || resp.Processed != 0 || resp.LastMutationID != 0 {
			t.Fatalf("push with a gap = %+v, want gap expected 1 got 3, nothing processed", resp)
		}
		if _, err := s.FindRecord(ctx, b.org.ID, domain.KindLead, id); !domain.IsCode(err, domain.CodeNotFound) {
			t.Fatalf("a mutation behind a gap was applied (err %v)", err)
		}
		// The device resends from the expected id and catches up.
		d.Next = 1
		first := d.MustPush(t, "lead.create", map[string]any{"id": synctest.NewID(), "first_name": "One", "phone": "248-555-0103"})
		if resp, err := d.Push(ctx, m); err != nil || resp.Gap == nil || resp.Gap.Expected != first.ID+1 {
			t.Fatalf("second gap = %+v, %v", resp, err)
		}
	})
}

// Guarantee 4: a poison mutation among a thousand valid ones is rejected
// with its reason, delivered on the next pull, and the others apply.
func TestPoisonMutationDoesNotBlockTheQueue(t *testing.T) {
	if testing.Short() {
		t.Skip("a thousand transactions per database")
	}
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		d := synctest.NewDevice(t, b.e, b.asA)
		var batch []fsync.Mutation
		poison := int64(0)
		for i := range fsync.MaxMutationsPerPush {
			if i == 500 {
				m := d.Mutation("lead.create", map[string]any{"id": synctest.NewID(), "first_name": "Bad", "email": "not an email"})
				poison = m.ID
				batch = append(batch, m)
				continue
			}
			batch = append(batch, d.Mutation("lead.create", map[string]any{
				"id": synctest.NewID(), "first_name": fmt.Sprint("Lead ", i), "phone": "248-555-0100",
			}))
		}
		resp, err := d.Push(ctx, batch...)
		if err != nil || resp.Processed != len(batch) || resp.LastMutationID != int64(len(batch)) {
			t.Fatalf("push = %+v, %v", resp, err)
		}
		last := d.MustPush(t, "lead.create", map[string]any{"id": synctest.NewID(), "first_name": "Last", "phone": "248-555-0100"})
		if last.ID != int64(len(batch))+1 {
			t.Fatalf("last mutation id %d", last.ID)
		}
		mine, err := s.ListLeads(ctx, domain.LeadFilter{OrgID: b.org.ID, AssignedTo: &b.repA.ID})
		if err != nil || len(mine) != 1000 {
			t.Fatalf("rep has %d leads (%v), want the 1000 valid ones", len(mine), err)
		}
		d.Limit = fsync.MaxPullLimit
		d.MustPull(t)
		o := requireOutcome(t, d, poison, domain.OutcomeRejected, string(fsync.RejectInvalidArgs))
		if !strings.Contains(o.Message, "email") || o.Name != "lead.create" {
			t.Fatalf("rejection does not say why: %+v", o)
		}
		if len(d.Outcomes) != 1 {
			t.Fatalf("outcomes = %v, want only the poison's", d.Outcomes)
		}
		d.RequireConverged(t)
		// Acknowledged outcomes are not sent again.
		pages := d.MustPull(t)
		if len(pages[len(pages)-1].Outcomes) != 0 {
			t.Fatalf("acknowledged outcome sent again: %+v", pages[len(pages)-1].Outcomes)
		}
	})
}

// Transient failures stop the push without acknowledging anything.
func TestPushCancelledAcknowledgesNothing(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		d := synctest.NewDevice(t, b.e, b.asA)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := d.Push(cctx, d.Mutation("lead.create", map[string]any{"id": synctest.NewID(), "first_name": "X", "phone": "248-555-0100"}))
		if err == nil {
			t.Fatal("push with a cancelled context succeeded")
		}
		probe, err := b.e.Push(ctx, b.asA, d.PushRequest())
		if err != nil || probe.LastMutationID != 0 {
			t.Fatalf("after a cancelled push: %+v, %v; want nothing acknowledged", probe, err)
		}
	})
}

// Every mutation's rules, each refusal with its code: a table of
// scenarios run against both databases.
func TestMutationRejections(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		tr := b.tree(t, b.repA, b.techT)
		other := b.lead(t, b.repB)
		// Imported before the rules: no contact and a malformed email.
		legacy := sqltest.Lead(t, s, b.asManager, func(l *domain.Lead) { l.AssignedTo, l.Email = b.repA.ID, "n/a" })
		alert := sqltest.Alert(t, s, b.asManager, func(a *domain.Alert) { a.LeadID, a.RecipientID = tr.lead.ID, b.repA.ID })
		dA := synctest.NewDevice(t, b.e, b.asA)
		dT := synctest.NewDevice(t, b.e, b.asT)
		dA.MustPull(t)
		dT.MustPull(t)
		leadV := version(dA, domain.KindLead, tr.lead.ID)
		legacyV := version(dA, domain.KindLead, legacy.ID)
		customerV := version(dA, domain.KindCustomer, tr.customer.ID)
		projectV := version(dT, domain.KindProject, tr.project.ID)
		validLead := func(extra map[string]any) map[string]any {
			args := map[string]any{"id": synctest.NewID(), "first_name": "Ann", "phone": "248-555-0100"}
			for k, v := range extra {
				args[k] = v
			}
			return args
		}
		photo := func(extra map[string]any) map[string]any {
			args := map[string]any{"id": synctest.NewID(), "project_id": tr.project.ID, "kind": "before",
				"taken_at": time.Now(), "sha256": sha, "byte_size": 1234, "content_type": "image/jpeg"}
			for k, v := range extra {
				args[k] = v
			}
			return args
		}
		cases := []struct {
			name   string
			d      *synctest.Device
			mut    string
			args   any
			code   fsync.RejectionCode // "" = applies
			inText string
		}{
			{"unknown mutation", dA, "lead.teleport", map[string]any{}, fsync.RejectUnknownMutation, "lead.teleport"},
			{"create without name", dA, "lead.create", map[string]any{"id": synctest.NewID(), "phone": "248-555-0100"}, fsync.RejectInvalidArgs, "name"},
			{"create without contact", dA, "lead.create", map[string]any{"id": synctest.NewID(), "first_name": "A"}, fsync.RejectInvalidArgs, "phone"},
			{"create with bad id", dA, "lead.create", validLead(map[string]any{"id": "LEAD-1"}), fsync.RejectInvalidArgs, "id"},
			{"create with server field", dA, "lead.create", validLead(map[string]any{"score": 99}), fsync.RejectUnknownField, "score"},
			{"create with status", dA, "lead.create", validLead(map[string]any{"status": "won"}), fsync.RejectUnknownField, "status"},
			{"create with wrong type", dA, "lead.create", validLead(map[string]any{"income": "lots"}), fsync.RejectInvalidArgs, "income"},
			{"create with null name", dA, "lead.create", validLead(map[string]any{"first_name": nil}), fsync.RejectInvalidArgs, "first_name"},
			{"create with bad enum", dA, "lead.create", validLead(map[string]any{"budget": "huge"}), fsync.RejectInvalidArgs, "budget"},
			{"create negative money", dA, "lead.create", validLead(map[string]any{"property_value": -1}), fsync.RejectInvalidArgs, "property_value"},
			{"rep assigns to another", dA, "lead.create", validLead(map[string]any{"assigned_to": b.repB.ID}), fsync.RejectForbidden, "manager"},
			{"rep flags white glove", dA, "lead.create", validLead(map[string]any{"white_glove": true}), fsync.RejectForbidden, "manager"},
			{"create taken id", dA, "lead.create", validLead(map[string]any{"id": other.ID}), fsync.RejectAlreadyExists, "exists"},
			{"create valid", dA, "lead.create", validLead(nil), "", ""},
			{"update other rep's lead", dA, "lead.update", update(other.ID, 1, map[string]any{"notes": "x"}), fsync.RejectNotFound, "not found"},
			{"update missing lead", dA, "lead.update", update(synctest.NewID(), 1, map[string]any{"notes": "x"}), fsync.RejectNotFound, "not found"},
			{"update without base", dA, "lead.update", map[string]any{"id": tr.lead.ID, "fields": map[string]any{"notes": "x"}}, fsync.RejectInvalidArgs, "base_version"},
			{"update no fields", dA, "lead.update", update(tr.lead.ID, leadV, map[string]any{}), fsync.RejectInvalidArgs, "fields"},
			{"update unknown field", dA, "lead.update", update(tr.lead.ID, leadV, map[string]any{"favourite_colour": "red"}), fsync.RejectUnknownField, "favourite_colour"},
			{"update read-only field", dA, "lead.update", update(tr.lead.ID, leadV, map[string]any{"score": 100}), fsync.RejectInvalidArgs, "score"},
			{"update status directly", dA, "lead.update", update(tr.lead.ID, leadV, map[string]any{"status": "won"}), fsync.RejectInvalidArgs, "status"},
			{"rep reassigns", dA, "lead.update", update(tr.lead.ID, leadV, map[string]any{"assigned_to": b.repB.ID}), fsync.RejectForbidden, "assign"},
			{"rep re-sends own id", dA, "lead.update", update(tr.lead.ID, leadV, map[string]any{"assigned_to": b.repA.ID}), "", ""},
			{"edit a record that predates the rules", dA, "lead.update", update(legacy.ID, legacyV, map[string]any{"notes": "imported"}), "", ""},
			{"clear both contacts", dA, "lead.update", update(tr.lead.ID, leadV, map[string]any{"phone": "", "email": ""}), fsync.RejectInvalidArgs, "phone"},
			{"status unknown", dA, "lead.set_status", map[string]any{"id": tr.lead.ID, "status": "pending"}, fsync.RejectInvalidArgs, "status"},
			{"status skips to won", dA, "lead.set_status", map[string]any{"id": tr.lead.ID, "status": "won"}, fsync.RejectInvalidTransition, "won"},
			{"lost reason without lost", dA, "lead.set_status", map[string]any{"id": tr.lead.ID, "status": "contacted", "lost_reason": "x"}, fsync.RejectInvalidArgs, "lost_reason"},
			{"status forward", dA, "lead.set_status", map[string]any{"id": tr.lead.ID, "status": "qualified"}, "", ""},
			{"tech sets lead status", dT, "lead.set_status", map[string]any{"id": tr.lead.ID, "status": "negotiation"}, fsync.RejectNotFound, "not found"},
			{"rep sets project status", dA, "project.set_status", map[string]any{"id": tr.project.ID, "status": "approved"}, fsync.RejectForbidden, "set_status"},
			{"tech project backwards", dT, "project.set_status", map[string]any{"id": tr.project.ID, "status": "paid"}, fsync.RejectInvalidTransition, "paid"},
			{"tech project forward", dT, "project.set_status", map[string]any{"id": tr.project.ID, "status": "approved"}, "", ""},
			{"tech reassigns project", dT, "project.update", update(tr.project.ID, projectV, map[string]any{"assigned_tech": b.repA.ID}), fsync.RejectForbidden, "assign"},
			{"customer bad email", dA, "customer.update", update(tr.customer.ID, customerV, map[string]any{"email": "nope"}), fsync.RejectInvalidArgs, "email"},
			{"interaction bad kind", dA, "interaction.log", map[string]any{"id": synctest.NewID(), "lead_id": tr.lead.ID, "kind": "fax", "occurred_at": time.Now()}, fsync.RejectInvalidArgs, "kind"},
			{"interaction no parent", dA, "interaction.log", map[string]any{"id": synctest.NewID(), "kind": "call", "occurred_at": time.Now()}, fsync.RejectInvalidArgs, "lead_id"},
			{"interaction on other's lead", dA, "interaction.log", map[string]any{"id": synctest.NewID(), "lead_id": other.ID, "kind": "call", "occurred_at": time.Now()}, fsync.RejectNotFound, "lead_id"},
			{"photo bad hash", dT, "photo.create", photo(map[string]any{"sha256": "abc"}), fsync.RejectInvalidArgs, "sha256"},
			{"photo zero size", dT, "photo.create", photo(map[string]any{"byte_size": 0}), fsync.RejectInvalidArgs, "byte_size"},
			{"photo half position", dT, "photo.create", photo(map[string]any{"latitude": 42.1}), fsync.RejectInvalidArgs, "latitude"},
			{"photo off the globe", dT, "photo.create", photo(map[string]any{"latitude": 95.0, "longitude": 10.0}), fsync.RejectInvalidArgs, "latitude"},
			{"photo bad type", dT, "photo.create", photo(map[string]any{"content_type": "application/pdf"}), fsync.RejectInvalidArgs, "content_type"},
			{"photo bad kind", dT, "photo.create", photo(map[string]any{"kind": "selfie"}), fsync.RejectInvalidArgs, "kind"},
			{"photo server state", dT, "photo.create", photo(map[string]any{"upload_state": "uploaded"}), fsync.RejectUnknownField, "upload_state"},
			{"photo valid", dT, "photo.create", photo(nil), "", ""},
			{"tech deletes manager's photo", dT, "photo.delete", map[string]any{"id": tr.photo.ID}, fsync.RejectForbidden, "delete"},
			{"ack someone else's alert", dT, "alert.acknowledge", map[string]any{"id": alert.ID}, fsync.RejectNotFound, "not found"},
			{"ack own alert", dA, "alert.acknowledge", map[string]any{"id": alert.ID}, "", ""},
			{"ack again", dA, "alert.acknowledge", map[string]any{"id": alert.ID}, "", ""},
			{"args with extra key", dA, "alert.acknowledge", map[string]any{"id": alert.ID, "when": "now"}, fsync.RejectUnknownField, "when"},
		}
		for _, tc := range cases {
			m := tc.d.MustPush(t, tc.mut, tc.args)
			tc.d.MustPull(t)
			if tc.code == "" {
				if o, ok := tc.d.Outcomes[m.ID]; ok {
					t.Errorf("%s: rejected: %+v", tc.name, o)
				}
				continue
			}
			o, ok := tc.d.Outcomes[m.ID]
			if !ok {
				t.Errorf("%s: applied, want %s", tc.name, tc.code)
				continue
			}
			if o.Kind != domain.OutcomeRejected || o.Code != string(tc.code) || !strings.Contains(o.Message, tc.inText) {
				t.Errorf("%s: outcome %+v, want %s mentioning %q", tc.name, o, tc.code, tc.inText)
			}
		}
		ack := find[*domain.Alert](t, b, domain.KindAlert, alert.ID)
		if ack.AcknowledgedAt == nil || ack.AcknowledgedBy != b.repA.ID {
			t.Fatalf("alert not acknowledged: %+v", ack)
		}
		dA.RequireConverged(t)
		dT.RequireConverged(t)
	})
}

// Appointments are conflict-checked per assignee.
func TestAppointmentConflicts(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		lead := b.lead(t, b.repA)
		d := synctest.NewDevice(t, b.e, b.asA)
		book := func(start, end time.Time) map[string]any {
			return map[string]any{"id": synctest.NewID(), "lead_id": lead.ID, "kind": "inspection", "title": "Roof", "starts_at": start, "ends_at": end}
		}
		first := book(at(10, 0), at(11, 0))
		cases := []struct {
			name string
			mut  string
			args map[string]any
			code fsync.RejectionCode
		}{
			{"first", "appointment.create", first, ""},
			{"overlap", "appointment.create", book(at(10, 30), at(11, 30)), fsync.RejectAppointmentConflict},
			{"inside", "appointment.create", book(at(10, 15), at(10, 45)), fsync.RejectAppointmentConflict},
			{"back to back", "appointment.create", book(at(11, 0), at(12, 0)), ""},
			{"ends before start", "appointment.create", book(at(14, 0), at(13, 0)), fsync.RejectInvalidArgs},
			{"too long", "appointment.create", book(at(14, 0), at(14, 0).Add(15*24*time.Hour)), fsync.RejectInvalidArgs},
			{"book a colleague", "appointment.create", func() map[string]any { a := book(at(15, 0), at(16, 0)); a["assigned_to"] = b.repB.ID; return a }(), fsync.RejectForbidden},
			{"reschedule into a clash", "appointment.reschedule", map[string]any{"id": first["id"], "starts_at": at(11, 30), "ends_at": at(12, 30)}, fsync.RejectAppointmentConflict},
			{"reschedule free", "appointment.reschedule", map[string]any{"id": first["id"], "starts_at": at(8, 0), "ends_at": at(9, 0)}, ""},
			{"update without base_version", "appointment.update", update(first["id"].(string), 0, map[string]any{"title": "Re-roof"}), fsync.RejectInvalidArgs},
			{"complete", "appointment.complete", map[string]any{"id": first["id"]}, ""},
			{"complete again", "appointment.complete", map[string]any{"id": first["id"]}, ""},
			{"cancel completed", "appointment.cancel", map[string]any{"id": first["id"]}, fsync.RejectInvalidTransition},
			{"reschedule completed", "appointment.reschedule", map[string]any{"id": first["id"], "starts_at": at(18, 0), "ends_at": at(19, 0)}, fsync.RejectInvalidTransition},
			{"slot freed by completion", "appointment.create", book(at(8, 30), at(9, 30)), ""},
		}
		for _, tc := range cases {
			m := d.MustPush(t, tc.mut, tc.args)
			d.MustPull(t)
			o, rejected := d.Outcomes[m.ID]
			switch {
			case tc.code == "" && rejected:
				t.Errorf("%s: rejected %+v", tc.name, o)
			case tc.code != "" && (!rejected || o.Code != string(tc.code)):
				t.Errorf("%s: outcome %+v (rejected %v), want %s", tc.name, o, rejected, tc.code)
			}
		}
		if o := d.Outcomes[2]; string(o.Details) == "" || !strings.Contains(string(o.Details), "starts_at") {
			t.Errorf("conflict details %s do not give the clashing times", o.Details)
		}
		d.RequireConverged(t)
	})
}

// Guarantee 4 for bugs: a handler that panics or fails with a non-domain
// error is rejected as internal, and the queue moves on.
func TestPanickingMutationIsRejected(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		d := synctest.NewDevice(t, b.e, b.asA)
		ok1 := d.Mutation("lead.create", map[string]any{"id": synctest.NewID(), "first_name": "A", "phone": "248-555-0100"})
		boom := d.Mutation("test.panic", map[string]any{})
		bug := d.Mutation("test.internal", map[string]any{})
		ok2 := d.Mutation("lead.create", map[string]any{"id": synctest.NewID(), "first_name": "B", "phone": "248-555-0100"})
		resp, err := d.Push(ctx, ok1, boom, bug, ok2)
		if err != nil || resp.Processed != 4 || resp.LastMutationID != ok2.ID {
			t.Fatalf("push = %+v, %v", resp, err)
		}
		d.MustPull(t)
		for _, m := range []fsync.Mutation{boom, bug} {
			o := requireOutcome(t, d, m.ID, domain.OutcomeRejected, string(fsync.RejectInternal))
			if strings.Contains(o.Message, "poison") || strings.Contains(o.Message, "a bug") {
				t.Fatalf("internal cause leaked to the device: %q", o.Message)
			}
		}
		requireNoOutcome(t, d, ok1.ID)
		requireNoOutcome(t, d, ok2.ID)
		d.RequireConverged(t)
	})
}

// Bookings of one person pushed at the same moment by several devices, each
// on a different lead (so no record they read is shared), still see each
// other: exactly one of them takes the slot and the rest are rejected as
// conflicts.
func TestConcurrentBookingsOfOnePerson(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		const devices = 8
		ds := make([]*synctest.Device, devices)
		ms := make([]fsync.Mutation, devices)
		for i := range ds {
			lead := b.lead(t, b.repA)
			ds[i] = synctest.NewDevice(t, b.e, b.asA)
			ms[i] = ds[i].Mutation("appointment.create", map[string]any{
				"id": synctest.NewID(), "lead_id": lead.ID, "kind": "inspection", "title": "Roof",
				"starts_at": at(10, 0), "ends_at": at(11, 0),
			})
		}
		start := make(chan struct{})
		var wg gosync.WaitGroup
		for i, d := range ds {
			wg.Go(func() {
				<-start
				if resp, err := d.Push(ctx, ms[i]); err != nil || resp.Processed != 1 {
					t.Errorf("device %d: push = %+v, %v", i, resp, err)
				}
			})
		}
		close(start)
		wg.Wait()
		applied := 0
		for i, d := range ds {
			d.MustPull(t)
			o, rejected := d.Outcomes[ms[i].ID]
			switch {
			case !rejected:
				applied++
			case o.Code != string(fsync.RejectAppointmentConflict):
				t.Errorf("device %d: outcome %+v, want %s", i, o, fsync.RejectAppointmentConflict)
			}
		}
		if applied != 1 {
			t.Fatalf("%d of %d bookings of one slot applied, want 1", applied, devices)
		}
	})
}

// A lead created on a phone starts the 2-minute alert chain when it reaches
// someone other than its creator (or nobody yet), and not when its creator
// keeps it.
func TestLeadCreateStartsTheAlertChainForOthers(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		b := setup(t, s)
		// Whether the chain's message for level is in the outbox, read
		// without claiming anything: enqueueing its id again is refused
		// if it is there (and rolled back if not).
		queued := func(leadID string, level int) bool {
			t.Helper()
			errProbe := errors.New("probe")
			err := s.Write(ctx, sqltest.System(b.org), func(tx domain.Tx) error {
				if err := tx.Enqueue(domain.OutboxMessage{ID: domain.AlertTaskID(leadID, level), Kind: "probe"}); err != nil {
					return err
				}
				return errProbe
			})
			if err != nil && !errors.Is(err, errProbe) && !domain.IsCode(err, domain.CodeConflict) {
				t.Fatal(err)
			}
			return domain.IsCode(err, domain.CodeConflict)
		}
		create := func(as domain.Principal, args map[string]any) string {
			t.Helper()
			d := synctest.NewDevice(t, b.e, as)
			args["id"], args["first_name"], args["phone"] = synctest.NewID(), "Pat", "248-555-0100"
			m := d.MustPush(t, "lead.create", args)
			d.MustPull(t)
			if o, rejected := d.Outcomes[m.ID]; rejected {
				t.Fatalf("lead.create rejected: %+v", o)
			}
			return args["id"].(string)
		}
		for _, tc := range []struct {
			name  string
			as    domain.Principal
			args  map[string]any
			chain bool
		}{
			{"rep's own lead", b.asA, map[string]any{}, false},
			{"manager's lead for a rep", b.asManager, map[string]any{"assigned_to": b.repA.ID}, true},
			{"manager's unassigned lead", b.asManager, map[string]any{}, true},
			{"manager keeps it", b.asManager, map[string]any{"assigned_to": b.manager.ID}, false},
		} {
			id := create(tc.as, tc.args)
			for level := domain.LevelRep; level <= domain.MaxAlertLevel; level++ {
				if got := queued(id, level); got != tc.chain {
					t.Errorf("%s: level %d queued %v, want %v", tc.name, level, got, tc.chain)
				}
			}
		}
	})
}
