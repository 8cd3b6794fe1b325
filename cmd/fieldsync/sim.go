package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	"github.com/iswitchroofs/fieldsync/mobile/client/sim"
	"github.com/iswitchroofs/fieldsync/storage/pokebus"
	"github.com/iswitchroofs/fieldsync/storage/redisrate"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

const simUsage = `fieldsync sim [flags]

Runs simulated phones (reps, techs, managers; the reference client over HTTP, each with
its own SQLite store) against an in-process server on PostgreSQL, with the back office
editing through the write path, random offline periods, conflicting edits, deletes racing
updates, reassignments and role changes, a fault-injecting proxy (drop, delay, cut after
N bytes), the server killed and restarted mid-push and the database restarted. Then it
quiesces and checks every device against the server's view of its user's scope. Prints a
summary; exits 1 on any divergence.

The database is a private PostgreSQL the sim starts itself (PostgreSQL 15 server binaries
in /usr/lib/postgresql/15/bin, a temporary data directory and port; database restarts are
only injected there) unless --database-url names a scratch database (never production: the
sim writes an organization of its own into it).`

// simOptions are the flags of fieldsync sim.
type simOptions struct {
	seed        int64
	seeds       int
	devices     int
	ops         int
	duration    time.Duration
	faults      bool
	chaos       bool
	databaseURL string
	dir         string
	pause       time.Duration
	tokenTTL    time.Duration
	verbose     bool
	// wrapEngine, set only by tests, puts a deliberately broken engine in
	// front of the real one to prove the checks can fail.
	wrapEngine func(mobile.SyncEngine) mobile.SyncEngine
}

func parseSimFlags(env *runEnv, args []string) (simOptions, error) {
	var o simOptions
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Int64Var(&o.seed, "seed", time.Now().UnixNano()%1_000_000, "seed of the first campaign (each next campaign adds 1)")
	fs.IntVar(&o.seeds, "seeds", 1, "number of campaigns (seeds) to run")
	fs.IntVar(&o.devices, "devices", 20, "simulated phones per campaign")
	fs.IntVar(&o.ops, "ops", 300, "random operations per campaign")
	fs.DurationVar(&o.duration, "duration", 0, "soak: run campaigns with consecutive seeds until this much time has passed (overrides --seeds)")
	fs.BoolVar(&o.faults, "faults", true, "inject network faults through the proxy")
	fs.BoolVar(&o.chaos, "chaos", true, "kill and restart the server (and the private database) during the run")
	fs.StringVar(&o.databaseURL, "database-url", "", "scratch PostgreSQL database to use instead of a private server")
	fs.StringVar(&o.dir, "dir", "", "directory for the devices' stores (default: a temporary one, removed after)")
	fs.DurationVar(&o.pause, "pause", 15*time.Millisecond, "longest pause between two operations")
	fs.DurationVar(&o.tokenTTL, "token-ttl", 10*time.Second, "lifetime of access tokens (short, so devices refresh during the run)")
	fs.BoolVar(&o.verbose, "v", false, "log warnings of the server and the devices to stderr")
	fs.Usage = func() {
		fmt.Fprintf(env.stdout, "usage: %s\n\nflags:\n", simUsage)
		fs.SetOutput(env.stdout)
		fs.PrintDefaults()
		fmt.Fprintln(env.stdout, "\nThe sim's own server takes no settings from the environment; the other commands read:")
		printEnv(env.stdout)
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.devices < 4 || o.ops < 1 || o.seeds < 1 {
		return o, errors.New("--devices must be at least 4, --ops and --seeds at least 1")
	}
	return o, nil
}

// errDiverged makes the command exit non-zero.
var errDiverged = errors.New("divergence found: see the summary above")

func runSim(ctx context.Context, env *runEnv, args []string) error {
	o, err := parseSimFlags(env, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	reports, err := simulate(ctx, env, o)
	if err != nil {
		return err
	}
	for _, r := range reports {
		if r.Diverged() {
			return errDiverged
		}
	}
	return nil
}

// simulate runs the campaigns and prints each summary.
func simulate(ctx context.Context, env *runEnv, o simOptions) ([]*sim.Report, error) {
	logLevel := slog.LevelError + 1
	if o.verbose {
		logLevel = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: logLevel}))
	url := o.databaseURL
	var pg *privatePG
	if url == "" {
		var err error
		if pg, err = startPrivatePG(ctx); err != nil {
			return nil, err
		}
		defer pg.stop()
		url = pg.url()
	}
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "fieldsync-sim-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	store, err := sqlstore.Open(ctx, sqlstore.Config{URL: url, Logger: log, MaxOpenConns: 20})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("database: migrate: %w", err)
	}
	srv, err := startSimServer(ctx, store, log, o.tokenTTL, o.wrapEngine)
	if err != nil {
		return nil, err
	}
	defer srv.close()

	var reports []*sim.Report
	started := time.Now()
	for i := 0; ; i++ {
		if o.duration > 0 && time.Since(started) >= o.duration {
			break
		}
		if o.duration == 0 && i >= o.seeds {
			break
		}
		seed := o.seed + int64(i)
		rep, err := srv.campaign(ctx, o, seed, pg, fmt.Sprintf("%s/seed-%d", dir, seed))
		if err != nil {
			return reports, fmt.Errorf("seed %d: %w", seed, err)
		}
		fmt.Fprint(env.stdout, rep.Summary())
		reports = append(reports, rep)
		if rep.Diverged() {
			break
		}
	}
	if len(reports) > 1 {
		fmt.Fprint(env.stdout, totals(reports))
	}
	return reports, nil
}

// totals sums the campaigns of a soak.
func totals(reports []*sim.Report) string {
	var t sim.Report
	t.Chaos = map[string]int{}
	diverged := 0
	for _, r := range reports {
		t.Devices += r.Devices
		t.Reps += r.Reps
		t.Techs += r.Techs
		t.Managers += r.Managers
		t.Ops += r.Ops
		t.Mutations += r.Mutations
		t.OfficeEdits += r.OfficeEdits
		t.Deletes += r.Deletes
		t.Reassignments += r.Reassignments
		t.RoleChanges += r.RoleChanges
		t.OfflineSpans += r.OfflineSpans
		t.Faults.Dropped += r.Faults.Dropped
		t.Faults.Delayed += r.Faults.Delayed
		t.Faults.Cut += r.Faults.Cut
		t.Faults.CutAll += r.Faults.CutAll
		for k, v := range r.Chaos {
			t.Chaos[k] += v
		}
		t.Conflicts += r.Conflicts
		t.Rejections += r.Rejections
		t.Resets += r.Resets
		t.Retries += r.Retries
		t.Refreshes += r.Refreshes
		t.Pokes += r.Pokes
		t.Pulls += r.Pulls
		t.Pushes += r.Pushes
		t.Duration += r.Duration
		if r.Diverged() {
			diverged++
		}
	}
	t.Seed = reports[0].Seed
	return fmt.Sprintf("\n== %d campaigns (seeds %d..%d), %d diverged; totals: ==\n%s", len(reports), reports[0].Seed,
		reports[len(reports)-1].Seed, diverged, t.Summary())
}

// simServer is the API the devices talk to, in this process so that the
// campaign can kill it: a kill cuts every connection through the proxy at
// once (the answers in flight are lost, as when a process dies) and shuts
// the application down without waiting, and a new one starts on another
// port behind the same proxy, over the same database.
type simServer struct {
	store  *sqlstore.Store
	log    *slog.Logger
	auth   *auth.Service
	engine *fsync.Engine
	front  mobile.SyncEngine
	pokes  *pokebus.Bus
	proxy  *sim.Proxy
	stopBG func()

	// closing ends the event streams of every application at close.
	closing chan struct{}

	mu   gosync.Mutex
	apps []*fiber.App // every application started; the last one serves
	ln   net.Listener // the serving one's

	// armed makes the next push kill the server once it has committed,
	// before its answer leaves; killed is signalled when that happened.
	armed  atomic.Bool
	killed chan struct{}
}

// killingEngine runs the real engine and, when armed, cuts every
// connection right after a push committed: the device never hears back.
type killingEngine struct {
	mobile.SyncEngine
	srv *simServer
}

func (k killingEngine) Push(ctx context.Context, p domain.Principal, req fsync.PushRequest) (fsync.PushResponse, error) {
	resp, err := k.SyncEngine.Push(ctx, p, req)
	if err == nil && len(req.Mutations) > 0 && k.srv.armed.CompareAndSwap(true, false) {
		k.srv.proxy.CutAll()
		k.srv.killed <- struct{}{}
	}
	return resp, err
}

func startSimServer(ctx context.Context, store *sqlstore.Store, log *slog.Logger, tokenTTL time.Duration, wrap func(mobile.SyncEngine) mobile.SyncEngine) (*simServer, error) {
	// An in-process Redis-protocol server carries the pokes (as in dev).
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	rc := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	spec, err := auth.GenerateKeySpec("sim")
	if err != nil {
		return nil, err
	}
	keys, err := auth.ParseKeyRing(spec)
	if err != nil {
		return nil, err
	}
	// Short access tokens make the devices refresh many times per run; the
	// sign-in limits are lifted because every phone signs in from 127.0.0.1.
	svc, err := auth.NewService(auth.Config{
		Users: store, Sessions: store, Limiter: redisrate.New(rc, "fieldsync:sim:rl:"), Keys: keys,
		AccessTTL: tokenTTL, PasswordParams: auth.TestParams,
		AccountLimit: domain.RateLimit{Events: 1_000_000, Period: time.Minute},
		AddressLimit: domain.RateLimit{Events: 1_000_000, Period: time.Minute},
	})
	if err != nil {
		return nil, err
	}
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	bus := pokebus.New(rc, "fieldsync:sim:poke:", log, prometheus.NewRegistry())
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); bus.Run(bgCtx) }()
	store.OnCommit(func(orgID string, _ int64, users []string) { bus.Publish(bgCtx, orgID, users) })
	s := &simServer{
		store: store, log: log, auth: svc, engine: fsync.New(fsync.Config{Store: store, Log: log}), pokes: bus,
		killed: make(chan struct{}, 1), closing: make(chan struct{}),
	}
	s.front = killingEngine{SyncEngine: s.engine, srv: s}
	if wrap != nil {
		s.front = wrap(s.front)
	}
	s.stopBG = func() {
		store.OnCommit(nil)
		cancel()
		wg.Wait()
		_ = rc.Close()
		mr.Close()
	}
	addr, err := s.start()
	if err != nil {
		s.stopBG()
		return nil, err
	}
	if s.proxy, err = sim.NewProxy(addr, 1); err != nil {
		s.stopBG()
		return nil, err
	}
	return s, nil
}

// start serves a new application on a new port and returns its address.
func (s *simServer) start() (string, error) {
	app := mobile.New(mobile.Config{
		Logger: s.log, Registry: prometheus.NewRegistry(), Auth: s.auth, Users: s.store, Records: s.store,
		Sync: s.front, Pokes: s.pokes, Heartbeat: 2 * time.Second, Closing: s.closing,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() { _ = app.Listener(ln) }()
	s.mu.Lock()
	s.apps = append(s.apps, app)
	s.ln = ln
	s.mu.Unlock()
	if s.proxy != nil {
		s.proxy.SetUpstream(ln.Addr().String())
	}
	return ln.Addr().String(), nil
}

// kill ends the application abruptly and starts a new one: its listener
// closes and every connection through the proxy is cut, so nothing it
// was doing reaches a device any more. (fasthttp's Shutdown races with a
// request starting an event stream, so the dead application is shut down
// only at the end, when no device is left.)
func (s *simServer) kill() error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	_ = ln.Close()
	s.proxy.CutAll()
	_, err := s.start()
	return err
}

// killMidPush arms the push hook and restarts the server once a push has
// committed and its answer was cut (or after a second without a push).
func (s *simServer) killMidPush(ctx context.Context) error {
	s.armed.Store(true)
	select {
	case <-s.killed:
	case <-time.After(time.Second):
		s.armed.Store(false)
		select { // it may have fired meanwhile
		case <-s.killed:
		default:
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.kill()
}

func (s *simServer) close() {
	close(s.closing)
	if s.proxy != nil {
		_ = s.proxy.Close()
	}
	s.mu.Lock()
	apps := s.apps
	s.mu.Unlock()
	for _, app := range apps {
		_ = app.ShutdownWithTimeout(2 * time.Second)
	}
	s.stopBG()
}

// campaign seeds a fresh organization and runs one seeded campaign on it.
func (s *simServer) campaign(ctx context.Context, o simOptions, seed int64, pg *privatePG, dir string) (*sim.Report, error) {
	org, specs, manager, err := seedSimOrg(ctx, s.store, o.devices, seed)
	if err != nil {
		return nil, err
	}
	cfg := sim.Config{
		Seed: seed, BaseURL: s.proxy.URL(), Dir: dir, OrgID: org.ID, Devices: specs, Ops: o.ops, Pause: o.pause,
		Store: s.store, Office: manager, Proxy: s.proxy, Log: s.log,
		Explain: func(ctx context.Context, clientID string) (fsync.DeviceReport, error) {
			return s.engine.Explain(ctx, manager, clientID, "", "")
		},
	}
	for _, sp := range specs {
		if sp.Role == domain.RoleSales && sp.UserID != specs[0].UserID {
			cfg.Flipper = sp.UserID // never the rep with two phones' first
			break
		}
	}
	if o.faults {
		cfg.Faults = sim.Faults{Drop: 0.03, Delay: 0.10, MaxDelay: 30 * time.Millisecond, Cut: 0.04, CutMaxBytes: 4096}
	}
	if o.chaos {
		cfg.ChaosEvery = 40
		cfg.Chaos = []sim.Chaos{
			{Name: "server kills mid-push", Weight: 3, Run: s.killMidPush},
			{Name: "server kills", Weight: 1, Run: func(context.Context) error { return s.kill() }},
			{Name: "network outages", Weight: 2, Run: func(context.Context) error { s.proxy.CutAll(); return nil }},
		}
		if pg != nil {
			cfg.Chaos = append(cfg.Chaos, sim.Chaos{Name: "database restarts", Weight: 2, Run: pg.restart})
		}
	}
	return sim.Run(ctx, cfg)
}

// seedSimOrg creates an organization with the campaign's users (about
// half reps, a third techs, the rest managers; the first rep has two
// phones) and three lead trees per rep.
func seedSimOrg(ctx context.Context, store *sqlstore.Store, devices int, seed int64) (*domain.Organization, []sim.DeviceSpec, domain.Principal, error) {
	org := &domain.Organization{Name: fmt.Sprintf("Sim %d", seed), Slug: fmt.Sprintf("sim-%d-%d", seed, time.Now().UnixNano()), TimeZone: "America/Chicago"}
	if err := store.CreateOrganization(ctx, org); err != nil {
		return nil, nil, domain.Principal{}, err
	}
	const password = "sim-password-not-secret"
	hash, err := auth.HashPassword(password, auth.TestParams)
	if err != nil {
		return nil, nil, domain.Principal{}, err
	}
	sys := domain.Principal{OrgID: org.ID, Role: domain.RoleAdmin}
	users := devices - 1 // the first rep's second phone shares a user
	managers := max(1, users/6)
	techs := max(1, users/3)
	var specs []sim.DeviceSpec
	var reps, techIDs []string
	var manager domain.Principal
	err = store.Write(ctx, sys, func(tx domain.Tx) error {
		for i := range users {
			role := domain.RoleSales
			switch {
			case i < managers:
				role = domain.RoleManager
			case i < managers+techs:
				role = domain.RoleFieldTech
			}
			u := &domain.User{Email: fmt.Sprintf("sim-%d-%d@example.test", seed, i), Name: fmt.Sprintf("Sim %s %d", role, i),
				Role: role, Active: true, PasswordHash: hash}
			if err := tx.Create(u); err != nil {
				return err
			}
			specs = append(specs, sim.DeviceSpec{Email: u.Email, Password: password, UserID: u.ID, Role: role})
			switch role {
			case domain.RoleSales:
				reps = append(reps, u.ID)
			case domain.RoleFieldTech:
				techIDs = append(techIDs, u.ID)
			default:
				manager = domain.Principal{OrgID: org.ID, UserID: u.ID, Role: role}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, manager, err
	}
	// The first rep's second phone.
	for _, sp := range specs {
		if sp.Role == domain.RoleSales {
			specs = append(specs, sp)
			break
		}
	}
	// Reps first in the list, so the two phones of one rep are specs[0]
	// and the last.
	for i, sp := range specs {
		if sp.UserID == specs[len(specs)-1].UserID {
			specs[0], specs[i] = specs[i], specs[0]
			break
		}
	}
	for i, rep := range reps {
		for j := range 3 {
			err := store.Write(ctx, sys, func(tx domain.Tx) error {
				lead := &domain.Lead{Source: "web", FirstName: fmt.Sprintf("Lead %d-%d", i, j), LastName: "Sim", Status: domain.LeadNew,
					Zip: "75001", Phone: "+15125550102", AssignedTo: rep}
				if err := tx.Create(lead); err != nil {
					return err
				}
				cust := &domain.Customer{FirstName: lead.FirstName, LastName: "Sim", LeadID: lead.ID}
				if err := tx.Create(cust); err != nil {
					return err
				}
				proj := &domain.Project{Name: "Roof " + lead.FirstName, Type: "replacement", Status: domain.ProjectQuoted,
					LeadID: lead.ID, CustomerID: cust.ID, AssignedTech: techIDs[(i+j)%len(techIDs)]}
				if err := tx.Create(proj); err != nil {
					return err
				}
				start := time.Date(2031, 6, 1+j, 9+i%8, 0, 0, 0, time.UTC)
				if err := tx.Create(&domain.Appointment{Kind: "inspection", Title: "Inspection", StartsAt: start, EndsAt: start.Add(time.Hour),
					Status: domain.AppointmentScheduled, LeadID: lead.ID, ProjectID: proj.ID}); err != nil {
					return err
				}
				return tx.Create(&domain.Interaction{UserID: rep, Kind: domain.InteractionCall, OccurredAt: start, LeadID: lead.ID})
			})
			if err != nil {
				return nil, nil, manager, err
			}
		}
	}
	return org, specs, manager, nil
}
