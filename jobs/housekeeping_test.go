package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// TestHistoryPrunerKeepsTheHorizon writes changes at two times and checks
// that only those older than the horizon go, in every organization, and
// that the history floor rises so old cursors reset.
func TestHistoryPrunerKeepsTheHorizon(t *testing.T) {
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		var orgs []*domain.Organization
		for i := 0; i < 2; i++ {
			org := sqltest.Org(t, s)
			orgs = append(orgs, org)
			sqltest.Lead(t, s, sqltest.System(org))
		}
		now := time.Now().UTC()
		before := map[string]domain.OrgSyncState{}
		for _, org := range orgs {
			st, err := s.SyncState(ctx, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			before[org.ID] = st
		}
		// A horizon that has not passed: nothing goes.
		p := &jobs.HistoryPruner{Store: s, Horizon: time.Hour, Clock: domain.ClockFunc(func() time.Time { return now }), Log: slog.New(slog.DiscardHandler)}
		if n, err := p.PruneOnce(ctx); err != nil || n != 0 {
			t.Fatalf("pruned %d (%v) within the horizon", n, err)
		}
		// Two hours later, the same changes are past it.
		p.Clock = domain.ClockFunc(func() time.Time { return now.Add(2 * time.Hour) })
		n, err := p.PruneOnce(ctx)
		if err != nil || n == 0 {
			t.Fatalf("pruned %d (%v) past the horizon", n, err)
		}
		for _, org := range orgs {
			st, err := s.SyncState(ctx, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			if st.Floor != before[org.ID].Seq {
				t.Errorf("org %s: floor %d, want %d", org.ID, st.Floor, before[org.ID].Seq)
			}
			rows, err := s.ChangesSince(ctx, org.ID, 0, 100)
			if err != nil || len(rows) != 0 {
				t.Errorf("org %s: %d change rows left (%v)", org.ID, len(rows), err)
			}
		}
	})
}
