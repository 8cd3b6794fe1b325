package sqlstore

import (
	"context"
	"errors"
	"io/fs"

	"gorm.io/gorm"

	"github.com/iswitchroofs/fieldsync/domain"
)

// SetMigrations replaces the store's migrations, so a test can play a
// binary that is newer or older than the database.
func SetMigrations(s *Store, fsys fs.FS) { s.migrations = fsys }

// Migrations returns the migrations the store applies.
func Migrations(s *Store) fs.FS { return s.migrations }

// Tables maps every registered kind to its table.
func Tables() map[string]string {
	out := make(map[string]string, len(entities))
	for k, e := range entities {
		out[string(k)] = e.table
	}
	return out
}

// DB exposes the store's connection pool to tests that inspect raw rows.
func DB(s *Store) *gorm.DB { return s.db }

// ParentAnchor is ResolveAnchor by reading the record's parents, whatever
// its kind: what a synced row's stored scope must always equal.
func ParentAnchor(ctx context.Context, s *Store, orgID string, kind domain.EntityKind, id string) (domain.Anchor, error) {
	return s.parentAnchor(ctx, "resolve anchor of "+string(kind), orgID, kind, id)
}

// NewRecord is the registry's constructor.
func NewRecord(k domain.EntityKind) domain.Record { return newRecord(k) }

// MigrateTo applies the migrations up to version only, leaving the database
// as an older binary would have.
func MigrateTo(ctx context.Context, s *Store, version int64) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// ChangedColumns finds a record in a Write, lets change alter it and
// returns the columns an Update of it would rewrite (before the version and
// audit stamps, which every Update changes). The Write rolls back.
func ChangedColumns(ctx context.Context, s *Store, p domain.Principal, kind domain.EntityKind, id string, change func(domain.Record)) ([]string, error) {
	var cols []string
	done := errors.New("done")
	err := s.Write(ctx, p, func(tx domain.Tx) error {
		rec, err := tx.Find(kind, id)
		if err != nil {
			return err
		}
		change(rec)
		if cols, err = tx.(*writeTx).changedColumns(rec); err != nil {
			return err
		}
		return done
	})
	if errors.Is(err, done) {
		err = nil
	}
	return cols, err
}
