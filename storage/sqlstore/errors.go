package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/iswitchroofs/fieldsync/domain"
)

// translate turns a driver error into a domain error with a client-safe
// message, keeping the cause for the log, and names the operation. Errors
// that already carry a domain code keep it. Unexpected errors are logged
// here, once, as the one place that sees them all.
func (s *Store) translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if !errors.As(err, &de) {
		de = classify(err)
		de.Err = err
		// A caller that gave up (context canceled) is not the database's
		// problem and would only add noise.
		if (de.Code == domain.CodeInternal || de.Code == domain.CodeUnavailable) && !errors.Is(err, context.Canceled) {
			s.log.Warn("database error", "op", op, "code", de.Code, "err", err)
		}
		err = de
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// classify maps one driver error to a domain error.
func classify(err error) *domain.Error {
	var pgErr *pgconn.PgError
	var liteErr *gosqlite.Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return domain.Errorf(domain.CodeNotFound, "record not found")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), pgconn.Timeout(err):
		return domain.Errorf(domain.CodeUnavailable, "the database did not answer in time")
	case errors.As(err, &pgErr):
		return classifyPostgres(pgErr)
	case errors.As(err, &liteErr):
		return classifySQLite(liteErr)
	case isConnectionError(err):
		return domain.Errorf(domain.CodeUnavailable, "the database is unreachable")
	}
	return domain.Errorf(domain.CodeInternal, "internal database error")
}

func isConnectionError(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.As(err, &opErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, driver.ErrBadConn)
}

func classifyPostgres(e *pgconn.PgError) *domain.Error {
	field := constraintField(e.TableName, e.ConstraintName)
	switch {
	case e.Code == "23505":
		return conflict(field)
	case e.Code == "23503":
		return invalidReference(field)
	case e.Code == "23502":
		return domain.Invalid(domain.FieldError{Field: e.ColumnName, Message: "is required"})
	case e.Code == "23514", strings.HasPrefix(e.Code, "22"):
		return domain.Errorf(domain.CodeInvalid, "a value is out of range or malformed")
	case e.Code == "42P01", e.Code == "42703":
		return schemaMissing()
	case e.Code == "40001", e.Code == "40P01", e.Code == "55P03",
		strings.HasPrefix(e.Code, "08"), strings.HasPrefix(e.Code, "53"),
		strings.HasPrefix(e.Code, "57"), e.Code == "3D000":
		return domain.Errorf(domain.CodeUnavailable, "the database is busy or unavailable; retry later")
	}
	return domain.Errorf(domain.CodeInternal, "internal database error")
}

func classifySQLite(e *gosqlite.Error) *domain.Error {
	msg := e.Error()
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return conflict(sqliteColumn(msg, "UNIQUE constraint failed: "))
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		// SQLite does not say which key failed.
		return invalidReference("")
	case sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return domain.Invalid(domain.FieldError{Field: sqliteColumn(msg, "NOT NULL constraint failed: "), Message: "is required"})
	case sqlite3.SQLITE_CONSTRAINT_CHECK:
		return domain.Errorf(domain.CodeInvalid, "a value is out of range or malformed")
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PROTOCOL:
		return domain.Errorf(domain.CodeUnavailable, "the database is busy or unavailable; retry later")
	case sqlite3.SQLITE_ERROR:
		if strings.Contains(msg, "no such table") || strings.Contains(msg, "no such column") {
			return schemaMissing()
		}
	}
	return domain.Errorf(domain.CodeInternal, "internal database error")
}

func conflict(field string) *domain.Error {
	if field == "" {
		return domain.Errorf(domain.CodeConflict, "the record already exists")
	}
	e := domain.Errorf(domain.CodeConflict, "%s is already taken", field)
	e.Fields = []domain.FieldError{{Field: field, Message: "is already taken"}}
	return e
}

func invalidReference(field string) *domain.Error {
	if field == "" {
		return domain.Errorf(domain.CodeInvalid, "a referenced record does not exist")
	}
	return domain.Invalid(domain.FieldError{Field: field, Message: "refers to a record that does not exist"})
}

func schemaMissing() *domain.Error {
	return domain.Errorf(domain.CodeSchemaStale, "the database schema is missing or stale: run `fieldsync migrate`")
}

// constraintField recovers the column from the constraint names the
// migrations use: <table>_<column>_key, <table>_<column>_fkey, <table>_pkey.
func constraintField(table, constraint string) string {
	rest, ok := strings.CutPrefix(constraint, table+"_")
	if !ok {
		return ""
	}
	if rest == "pkey" {
		return "id"
	}
	for _, suffix := range []string{"_key", "_fkey"} {
		if col, ok := strings.CutSuffix(rest, suffix); ok {
			return col
		}
	}
	return ""
}

// sqliteColumn extracts "email" from "... UNIQUE constraint failed: users.email (2067)".
func sqliteColumn(msg, marker string) string {
	_, rest, ok := strings.Cut(msg, marker)
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rest, ",")
	first, _, _ = strings.Cut(first, " ")
	_, col, _ := strings.Cut(first, ".")
	return col
}

// retryable reports whether err means "the whole transaction may succeed if
// run again": a serialization failure or deadlock on PostgreSQL, a busy or
// locked database on SQLite.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	var liteErr *gosqlite.Error
	if errors.As(err, &liteErr) {
		c := liteErr.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}
