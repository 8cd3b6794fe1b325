package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs"
	"github.com/iswitchroofs/fieldsync/mobile"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	"github.com/iswitchroofs/fieldsync/storage/blob"
	"github.com/iswitchroofs/fieldsync/storage/pokebus"
	"github.com/iswitchroofs/fieldsync/storage/redisrate"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// system is one running process's parts. Parts are opened in dependency
// order and closed in reverse, each with the shutdown deadline.
type system struct {
	cfg      Config
	log      *slog.Logger
	clock    domain.Clock
	registry *prometheus.Registry
	store    *sqlstore.Store
	blobs    domain.BlobStore
	redis    redis.UniversalClient
	redisOpt asynq.RedisConnOpt
	keys     *auth.KeyRing
	auth     *auth.Service
	engine   *fsync.Engine
	pokes    *pokebus.Bus
	closers  []namedCloser
	// httpAddr is where the API listens (FIELDSYNC_HTTP_ADDR may ask for port 0).
	httpAddr string
	// closing is closed when the HTTP server begins to shut down, which
	// ends its event streams (mobile.Config.Closing).
	closing chan struct{}
}

type namedCloser struct {
	name string
	fn   func(ctx context.Context) error
}

func (s *system) onClose(name string, fn func(ctx context.Context) error) {
	s.closers = append(s.closers, namedCloser{name, fn})
}

// close shuts parts down in reverse dependency order: what was opened last
// (the HTTP server, the worker) stops first, the database last.
func (s *system) close() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	for i := len(s.closers) - 1; i >= 0; i-- {
		c := s.closers[i]
		if err := c.fn(ctx); err != nil {
			s.log.Warn("shutdown step failed", slog.String("part", c.name), slog.String("error", err.Error()))
		} else {
			s.log.Debug("stopped", slog.String("part", c.name))
		}
	}
	s.closers = nil
}

type mode int

const (
	modeServe mode = iota
	modeWorker
	modeDev
	modeTool // migrate, seed: database only
)

func newSystem(env *runEnv, m mode) (*system, error) {
	cfg, err := loadConfig(env.getenv)
	if err != nil {
		return nil, err
	}
	logOut := env.stderr
	log := newLogger(cfg, logOut, m == modeDev)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &system{cfg: cfg, log: log, clock: domain.ClockFunc(time.Now), registry: reg, closing: make(chan struct{})}, nil
}

// openStore connects to the database. Dev and the tools may migrate; serve
// and worker only check that the schema is current.
func (s *system) openStore(ctx context.Context, migrate bool) error {
	url, err := s.cfg.databaseURL()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartupTimeout)
	defer cancel()
	st, err := sqlstore.Open(ctx, sqlstore.Config{URL: url, Clock: s.clock, Logger: s.log, MaxOpenConns: s.cfg.DBMaxConns})
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	s.store = st
	s.onClose("database", func(context.Context) error { return st.Close() })
	if migrate {
		if err := st.Migrate(ctx); err != nil {
			return fmt.Errorf("database: migrate: %w", err)
		}
	}
	if err := st.CheckSchema(ctx); err != nil {
		return fmt.Errorf("database: %s", domain.ErrorMessage(err))
	}
	return nil
}

// openBlobs connects the photo store: MinIO when configured, else the
// directory under the data dir.
func (s *system) openBlobs(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartupTimeout)
	defer cancel()
	if s.cfg.MinIO.Endpoint != "" {
		m, err := blob.NewMinIO(ctx, blob.MinIOConfig{
			Endpoint:  s.cfg.MinIO.Endpoint,
			AccessKey: s.cfg.MinIO.AccessKey,
			SecretKey: s.cfg.MinIO.SecretKey,
			Bucket:    s.cfg.MinIO.Bucket,
			UseSSL:    s.cfg.MinIO.UseSSL,
		})
		if err != nil {
			return fmt.Errorf("photo store (MinIO at %s): %w", s.cfg.MinIO.Endpoint, err)
		}
		s.blobs = m
		return nil
	}
	dir := filepath.Join(s.cfg.DataDir, "photos")
	d, err := blob.NewDir(dir)
	if err != nil {
		return fmt.Errorf("photo store (directory %s): %w", dir, err)
	}
	s.blobs = d
	return nil
}

// openRedis connects to REDIS_URL, or in dev without one starts an
// in-process Redis-protocol server (miniredis) so that asynq, rate limits
// and pokes run unchanged with zero configuration.
func (s *system) openRedis(ctx context.Context, allowEmbedded bool) error {
	url := s.cfg.RedisURL
	if url == "" {
		if !allowEmbedded {
			return errors.New("REDIS_URL is required (e.g. redis://127.0.0.1:6379/0)")
		}
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("embedded redis: %w", err)
		}
		s.onClose("embedded redis", func(context.Context) error { mr.Close(); return nil })
		url = "redis://" + mr.Addr() + "/0"
		s.log.Info("embedded redis started (jobs do not survive a restart)", slog.String("addr", mr.Addr()))
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	client := redis.NewClient(opt)
	s.redis = client
	s.onClose("redis client", func(context.Context) error { return client.Close() })
	aopt, err := asynq.ParseRedisURI(url)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	s.redisOpt = aopt
	pctx, cancel := context.WithTimeout(ctx, s.cfg.StartupTimeout)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", opt.Addr, err)
	}
	return nil
}

// openAuth parses the signing keys (dev generates and keeps them in the data
// dir so tokens survive a restart) and builds the session service.
func (s *system) openAuth(dev bool) error {
	spec := s.cfg.JWTKeys
	if spec == "" {
		if !dev {
			return errors.New("FIELDSYNC_JWT_KEYS is required: set it to kid:base64secret with at least 32 random bytes, e.g. main:$(openssl rand -base64 48)")
		}
		var err error
		spec, err = devKeySpec(s.cfg.DataDir)
		if err != nil {
			return err
		}
	}
	keys, err := auth.ParseKeyRing(spec)
	if err != nil {
		return fmt.Errorf("FIELDSYNC_JWT_KEYS: %w", err)
	}
	s.keys = keys
	svc, err := auth.NewService(auth.Config{
		Users:      s.store,
		Sessions:   s.store,
		Limiter:    redisrate.New(s.redis, "fieldsync:rl:"),
		Keys:       keys,
		Clock:      s.clock,
		AccessTTL:  s.cfg.AccessTTL,
		RefreshTTL: s.cfg.RefreshTTL,
	})
	if err != nil {
		return err
	}
	s.auth = svc
	return nil
}

// devKeySpec reads the dev signing keys from the data dir, creating them on
// first use with owner-only permissions.
func devKeySpec(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "jwt-keys")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("dev signing keys: %w", err)
	}
	spec, err := auth.GenerateKeySpec("dev-" + time.Now().UTC().Format("20060102"))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", fmt.Errorf("dev signing keys: %w", err)
	}
	if err := os.WriteFile(path, []byte(spec+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dev signing keys: %w", err)
	}
	return spec, nil
}

// openSync builds the sync engine and the poke bus, and hooks the bus to
// the database's commits so devices of the users a commit touched are told
// to pull, on every replica.
func (s *system) openSync(ctx context.Context) {
	bus := pokebus.New(s.redis, "fieldsync:poke:", s.log, s.registry)
	runCtx := s.background(ctx, "poke bus", bus.Run, func() { s.store.OnCommit(nil) })
	s.store.OnCommit(func(orgID string, _ int64, users []string) {
		bus.Publish(runCtx, orgID, users)
	})
	s.pokes = bus
	s.engine = fsync.New(fsync.Config{Store: s.store, Clock: s.clock, Log: s.log, Metrics: newSyncMetrics(s.registry)})
}

var (
	_ mobile.Pokes      = (*pokebus.Bus)(nil)
	_ mobile.SyncEngine = (*fsync.Engine)(nil)
)

// httpApp builds the Fiber application with readiness checks on every
// dependency this process uses.
func (s *system) httpApp() *fiber.App {
	ready := s.readyChecks()
	app := mobile.New(mobile.Config{
		Logger:         s.log,
		Registry:       s.registry,
		Auth:           s.auth,
		Users:          s.store,
		Records:        s.store,
		Ready:          ready,
		Sync:           s.engine,
		Pokes:          s.pokes,
		BodyLimit:      s.cfg.BodyLimit,
		TrustedProxies: s.cfg.TrustedProxies,
		Version:        version,
		Uploads:        s.uploadsConfig(),
		Closing:        s.closing,
	})
	s.mountAdmin(app)
	return app
}

// beginClosing closes s.closing (once: a worker's probes server shuts
// down through the same step).
func (s *system) beginClosing() {
	select {
	case <-s.closing:
	default:
		close(s.closing)
	}
}

// readyChecks are the readiness checks of every dependency a process uses.
func (s *system) readyChecks() map[string]mobile.ReadyCheck {
	return map[string]mobile.ReadyCheck{
		"database": s.store.Ping,
		"blobs":    s.blobs.Ping,
		"redis":    func(ctx context.Context) error { return s.redis.Ping(ctx).Err() },
	}
}

// probesApp is the worker's HTTP application: health, readiness, metrics.
func (s *system) probesApp() *fiber.App {
	return mobile.NewProbes(mobile.ProbeConfig{Logger: s.log, Registry: s.registry, Ready: s.readyChecks()})
}

// listen starts the HTTP server on the API's address in the background and
// registers its graceful shutdown: stop accepting, finish in-flight
// requests, then return.
func (s *system) listen(app *fiber.App, onReady func(addr string)) (<-chan error, error) {
	return s.listenOn(s.cfg.HTTPAddr, app, onReady)
}

// listenOn is listen on another address (the worker's probes).
func (s *system) listenOn(addr string, app *fiber.App, onReady func(addr string)) (<-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	s.onClose("http server", func(ctx context.Context) error {
		deadline, ok := ctx.Deadline()
		timeout := s.cfg.ShutdownTimeout
		if ok {
			timeout = time.Until(deadline)
		}
		s.beginClosing()
		return app.ShutdownWithTimeout(timeout)
	})
	addr = ln.Addr().String()
	s.httpAddr = addr
	s.log.Info("http listening", slog.String("addr", addr))
	if onReady != nil {
		onReady(addr)
	}
	return errc, nil
}

// startWorker runs the asynq server and the outbox relay until shutdown.
func (s *system) startWorker(ctx context.Context) error {
	srv := asynq.NewServer(s.redisOpt, asynq.Config{
		Concurrency: s.cfg.Concurrency,
		// Lead alerts are latency-sensitive: look for new and delayed tasks
		// far more often than asynq's defaults (1 s and 5 s).
		TaskCheckInterval:        100 * time.Millisecond,
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          s.cfg.ShutdownTimeout,
		Logger:                   asynqLogger{s.log},
		RetryDelayFunc:           alertRetryDelay,
	})
	mux := jobs.NewMux(jobs.Deps{Log: s.log, Clock: s.clock})
	s.startPhotoJobs(ctx, mux)
	if err := s.startAlertJobs(ctx, mux); err != nil {
		return err
	}
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	s.onClose("job worker", func(context.Context) error { srv.Shutdown(); return nil })

	pruner := &jobs.HistoryPruner{Store: s.store, Horizon: s.cfg.HistoryHorizon, Clock: s.clock, Log: s.log}
	s.background(ctx, "history pruner", pruner.Run, nil)

	client := asynq.NewClientFromRedisClient(s.redis)
	relay := &jobs.Relay{Outbox: s.store, Queue: client, Clock: s.clock, Log: s.log, Interval: 500 * time.Millisecond}
	s.background(ctx, "outbox relay", relay.Run, nil)
	return nil
}

// background runs loop until shutdown, which cancels it (after calling
// before, if set) and waits for it within the shutdown deadline. The loop's
// context outlives ctx's cancellation (a signal starts shutdown; the loop
// stops in its turn, in reverse start order). It returns that context.
func (s *system) background(ctx context.Context, name string, loop func(context.Context), before func()) context.Context {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); loop(runCtx) }()
	s.onClose(name, func(ctx context.Context) error {
		if before != nil {
			before()
		}
		cancel()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	return runCtx
}

// asynqLogger routes asynq's logs into our structured logger.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) {
	l.log.Debug(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (l asynqLogger) Info(args ...any) {
	l.log.Info(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (l asynqLogger) Warn(args ...any) {
	l.log.Warn(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (l asynqLogger) Error(args ...any) {
	l.log.Error(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (l asynqLogger) Fatal(args ...any) {
	l.log.Error(fmt.Sprint(args...), slog.String("component", "asynq"))
}
