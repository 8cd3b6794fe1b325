package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/client/uploadq"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// Defaults of Config.
const (
	DefaultPullInterval = 5 * time.Minute
	DefaultStreamIdle   = 45 * time.Second
	DefaultRetryBase    = time.Second
	DefaultRetryMax     = 5 * time.Minute
	DefaultTimeout      = 60 * time.Second
)

// Config is what a Client needs. BaseURL and StorePath are required.
type Config struct {
	// BaseURL is the server, e.g. https://api.example.com (no trailing slash).
	BaseURL string
	// StorePath is the SQLite file of the local store; it survives
	// restarts (outbox, cursor, tokens, records).
	StorePath string
	// HTTPClient sends the requests (default: DefaultTimeout per request).
	// The poke stream uses its Transport without the timeout.
	HTTPClient *http.Client
	// AppVersion is reported to the server; SchemaVersion is the entity
	// schema the app understands (default: this library's, the server's
	// current one).
	AppVersion    string
	SchemaVersion int
	// Platform and PushToken register the device (default platform android).
	Platform  domain.Platform
	PushToken string
	// PageLimit is the records per pull page asked for (0: server default).
	PageLimit int
	// PullInterval is the safety-net pull of Run when no poke arrives.
	PullInterval time.Duration
	// StreamIdle: a poke stream silent this long is reconnected (the server
	// sends a comment every 15 s).
	StreamIdle time.Duration
	// RetryBase and RetryMax bound the exponential backoff with full
	// jitter between retries of transient failures; MaxAttempts > 0 stops
	// retrying after that many tries (0: until the context ends).
	RetryBase, RetryMax time.Duration
	MaxAttempts         int
	// Seed makes the jitter reproducible (0: random).
	Seed uint64
	// OnConflict and OnRejection are told each outcome of the device's
	// mutations once the pull that carried it is stored (again after a
	// crash before it was acknowledged: they must be idempotent).
	OnConflict  func(fsync.Outcome)
	OnRejection func(fsync.Outcome)
	// OnChange is called after every committed change to what the app
	// shows (a pull page, a local mutation, a photo upload's progress).
	OnChange func()
	// DeleteAfterUpload removes a photo's file (AddPhoto) once the server
	// confirmed every byte of it; never before.
	DeleteAfterUpload bool
	// UploadChunkSize is the bytes of a photo sent per request once a
	// photo's first attempt failed (default 1 MiB), and
	// UploadOneRequestSize the largest photo whose first attempt sends it
	// whole in one request (default uploadq.DefaultOneRequestSize;
	// negative: UploadChunkSize). Each request must finish within
	// HTTPClient's timeout, so a slow link wants both smaller.
	UploadChunkSize, UploadOneRequestSize int
	// Logger receives the library's diagnostics (never record data).
	Logger *slog.Logger
}

// Stats counts what a client did since it was opened.
type Stats struct {
	Pushes, Pulls, Pages, Retries, Refreshes, Resets      int64
	Conflicts, Rejections, StreamConnects, Pokes, Repairs int64
	Violations                                            int64
}

type counters struct {
	pushes, pulls, pages, retries, refreshes, resets      atomic.Int64
	conflicts, rejections, streamConnects, pokes, repairs atomic.Int64
	violations                                            atomic.Int64
}

// Client is one install of the app: its local store and the protocol.
// Its methods are safe for concurrent use; syncs run one at a time.
type Client struct {
	cfg      Config
	st       *store
	queue    *uploadq.Queue
	clientID string
	log      *slog.Logger

	syncMu gosync.Mutex
	authMu gosync.Mutex
	kick   chan struct{}
	stats  counters

	rngMu gosync.Mutex
	rng   *mrand.Rand

	// repair lists kinds to re-snapshot after an op version the device
	// could not rebuild (a protocol breach it heals instead of trusting).
	repair []domain.EntityKind
}

// Open opens (or creates) the local store and returns the client. A new
// store gets a client id, generated once and kept forever.
func Open(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("client: Config.BaseURL is required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.SchemaVersion == 0 {
		cfg.SchemaVersion = fsync.SchemaVersion
	}
	if cfg.AppVersion == "" {
		cfg.AppVersion = "fieldsync-go-client"
	}
	if cfg.Platform == "" {
		cfg.Platform = domain.PlatformAndroid
	}
	if cfg.PullInterval <= 0 {
		cfg.PullInterval = DefaultPullInterval
	}
	if cfg.StreamIdle <= 0 {
		cfg.StreamIdle = DefaultStreamIdle
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	st, err := openStore(cfg.StorePath)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, st: st, log: cfg.Logger, kick: make(chan struct{}, 1), rng: mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	ctx := context.Background()
	err = st.tx(ctx, func(tx txq) error {
		id, err := getMeta(ctx, tx, metaClientID)
		if err != nil {
			return err
		}
		if id == "" {
			id = NewID()
			if err := setMeta(ctx, tx, metaClientID, id); err != nil {
				return err
			}
			if err := setInt(ctx, tx, metaNextID, 1); err != nil {
				return err
			}
		}
		c.clientID = id
		return nil
	})
	if err != nil {
		_ = st.close()
		return nil, fmt.Errorf("client: init store: %w", err)
	}
	// The upload queue keeps its table in the store, so that AddPhoto
	// writes a photo's record and its upload in one transaction.
	c.queue, err = uploadq.Open(ctx, uploadq.Config{
		DB: st.db, BaseURL: cfg.BaseURL, Token: c.accessToken, Refresh: c.refresh, HTTP: cfg.HTTPClient,
		ChunkSize: cfg.UploadChunkSize, OneRequestSize: cfg.UploadOneRequestSize, MinBackoff: cfg.RetryBase, MaxBackoff: cfg.RetryMax,
		DeleteAfterUpload: cfg.DeleteAfterUpload, OnChange: func(string) { c.changed() },
	})
	if err == nil {
		// An acknowledgement whose uploads a crash kept from starting.
		err = c.releaseUploads(ctx)
	}
	if err != nil {
		_ = st.close()
		return nil, fmt.Errorf("client: open upload queue: %w", err)
	}
	return c, nil
}

// Close closes the local store. Stop Run first.
func (c *Client) Close() error { return errors.Join(c.queue.Close(), c.st.close()) }

// ClientID is the install's id.
func (c *Client) ClientID() string { return c.clientID }

// Stats returns the counters.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		Pushes: s.pushes.Load(), Pulls: s.pulls.Load(), Pages: s.pages.Load(), Retries: s.retries.Load(),
		Refreshes: s.refreshes.Load(), Resets: s.resets.Load(), Conflicts: s.conflicts.Load(),
		Rejections: s.rejections.Load(), StreamConnects: s.streamConnects.Load(), Pokes: s.pokes.Load(),
		Repairs: s.repairs.Load(), Violations: s.violations.Load(),
	}
}

func (c *Client) jitter() float64 {
	c.rngMu.Lock()
	defer c.rngMu.Unlock()
	return c.rng.Float64()
}

// NewID returns a random lowercase UUID (version 4): the form the protocol
// wants for record ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Poke asks Run to sync now (a poke stream event or an FCM data message
// does the same). It never blocks; pokes coalesce.
func (c *Client) Poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Mutate records a mutation in the outbox with the device's next id and
// returns the id; the app's view shows it at once (optimistic apply) and
// Run pushes it. args is the mutation's argument object.
func (c *Client) Mutate(ctx context.Context, name string, args any) (int64, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return 0, fmt.Errorf("client: args of %s: %w", name, err)
	}
	var id int64
	err = c.st.tx(ctx, func(tx txq) error {
		id, err = record(ctx, tx, name, raw)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("client: record %s: %w", name, err)
	}
	c.changed()
	c.Poke()
	return id, nil
}

// record writes a mutation into the outbox with the device's next id.
func record(ctx context.Context, tx txq, name string, args json.RawMessage) (int64, error) {
	next, err := getInt(ctx, tx, metaNextID)
	if err != nil {
		return 0, err
	}
	id := max(next, 1)
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, name, args) VALUES (?, ?, ?)`, id, name, string(args)); err != nil {
		return 0, err
	}
	return id, setInt(ctx, tx, metaNextID, id+1)
}

func (c *Client) changed() {
	if c.cfg.OnChange != nil {
		c.cfg.OnChange()
	}
}

// Get returns what the app shows for a record: the server copy with the
// pending mutations re-applied in id order (leaving out rejected ones).
func (c *Client) Get(ctx context.Context, kind domain.EntityKind, id string) (json.RawMessage, bool, error) {
	var data json.RawMessage
	err := c.st.tx(ctx, func(tx txq) error {
		r, ok, err := getRecord(ctx, tx, "records", kind, id)
		if err != nil {
			return err
		}
		if ok {
			data = r.Data
		}
		ms, err := pending(ctx, tx)
		if err != nil {
			return err
		}
		rej, err := rejected(ctx, tx)
		if err != nil {
			return err
		}
		user, err := signedInUser(ctx, tx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if k, mid := Target(m); k == kind && mid == id && !rej[m.ID] {
				data = ApplyLocal(data, m, user, c.cfg.SchemaVersion)
			}
		}
		return nil
	})
	return data, data != nil, err
}

// ServerCopies returns the committed local copy (what pulls delivered,
// without pending mutations) of kind, or of every kind if kind is empty.
func (c *Client) ServerCopies(ctx context.Context, kind domain.EntityKind) ([]Record, error) {
	return listRecords(ctx, c.st.db, kind)
}

// Pending returns the outbox: mutations not yet covered by a finished pull.
func (c *Client) Pending(ctx context.Context) ([]fsync.Mutation, error) {
	return pending(ctx, c.st.db)
}

// State is the device's sync position.
type State struct {
	ClientID string
	// NextMutationID is the id the next mutation gets; Acked the highest
	// the server said it processed; Shown the highest outcome delivered.
	NextMutationID, Acked, Shown int64
	Cursor                       string
	Staging                      bool
}

// State reads the device's sync position.
func (c *Client) State(ctx context.Context) (State, error) {
	s := State{ClientID: c.clientID}
	var err error
	get := func(key string, dst *int64) {
		if err == nil {
			*dst, err = getInt(ctx, c.st.db, key)
		}
	}
	get(metaNextID, &s.NextMutationID)
	get(metaAcked, &s.Acked)
	get(metaShown, &s.Shown)
	if err == nil {
		s.Cursor, err = getMeta(ctx, c.st.db, metaCursor)
	}
	if err == nil {
		var v string
		v, err = getMeta(ctx, c.st.db, metaStaging)
		s.Staging = v == "1"
	}
	return s, err
}

// Sync registers the device if needed, pushes the outbox and pulls until
// the server has nothing more, retrying transient failures with backoff.
func (c *Client) Sync(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	return c.retry(ctx, c.syncOnce)
}

func (c *Client) syncOnce(ctx context.Context) error {
	if err := c.register(ctx); err != nil {
		return err
	}
	if err := c.push(ctx); err != nil {
		return err
	}
	if err := c.pull(ctx, nil); err != nil {
		return err
	}
	if len(c.repair) > 0 {
		kinds := c.repair
		c.repair = nil
		c.stats.repairs.Add(1)
		return c.pull(ctx, kinds)
	}
	return nil
}

// register sends POST /v1/devices once per install. A reinstall that kept
// its client id but lost its store continues after the server's last id.
func (c *Client) register(ctx context.Context) error {
	done, err := getMeta(ctx, c.st.db, metaRegistered)
	if err != nil || done == "1" {
		return err
	}
	var resp struct {
		LastMutationID int64 `json:"last_mutation_id"`
	}
	err = c.call(ctx, http.MethodPost, "/v1/devices", fsync.DeviceRegistration{
		Versions: c.versions(), ClientID: c.clientID, Platform: c.cfg.Platform, PushToken: c.cfg.PushToken,
	}, &resp)
	if err != nil {
		return err
	}
	return c.st.tx(ctx, func(tx txq) error {
		next, err := getInt(ctx, tx, metaNextID)
		if err != nil {
			return err
		}
		if next <= resp.LastMutationID {
			if err := setInt(ctx, tx, metaNextID, resp.LastMutationID+1); err != nil {
				return err
			}
		}
		return setMeta(ctx, tx, metaRegistered, "1")
	})
}

// push sends the unacknowledged outbox in batches of consecutive ids.
func (c *Client) push(ctx context.Context) error {
	for {
		acked, err := getInt(ctx, c.st.db, metaAcked)
		if err != nil {
			return err
		}
		all, err := pending(ctx, c.st.db)
		if err != nil {
			return err
		}
		var batch []fsync.Mutation
		size := 0
		for _, m := range all {
			if m.ID <= acked {
				continue
			}
			size += len(m.Args) + len(m.Name) + 64
			if len(batch) == fsync.MaxMutationsPerPush || (len(batch) > 0 && size > fsync.MaxPushBytes-64<<10) {
				break
			}
			batch = append(batch, m)
		}
		if len(batch) == 0 {
			return nil
		}
		var resp fsync.PushResponse
		err = c.call(ctx, http.MethodPost, "/v1/sync/push",
			fsync.PushRequest{Versions: c.versions(), ClientID: c.clientID, Mutations: batch}, &resp)
		if err != nil {
			return err
		}
		c.stats.pushes.Add(1)
		next := max(acked, resp.LastMutationID)
		if resp.Gap != nil {
			// The server processed less than the device believed (its
			// database was restored): resend from where it stands, if the
			// device still has those mutations.
			if !slices.ContainsFunc(all, func(m fsync.Mutation) bool { return m.ID == resp.Gap.Expected }) {
				return fmt.Errorf("%w: expected %d, got %d", ErrLostMutations, resp.Gap.Expected, resp.Gap.Got)
			}
			next = resp.Gap.Expected - 1
		}
		if err := setInt(ctx, c.st.db, metaAcked, next); err != nil {
			return err
		}
		// The photos created up to here exist on the server now: their
		// uploads need not wait for the pull.
		if err := c.releaseUploads(ctx); err != nil {
			return err
		}
		if resp.Gap == nil && resp.LastMutationID < batch[len(batch)-1].ID {
			return fmt.Errorf("client: push of %d..%d acknowledged only %d", batch[0].ID, batch[len(batch)-1].ID, resp.LastMutationID)
		}
	}
}

// Pull pulls until the server has nothing more (no push first).
func (c *Client) Pull(ctx context.Context) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	return c.retry(ctx, func(ctx context.Context) error {
		if err := c.register(ctx); err != nil {
			return err
		}
		return c.pull(ctx, nil)
	})
}

// pull fetches pages until has_more is false; repair names kinds to
// re-snapshot (ignored by the server inside a reset session).
func (c *Client) pull(ctx context.Context, repair []domain.EntityKind) error {
	c.stats.pulls.Add(1)
	for page := 0; ; page++ {
		cursor, err := getMeta(ctx, c.st.db, metaCursor)
		if err != nil {
			return err
		}
		shown, err := getInt(ctx, c.st.db, metaShown)
		if err != nil {
			return err
		}
		req := fsync.PullRequest{Versions: c.versions(), ClientID: c.clientID, Cursor: cursor, Limit: c.cfg.PageLimit, AckOutcomesThrough: shown}
		if page == 0 {
			req.RepairKinds = repair
		}
		var resp fsync.PullResponse
		if err := c.call(ctx, http.MethodPost, "/v1/sync/pull", req, &resp); err != nil {
			return err
		}
		if err := c.applyPage(ctx, resp); err != nil {
			return fmt.Errorf("client: apply pull page: %w", err)
		}
		if err := c.releaseUploads(ctx); err != nil {
			return err
		}
		c.stats.pages.Add(1)
		c.changed()
		if err := c.deliver(ctx, resp.Outcomes, shown); err != nil {
			return err
		}
		if !resp.HasMore {
			return nil
		}
	}
}

// deliver tells the app about new outcomes, then records them as shown so
// the next pull acknowledges them.
func (c *Client) deliver(ctx context.Context, outcomes []fsync.Outcome, shown int64) error {
	top := shown
	for _, o := range outcomes {
		if o.MutationID <= shown {
			continue
		}
		if o.Kind == domain.OutcomeConflict {
			c.stats.conflicts.Add(1)
			if c.cfg.OnConflict != nil {
				c.cfg.OnConflict(o)
			}
		} else {
			c.stats.rejections.Add(1)
			if c.cfg.OnRejection != nil {
				c.cfg.OnRejection(o)
			}
		}
		top = max(top, o.MutationID)
	}
	if top == shown {
		return nil
	}
	return setInt(ctx, c.st.db, metaShown, top)
}

// applyPage applies one pull page in one local transaction, as
// docs/sync-protocol.md asks: outcomes first, then the changes (into the
// staging copy inside a reset session, swapped in at its last page), the
// cursor, and at the end of a pull the outbox entries it covered.
func (c *Client) applyPage(ctx context.Context, resp fsync.PullResponse) error {
	return c.st.tx(ctx, func(tx txq) error {
		for _, o := range resp.Outcomes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO outcomes (mutation_id, name, kind, code, message, details) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (mutation_id) DO UPDATE SET kind = excluded.kind, code = excluded.code, message = excluded.message, details = excluded.details`,
				o.MutationID, o.Name, string(o.Kind), o.Code, o.Message, string(o.Details)); err != nil {
				return err
			}
		}
		if resp.Reset {
			c.stats.resets.Add(1)
			if err := startStaging(ctx, tx, resp.ResetKinds); err != nil {
				return err
			}
		}
		staging, err := getMeta(ctx, tx, metaStaging)
		if err != nil {
			return err
		}
		table := "records"
		if staging == "1" {
			table = "staging"
		}
		ms, err := pending(ctx, tx)
		if err != nil {
			return err
		}
		rej, err := rejected(ctx, tx)
		if err != nil {
			return err
		}
		if err := c.stopUploads(ctx, tx, resp.Outcomes, resp.Changes, ms); err != nil {
			return err
		}
		for _, ch := range resp.Changes {
			switch ch.Op {
			case fsync.OpPut:
				err = putRecord(ctx, tx, table, Record{Kind: ch.Kind, ID: ch.ID, Version: ch.Version, Data: ch.Data})
			case fsync.OpDelete:
				err = deleteRecord(ctx, tx, table, ch.Kind, ch.ID)
			case fsync.OpVersion:
				err = c.confirm(ctx, tx, table, ch, ms, rej)
			}
			if err != nil {
				return err
			}
		}
		if staging == "1" && !resp.HasMore {
			if err := endStaging(ctx, tx); err != nil {
				return err
			}
		}
		if err := setMeta(ctx, tx, metaCursor, resp.Cursor); err != nil {
			return err
		}
		acked, err := getInt(ctx, tx, metaAcked)
		if err != nil {
			return err
		}
		if resp.LastMutationID > acked {
			if err := setInt(ctx, tx, metaAcked, resp.LastMutationID); err != nil {
				return err
			}
		}
		if !resp.HasMore {
			// Only a finished pull has delivered every effect of the
			// mutations up to last_mutation_id; a later page could still
			// confirm one with op version, rebuilt from the mutation.
			if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id <= ?`, resp.LastMutationID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM outcomes WHERE mutation_id <= ?`, resp.LastMutationID); err != nil {
				return err
			}
		}
		return nil
	})
}

// startStaging begins a reset session: the staging copy starts as the
// records of the kinds the session does not replace.
func startStaging(ctx context.Context, tx txq, kinds []domain.EntityKind) error {
	raw, _ := json.Marshal(kinds)
	if _, err := tx.ExecContext(ctx, `DELETE FROM staging`); err != nil {
		return err
	}
	if len(kinds) > 0 {
		args := make([]any, len(kinds))
		ph := ""
		for i, k := range kinds {
			args[i] = string(k)
			if i > 0 {
				ph += ","
			}
			ph += "?"
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO staging SELECT kind, id, version, data FROM records WHERE kind NOT IN (`+ph+`)`, args...); err != nil {
			return err
		}
	}
	if err := setMeta(ctx, tx, metaResetKinds, string(raw)); err != nil {
		return err
	}
	return setMeta(ctx, tx, metaStaging, "1")
}

// endStaging swaps the staged copy in.
func endStaging(ctx context.Context, tx txq) error {
	for _, q := range []string{`DELETE FROM records`, `INSERT INTO records SELECT kind, id, version, data FROM staging`, `DELETE FROM staging`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return setMeta(ctx, tx, metaStaging, "0")
}

// confirm applies an op version: the record becomes the device's copy with
// its own mutations of it up to ch.MutationID applied, except rejected
// ones, at ch.Version.
func (c *Client) confirm(ctx context.Context, tx txq, table string, ch fsync.Change, ms []fsync.Mutation, rej map[int64]bool) error {
	r, ok, err := getRecord(ctx, tx, table, ch.Kind, ch.ID)
	if err != nil {
		return err
	}
	var data json.RawMessage
	if ok {
		data = r.Data
	}
	user, err := signedInUser(ctx, tx)
	if err != nil {
		return err
	}
	applied := 0
	for _, m := range ms {
		if m.ID > ch.MutationID {
			break
		}
		if rej[m.ID] {
			continue
		}
		if k, id := Target(m); k == ch.Kind && id == ch.ID {
			data = ApplyLocal(data, m, user, c.cfg.SchemaVersion)
			applied++
		}
	}
	if applied == 0 || data == nil {
		// The device cannot rebuild what the server says it holds: heal
		// with a snapshot of the kind instead of guessing.
		c.stats.violations.Add(1)
		c.log.Warn("fieldsync client: op version the device cannot rebuild; repairing",
			slog.String("kind", string(ch.Kind)), slog.String("mutation_id", strconv.FormatInt(ch.MutationID, 10)))
		if !slices.Contains(c.repair, ch.Kind) {
			c.repair = append(c.repair, ch.Kind)
		}
		return nil
	}
	return putRecord(ctx, tx, table, Record{Kind: ch.Kind, ID: ch.ID, Version: ch.Version, Data: data})
}

// View returns what the app shows of kind: the server copies with the
// pending mutations re-applied (records created on the device included,
// deleted ones left out), in id order.
func (c *Client) View(ctx context.Context, kind domain.EntityKind) ([]Record, error) {
	var out []Record
	err := c.st.tx(ctx, func(tx txq) error {
		recs, err := listRecords(ctx, tx, kind)
		if err != nil {
			return err
		}
		byID := map[string]json.RawMessage{}
		order := []string{}
		versions := map[string]int64{}
		for _, r := range recs {
			byID[r.ID] = r.Data
			versions[r.ID] = r.Version
			order = append(order, r.ID)
		}
		ms, err := pending(ctx, tx)
		if err != nil {
			return err
		}
		rej, err := rejected(ctx, tx)
		if err != nil {
			return err
		}
		user, err := signedInUser(ctx, tx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			k, id := Target(m)
			if k != kind || rej[m.ID] {
				continue
			}
			if _, ok := byID[id]; !ok && !slices.Contains(order, id) {
				order = append(order, id)
			}
			byID[id] = ApplyLocal(byID[id], m, user, c.cfg.SchemaVersion)
		}
		slices.Sort(order)
		for _, id := range order {
			if data := byID[id]; data != nil {
				out = append(out, Record{Kind: kind, ID: id, Version: versions[id], Data: data})
			}
		}
		return nil
	})
	return out, err
}
