package client_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	"github.com/iswitchroofs/fieldsync/mobile/client"
	"github.com/iswitchroofs/fieldsync/mobile/client/sim"
	"github.com/iswitchroofs/fieldsync/storage/pokebus"
	"github.com/iswitchroofs/fieldsync/storage/redisrate"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

const password = "correct horse battery staple"

// shiftClock is the auth service's clock: tests move it forward to expire
// access tokens without waiting.
type shiftClock struct{ offset atomic.Int64 }

func (c *shiftClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *shiftClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// env is a real server in the test process: the Fiber application of
// mobile over the sync engine, the session service and the PostgreSQL
// store, pokes over the real Redis, listening on a local port.
type env struct {
	store *sqlstore.Store
	org   *domain.Organization
	sys   domain.Principal
	clock *shiftClock
	url   string
	hash  string
}

func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	rc := redis.NewClient(opts)
	t.Cleanup(func() { _ = rc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rc.Ping(ctx).Err(); err != nil {
		msg := "Redis not reachable at " + opts.Addr + ": start it with `make services`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return rc
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newEnv(t *testing.T, tune ...func(*mobile.Config)) *env {
	t.Helper()
	s := sqltest.Postgres(t)
	rc := redisClient(t)
	prefix := "fieldsync:clienttest:" + randomHex(4) + ":"
	spec, err := auth.GenerateKeySpec("test")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	clock := &shiftClock{}
	svc, err := auth.NewService(auth.Config{
		Users: s, Sessions: s, Limiter: redisrate.New(rc, prefix+"rl:"), Keys: keys, Clock: clock,
		PasswordParams: auth.TestParams,
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	bus := pokebus.New(rc, prefix+"poke:", log, prometheus.NewRegistry())
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); bus.Run(ctx) }()
	s.OnCommit(func(orgID string, _ int64, users []string) { bus.Publish(ctx, orgID, users) })
	mc := mobile.Config{
		Logger: log, Auth: svc, Users: s, Records: s,
		Sync: fsync.New(fsync.Config{Store: s}), Pokes: bus,
	}
	for _, f := range tune {
		f(&mc)
	}
	app := mobile.New(mc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() {
		_ = app.ShutdownWithTimeout(5 * time.Second)
		s.OnCommit(nil)
		cancel()
		wg.Wait()
	})
	hash, err := auth.HashPassword(password, auth.TestParams)
	if err != nil {
		t.Fatal(err)
	}
	org := sqltest.Org(t, s)
	return &env{store: s, org: org, sys: sqltest.System(org), clock: clock, url: "http://" + ln.Addr().String(), hash: hash}
}

// user creates a team member who can sign in with password.
func (e *env) user(t *testing.T, role domain.Role) *domain.User {
	t.Helper()
	return sqltest.User(t, e.store, e.org, role, func(u *domain.User) { u.PasswordHash = e.hash })
}

// switchable is a transport tests can take offline, or make lose the
// answer of a request the server did process.
type switchable struct {
	base    http.RoundTripper
	offline atomic.Bool
	// before runs ahead of each request; loseAnswer says to forward it and
	// then fail as if the connection broke on the way back.
	before func(r *http.Request) (loseAnswer bool)
}

func (s *switchable) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.offline.Load() {
		return nil, errors.New("test: the device is offline")
	}
	lose := false
	if s.before != nil {
		lose = s.before(r)
	}
	resp, err := s.base.RoundTrip(r)
	if err == nil && lose {
		_ = resp.Body.Close()
		return nil, errors.New("test: connection lost before the answer arrived")
	}
	return resp, err
}

type device struct {
	*client.Client
	path string
	cfg  client.Config
	net  *switchable
	user *domain.User
}

// device opens a client for u on a fresh store and signs it in.
func (e *env) device(t *testing.T, u *domain.User, tune ...func(*client.Config)) *device {
	t.Helper()
	sw := &switchable{base: http.DefaultTransport.(*http.Transport).Clone()}
	cfg := client.Config{
		BaseURL: e.url, StorePath: filepath.Join(t.TempDir(), "device.db"),
		HTTPClient: &http.Client{Transport: sw, Timeout: 20 * time.Second},
		RetryBase:  5 * time.Millisecond, RetryMax: 50 * time.Millisecond, MaxAttempts: 20,
		PullInterval: time.Hour, Seed: 1,
	}
	for _, f := range tune {
		f(&cfg)
	}
	c, err := client.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.SignIn(context.Background(), u.Email, password); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	return &device{Client: c, path: cfg.StorePath, cfg: cfg, net: sw, user: u}
}

// reopen closes the client and opens its store again: the app restarted.
func (d *device) reopen(t *testing.T) {
	t.Helper()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := client.Open(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	d.Client = c
}

func (d *device) mustSync(t *testing.T) {
	t.Helper()
	if err := d.Sync(context.Background()); err != nil {
		t.Fatalf("sync of %s: %v", d.user.Role, err)
	}
}

func (d *device) mutate(t *testing.T, name string, args any) int64 {
	t.Helper()
	id, err := d.Mutate(context.Background(), name, args)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// requireConverged fails unless the device's committed copy is exactly its
// user's scope on the server, record by record and field by field, and the
// protocol's checksums agree.
func (e *env) requireConverged(t *testing.T, d *device) {
	t.Helper()
	ctx := context.Background()
	u, err := e.store.FindUser(ctx, e.org.ID, d.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, err := synctest.ServerScope(ctx, e.store, sqltest.As(u))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := d.ServerCopies(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	local := &synctest.Device{Records: map[synctest.Key]synctest.Record{}, Schema: fsync.SchemaVersion}
	for _, r := range recs {
		local.Records[synctest.Key{Kind: r.Kind, ID: r.ID}] = synctest.Record{Version: r.Version, Data: r.Data}
	}
	if diff := local.Diff(want); len(diff) > 0 {
		t.Fatalf("device of %s differs from its scope:\n%v", u.Role, diff)
	}
	bad, err := d.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("checksums differ in %v", bad)
	}
}

func field(t *testing.T, d *device, kind domain.EntityKind, id, name string) string {
	t.Helper()
	data, ok, err := d.Get(context.Background(), kind, id)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "<absent>"
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	v, _ := m[name].(string)
	return v
}

// proxy puts a fault-injecting proxy in front of the server, closed when
// the test ends.
func (e *env) proxy(t *testing.T) *sim.Proxy {
	t.Helper()
	p, err := sim.NewProxy(strings.TrimPrefix(e.url, "http://"), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// run runs the device's sync loop until the test ends, which then checks
// that it stopped cleanly.
func (d *device) run(t *testing.T) {
	t.Helper()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}
