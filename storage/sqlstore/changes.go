package sqlstore

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/iswitchroofs/fieldsync/domain"
)

// changeRow is a row of the change log.
type changeRow struct {
	OrgID          string
	Seq            int64
	EntityKind     string
	EntityID       string
	TargetUser     string
	Op             string
	ActorID        string
	Version        int64
	Payload        []byte
	LeadOwner      string
	ProjectTech    string
	Assignee       string
	OriginClient   string
	OriginMutation int64
	EchoOnly       bool
	CreatedAt      time.Time
}

// ChangesSince returns up to limit entries of orgID's change log after
// afterSeq, in (seq, kind, id, target user) order, grants and revokes
// included. Sequence numbers commit in order, so a
// reader that has seen seq n has seen every change up to n: a pull cursor
// can be the last seq it returned. A limit of 0 or less means 1000. A
// transaction's entries share one seq, so a caller that must not split a
// transaction (an atomic pull page) reads on to the end of the last seq.
func (s *Store) ChangesSince(ctx context.Context, orgID string, afterSeq int64, limit int) ([]domain.Change, error) {
	if limit <= 0 {
		limit = 1000
	}
	var rows []changeRow
	err := s.conn(ctx).Table("changes").
		Select("org_id", "seq", "entity_kind", "entity_id", "op", "actor_id").
		Where("org_id = ? AND seq > ?", orgID, afterSeq).
		Order("seq, entity_kind, entity_id, target_user").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, s.translate("changes since", err)
	}
	out := make([]domain.Change, len(rows))
	for i, r := range rows {
		out[i] = domain.Change{
			OrgID: r.OrgID, Seq: r.Seq, Kind: domain.EntityKind(r.EntityKind),
			EntityID: r.EntityID, Op: domain.ChangeOp(r.Op), ActorID: r.ActorID,
		}
	}
	return out, nil
}

// OrgSeq returns the organization's last committed change sequence number
// (0 before its first write). CodeNotFound if there is no such organization.
func (s *Store) OrgSeq(ctx context.Context, orgID string) (int64, error) {
	var seqs []int64
	err := s.conn(ctx).Table("organizations").Where("id = ?", orgID).Limit(1).Pluck("change_seq", &seqs).Error
	if err != nil {
		return 0, s.translate("organization sequence", err)
	}
	if len(seqs) == 0 {
		return 0, opError("organization sequence", domain.ErrNotFound("organization"))
	}
	return seqs[0], nil
}

// OutboxClaimLease is how long a claimed outbox message stays invisible to
// other relays. A relay that crashes after claiming loses nothing: the
// message comes back after the lease, and its ID (the job's task id) keeps
// the second relay from enqueuing it twice.
const OutboxClaimLease = time.Minute

// outboxRow is a row of the outbox table.
type outboxRow struct {
	ID          string
	OrgID       string
	Kind        string
	Payload     []byte
	CreatedAt   time.Time
	AvailableAt time.Time
}

// ClaimOutbox takes up to limit unrelayed messages, of every organization,
// that are available at now, oldest first, and hides them from other
// claimers for OutboxClaimLease (counting the attempt). Concurrent relays
// get disjoint sets (FOR UPDATE SKIP LOCKED on PostgreSQL; one writer at a
// time on SQLite). Each message comes back with the AvailableAt it was
// enqueued with.
func (s *Store) ClaimOutbox(ctx context.Context, limit int, now time.Time) ([]domain.OutboxMessage, error) {
	const op = "claim outbox"
	if limit <= 0 {
		return nil, nil
	}
	now = normalTime(now)
	var rows []outboxRow
	err := s.inTx(ctx, func(db *gorm.DB) error {
		q := db.Table("outbox").
			Select("id", "org_id", "kind", "payload", "created_at", "available_at").
			Where("relayed_at IS NULL AND available_at <= ?", now).
			Order("available_at, id").Limit(limit)
		if s.dialect == DialectPostgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		if err := q.Find(&rows).Error; err != nil {
			return s.translate(op, err)
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		err := db.Table("outbox").Where("id IN ?", ids).UpdateColumns(map[string]any{
			"available_at": now.Add(OutboxClaimLease),
			"attempts":     gorm.Expr("attempts + 1"),
		}).Error
		return s.translate(op, err)
	})
	if err != nil {
		return nil, err
	}
	out := make([]domain.OutboxMessage, len(rows))
	for i, r := range rows {
		normalizeTimes(&r)
		out[i] = domain.OutboxMessage(r)
	}
	return out, nil
}

// MarkOutboxRelayed records that the messages reached the job queue, so
// they are never claimed again. Unknown ids are ignored.
func (s *Store) MarkOutboxRelayed(ctx context.Context, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.conn(ctx).Table("outbox").Where("id IN ? AND relayed_at IS NULL", ids).
		UpdateColumn("relayed_at", normalTime(now)).Error
	return s.translate("mark outbox relayed", err)
}
