package mobile

import (
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iswitchroofs/fieldsync/domain"
)

// DefaultBodyLimit is the request-body limit of endpoints without one of
// their own.
const DefaultBodyLimit = 1 << 20

// Defaults of the event stream and of writing answers.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultWriteTimeout = 60 * time.Second
)

// Config is what the HTTP application needs; cmd/fieldsync fills it.
type Config struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
	Auth     Authenticator
	Users    domain.UserStore
	Records  domain.RecordStore
	// Ready are the readiness checks by dependency name (database, redis, blobs).
	Ready map[string]ReadyCheck
	// BodyLimit overrides DefaultBodyLimit. The server refuses any body over
	// the largest endpoint limit from its headers, before reading it (with
	// Sync set, that is the push limit, fsync.MaxPushBytes); each endpoint
	// checks its own limit after.
	BodyLimit int
	// Sync is the sync engine. The device and sync routes are mounted only
	// when it is set.
	Sync SyncEngine
	// Pokes wakes event streams after commits. Without it GET
	// /v1/sync/events answers 503 and devices rely on their periodic pull.
	Pokes Pokes
	// Heartbeat is how often an event stream sends a comment line, so
	// proxies keep it open and a client that went away is noticed
	// (default DefaultHeartbeat).
	Heartbeat time.Duration
	// WriteTimeout bounds writing one answer (default DefaultWriteTimeout).
	// An event stream renews it at every event it sends, so it is cut off
	// only when the client stops reading.
	WriteTimeout time.Duration
	// TrustedProxies are the load balancers whose X-Forwarded-For is
	// believed (addresses or CIDRs); with none, the peer address is the
	// client address (it feeds the sign-in rate limit).
	TrustedProxies []string
	// Version is reported by /healthz.
	Version string
	// Closing, if set, is closed when the server begins to shut down: open
	// event streams end then, so the shutdown need not wait them out.
	// Without it they end on fasthttp's own signal (RequestCtx.Done), which
	// a stream that opens while a shutdown times out reads as the shutdown
	// resets it: a data race. The caller closes it before Shutdown.
	Closing <-chan struct{}
	// Uploads turns on the photo routes (tus uploads, signed URLs, pairs)
	// and request-body streaming for the uploads; nil leaves them off.
	Uploads *UploadsConfig
}

type server struct {
	log     *slog.Logger
	auth    Authenticator
	users   domain.UserStore
	records domain.RecordStore
	ready   map[string]ReadyCheck

	sync         SyncEngine
	pokes        Pokes
	heartbeat    time.Duration
	writeTimeout time.Duration
	streams      prometheus.Gauge
	proxies      trustedProxies
	closing      <-chan struct{}
}

// New builds the Fiber application with the plumbing and the routes of this
// package. The caller mounts further routes (admin) and calls Listen.
func New(cfg Config) *fiber.App {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	s := &server{
		log: cfg.Logger, auth: cfg.Auth, users: cfg.Users, records: cfg.Records, ready: cfg.Ready,
		sync: cfg.Sync, pokes: cfg.Pokes, heartbeat: cfg.Heartbeat, writeTimeout: cfg.WriteTimeout,
		closing: cfg.Closing,
	}
	// Fiber reads a whole body before any handler runs: its limit must admit
	// the largest endpoint's, and decodeJSON applies each endpoint's own.
	serverLimit := cfg.BodyLimit
	if cfg.Sync != nil {
		serverLimit = max(serverLimit, pushBodyLimit)
	}
	onError := ErrorHandler(cfg.Logger)
	fc := fiber.Config{
		AppName:               "fieldsync",
		BodyLimit:             serverLimit,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           120 * time.Second,
		DisableStartupMessage: true,
		ErrorHandler:          onError,
		// Upload bodies stream (up to 50 MiB each); bodyGuard keeps every
		// other route within serverLimit.
		StreamRequestBody: cfg.Uploads != nil,
	}
	app := fiber.New(fc)
	proxies, err := parseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		// cmd validates the setting first; a bad value here is a wiring bug.
		panic(err)
	}
	s.proxies = proxies
	metrics := newHTTPMetrics(cfg.Registry)
	app.Use(requestIDMiddleware, observe(cfg.Logger, metrics, onError))
	if cfg.Uploads != nil {
		app.Use(bodyGuard(serverLimit))
	}

	s.mountProbes(app, cfg.Registry)

	v1 := app.Group("/v1")
	v1.Post("/auth/sign-in", s.signIn)
	v1.Post("/auth/refresh", s.refresh)
	v1.Post("/auth/sign-out", s.signOut)

	// Authentication is attached per route, not to a group prefix, so an
	// unknown path answers route_not_found rather than unauthorized.
	authedGet := func(path string, h fiber.Handler) { v1.Get(path, s.requireAuth, h) }
	authedGet("/me", s.me)
	authedGet("/leads", s.listLeads)
	for segment, kind := range readableKinds {
		authedGet("/"+segment+"/:id", s.getRecord(kind))
	}
	if cfg.Sync != nil {
		s.mountSync(v1, cfg.Registry)
	}
	if cfg.Uploads != nil {
		s.mountUploads(v1, *cfg.Uploads)
	}
	return app
}
