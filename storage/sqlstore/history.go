package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/iswitchroofs/fieldsync/domain"
)

// PruneHistory drops orgID's change history older than olderThan: every
// change row up to the highest seq logged before then (whole transactions,
// and nothing left below the floor even if replicas' clocks disagreed), and
// the devices' outcomes recorded before then. The history floor rises to
// that seq, so a cursor below it gets a reset instead of a pull with holes.
// It returns how many change rows it deleted. Returns CodeNotFound for an
// unknown organization.
func (s *Store) PruneHistory(ctx context.Context, orgID string, olderThan time.Time) (int64, error) {
	const op = "prune history"
	olderThan = normalTime(olderThan)
	var pruned int64
	err := s.inTx(ctx, func(db *gorm.DB) error {
		pruned = 0
		var found int64
		if err := db.Table("organizations").Where("id = ?", orgID).Count(&found).Error; err != nil {
			return s.translate(op, err)
		}
		if found == 0 {
			return opError(op, domain.ErrNotFound("organization"))
		}
		var upTo sql.NullInt64
		if err := db.Raw("SELECT max(seq) FROM changes WHERE org_id = ? AND created_at < ?", orgID, olderThan).Row().Scan(&upTo); err != nil {
			return s.translate(op, err)
		}
		if upTo.Valid {
			res := db.Exec("DELETE FROM changes WHERE org_id = ? AND seq <= ?", orgID, upTo.Int64)
			if res.Error != nil {
				return s.translate(op, res.Error)
			}
			pruned = res.RowsAffected
			// Last, so that the organization's row, which every writer
			// locks, is held only briefly.
			err := db.Exec("UPDATE organizations SET history_floor = ? WHERE id = ? AND history_floor < ?", upTo.Int64, orgID, upTo.Int64).Error
			if err != nil {
				return s.translate(op, err)
			}
		}
		err := db.Exec("DELETE FROM sync_outcomes WHERE org_id = ? AND created_at < ?", orgID, olderThan).Error
		return s.translate(op, err)
	})
	return pruned, err
}

// RotateEpoch gives orgID a new random sync epoch, which every cursor handed
// out before carries the old one of: use it when the organization's history
// is replaced (a restore, a re-import), so that every device resets instead
// of trusting a cursor into another history. Returns the new epoch, or
// CodeNotFound for an unknown organization.
func (s *Store) RotateEpoch(ctx context.Context, orgID string) (string, error) {
	const op = "rotate sync epoch"
	epoch := newEpoch()
	res := s.conn(ctx).Exec("UPDATE organizations SET sync_epoch = ? WHERE id = ?", epoch, orgID)
	if res.Error != nil {
		return "", s.translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return "", opError(op, domain.ErrNotFound("organization"))
	}
	return epoch, nil
}

// newEpoch is a random epoch: unguessable is not needed, never repeating is.
func newEpoch() string {
	return uuid.NewString()
}

// OrganizationIDs lists every organization's id, for housekeeping that runs
// per organization (history pruning, epoch rotation after a restore).
func (s *Store) OrganizationIDs(ctx context.Context) ([]string, error) {
	var ids []string
	if err := s.conn(ctx).Table("organizations").Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, s.translate("list organizations", err)
	}
	return ids, nil
}
