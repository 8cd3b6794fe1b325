package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	gosync "sync"

	"gorm.io/gorm"

	"github.com/iswitchroofs/fieldsync/domain"
)

// defaultPageRows is the page size when a caller asks for none.
const defaultPageRows = 500

// SyncState returns the organization's sequence, epoch and history floor.
// Returns CodeNotFound if there is no such organization.
func (s *Store) SyncState(ctx context.Context, orgID string) (domain.OrgSyncState, error) {
	const op = "sync state"
	var rows []struct {
		ChangeSeq    int64
		SyncEpoch    string
		HistoryFloor int64
	}
	err := s.conn(ctx).Table("organizations").Select("change_seq", "sync_epoch", "history_floor").
		Where("id = ?", orgID).Limit(1).Find(&rows).Error
	if err != nil {
		return domain.OrgSyncState{}, s.translate(op, err)
	}
	if len(rows) == 0 {
		return domain.OrgSyncState{}, opError(op, domain.ErrNotFound("organization"))
	}
	r := rows[0]
	return domain.OrgSyncState{Seq: r.ChangeSeq, Epoch: r.SyncEpoch, Floor: r.HistoryFloor}, nil
}

// visibility is a ScopeFilter as SQL: everything (managers and admins),
// nothing (any other role, or no user), or what an anchor column names the
// user in (lead_owner for reps, project_tech for techs) or is assigned to
// them. It is domain.CanSee restricted to the synced kinds, which a
// property test holds it to.
type visibility struct {
	all, none bool
	owner     string // the anchor column that names the user's own work
	user      string
}

func visibilityOf(f domain.ScopeFilter) visibility {
	if f.OrgID == "" || f.UserID == "" {
		return visibility{none: true}
	}
	switch f.Role {
	case domain.RoleAdmin, domain.RoleManager:
		return visibility{all: true}
	case domain.RoleSales:
		return visibility{owner: "lead_owner", user: f.UserID}
	case domain.RoleFieldTech:
		return visibility{owner: "project_tech", user: f.UserID}
	}
	return visibility{none: true}
}

// anchored is the condition on columns named prefix+owner and
// prefix+"assignee".
func (v visibility) anchored(prefix string) (string, []any) {
	return "(" + prefix + v.owner + " = ? OR " + prefix + "assignee = ?)", []any{v.user, v.user}
}

// ChangesForScope reads the change rows of synced kinds after seq after
// that f may see: for managers and admins every untargeted row; for reps
// and techs the untargeted rows of users and of records whose anchor (as
// of the change) names them, and the grants and revokes aimed at them.
// Rows come in (seq, kind, id, target user) order.
//
// A page holds whole transactions: as many seqs as fit in maxRows (500 if
// 0 or less), but at least one, however large. UpTo is the last seq the
// page covers, which may lie past its last row: when nothing after after
// is visible, UpTo is the organization's current seq, so an idle device's
// cursor moves past changes it may not see. The organization's seq is read
// before the rows, and seqs commit in order, so nothing committed later can
// hide below UpTo. Returns CodeNotFound for an unknown organization.
func (s *Store) ChangesForScope(ctx context.Context, f domain.ScopeFilter, after int64, maxRows int) (domain.ChangePage, error) {
	const op = "changes for scope"
	if maxRows <= 0 {
		maxRows = defaultPageRows
	}
	head, err := s.OrgSeq(ctx, f.OrgID)
	if err != nil {
		return domain.ChangePage{}, err
	}
	page := domain.ChangePage{Rows: []domain.ChangeRow{}, UpTo: max(after, head)}
	vis := visibilityOf(f)
	if vis.none || after >= head {
		return page, nil
	}
	visible := func(where string, args ...any) *gorm.DB {
		q := s.conn(ctx).Table("changes").Where("org_id = ? AND entity_kind IN ?", f.OrgID, syncedKindNames()).
			Where(where, args...).Order("seq, entity_kind, entity_id, target_user")
		if vis.all {
			return q.Where("target_user = ''")
		}
		cond, args := vis.anchored("")
		return q.Where("((target_user = '' AND (entity_kind = ? OR "+cond+")) OR target_user = ?)",
			append(append([]any{string(domain.KindUser)}, args...), vis.user)...)
	}
	var rows []changeRow
	if err := visible("seq > ? AND seq <= ?", after, head).Limit(maxRows + 1).Find(&rows).Error; err != nil {
		return domain.ChangePage{}, s.translate(op, err)
	}
	if len(rows) <= maxRows {
		page.Rows = s.pullRows(f.OrgID, rows)
		return page, nil
	}
	cut := rows[maxRows].Seq
	if rows[0].Seq < cut {
		// Stop before the seq the limit cut into.
		n := 0
		for rows[n].Seq < cut {
			n++
		}
		page.Rows, page.UpTo, page.More = s.pullRows(f.OrgID, rows[:n]), cut-1, true
		return page, nil
	}
	// One transaction larger than a page goes whole.
	var whole []changeRow
	if err := visible("seq = ?", cut).Find(&whole).Error; err != nil {
		return domain.ChangePage{}, s.translate(op, err)
	}
	var next []changeRow
	if err := visible("seq > ? AND seq <= ?", cut, head).Limit(1).Find(&next).Error; err != nil {
		return domain.ChangePage{}, s.translate(op, err)
	}
	page.Rows, page.UpTo, page.More = s.pullRows(f.OrgID, whole), cut, len(next) > 0
	return page, nil
}

// pullRows turns change-log rows into what a pull reads.
func (s *Store) pullRows(orgID string, rows []changeRow) []domain.ChangeRow {
	out := make([]domain.ChangeRow, len(rows))
	for i, r := range rows {
		key := recordKey{kind: domain.EntityKind(r.EntityKind), id: r.EntityID}
		var payload json.RawMessage
		if r.Payload != nil {
			payload = json.RawMessage(r.Payload)
		}
		out[i] = domain.ChangeRow{
			Seq: r.Seq, Kind: key.kind, EntityID: key.id, Op: domain.ChangeOp(r.Op),
			Version: r.Version, Payload: payload,
			Anchor:     scope{LeadOwner: r.LeadOwner, ProjectTech: r.ProjectTech, Assignee: r.Assignee}.anchor(orgID, key),
			TargetUser: r.TargetUser,
			Origin:     domain.ChangeOrigin{ClientID: r.OriginClient, MutationID: r.OriginMutation, EchoOnly: r.EchoOnly},
			CreatedAt:  normalTime(r.CreatedAt),
		}
	}
	return out
}

// syncedKindNames are domain.SyncedKinds as query parameters.
func syncedKindNames() []string {
	kinds := domain.SyncedKinds()
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return out
}

// SnapshotPage reads up to limit (500 if 0 or less) live records of kind in
// f's scope with id > afterID, in id order, each with its JSON (the domain
// record's) and version. Scope is judged on the records' current anchors
// (their scope_ columns); every member sees every user. Returns CodeInvalid
// for a kind that is not synced.
func (s *Store) SnapshotPage(ctx context.Context, f domain.ScopeFilter, kind domain.EntityKind, afterID string, limit int) ([]domain.SnapshotRecord, error) {
	const op = "snapshot page"
	q, e, err := s.inScope(ctx, op, f, kind)
	if err != nil || q == nil {
		return []domain.SnapshotRecord{}, err
	}
	if limit <= 0 {
		limit = defaultPageRows
	}
	plan, err := rawPlanOf(e)
	if err != nil {
		return nil, s.translate(op, err)
	}
	q = q.Where("id > ?", afterID).Order("id").Limit(limit)
	var recs []domain.Record
	var raws [][]*string
	if plan != nil {
		recs, raws, err = plan.find(q)
	} else {
		recs, err = findAll(q, e)
	}
	if err != nil {
		return nil, s.translate(op, err)
	}
	out := make([]domain.SnapshotRecord, len(recs))
	if err := marshalRecords(recs, kind, out); err != nil {
		return nil, s.translate(op, err)
	}
	if plan != nil {
		for i := range out {
			out[i].Payload = plan.splice(out[i].Payload, raws[i])
		}
	}
	return out, nil
}

// parallelMarshalMin is the page size from which marshalRecords spreads the
// work over the CPUs: encoding is most of a snapshot page's CPU, and one
// device's initial sync otherwise runs on one core however many there are.
const parallelMarshalMin = 256

// marshalRecords fills out with recs encoded as JSON, in order.
func marshalRecords(recs []domain.Record, kind domain.EntityKind, out []domain.SnapshotRecord) error {
	encode := func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			payload, err := json.Marshal(recs[i])
			if err != nil {
				return err
			}
			m := recs[i].Base()
			out[i] = domain.SnapshotRecord{Kind: kind, ID: m.ID, Version: m.Version, Payload: payload}
		}
		return nil
	}
	workers := min(runtime.GOMAXPROCS(0), len(recs)/(parallelMarshalMin/2))
	if workers < 2 {
		return encode(0, len(recs))
	}
	errs := make([]error, workers)
	var wg gosync.WaitGroup
	for w := range workers {
		lo, hi := w*len(recs)/workers, (w+1)*len(recs)/workers
		wg.Go(func() { errs[w] = encode(lo, hi) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ScopeChecksum counts the records SnapshotPage would return for kind and
// hashes their "id:version\n" lines in id order (lowercase hex SHA-256; the
// empty set hashes the empty input). The rows are streamed, so memory does
// not grow with the scope. Returns CodeInvalid for a kind that is not synced.
func (s *Store) ScopeChecksum(ctx context.Context, f domain.ScopeFilter, kind domain.EntityKind) (domain.ScopePart, error) {
	const op = "scope checksum"
	h := sha256.New()
	part := domain.ScopePart{Kind: kind}
	q, _, err := s.inScope(ctx, op, f, kind)
	if err != nil {
		return domain.ScopePart{}, err
	}
	if q != nil {
		rows, err := q.Select("id", "version").Order("id").Rows()
		if err != nil {
			return domain.ScopePart{}, s.translate(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var version int64
			if err := rows.Scan(&id, &version); err != nil {
				return domain.ScopePart{}, s.translate(op, err)
			}
			fmt.Fprintf(h, "%s:%d\n", id, version)
			part.Count++
		}
		if err := rows.Err(); err != nil {
			return domain.ScopePart{}, s.translate(op, err)
		}
	}
	part.Hash = hex.EncodeToString(h.Sum(nil))
	return part, nil
}

// inScope is the query of kind's live records f may see; nil when f may see
// none.
func (s *Store) inScope(ctx context.Context, op string, f domain.ScopeFilter, kind domain.EntityKind) (*gorm.DB, entity, error) {
	if !domain.IsSynced(kind) {
		return nil, entity{}, opError(op, domain.Errorf(domain.CodeInvalid, "%q is not a synced kind", kind))
	}
	vis := visibilityOf(f)
	if vis.none {
		return nil, entity{}, nil
	}
	e := entities[kind]
	q := s.conn(ctx).Table(e.table).Where("org_id = ?", f.OrgID)
	if softDeletable(kind) {
		q = q.Where("deleted_at IS NULL")
	}
	if !vis.all && kind != domain.KindUser {
		cond, args := vis.anchored("scope_")
		q = q.Where(cond, args...)
	}
	return q, e, nil
}

// InScope reports whether the live record is in f's scope now, by
// domain.CanSee on its freshly resolved anchor, which it returns. A record
// of a kind that is not synced is never in a sync scope. Returns
// CodeNotFound like ResolveAnchor.
func (s *Store) InScope(ctx context.Context, f domain.ScopeFilter, kind domain.EntityKind, id string) (bool, domain.Anchor, error) {
	a, err := s.ResolveAnchor(ctx, f.OrgID, kind, id)
	if err != nil {
		return false, domain.Anchor{}, err
	}
	p := domain.Principal{UserID: f.UserID, OrgID: f.OrgID, Role: f.Role}
	return domain.IsSynced(kind) && domain.CanSee(p, a), a, nil
}
