package sqlstore

import (
	"context"
	"encoding/json"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/iswitchroofs/fieldsync/domain"
)

// SyncWrite is Write with the sync engine's surface on the transaction: the
// device's sync state, its mutations' outcomes and the change log's history
// commit or roll back with the mutation's effects, which is what makes a
// push apply exactly once. Everything Write says holds.
func (s *Store) SyncWrite(ctx context.Context, p domain.Principal, fn func(domain.SyncTx) error) error {
	return s.write(ctx, "sync write", p, func(t *writeTx) error { return fn(syncTx{t}) })
}

// syncTx is the domain.SyncTx of one SyncWrite attempt.
type syncTx struct{ *writeTx }

var _ domain.SyncTx = syncTx{}

// Client implements domain.SyncTx: it loads the device's state in the
// transaction's organization and locks it until commit, which orders the
// device's pushes (and holds off a pull recording its cursor in between).
// The organization's settings come in the same statement, for Settings.
// Returns CodeNotFound.
func (t syncTx) Client(clientID string) (*domain.SyncClient, error) {
	const op = "load sync client"
	if err := t.usable(op); err != nil {
		return nil, err
	}
	q := t.db.Table("sync_clients").Select("sync_clients.*, organizations.settings AS org_settings").
		Joins("JOIN organizations ON organizations.id = sync_clients.org_id").
		Where("sync_clients.org_id = ? AND sync_clients.id = ?", t.p.OrgID, clientID)
	if t.s.dialect == DialectPostgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE", Table: clause.Table{Name: "sync_clients"}})
	}
	var rows []struct {
		domain.SyncClient `gorm:"embedded"`
		OrgSettings       []byte `gorm:"column:org_settings"`
	}
	if err := q.Limit(1).Find(&rows).Error; err != nil {
		return nil, t.fail(op, err)
	}
	if len(rows) == 0 {
		return nil, opError(op, domain.ErrNotFound("sync client"))
	}
	c := rows[0].SyncClient
	normalizeTimes(&c)
	t.settings, t.haveSettings, t.orgKnown = rows[0].OrgSettings, true, true
	return &c, nil
}

// Settings implements domain.SyncTx: the settings FindOrganization would
// return, as read with the device's state or, failing that, now. They are
// not locked: an organization's settings are written only when it is
// created.
func (t syncTx) Settings() (domain.OrgSettings, error) {
	const op = "organization settings"
	if err := t.usable(op); err != nil {
		return domain.OrgSettings{}, err
	}
	var st domain.OrgSettings
	if !t.haveSettings {
		var rows []struct{ Settings []byte }
		if err := t.db.Raw("SELECT settings FROM organizations WHERE id = ?", t.p.OrgID).Scan(&rows).Error; err != nil {
			return st, t.fail(op, err)
		}
		if len(rows) == 0 {
			return st, opError(op, domain.ErrNotFound("organization"))
		}
		t.settings, t.haveSettings = rows[0].Settings, true
	}
	if len(t.settings) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(t.settings, &st); err != nil {
		return st, opError(op, domain.WrapError(domain.CodeInternal, err, "stored organization settings are unreadable"))
	}
	return st, nil
}

// SaveClient implements domain.SyncTx: it stores c, every field as given
// (so save what Client loaded), inserting it if new. c's organization is
// the transaction's. Returns CodeForbidden if the id is another user's or
// another organization's device, CodeInvalid without an id or user.
func (t syncTx) SaveClient(c *domain.SyncClient) error {
	const op = "save sync client"
	if err := t.usable(op); err != nil {
		return err
	}
	if err := checkClient(c, t.p.OrgID); err != nil {
		return opError(op, err)
	}
	c.OrgID = t.p.OrgID
	if c.CreatedAt.IsZero() {
		c.CreatedAt = t.now
	}
	c.UpdatedAt = t.now
	normalizeTimes(c)
	res := t.db.Exec(`INSERT INTO sync_clients (id, org_id, user_id, platform, app_version, schema_version,
			last_mutation_id, role, cursor, last_pull_at, last_push_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET platform = excluded.platform, app_version = excluded.app_version,
			schema_version = excluded.schema_version, last_mutation_id = excluded.last_mutation_id,
			role = excluded.role, cursor = excluded.cursor, last_pull_at = excluded.last_pull_at,
			last_push_at = excluded.last_push_at, updated_at = excluded.updated_at
		WHERE sync_clients.org_id = excluded.org_id AND sync_clients.user_id = excluded.user_id`,
		c.ID, c.OrgID, c.UserID, string(c.Platform), c.AppVersion, c.SchemaVersion,
		c.LastMutationID, string(c.Role), c.Cursor, c.LastPullAt, c.LastPushAt, c.CreatedAt, c.UpdatedAt)
	if res.Error != nil {
		return t.fail(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return opError(op, foreignClient())
	}
	return nil
}

// RecordOutcome implements domain.SyncTx: it stores o for the device,
// replacing an outcome of the same kind for the same mutation; a zero
// CreatedAt is the transaction's time (pruning goes by it). Returns
// CodeInvalid for a missing client or mutation id, an unknown kind or
// details that are not JSON.
func (t syncTx) RecordOutcome(o domain.MutationOutcome) error {
	const op = "record mutation outcome"
	if err := t.usable(op); err != nil {
		return err
	}
	var bad []domain.FieldError
	if o.OrgID != "" && o.OrgID != t.p.OrgID {
		return opError(op, domain.ErrNotFound("organization"))
	}
	if o.ClientID == "" {
		bad = append(bad, domain.FieldError{Field: "client_id", Message: "is required"})
	}
	if o.MutationID <= 0 {
		bad = append(bad, domain.FieldError{Field: "mutation_id", Message: "must be positive"})
	}
	if o.Kind != domain.OutcomeRejected && o.Kind != domain.OutcomeConflict {
		bad = append(bad, domain.FieldError{Field: "kind", Message: "must be rejected or conflict"})
	}
	if o.Details != nil && !json.Valid(o.Details) {
		bad = append(bad, domain.FieldError{Field: "details", Message: "must be JSON"})
	}
	if len(bad) > 0 {
		return opError(op, domain.Invalid(bad...))
	}
	var details any
	if o.Details != nil {
		details = string(o.Details)
	}
	created := t.now
	if !o.CreatedAt.IsZero() {
		created = normalTime(o.CreatedAt)
	}
	err := t.db.Exec(`INSERT INTO sync_outcomes (org_id, client_id, mutation_id, kind, name, code, message, details, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id, client_id, mutation_id, kind) DO UPDATE SET name = excluded.name, code = excluded.code,
			message = excluded.message, details = excluded.details, created_at = excluded.created_at`,
		t.p.OrgID, o.ClientID, o.MutationID, string(o.Kind), o.Name, o.Code, o.Message, details, created).Error
	if err != nil {
		return t.fail(op, err)
	}
	return nil
}

// SetOrigin implements domain.SyncTx.
func (t syncTx) SetOrigin(o domain.ChangeOrigin) { t.origin = o }

// StateAt implements domain.SyncTx: the JSON of the record's latest upsert
// at or before seq, read in the transaction. Grants are not part of a
// record's history (its own upserts are). ok is false when no such upsert
// exists or when it lies at or below the history floor, where a later one
// may have been pruned.
func (t syncTx) StateAt(kind domain.EntityKind, id string, seq int64) (json.RawMessage, bool, error) {
	const op = "record state at"
	if err := t.usable(op); err != nil {
		return nil, false, err
	}
	var rows []struct {
		Seq          int64
		Payload      []byte
		HistoryFloor int64
	}
	// One statement: the upsert with the organization's floor beside it.
	err := t.db.Raw(`SELECT c.seq, c.payload, o.history_floor FROM changes c JOIN organizations o ON o.id = c.org_id
		WHERE c.org_id = ? AND c.entity_kind = ? AND c.entity_id = ? AND c.target_user = '' AND c.op = ? AND c.seq <= ? AND c.payload IS NOT NULL
		ORDER BY c.seq DESC LIMIT 1`, t.p.OrgID, string(kind), id, string(domain.OpUpsert), seq).Scan(&rows).Error
	if err != nil {
		return nil, false, t.fail(op, err)
	}
	if len(rows) == 0 || rows[0].Seq <= rows[0].HistoryFloor {
		return nil, false, nil
	}
	return json.RawMessage(rows[0].Payload), true, nil
}

// findClient loads a device's state in orgID; CodeNotFound if there is
// none (untranslated driver errors otherwise).
func findClient(db *gorm.DB, orgID, clientID string) (*domain.SyncClient, error) {
	q := db.Table("sync_clients").Where("org_id = ? AND id = ?", orgID, clientID)
	var cs []*domain.SyncClient
	if err := q.Limit(1).Find(&cs).Error; err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, domain.ErrNotFound("sync client")
	}
	normalizeTimes(cs[0])
	return cs[0], nil
}

// maxClientID bounds a device id; phones generate UUIDs.
const maxClientID = 128

// checkClient validates what every write of a device's state needs. c's
// organization must be orgID (or empty, taken as orgID); with orgID empty,
// c must name its own.
func checkClient(c *domain.SyncClient, orgID string) error {
	if c == nil {
		return domain.Errorf(domain.CodeInvalid, "no sync client given")
	}
	if orgID != "" && c.OrgID != "" && c.OrgID != orgID {
		return foreignClient()
	}
	var bad []domain.FieldError
	if orgID == "" && c.OrgID == "" {
		bad = append(bad, domain.FieldError{Field: "org_id", Message: "is required"})
	}
	if strings.TrimSpace(c.ID) == "" || len(c.ID) > maxClientID {
		bad = append(bad, domain.FieldError{Field: "client_id", Message: "must be 1 to 128 characters"})
	}
	if c.UserID == "" {
		bad = append(bad, domain.FieldError{Field: "user_id", Message: "is required"})
	}
	if len(bad) > 0 {
		return domain.Invalid(bad...)
	}
	return nil
}

// foreignClient refuses a device id registered to someone else. It does not
// say whose: a client id is not a secret, but its owner is.
func foreignClient() *domain.Error {
	return domain.Errorf(domain.CodeForbidden, "this client id belongs to another device")
}
