package sqlstore

import (
	"context"

	"github.com/iswitchroofs/fieldsync/domain"
)

var _ domain.NotificationStore = (*Store)(nil)

// ListNotifications lists notifications matching f, newest first, at most
// f.Limit (default 100, at most 1000).
func (s *Store) ListNotifications(ctx context.Context, f domain.NotificationFilter) ([]*domain.Notification, error) {
	q := s.conn(ctx).Where("org_id = ?", f.OrgID)
	if f.UserID != "" {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.Channel != "" {
		q = q.Where("channel = ?", f.Channel)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	out := []*domain.Notification{}
	if err := q.Order("created_at DESC, id DESC").Limit(min(limit, 1000)).Find(&out).Error; err != nil {
		return nil, s.translate("list notifications", err)
	}
	for _, n := range out {
		normalizeTimes(n)
	}
	return out, nil
}
