package sqlstore

import (
	"context"
	"embed"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/iswitchroofs/fieldsync/domain"
)

// migrationFS holds one directory of goose SQL migrations per dialect: the
// column types differ, the schema they describe does not.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFS embed.FS

// versionTable is where goose records applied migrations.
const versionTable = goose.DefaultTablename

// provider builds a goose provider on the store's connection pool. A new one
// per call keeps the Store free of goose state; it is cheap (it reads the
// embedded directory).
func (s *Store) provider() (*goose.Provider, error) {
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(s.backfillMigration()),
	}
	dialect := goose.DialectSQLite3
	if s.dialect == DialectPostgres {
		dialect = goose.DialectPostgres
		// A session advisory lock makes concurrent migrators (replicas
		// starting together) take turns; it is per database, so parallel
		// test databases do not wait on each other.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, s.sqlDB, s.migrations, opts...)
}

// Migrate applies every pending migration. It is idempotent and safe when
// several processes race: on PostgreSQL they take turns under an advisory
// lock; on SQLite every migration runs in a BEGIN IMMEDIATE transaction, so
// a loser fails without effect on a migration the winner applied, and is
// retried once it sees the winner's progress.
func (s *Store) Migrate(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	var lastErr error
	for range 5 {
		_, lastErr = p.Up(ctx)
		if lastErr == nil {
			return nil
		}
		if s.dialect != DialectSQLite {
			break
		}
		current, latest, verr := s.SchemaVersion(ctx)
		if verr == nil && current >= latest {
			return nil
		}
	}
	return s.translate("migrate", lastErr)
}

// SchemaVersion reports the version the database is at and the latest one
// this binary carries. It changes nothing: a database without the version
// table is at version 0.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	p, err := s.provider()
	if err != nil {
		return 0, 0, fmt.Errorf("sqlstore: schema version: %w", err)
	}
	sources := p.ListSources()
	if len(sources) > 0 {
		latest = sources[len(sources)-1].Version
	}
	exists, err := s.hasTable(ctx, versionTable)
	if err != nil {
		return 0, latest, s.translate("schema version", err)
	}
	if !exists {
		return 0, latest, nil
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, latest, s.translate("schema version", err)
	}
	return current, latest, nil
}

// hasTable asks the catalog directly, so that checking the schema never
// creates anything (goose would create its version table).
func (s *Store) hasTable(ctx context.Context, name string) (bool, error) {
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if s.dialect == DialectPostgres {
		q = "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = ?"
	}
	var n int64
	err := s.conn(ctx).Raw(q, name).Scan(&n).Error
	return n > 0, err
}

// CheckSchema is what a server runs before serving: it refuses a database
// whose schema is older than this binary (CodeSchemaStale, naming the command
// that fixes it) or newer (CodeSchemaStale too: this binary would not know
// the columns a newer one relies on).
func (s *Store) CheckSchema(ctx context.Context) error {
	current, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	switch {
	case current < latest:
		return domain.Errorf(domain.CodeSchemaStale,
			"database schema is at version %d, this binary needs %d: run `fieldsync migrate`", current, latest)
	case current > latest:
		return domain.Errorf(domain.CodeSchemaStale,
			"database schema is at version %d, newer than this binary's %d: run a fieldsync release that knows version %d",
			current, latest, current)
	}
	return nil
}
