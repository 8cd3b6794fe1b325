package sqlstore

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
	"gorm.io/gorm"

	"github.com/iswitchroofs/fieldsync/domain"
)

// backfillVersion is the migration after 00002_sync.sql, in Go because it
// resolves anchors with the write path's own code (resolveParents and
// domain.AnchorFor) rather than a second, SQL copy of those rules.
const backfillVersion = 3

// backfillBatch bounds the records held in memory at once.
const backfillBatch = 500

// backfillMigration fills in what 00002 added for the rows written before
// it: a sync epoch for every organization and the scope_ columns of every
// synced record. It runs in the migration's transaction, so it happens
// exactly once, with the version bump. Going down needs nothing: 00002's
// down drops the columns.
func (s *Store) backfillMigration() *goose.Migration {
	return goose.NewGoMigration(backfillVersion,
		&goose.GoFunc{RunTx: s.backfill},
		&goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error { return nil }})
}

func (s *Store) backfill(ctx context.Context, tx *sql.Tx) error {
	db := s.db.Session(&gorm.Session{Context: ctx, NewDB: true})
	db.Statement.ConnPool = tx
	var orgs []string
	if err := db.Table("organizations").Where("sync_epoch = ''").Pluck("id", &orgs).Error; err != nil {
		return err
	}
	for _, id := range orgs {
		if err := db.Exec("UPDATE organizations SET sync_epoch = ? WHERE id = ?", newEpoch(), id).Error; err != nil {
			return err
		}
	}
	for _, kind := range domain.SyncedKinds() {
		if err := backfillScopes(db, entities[kind]); err != nil {
			return err
		}
	}
	return nil
}

// backfillScopes resolves the anchor of every record of e, in batches in id
// order, and stores the ones that name anybody.
func backfillScopes(db *gorm.DB, e entity) error {
	for after := ""; ; {
		recs, err := findAll(db.Table(e.table).Where("id > ?", after).Order("id").Limit(backfillBatch), e)
		if err != nil || len(recs) == 0 {
			return err
		}
		find := map[string]parentFinder{}
		for _, rec := range recs {
			m := rec.Base()
			if find[m.OrgID] == nil {
				find[m.OrgID] = parentsIn(db, m.OrgID).cached()
			}
			a, err := anchorOf(find[m.OrgID], rec)
			if err != nil {
				return err
			}
			if sc := scopeOf(a); sc != (scope{}) {
				if err := writeScope(db, e.table, m.OrgID, m.ID, sc); err != nil {
					return err
				}
			}
		}
		after = recs[len(recs)-1].Base().ID
	}
}
