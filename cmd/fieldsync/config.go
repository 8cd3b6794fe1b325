package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the binary. It is read from the environment in
// one place (loadConfig) and passed down as values: no package below cmd
// reads the environment.
type Config struct {
	HTTPAddr        string
	WorkerHTTPAddr  string
	DataDir         string
	DatabaseURL     string
	RedisURL        string
	MinIO           MinIOSettings
	JWTKeys         string
	AccessTTL       time.Duration
	RefreshTTL      time.Duration
	LogLevel        slog.Level
	LogFormat       string
	TrustedProxies  []string
	ShutdownTimeout time.Duration
	Concurrency     int
	BodyLimit       int
	DBMaxConns      int
	StartupTimeout  time.Duration
	HistoryHorizon  time.Duration
	Alerts          AlertSettings
}

// MinIOSettings select the MinIO photo store; an empty Endpoint selects the
// local photo directory under DataDir.
type MinIOSettings struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Bucket    string
	UseSSL    bool
}

// envVar documents one setting; the README's table is generated from the
// same words, and `fieldsync <cmd> --help` prints them.
type envVar struct {
	Name, Default, Help string
}

var envVars = slices.Concat(coreEnvVars, alertEnvVars)

// coreEnvVars are the settings of the API, the worker and the stores.
var coreEnvVars = []envVar{
	{"FIELDSYNC_HTTP_ADDR", "127.0.0.1:8080", "address the HTTP API listens on"},
	{"FIELDSYNC_WORKER_HTTP_ADDR", "127.0.0.1:9091", "address `fieldsync worker` serves /healthz, /readyz and /metrics on"},
	{"FIELDSYNC_DATA_DIR", "./data", "directory for the embedded default's files (SQLite database, photo directory, dev keys)"},
	{"DATABASE_URL", "(embedded SQLite in FIELDSYNC_DATA_DIR)", "postgres://… selects PostgreSQL; sqlite:PATH a specific SQLite file"},
	{"REDIS_URL", "(dev: in-process)", "redis://host:port/db for jobs, rate limits and pokes; required by serve and worker"},
	{"MINIO_ENDPOINT", "(photo directory in FIELDSYNC_DATA_DIR)", "host:port of MinIO or any S3 endpoint for photos"},
	{"MINIO_ACCESS_KEY", "", "MinIO access key"},
	{"MINIO_SECRET_KEY", "", "MinIO secret key"},
	{"MINIO_BUCKET", "fieldsync-photos", "bucket for photos (created if missing)"},
	{"MINIO_USE_SSL", "false", "true to reach MinIO over TLS"},
	{"FIELDSYNC_JWT_KEYS", "(dev: generated into FIELDSYNC_DATA_DIR)", "signing keys kid:base64secret[,kid:base64secret…]; the first signs, all verify; required by serve"},
	{"FIELDSYNC_ACCESS_TTL", "15m", "lifetime of access tokens"},
	{"FIELDSYNC_REFRESH_TTL", "720h", "lifetime of refresh tokens (longer than the longest offline spell)"},
	{"FIELDSYNC_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"FIELDSYNC_LOG_FORMAT", "json (dev: text)", "json or text"},
	{"FIELDSYNC_TRUSTED_PROXIES", "", "comma-separated load balancer addresses/CIDRs whose X-Forwarded-For is trusted"},
	{"FIELDSYNC_SHUTDOWN_TIMEOUT", "15s", "how long shutdown waits for in-flight work"},
	{"FIELDSYNC_WORKER_CONCURRENCY", "10", "jobs a worker runs at once"},
	{"FIELDSYNC_BODY_LIMIT", "1048576", "largest request body in bytes for endpoints without a limit of their own"},
	{"FIELDSYNC_DB_MAX_CONNS", "10", "database connections per process (PostgreSQL; size replicas × this to the server's max_connections)"},
	{"FIELDSYNC_STARTUP_TIMEOUT", "30s", "how long start-up waits for the database, Redis and the photo store before giving up"},
	{"FIELDSYNC_HISTORY_HORIZON", "1080h", "how long sync change history is kept (45 days); must exceed the longest offline spell, older devices get a full reset"},
}

// loadConfig reads the environment through getenv and validates it. Errors
// name the variable so an operator knows what to fix.
func loadConfig(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	cfg := Config{
		HTTPAddr:       get("FIELDSYNC_HTTP_ADDR", "127.0.0.1:8080"),
		WorkerHTTPAddr: get("FIELDSYNC_WORKER_HTTP_ADDR", "127.0.0.1:9091"),
		DataDir:        get("FIELDSYNC_DATA_DIR", "./data"),
		DatabaseURL:    get("DATABASE_URL", ""),
		RedisURL:       get("REDIS_URL", ""),
		MinIO: MinIOSettings{
			Endpoint:  get("MINIO_ENDPOINT", ""),
			AccessKey: get("MINIO_ACCESS_KEY", ""),
			SecretKey: get("MINIO_SECRET_KEY", ""),
			Bucket:    get("MINIO_BUCKET", "fieldsync-photos"),
		},
		JWTKeys:   get("FIELDSYNC_JWT_KEYS", ""),
		LogFormat: get("FIELDSYNC_LOG_FORMAT", ""),
	}
	var errs []string
	durations := []struct {
		name, def string
		dst       *time.Duration
	}{
		{"FIELDSYNC_ACCESS_TTL", "15m", &cfg.AccessTTL},
		{"FIELDSYNC_REFRESH_TTL", "720h", &cfg.RefreshTTL},
		{"FIELDSYNC_SHUTDOWN_TIMEOUT", "15s", &cfg.ShutdownTimeout},
		{"FIELDSYNC_STARTUP_TIMEOUT", "30s", &cfg.StartupTimeout},
		{"FIELDSYNC_HISTORY_HORIZON", "1080h", &cfg.HistoryHorizon},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(get(d.name, d.def))
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be a positive duration such as %s", d.name, d.def))
		}
		*d.dst = v
	}
	ints := []struct {
		name, def string
		dst       *int
	}{
		{"FIELDSYNC_WORKER_CONCURRENCY", "10", &cfg.Concurrency},
		{"FIELDSYNC_BODY_LIMIT", "1048576", &cfg.BodyLimit},
		{"FIELDSYNC_DB_MAX_CONNS", "10", &cfg.DBMaxConns},
	}
	for _, n := range ints {
		v, err := strconv.Atoi(get(n.name, n.def))
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be a positive whole number", n.name))
		}
		*n.dst = v
	}
	ssl, err := strconv.ParseBool(get("MINIO_USE_SSL", "false"))
	if err != nil {
		errs = append(errs, "MINIO_USE_SSL must be true or false")
	}
	cfg.MinIO.UseSSL = ssl
	if err := cfg.LogLevel.UnmarshalText([]byte(get("FIELDSYNC_LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, "FIELDSYNC_LOG_LEVEL must be debug, info, warn or error")
	}
	if cfg.LogFormat != "" && cfg.LogFormat != "json" && cfg.LogFormat != "text" {
		errs = append(errs, "FIELDSYNC_LOG_FORMAT must be json or text")
	}
	if v := get("FIELDSYNC_TRUSTED_PROXIES", ""); v != "" {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				_, perr := netip.ParsePrefix(p)
				_, aerr := netip.ParseAddr(p)
				if perr != nil && aerr != nil {
					errs = append(errs, fmt.Sprintf("FIELDSYNC_TRUSTED_PROXIES: %q is neither an address nor a CIDR", p))
				}
				cfg.TrustedProxies = append(cfg.TrustedProxies, p)
			}
		}
	}
	if cfg.MinIO.Endpoint != "" && (cfg.MinIO.AccessKey == "" || cfg.MinIO.SecretKey == "") {
		errs = append(errs, "MINIO_ENDPOINT is set: MINIO_ACCESS_KEY and MINIO_SECRET_KEY are required too")
	}
	if u := cfg.DatabaseURL; u != "" && !isPostgresURL(u) && !strings.HasPrefix(u, "sqlite:") && !strings.HasPrefix(u, "file:") {
		errs = append(errs, "DATABASE_URL must start with postgres://, postgresql://, sqlite: or file:")
	}
	alerts, alertErrs := loadAlertSettings(get)
	cfg.Alerts, errs = alerts, append(errs, alertErrs...)
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return cfg, nil
}

func isPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// databaseURL is DATABASE_URL, or the embedded SQLite file in the data dir.
func (c Config) databaseURL() (string, error) {
	if c.DatabaseURL != "" {
		return c.DatabaseURL, nil
	}
	dir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return "", fmt.Errorf("FIELDSYNC_DATA_DIR: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("FIELDSYNC_DATA_DIR: %w", err)
	}
	return "sqlite://" + filepath.Join(dir, "fieldsync.db"), nil
}

// newLogger builds the process logger; dev defaults to text for humans,
// everything else to JSON for log pipelines.
func newLogger(cfg Config, w io.Writer, dev bool) *slog.Logger {
	format := cfg.LogFormat
	if format == "" {
		format = "json"
		if dev {
			format = "text"
		}
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
