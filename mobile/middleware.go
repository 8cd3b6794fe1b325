package mobile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-ID"

type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
	tokenExpiryKey
)

// RequestID returns the id of the request being served ("" outside one).
func RequestID(c *fiber.Ctx) string {
	if v, ok := c.Locals(requestIDKey).(string); ok {
		return v
	}
	return ""
}

// RequestIDFromContext returns the request id carried by ctx, for code below
// the HTTP layer that logs.
func RequestIDFromContext(ctx context.Context) string {
	v, _ := ctx.Value(requestIDKey).(string)
	return v
}

// validRequestID accepts a caller's id only if it is short and plain, so a
// client cannot inject text into our logs through it.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestIDMiddleware gives every request an id (the caller's if it sent a
// sane one, so a phone can correlate its own logs) and puts it in the
// response header and the request context.
func requestIDMiddleware(c *fiber.Ctx) error {
	// Fiber's strings alias fasthttp's reused buffers: copy anything kept
	// beyond this call.
	id := strings.Clone(c.Get(RequestIDHeader))
	if !validRequestID(id) {
		id = newRequestID()
	}
	c.Locals(requestIDKey, id)
	c.SetUserContext(context.WithValue(c.UserContext(), requestIDKey, id))
	c.Set(RequestIDHeader, id)
	return c.Next()
}

// routePath is the matched route template ("/v1/leads/:id"), never the raw
// path: raw paths and query strings can carry personal data.
func routePath(c *fiber.Ctx) string {
	if r := c.Route(); r != nil && r.Path != "" && r.Path != "/" {
		return r.Path
	}
	if c.Path() == "/" {
		return "/"
	}
	return "unmatched"
}

// httpMetrics are the RED metrics of the HTTP surface.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fieldsync_http_requests_total",
			Help: "HTTP requests served, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fieldsync_http_request_duration_seconds",
			Help:    "HTTP request latency, by route template and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fieldsync_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight)
	return m
}

// observe wraps the whole chain: it runs the error handler itself so the
// status it logs and counts is the one the client receives.
func observe(log *slog.Logger, m *httpMetrics, onError fiber.ErrorHandler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		m.inflight.Inc()
		defer m.inflight.Dec()
		if err := c.Next(); err != nil {
			if herr := onError(c, err); herr != nil {
				return herr
			}
		}
		elapsed := time.Since(start)
		status := c.Response().StatusCode()
		route := routePath(c)
		// Label values are retained by Prometheus, and Fiber's Method()
		// aliases a reused buffer: copy it, or labels change under us.
		method := strings.Clone(c.Method())
		m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
		attrs := []slog.Attr{
			slog.String("request_id", RequestID(c)),
			slog.String("method", method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		}
		// Body() would read a streamed body (the event stream) to its end
		// here, holding every event back until then: a stream's size is
		// not known when it starts, so it is not logged.
		if !c.Response().IsBodyStream() {
			attrs = append(attrs, slog.Int("bytes_out", len(c.Response().Body())))
		}
		if p, ok := principalOf(c); ok {
			attrs = append(attrs, slog.String("user_id", p.UserID), slog.String("org_id", p.OrgID))
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(c.UserContext(), level, "http request", attrs...)
		return nil
	}
}
