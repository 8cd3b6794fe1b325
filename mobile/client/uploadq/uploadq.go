// Package uploadq is the phone's persistent photo upload queue: a photo
// file queued once is uploaded to the server's tus endpoint exactly, over
// any number of lost connections and app restarts.
//
// The queue lives in a SQLite file (the pure-Go driver, so gomobile can bind
// it). Each photo keeps its state there: its upload URL once the server
// created one, the last offset the server confirmed, the attempts made and
// when to try next. An upload resumes from the server's offset (HEAD), never
// from what the phone believes it sent; every chunk carries its sha256
// (Upload-Checksum) so a corrupted chunk is refused and resent; transient
// failures retry with exponential backoff and jitter; a permanent refusal
// (the server's error code says the bytes can never be accepted) stops and
// is shown. The local file is deleted (with DeleteAfterUpload) only after
// the server confirmed the whole upload.
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
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite", pure Go
)

// State is where a photo is on its way to the server.
type State string

// The states.
const (
	StateQueued    State = "queued"    // waiting for its (next) attempt
	StateUploading State = "uploading" // an attempt is running
	StateUploaded  State = "uploaded"  // the server confirmed every byte
	StateFailed    State = "failed"    // the server refused it for good; LastError says why
)

// Item is one queued photo.
type Item struct {
	PhotoID     string
	Path        string
	SHA256      string
	Size        int64
	UploadURL   string
	Offset      int64 // the last offset the server confirmed
	State       State
	Attempts    int
	NextAttempt time.Time
	LastError   string // the server's error code, or the transport error
}

// Config configures a Queue.
type Config struct {
	// Path of the SQLite file (created if missing).
	Path string
	// BaseURL of the server, e.g. https://api.example.com.
	BaseURL string
	// Token returns a current access token (the sync client refreshes it).
	Token func(ctx context.Context) (string, error)
	// HTTP is the client to use (default http.DefaultClient).
	HTTP *http.Client
	// ChunkSize is the bytes sent per PATCH (default 1 MiB): smaller loses
	// less on a cut, larger costs fewer round trips.
	ChunkSize int
	// MinBackoff and MaxBackoff bound the wait between attempts (defaults
	// 2 s and 10 min).
	MinBackoff, MaxBackoff time.Duration
	// DeleteAfterUpload removes the local file once the server confirmed it.
	DeleteAfterUpload bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Queue is the persistent upload queue. It is safe for concurrent use; Run
// uploads one photo at a time.
type Queue struct {
	cfg Config
	db  *sql.DB
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
	queued_at    INTEGER NOT NULL
)`

// Open opens (or creates) the queue at cfg.Path. Uploads an app killed
// mid-attempt are queued again.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.Path == "" || cfg.BaseURL == "" || cfg.Token == nil {
		return nil, errors.New("uploadq: Path, BaseURL and Token are required")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = http.DefaultClient
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 1 << 20
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	db, err := sql.Open("sqlite", "file:"+cfg.Path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, fmt.Errorf("uploadq: open: %w", err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("uploadq: schema: %w", err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE photo_uploads SET state = ? WHERE state = ?`, StateQueued, StateUploading); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("uploadq: recover: %w", err)
	}
	return &Queue{cfg: cfg, db: db}, nil
}

// Close closes the queue's database.
func (q *Queue) Close() error { return q.db.Close() }

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
	it := Item{PhotoID: photoID, Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, State: StateQueued}
	_, err = q.db.ExecContext(ctx, `INSERT INTO photo_uploads (photo_id, path, sha256, size, state, queued_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (photo_id) DO NOTHING`,
		it.PhotoID, it.Path, it.SHA256, it.Size, it.State, q.cfg.Now().UnixNano())
	if err != nil {
		return Item{}, fmt.Errorf("uploadq: enqueue: %w", err)
	}
	return q.Item(ctx, photoID)
}

// Item returns one photo's state (for the app to show).
func (q *Queue) Item(ctx context.Context, photoID string) (Item, error) {
	items, err := q.query(ctx, `WHERE photo_id = ?`, photoID)
	if err != nil {
		return Item{}, err
	}
	if len(items) == 0 {
		return Item{}, fmt.Errorf("uploadq: photo %s is not queued", photoID)
	}
	return items[0], nil
}

// Items returns every queued photo, oldest first.
func (q *Queue) Items(ctx context.Context) ([]Item, error) { return q.query(ctx, ``) }

func (q *Queue) query(ctx context.Context, where string, args ...any) ([]Item, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT photo_id, path, sha256, size, upload_url, offset_done, state,
		attempts, next_attempt, last_error FROM photo_uploads `+where+` ORDER BY queued_at, photo_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("uploadq: %w", err)
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		var it Item
		var next int64
		if err := rows.Scan(&it.PhotoID, &it.Path, &it.SHA256, &it.Size, &it.UploadURL, &it.Offset, &it.State,
			&it.Attempts, &next, &it.LastError); err != nil {
			return nil, fmt.Errorf("uploadq: %w", err)
		}
		if next > 0 {
			it.NextAttempt = time.Unix(0, next)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

func (q *Queue) save(ctx context.Context, it *Item) error {
	var next int64
	if !it.NextAttempt.IsZero() {
		next = it.NextAttempt.UnixNano()
	}
	// A context already ended must not lose the progress the server confirmed.
	_, err := q.db.ExecContext(context.WithoutCancel(ctx), `UPDATE photo_uploads SET upload_url = ?, offset_done = ?,
		state = ?, attempts = ?, next_attempt = ?, last_error = ? WHERE photo_id = ?`,
		it.UploadURL, it.Offset, it.State, it.Attempts, next, it.LastError, it.PhotoID)
	if err != nil {
		return fmt.Errorf("uploadq: save: %w", err)
	}
	return nil
}

// RunOnce attempts every photo that is due, one after another, and returns
// how many the server confirmed in this pass. Only a failure of the queue's
// own database is returned; upload failures are recorded on the items.
func (q *Queue) RunOnce(ctx context.Context) (int, error) {
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
		it.State = StateUploading
		if err := q.save(ctx, it); err != nil {
			return done, err
		}
		uerr := q.upload(ctx, it)
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
		if err := q.save(ctx, it); err != nil {
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

// Run uploads until ctx ends, checking for due photos every interval.
func (q *Queue) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := q.RunOnce(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
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

// localError is a problem with the file on the phone (gone, or changed
// since it was queued): no retry helps.
type localError struct{ err error }

func (e *localError) Error() string { return "local file: " + e.err.Error() }

// upload runs one attempt: create the upload if needed, ask the server's
// offset, and send the rest in checksummed chunks, recording each offset
// the server confirms.
func (q *Queue) upload(ctx context.Context, it *Item) error {
	f, err := os.Open(it.Path)
	if err != nil {
		return &localError{err}
	}
	defer f.Close()
	if it.UploadURL == "" {
		if err := q.create(ctx, it); err != nil {
			return err
		}
	} else {
		off, err := q.head(ctx, it.UploadURL)
		var se *ServerError
		if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusGone) {
			// Expired or removed on the server: start a new upload.
			it.UploadURL, it.Offset = "", 0
			if err := q.create(ctx, it); err != nil {
				return err
			}
		} else if err != nil {
			return err
		} else {
			it.Offset = off
		}
	}
	_ = q.save(ctx, it)
	buf := make([]byte, q.cfg.ChunkSize)
	for it.Offset < it.Size {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), it.Size-it.Offset)], it.Offset)
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == it.Size-it.Offset) {
			return &localError{err}
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

func (q *Queue) request(ctx context.Context, method, target string, body []byte, hdr map[string]string) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		return nil, err
	}
	tok, err := q.cfg.Token(ctx)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
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

func (q *Queue) create(ctx context.Context, it *Item) error {
	resp, err := q.request(ctx, http.MethodPost, q.cfg.BaseURL+"/v1/uploads", nil, map[string]string{
		"Upload-Length":   strconv.FormatInt(it.Size, 10),
		"Upload-Metadata": "photo_id " + base64.StdEncoding.EncodeToString([]byte(it.PhotoID)),
	})
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
		return &localError{err}
	}
	it.UploadURL = base.ResolveReference(loc).String()
	it.Offset, _ = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	return nil
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
	sum := sha256.Sum256(chunk)
	resp, err := q.request(ctx, http.MethodPatch, target, chunk, map[string]string{
		"Content-Type":    "application/offset+octet-stream",
		"Upload-Offset":   strconv.FormatInt(offset, 10),
		"Upload-Checksum": "sha256 " + base64.StdEncoding.EncodeToString(sum[:]),
	})
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
