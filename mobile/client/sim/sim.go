package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/client"
	fsync "github.com/iswitchroofs/fieldsync/sync"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

// DeviceSpec is one simulated phone: the user it signs in as.
type DeviceSpec struct {
	Email, Password string
	UserID          string
	Role            domain.Role
}

// Chaos is a fault the campaign injects now and then (kill the server,
// restart its database), with a relative weight.
type Chaos struct {
	Name   string
	Weight int
	Run    func(ctx context.Context) error
}

// Store is what the simulator needs from the server's database: the one
// write path for the back office's edits, reads of records, and the
// server's view of a user's scope for the final check.
type Store interface {
	domain.Writer
	domain.RecordStore
	synctest.SnapshotReader
	// ChangesForScope and Outcomes read the change history and the
	// outcomes the server recorded (domain.SyncStore).
	ChangesForScope(ctx context.Context, f domain.ScopeFilter, after int64, maxRows int) (domain.ChangePage, error)
	Outcomes(ctx context.Context, orgID, clientID string, afterMutationID int64) ([]domain.MutationOutcome, error)
}

// Config describes a campaign.
type Config struct {
	Seed int64
	// BaseURL is where the devices connect (normally Proxy's URL).
	BaseURL string
	// Dir holds the devices' SQLite stores.
	Dir     string
	OrgID   string
	Devices []DeviceSpec
	// Flipper is a sales user whose role the campaign toggles between
	// sales and manager (empty: no role changes).
	Flipper string
	// Ops is the number of random operations.
	Ops int
	// Pause is the longest pause between two operations.
	Pause time.Duration
	Store Store
	// Office is the manager (or admin) the back office writes as.
	Office domain.Principal
	// Explain answers the server's view of a device's sync state (the
	// engine's Explain as a manager).
	Explain func(ctx context.Context, clientID string) (fsync.DeviceReport, error)
	Proxy   *Proxy
	Faults  Faults
	Chaos   []Chaos
	// ChaosEvery is the mean number of operations between two chaos
	// events (0: no chaos).
	ChaosEvery int
	Log        *slog.Logger
}

// Report is the outcome of a campaign.
type Report struct {
	Seed                                     int64
	Devices, Reps, Techs, Managers           int
	Ops, Mutations, OfficeEdits, Deletes     int
	Reassignments, RoleChanges, OfflineSpans int
	Faults                                   FaultCounts
	Chaos                                    map[string]int
	Conflicts, Rejections, Resets, Retries   int64
	Refreshes, Pokes, Pulls, Pushes          int64
	Duration                                 time.Duration
	// Divergences are the failed checks; History is the story of the
	// first differing record.
	Divergences []string
	History     []string
}

// Diverged reports whether any check failed.
func (r *Report) Diverged() bool { return len(r.Divergences) > 0 }

// simDevice is one phone of the campaign.
type simDevice struct {
	n    int
	spec DeviceSpec
	c    *client.Client
	net  *netSwitch
	// made are its mutations by id; outcomes those delivered to it.
	made     map[int64]made
	mu       gosync.Mutex
	outcomes map[int64]fsync.Outcome
	dups     int
}

// made is what a mutation wrote, for the final checks.
type made struct {
	name   string
	kind   domain.EntityKind
	id     string
	field  string
	value  string
	create bool
}

// netSwitch takes a device offline: its requests fail before leaving.
type netSwitch struct {
	base    http.RoundTripper
	offline atomic.Bool
}

func (s *netSwitch) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.offline.Load() {
		return nil, errors.New("sim: device offline")
	}
	return s.base.RoundTrip(r)
}

// world is a running campaign.
type world struct {
	cfg   Config
	r     *rand.Rand
	rep   *Report
	devs  []*simDevice
	mu    gosync.Mutex
	roles map[string]domain.Role
	// writes: every value written to a field, by anyone; deleted: what
	// the office deleted; history: what happened to each record.
	writes  map[string][]string
	deleted map[synctest.Key]bool
	history map[string][]string
	n       int
	start   time.Time
}

// Run plays a campaign and checks convergence. An error is a failure to
// run it; divergence is in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	w := &world{
		cfg: cfg, r: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)), rep: &Report{Seed: cfg.Seed, Chaos: map[string]int{}},
		roles: map[string]domain.Role{}, writes: map[string][]string{}, deleted: map[synctest.Key]bool{},
		history: map[string][]string{}, start: time.Now(),
	}
	for i, spec := range cfg.Devices {
		if err := w.addDevice(ctx, i, spec); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, d := range w.devs {
			_ = d.c.Close()
		}
	}()
	// Every device starts in sync, then runs on its own: pokes, retries,
	// periodic pulls, exactly as in the app.
	if err := w.syncAll(ctx); err != nil {
		return nil, fmt.Errorf("sim: first sync: %w", err)
	}
	var before FaultCounts
	if cfg.Proxy != nil {
		before = cfg.Proxy.Counts() // a proxy may serve several campaigns
		cfg.Proxy.SetFaults(cfg.Faults)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	for _, d := range w.devs {
		wg.Add(1)
		go func() { defer wg.Done(); w.keepRunning(runCtx, d) }()
	}
	err := w.play(ctx)
	stop()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if cfg.Proxy != nil {
		cfg.Proxy.SetFaults(Faults{})
		now := cfg.Proxy.Counts()
		w.rep.Faults = FaultCounts{Dropped: now.Dropped - before.Dropped, Delayed: now.Delayed - before.Delayed,
			Cut: now.Cut - before.Cut, CutAll: now.CutAll - before.CutAll}
	}
	if err := w.quiesce(ctx); err != nil {
		return nil, err
	}
	w.verify(ctx)
	w.rep.Duration = time.Since(w.start)
	for _, d := range w.devs {
		s := d.c.Stats()
		w.rep.Conflicts += s.Conflicts
		w.rep.Rejections += s.Rejections
		w.rep.Resets += s.Resets
		w.rep.Retries += s.Retries
		w.rep.Refreshes += s.Refreshes
		w.rep.Pokes += s.Pokes
		w.rep.Pulls += s.Pulls
		w.rep.Pushes += s.Pushes
	}
	return w.rep, nil
}

func (w *world) addDevice(ctx context.Context, i int, spec DeviceSpec) error {
	sw := &netSwitch{base: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}}
	d := &simDevice{n: i, spec: spec, net: sw, made: map[int64]made{}, outcomes: map[int64]fsync.Outcome{}}
	record := func(o fsync.Outcome) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, seen := d.outcomes[o.MutationID]; seen {
			d.dups++
		}
		d.outcomes[o.MutationID] = o
	}
	c, err := client.Open(client.Config{
		BaseURL: w.cfg.BaseURL, StorePath: filepath.Join(w.cfg.Dir, fmt.Sprintf("device-%02d.db", i)),
		HTTPClient: &http.Client{Transport: sw, Timeout: 15 * time.Second},
		AppVersion: "sim", PageLimit: 50 + w.r.IntN(200), PullInterval: 20 * time.Second, StreamIdle: 5 * time.Second,
		RetryBase: 20 * time.Millisecond, RetryMax: time.Second, Seed: uint64(w.cfg.Seed)*100 + uint64(i) + 1,
		OnConflict: record, OnRejection: record, Logger: w.cfg.Log,
	})
	if err != nil {
		return err
	}
	if err := retrySignIn(ctx, c, spec); err != nil {
		_ = c.Close()
		return err
	}
	w.roles[spec.UserID] = spec.Role
	d.c = c
	w.devs = append(w.devs, d)
	switch spec.Role {
	case domain.RoleSales:
		w.rep.Reps++
	case domain.RoleFieldTech:
		w.rep.Techs++
	default:
		w.rep.Managers++
	}
	w.rep.Devices++
	return nil
}

func retrySignIn(ctx context.Context, c *client.Client, spec DeviceSpec) error {
	var err error
	for range 50 {
		if err = c.SignIn(ctx, spec.Email, spec.Password); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("sim: sign in: %w", err)
}

// keepRunning runs a device's sync loop until ctx ends, signing in again
// if its session is refused (the answer of a refresh lost to a fault).
func (w *world) keepRunning(ctx context.Context, d *simDevice) {
	for ctx.Err() == nil {
		err := d.c.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, client.ErrSignedOut) {
			_ = retrySignIn(ctx, d.c, d.spec)
			continue
		}
		if err != nil {
			w.cfg.Log.Warn("sim: device stopped", slog.Int("device", d.n), slog.String("error", err.Error()))
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// note adds a line to a record's history.
func (w *world) note(id, format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.history[id] = append(w.history[id], fmt.Sprintf("%8s  ", time.Since(w.start).Round(time.Millisecond))+fmt.Sprintf(format, args...))
}

func (w *world) value(prefix string) string {
	w.n++
	return fmt.Sprintf("%s-%d", prefix, w.n)
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// play runs the random operations.
func (w *world) play(ctx context.Context) error {
	for op := 0; op < w.cfg.Ops; op++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		w.rep.Ops++
		switch x := w.r.IntN(100); {
		case x < 55:
			w.mutate(ctx, pick(w.r, w.devs))
		case x < 63:
			d := pick(w.r, w.devs)
			if d.net.offline.Load() {
				d.net.offline.Store(false)
			} else {
				d.net.offline.Store(true)
				w.rep.OfflineSpans++
			}
		case x < 96:
			if err := w.office(ctx); err != nil {
				return err
			}
		default:
			if err := w.flipRole(ctx); err != nil {
				return err
			}
		}
		if w.cfg.ChaosEvery > 0 && len(w.cfg.Chaos) > 0 && w.r.IntN(w.cfg.ChaosEvery) == 0 {
			w.chaos(ctx)
		}
		if w.cfg.Pause > 0 {
			time.Sleep(time.Duration(w.r.Int64N(int64(w.cfg.Pause))))
		}
	}
	return nil
}

func (w *world) chaos(ctx context.Context) {
	total := 0
	for _, c := range w.cfg.Chaos {
		total += c.Weight
	}
	x := w.r.IntN(max(total, 1))
	for _, c := range w.cfg.Chaos {
		if x -= c.Weight; x < 0 {
			w.rep.Chaos[c.Name]++
			if err := c.Run(ctx); err != nil {
				w.cfg.Log.Warn("sim: chaos failed", slog.String("chaos", c.Name), slog.String("error", err.Error()))
			}
			return
		}
	}
}
