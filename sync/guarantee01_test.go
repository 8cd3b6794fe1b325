package sync_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

// Guarantee 1: no missed change under concurrent writers.
//
// Guards against a cursor that skips rows whose transactions commit out of
// order (the time-cursor bug of WatermelonDB and AppSync): while 24 writers
// in three organizations commit pushes and direct store writes, some of
// them holding their transaction open for a second or more after writing,
// twelve devices of every role pull without pause, in pages of random
// size, sometimes losing an answer. Once the writers are done every device
// must hold exactly the server's view of its user's scope. Most writes
// create records: a change a cursor skipped would never come again.
//
// Runs: 5 on PostgreSQL and a third of that (at least one) on SQLite,
// whose single writer turns every held transaction into a pause for all
// three organizations; that keeps `go test -race ./sync/...` within its
// budget on two cores. FIELDSYNC_SYNC_RUNS=10 (or more) and
// FIELDSYNC_SYNC_SEED change them. The seed fixes what each writer does,
// not how the goroutines interleave.
func TestGuarantee01NoMissedChange(t *testing.T) {
	t.Parallel()
	seed := baseSeed(t)
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		runs := randomRuns(t, 5)
		if s.Dialect() == sqlstore.DialectSQLite {
			runs = max(1, runs/3)
		}
		for i := range runs {
			seed := seed + int64(i)
			t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
				reportSeed(t, seed)
				concurrentWritersRun(t, s, seed)
			})
		}
	})
	// The check above must be able to fail: a store that loses one
	// committed change from a page is caught by the same comparison.
	t.Run("a lost change is caught", func(t *testing.T) {
		sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
			b := setup(t, s)
			b.lead(t, b.repA)
			d := synctest.NewDevice(t, b.e, b.asA)
			d.MustPull(t)
			lost := b.lead(t, b.repA)
			b.lead(t, b.repA)
			lossy := &lossyStore{SyncStore: s, seq: lost.Version}
			d.Engine = fsync.New(fsync.Config{Store: lossy})
			d.MustPull(t)
			want, err := synctest.ServerScope(ctx, s, b.asA)
			if err != nil {
				t.Fatal(err)
			}
			if diff := d.Diff(want); len(diff) != 1 {
				t.Fatalf("a device that missed one change: diff %v, want exactly the missing lead", diff)
			}
		})
	})
}

// lossyStore drops the change rows of one sequence number from every
// page: what a cursor past an uncommitted transaction amounts to.
type lossyStore struct {
	domain.SyncStore
	seq int64
}

func (l *lossyStore) ChangesForScope(ctx context.Context, f domain.ScopeFilter, after int64, maxRows int) (domain.ChangePage, error) {
	page, err := l.SyncStore.ChangesForScope(ctx, f, after, maxRows)
	kept := page.Rows[:0:0]
	for _, r := range page.Rows {
		if r.Seq != l.seq {
			kept = append(kept, r)
		}
	}
	page.Rows = kept
	return page, err
}

// g1Org is one organization of a run: its team and the records writers
// pick from.
type g1Org struct {
	b        *bundle
	mu       gosync.Mutex
	leads    []string // leads created during the run
	projects []string
	logs     []string // interactions a writer may delete
}

func (o *g1Org) add(list *[]string, ids ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	*list = append(*list, ids...)
}

func (o *g1Org) pick(r *rand.Rand, list *[]string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return pick(r, *list)
}

// take removes and returns a random element (for deletes, so that no two
// writers delete one record).
func (o *g1Org) take(r *rand.Rand, list *[]string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(*list) == 0 {
		return ""
	}
	i := r.IntN(len(*list))
	id := (*list)[i]
	*list = append((*list)[:i], (*list)[i+1:]...)
	return id
}

// concurrentWritersRun is one randomized run of guarantee 1.
func concurrentWritersRun(t *testing.T, s *sqlstore.Store, seed int64) {
	sqlite := s.Dialect() == sqlstore.DialectSQLite
	ops := 4
	if sqlite {
		ops = 3
	}
	var orgs []*g1Org
	for range 3 {
		o := &g1Org{b: setup(t, s)}
		// Something to edit and reassign from the start.
		for _, owner := range []*domain.User{o.b.repA, o.b.repB} {
			tr := o.b.tree(t, owner, o.b.techT)
			o.add(&o.leads, tr.lead.ID)
			o.add(&o.projects, tr.project.ID)
		}
		orgs = append(orgs, o)
	}

	// Twelve pulling devices, four per organization, each in its own
	// goroutine, pulling until told to stop; and the writers' devices.
	var pullers, writerDevices []*synctest.Device
	for _, o := range orgs {
		for _, p := range []domain.Principal{o.b.asManager, o.b.asA, o.b.asB, o.b.asT} {
			pullers = append(pullers, synctest.NewDevice(t, o.b.e, p))
		}
		for _, p := range []domain.Principal{o.b.asA, o.b.asB, o.b.asT, o.b.asManager} {
			writerDevices = append(writerDevices, synctest.NewDevice(t, o.b.e, p))
		}
	}
	stop := make(chan struct{})
	var pullWG gosync.WaitGroup
	var pulls atomic.Int64
	for i, d := range pullers {
		pullWG.Add(1)
		go func() {
			defer pullWG.Done()
			r := seededRand(seed, 100+i)
			for {
				select {
				case <-stop:
					return
				default:
				}
				req := d.PullRequest()
				req.Limit = 1 + r.IntN(30)
				if r.IntN(10) == 0 {
					// A dropped connection: the answer never arrives, and
					// the device asks again with the same cursor.
					if _, err := d.Engine.Pull(ctx, d.Principal, req); err != nil {
						t.Errorf("%s: pull: %v", describe(d), err)
						return
					}
					continue
				}
				resp, err := d.PullPage(ctx, req)
				if err != nil {
					t.Errorf("%s: pull: %v", describe(d), err)
					return
				}
				pulls.Add(1)
				// A short pause between pages leaves the two cores to
				// the writers; a caught-up device waits a little longer.
				pause := 1 + r.IntN(4)
				if !resp.HasMore {
					pause += r.IntN(20)
				}
				time.Sleep(time.Duration(pause) * time.Millisecond)
			}
		}()
	}

	// Twenty-four writers, eight per organization: four devices pushing
	// mutations through the engine, four writing through the store as the
	// REST API, admin app and workers do, one of which holds its
	// transaction open after writing.
	var writeWG gosync.WaitGroup
	for oi, o := range orgs {
		for wi := range 4 {
			d := writerDevices[oi*4+wi]
			stream := oi*10 + wi
			writeWG.Add(1)
			go func() {
				defer writeWG.Done()
				r := seededRand(seed, stream)
				for op := range ops {
					if err := deviceWrite(r, o, d, stream*100+op); err != nil {
						t.Errorf("%s: %v", describe(d), err)
						return
					}
					time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
				}
			}()
		}
		for wi, w := range []func(*rand.Rand, *g1Org, int) error{storeTreeWrite, storeEditWrite, storeDirectoryWrite} {
			stream := oi*10 + 4 + wi
			writeWG.Add(1)
			go func() {
				defer writeWG.Done()
				r := seededRand(seed, stream)
				for op := range ops {
					if err := w(r, o, op); err != nil {
						t.Errorf("store writer %d: %v", stream, err)
						return
					}
					time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
				}
			}()
		}
		stream := oi*10 + 7
		writeWG.Add(1)
		go func() {
			defer writeWG.Done()
			r := seededRand(seed, stream)
			// A held transaction, 1 to 1.5 s: all of the organization's
			// writers (on SQLite: all writers) queue behind it while the
			// devices keep pulling.
			time.Sleep(time.Duration(r.IntN(300)) * time.Millisecond)
			if err := slowWrite(r, o, time.Second+time.Duration(r.IntN(500))*time.Millisecond); err != nil {
				t.Errorf("slow writer: %v", err)
			}
		}()
	}
	writeWG.Wait()
	close(stop)
	pullWG.Wait()
	if t.Failed() {
		return
	}

	// Quiesced: everyone catches up and must hold exactly their scope.
	for _, d := range writerDevices {
		d.MustSync(t)
	}
	for _, d := range append(pullers, writerDevices...) {
		d.MustPull(t)
		d.RequireScope(t, s)
		for id, o := range d.Outcomes {
			if o.Code == string(fsync.RejectInternal) {
				t.Errorf("%s: mutation %d failed inside the server: %+v", describe(d), id, o)
			}
		}
	}
	if pulls.Load() < int64(len(pullers)) {
		t.Errorf("only %d pulls ran during the writes", pulls.Load())
	}
}

// deviceWrite makes and pushes one mutation a device of d's role would
// make, on records it holds (pulling first now and then, as phones do).
// Rejections are fine (a record reassigned under the device, a clash);
// a failed push is not.
func deviceWrite(r *rand.Rand, o *g1Org, d *synctest.Device, n int) error {
	if r.IntN(3) == 0 || len(d.Records) == 0 {
		if _, err := d.Pull(ctx); err != nil {
			return fmt.Errorf("pull: %w", err)
		}
	}
	b := o.b
	// Each writer books its own hours, far from the others'.
	start := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * 3 * time.Hour)
	leads, projects := keysOf(d, domain.KindLead), keysOf(d, domain.KindProject)
	var m fsync.Mutation
	switch d.Principal.Role {
	case domain.RoleSales:
		switch lead := pick(r, leads); {
		case lead == "" || r.IntN(4) == 0:
			id := synctest.NewID()
			m = d.Mutation("lead.create", map[string]any{"id": id, "first_name": fmt.Sprint("Dev ", n), "phone": "248-555-0100"})
		case r.IntN(3) == 0:
			m = d.Mutation("lead.update", update(lead, version(d, domain.KindLead, lead), map[string]any{"notes": fmt.Sprint("note ", n)}))
		case r.IntN(2) == 0:
			m = d.Mutation("appointment.create", map[string]any{"id": synctest.NewID(), "lead_id": lead, "kind": "inspection",
				"starts_at": start, "ends_at": start.Add(time.Hour)})
		default:
			m = d.Mutation("interaction.log", map[string]any{"id": synctest.NewID(), "lead_id": lead, "kind": "call",
				"occurred_at": start})
		}
	case domain.RoleFieldTech:
		project := pick(r, projects)
		switch {
		case project == "":
			return nil // nothing assigned yet
		case r.IntN(2) == 0:
			m = d.Mutation("photo.create", map[string]any{"id": synctest.NewID(), "project_id": project, "kind": "before",
				"taken_at": start, "sha256": sha, "byte_size": 100 + n, "content_type": "image/jpeg"})
		case r.IntN(2) == 0:
			m = d.Mutation("project.update", update(project, version(d, domain.KindProject, project), map[string]any{"notes": fmt.Sprint("tech ", n)}))
		default:
			m = d.Mutation("interaction.log", map[string]any{"id": synctest.NewID(), "project_id": project, "kind": "note",
				"occurred_at": start, "body": fmt.Sprint("tech ", n)})
		}
	default:
		lead := pick(r, leads)
		switch {
		case lead != "" && r.IntN(2) == 0:
			// A reassignment: a grant and revokes for the reps.
			var to string
			if d.Field(domain.KindLead, lead, "assigned_to", &to); to == b.repA.ID {
				to = b.repB.ID
			} else {
				to = b.repA.ID
			}
			m = d.Mutation("lead.update", update(lead, version(d, domain.KindLead, lead), map[string]any{"assigned_to": to}))
		default:
			owner := pick(r, []string{b.repA.ID, b.repB.ID})
			id := synctest.NewID()
			m = d.Mutation("lead.create", map[string]any{"id": id, "first_name": fmt.Sprint("Mgr ", n), "phone": "248-555-0100", "assigned_to": owner})
			o.add(&o.leads, id)
		}
	}
	resp, err := d.Push(ctx, m)
	if err != nil {
		return fmt.Errorf("push %s: %w", m.Name, err)
	}
	if resp.LastMutationID < m.ID {
		return fmt.Errorf("push %s: not processed: %+v", m.Name, resp)
	}
	return nil
}

// storeTreeWrite creates, in one transaction, a lead with a customer, a
// project and two appointments, as an import or the admin app would.
func storeTreeWrite(r *rand.Rand, o *g1Org, n int) error {
	b := o.b
	owner := pick(r, []*domain.User{b.repA, b.repB})
	lead := &domain.Lead{Source: "web", FirstName: fmt.Sprint("Tree ", n), Phone: "248-555-0100", Status: domain.LeadNew, AssignedTo: owner.ID}
	cust := &domain.Customer{FirstName: "Cust", LastName: fmt.Sprint(n)}
	proj := &domain.Project{Name: fmt.Sprint("Job ", n), Type: "repair", Status: domain.ProjectQuoted}
	if r.IntN(2) == 0 {
		proj.AssignedTech = b.techT.ID
	}
	var appts []string
	var logs []string
	err := b.s.Write(ctx, b.asManager, func(tx domain.Tx) error {
		appts, logs = nil, nil
		if err := tx.Create(lead); err != nil {
			return err
		}
		cust.LeadID = lead.ID
		if err := tx.Create(cust); err != nil {
			return err
		}
		proj.LeadID, proj.CustomerID = lead.ID, cust.ID
		if err := tx.Create(proj); err != nil {
			return err
		}
		for i := range 2 {
			start := time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n*10+i) * time.Hour)
			a := &domain.Appointment{ProjectID: proj.ID, Kind: "estimate", Title: "Visit", StartsAt: start,
				EndsAt: start.Add(time.Hour), Status: domain.AppointmentScheduled, AssignedTo: owner.ID}
			if err := tx.Create(a); err != nil {
				return err
			}
			appts = append(appts, a.ID)
		}
		in := &domain.Interaction{LeadID: lead.ID, Kind: domain.InteractionNote, Body: "imported", OccurredAt: time.Now(), UserID: owner.ID}
		if err := tx.Create(in); err != nil {
			return err
		}
		logs = append(logs, in.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("tree write: %w", err)
	}
	o.add(&o.leads, lead.ID)
	o.add(&o.projects, proj.ID)
	o.add(&o.logs, logs...)
	return nil
}

// storeEditWrite edits what others created: a lead's notes, a project's
// tech (an access change for two techs... or one, and the reps), or a
// deletion, each in a transaction of its own.
func storeEditWrite(r *rand.Rand, o *g1Org, n int) error {
	b := o.b
	err := b.s.Write(ctx, b.asAdmin, func(tx domain.Tx) error {
		switch r.IntN(3) {
		case 0:
			id := o.pick(r, &o.leads)
			if id == "" {
				return nil
			}
			rec, err := tx.Find(domain.KindLead, id)
			if domain.IsCode(err, domain.CodeNotFound) {
				return nil // a device's create that was refused
			}
			if err != nil {
				return err
			}
			l := rec.(*domain.Lead)
			if l.DeletedAt != nil {
				return nil
			}
			l.Notes = fmt.Sprint("admin ", n)
			return tx.Update(l)
		case 1:
			id := o.pick(r, &o.projects)
			if id == "" {
				return nil
			}
			rec, err := tx.Find(domain.KindProject, id)
			if err != nil {
				return err
			}
			p := rec.(*domain.Project)
			if p.AssignedTech == "" {
				p.AssignedTech = b.techT.ID
			} else {
				p.AssignedTech = ""
			}
			return tx.Update(p)
		default:
			id := o.take(r, &o.logs)
			if id == "" {
				return nil
			}
			return tx.Delete(domain.KindInteraction, id)
		}
	})
	if err != nil {
		return fmt.Errorf("edit write: %w", err)
	}
	return nil
}

// storeDirectoryWrite changes a team member's phone: every device holds
// the directory, so every device must see it.
func storeDirectoryWrite(r *rand.Rand, o *g1Org, n int) error {
	b := o.b
	u := pick(r, []*domain.User{b.repA, b.repB, b.techT, b.manager})
	err := b.s.Write(ctx, b.asAdmin, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindUser, u.ID)
		if err != nil {
			return err
		}
		user := rec.(*domain.User)
		user.Phone = fmt.Sprintf("248-555-%04d", n)
		return tx.Update(user)
	})
	if err != nil {
		return fmt.Errorf("directory write: %w", err)
	}
	return nil
}

// slowWrite creates a lead with an interaction and then keeps its
// transaction open for hold: its sequence number is taken, and every
// device pulling meanwhile must neither skip it nor see it early.
func slowWrite(r *rand.Rand, o *g1Org, hold time.Duration) error {
	b := o.b
	owner := pick(r, []*domain.User{b.repA, b.repB})
	var leadID string
	err := b.s.SyncWrite(ctx, b.asManager, func(tx domain.SyncTx) error {
		l := &domain.Lead{Source: "web", FirstName: "Slow", Phone: "248-555-0100", Status: domain.LeadNew, AssignedTo: owner.ID}
		if err := tx.Create(l); err != nil {
			return err
		}
		in := &domain.Interaction{LeadID: l.ID, Kind: domain.InteractionCall, OccurredAt: time.Now(), UserID: owner.ID}
		if err := tx.Create(in); err != nil {
			return err
		}
		leadID = l.ID
		time.Sleep(hold)
		return nil
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return fmt.Errorf("slow write: %w", err)
	}
	o.add(&o.leads, leadID)
	return nil
}
