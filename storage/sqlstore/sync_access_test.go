package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// filterOf is the scope a user's devices sync.
func filterOf(u *domain.User) domain.ScopeFilter {
	return domain.ScopeFilter{OrgID: u.OrgID, UserID: u.ID, Role: u.Role}
}

// logRow is one change-log row as the table holds it, for assertions on
// exactly what a transaction wrote.
type logRow struct {
	Kind, ID, Op, Target string
	Version              int64
}

func (r logRow) String() string {
	return fmt.Sprintf("%s %s %s→%q v%d", r.Op, r.Kind, r.ID[:8], r.Target, r.Version)
}

// logAt reads every change row of one seq, sorted.
func logAt(t *testing.T, s *sqlstore.Store, orgID string, seq int64) []logRow {
	t.Helper()
	var rows []logRow
	err := sqlstore.DB(s).Raw(`SELECT entity_kind AS kind, entity_id AS id, op, target_user AS target, version
		FROM changes WHERE org_id = ? AND seq = ? ORDER BY entity_kind, entity_id, target_user`, orgID, seq).Scan(&rows).Error
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// scopeColumns reads a record's stored scope.
func scopeColumns(t *testing.T, s *sqlstore.Store, rec domain.Record) domain.Anchor {
	t.Helper()
	var a struct{ ScopeLeadOwner, ScopeProjectTech, ScopeAssignee string }
	err := sqlstore.DB(s).Table(sqlstore.Tables()[string(rec.EntityKind())]).
		Select("scope_lead_owner", "scope_project_tech", "scope_assignee").Where("id = ?", rec.Base().ID).Take(&a).Error
	if err != nil {
		t.Fatal(err)
	}
	return domain.Anchor{LeadOwner: a.ScopeLeadOwner, ProjectTech: a.ScopeProjectTech, Assignee: a.ScopeAssignee}
}

// owners is the part of an anchor the change log and scope columns keep.
func owners(a domain.Anchor) domain.Anchor {
	return domain.Anchor{LeadOwner: a.LeadOwner, ProjectTech: a.ProjectTech, Assignee: a.Assignee}
}

// mustWrite runs one write transaction as p and returns its seq.
func mustWrite(t *testing.T, s *sqlstore.Store, p domain.Principal, fn func(tx domain.Tx) error) int64 {
	t.Helper()
	if err := s.Write(ctx, p, fn); err != nil {
		t.Fatal(err)
	}
	st, err := s.SyncState(ctx, p.OrgID)
	if err != nil {
		t.Fatal(err)
	}
	return st.Seq
}

// update saves rec after applying change.
func update[T domain.Record](rec T, change func(T)) func(tx domain.Tx) error {
	return func(tx domain.Tx) error {
		change(rec)
		return tx.Update(rec)
	}
}

// chain is a rep's lead with a record of every synced kind under it: a
// customer, the customer's project (assigned to a tech), appointments and
// interactions under the lead and under the project, a photo and an alert.
type chain struct {
	org                       *domain.Organization
	repA, repB, tech, mgr     *domain.User
	lead                      *domain.Lead
	customer                  *domain.Customer
	project                   *domain.Project
	leadAppt, projAppt        *domain.Appointment
	leadNote, projNote        *domain.Interaction
	photo                     *domain.Photo
	alert                     *domain.Alert
	techAppt                  *domain.Appointment // under the project, assigned to the tech
	managerPrincipal          domain.Principal
	leadOwned, projectHanging []domain.Record
}

func buildChain(t *testing.T, s *sqlstore.Store) *chain {
	t.Helper()
	c := &chain{org: sqltest.Org(t, s)}
	c.repA = sqltest.User(t, s, c.org, domain.RoleSales)
	c.repB = sqltest.User(t, s, c.org, domain.RoleSales)
	c.tech = sqltest.User(t, s, c.org, domain.RoleFieldTech)
	c.mgr = sqltest.User(t, s, c.org, domain.RoleManager)
	p := sqltest.As(c.mgr)
	c.managerPrincipal = p
	c.lead = sqltest.Lead(t, s, p, func(l *domain.Lead) { l.AssignedTo = c.repA.ID })
	c.customer = sqltest.Customer(t, s, p, func(x *domain.Customer) { x.LeadID = c.lead.ID })
	// The project reaches the lead only through its customer.
	c.project = sqltest.Project(t, s, p, func(x *domain.Project) { x.CustomerID, x.AssignedTech = c.customer.ID, c.tech.ID })
	c.leadAppt = sqltest.Appointment(t, s, p, func(x *domain.Appointment) { x.LeadID = c.lead.ID })
	c.projAppt = sqltest.Appointment(t, s, p, func(x *domain.Appointment) { x.ProjectID = c.project.ID })
	c.techAppt = sqltest.Appointment(t, s, p, func(x *domain.Appointment) { x.ProjectID, x.AssignedTo = c.project.ID, c.tech.ID })
	c.leadNote = sqltest.Interaction(t, s, p, func(x *domain.Interaction) { x.LeadID = c.lead.ID })
	c.projNote = sqltest.Interaction(t, s, p, func(x *domain.Interaction) { x.ProjectID = c.project.ID })
	c.photo = sqltest.Photo(t, s, p, func(x *domain.Photo) { x.ProjectID = c.project.ID })
	c.alert = sqltest.Alert(t, s, p, func(x *domain.Alert) { x.LeadID, x.RecipientID = c.lead.ID, c.mgr.ID })
	c.leadOwned = []domain.Record{c.lead, c.customer, c.project, c.leadAppt, c.projAppt, c.techAppt, c.leadNote, c.projNote, c.photo, c.alert}
	c.projectHanging = []domain.Record{c.project, c.projAppt, c.techAppt, c.projNote, c.photo}
	return c
}

// accessRows is what a reassignment should log: op for user on each record.
func accessRows(op domain.ChangeOp, user string, recs ...domain.Record) []logRow {
	out := make([]logRow, len(recs))
	for i, r := range recs {
		out[i] = logRow{Kind: string(r.EntityKind()), ID: r.Base().ID, Op: string(op), Target: user, Version: r.Base().Version}
	}
	return out
}

func sortLog(rows []logRow) []logRow {
	slices.SortFunc(rows, func(a, b logRow) int {
		return strings.Compare(a.Kind+a.ID+a.Target, b.Kind+b.ID+b.Target)
	})
	return rows
}

func requireLog(t *testing.T, got, want []logRow) {
	t.Helper()
	sortLog(want)
	if !slices.Equal(got, want) {
		t.Fatalf("change log\n got %v\nwant %v", got, want)
	}
}

// requirePayload checks that payload is rec's JSON (decoded: PostgreSQL
// reorders a jsonb object's keys).
func requirePayload(t *testing.T, payload json.RawMessage, rec domain.Record) {
	t.Helper()
	got, want := sqlstore.NewRecord(rec.EntityKind()), sqlstore.NewRecord(rec.EntityKind())
	if err := json.Unmarshal(payload, got); err != nil {
		t.Fatalf("%s payload %s: %v", rec.EntityKind(), payload, err)
	}
	b, _ := json.Marshal(rec)
	if err := json.Unmarshal(b, want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s payload\n got %+v\nwant %+v", rec.EntityKind(), got, rec)
	}
}

// find reloads a record.
func find(t *testing.T, s *sqlstore.Store, rec domain.Record) domain.Record {
	t.Helper()
	got, err := s.FindRecord(ctx, rec.Base().OrgID, rec.EntityKind(), rec.Base().ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestLeadReassignmentMovesItsWholeChain(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := buildChain(t, s)
		seq := mustWrite(t, s, c.managerPrincipal, update(c.lead, func(l *domain.Lead) { l.AssignedTo = c.repB.ID }))

		// One upsert for the lead, which changed; for everything under it
		// a revoke for A and a grant for B, at the versions they have.
		descendants := c.leadOwned[1:]
		want := []logRow{{Kind: "lead", ID: c.lead.ID, Op: "upsert", Version: seq}}
		want = append(want, accessRows(domain.OpRevoke, c.repA.ID, c.leadOwned...)...)
		want = append(want, accessRows(domain.OpGrant, c.repB.ID, c.leadOwned...)...)
		requireLog(t, logAt(t, s, c.org.ID, seq), want)

		// The records under the lead did not change, but their scope did.
		for _, r := range descendants {
			got := find(t, s, r)
			if got.Base().Version != r.Base().Version {
				t.Errorf("%s version %d → %d: a scope move is not a write", r.EntityKind(), r.Base().Version, got.Base().Version)
			}
			if a := scopeColumns(t, s, r); a.LeadOwner != c.repB.ID {
				t.Errorf("%s scope %+v, want lead owner B", r.EntityKind(), a)
			}
		}

		// B's pull carries the full records; A's only the revokes; the
		// tech and the manager get nothing targeted.
		page, err := s.ChangesForScope(ctx, filterOf(c.repB), seq-1, 100)
		if err != nil {
			t.Fatal(err)
		}
		grants := 0
		for _, r := range page.Rows {
			if r.Op == domain.OpGrant {
				grants++
				requirePayload(t, r.Payload, find(t, s, recordOf(c.leadOwned, r.EntityID)))
				if r.TargetUser != c.repB.ID || r.Anchor.LeadOwner != c.repB.ID {
					t.Errorf("grant %+v", r)
				}
			}
		}
		if grants != len(c.leadOwned) || len(page.Rows) != grants+1 || page.UpTo != seq {
			t.Errorf("B's page: %d rows, %d grants, up to %d", len(page.Rows), grants, page.UpTo)
		}
		page, _ = s.ChangesForScope(ctx, filterOf(c.repA), seq-1, 100)
		for _, r := range page.Rows {
			if r.Op != domain.OpRevoke || r.Payload != nil || r.TargetUser != c.repA.ID {
				t.Errorf("A should get only revokes, got %+v", r)
			}
		}
		if len(page.Rows) != len(c.leadOwned) {
			t.Errorf("A got %d rows", len(page.Rows))
		}
		page, _ = s.ChangesForScope(ctx, filterOf(c.mgr), seq-1, 100)
		if len(page.Rows) != 1 || page.Rows[0].Kind != domain.KindLead || page.Rows[0].Op != domain.OpUpsert {
			t.Errorf("the manager sees %+v", page.Rows)
		}
		if page, _ = s.ChangesForScope(ctx, filterOf(c.tech), seq-1, 100); len(page.Rows) != 0 || page.UpTo != seq {
			t.Errorf("the tech sees %+v up to %d", page.Rows, page.UpTo)
		}
	})
}

// recordOf picks the record with id.
func recordOf(recs []domain.Record, id string) domain.Record {
	for _, r := range recs {
		if r.Base().ID == id {
			return r
		}
	}
	panic("no record " + id)
}

func TestProjectAndAppointmentReassignment(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := buildChain(t, s)
		tech2 := sqltest.User(t, s, c.org, domain.RoleFieldTech)
		tech3 := sqltest.User(t, s, c.org, domain.RoleFieldTech)

		// The tech is taken off the project: the project and what hangs
		// under it leave their devices, except the appointment assigned
		// to them personally. The rep, who owns the lead, hears nothing.
		seq := mustWrite(t, s, c.managerPrincipal, update(c.project, func(p *domain.Project) { p.AssignedTech = "" }))
		want := []logRow{{Kind: "project", ID: c.project.ID, Op: "upsert", Version: seq}}
		want = append(want, accessRows(domain.OpRevoke, c.tech.ID, c.project, c.projAppt, c.projNote, c.photo)...)
		requireLog(t, logAt(t, s, c.org.ID, seq), want)

		// Another tech gets the project, and with it its records.
		seq = mustWrite(t, s, c.managerPrincipal, update(c.project, func(p *domain.Project) { p.AssignedTech = tech2.ID }))
		want = []logRow{{Kind: "project", ID: c.project.ID, Op: "upsert", Version: seq}}
		want = append(want, accessRows(domain.OpGrant, tech2.ID, c.project, c.projAppt, c.techAppt, c.projNote, c.photo)...)
		requireLog(t, logAt(t, s, c.org.ID, seq), want)

		// An appointment moves from one tech to another: just that record,
		// and the project's tech keeps it.
		seq = mustWrite(t, s, c.managerPrincipal, update(c.techAppt, func(a *domain.Appointment) { a.AssignedTo = tech3.ID }))
		want = []logRow{{Kind: "appointment", ID: c.techAppt.ID, Op: "upsert", Version: seq}}
		want = append(want, accessRows(domain.OpRevoke, c.tech.ID, c.techAppt)...)
		want = append(want, accessRows(domain.OpGrant, tech3.ID, c.techAppt)...)
		requireLog(t, logAt(t, s, c.org.ID, seq), want)
		if a := scopeColumns(t, s, c.techAppt); a != (domain.Anchor{LeadOwner: c.repA.ID, ProjectTech: tech2.ID, Assignee: tech3.ID}) {
			t.Errorf("appointment scope %+v", a)
		}

		// A project moved to another customer takes its records along.
		other := sqltest.Customer(t, s, c.managerPrincipal, func(x *domain.Customer) { x.LeadID = "" })
		seq = mustWrite(t, s, c.managerPrincipal, update(c.project, func(p *domain.Project) { p.CustomerID = other.ID }))
		want = []logRow{{Kind: "project", ID: c.project.ID, Op: "upsert", Version: seq}}
		want = append(want, accessRows(domain.OpRevoke, c.repA.ID, c.project, c.projAppt, c.techAppt, c.projNote, c.photo)...)
		requireLog(t, logAt(t, s, c.org.ID, seq), want)

		// A reference moves without moving the project's own anchor: an
		// appointment that reached A's lead through its own customer now
		// reaches an unowned lead through the project.
		appt := sqltest.Appointment(t, s, c.managerPrincipal, func(a *domain.Appointment) {
			a.ProjectID, a.CustomerID = c.project.ID, c.customer.ID
		})
		unowned := sqltest.Lead(t, s, c.managerPrincipal)
		seq = mustWrite(t, s, c.managerPrincipal, update(c.project, func(p *domain.Project) { p.LeadID = unowned.ID }))
		want = []logRow{{Kind: "project", ID: c.project.ID, Op: "upsert", Version: seq}}
		want = append(want, accessRows(domain.OpRevoke, c.repA.ID, appt)...)
		requireLog(t, logAt(t, s, c.org.ID, seq), want)
	})
}

func TestAccessMovesWithinOneTransaction(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		c := buildChain(t, s)
		// Edit a record under the lead, reassign the lead, then edit another
		// and delete a third, all in one transaction: B's grants carry the
		// edits, the first edit's row names B (its anchor as of the
		// transaction), and the deleted record is not granted at all (it
		// would come back to life after its tombstone).
		seq := mustWrite(t, s, c.managerPrincipal, func(tx domain.Tx) error {
			c.projNote.Subject = "edited before the move"
			if err := tx.Update(c.projNote); err != nil {
				return err
			}
			c.lead.AssignedTo = c.repB.ID
			if err := tx.Update(c.lead); err != nil {
				return err
			}
			c.leadNote.Subject = "edited after the move"
			if err := tx.Update(c.leadNote); err != nil {
				return err
			}
			return tx.Delete(domain.KindPhoto, c.photo.ID)
		})
		page, err := s.ChangesForScope(ctx, filterOf(c.repB), seq-1, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Rows {
			switch {
			case r.EntityID == c.photo.ID && r.Op != domain.OpDelete:
				t.Errorf("deleted photo reaches B as %s", r.Op)
			case r.EntityID == c.leadNote.ID || r.EntityID == c.projNote.ID:
				requirePayload(t, r.Payload, find(t, s, recordOf(c.leadOwned, r.EntityID)))
				if r.Version != seq || r.Anchor.LeadOwner != c.repB.ID {
					t.Errorf("edited note %s at version %d under %+v, want %d under B", r.Op, r.Version, r.Anchor, seq)
				}
			}
		}
		// A loses everything, with one row each: the photo by its delete or
		// a revoke, the rest by revokes.
		page, _ = s.ChangesForScope(ctx, filterOf(c.repA), seq-1, 100)
		ops := map[string]domain.ChangeOp{}
		for _, r := range page.Rows {
			if _, twice := ops[r.EntityID]; twice {
				t.Errorf("A gets %s %s twice", r.Kind, r.EntityID)
			}
			ops[r.EntityID] = r.Op
		}
		if ops[c.photo.ID] != domain.OpRevoke && ops[c.photo.ID] != domain.OpDelete {
			t.Errorf("A's photo: %v", ops[c.photo.ID])
		}
		if ops[c.leadNote.ID] != domain.OpRevoke || len(ops) != len(c.leadOwned) {
			t.Errorf("A's rows: %v", ops)
		}

		// Moving it back and forth within one transaction nets out: A has
		// it again, B loses what it never had.
		seq = mustWrite(t, s, c.managerPrincipal, func(tx domain.Tx) error {
			for _, owner := range []string{c.repA.ID, c.repB.ID, c.repA.ID} {
				c.lead.AssignedTo = owner
				if err := tx.Update(c.lead); err != nil {
					return err
				}
			}
			return nil
		})
		for _, r := range logAt(t, s, c.org.ID, seq) {
			if (r.Target == c.repA.ID && r.Op != "grant") || (r.Target == c.repB.ID && r.Op != "revoke") {
				t.Errorf("after A→B→A: %v", r)
			}
		}
	})
}

func TestChangeRowsCarryRecordState(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		tr := buildTree(t, s)
		withHash := sqltest.User(t, s, tr.org, domain.RoleSales, func(u *domain.User) { u.PasswordHash = "argon2id$secret" })
		page, err := s.ChangesForScope(ctx, filterOf(tr.mgr), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		latest := map[string]domain.ChangeRow{}
		for _, r := range page.Rows {
			if !domain.IsSynced(r.Kind) || r.TargetUser != "" {
				t.Fatalf("a manager's pull holds %+v", r)
			}
			latest[r.EntityID] = r
		}
		for _, rec := range append(slices.Collect(mapsValues(tr.records)), withHash) {
			r, ok := latest[rec.Base().ID]
			if !domain.IsSynced(rec.EntityKind()) {
				if ok {
					t.Errorf("%s is not synced but pulled", rec.EntityKind())
				}
				continue
			}
			stored := find(t, s, rec)
			a, _ := sqlstore.ParentAnchor(ctx, s, tr.org.ID, rec.EntityKind(), rec.Base().ID)
			if !ok || r.Op != domain.OpUpsert || r.Version != stored.Base().Version || r.Seq != r.Version ||
				r.Anchor.OrgID != tr.org.ID || r.Anchor.Kind != rec.EntityKind() || r.Anchor.ID != rec.Base().ID ||
				owners(r.Anchor) != owners(a) || !r.CreatedAt.Equal(stored.Base().UpdatedAt) {
				t.Errorf("%s row %+v, anchor %+v", rec.EntityKind(), r, a)
				continue
			}
			requirePayload(t, r.Payload, stored)
			if owners(scopeColumns(t, s, rec)) != owners(a) {
				t.Errorf("%s scope columns %+v, anchor %+v", rec.EntityKind(), scopeColumns(t, s, rec), a)
			}
		}
		if p := latest[withHash.ID].Payload; strings.Contains(string(p), "secret") || strings.Contains(string(p), "password") {
			t.Errorf("a user's payload leaks the password hash: %s", p)
		}

		// A delete carries no state, and the anchor it was deleted under.
		appt := tr.records[domain.KindAppointment]
		seq := mustWrite(t, s, sqltest.As(tr.mgr), func(tx domain.Tx) error { return tx.Delete(domain.KindAppointment, appt.Base().ID) })
		page, _ = s.ChangesForScope(ctx, filterOf(tr.rep), seq-1, 10)
		if len(page.Rows) != 1 || page.Rows[0].Op != domain.OpDelete || page.Rows[0].Payload != nil ||
			page.Rows[0].Version != seq || page.Rows[0].Anchor.LeadOwner != tr.rep.ID {
			t.Errorf("delete rows %+v", page.Rows)
		}
	})
}

// mapsValues lists a map's values (records of a tree) in kind order.
func mapsValues(m map[domain.EntityKind]domain.Record) func(func(domain.Record) bool) {
	return func(yield func(domain.Record) bool) {
		for _, k := range domain.EntityKinds() {
			if r, ok := m[k]; ok && !yield(r) {
				return
			}
		}
	}
}

// TestScopeFiltersAgreeWithCanSee holds the SQL scope filters to the rule:
// in an organization of random ownership chains, reshuffled by random
// reassignments, moves and deletes, every member's snapshot, checksum and
// replayed change log hold exactly the live records domain.CanSee lets them
// see on freshly resolved anchors, in their current state.
func TestScopeFiltersAgreeWithCanSee(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		rng := rand.New(rand.NewPCG(7, 11))
		org := sqltest.Org(t, s)
		sys := sqltest.System(org)
		var users []*domain.User
		byRole := map[domain.Role][]string{}
		for _, role := range []domain.Role{domain.RoleSales, domain.RoleSales, domain.RoleSales, domain.RoleFieldTech,
			domain.RoleFieldTech, domain.RoleFieldTech, domain.RoleManager, domain.RoleAdmin} {
			u := sqltest.User(t, s, org, role)
			users = append(users, u)
			byRole[role] = append(byRole[role], u.ID)
		}
		var all []string
		var keys []domain.Record // every record created, as first written
		for _, u := range users {
			all = append(all, u.ID)
			keys = append(keys, u)
		}
		// oneOf picks an id from ids, or none a quarter of the time.
		oneOf := func(ids []string) string {
			if len(ids) == 0 || rng.IntN(4) == 0 {
				return ""
			}
			return ids[rng.IntN(len(ids))]
		}
		ids := map[domain.EntityKind][]string{}
		create := func(tx domain.Tx, rec domain.Record) error {
			if err := tx.Create(rec); err != nil {
				return err
			}
			keys = append(keys, rec)
			ids[rec.EntityKind()] = append(ids[rec.EntityKind()], rec.Base().ID)
			return nil
		}
		now := time.Now()
		// A photo pushed before its project: the project adopts it.
		early := uuid.NewString()
		mustWrite(t, s, sys, func(tx domain.Tx) error {
			return create(tx, &domain.Photo{ProjectID: early, TakenAt: now})
		})
		mustWrite(t, s, sys, func(tx domain.Tx) error {
			for range 8 {
				if err := create(tx, &domain.Lead{FirstName: "L", AssignedTo: oneOf(byRole[domain.RoleSales])}); err != nil {
					return err
				}
			}
			return nil
		})
		mustWrite(t, s, sys, func(tx domain.Tx) error {
			for range 6 {
				if err := create(tx, &domain.Customer{LeadID: oneOf(ids[domain.KindLead])}); err != nil {
					return err
				}
			}
			return nil
		})
		mustWrite(t, s, sys, func(tx domain.Tx) error {
			for i := range 8 {
				p := &domain.Project{LeadID: oneOf(ids[domain.KindLead]), CustomerID: oneOf(ids[domain.KindCustomer]),
					AssignedTech: oneOf(byRole[domain.RoleFieldTech])}
				if i == 0 {
					p.ID = early
				}
				if err := create(tx, p); err != nil {
					return err
				}
			}
			return nil
		})
		mustWrite(t, s, sys, func(tx domain.Tx) error {
			for range 14 {
				for _, rec := range []domain.Record{
					&domain.Appointment{LeadID: oneOf(ids[domain.KindLead]), CustomerID: oneOf(ids[domain.KindCustomer]),
						ProjectID: oneOf(ids[domain.KindProject]), AssignedTo: oneOf(all), StartsAt: now, EndsAt: now},
					&domain.Interaction{LeadID: oneOf(ids[domain.KindLead]), CustomerID: oneOf(ids[domain.KindCustomer]),
						ProjectID: oneOf(ids[domain.KindProject]), OccurredAt: now},
				} {
					if err := create(tx, rec); err != nil {
						return err
					}
				}
			}
			for range 6 {
				if err := create(tx, &domain.Photo{ProjectID: oneOf(ids[domain.KindProject]), TakenAt: now}); err != nil {
					return err
				}
				if err := create(tx, &domain.Alert{LeadID: oneOf(ids[domain.KindLead]), RecipientID: oneOf(all)}); err != nil {
					return err
				}
			}
			return nil
		})
		requireScopesAgree(t, s, org, users, keys)

		// Reshuffle: transactions of one to three random moves each.
		move := func(tx domain.Tx) error {
			rec := keys[rng.IntN(len(keys))]
			cur, err := tx.Find(rec.EntityKind(), rec.Base().ID)
			if err != nil {
				return err
			}
			if sd, ok := cur.(domain.SoftDeletable); ok && sd.Deleted() != nil {
				return nil
			}
			if rng.IntN(8) == 0 && cur.EntityKind() != domain.KindUser {
				return tx.Delete(cur.EntityKind(), cur.Base().ID)
			}
			switch r := cur.(type) {
			case *domain.User:
				r.Name += "!"
			case *domain.Lead:
				r.AssignedTo = oneOf(byRole[domain.RoleSales])
			case *domain.Customer:
				r.LeadID = oneOf(ids[domain.KindLead])
			case *domain.Project:
				if rng.IntN(2) == 0 {
					r.AssignedTech = oneOf(byRole[domain.RoleFieldTech])
				} else {
					r.LeadID, r.CustomerID = oneOf(ids[domain.KindLead]), oneOf(ids[domain.KindCustomer])
				}
			case *domain.Appointment:
				r.AssignedTo, r.ProjectID = oneOf(all), oneOf(ids[domain.KindProject])
			case *domain.Interaction:
				r.ProjectID, r.LeadID = oneOf(ids[domain.KindProject]), oneOf(ids[domain.KindLead])
			case *domain.Photo:
				r.ProjectID = oneOf(ids[domain.KindProject])
			case *domain.Alert:
				r.RecipientID = oneOf(all)
			}
			return tx.Update(cur)
		}
		for range 25 {
			mustWrite(t, s, sys, func(tx domain.Tx) error {
				for range 1 + rng.IntN(3) {
					if err := move(tx); err != nil {
						return err
					}
				}
				return nil
			})
		}
		requireScopesAgree(t, s, org, users, keys)
	})
}

// requireScopesAgree compares, for each user, what the store's scope reads
// (ResolveAnchor among them) return with what domain.CanSee says over the
// anchor the records' parents give.
func requireScopesAgree(t *testing.T, s *sqlstore.Store, org *domain.Organization, users []*domain.User, recs []domain.Record) {
	t.Helper()
	// Every live synced record: created ones plus the users.
	current := map[string]domain.Record{}
	for _, rec := range recs {
		if got, err := s.FindRecord(ctx, org.ID, rec.EntityKind(), rec.Base().ID); err == nil {
			current[rec.Base().ID] = got
		}
	}
	ids := slices.Sorted(maps.Keys(current))
	anchors := map[string]domain.Anchor{}
	for id, rec := range current {
		a, err := sqlstore.ParentAnchor(ctx, s, org.ID, rec.EntityKind(), id)
		if err != nil {
			t.Fatal(err)
		}
		anchors[id] = a
		if got, err := s.ResolveAnchor(ctx, org.ID, rec.EntityKind(), id); err != nil || got != a {
			t.Errorf("ResolveAnchor(%s) = %+v, %v; its parents give %+v", rec.EntityKind(), got, err, a)
		}
	}
	for i, u := range users {
		f := filterOf(u)
		want := map[string]bool{}
		for j, id := range ids {
			if domain.CanSee(sqltest.As(u), anchors[id]) {
				want[id] = true
			}
			// InScope for a share of the records: each one for one user.
			if j%len(users) != i {
				continue
			}
			in, a, err := s.InScope(ctx, f, current[id].EntityKind(), id)
			if err != nil || in != want[id] || a != anchors[id] {
				t.Errorf("%s: InScope(%s) = %v, %+v, %v; CanSee says %v", u.Role, current[id].EntityKind(), in, a, err, want[id])
			}
		}

		// The snapshot, in small pages, and its checksums.
		snap := map[string]json.RawMessage{}
		for _, kind := range domain.SyncedKinds() {
			var lines strings.Builder
			count := 0
			for after := ""; ; {
				page, err := s.SnapshotPage(ctx, f, kind, after, 9)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				for _, r := range page {
					if r.ID <= after || r.Kind != kind {
						t.Fatalf("snapshot out of order: %q after %q", r.ID, after)
					}
					after = r.ID
					snap[r.ID] = r.Payload
					if r.Version != current[r.ID].Base().Version {
						t.Errorf("snapshot version of %s: %d", r.ID, r.Version)
					}
					fmt.Fprintf(&lines, "%s:%d\n", r.ID, r.Version)
					count++
				}
			}
			part, err := s.ScopeChecksum(ctx, f, kind)
			if err != nil {
				t.Fatal(err)
			}
			if part.Count != count || part.Hash != sha256Hex(lines.String()) || part.Kind != kind {
				t.Errorf("%s %s checksum %+v over %d records", u.Role, kind, part, count)
			}
		}
		requireSameRecords(t, string(u.Role)+" snapshot", snap, want, current)

		// The change log replayed from the start, in small pages.
		held := map[string]json.RawMessage{}
		for _, r := range pullAll(t, s, f, 0, 20) {
			switch r.Op {
			case domain.OpUpsert, domain.OpGrant:
				held[r.EntityID] = r.Payload
			case domain.OpDelete, domain.OpRevoke:
				delete(held, r.EntityID)
			}
		}
		requireSameRecords(t, string(u.Role)+" replay", held, want, current)
	}
}

// requireSameRecords checks that got holds exactly the wanted records, each
// as its current JSON.
func requireSameRecords(t *testing.T, what string, got map[string]json.RawMessage, want map[string]bool, current map[string]domain.Record) {
	t.Helper()
	for id := range want {
		payload, ok := got[id]
		if !ok {
			t.Errorf("%s lacks %s %s", what, current[id].EntityKind(), id)
			continue
		}
		requirePayload(t, payload, current[id])
	}
	for id := range got {
		if !want[id] {
			kind := domain.EntityKind("deleted record")
			if rec, ok := current[id]; ok {
				kind = rec.EntityKind()
			}
			t.Errorf("%s holds %s %s it may not see", what, kind, id)
		}
	}
}

// pullAll reads every page after after and checks that pages hold whole
// transactions in order: no seq in two pages, none at or below the cursor.
func pullAll(t *testing.T, s *sqlstore.Store, f domain.ScopeFilter, after int64, maxRows int) []domain.ChangeRow {
	t.Helper()
	var out []domain.ChangeRow
	for {
		page, err := s.ChangesForScope(ctx, f, after, maxRows)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Rows {
			if r.Seq <= after || r.Seq > page.UpTo {
				t.Fatalf("row at seq %d in page (%d, %d]", r.Seq, after, page.UpTo)
			}
		}
		out = append(out, page.Rows...)
		if page.UpTo < after {
			t.Fatalf("cursor went back from %d to %d", after, page.UpTo)
		}
		if !page.More {
			return out
		}
		if page.UpTo == after {
			t.Fatalf("no progress at %d", after)
		}
		after = page.UpTo
	}
}
