package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/iswitchroofs/fieldsync/domain"
)

// The dialects Store.Dialect reports.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// Config says which database to open and how. cmd/fieldsync fills it from
// the environment; nothing in this package reads configuration itself.
type Config struct {
	// URL selects the database: postgres://… or postgresql://… for
	// PostgreSQL; sqlite:///abs/path.db, sqlite:relative.db or file:… for
	// SQLite (the file and its directory are created if missing).
	URL string
	// Clock stamps audit fields; nil means the system clock.
	Clock domain.Clock
	// Logger receives warnings (never SQL parameters); nil discards them.
	Logger *slog.Logger
	// MaxOpenConns caps the connection pool; 0 picks a default per dialect.
	MaxOpenConns int
}

// Store is domain.Store on a SQL database. It is safe for concurrent use.
type Store struct {
	db         *gorm.DB
	sqlDB      *sql.DB
	dialect    string
	clock      domain.Clock
	log        *slog.Logger
	migrations fs.FS
	// writeSem serializes this process's write transactions on SQLite,
	// which admits one writer at a time anyway: queueing in Go is fair and
	// cheap, where contending on the file lock means sleeping in the busy
	// handler. Nil on PostgreSQL.
	writeSem chan struct{}
	// onCommit hears of every committed write that took a seq (OnCommit).
	onCommit atomic.Pointer[func(orgID string, seq int64, users []string)]
}

var (
	_ domain.Store     = (*Store)(nil)
	_ domain.SyncStore = (*Store)(nil)
)

// OnCommit sets fn to be called after each Write or SyncWrite transaction
// that changed something has committed, with the organization, the
// transaction's sequence number and the users whose devices should pull:
// everyone named in the anchors of the change rows it wrote and everyone a
// grant or revoke aims at, sorted (every member of the organization when it
// wrote a user record, because every member holds the team directory).
// Managers and admins are not added for seeing everything: the poke bus
// knows who they are. fn runs on the writer's goroutine right after the
// commit, once per transaction (never for an attempt that rolled back), so
// it should hand off and return quickly. Set it once, before the store is
// used; nil turns it off.
func (s *Store) OnCommit(fn func(orgID string, seq int64, users []string)) {
	if fn == nil {
		s.onCommit.Store(nil)
		return
	}
	s.onCommit.Store(&fn)
}

// Open connects to the database cfg.URL names and checks that it answers.
// It does not migrate: call Migrate (the `fieldsync migrate` command) or
// CheckSchema (at server start) explicitly. An unreachable database is
// CodeUnavailable; a malformed URL CodeInvalid.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{clock: cfg.Clock, log: cfg.Logger}
	if s.clock == nil {
		s.clock = domain.ClockFunc(time.Now)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var dialector gorm.Dialector
	maxOpen := cfg.MaxOpenConns
	switch {
	case strings.HasPrefix(cfg.URL, "postgres://"), strings.HasPrefix(cfg.URL, "postgresql://"):
		s.dialect = DialectPostgres
		dialector = postgres.New(postgres.Config{DSN: cfg.URL})
		if maxOpen <= 0 {
			maxOpen = 10
		}
	case strings.HasPrefix(cfg.URL, "sqlite:"), strings.HasPrefix(cfg.URL, "file:"):
		dsn, err := sqliteDSN(cfg.URL)
		if err != nil {
			return nil, err
		}
		s.dialect = DialectSQLite
		s.writeSem = make(chan struct{}, 1)
		dialector = sqlite.Open(dsn)
		if maxOpen <= 0 {
			maxOpen = 4
		}
	default:
		return nil, domain.Errorf(domain.CodeInvalid,
			"database URL must start with postgres://, postgresql://, sqlite: or file:")
	}
	sub, err := fs.Sub(migrationFS, "migrations/"+s.dialect)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	s.migrations = sub

	s.db, err = gorm.Open(dialector, &gorm.Config{
		// SQL with its parameters must never reach a log: they hold
		// personal data. Failures are logged where they are translated.
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		DisableAutomaticPing:   true,
		NowFunc:                s.now,
	})
	if err != nil {
		return nil, s.translate("open", err)
	}
	s.db.ClauseBuilders["VALUES"] = valuesWithScope
	s.sqlDB, err = s.db.DB()
	if err != nil {
		return nil, s.translate("open", err)
	}
	s.sqlDB.SetMaxOpenConns(maxOpen)
	s.sqlDB.SetMaxIdleConns(maxOpen)
	s.sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := s.Ping(ctx); err != nil {
		_ = s.sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// sqliteDSN turns a sqlite: or file: URL into the driver's DSN with the
// pragmas every connection needs: WAL so readers never block the writer,
// a busy timeout so a second process waits instead of failing, foreign keys
// (off by default in SQLite), and BEGIN IMMEDIATE so a transaction takes the
// write lock up front and two writers never deadlock upgrading a read lock.
func sqliteDSN(raw string) (string, error) {
	path, query, _ := strings.Cut(raw, "?")
	if rest, ok := strings.CutPrefix(path, "sqlite:"); ok {
		// sqlite:///abs/x.db names /abs/x.db; sqlite:x.db and sqlite://x.db
		// name x.db relative to the working directory.
		path = strings.TrimPrefix(rest, "//")
	}
	file := strings.TrimPrefix(path, "file:")
	if file == "" || file == "/" {
		return "", domain.Errorf(domain.CodeInvalid, "the SQLite URL names no file")
	}
	if file == ":memory:" || strings.Contains(query, "mode=memory") {
		// Every pooled connection would get a database of its own.
		return "", domain.Errorf(domain.CodeInvalid, "an in-memory SQLite database is not supported: name a file")
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
		return "", domain.WrapError(domain.CodeUnavailable, err, "cannot create the SQLite database directory")
	}
	params, err := url.ParseQuery(query)
	if err != nil {
		return "", domain.WrapError(domain.CodeInvalid, err, "the SQLite URL has a malformed query")
	}
	params["_pragma"] = append(params["_pragma"],
		"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)")
	params.Set("_txlock", "immediate")
	return path + "?" + params.Encode(), nil
}

// Dialect is "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// Ping checks that the database answers; CodeUnavailable if it does not.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return s.translate("ping", err)
	}
	return nil
}

// Close releases the connections.
func (s *Store) Close() error {
	return s.sqlDB.Close()
}

// now is the store clock in the form every database round-trips exactly:
// UTC, microseconds (PostgreSQL's resolution).
func (s *Store) now() time.Time {
	return s.clock.Now().UTC().Truncate(time.Microsecond)
}

// conn is the handle for one operation outside the write path.
func (s *Store) conn(ctx context.Context) *gorm.DB {
	return s.db.WithContext(ctx)
}
