package sim

import (
	"context"
	"errors"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/client"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

func fieldKey(kind domain.EntityKind, id, field string) string {
	return string(kind) + "/" + id + "/" + field
}

// slot is one of a few hours of one day, so bookings clash now and then.
func (w *world) slot() time.Time {
	return time.Date(2031, 5, 6, 8+w.r.IntN(8), 0, 0, 0, time.UTC)
}

// mutate makes the device's user do something in the app, chosen from
// what the device holds: edits of the same and of different fields of
// records others edit too, creations, calls, status moves, bookings, and
// (for managers) reassignments.
func (w *world) mutate(ctx context.Context, d *simDevice) {
	role := w.roles[d.spec.UserID]
	leads, _ := d.c.ServerCopies(ctx, domain.KindLead)
	projects, _ := d.c.ServerCopies(ctx, domain.KindProject)
	appts, _ := d.c.ServerCopies(ctx, domain.KindAppointment)
	var name string
	var args map[string]any
	var m made
	update := func(r client.Record, field, value string) {
		name = string(r.Kind) + ".update"
		args = map[string]any{"id": r.ID, "base_version": r.Version, "fields": map[string]any{field: value}}
		m = made{kind: r.Kind, id: r.ID, field: field, value: value}
	}
	x := w.r.IntN(100)
	switch {
	case role != domain.RoleFieldTech && len(leads) > 0 && x < 45:
		update(pick(w.r, leads), pick(w.r, []string{"notes", "notes", "city"}), w.value("dev"))
	case role != domain.RoleFieldTech && x < 55:
		id := client.NewID()
		name = "lead.create"
		args = map[string]any{"id": id, "first_name": w.value("ana"), "phone": "+15125550100"}
		m = made{kind: domain.KindLead, id: id, create: true}
	case role != domain.RoleFieldTech && len(leads) > 0 && x < 70:
		id, l := client.NewID(), pick(w.r, leads)
		name = "interaction.log"
		args = map[string]any{"id": id, "lead_id": l.ID, "kind": "call", "occurred_at": "2026-11-21T15:04:05Z"}
		m = made{kind: domain.KindInteraction, id: id, create: true}
	case role != domain.RoleFieldTech && len(leads) > 0 && x < 80:
		l := pick(w.r, leads)
		name = "lead.set_status"
		args = map[string]any{"id": l.ID, "status": pick(w.r, []string{"contacted", "qualified", "won", "lost"})}
		m = made{kind: domain.KindLead, id: l.ID}
	case role != domain.RoleFieldTech && len(leads) > 0 && x < 88:
		id, l, start := client.NewID(), pick(w.r, leads), w.slot()
		name = "appointment.create"
		args = map[string]any{"id": id, "lead_id": l.ID, "kind": "inspection", "starts_at": start, "ends_at": start.Add(time.Hour)}
		m = made{kind: domain.KindAppointment, id: id, create: true}
	case role == domain.RoleManager && len(leads) > 0 && x < 94:
		reps := w.reps()
		if len(reps) == 0 {
			return
		}
		l, rep := pick(w.r, leads), pick(w.r, reps)
		name = "lead.update"
		args = map[string]any{"id": l.ID, "base_version": l.Version, "fields": map[string]any{"assigned_to": rep}}
		m = made{kind: domain.KindLead, id: l.ID}
	case len(projects) > 0 && x < 94:
		update(pick(w.r, projects), "notes", w.value("dev"))
	case len(appts) > 0:
		update(pick(w.r, appts), "notes", w.value("dev"))
	default:
		return
	}
	id, err := d.c.Mutate(ctx, name, args)
	if err != nil {
		w.cfg.Log.Warn("sim: mutate", "error", err.Error())
		return
	}
	d.made[id] = m
	w.rep.Mutations++
	if m.field != "" {
		w.writes[fieldKey(m.kind, m.id, m.field)] = append(w.writes[fieldKey(m.kind, m.id, m.field)], m.value)
	}
	w.note(m.id, "device %d (%s, %s) mutation %d %s %v%s", d.n, short(d.spec.UserID), role, id, name, args["fields"],
		map[bool]string{true: " offline", false: ""}[d.net.offline.Load()])
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// reps are the users who are sales reps now.
func (w *world) reps() []string {
	var out []string
	for _, d := range w.cfg.Devices {
		if w.roles[d.UserID] == domain.RoleSales {
			out = append(out, d.UserID)
		}
	}
	return out
}

func (w *world) techs() []string {
	var out []string
	for _, d := range w.cfg.Devices {
		if w.roles[d.UserID] == domain.RoleFieldTech {
			out = append(out, d.UserID)
		}
	}
	return out
}

func (w *world) system() domain.Principal { return w.cfg.Office }

// live lists the live records of kind in the organization.
func (w *world) live(ctx context.Context, kind domain.EntityKind) ([]domain.SnapshotRecord, error) {
	f := domain.ScopeFilter{OrgID: w.cfg.OrgID, UserID: w.cfg.Office.UserID, Role: w.cfg.Office.Role}
	var out []domain.SnapshotRecord
	for after := ""; ; {
		page, err := w.cfg.Store.SnapshotPage(ctx, f, kind, after, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// office is the back office writing through the server's own write path:
// edits racing the phones', reassignments, deletes racing updates, and new
// leads with their whole tree.
func (w *world) office(ctx context.Context) error {
	x := w.r.IntN(100)
	switch {
	case x < 35:
		return w.officeEdit(ctx)
	case x < 55:
		return w.reassign(ctx)
	case x < 70:
		return w.moveProject(ctx)
	case x < 85:
		return w.officeDelete(ctx)
	default:
		return w.newTree(ctx)
	}
}

func (w *world) write(ctx context.Context, fn func(tx domain.Tx) error) error {
	err := w.cfg.Store.Write(ctx, w.system(), fn)
	if err != nil && domain.ErrorCode(err) == domain.CodeUnavailable {
		// The database is restarting (chaos): the office tries later.
		return errSkipped
	}
	return err
}

// errSkipped: the office's write did not happen (database down).
var errSkipped = errors.New("sim: office write skipped")

func (w *world) officeEdit(ctx context.Context) error {
	kind := pick(w.r, []domain.EntityKind{domain.KindLead, domain.KindLead, domain.KindProject})
	recs, err := w.live(ctx, kind)
	if err != nil || len(recs) == 0 {
		return nil
	}
	target, field, value := pick(w.r, recs), "notes", w.value("office")
	if kind == domain.KindLead && w.r.IntN(3) == 0 {
		field = "city"
	}
	err = w.write(ctx, func(tx domain.Tx) error {
		rec, err := tx.Find(kind, target.ID)
		if err != nil {
			return err
		}
		switch r := rec.(type) {
		case *domain.Lead:
			if field == "city" {
				r.City = value
			} else {
				r.Notes = value
			}
		case *domain.Project:
			r.Notes = value
		}
		return tx.Update(rec)
	})
	if err != nil {
		return ignoreGone(err)
	}
	w.rep.OfficeEdits++
	w.writes[fieldKey(kind, target.ID, field)] = append(w.writes[fieldKey(kind, target.ID, field)], value)
	w.note(target.ID, "office sets %s %s = %s", kind, field, value)
	return nil
}

// ignoreGone: a record the office picked was deleted meanwhile.
func ignoreGone(err error) error {
	if domain.ErrorCode(err) == domain.CodeNotFound || errors.Is(err, errSkipped) {
		return nil
	}
	return err
}

func (w *world) reassign(ctx context.Context) error {
	leads, err := w.live(ctx, domain.KindLead)
	reps := w.reps()
	if err != nil || len(leads) == 0 || len(reps) == 0 {
		return nil
	}
	target, rep := pick(w.r, leads), pick(w.r, reps)
	err = w.write(ctx, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindLead, target.ID)
		if err != nil {
			return err
		}
		rec.(*domain.Lead).AssignedTo = rep
		return tx.Update(rec)
	})
	if err != nil {
		return ignoreGone(err)
	}
	w.rep.Reassignments++
	w.note(target.ID, "office reassigns lead to %s", short(rep))
	return nil
}

func (w *world) moveProject(ctx context.Context) error {
	projects, err := w.live(ctx, domain.KindProject)
	techs := w.techs()
	if err != nil || len(projects) == 0 || len(techs) == 0 {
		return nil
	}
	target, tech := pick(w.r, projects), pick(w.r, techs)
	err = w.write(ctx, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindProject, target.ID)
		if err != nil {
			return err
		}
		rec.(*domain.Project).AssignedTech = tech
		return tx.Update(rec)
	})
	if err != nil {
		return ignoreGone(err)
	}
	w.rep.Reassignments++
	w.note(target.ID, "office moves project to tech %s", short(tech))
	return nil
}

func (w *world) officeDelete(ctx context.Context) error {
	kind := pick(w.r, []domain.EntityKind{domain.KindInteraction, domain.KindAppointment, domain.KindAppointment, domain.KindLead})
	recs, err := w.live(ctx, kind)
	if err != nil || len(recs) == 0 {
		return nil
	}
	target := pick(w.r, recs)
	if err := w.write(ctx, func(tx domain.Tx) error { return tx.Delete(kind, target.ID) }); err != nil {
		return ignoreGone(err)
	}
	w.rep.Deletes++
	w.deleted[synctest.Key{Kind: kind, ID: target.ID}] = true
	w.note(target.ID, "office deletes %s", kind)
	return nil
}

// newTree creates a lead for a rep with a customer, a project for a tech,
// an appointment and a call, in one transaction.
func (w *world) newTree(ctx context.Context) error {
	reps, techs := w.reps(), w.techs()
	if len(reps) == 0 {
		return nil
	}
	lead := &domain.Lead{Source: "web", FirstName: w.value("lead"), LastName: "Sim", Status: domain.LeadNew, Zip: "75001",
		Phone: "+15125550101", AssignedTo: pick(w.r, reps)}
	err := w.write(ctx, func(tx domain.Tx) error {
		if err := tx.Create(lead); err != nil {
			return err
		}
		cust := &domain.Customer{FirstName: lead.FirstName, LastName: "Sim", LeadID: lead.ID}
		if err := tx.Create(cust); err != nil {
			return err
		}
		proj := &domain.Project{Name: "Roof " + lead.FirstName, Type: "replacement", Status: domain.ProjectQuoted, LeadID: lead.ID, CustomerID: cust.ID}
		if len(techs) > 0 {
			proj.AssignedTech = pick(w.r, techs)
		}
		if err := tx.Create(proj); err != nil {
			return err
		}
		start := w.slot().AddDate(0, 0, 1+w.r.IntN(20))
		appt := &domain.Appointment{Kind: "inspection", Title: "Inspection", StartsAt: start, EndsAt: start.Add(time.Hour),
			Status: domain.AppointmentScheduled, LeadID: lead.ID, ProjectID: proj.ID}
		if err := tx.Create(appt); err != nil {
			return err
		}
		return tx.Create(&domain.Interaction{UserID: lead.AssignedTo, Kind: domain.InteractionCall, OccurredAt: start, LeadID: lead.ID})
	})
	if err != nil {
		return ignoreGone(err)
	}
	w.note(lead.ID, "office creates lead for %s", short(lead.AssignedTo))
	return nil
}

// flipRole moves the flipper between sales and manager: every device of
// theirs resets to the new shape of their scope.
func (w *world) flipRole(ctx context.Context) error {
	if w.cfg.Flipper == "" {
		return nil
	}
	next := domain.RoleManager
	if w.roles[w.cfg.Flipper] == domain.RoleManager {
		next = domain.RoleSales
	}
	err := w.write(ctx, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindUser, w.cfg.Flipper)
		if err != nil {
			return err
		}
		rec.(*domain.User).Role = next
		return tx.Update(rec)
	})
	if err != nil {
		return ignoreGone(err)
	}
	w.roles[w.cfg.Flipper] = next
	w.rep.RoleChanges++
	w.note(w.cfg.Flipper, "office makes user %s a %s", short(w.cfg.Flipper), next)
	return nil
}
