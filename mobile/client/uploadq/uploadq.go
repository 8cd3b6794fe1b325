// Package uploadq is the phone's persistent photo upload queue: a photo
// file queued once is uploaded to the server's tus endpoint exactly, over
// any number of lost connections and app restarts.
//
// The queue lives in a SQLite file (the pure-Go driver, so gomobile can bind
// it), its own or one it shares with the sync client's store (Config.DB), in
// which case a photo's record and its upload can be written in one local
// transaction. Each photo keeps its state there: its upload URL once the
// server created one, the last offset the server confirmed, the attempts
// made and when to try next. A photo whose record the server does not have
// yet waits (StateWaiting) until Release says the record's mutation was
// processed, so no attempt is spent on an answer of not found.
//
// An upload resumes from the server's offset (HEAD), never from what the
// phone believes it sent; every chunk carries its sha256 (Upload-Checksum)
// so a corrupted chunk is refused and resent, and the file is checked
// against the photo's sha256 before each attempt. A photo that fits in one
// chunk is sent with its creation request on the first attempt (tus
// creation-with-upload: one round trip). Transient failures retry with
// exponential backoff and jitter; a permanent refusal (the server's error
// code says the bytes can never be accepted) stops and is shown. The local
// file is deleted (with DeleteAfterUpload) only after the server confirmed
// the whole upload.
package uploadq

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	gosync "sync"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite", pure Go
)

// State is where a photo is on its way to the server.
type State string

// The states.
const (
	StateWaiting   State = "waiting"   // its record is not on the server yet; Release starts it
	StateQueued    State = "queued"    // waiting for its (next) attempt
	StateUploading State = "uploading" // an attempt is running
	StateUploaded  State = "uploaded"  // the server confirmed every byte
	StateFailed    State = "failed"    // refused for good; Code and LastError say why
)

// Codes of failures on the phone's side (Item.Code); the server's failures
// carry the server's code.
const (
	// CodeLocalFile: the file is gone or cannot be read.
	CodeLocalFile = "local_file"
	// CodeLocalFileChanged: the file's bytes are no longer those queued
	// (their sha256 or size differ), so they cannot be the photo's.
	CodeLocalFileChanged = "local_file_changed"
)

// Item is one queued photo.
type Item struct {
	PhotoID string
	Path    string
	SHA256  string
	Size    int64
	// WaitFor is the mutation (photo.create) the server must have processed
	// before the upload can start (0: none); see Release.
	WaitFor     int64
	UploadURL   string
	Offset      int64 // the last offset the server confirmed
	State       State
	Attempts    int
	NextAttempt time.Time
	// Code is the machine-readable reason of the last failure: the
	// server's error code, a Code* constant of this package, a code the
	// caller gave Fail, or "" for a network failure.
	Code      string
	LastError string // the failure as text, for logs and support
}

// Execer is a database or a transaction on it (*sql.DB, *sql.Tx).
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Config configures a Queue.
type Config struct {
	// Path of the SQLite file (created if missing), unless DB is set.
	Path string
	// DB is an open database to keep the queue's table in instead (the
	// sync client's store). The queue does not close it.
	DB *sql.DB
	// BaseURL of the server, e.g. https://api.example.com.
	BaseURL string
	// Token returns a current access token (the sync client's).
	Token func(ctx context.Context) (string, error)
	// Refresh, if set, is called when the server answers 401
	// token_expired to the token Token returned (stale); the request is
	// then sent once more with the token Token returns next.
	Refresh func(ctx context.Context, stale string) error
	// HTTP is the client to use (default http.DefaultClient).
	HTTP *http.Client
	// ChunkSize is the bytes sent per PATCH (default 1 MiB): smaller loses
	// less on a cut, larger costs fewer round trips.
	ChunkSize int
	// OneRequestSize: a photo no larger goes whole with its creation
	// request on its first attempt (tus creation-with-upload; default
	// DefaultOneRequestSize, never less than ChunkSize; negative: just
	// ChunkSize). One request is the fastest way on a working network,
	// and the server stores such a photo as it arrives; if that attempt
	// fails, the next ones go in checksummed chunks of ChunkSize.
	OneRequestSize int
	// MinBackoff and MaxBackoff bound the wait between attempts (defaults
	// 2 s and 10 min).
	MinBackoff, MaxBackoff time.Duration
	// DeleteAfterUpload removes the local file once the server confirmed it.
	DeleteAfterUpload bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnChange, if set, is called after the queue's uploads changed an
	// item's state or progress (changes a caller makes with Insert,
	// Release or Fail are the caller's to announce).
	OnChange func(photoID string)
}

// DefaultOneRequestSize is Config.OneRequestSize's default: most phone
// photos (2 to 6 MB) go in one request.
const DefaultOneRequestSize = 8 << 20

// Queue is the persistent upload queue. It is safe for concurrent use;
// RunOnce (and Run) upload one photo at a time.
type Queue struct {
	cfg   Config
	db    *sql.DB
	owned bool
	wake  chan struct{}
	run   gosync.Mutex
}

const schema = `CREATE TABLE IF NOT EXISTS photo_uploads (
	photo_id     TEXT PRIMARY KEY,
	path         TEXT NOT NULL,
	sha256       TEXT NOT NULL,
	size         INTEGER NOT NULL,
	upload_url   TEXT NOT NULL DEFAULT '',
	offset_done  INTEGER NOT NULL DEFAULT 0,
	state        TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT '',
	queued_at    INTEGER NOT NULL,
	wait_for     INTEGER NOT NULL DEFAULT 0,
	last_code    TEXT NOT NULL DEFAULT ''
)`

// addedColumns are the columns a queue file made by an earlier version
// lacks.
var addedColumns = []struct{ name, ddl string }{
	{"wait_for", `ALTER TABLE photo_uploads ADD COLUMN wait_for INTEGER NOT NULL DEFAULT 0`},
	{"last_code", `ALTER TABLE photo_uploads ADD COLUMN last_code TEXT NOT NULL DEFAULT ''`},
}

// Open opens (or creates) the queue. Uploads an app killed mid-attempt are
// queued again.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	if (cfg.Path == "" && cfg.DB == nil) || cfg.BaseURL == "" || cfg.Token == nil {
		return nil, errors.New("uploadq: Path or DB, BaseURL and Token are required")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = http.DefaultClient
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 1 << 20
	}
	if cfg.OneRequestSize == 0 {
		cfg.OneRequestSize = DefaultOneRequestSize
	}
	cfg.OneRequestSize = max(cfg.OneRequestSize, cfg.ChunkSize)
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	q := &Queue{cfg: cfg, db: cfg.DB, wake: make(chan struct{}, 1)}
	if q.db == nil {
		db, err := sql.Open("sqlite", "file:"+cfg.Path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		if err != nil {
			return nil, fmt.Errorf("uploadq: open: %w", err)
		}
		db.SetMaxOpenConns(1)
		q.db, q.owned = db, true
	}
	if err := q.migrate(ctx); err != nil {
		_ = q.Close()
		return nil, err
	}
	if _, err := q.db.ExecContext(ctx, `UPDATE photo_uploads SET state = ? WHERE state = ?`, StateQueued, StateUploading); err != nil {
		_ = q.Close()
		return nil, fmt.Errorf("uploadq: recover: %w", err)
	}
	return q, nil
}

func (q *Queue) migrate(ctx context.Context) error {
	if _, err := q.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("uploadq: schema: %w", err)
	}
	rows, err := q.db.QueryContext(ctx, `SELECT name FROM pragma_table_info('photo_uploads')`)
	if err != nil {
		return fmt.Errorf("uploadq: schema: %w", err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("uploadq: schema: %w", err)
		}
		have[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("uploadq: schema: %w", err)
	}
	for _, c := range addedColumns {
		if !have[c.name] {
			if _, err := q.db.ExecContext(ctx, c.ddl); err != nil {
				return fmt.Errorf("uploadq: add column %s: %w", c.name, err)
			}
		}
	}
	return nil
}

// Close closes the queue's database, unless it was given one (Config.DB).
func (q *Queue) Close() error {
	if !q.owned {
		return nil
	}
	return q.db.Close()
}

// Enqueue queues the photo file at path for the photo record photoID (made
// by photo.create with the same sha256 and byte size, which Enqueue
// returns). Queuing a photo again is a no-op.
func (q *Queue) Enqueue(ctx context.Context, photoID, path string) (Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return Item{}, fmt.Errorf("uploadq: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Item{}, fmt.Errorf("uploadq: read %s: %w", path, err)
	}
	if _, err := q.Insert(ctx, nil, Item{PhotoID: photoID, Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}); err != nil {
		return Item{}, err
	}
	return q.Item(ctx, photoID)
}

// Insert queues a photo whose file the caller has hashed (it.PhotoID,
// Path, SHA256, Size; the other fields are ignored but WaitFor). With
// WaitFor > 0 it waits (StateWaiting) until Release covers that mutation.
// ex is a transaction on the queue's database, to queue the photo with the
// caller's own writes, or nil. Inserting a photo again changes nothing and
// reports false.
func (q *Queue) Insert(ctx context.Context, ex Execer, it Item) (bool, error) {
	if it.PhotoID == "" || it.Path == "" || len(it.SHA256) != sha256.Size*2 || it.Size <= 0 {
		return false, fmt.Errorf("uploadq: insert %q: photo id, path, sha256 and a positive size are required", it.PhotoID)
	}
	state := StateQueued
	if it.WaitFor > 0 {
		state = StateWaiting
	}
	res, err := q.execer(ex).ExecContext(ctx, `INSERT INTO photo_uploads (photo_id, path, sha256, size, state, wait_for, queued_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (photo_id) DO NOTHING`,
		it.PhotoID, it.Path, it.SHA256, it.Size, state, max(it.WaitFor, 0), q.cfg.Now().UnixNano())
	if err != nil {
		return false, fmt.Errorf("uploadq: enqueue: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Release queues, to be attempted at once, every waiting photo whose
// WaitFor is at most through (the server processed the mutations up to
// it), and returns how many. ex is as for Insert. Call Wake after the
// caller's transaction commits.
func (q *Queue) Release(ctx context.Context, ex Execer, through int64) (int64, error) {
	res, err := q.execer(ex).ExecContext(ctx, `UPDATE photo_uploads SET state = ?, next_attempt = 0
		WHERE state = ? AND wait_for <= ?`, StateQueued, StateWaiting, through)
	if err != nil {
		return 0, fmt.Errorf("uploadq: release: %w", err)
	}
	return res.RowsAffected()
}

// Fail stops a photo's upload for a reason outside it (the server refused
// its record): it becomes failed with code and detail, and its file stays.
// An uploaded photo stays uploaded; an attempt running meanwhile does not
// undo it. ex is as for Insert.
func (q *Queue) Fail(ctx context.Context, ex Execer, photoID, code, detail string) error {
	_, err := q.execer(ex).ExecContext(ctx, `UPDATE photo_uploads SET state = ?, last_code = ?, last_error = ?, next_attempt = 0
		WHERE photo_id = ? AND state <> ?`, StateFailed, code, detail, photoID, StateUploaded)
	if err != nil {
		return fmt.Errorf("uploadq: fail %s: %w", photoID, err)
	}
	return nil
}

// Wake makes Run look for due photos now. It never blocks.
func (q *Queue) Wake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue) execer(ex Execer) Execer {
	if ex == nil {
		return q.db
	}
	return ex
}

// ErrNotQueued is returned by Item for a photo the queue does not hold.
var ErrNotQueued = errors.New("uploadq: the photo is not queued")

// Item returns one photo's state (for the app to show).
func (q *Queue) Item(ctx context.Context, photoID string) (Item, error) {
	items, err := q.query(ctx, `WHERE photo_id = ?`, photoID)
	if err != nil {
		return Item{}, err
	}
	if len(items) == 0 {
		return Item{}, fmt.Errorf("%w: %s", ErrNotQueued, photoID)
	}
	return items[0], nil
}

// Items returns every queued photo, oldest first.
func (q *Queue) Items(ctx context.Context) ([]Item, error) { return q.query(ctx, ``) }

func (q *Queue) query(ctx context.Context, where string, args ...any) ([]Item, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT photo_id, path, sha256, size, wait_for, upload_url, offset_done, state,
		attempts, next_attempt, last_code, last_error FROM photo_uploads `+where+` ORDER BY queued_at, photo_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("uploadq: %w", err)
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		var it Item
		var next int64
		if err := rows.Scan(&it.PhotoID, &it.Path, &it.SHA256, &it.Size, &it.WaitFor, &it.UploadURL, &it.Offset, &it.State,
			&it.Attempts, &next, &it.Code, &it.LastError); err != nil {
			return nil, fmt.Errorf("uploadq: %w", err)
		}
		if next > 0 {
			it.NextAttempt = time.Unix(0, next)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// save records an attempt's progress or end. The attempt owns the row only
// while it is uploading (Fail may have ended it meanwhile), except that
// the server's confirmation of every byte is always recorded.
func (q *Queue) save(ctx context.Context, it *Item) error {
	var next int64
	if !it.NextAttempt.IsZero() {
		next = it.NextAttempt.UnixNano()
	}
	// A context already ended must not lose the progress the server confirmed.
	res, err := q.db.ExecContext(context.WithoutCancel(ctx), `UPDATE photo_uploads SET upload_url = ?, offset_done = ?,
		state = ?, attempts = ?, next_attempt = ?, last_code = ?, last_error = ? WHERE photo_id = ? AND (state = ? OR ? = ?)`,
		it.UploadURL, it.Offset, it.State, it.Attempts, next, it.Code, it.LastError, it.PhotoID,
		StateUploading, it.State, StateUploaded)
	if err != nil {
		return fmt.Errorf("uploadq: save: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errTaken
	}
	q.changed(it.PhotoID)
	return nil
}

// errTaken stops an attempt whose photo was failed by Fail meanwhile.
var errTaken = errors.New("uploadq: the photo's upload was stopped meanwhile")

func (q *Queue) changed(photoID string) {
	if q.cfg.OnChange != nil {
		q.cfg.OnChange(photoID)
	}
}

// claim moves a due photo to uploading, unless something else changed it
// since it was read.
func (q *Queue) claim(ctx context.Context, it *Item) (bool, error) {
	res, err := q.db.ExecContext(ctx, `UPDATE photo_uploads SET state = ? WHERE photo_id = ? AND state = ?`,
		StateUploading, it.PhotoID, StateQueued)
	if err != nil {
		return false, fmt.Errorf("uploadq: claim: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	it.State = StateUploading
	q.changed(it.PhotoID)
	return true, nil
}

// RunOnce attempts every photo that is due, one after another, and returns
// how many the server confirmed in this pass. Only a failure of the queue's
// own database is returned; upload failures are recorded on the items.
func (q *Queue) RunOnce(ctx context.Context) (int, error) {
	q.run.Lock()
	defer q.run.Unlock()
	now := q.cfg.Now().UnixNano()
	due, err := q.query(ctx, `WHERE state = ? AND next_attempt <= ?`, StateQueued, now)
	if err != nil {
		return 0, err
	}
	done := 0
	for i := range due {
		if ctx.Err() != nil {
			break
		}
		it := &due[i]
		ok, err := q.claim(ctx, it)
		if err != nil {
			return done, err
		}
		if !ok {
			continue
		}
		uerr := q.upload(ctx, it)
		it.Code = failureCode(uerr)
		switch {
		case uerr == nil:
			it.State, it.LastError, it.NextAttempt = StateUploaded, "", time.Time{}
		case isPermanent(uerr):
			it.State, it.LastError = StateFailed, uerr.Error()
		default:
			it.State, it.LastError = StateQueued, uerr.Error()
			it.Attempts++
			it.NextAttempt = q.cfg.Now().Add(q.backoff(it.Attempts))
		}
		if err := q.save(ctx, it); errors.Is(err, errTaken) {
			continue
		} else if err != nil {
			return done, err
		}
		if it.State == StateUploaded {
			done++
			if q.cfg.DeleteAfterUpload {
				_ = os.Remove(it.Path) // confirmed: the server holds every byte
			}
		}
	}
	return done, nil
}

// Run uploads until ctx ends: each photo when it is due, at once after
// Wake, and at least every interval. It returns nil when ctx ends, or the
// failure of the queue's own database.
func (q *Queue) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = time.Minute
	}
	for {
		if _, err := q.RunOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wait := interval
		next, err := q.nextDue(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(q.cfg.Now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-q.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// nextDue is when the earliest queued photo is due (zero: none queued).
func (q *Queue) nextDue(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	err := q.db.QueryRowContext(ctx, `SELECT MIN(next_attempt) FROM photo_uploads WHERE state = ?`, StateQueued).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, err
	}
	return time.Unix(0, next.Int64), nil
}

// backoff is exponential with full jitter: many phones coming back online
// together do not all retry at once.
func (q *Queue) backoff(attempts int) time.Duration {
	d := q.cfg.MinBackoff << min(attempts-1, 20)
	if d <= 0 || d > q.cfg.MaxBackoff {
		d = q.cfg.MaxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// ServerError is an error answer of the server.
type ServerError struct {
	Status int
	Code   string
	Detail string
}

func (e *ServerError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Detail) }

// permanentCodes are the refusals no retry can change: the bytes or the
// photo record are wrong. (A missing photo is retried: its photo.create may
// not have been pushed yet.)
var permanentCodes = map[string]bool{
	"unsupported_image_type": true, "image_too_large": true, "image_corrupt": true, "content_hash_mismatch": true,
	"payload_too_large": true, "invalid": true, "forbidden": true,
}

func isPermanent(err error) bool {
	var se *ServerError
	var le *localError
	return (errors.As(err, &se) && permanentCodes[se.Code]) || errors.As(err, &le)
}

// failureCode is Item.Code for an attempt's error.
func failureCode(err error) string {
	var se *ServerError
	var le *localError
	switch {
	case errors.As(err, &le):
		return le.code
	case errors.As(err, &se) && se.Code != "":
		return se.Code
	case errors.As(err, &se):
		return "http_" + strconv.Itoa(se.Status)
	}
	return ""
}

// localError is a problem with the file on the phone (gone, or changed
// since it was queued): no retry helps.
type localError struct {
	code string
	err  error
}

func (e *localError) Error() string { return "local file: " + e.err.Error() }

// codeTokenExpired is the server's answer to an access token past its expiry.
const codeTokenExpired = "token_expired"

// upload runs one attempt: check the file, create the upload if needed
// (with the bytes, the first time, up to OneRequestSize), ask the
// server's offset, and send the rest in checksummed chunks, recording each
// offset the server confirms.
func (q *Queue) upload(ctx context.Context, it *Item) error {
	f, err := os.Open(it.Path)
	if err != nil {
		return &localError{CodeLocalFile, err}
	}
	defer f.Close()
	if err := verify(f, it); err != nil {
		return err
	}
	if it.UploadURL == "" {
		if err := q.create(ctx, it, f, it.Attempts == 0 && it.Size <= int64(q.cfg.OneRequestSize)); err != nil {
			return err
		}
	} else {
		off, err := q.head(ctx, it.UploadURL)
		var se *ServerError
		if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusGone) {
			// Expired or removed on the server: start a new upload.
			it.UploadURL, it.Offset = "", 0
			if err := q.create(ctx, it, f, false); err != nil {
				return err
			}
		} else if err != nil {
			return err
		} else {
			it.Offset = off
		}
	}
	if err := q.save(ctx, it); err != nil {
		return err
	}
	buf := make([]byte, q.cfg.ChunkSize)
	for it.Offset < it.Size {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), it.Size-it.Offset)], it.Offset)
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == it.Size-it.Offset) {
			return &localError{CodeLocalFile, err}
		}
		off, err := q.patch(ctx, it.UploadURL, it.Offset, buf[:n])
		var se *ServerError
		if errors.As(err, &se) && se.Code == "offset_mismatch" {
			if off, err = q.head(ctx, it.UploadURL); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		it.Offset = off
		if err := q.save(ctx, it); err != nil {
			return err
		}
	}
	return nil
}

// verify checks that the file still holds the bytes queued: sending others
// would end in the server refusing the photo after every byte was paid for.
func verify(f *os.File, it *Item) error {
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, it.Size+1))
	if err != nil {
		return &localError{CodeLocalFile, err}
	}
	if n != it.Size || hex.EncodeToString(h.Sum(nil)) != it.SHA256 {
		return &localError{CodeLocalFileChanged, fmt.Errorf("%s changed since it was queued", it.Path)}
	}
	return nil
}

// request sends one tus request with the access token, refreshing it once
// when the server says it expired.
func (q *Queue) request(ctx context.Context, method, target string, body []byte, hdr map[string]string) (*http.Response, error) {
	tok, err := q.cfg.Token(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := q.send(ctx, method, target, tok, body, hdr)
	var se *ServerError
	if q.cfg.Refresh != nil && errors.As(err, &se) && se.Status == http.StatusUnauthorized && se.Code == codeTokenExpired {
		if err := q.cfg.Refresh(ctx, tok); err != nil {
			return nil, err
		}
		if tok, err = q.cfg.Token(ctx); err != nil {
			return nil, err
		}
		resp, err = q.send(ctx, method, target, tok, body, hdr)
	}
	return resp, err
}

func (q *Queue) send(ctx context.Context, method, target, token string, body []byte, hdr map[string]string) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := q.cfg.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		var p struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p)
		return nil, &ServerError{Status: resp.StatusCode, Code: p.Code, Detail: p.Detail}
	}
	return resp, nil
}

// create asks the server for an upload of the photo; withBody sends the
// whole file along (creation-with-upload), which the server takes as a
// PATCH at offset 0.
func (q *Queue) create(ctx context.Context, it *Item, f *os.File, withBody bool) error {
	hdr := map[string]string{
		"Upload-Length":   strconv.FormatInt(it.Size, 10),
		"Upload-Metadata": "photo_id " + base64.StdEncoding.EncodeToString([]byte(it.PhotoID)),
	}
	var body []byte
	if withBody {
		body = make([]byte, it.Size)
		if _, err := f.ReadAt(body, 0); err != nil {
			return &localError{CodeLocalFile, err}
		}
		checksum(hdr, body)
	}
	resp, err := q.request(ctx, http.MethodPost, q.cfg.BaseURL+"/v1/uploads", body, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return fmt.Errorf("create answered no Location")
	}
	base, err := url.Parse(q.cfg.BaseURL)
	if err != nil {
		return &localError{CodeLocalFile, err}
	}
	it.UploadURL = base.ResolveReference(loc).String()
	it.Offset, _ = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	return nil
}

// checksum adds the body's bytes as tus expects them: their type and sha256.
func checksum(hdr map[string]string, body []byte) {
	sum := sha256.Sum256(body)
	hdr["Content-Type"] = "application/offset+octet-stream"
	hdr["Upload-Checksum"] = "sha256 " + base64.StdEncoding.EncodeToString(sum[:])
}

func (q *Queue) head(ctx context.Context, target string) (int64, error) {
	resp, err := q.request(ctx, http.MethodHead, target, nil, nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return offsetHeader(resp)
}

func (q *Queue) patch(ctx context.Context, target string, offset int64, chunk []byte) (int64, error) {
	hdr := map[string]string{"Upload-Offset": strconv.FormatInt(offset, 10)}
	checksum(hdr, chunk)
	resp, err := q.request(ctx, http.MethodPatch, target, chunk, hdr)
	if err != nil {
		return offset, err
	}
	resp.Body.Close()
	return offsetHeader(resp)
}

func offsetHeader(resp *http.Response) (int64, error) {
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the server answered no Upload-Offset")
	}
	return off, nil
}
