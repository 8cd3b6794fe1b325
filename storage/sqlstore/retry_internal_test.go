package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/iswitchroofs/fieldsync/domain"
)

// TestTransientConflictsAreRetried drives inTx with the errors PostgreSQL
// reports for a lost serialization race: the whole transaction runs again,
// and a conflict that does not go away ends as CodeUnavailable.
func TestTransientConflictsAreRetried(t *testing.T) {
	t.Parallel()
	s, err := Open(context.Background(), Config{URL: "sqlite://" + filepath.Join(t.TempDir(), "x.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, code := range []string{"40001", "40P01"} {
		conflict := s.translate("test", &pgconn.PgError{Code: code})
		calls := 0
		err := s.inTx(context.Background(), func(*gorm.DB) error {
			calls++
			if calls < 3 {
				return conflict
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("%s: inTx = %v after %d calls; want success on the third", code, err, calls)
		}
		calls = 0
		err = s.inTx(context.Background(), func(*gorm.DB) error { calls++; return conflict })
		if !domain.IsCode(err, domain.CodeUnavailable) || calls != maxTxAttempts {
			t.Errorf("%s: persistent conflict: %v after %d calls", code, err, calls)
		}
	}
	// Anything else is returned at once, as it came.
	calls := 0
	boom := errors.New("boom")
	if err := s.inTx(context.Background(), func(*gorm.DB) error { calls++; return boom }); !errors.Is(err, boom) || calls != 1 {
		t.Errorf("plain error: %v after %d calls", err, calls)
	}
}

func TestSQLiteDSN(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for in, want := range map[string]string{
		"sqlite://" + dir + "/a.db":        dir + "/a.db?",
		"sqlite:" + dir + "/b.db?mode=rwc": dir + "/b.db?",
		"file:" + dir + "/c.db":            "file:" + dir + "/c.db?",
	} {
		got, err := sqliteDSN(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("sqliteDSN(%q) = %q, want prefix %q", in, got, want)
		}
		for _, p := range []string{"_txlock=immediate", "journal_mode%28WAL%29", "busy_timeout%2810000%29", "foreign_keys%281%29", "synchronous%28NORMAL%29"} {
			if !strings.Contains(got, p) {
				t.Errorf("sqliteDSN(%q) = %q lacks %s", in, got, p)
			}
		}
	}
}

func TestConstraintField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ table, constraint, want string }{
		{"users", "users_email_key", "email"},
		{"users", "users_pkey", "id"},
		{"refresh_tokens", "refresh_tokens_user_id_fkey", "user_id"},
		{"leads", "leads_org_id_fkey", "org_id"},
		{"leads", "something_else", ""},
	} {
		if got := constraintField(c.table, c.constraint); got != c.want {
			t.Errorf("constraintField(%q, %q) = %q, want %q", c.table, c.constraint, got, c.want)
		}
	}
	if got := sqliteColumn("constraint failed: UNIQUE constraint failed: users.email (2067)", "UNIQUE constraint failed: "); got != "email" {
		t.Errorf("sqliteColumn = %q", got)
	}
}
