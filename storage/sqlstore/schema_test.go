package sqlstore_test

import (
	"cmp"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"testing/fstest"

	"gorm.io/gorm/schema"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

var ctx = context.Background()

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		// sqltest migrated once already; twice more must change nothing.
		for range 2 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
		}
		current, latest, err := s.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if current != latest || latest < 1 {
			t.Fatalf("SchemaVersion = %d, %d; want equal and ≥ 1", current, latest)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema on a migrated database: %v", err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func TestCheckSchemaOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		current, latest, err := s.SchemaVersion(ctx)
		if err != nil || current != 0 || latest < 1 {
			t.Fatalf("SchemaVersion = %d, %d, %v; want 0, ≥1, nil", current, latest, err)
		}
		err = s.CheckSchema(ctx)
		sqltest.RequireCode(t, err, domain.CodeSchemaStale)
		if !strings.Contains(domain.ErrorMessage(err), "run `fieldsync migrate`") ||
			!strings.Contains(domain.ErrorMessage(err), "at version 0") {
			t.Fatalf("message %q should give the version and say what to run", domain.ErrorMessage(err))
		}
		// Checking must not create anything: still version 0 afterwards.
		if current, _, _ := s.SchemaVersion(ctx); current != 0 {
			t.Fatalf("SchemaVersion after a check = %d, want 0", current)
		}
		// A query on the missing tables says the same thing.
		_, err = s.FindOrganization(ctx, "0198f1a2-0000-7000-8000-000000000001")
		sqltest.RequireCode(t, err, domain.CodeSchemaStale)
	}, sqltest.Unmigrated())
}

func TestCheckSchemaStaleAndNewer(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		embedded := sqlstore.Migrations(s)
		_, latest, err := s.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Play a binary one migration ahead of the database.
		newer := fstest.MapFS{}
		files, _ := fs.Glob(embedded, "*.sql")
		for _, f := range files {
			b, _ := fs.ReadFile(embedded, f)
			newer[f] = &fstest.MapFile{Data: b}
		}
		newer["99990_test_extra.sql"] = &fstest.MapFile{Data: []byte(
			"-- +goose Up\nCREATE TABLE test_extra (id TEXT PRIMARY KEY);\n-- +goose Down\nDROP TABLE test_extra;\n")}
		sqlstore.SetMigrations(s, newer)
		err = s.CheckSchema(ctx)
		sqltest.RequireCode(t, err, domain.CodeSchemaStale)
		want := "database schema is at version " + strconv.FormatInt(latest, 10) + ", this binary needs 99990: run `fieldsync migrate`"
		if domain.ErrorMessage(err) != want {
			t.Fatalf("message = %q, want %q", domain.ErrorMessage(err), want)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatalf("after migrating: %v", err)
		}
		// Back to the real binary: the database is now ahead of it.
		sqlstore.SetMigrations(s, embedded)
		err = s.CheckSchema(ctx)
		sqltest.RequireCode(t, err, domain.CodeSchemaStale)
		if !strings.Contains(domain.ErrorMessage(err), "newer than this binary") {
			t.Fatalf("message %q should say the database is newer", domain.ErrorMessage(err))
		}
	})
}

func TestMigrateRace(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		// Three "processes" migrate one empty database at once.
		stores := []*sqlstore.Store{s, sqltest.Reopen(t, s), sqltest.Reopen(t, s)}
		var wg gosync.WaitGroup
		errs := make([]error, len(stores))
		for i, st := range stores {
			wg.Go(func() { errs[i] = st.Migrate(ctx) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("migrator %d: %v", i, err)
			}
		}
		if err := s.CheckSchema(ctx); err != nil {
			t.Fatal(err)
		}
	}, sqltest.Unmigrated())
}

// TestTablesMatchEntities holds the migrations to the structs: every column
// GORM derives from a domain type exists, and no table has a column its
// struct lacks (it would never be read or written), except the store's own
// bookkeeping: the scope_ columns of synced tables and the organization's
// sync epoch and history floor, which only the store reads and writes.
func TestTablesMatchEntities(t *testing.T) {
	t.Parallel()
	tables := sqlstore.Tables()
	for _, k := range domain.EntityKinds() {
		if _, ok := tables[string(k)]; !ok {
			t.Errorf("kind %s has no table in the registry", k)
		}
	}
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		type model struct {
			v     any
			table string // "" for GORM's name
			extra []string
		}
		scopes := []string{"scope_assignee", "scope_lead_owner", "scope_project_tech"}
		models := []model{
			{v: &domain.Organization{}, extra: []string{"history_floor", "sync_epoch"}},
			{v: &domain.RefreshToken{}},
			{v: &domain.SyncClient{}, table: "sync_clients"},
			{v: &domain.MutationOutcome{}, table: "sync_outcomes"},
		}
		for _, k := range domain.EntityKinds() {
			m := model{v: kindRecord(t, s, k)}
			if domain.IsSynced(k) {
				m.extra = scopes
			}
			models = append(models, m)
		}
		for _, m := range models {
			sch, err := schema.Parse(m.v, &gosync.Map{}, schema.NamingStrategy{})
			if err != nil {
				t.Fatal(err)
			}
			if k, ok := m.v.(domain.Record); ok && tables[string(k.EntityKind())] != sch.Table {
				t.Errorf("registry table for %s = %q, GORM's = %q", k.EntityKind(), tables[string(k.EntityKind())], sch.Table)
			}
			table := cmp.Or(m.table, sch.Table)
			rows, err := sqlstore.DB(s).Raw("SELECT * FROM " + table + " WHERE 1 = 0").Rows()
			if err != nil {
				t.Fatalf("table %s: %v", table, err)
			}
			cols, _ := rows.Columns()
			_ = rows.Close()
			want := append(slices.Clone(sch.DBNames), m.extra...)
			slices.Sort(cols)
			slices.Sort(want)
			if !slices.Equal(cols, want) {
				t.Errorf("table %s columns\n got %v\nwant %v", table, cols, want)
			}
		}
	})
}

// kindRecord makes an empty record of kind through the store's registry.
func kindRecord(t *testing.T, s *sqlstore.Store, k domain.EntityKind) domain.Record {
	t.Helper()
	rec := sqlstore.NewRecord(k)
	if rec == nil {
		t.Fatalf("no record type for %s", k)
	}
	return rec
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "mysql://x", "sqlite:", "sqlite:///", "sqlite::memory:", "file:x.db?mode=memory"} {
		_, err := sqlstore.Open(ctx, sqlstore.Config{URL: u})
		sqltest.RequireCode(t, err, domain.CodeInvalid)
	}
}

func TestOpenUnreachablePostgres(t *testing.T) {
	t.Parallel()
	_, err := sqlstore.Open(ctx, sqlstore.Config{URL: "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"})
	sqltest.RequireCode(t, err, domain.CodeUnavailable)
}

func TestOpenSQLiteURLForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, u := range []string{
		"sqlite://" + dir + "/a/abs.db",
		"file:" + dir + "/b/file.db?cache=shared",
	} {
		s, err := sqlstore.Open(ctx, sqlstore.Config{URL: u})
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if s.Dialect() != sqlstore.DialectSQLite {
			t.Errorf("Dialect = %q", s.Dialect())
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate(%q): %v", u, err)
		}
		var mode string
		var fk, timeout int
		sqlstore.DB(s).Raw("PRAGMA journal_mode").Scan(&mode)
		sqlstore.DB(s).Raw("PRAGMA foreign_keys").Scan(&fk)
		sqlstore.DB(s).Raw("PRAGMA busy_timeout").Scan(&timeout)
		if mode != "wal" || fk != 1 || timeout != 10000 {
			t.Errorf("%s: journal_mode=%s foreign_keys=%d busy_timeout=%d", u, mode, fk, timeout)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDialectMigrationsAgree keeps the two migration directories describing
// one schema: the same files, statements, names, keys and indexes, differing
// only in column types. A deliberate difference (a PostgreSQL-only index
// type, say) belongs in this test's normalization, stated.
func TestDialectMigrationsAgree(t *testing.T) {
	t.Parallel()
	types := regexp.MustCompile(`\b(text|timestamptz|bigint|jsonb|bytea|double precision|boolean|datetime|integer|blob|real)\b`)
	normalize := func(b []byte) []string {
		var out []string
		for _, line := range strings.Split(strings.ToLower(string(b)), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || (strings.HasPrefix(line, "--") && !strings.HasPrefix(line, "-- +goose")) {
				continue
			}
			line = strings.ReplaceAll(types.ReplaceAllString(line, "T"), "default false", "default 0")
			out = append(out, strings.Join(strings.Fields(line), " "))
		}
		return out
	}
	pg, _ := filepath.Glob("migrations/postgres/*.sql")
	lite, _ := filepath.Glob("migrations/sqlite/*.sql")
	if len(pg) == 0 || len(pg) != len(lite) {
		t.Fatalf("migration files differ: %v vs %v", pg, lite)
	}
	for i := range pg {
		if filepath.Base(pg[i]) != filepath.Base(lite[i]) {
			t.Fatalf("%s has no SQLite twin (%s)", pg[i], lite[i])
		}
		a, _ := os.ReadFile(pg[i])
		b, _ := os.ReadFile(lite[i])
		na, nb := normalize(a), normalize(b)
		for j := range max(len(na), len(nb)) {
			if j >= len(na) || j >= len(nb) || na[j] != nb[j] {
				t.Fatalf("%s and its SQLite twin differ at statement line %d:\n%q\n%q", filepath.Base(pg[i]), j+1, at(na, j), at(nb, j))
			}
		}
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of file)"
}
