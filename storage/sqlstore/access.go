package sqlstore

import (
	"encoding/json"
	"slices"

	"github.com/iswitchroofs/fieldsync/domain"
)

// written finishes a Create (before nil) or an Update of rec, whose row is
// already stored. A synced record's change row carries its JSON and anchor,
// and its scope_ columns follow the anchor (stored, if not nil, is the
// anchor its row was written with). When the anchor moved, the
// people who gain or lose sight of the record hear of it (accessMoved); when
// a lead, customer or project is new or moved, what hangs under it moves too.
func (t *writeTx) written(op string, e entity, rec domain.Record, before *currentRow, stored *scope) error {
	key := keyOf(rec)
	if !domain.IsSynced(key.kind) {
		return t.logChange(op, change{recordKey: key, op: domain.OpUpsert, version: rec.Base().Version})
	}
	var after scope
	if stored != nil {
		after = *stored
	} else {
		a, err := anchorOf(t.parents(), rec)
		if err != nil {
			return t.fail(op, err)
		}
		after = scopeOf(a)
	}
	var old scope
	if before != nil {
		old = before.scope()
	}
	if stored == nil && after != old {
		if err := t.writeScope(e.table, key, after); err != nil {
			return t.fail(op, err)
		}
	}
	if key.kind == domain.KindUser {
		t.userWritten()
	}
	payload, err := json.Marshal(rec)
	if err != nil {
		return t.fail(op, err)
	}
	version := rec.Base().Version
	if err := t.logChange(op, change{recordKey: key, op: domain.OpUpsert, version: version, payload: payload, scope: after}); err != nil {
		return err
	}
	mark(&t.upserted, key)
	if t.granted[key] {
		// A grant earlier in this transaction must not hand out an older
		// state than the upsert beside it.
		err := t.db.Exec("UPDATE changes SET payload = ?, version = ? WHERE org_id = ? AND seq = ? AND entity_kind = ? AND entity_id = ? AND op = ?",
			string(payload), version, t.p.OrgID, t.seq, string(key.kind), key.id, string(domain.OpGrant)).Error
		if err != nil {
			return t.fail(op, err)
		}
	}
	if before != nil && after != old {
		if err := t.accessMoved(op, rec, old, after); err != nil {
			return err
		}
	}
	if holdsDescendants(key.kind) && (before == nil || after != old || before.LeadID != leadRef(rec) || before.CustomerID != customerRef(rec)) {
		// A new parent adopts records that named it before it existed
		// (phones push out of order); a moved one takes its records along.
		return t.reanchorDescendants(op, rec)
	}
	return nil
}

// deleted logs the deletion of a record whose anchor was sc, so the
// tombstone reaches everyone who could see it.
func (t *writeTx) deleted(op string, key recordKey, sc scope) error {
	if t.granted[key] {
		// Whoever the grant was for never had the record: sending it after
		// the delete (grants sort after the untargeted row) would revive it.
		err := t.db.Exec("DELETE FROM changes WHERE org_id = ? AND seq = ? AND entity_kind = ? AND entity_id = ? AND op = ?",
			t.p.OrgID, t.seq, string(key.kind), key.id, string(domain.OpGrant)).Error
		if err != nil {
			return t.fail(op, err)
		}
		delete(t.granted, key)
	}
	delete(t.upserted, key)
	if key.kind == domain.KindUser {
		t.userWritten()
	}
	return t.logChange(op, change{recordKey: key, op: domain.OpDelete, version: t.seq, scope: sc})
}

// mark adds key to the set *m, making it if need be.
func mark(m *map[recordKey]bool, key recordKey) {
	if *m == nil {
		*m = map[recordKey]bool{}
	}
	(*m)[key] = true
}

// userWritten notes that the team directory changed: every member holds
// it, and the roles cached for fan-outs may be stale.
func (t *writeTx) userWritten() {
	t.allMembers = true
	clear(t.roles)
}

// holdsDescendants reports whether records of kind hang under records of
// this kind (a lead's customers, a project's photos).
func holdsDescendants(kind domain.EntityKind) bool {
	return kind == domain.KindLead || kind == domain.KindCustomer || kind == domain.KindProject
}

// leadRef and customerRef are the references the records under a customer
// or project resolve their anchor through; "" for other kinds, matching
// what currentRow reads for them.
func leadRef(rec domain.Record) string {
	switch r := rec.(type) {
	case *domain.Customer:
		return r.LeadID
	case *domain.Project:
		return r.LeadID
	}
	return ""
}

func customerRef(rec domain.Record) string {
	if p, ok := rec.(*domain.Project); ok {
		return p.CustomerID
	}
	return ""
}

// accessMoved writes what a move of rec's anchor from before to after means
// to each person either names: a revoke for whoever could see rec and no
// longer can, a grant with the whole record for whoever can now and could
// not. The judge is domain.CanSee with each person's role, the same rule
// pulls filter by. Managers and admins see the whole organization either
// way, so they never get one; nor does anyone the anchors do not name,
// because nobody else's sight depends on them.
func (t *writeTx) accessMoved(op string, rec domain.Record, before, after scope) error {
	key := keyOf(rec)
	people := append(before.users(), after.users()...)
	slices.Sort(people)
	people = slices.Compact(people)
	if err := t.loadRoles(op, people); err != nil {
		return err
	}
	var payload []byte
	for _, u := range people {
		p := domain.Principal{UserID: u, OrgID: t.p.OrgID, Role: t.roles[u]}
		could := domain.CanSee(p, before.anchor(t.p.OrgID, key))
		can := domain.CanSee(p, after.anchor(t.p.OrgID, key))
		c := change{recordKey: key, target: u, version: rec.Base().Version, scope: after}
		switch {
		case could && !can:
			c.op = domain.OpRevoke
		case can && !could:
			if payload == nil {
				var err error
				if payload, err = json.Marshal(rec); err != nil {
					return t.fail(op, err)
				}
			}
			c.op, c.payload = domain.OpGrant, payload
			mark(&t.granted, key)
		default:
			continue
		}
		if err := t.logChange(op, c); err != nil {
			return err
		}
	}
	return nil
}

// loadRoles makes sure t.roles knows every one of users; a user not in the
// organization gets the empty role, which sees nothing.
func (t *writeTx) loadRoles(op string, users []string) error {
	var missing []string
	for _, u := range users {
		if _, ok := t.roles[u]; !ok {
			missing = append(missing, u)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var rows []struct {
		ID   string
		Role domain.Role
	}
	if err := t.db.Table("users").Select("id", "role").Where("org_id = ? AND id IN ?", t.p.OrgID, missing).Find(&rows).Error; err != nil {
		return t.fail(op, err)
	}
	for _, u := range missing {
		t.roles[u] = ""
	}
	for _, r := range rows {
		t.roles[r.ID] = r.Role
	}
	return nil
}

// heldRecord is a descendant with the scope its row holds.
type heldRecord struct {
	rec   domain.Record
	scope scope
}

// reanchorDescendants brings up to date the scope of every record hanging
// under root, a lead, customer or project that is new or whose owner or
// references just changed. Those records did not change: they keep their
// version and get no change row of their own; only the people whose sight
// of them moved hear of them, through accessMoved. Tombstones get their
// scope but no grant or revoke: their deletion reached their devices
// already. The candidates are found generously (anything naming a record of
// the chain); each one's anchor is resolved afresh and left alone if it
// did not move.
func (t *writeTx) reanchorDescendants(op string, root domain.Record) error {
	var leads, customers, projects []string
	switch root.EntityKind() {
	case domain.KindLead:
		leads = []string{root.Base().ID}
	case domain.KindCustomer:
		customers = []string{root.Base().ID}
	case domain.KindProject:
		projects = []string{root.Base().ID}
	}
	var found []heldRecord
	load := func(kind domain.EntityKind, conds ...idsIn) ([]string, error) {
		held, err := t.descendants(op, kind, conds...)
		found = append(found, held...)
		ids := make([]string, len(held))
		for i, h := range held {
			ids[i] = h.rec.Base().ID
		}
		return ids, err
	}
	var err error
	if len(leads) > 0 {
		if customers, err = load(domain.KindCustomer, idsIn{"lead_id", leads}); err != nil {
			return err
		}
	}
	if len(projects) == 0 {
		if projects, err = load(domain.KindProject, idsIn{"lead_id", leads}, idsIn{"customer_id", customers}); err != nil {
			return err
		}
	}
	for _, kind := range []domain.EntityKind{domain.KindAppointment, domain.KindInteraction} {
		if _, err := load(kind, idsIn{"lead_id", leads}, idsIn{"customer_id", customers}, idsIn{"project_id", projects}); err != nil {
			return err
		}
	}
	if _, err := load(domain.KindPhoto, idsIn{"project_id", projects}); err != nil {
		return err
	}
	if _, err := load(domain.KindAlert, idsIn{"lead_id", leads}); err != nil {
		return err
	}

	// The chain's records do not change from here on; the transaction's
	// record cache shares their lookups among siblings.
	find := t.parents()
	for _, h := range found {
		a, err := anchorOf(find, h.rec)
		if err != nil {
			return t.fail(op, err)
		}
		after := scopeOf(a)
		if after == h.scope {
			continue
		}
		key := keyOf(h.rec)
		if err := t.writeScope(entities[key.kind].table, key, after); err != nil {
			return t.fail(op, err)
		}
		if t.upserted[key] {
			// Written earlier in this transaction: its row's anchor is the
			// one as of the transaction's end. (A delete row keeps the
			// anchor it was deleted under, so its old owners hear of it.)
			err := t.db.Exec("UPDATE changes SET lead_owner = ?, project_tech = ?, assignee = ? WHERE org_id = ? AND seq = ? AND entity_kind = ? AND entity_id = ? AND target_user = '' AND op = ?",
				after.LeadOwner, after.ProjectTech, after.Assignee, t.p.OrgID, t.seq, string(key.kind), key.id, string(domain.OpUpsert)).Error
			if err != nil {
				return t.fail(op, err)
			}
		}
		if sd, ok := h.rec.(domain.SoftDeletable); ok && sd.Deleted() != nil {
			continue
		}
		if err := t.accessMoved(op, h.rec, h.scope, after); err != nil {
			return err
		}
	}
	return nil
}

// descendants loads the records of kind matching any of conds, tombstones
// included, with their stored scope.
func (t *writeTx) descendants(op string, kind domain.EntityKind, conds ...idsIn) ([]heldRecord, error) {
	where, args := anyIn(conds...)
	if where == "" {
		return nil, nil
	}
	e := entities[kind]
	recs, err := findAll(t.db.Table(e.table).Where("org_id = ?", t.p.OrgID).Where(where, args...), e)
	if err != nil || len(recs) == 0 {
		return nil, t.failIf(op, err)
	}
	var rows []currentRow
	err = t.db.Table(e.table).Select(append([]string{"id"}, scopeColumns...)).
		Where("org_id = ?", t.p.OrgID).Where(where, args...).Find(&rows).Error
	if err != nil {
		return nil, t.fail(op, err)
	}
	scopes := make(map[string]scope, len(rows))
	for _, r := range rows {
		scopes[r.ID] = r.scope()
	}
	out := make([]heldRecord, len(recs))
	for i, r := range recs {
		out[i] = heldRecord{rec: r, scope: scopes[r.Base().ID]}
	}
	return out, nil
}

// writeScope is writeScope in the transaction, which also drops the
// record's cached row (its scope is stale now).
func (t *writeTx) writeScope(table string, key recordKey, sc scope) error {
	t.forget(key.kind, key.id)
	return writeScope(t.db, table, t.p.OrgID, key.id, sc)
}

// failIf is fail for an error that may be nil.
func (t *writeTx) failIf(op string, err error) error {
	if err == nil {
		return nil
	}
	return t.fail(op, err)
}
