package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	gosync "sync"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

// The proof of docs/sync.md: simulated phones of every role (two phones of
// one rep, apps two schema versions back) go offline and online at random,
// edit the same records and the same fields while offline, race deletes
// against updates, get their leads and projects reassigned and their user's
// role changed, lose answers, replay and duplicate their pushes, and live
// through a database restore (epoch change), while the back office writes
// through the store. At the end every device pushes everything and pulls
// until has_more is false, and then, for every device:
//
//   - its local copy equals the server's view of its user's scope (the
//     protocol's checksums and every record, version and field);
//   - every mutation it made was acknowledged, applied exactly once (its
//     change rows share one transaction) and is reflected in the record as
//     it committed, or was rejected (and left no trace) or lost a field
//     (and said which), and that outcome reached the device;
//   - no record deleted on the server is held anywhere, and none was ever
//     written again after its deletion; during the run, no device held a
//     record whose deletion its cursor had passed.
//
// The schedule is seeded (see FIELDSYNC_SYNC_SEED): a run replays exactly,
// apart from the two concurrent duplicate pushes it makes now and then.
func TestConvergenceRandomized(t *testing.T) {
	t.Parallel()
	seed := baseSeed(t)
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		runs := randomRuns(t, 3)
		if s.Dialect() == sqlstore.DialectSQLite {
			runs = max(1, runs/3) // a SQLite run costs three PostgreSQL ones
		}
		for i := range runs {
			seed := seed + int64(i)
			t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
				reportSeed(t, seed)
				w := newWorld(t, s, seed)
				w.run(160)
				w.quiesce()
				w.verify()
			})
		}
	})
}

// simDevice is a phone of the simulation.
type simDevice struct {
	*synctest.Device
	online bool
	// made are all the mutations the device made, by id.
	made map[int64]fsync.Mutation
}

// world is one run of the simulation: an organization, its phones, and
// the seeded source of every choice.
type world struct {
	t    *testing.T
	s    *sqlstore.Store
	b    *bundle
	r    *rand.Rand
	seed int64
	// repC changes role (sales ↔ manager) during the run; techU is a
	// second tech to move projects to.
	repC, techU *domain.User
	roles       map[string]domain.Role
	devs        []*simDevice
	n           int // makes every written value unique
	log         *changeMirror
	epochs      int
	// trace logs every action (FIELDSYNC_SYNC_TRACE=1), for replaying a
	// failed seed.
	trace bool
}

func (w *world) tracef(format string, args ...any) {
	if w.trace {
		w.t.Logf(format, args...)
	}
}

func newWorld(t *testing.T, s *sqlstore.Store, seed int64) *world {
	b := setup(t, s)
	w := &world{t: t, s: s, b: b, r: seededRand(seed, 0), seed: seed, roles: map[string]domain.Role{},
		trace: os.Getenv("FIELDSYNC_SYNC_TRACE") != ""}
	w.repC = sqltest.User(t, s, b.org, domain.RoleSales)
	w.techU = sqltest.User(t, s, b.org, domain.RoleFieldTech)
	for _, u := range []*domain.User{b.admin, b.manager, b.repA, b.repB, w.repC, b.techT, w.techU} {
		w.roles[u.ID] = u.Role
	}
	// Two trees per rep, and an alert for each rep's first lead.
	for _, rep := range []*domain.User{b.repA, b.repB, w.repC} {
		for i, tech := range []*domain.User{b.techT, w.techU} {
			tr := b.tree(t, rep, tech)
			if i == 0 {
				sqltest.Alert(t, s, b.asManager, func(a *domain.Alert) { a.LeadID, a.RecipientID = tr.lead.ID, rep.ID })
			}
		}
	}
	add := func(u *domain.User, schema int) {
		d := synctest.NewDeviceSchema(t, b.e, sqltest.As(u), schema)
		w.devs = append(w.devs, &simDevice{Device: d, online: true, made: map[int64]fsync.Mutation{}})
	}
	add(b.repA, fsync.SchemaVersion)
	add(b.repA, fsync.SchemaVersion) // the same rep's second phone
	add(b.repB, 2)
	add(w.repC, fsync.SchemaVersion)
	add(b.techT, fsync.SchemaVersion)
	add(w.techU, 1)
	add(b.manager, fsync.SchemaVersion)
	w.log = &changeMirror{w: w, deletedAt: map[synctest.Key]int64{}, live: map[synctest.Key]bool{},
		byOrigin: map[originKey][]domain.ChangeRow{}}
	for _, d := range w.devs {
		d.MustPull(t)
	}
	return w
}

// run performs steps random actions.
func (w *world) run(steps int) {
	for step := 0; step < steps && !w.t.Failed(); step++ {
		switch x := w.r.IntN(100); {
		case x < 42:
			w.mutate(pick(w.r, w.devs))
		case x < 72:
			d := pick(w.r, w.devs)
			if d.online {
				w.sync(d)
			}
		case x < 82:
			d := pick(w.r, w.devs)
			d.online = !d.online
		case x < 95:
			w.backOffice()
		case x < 97:
			w.changeRole()
		case x < 98:
			if w.epochs < 1 {
				// A restore or re-import: every cursor resets, every
				// pending mutation must survive it.
				if _, err := w.s.RotateEpoch(ctx, w.b.org.ID); err != nil {
					w.t.Fatal(err)
				}
				w.epochs++
			}
		default:
			w.checkNoDeleted(pick(w.r, w.devs))
		}
	}
}

// refresh gives the device its user's current role, as authentication
// does on every request.
func (w *world) refresh(d *simDevice) {
	d.Principal.Role = w.roles[d.Principal.UserID]
}

func (w *world) value() string {
	w.n++
	return fmt.Sprintf("v%d", w.n)
}

// slot is one of a few hours in a day, so bookings clash now and then.
func (w *world) slot() time.Time {
	return time.Date(2031, 5, 6, 8+w.r.IntN(8), 0, 0, 0, time.UTC)
}

// sales users now (the role change moves repC in and out).
func (w *world) reps() []string {
	var ids []string
	for _, u := range []*domain.User{w.b.repA, w.b.repB, w.repC} {
		if w.roles[u.ID] == domain.RoleSales {
			ids = append(ids, u.ID)
		}
	}
	return ids
}

func field(d *simDevice, kind domain.EntityKind, id, name string) string {
	var v string
	d.Field(kind, id, name, &v)
	return v
}

// mutate makes one mutation a user of the device's role would make on what
// the device holds (which may be stale: that is the point).
func (w *world) mutate(d *simDevice) {
	w.refresh(d)
	r := w.r
	leads, projects := keysOf(d.Device, domain.KindLead), keysOf(d.Device, domain.KindProject)
	appts, photos := keysOf(d.Device, domain.KindAppointment), keysOf(d.Device, domain.KindPhoto)
	lead, project, appt, photo := pick(r, leads), pick(r, projects), pick(r, appts), pick(r, photos)
	v := func(kind domain.EntityKind, id string) int64 { return version(d.Device, kind, id) }
	var name string
	var args map[string]any
	switch d.Principal.Role {
	case domain.RoleSales:
		switch r.IntN(10) {
		case 0:
			name, args = "lead.create", map[string]any{"id": synctest.NewID(), "first_name": w.value(), "phone": "248-555-0100"}
		case 1, 2:
			fields := map[string]any{}
			for _, f := range []string{"notes", "city", "street", "zip"}[:1+r.IntN(4)] {
				if r.IntN(2) == 0 || len(fields) == 0 {
					fields[f] = w.value()
				}
			}
			name, args = "lead.update", update(lead, v(domain.KindLead, lead), fields)
		case 3:
			st := pick(r, []domain.LeadStatus{domain.LeadContacted, domain.LeadQualified, domain.LeadAppointmentSet,
				domain.LeadQuoteSent, domain.LeadWon, domain.LeadLost, domain.LeadNew})
			name, args = "lead.set_status", map[string]any{"id": lead, "status": st, "base_version": v(domain.KindLead, lead)}
		case 4:
			name, args = "interaction.log", map[string]any{"id": synctest.NewID(), "lead_id": lead, "kind": "call",
				"occurred_at": w.slot(), "body": w.value()}
		case 5:
			start := w.slot()
			name, args = "appointment.create", map[string]any{"id": synctest.NewID(), "lead_id": lead, "kind": "inspection",
				"title": w.value(), "starts_at": start, "ends_at": start.Add(time.Hour)}
		case 6:
			name, args = "appointment.update", update(appt, v(domain.KindAppointment, appt), map[string]any{"notes": w.value()})
		case 7:
			name, args = pick(r, []string{"appointment.cancel", "appointment.complete"}), map[string]any{"id": appt, "base_version": v(domain.KindAppointment, appt)}
		case 8:
			cust := pick(r, keysOf(d.Device, domain.KindCustomer))
			name, args = "customer.update", update(cust, v(domain.KindCustomer, cust), map[string]any{"notes": w.value()})
		default:
			name, args = "alert.acknowledge", map[string]any{"id": pick(r, keysOf(d.Device, domain.KindAlert))}
		}
	case domain.RoleFieldTech:
		switch r.IntN(7) {
		case 0, 1:
			name, args = "photo.create", map[string]any{"id": synctest.NewID(), "project_id": project, "kind": "during",
				"taken_at": w.slot(), "sha256": sha, "byte_size": 1000 + w.n, "content_type": "image/jpeg", "caption": w.value()}
		case 2:
			name, args = "photo.update", update(photo, v(domain.KindPhoto, photo), map[string]any{"caption": w.value()})
		case 3:
			name, args = "project.update", update(project, v(domain.KindProject, project), map[string]any{"notes": w.value()})
		case 4:
			st := pick(r, []domain.ProjectStatus{domain.ProjectApproved, domain.ProjectScheduled, domain.ProjectInProgress,
				domain.ProjectCompleted, domain.ProjectQuoted})
			name, args = "project.set_status", map[string]any{"id": project, "status": st, "base_version": v(domain.KindProject, project)}
		case 5:
			name, args = "appointment.update", update(appt, v(domain.KindAppointment, appt), map[string]any{"location": w.value()})
		default:
			name, args = "interaction.log", map[string]any{"id": synctest.NewID(), "project_id": project, "kind": "note",
				"occurred_at": w.slot(), "body": w.value()}
		}
	default: // manager (and repC while promoted)
		switch r.IntN(7) {
		case 0:
			to := pick(r, w.reps())
			if to == field(d, domain.KindLead, lead, "assigned_to") {
				return
			}
			name, args = "lead.update", update(lead, v(domain.KindLead, lead), map[string]any{"assigned_to": to})
		case 1:
			to := pick(r, []string{w.b.techT.ID, w.techU.ID, ""})
			if to == field(d, domain.KindProject, project, "assigned_tech") {
				return
			}
			name, args = "project.update", update(project, v(domain.KindProject, project), map[string]any{"assigned_tech": to})
		case 2:
			name, args = "photo.delete", map[string]any{"id": photo}
		case 3:
			name, args = "lead.update", update(lead, v(domain.KindLead, lead), map[string]any{"notes": w.value(), "state": w.value()})
		case 4:
			name, args = "lead.create", map[string]any{"id": synctest.NewID(), "first_name": w.value(), "email": "lead@example.test",
				"assigned_to": pick(r, w.reps())}
		case 5:
			start := w.slot()
			name, args = "appointment.reschedule", map[string]any{"id": appt, "starts_at": start, "ends_at": start.Add(90 * time.Minute),
				"base_version": v(domain.KindAppointment, appt)}
		default:
			name, args = "project.update", update(project, v(domain.KindProject, project), map[string]any{"notes": w.value()})
		}
	}
	m := d.Mutation(name, args)
	d.made[m.ID] = m
	w.tracef("%s makes %d %s %s (online %v)", describe(d.Device), m.ID, m.Name, m.Args, d.online)
}

// sync pushes and pulls one device, in one of the ways a flaky network
// and a real client produce.
func (w *world) sync(d *simDevice) {
	w.refresh(d)
	t, r := w.t, w.r
	if ms := d.Unpushed(); len(ms) > 0 {
		w.tracef("%s pushes %d..%d", describe(d.Device), ms[0].ID, ms[len(ms)-1].ID)
		switch r.IntN(6) {
		case 0:
			// The answer is lost: applied, but the device does not know.
			if _, err := d.Engine.Push(ctx, d.Principal, d.PushRequest(ms...)); err != nil {
				t.Fatalf("%s: push: %v", describe(d.Device), err)
			}
		case 1:
			// A retry races the original.
			var wg gosync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := d.Engine.Push(ctx, d.Principal, d.PushRequest(ms...)); err != nil {
						t.Errorf("%s: concurrent push: %v", describe(d.Device), err)
					}
				}()
			}
			wg.Wait()
		case 2:
			// The request is cancelled before it is served: nothing is
			// acknowledged, and the device retries later.
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if resp, err := d.Push(cctx, ms...); err == nil && resp.LastMutationID >= ms[0].ID {
				t.Fatalf("%s: a cancelled push acknowledged %+v", describe(d.Device), resp)
			}
		case 3:
			// A client that sends small batches.
			k := 1 + r.IntN(len(ms))
			if _, err := d.Push(ctx, ms[:k]...); err != nil {
				t.Fatalf("%s: push: %v", describe(d.Device), err)
			}
		default:
			if err := d.PushPending(ctx); err != nil {
				t.Fatalf("%s: push: %v", describe(d.Device), err)
			}
		}
	}
	d.Limit = pick(r, []int{0, 1, 3, 10, 50})
	defer func() { w.tracef("%s pulled to %s", describe(d.Device), d.Cursor) }()
	switch r.IntN(5) {
	case 0:
		// One page, then the app is closed.
		if _, err := d.PullPage(ctx, d.PullRequest()); err != nil {
			t.Fatalf("%s: pull: %v", describe(d.Device), err)
		}
	case 1:
		// A page whose answer is lost, then a whole pull.
		if _, err := d.Engine.Pull(ctx, d.Principal, d.PullRequest()); err != nil {
			t.Fatalf("%s: pull: %v", describe(d.Device), err)
		}
		fallthrough
	default:
		if _, err := d.Pull(ctx); err != nil {
			t.Fatalf("%s: pull: %v", describe(d.Device), err)
		}
		w.checkNoDeleted(d)
	}
}

// backOffice writes through the store as the admin app, REST API and
// workers do, on what exists on the server now.
func (w *world) backOffice() {
	t, r, b := w.t, w.r, w.b
	w.log.scan()
	err := b.s.Write(ctx, b.asAdmin, func(tx domain.Tx) error {
		defer func() { w.tracef("back office write") }()
		switch r.IntN(6) {
		case 0:
			kind := pick(r, []domain.EntityKind{domain.KindLead, domain.KindAppointment, domain.KindInteraction,
				domain.KindPhoto, domain.KindProject, domain.KindCustomer})
			id := pick(r, w.log.liveOf(kind))
			if id == "" {
				return nil
			}
			w.tracef("back office deletes %s %s", kind, id)
			return tx.Delete(kind, id)
		case 1, 2:
			id := pick(r, w.log.liveOf(domain.KindLead))
			if id == "" {
				return nil
			}
			rec, err := tx.Find(domain.KindLead, id)
			if err != nil {
				return err
			}
			l := rec.(*domain.Lead)
			if r.IntN(2) == 0 {
				l.Notes = w.value()
			} else if to := pick(r, w.reps()); to != l.AssignedTo {
				w.tracef("back office reassigns lead %s from %s to %s", l.ID, l.AssignedTo, to)
				l.AssignedTo = to
			} else {
				l.City = w.value()
			}
			return tx.Update(l)
		case 3:
			id := pick(r, w.log.liveOf(domain.KindProject))
			if id == "" {
				return nil
			}
			rec, err := tx.Find(domain.KindProject, id)
			if err != nil {
				return err
			}
			p := rec.(*domain.Project)
			p.AssignedTech = pick(r, []string{b.techT.ID, w.techU.ID})
			p.Notes = w.value()
			w.tracef("back office moves project %s to tech %s", p.ID, p.AssignedTech)
			return tx.Update(p)
		default:
			// A new lead from the web with a job and a visit, in one
			// transaction.
			rep := pick(r, w.reps())
			if rep == "" {
				return nil
			}
			l := &domain.Lead{Source: "web", FirstName: w.value(), Phone: "248-555-0100", Status: domain.LeadNew, AssignedTo: rep}
			if err := tx.Create(l); err != nil {
				return err
			}
			p := &domain.Project{LeadID: l.ID, Name: w.value(), Type: "repair", Status: domain.ProjectQuoted,
				AssignedTech: pick(r, []string{b.techT.ID, w.techU.ID})}
			if err := tx.Create(p); err != nil {
				return err
			}
			start := w.slot().AddDate(0, 1, 0)
			return tx.Create(&domain.Appointment{ProjectID: p.ID, Kind: "installation", Title: w.value(), StartsAt: start,
				EndsAt: start.Add(time.Hour), Status: domain.AppointmentScheduled, AssignedTo: rep})
		}
	})
	if err != nil {
		t.Fatalf("back office write: %v", err)
	}
}

// changeRole moves repC between sales and manager: their phones reset to
// a scope of another shape, with their pending mutations kept.
func (w *world) changeRole() {
	to := domain.RoleManager
	if w.roles[w.repC.ID] == domain.RoleManager {
		to = domain.RoleSales
	}
	err := w.b.s.Write(ctx, w.b.asAdmin, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindUser, w.repC.ID)
		if err != nil {
			return err
		}
		u := rec.(*domain.User)
		u.Role = to
		return tx.Update(u)
	})
	if err != nil {
		w.t.Fatalf("role change: %v", err)
	}
	w.roles[w.repC.ID] = to
}

// checkNoDeleted fails if the device, after a pull that ended, holds a
// record whose deletion its cursor has passed.
func (w *world) checkNoDeleted(d *simDevice) {
	if d.Staging() || d.Cursor == "" {
		return
	}
	cur, err := fsync.DecodeCursor(d.Cursor)
	if err != nil || cur.Mode != fsync.ModeIncremental {
		return
	}
	w.log.scan()
	for k, seq := range w.log.deletedAt {
		if seq <= cur.Seq && d.Has(k.Kind, k.ID) {
			w.t.Fatalf("%s holds %s %s, deleted at seq %d, with its cursor at seq %d", describe(d.Device), k.Kind, k.ID, seq, cur.Seq)
		}
	}
}

// quiesce brings every device online, pushes everything, then pulls every
// device to the end.
func (w *world) quiesce() {
	for _, d := range w.devs {
		d.online = true
		w.refresh(d)
		if err := d.PushPending(ctx); err != nil {
			w.t.Fatalf("%s: final push: %v", describe(d.Device), err)
		}
	}
	for _, d := range w.devs {
		d.Limit = 0
		d.MustPull(w.t)
	}
	w.log.scan()
}

// verify checks what the test's comment promises.
func (w *world) verify() {
	t := w.t
	for _, d := range w.devs {
		t.Run(describe(d.Device), func(t *testing.T) {
			d.RequireScope(t, w.s)
			if d.LastMutationID != d.Next-1 || len(d.Unpushed()) > 0 {
				t.Fatalf("last mutation id %d of %d made, unpushed %d", d.LastMutationID, d.Next-1, len(d.Unpushed()))
			}
			w.verifyOutcomes(t, d)
			for id := int64(1); id < d.Next; id++ {
				w.verifyMutation(t, d, d.made[id])
			}
		})
	}
	for k := range w.log.deletedAt {
		if _, err := w.s.FindRecord(ctx, w.b.org.ID, k.Kind, k.ID); !domain.IsCode(err, domain.CodeNotFound) {
			t.Errorf("deleted %s %s is live again on the server (%v)", k.Kind, k.ID, err)
		}
	}
	for _, v := range w.log.resurrected {
		t.Error(v)
	}
	w.summary()
}

// summary logs what the run exercised, so that a run that silently did
// nothing interesting would show.
func (w *world) summary() {
	made, applied, resets := 0, 0, map[string]int{}
	codes := map[string]int{}
	for _, d := range w.devs {
		made += len(d.made)
		for _, m := range d.made {
			if _, ok := d.Outcomes[m.ID]; !ok {
				applied++
			}
		}
		for _, o := range d.Outcomes {
			codes[o.Code]++
		}
		for _, r := range d.Resets {
			resets[r]++
		}
	}
	w.t.Logf("seed %d: %d mutations, %d applied cleanly, outcomes %v; %d deletions; resets %v; %d changes in the log",
		w.seed, made, applied, codes, len(w.log.deletedAt), resets, w.log.upTo)
}

// verifyOutcomes checks that the device holds exactly the outcomes the
// server recorded for it.
func (w *world) verifyOutcomes(t *testing.T, d *simDevice) {
	stored, err := w.s.Outcomes(ctx, w.b.org.ID, d.ClientID, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for id, o := range d.Outcomes {
		got[id] = string(o.Kind) + ":" + o.Code
	}
	want := map[int64]string{}
	for _, o := range stored {
		want[o.MutationID] = string(o.Kind) + ":" + o.Code
		if o.Code == string(fsync.RejectInternal) {
			t.Errorf("mutation %d (%s) failed inside the server: %s", o.MutationID, o.Name, o.Message)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("outcomes on the device %v, recorded by the server %v", got, want)
	}
}

// mayBeNoOp are mutations that may leave the record as it was (the same
// status again, a second cancel, an acknowledgement of an acknowledged
// alert, deleting a deleted photo, a visit moved to the slot it has,
// assigning to whoever has it already). Every other mutation writes a
// value never written before, so it must leave a change.
func mayBeNoOp(m fsync.Mutation) bool {
	switch m.Name {
	case "lead.set_status", "project.set_status", "appointment.cancel", "appointment.complete",
		"alert.acknowledge", "photo.delete", "appointment.reschedule":
		return true
	}
	var a struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	_ = json.Unmarshal(m.Args, &a)
	for f := range a.Fields {
		if f != "assigned_to" && f != "assigned_tech" {
			return false
		}
	}
	return len(a.Fields) > 0
}

// verifyMutation checks one mutation against the change log: applied once,
// in one transaction; with its values in the record as it committed unless
// it was rejected (then nothing) or lost fields (then those, named).
func (w *world) verifyMutation(t *testing.T, d *simDevice, m fsync.Mutation) {
	rows := w.log.byOrigin[originKey{d.ClientID, m.ID}]
	seqs := map[int64]bool{}
	for _, r := range rows {
		seqs[r.Seq] = true
	}
	if len(seqs) > 1 {
		t.Errorf("mutation %d (%s) applied in %d transactions: %v", m.ID, m.Name, len(seqs), slices.Sorted(maps.Keys(seqs)))
	}
	o, hasOutcome := d.Outcomes[m.ID]
	if hasOutcome && o.Kind == domain.OutcomeRejected {
		if len(rows) > 0 {
			t.Errorf("mutation %d (%s) was rejected (%s) but wrote %d change rows", m.ID, m.Name, o.Code, len(rows))
		}
		return
	}
	kind, id := synctest.Target(m)
	var own *domain.ChangeRow
	for i, r := range rows {
		if r.Kind == kind && r.EntityID == id {
			own = &rows[i]
		}
	}
	lost := map[string]bool{}
	if hasOutcome {
		var details []fsync.FieldConflict
		if err := json.Unmarshal(o.Details, &details); err != nil || len(details) == 0 {
			t.Errorf("conflict outcome of mutation %d without details: %s", m.ID, o.Details)
		}
		for _, c := range details {
			lost[c.Field] = true
		}
	}
	if own == nil {
		if !hasOutcome && !mayBeNoOp(m) {
			t.Errorf("mutation %d (%s %s) acknowledged without an outcome, but no change of it is in the log", m.ID, m.Name, m.Args)
		}
		return
	}
	// The record as this mutation committed it holds what was sent: an
	// update's fields, or the arguments of the other mutations (those
	// that name their effect only by their name are left out).
	switch m.Name {
	case "appointment.cancel", "appointment.complete", "alert.acknowledge", "photo.delete":
		return
	}
	var args struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	_ = json.Unmarshal(m.Args, &args)
	sent := args.Fields
	if sent == nil {
		_ = json.Unmarshal(m.Args, &sent)
	}
	var stored map[string]json.RawMessage
	if own.Op == domain.OpUpsert {
		_ = json.Unmarshal(own.Payload, &stored)
	}
	for f, v := range sent {
		if lost[f] || f == "base_version" {
			continue
		}
		if !sameJSONValue(v, stored[f]) {
			t.Errorf("mutation %d (%s) set %s to %s; the record it committed (seq %d) holds %s", m.ID, m.Name, f, v, own.Seq, stored[f])
		}
	}
}

// sameJSONValue compares a sent value with a stored one, treating an
// absent stored field as the zero value (omitempty) and times by instant.
func sameJSONValue(sent, stored json.RawMessage) bool {
	var a, b any
	if json.Unmarshal(sent, &a) != nil {
		return false
	}
	if stored == nil {
		switch x := a.(type) {
		case nil:
			return true
		case string:
			return x == ""
		case bool:
			return !x
		case float64:
			return x == 0
		}
		return false
	}
	if json.Unmarshal(stored, &b) != nil {
		return false
	}
	if as, ok := a.(string); ok {
		if bs, ok := b.(string); ok {
			at, aerr := time.Parse(time.RFC3339Nano, as)
			bt, berr := time.Parse(time.RFC3339Nano, bs)
			if aerr == nil && berr == nil {
				return at.Equal(bt)
			}
		}
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// originKey names one mutation of one device.
type originKey struct {
	client string
	id     int64
}

// changeMirror follows the organization's whole change log (as a manager
// sees it: every record's own rows) to know what was deleted when, what
// is live, and which rows each mutation wrote.
type changeMirror struct {
	w           *world
	upTo        int64
	deletedAt   map[synctest.Key]int64
	live        map[synctest.Key]bool
	byOrigin    map[originKey][]domain.ChangeRow
	resurrected []string
}

func (m *changeMirror) scan() {
	b := m.w.b
	f := domain.ScopeFilter{OrgID: b.org.ID, UserID: b.admin.ID, Role: domain.RoleAdmin}
	for {
		page, err := m.w.s.ChangesForScope(ctx, f, m.upTo, 1000)
		if err != nil {
			m.w.t.Fatal(err)
		}
		for _, r := range page.Rows {
			k := synctest.Key{Kind: r.Kind, ID: r.EntityID}
			switch r.Op {
			case domain.OpDelete:
				if _, again := m.deletedAt[k]; !again {
					m.deletedAt[k] = r.Seq
				}
				delete(m.live, k)
			default:
				if at, dead := m.deletedAt[k]; dead {
					m.resurrected = append(m.resurrected, fmt.Sprintf("%s %s deleted at seq %d written again at seq %d", r.Kind, r.EntityID, at, r.Seq))
				}
				m.live[k] = true
			}
			if r.Origin.ClientID != "" {
				o := originKey{r.Origin.ClientID, r.Origin.MutationID}
				m.byOrigin[o] = append(m.byOrigin[o], r)
			}
		}
		m.upTo = page.UpTo
		if !page.More {
			return
		}
	}
}

// liveOf lists the live records of kind, sorted (a seeded run picks the
// same ones).
func (m *changeMirror) liveOf(kind domain.EntityKind) []string {
	var ids []string
	for k := range m.live {
		if k.Kind == kind {
			ids = append(ids, k.ID)
		}
	}
	slices.Sort(ids)
	return ids
}
