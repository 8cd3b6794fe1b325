package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/iswitchroofs/fieldsync/domain"
)

// maxTxAttempts bounds how often a transaction is re-run after a transient
// conflict (deadlock, serialization failure, busy SQLite file) before the
// caller gets CodeUnavailable.
const maxTxAttempts = 5

// inTx runs fn in one database transaction and commits if fn returns nil.
// When the database reports a transient conflict the whole transaction is
// run again, so fn must have no effects outside the transaction. Errors come
// back as fn returned them; begin and commit failures are translated.
func (s *Store) inTx(ctx context.Context, fn func(db *gorm.DB) error) error {
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = s.txOnce(ctx, fn)
		if err == nil || !retryable(err) || attempt == maxTxAttempts {
			break
		}
		s.log.Debug("retrying transaction", "attempt", attempt, "err", err)
		// Jittered, growing pauses keep retrying transactions from
		// colliding again in lockstep.
		pause := time.Duration(attempt*attempt)*10*time.Millisecond + rand.N(10*time.Millisecond)
		select {
		case <-ctx.Done():
			return s.translate("transaction", ctx.Err())
		case <-time.After(pause):
		}
	}
	return err
}

func (s *Store) txOnce(ctx context.Context, fn func(db *gorm.DB) error) error {
	if s.writeSem != nil {
		select {
		case s.writeSem <- struct{}{}:
			defer func() { <-s.writeSem }()
		case <-ctx.Done():
			return s.translate("begin", ctx.Err())
		}
	}
	gtx := s.conn(ctx).Begin()
	if gtx.Error != nil {
		return s.translate("begin", gtx.Error)
	}
	committed := false
	defer func() {
		if !committed {
			gtx.Rollback()
		}
	}()
	if err := fn(gtx); err != nil {
		return err
	}
	if err := gtx.Commit().Error; err != nil {
		return s.translate("commit", err)
	}
	committed = true
	return nil
}

// Write is the one write path for synced records: it runs fn in a database
// transaction for p's organization and commits everything fn did, or
// nothing. Every Create, Update and Delete in it shares one new change
// sequence number of the organization, which becomes the version of each
// row written and the seq of its change-log row.
//
// For a synced kind (domain.SyncedKinds) the change row also carries the
// record's JSON and its access anchor, and the record's scope_ columns
// follow its anchor. When a write moves a record's anchor (a lead or
// project reassigned, an appointment moved), the records hanging under it
// move with it, and every person who gains or loses sight of one of them
// gets a grant or revoke row aimed at them, in the same transaction.
//
// The organization's row is locked from the transaction's first write (which
// takes the sequence number) until it commits, so sequence numbers commit in
// order and one organization's writes are serialized. Reads come first and do
// not wait for that lock: on PostgreSQL each record read before it is locked
// itself (FOR NO KEY UPDATE) until commit, so a transaction's reads stay
// current until it commits (a read-modify-write cannot lose a concurrent
// update), and what is read once the organization's lock is held cannot
// change either, since every write needs that lock. Checks that read a set of
// rows rather than one (OverlappingAppointments) take the organization's
// lock first. The lock is held only for the writes and the commit, which is
// what bounds one organization's write rate. Writes of different
// organizations do not wait on each other (on PostgreSQL; SQLite has one
// writer at a time). Two transactions that lock the same record in opposite
// orders deadlock; PostgreSQL aborts one and it is run again.
//
// If fn returns an error, or any statement failed (even one whose error fn
// ignored), the transaction rolls back and Write returns that error. fn may
// run more than once, when the database asks for a retry, so it must not
// have effects outside the Tx. The Tx must not be used after fn returns or
// from several goroutines, and fn must not call the Store's own write
// methods: they would wait on the lock fn's transaction holds. After a
// commit that took a sequence number, the OnCommit hook hears of it.
//
// Returns CodeInvalid for a principal without an organization, CodeNotFound
// if the organization does not exist, CodeUnavailable when the database is
// down or retries ran out.
func (s *Store) Write(ctx context.Context, p domain.Principal, fn func(domain.Tx) error) error {
	return s.write(ctx, "write", p, func(t *writeTx) error { return fn(t) })
}

// write runs fn as Write and SyncWrite describe.
func (s *Store) write(ctx context.Context, op string, p domain.Principal, fn func(*writeTx) error) error {
	if p.OrgID == "" {
		return opError(op, domain.Errorf(domain.CodeInvalid, "the principal has no organization"))
	}
	// The attempt that commits is the last one run: a retried attempt has
	// rolled back, and its seq and users mean nothing.
	var last *writeTx
	err := s.inTx(ctx, func(db *gorm.DB) error {
		t := &writeTx{s: s, p: p, now: s.now(), roles: map[string]domain.Role{}}
		t.db = db.Session(&gorm.Session{NowFunc: t.Now})
		last = t
		defer func() { t.done = true }()
		err := fn(t)
		// A failed statement decides the outcome even if fn swallowed it:
		// PostgreSQL has aborted the transaction already, and SQLite must
		// not commit half of what fn meant to do.
		if t.failed != nil && (err == nil || retryable(t.failed)) {
			return t.failed
		}
		if err == nil && t.allMembers {
			err = t.addMembers(op)
		}
		if err == nil && !t.orgKnown {
			// Nothing fn did showed that the organization exists (a
			// transaction that wrote nothing, or only to the outbox).
			err = t.checkOrg(op)
		}
		return err
	})
	if err == nil && last.seq != 0 {
		if hook := s.onCommit.Load(); hook != nil {
			(*hook)(p.OrgID, last.seq, slices.Sorted(maps.Keys(last.named)))
		}
	}
	return err
}

// writeTx is the domain.Tx of one Write attempt.
type writeTx struct {
	s   *Store
	db  *gorm.DB
	p   domain.Principal
	now time.Time
	// seq is the organization's change sequence number this transaction
	// took at its first write; 0 before.
	seq int64
	// locked says the transaction holds the organization's row lock (it
	// took seq, or lockOrg ran): from then on reads need no row locks.
	locked bool
	// orgKnown says a statement has shown that the organization exists:
	// its lock, its sequence, a record or device of it read.
	orgKnown bool
	// failed is the first statement failure; it dooms the transaction.
	failed error
	done   bool
	// origin tags the change rows written from now on (SetOrigin).
	origin domain.ChangeOrigin
	// named collects the users the change rows name, for the commit hook;
	// allMembers says a user record was written, which every member holds.
	named      map[string]struct{}
	allMembers bool
	// upserted and granted hold the records with an untargeted upsert row
	// and with a grant row at this seq: a later move of the record's
	// anchor or a later write of it here must reach those rows.
	upserted map[recordKey]bool
	granted  map[recordKey]bool
	// roles caches users' roles for access fan-outs; writing a user
	// empties it.
	roles map[string]domain.Role
	// records caches what Find and the anchor resolution read, tombstones
	// included (nil: no such record), so a record read several times in
	// one transaction is read from the database once. A Create, Update or
	// Delete of a record drops its entry; nothing else in a Tx changes a
	// record's fields.
	records map[recordKey]cachedRecord
	// settings is the organization row's settings column once read (with
	// the device's state, or on demand), decoded by syncTx.Settings.
	settings     []byte
	haveSettings bool
}

// cachedRecord is a record as stored, with the scope its row holds (for a
// synced kind). rec is nil if there is no such record.
type cachedRecord struct {
	rec   domain.Record
	scope scope
}

var _ domain.Tx = (*writeTx)(nil)

// Principal implements domain.Tx.
func (t *writeTx) Principal() domain.Principal { return t.p }

// Now implements domain.Tx; it is fixed for the transaction.
func (t *writeTx) Now() time.Time { return t.now }

// fail records a statement failure and returns it translated.
func (t *writeTx) fail(op string, err error) error {
	err = t.s.translate(op, err)
	if t.failed == nil {
		t.failed = err
	}
	return err
}

func (t *writeTx) usable(op string) error {
	if t.done {
		return opError(op, domain.Errorf(domain.CodeInternal, "the transaction is finished"))
	}
	return nil
}

func opError(op string, err error) error {
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// lockOrg takes the organization row's lock before the first write, for a
// check that reads a set of rows (PostgreSQL; SQLite's BEGIN IMMEDIATE
// already holds the database's), and checks that the organization exists.
// It takes the strength the sequence number's UPDATE takes, so that it
// conflicts with other transactions' writes and not with foreign-key checks.
func (t *writeTx) lockOrg(op string) error {
	if t.locked {
		return nil
	}
	q := "SELECT settings FROM organizations WHERE id = ?"
	if t.s.dialect == DialectPostgres {
		q += " FOR NO KEY UPDATE"
	}
	var rows []struct{ Settings []byte }
	if err := t.db.Raw(q, t.p.OrgID).Scan(&rows).Error; err != nil {
		return t.fail(op, err)
	}
	if len(rows) == 0 {
		return opError(op, domain.ErrNotFound("organization"))
	}
	t.locked, t.orgKnown, t.settings, t.haveSettings = true, true, rows[0].Settings, true
	return nil
}

// checkOrg returns CodeNotFound if the organization does not exist.
func (t *writeTx) checkOrg(op string) error {
	var n int64
	if err := t.db.Raw("SELECT count(*) FROM organizations WHERE id = ?", t.p.OrgID).Scan(&n).Error; err != nil {
		return t.fail(op, err)
	}
	if n == 0 {
		return opError(op, domain.ErrNotFound("organization"))
	}
	t.orgKnown = true
	return nil
}

// reader is the connection a read of one record goes through: before the
// organization's lock is held, on PostgreSQL, it locks the rows it reads
// until commit (the strength an UPDATE takes, which foreign-key checks of
// new children do not wait for).
func (t *writeTx) reader() *gorm.DB {
	if t.locked || t.s.dialect != DialectPostgres {
		return t.db
	}
	return t.db.Clauses(clause.Locking{Strength: "NO KEY UPDATE"})
}

// nextSeq takes the organization's next change sequence number on the first
// write and returns the same number for every later one.
func (t *writeTx) nextSeq(op string) (int64, error) {
	if t.seq != 0 {
		return t.seq, nil
	}
	var seq []int64
	err := t.db.Raw("UPDATE organizations SET change_seq = change_seq + 1 WHERE id = ? RETURNING change_seq", t.p.OrgID).
		Scan(&seq).Error
	if err != nil {
		return 0, t.fail(op, err)
	}
	if len(seq) != 1 {
		return 0, opError(op, domain.ErrNotFound("organization"))
	}
	t.seq, t.locked, t.orgKnown = seq[0], true, true
	return t.seq, nil
}

// change is one change-log row.
type change struct {
	recordKey
	op domain.ChangeOp
	// target is the user a grant or revoke aims at; "" for the record's
	// own upserts and deletes, which reach whoever its anchor lets see it.
	target  string
	version int64
	payload []byte // nil is NULL
	scope   scope
}

// logChange records a change row at the transaction's seq. Writing a record
// twice in one transaction leaves one row (per target), with the last
// operation and state.
func (t *writeTx) logChange(op string, c change) error {
	var payload any
	if c.payload != nil {
		payload = string(c.payload)
	}
	// Only the device's own write can be an echo: a grant or revoke is news
	// to the user it aims at, whoever caused it.
	echo := t.origin.EchoOnly && c.target == ""
	err := t.db.Exec(`INSERT INTO changes (org_id, seq, entity_kind, entity_id, target_user, op, actor_id, version, payload,
			lead_owner, project_tech, assignee, origin_client, origin_mutation, echo_only, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id, seq, entity_kind, entity_id, target_user) DO UPDATE SET
			op = excluded.op, actor_id = excluded.actor_id, version = excluded.version, payload = excluded.payload,
			lead_owner = excluded.lead_owner, project_tech = excluded.project_tech, assignee = excluded.assignee,
			origin_client = excluded.origin_client, origin_mutation = excluded.origin_mutation, echo_only = excluded.echo_only`,
		t.p.OrgID, t.seq, string(c.kind), c.id, c.target, string(c.op), t.p.UserID, c.version, payload,
		c.scope.LeadOwner, c.scope.ProjectTech, c.scope.Assignee, t.origin.ClientID, t.origin.MutationID, echo, t.now).Error
	if err != nil {
		return t.fail(op, err)
	}
	if t.named == nil {
		t.named = map[string]struct{}{}
	}
	for _, u := range append(c.scope.users(), c.target) {
		if u != "" {
			t.named[u] = struct{}{}
		}
	}
	return nil
}

// addMembers names every member of the organization for the commit hook.
func (t *writeTx) addMembers(op string) error {
	var ids []string
	if err := t.db.Table("users").Where("org_id = ?", t.p.OrgID).Pluck("id", &ids).Error; err != nil {
		return t.fail(op, err)
	}
	if t.named == nil {
		t.named = map[string]struct{}{}
	}
	for _, id := range ids {
		t.named[id] = struct{}{}
	}
	return nil
}

// Find implements domain.Tx: it loads a record of the transaction's
// organization, tombstones included. Returns CodeNotFound. The record is
// the caller's own copy: changing it changes nothing stored or cached.
func (t *writeTx) Find(kind domain.EntityKind, id string) (domain.Record, error) {
	op := "find " + string(kind)
	if err := t.usable(op); err != nil {
		return nil, err
	}
	e, err := lookup(kind)
	if err != nil {
		return nil, opError(op, err)
	}
	rec, err := t.load(e, kind, id)
	if err != nil {
		return nil, t.fail(op, err)
	}
	if rec == nil {
		return nil, opError(op, notFound(kind))
	}
	return cloneRecord(rec), nil
}

// load is findIn (tombstones included) through the transaction's record
// cache; nil, nil if there is no such record. A synced record's scope
// comes with it, read in the same statement. The record returned is the
// cache's: callers must not change it.
func (t *writeTx) load(e entity, kind domain.EntityKind, id string) (domain.Record, error) {
	c, err := t.loadRow(e, kind, id)
	return c.rec, err
}

func (t *writeTx) loadRow(e entity, kind domain.EntityKind, id string) (cachedRecord, error) {
	key := recordKey{kind: kind, id: id}
	if c, ok := t.records[key]; ok {
		return c, nil
	}
	var c cachedRecord
	var err error
	if domain.IsSynced(kind) {
		c, err = findWithScope(t.reader(), e, t.p.OrgID, id)
	} else {
		c.rec, err = findIn(t.reader(), e, t.p.OrgID, id, true)
	}
	if domain.IsCode(err, domain.CodeNotFound) {
		c, err = cachedRecord{}, nil
	}
	if err != nil {
		return cachedRecord{}, err
	}
	if t.records == nil {
		t.records = map[recordKey]cachedRecord{}
	}
	t.records[key] = c
	// A record's row names its organization by a foreign key.
	t.orgKnown = t.orgKnown || c.rec != nil
	return c, nil
}

// scopedTypes maps a record's struct type to a struct that holds it and
// the scope_ columns, which findWithScope scans a row into.
var scopedTypes gosync.Map

// findWithScope is findIn with tombstones, for a synced kind, reading the
// row's scope_ columns in the same statement.
func findWithScope(db *gorm.DB, e entity, orgID, id string) (cachedRecord, error) {
	kind := e.new().EntityKind()
	if !validID(id) || orgID == "" {
		return cachedRecord{}, notFound(kind)
	}
	typ := reflect.TypeOf(e.new()).Elem()
	st, ok := scopedTypes.Load(typ)
	if !ok {
		str := reflect.TypeOf("")
		st, _ = scopedTypes.LoadOrStore(typ, reflect.StructOf([]reflect.StructField{
			{Name: "Rec", Type: typ, Tag: `gorm:"embedded"`},
			{Name: "ScopeLeadOwner", Type: str, Tag: `gorm:"column:scope_lead_owner"`},
			{Name: "ScopeProjectTech", Type: str, Tag: `gorm:"column:scope_project_tech"`},
			{Name: "ScopeAssignee", Type: str, Tag: `gorm:"column:scope_assignee"`},
		}))
	}
	row := reflect.New(st.(reflect.Type))
	res := db.Table(e.table).Where("org_id = ? AND id = ?", orgID, id).Limit(1).Find(row.Interface())
	if res.Error != nil {
		return cachedRecord{}, res.Error
	}
	if res.RowsAffected == 0 {
		return cachedRecord{}, notFound(kind)
	}
	v := row.Elem()
	rec := v.Field(0).Addr().Interface().(domain.Record)
	normalizeTimes(rec)
	return cachedRecord{rec: rec, scope: scope{
		LeadOwner: v.Field(1).String(), ProjectTech: v.Field(2).String(), Assignee: v.Field(3).String(),
	}}, nil
}

// forget drops a record from the cache before it is written.
func (t *writeTx) forget(kind domain.EntityKind, id string) {
	delete(t.records, recordKey{kind: kind, id: id})
}

// parents is the parentFinder of the write path: through the record cache,
// so that parents written earlier in the transaction count and parents
// read already are not read again.
func (t *writeTx) parents() parentFinder {
	return func(kind domain.EntityKind, id string) (domain.Record, error) {
		return t.load(entities[kind], kind, id)
	}
}

// findIn loads one record of e in orgID; CodeNotFound (untranslated driver
// errors otherwise) if there is none, or only a tombstone and withDeleted is
// false.
func findIn(db *gorm.DB, e entity, orgID, id string, withDeleted bool) (domain.Record, error) {
	rec := e.new()
	if !validID(id) || orgID == "" {
		return nil, notFound(rec.EntityKind())
	}
	q := db.Table(e.table).Where("org_id = ? AND id = ?", orgID, id)
	if !withDeleted && softDeletable(rec.EntityKind()) {
		q = q.Where("deleted_at IS NULL")
	}
	res := q.Limit(1).Find(rec)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, notFound(rec.EntityKind())
	}
	normalizeTimes(rec)
	return rec, nil
}

func notFound(kind domain.EntityKind) *domain.Error {
	return domain.ErrNotFound(noun(kind))
}

// Create implements domain.Tx. An empty ID gets a new UUID; a non-empty one
// must be a UUID in canonical (lowercase) form, or CodeInvalid. Returns
// CodeConflict if the id is taken, CodeNotFound if rec names another
// organization.
func (t *writeTx) Create(rec domain.Record) error {
	e, op, err := t.check("create", rec)
	if err != nil {
		return err
	}
	m := rec.Base()
	if m.ID == "" {
		m.ID = newID()
	}
	if !validID(m.ID) {
		return opError(op, domain.Invalid(badID))
	}
	tookSeq, unstamped := t.seq == 0, *m
	var email string
	if u, ok := rec.(*domain.User); ok {
		email = u.Email
	}
	seq, err := t.nextSeq(op)
	if err != nil {
		return err
	}
	t.stamp(rec, seq, t.now, t.p.UserID)
	t.forget(rec.EntityKind(), m.ID)
	// A synced record's anchor is known before it is stored (its parents
	// are, and it cannot hang under itself), so its INSERT writes its
	// scope_ columns too.
	q, stored := t.db, (*scope)(nil)
	if domain.IsSynced(rec.EntityKind()) {
		a, err := anchorOf(t.parents(), rec)
		if err != nil {
			return t.fail(op, err)
		}
		sc := scopeOf(a)
		q, stored = q.Set(scopeSetting, sc), &sc
	}
	// ids are global: a row of any organization with this id makes the
	// INSERT do nothing (not an error, so the transaction lives on), and
	// the id is taken.
	res := q.Table(e.table).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoNothing: true}).Create(rec)
	if res.Error != nil {
		return t.fail(op, res.Error)
	}
	if res.RowsAffected == 0 {
		if tookSeq {
			// Nothing was written: give the sequence number back, as a
			// refused Create never took one.
			if err := t.giveBackSeq(op); err != nil {
				return err
			}
		}
		// The refused record is left as it was given.
		*m = unstamped
		if u, ok := rec.(*domain.User); ok {
			u.Email = email
		}
		return opError(op, taken(noun(rec.EntityKind()), m.ID))
	}
	return t.written(op, e, rec, nil, stored)
}

// taken is the conflict of a Create or Enqueue whose id is in use.
func taken(what, id string) *domain.Error {
	return domain.Errorf(domain.CodeConflict, "%s %s already exists", what, id)
}

// giveBackSeq undoes nextSeq's first increment, for a transaction whose
// first write turned out to write nothing. The organization's row is locked,
// so no one took a number after it.
func (t *writeTx) giveBackSeq(op string) error {
	if err := t.db.Exec("UPDATE organizations SET change_seq = change_seq - 1 WHERE id = ?", t.p.OrgID).Error; err != nil {
		return t.fail(op, err)
	}
	t.seq = 0
	return nil
}

// Update implements domain.Tx: it saves every field of rec except the
// creation audit, which it keeps (and copies into rec). (A record read in
// the transaction gets only its changed columns rewritten.) Returns
// CodeNotFound for a missing, tombstoned or foreign record.
func (t *writeTx) Update(rec domain.Record) error {
	e, op, err := t.check("update", rec)
	if err != nil {
		return err
	}
	m := rec.Base()
	cur, err := t.current(op, e, m.ID)
	if err != nil {
		return err
	}
	seq, err := t.nextSeq(op)
	if err != nil {
		return err
	}
	t.stamp(rec, seq, cur.CreatedAt, cur.CreatedBy)
	cols, err := t.changedColumns(rec)
	if err != nil {
		return t.fail(op, err)
	}
	t.forget(rec.EntityKind(), m.ID)
	q := t.db.Table(e.table).Model(rec)
	if cols != nil {
		q = q.Select(cols)
	} else {
		q = q.Select("*").Omit(updateOmits...)
	}
	res := q.Where("org_id = ?", t.p.OrgID).Updates(rec)
	if res.Error != nil {
		return t.fail(op, res.Error)
	}
	if res.RowsAffected != 1 {
		return opError(op, notFound(rec.EntityKind()))
	}
	var stored *scope
	if cols != nil && !slices.ContainsFunc(cols, isAnchorColumn) && domain.IsSynced(rec.EntityKind()) {
		// Nothing the anchor is made of changed: the row's scope, which
		// every write of an ancestor keeps current, still holds, and the
		// parents need not be read to work it out again.
		sc := cur.scope()
		stored = &sc
	}
	return t.written(op, e, rec, &cur, stored)
}

// isAnchorColumn reports whether a record's anchor is made from the column:
// a reference to a parent (refsOf) or a record's own assignee (AnchorFor).
func isAnchorColumn(col string) bool {
	switch col {
	case "lead_id", "project_id", "customer_id", "enrollment_id",
		"assigned_to", "assigned_tech", "recipient_id", "user_id":
		return true
	}
	return false
}

// updateOmits are the columns an Update never writes.
var updateOmits = []string{"id", "org_id", "created_at", "created_by", "deleted_at"}

// changedColumns lists the columns in which rec differs from the row as
// this transaction read it, when it did (nil, meaning every column,
// otherwise): an Update rewrites only those. The row is as read because
// every write of the record in the transaction drops it from the cache.
func (t *writeTx) changedColumns(rec domain.Record) ([]string, error) {
	c, ok := t.records[keyOf(rec)]
	if !ok || c.rec == nil {
		return nil, nil
	}
	stmt := &gorm.Statement{DB: t.db}
	if err := stmt.Parse(rec); err != nil {
		return nil, err
	}
	old, cur := reflect.ValueOf(c.rec), reflect.ValueOf(rec)
	cols := []string{}
	for _, f := range stmt.Schema.Fields {
		if f.DBName == "" || slices.Contains(updateOmits, f.DBName) {
			continue
		}
		// The fields themselves, not ValueOf's: for a column with a
		// serializer (JSON) ValueOf hands back a wrapper that never equals
		// another, which rewrote such columns on every update.
		a := f.ReflectValueOf(t.db.Statement.Context, old).Interface()
		b := f.ReflectValueOf(t.db.Statement.Context, cur).Interface()
		if !reflect.DeepEqual(a, b) {
			cols = append(cols, f.DBName)
		}
	}
	return cols, nil
}

// Delete implements domain.Tx: a soft-deletable record gets its tombstone
// (and a new version, so the deletion syncs); any other is removed. Both
// log a delete change. Returns CodeNotFound, also for a tombstone.
func (t *writeTx) Delete(kind domain.EntityKind, id string) error {
	op := "delete " + string(kind)
	if err := t.usable(op); err != nil {
		return err
	}
	e, err := lookup(kind)
	if err != nil {
		return opError(op, err)
	}
	cur, err := t.current(op, e, id)
	if err != nil {
		return err
	}
	seq, err := t.nextSeq(op)
	if err != nil {
		return err
	}
	t.forget(kind, id)
	q := t.db.Table(e.table).Where("org_id = ? AND id = ?", t.p.OrgID, id)
	if softDeletable(kind) {
		err = q.UpdateColumns(map[string]any{
			"deleted_at": t.now, "version": seq, "updated_at": t.now, "updated_by": t.p.UserID,
		}).Error
	} else {
		err = q.Delete(e.new()).Error
	}
	if err != nil {
		return t.fail(op, err)
	}
	return t.deleted(op, recordKey{kind: kind, id: id}, cur.scope())
}

// Enqueue implements domain.Tx: the message commits with the data. An empty
// ID gets a new UUID (the relay uses it as the job's task id, so a
// deterministic ID makes a side effect unique); a taken ID is CodeConflict.
// A zero AvailableAt means now.
func (t *writeTx) Enqueue(msg domain.OutboxMessage) error {
	const op = "enqueue"
	if err := t.usable(op); err != nil {
		return err
	}
	if msg.OrgID != "" && msg.OrgID != t.p.OrgID {
		return opError(op, domain.ErrNotFound("organization"))
	}
	if strings.TrimSpace(msg.Kind) == "" {
		return opError(op, domain.Invalid(domain.FieldError{Field: "kind", Message: "is required"}))
	}
	if msg.ID == "" {
		msg.ID = newID()
	}
	if msg.Payload == nil {
		msg.Payload = []byte{}
	}
	available := t.now
	if !msg.AvailableAt.IsZero() {
		available = normalTime(msg.AvailableAt)
	}
	// As in Create: a taken id (any organization's) inserts nothing.
	res := t.db.Exec(`INSERT INTO outbox (id, org_id, kind, payload, created_at, available_at, attempts)
		VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (id) DO NOTHING`, msg.ID, t.p.OrgID, msg.Kind, msg.Payload, t.now, available)
	if res.Error != nil {
		return t.fail(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return opError(op, taken("outbox message", msg.ID))
	}
	return nil
}

// check validates what Create and Update share (a known kind, no other
// organization, no tombstone) and returns the operation's full name.
func (t *writeTx) check(op string, rec domain.Record) (entity, string, error) {
	if err := t.usable(op); err != nil {
		return entity{}, op, err
	}
	if rec == nil || reflect.ValueOf(rec).IsNil() {
		return entity{}, op, opError(op, domain.Errorf(domain.CodeInvalid, "no record given"))
	}
	op += " " + string(rec.EntityKind())
	e, err := lookup(rec.EntityKind())
	if err != nil {
		return entity{}, op, opError(op, err)
	}
	if org := rec.Base().OrgID; org != "" && org != t.p.OrgID {
		return entity{}, op, opError(op, notFound(rec.EntityKind()))
	}
	if sd, ok := rec.(domain.SoftDeletable); ok && sd.Deleted() != nil {
		return entity{}, op, opError(op, domain.Invalid(domain.FieldError{
			Field: "deleted_at", Message: "is set only by deleting the record",
		}))
	}
	return e, op, nil
}

// currentRow is what the write path reads of a stored row: Update and
// Delete all of it but the id, an access fan-out the id and scope.
type currentRow struct {
	ID        string
	CreatedAt time.Time
	CreatedBy string
	// The record's anchor as last written (synced kinds).
	ScopeLeadOwner   string
	ScopeProjectTech string
	ScopeAssignee    string
	// What the records under a customer or project resolve their anchor
	// through (those kinds only).
	LeadID     string
	CustomerID string
}

func (c currentRow) scope() scope {
	return scope{LeadOwner: c.ScopeLeadOwner, ProjectTech: c.ScopeProjectTech, Assignee: c.ScopeAssignee}
}

// current loads what the write path needs of the stored row; CodeNotFound
// if the row is missing, another organization's, or a tombstone.
func (t *writeTx) current(op string, e entity, id string) (currentRow, error) {
	var rows []currentRow
	kind := e.new().EntityKind()
	if !validID(id) {
		return currentRow{}, opError(op, notFound(kind))
	}
	if c, ok := t.records[recordKey{kind: kind, id: id}]; ok && domain.IsSynced(kind) {
		// Read in this transaction already, with its scope.
		if c.rec == nil {
			return currentRow{}, opError(op, notFound(kind))
		}
		if sd, ok := c.rec.(domain.SoftDeletable); ok && sd.Deleted() != nil {
			return currentRow{}, opError(op, notFound(kind))
		}
		m := c.rec.Base()
		return currentRow{
			ID: id, CreatedAt: m.CreatedAt, CreatedBy: m.CreatedBy,
			ScopeLeadOwner: c.scope.LeadOwner, ScopeProjectTech: c.scope.ProjectTech, ScopeAssignee: c.scope.Assignee,
			LeadID: leadRef(c.rec), CustomerID: customerRef(c.rec),
		}, nil
	}
	cols := []string{"created_at", "created_by"}
	if domain.IsSynced(kind) {
		cols = append(cols, scopeColumns...)
	}
	switch kind {
	case domain.KindCustomer:
		cols = append(cols, "lead_id")
	case domain.KindProject:
		cols = append(cols, "lead_id", "customer_id")
	}
	q := t.reader().Table(e.table).Select(cols).Where("org_id = ? AND id = ?", t.p.OrgID, id)
	if softDeletable(kind) {
		q = q.Where("deleted_at IS NULL")
	}
	if err := q.Find(&rows).Error; err != nil {
		return currentRow{}, t.fail(op, err)
	}
	if len(rows) == 0 {
		return currentRow{}, opError(op, notFound(kind))
	}
	return rows[0], nil
}

// stamp sets the header every written row carries, and puts the record in
// the form it will read back in.
func (t *writeTx) stamp(rec domain.Record, seq int64, createdAt time.Time, createdBy string) {
	m := rec.Base()
	m.OrgID = t.p.OrgID
	m.Version = seq
	m.CreatedAt = createdAt
	m.CreatedBy = createdBy
	m.UpdatedAt = t.now
	m.UpdatedBy = t.p.UserID
	if u, ok := rec.(*domain.User); ok {
		// Stored lowercased so that the unique index is case-insensitive.
		u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	}
	normalizeTimes(rec)
}

// newID returns a time-ordered UUID (version 7): new rows land at the end of
// the primary key index instead of all over it.
func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// badID is the complaint about an id validID refuses.
var badID = domain.FieldError{Field: "id", Message: "must be a UUID in lowercase canonical form"}

// validID accepts only canonical lowercase UUIDs, so that one record never
// goes by two spellings of its id.
func validID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u != uuid.Nil && u.String() == id
}

// noun turns a kind into words for messages ("campaign enrollment").
func noun(kind domain.EntityKind) string {
	return strings.ReplaceAll(string(kind), "_", " ")
}

// cloneRecord returns a deep copy of rec, so that a caller changing the
// record Find returned (a field, or an element of a slice or map field)
// leaves the transaction's cached copy as stored.
func cloneRecord(rec domain.Record) domain.Record {
	v := reflect.ValueOf(rec)
	out := reflect.New(v.Elem().Type())
	out.Elem().Set(deepCopy(v.Elem()))
	return out.Interface().(domain.Record)
}

// deepCopy copies v, following pointers, slices, maps and interfaces held
// in exported fields; unexported fields (time.Time's) are copied as they
// are.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Elem().Type())
		p.Elem().Set(deepCopy(v.Elem()))
		return p
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(deepCopy(v.Index(i)))
		}
		return s
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			m.SetMapIndex(iter.Key(), deepCopy(iter.Value()))
		}
		return m
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type()).Elem()
		c.Set(deepCopy(v.Elem()))
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				c.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return c
	}
	return v
}
