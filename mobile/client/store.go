package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	_ "github.com/glebarez/go-sqlite" // pure-Go SQLite: gomobile builds need no cgo toolchain

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// schema is the local database. records holds the server copies (what
// pulls delivered); staging the copies of a reset session until its last
// page; outbox the mutations not yet covered by a finished pull; outcomes
// the rejections and conflicts received; meta the device's small state
// (client id, cursor, counters, tokens). The app's view of a record is its
// server copy with the pending outbox re-applied, computed on read so that
// no pull can make an unsent edit flicker.
const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS staging (kind TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, name TEXT NOT NULL, args TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (mutation_id INTEGER PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL, details TEXT);
`

// Keys of the meta table.
const (
	metaClientID   = "client_id"
	metaNextID     = "next_mutation_id"
	metaAcked      = "last_mutation_id" // highest id the server said it processed
	metaCursor     = "cursor"
	metaShown      = "ack_outcomes_through"
	metaStaging    = "staging"     // "1" inside a reset session
	metaResetKinds = "reset_kinds" // JSON list of the session's kinds (empty: all)
	metaRegistered = "registered"
	metaAccess     = "access_token"
	metaRefresh    = "refresh_token"
)

// store is the device's SQLite database. One connection serialises every
// access, which a phone's single sync loop needs anyway.
type store struct{ db *sql.DB }

func openStore(path string) (*store, error) {
	if path == "" {
		return nil, errors.New("client: Config.StorePath is required")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("client: store directory: %w", err)
	}
	q := url.Values{}
	q["_pragma"] = []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)"}
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("client: open store: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("client: create store: %w", err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// txq is a transaction of the local store.
type txq = *sql.Tx

func (s *store) tx(ctx context.Context, fn func(tx txq) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func getMeta(ctx context.Context, q querier, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func setMeta(ctx context.Context, q querier, key, value string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

func getInt(ctx context.Context, q querier, key string) (int64, error) {
	v, err := getMeta(ctx, q, key)
	if err != nil || v == "" {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

func setInt(ctx context.Context, q querier, key string, v int64) error {
	return setMeta(ctx, q, key, strconv.FormatInt(v, 10))
}

// pending returns the outbox in id order.
func pending(ctx context.Context, q querier) ([]fsync.Mutation, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name, args FROM outbox ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []fsync.Mutation
	for rows.Next() {
		var m fsync.Mutation
		var args string
		if err := rows.Scan(&m.ID, &m.Name, &args); err != nil {
			return nil, err
		}
		m.Args = json.RawMessage(args)
		out = append(out, m)
	}
	return out, rows.Err()
}

// rejected returns the ids of mutations the server rejected.
func rejected(ctx context.Context, q querier) (map[int64]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT mutation_id FROM outcomes WHERE kind = ?`, string(domain.OutcomeRejected))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// Record is a record as the device holds it.
type Record struct {
	Kind    domain.EntityKind
	ID      string
	Version int64
	Data    json.RawMessage
}

func getRecord(ctx context.Context, q querier, table string, kind domain.EntityKind, id string) (Record, bool, error) {
	r := Record{Kind: kind, ID: id}
	var data string
	err := q.QueryRowContext(ctx, `SELECT version, data FROM `+table+` WHERE kind = ? AND id = ?`, string(kind), id).Scan(&r.Version, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	r.Data = json.RawMessage(data)
	return r, err == nil, err
}

func putRecord(ctx context.Context, q querier, table string, r Record) error {
	_, err := q.ExecContext(ctx, `INSERT INTO `+table+` (kind, id, version, data) VALUES (?, ?, ?, ?)
		ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version, data = excluded.data`,
		string(r.Kind), r.ID, r.Version, string(r.Data))
	return err
}

func deleteRecord(ctx context.Context, q querier, table string, kind domain.EntityKind, id string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM `+table+` WHERE kind = ? AND id = ?`, string(kind), id)
	return err
}

func listRecords(ctx context.Context, q querier, kind domain.EntityKind) ([]Record, error) {
	query, args := `SELECT kind, id, version, data FROM records ORDER BY kind, id`, []any{}
	if kind != "" {
		query, args = `SELECT kind, id, version, data FROM records WHERE kind = ? ORDER BY id`, []any{string(kind)}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		var r Record
		var k, data string
		if err := rows.Scan(&k, &r.ID, &r.Version, &data); err != nil {
			return nil, err
		}
		r.Kind, r.Data = domain.EntityKind(k), json.RawMessage(data)
		out = append(out, r)
	}
	return out, rows.Err()
}
