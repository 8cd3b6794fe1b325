// Package sqltest gives tests real databases: a fresh, migrated PostgreSQL
// database or SQLite file per call, dropped when the test ends, and
// factories that create records through the one write path.
//
// PostgreSQL is found through TEST_DATABASE_URL (default DefaultPostgresURL);
// its user needs CREATEDB. When the server is unreachable, tests that need it
// skip, except under CI=true, where they fail with one line naming what is
// missing, so a green CI run always means both databases ran.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the admin connection's driver

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
)

// DefaultPostgresURL is the server the project's machines and CI start.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the database tests create their databases from:
// TEST_DATABASE_URL, or DefaultPostgresURL.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Option changes how a test store is opened.
type Option func(*options)

type options struct {
	unmigrated bool
	clock      domain.Clock
}

// Unmigrated leaves the database empty, for tests of migrations and schema
// checks.
func Unmigrated() Option { return func(o *options) { o.unmigrated = true } }

// WithClock gives the store a clock (the system clock otherwise).
func WithClock(c domain.Clock) Option { return func(o *options) { o.clock = c } }

// urls remembers each test store's URL so Reopen can open a second store on
// the same database, as a second process would.
var urls gosync.Map // *sqlstore.Store → string

// admin is the process's one connection pool to the admin database; a
// failure to reach the server is remembered so every test reports it at once.
var admin = gosync.OnceValues(func() (*sql.DB, error) {
	db, err := sql.Open("pgx", AdminURL())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
})

// Postgres returns a store on a new PostgreSQL database (PostgresURL),
// migrated unless Unmigrated.
func Postgres(tb testing.TB, opts ...Option) *sqlstore.Store {
	tb.Helper()
	return open(tb, PostgresURL(tb), opts)
}

// PostgresURL creates an empty PostgreSQL database with a unique name and
// returns its URL, for tests that hand a database to something else (a
// subcommand, another process). The database is dropped when tb ends.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	db, err := admin()
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL not reachable at %s: start it with `make services` (%v)", redact(AdminURL()), err)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	u, err := url.Parse(AdminURL())
	if err != nil {
		tb.Fatalf("sqltest: TEST_DATABASE_URL: %v", err)
	}
	name := "fieldsync_test_" + randomHex(8)
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("sqltest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() { dropDatabase(tb, db, name) })
	u.Path = "/" + name
	return u.String()
}

// dropDatabase ends the connections a test may have leaked, then drops.
func dropDatabase(tb testing.TB, db *sql.DB, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx,
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
		tb.Errorf("sqltest: terminate connections to %s: %v", name, err)
	}
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		tb.Errorf("sqltest: drop database %s: %v", name, err)
	}
}

// SQLite returns a store on a new SQLite file (SQLiteURL), migrated unless
// Unmigrated. A migrated file starts as a copy of one migrated once per
// process: the pure-Go SQLite runs a migration slowly under the race
// detector, and copying gives the same bytes.
func SQLite(tb testing.TB, opts ...Option) *sqlstore.Store {
	tb.Helper()
	o := collect(opts)
	u := SQLiteURL(tb)
	if !o.unmigrated {
		tmpl, err := sqliteTemplate()
		if err != nil {
			tb.Fatalf("sqltest: migrated SQLite template: %v", err)
		}
		if err := os.WriteFile(strings.TrimPrefix(u, "sqlite://"), tmpl, 0o600); err != nil {
			tb.Fatalf("sqltest: %v", err)
		}
	}
	return openURL(tb, u, o.clock)
}

// sqliteTemplate migrates a database file once and keeps its bytes, so no
// file outlives the process.
var sqliteTemplate = gosync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "fieldsync-sqltest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Config{URL: "sqlite://" + path})
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	// Closing the last connection checkpoints the write-ahead log into
	// the file and removes it.
	if err := s.Close(); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("the write-ahead log was not checkpointed on close")
	}
	return os.ReadFile(path)
})

// SQLiteURL names a new SQLite file in tb.TempDir().
func SQLiteURL(tb testing.TB) string {
	tb.Helper()
	return "sqlite://" + filepath.Join(tb.TempDir(), "fieldsync.db")
}

func collect(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func open(tb testing.TB, dbURL string, opts []Option) *sqlstore.Store {
	tb.Helper()
	o := collect(opts)
	s := openURL(tb, dbURL, o.clock)
	if !o.unmigrated {
		if err := s.Migrate(context.Background()); err != nil {
			tb.Fatalf("sqltest: migrate: %v", err)
		}
	}
	return s
}

func openURL(tb testing.TB, dbURL string, clock domain.Clock) *sqlstore.Store {
	tb.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Config{URL: dbURL, Clock: clock, MaxOpenConns: 8})
	if err != nil {
		tb.Fatalf("sqltest: open %s: %v", redact(dbURL), err)
	}
	urls.Store(s, dbURL)
	// Registered after the drop (cleanups run last-in first-out), so the
	// store's connections are closed before its database is dropped.
	tb.Cleanup(func() {
		urls.Delete(s)
		if err := s.Close(); err != nil {
			tb.Errorf("sqltest: close: %v", err)
		}
	})
	return s
}

// Reopen opens a second, independent store on s's database, as another
// process would see it. It is closed when tb ends.
func Reopen(tb testing.TB, s *sqlstore.Store) *sqlstore.Store {
	tb.Helper()
	u, ok := urls.Load(s)
	if !ok {
		tb.Fatal("sqltest: Reopen needs a store made by sqltest")
	}
	return openURL(tb, u.(string), nil)
}

// Each runs fn as a parallel subtest against each database, "postgres" and
// "sqlite", on a fresh store: the conformance suite's way to hold both
// implementations to one standard.
func Each(t *testing.T, fn func(t *testing.T, s *sqlstore.Store), opts ...Option) {
	t.Helper()
	for _, db := range []struct {
		name string
		open func(testing.TB, ...Option) *sqlstore.Store
	}{{sqlstore.DialectPostgres, Postgres}, {sqlstore.DialectSQLite, SQLite}} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			fn(t, db.open(t, opts...))
		})
	}
}

// RequireCode fails the test unless err carries code.
func RequireCode(tb testing.TB, err error, code domain.Code) {
	tb.Helper()
	if got := domain.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// redact hides a password in a database URL meant for a message.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(malformed URL)"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
