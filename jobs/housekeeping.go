package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// HistoryStore is what history pruning needs from the database.
type HistoryStore interface {
	OrganizationIDs(ctx context.Context) ([]string, error)
	// PruneHistory drops an organization's change history older than
	// olderThan and raises its history floor, so older cursors reset.
	PruneHistory(ctx context.Context, orgID string, olderThan time.Time) (int64, error)
}

// HistoryPruner keeps each organization's change history for Horizon and no
// longer. The horizon must outlast the longest time a phone may stay
// offline: a device whose cursor falls below it gets a full reset (which
// keeps its unpushed mutations) instead of an incremental pull. Pruning is
// idempotent, so every worker replica may run one.
type HistoryPruner struct {
	Store    HistoryStore
	Horizon  time.Duration
	Interval time.Duration
	Clock    domain.Clock
	Log      *slog.Logger
}

// PruneOnce prunes every organization once and returns the rows removed.
// One organization's failure does not stop the others.
func (p *HistoryPruner) PruneOnce(ctx context.Context) (int64, error) {
	ids, err := p.Store.OrganizationIDs(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := p.Clock.Now().Add(-p.Horizon)
	var total int64
	var firstErr error
	for _, id := range ids {
		n, err := p.Store.PruneHistory(ctx, id, cutoff)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			p.Log.Warn("history pruning failed", slog.String("org_id", id), slog.String("error", err.Error()))
			continue
		}
		total += n
	}
	return total, firstErr
}

// Run prunes at start and then every Interval (default one hour) until ctx ends.
func (p *HistoryPruner) Run(ctx context.Context) {
	interval := p.Interval
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := p.PruneOnce(ctx); err == nil && n > 0 {
			p.Log.Info("pruned change history", slog.Int64("rows", n), slog.Duration("horizon", p.Horizon))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
