package mobile

import (
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// ProbeConfig is what NewProbes needs.
type ProbeConfig struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Ready are the readiness checks by dependency name.
	Ready map[string]ReadyCheck
}

// NewProbes builds the HTTP application of a process that serves no device
// API (the worker): GET /healthz, /readyz and /metrics, with the same
// request ids, access logs and problem+json errors as New, so that an
// orchestrator can restart a wedged worker and take one that lost its
// database out of rotation, and Prometheus can scrape it.
func NewProbes(cfg ProbeConfig) *fiber.App {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	onError := ErrorHandler(cfg.Logger)
	app := fiber.New(fiber.Config{
		AppName:               "fieldsync-probes",
		BodyLimit:             4 << 10,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           120 * time.Second,
		DisableStartupMessage: true,
		ErrorHandler:          onError,
	})
	app.Use(requestIDMiddleware, observe(cfg.Logger, newHTTPMetrics(cfg.Registry), onError))
	s := &server{log: cfg.Logger, ready: cfg.Ready}
	s.mountProbes(app, cfg.Registry)
	return app
}

// mountProbes adds the health, readiness and metrics routes.
func (s *server) mountProbes(app *fiber.App, reg *prometheus.Registry) {
	app.Get("/healthz", healthz)
	app.Get("/readyz", s.readyz)
	promHandler := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	app.Get("/metrics", func(c *fiber.Ctx) error {
		promHandler(c.Context())
		return nil
	})
}
