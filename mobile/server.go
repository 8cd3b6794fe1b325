package mobile

import (
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/iswitchroofs/fieldsync/domain"
)

// DefaultBodyLimit is the largest request body any endpoint reads; each
// endpoint may enforce a smaller one.
const DefaultBodyLimit = 1 << 20

// Config is what the HTTP application needs; cmd/fieldsync fills it.
type Config struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
	Auth     Authenticator
	Users    domain.UserStore
	Records  domain.RecordStore
	// Ready are the readiness checks by dependency name (database, redis, blobs).
	Ready map[string]ReadyCheck
	// BodyLimit overrides DefaultBodyLimit.
	BodyLimit int
	// TrustedProxies are the load balancers whose X-Forwarded-For is
	// believed (addresses or CIDRs); with none, the peer address is the
	// client address (it feeds the sign-in rate limit).
	TrustedProxies []string
	// Version is reported by /healthz.
	Version string
}

type server struct {
	log     *slog.Logger
	auth    Authenticator
	users   domain.UserStore
	records domain.RecordStore
	ready   map[string]ReadyCheck
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
	s := &server{log: cfg.Logger, auth: cfg.Auth, users: cfg.Users, records: cfg.Records, ready: cfg.Ready}
	onError := ErrorHandler(cfg.Logger)
	fc := fiber.Config{
		AppName:               "fieldsync",
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           120 * time.Second,
		DisableStartupMessage: true,
		ErrorHandler:          onError,
	}
	if len(cfg.TrustedProxies) > 0 {
		fc.ProxyHeader = fiber.HeaderXForwardedFor
		fc.EnableTrustedProxyCheck = true
		fc.TrustedProxies = cfg.TrustedProxies
	}
	app := fiber.New(fc)
	metrics := newHTTPMetrics(cfg.Registry)
	app.Use(requestIDMiddleware, observe(cfg.Logger, metrics, onError))

	app.Get("/healthz", healthz)
	app.Get("/readyz", s.readyz)
	promHandler := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	app.Get("/metrics", func(c *fiber.Ctx) error {
		promHandler(c.Context())
		return nil
	})

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
	return app
}
