package pokebus_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/pokebus"
)

// waitTimeout bounds every wait; the tests never assert how long anything
// took, only that it happened before this.
const waitTimeout = 10 * time.Second

// redisOptions returns the options of the real Redis named by
// TEST_REDIS_URL. When it does not answer the test skips, or fails under
// CI=true, with one line naming what is missing.
func redisOptions(t *testing.T) *redis.Options {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		msg := "Redis not reachable at " + opts.Addr + ": start it with `make services`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return opts
}

func newClient(t *testing.T, opts *redis.Options) *redis.Client {
	t.Helper()
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// uniquePrefix keeps parallel tests (and other packages' pub/sub, which
// ignores database numbers) apart.
func uniquePrefix(t *testing.T) string {
	return "fieldsync-test:poke:" + randomHex(t) + ":"
}

// lockedBuffer is a log sink the bus may write to from its goroutines.
type lockedBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// replica is one server process's bus, with its own metrics and logs.
type replica struct {
	bus  *pokebus.Bus
	reg  *prometheus.Registry
	logs *lockedBuffer
}

func newReplica(t *testing.T, client redis.UniversalClient, prefix string) *replica {
	t.Helper()
	r := &replica{reg: prometheus.NewRegistry(), logs: &lockedBuffer{}}
	r.bus = pokebus.New(client, prefix, slog.New(slog.NewJSONHandler(r.logs, nil)), r.reg)
	return r
}

// run starts the replica's subscription and waits until Redis confirmed it,
// so nothing published afterwards can be missed. Run must return when its
// context ends; the cleanup waits for that.
func (r *replica) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.bus.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Error("Run did not return after its context ended")
		}
	})
	r.waitSubscriptions(t, 1)
}

func (r *replica) waitSubscriptions(t *testing.T, n float64) {
	t.Helper()
	waitFor(t, "the poke subscription to be confirmed", func() bool {
		return r.metric(t, "fieldsync_sync_poke_subscriptions_total").GetCounter().GetValue() >= n
	})
}

// metric returns the one series of the named metric (a zero one if absent).
func (r *replica) metric(t *testing.T, name string) *dto.Metric {
	t.Helper()
	families, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0]
		}
	}
	return &dto.Metric{}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// listener is one local subscriber, named for failure messages.
type listener struct {
	name   string
	ch     <-chan struct{}
	cancel func()
}

func subscribe(t *testing.T, r *replica, name, org, user string, role domain.Role) *listener {
	t.Helper()
	ch, cancel := r.bus.Subscribe(org, user, role)
	t.Cleanup(cancel)
	return &listener{name: name, ch: ch, cancel: cancel}
}

// pending reports whether a poke is waiting, and takes it.
func (l *listener) pending() bool {
	select {
	case _, ok := <-l.ch:
		return ok
	default:
		return false
	}
}

func (l *listener) await(t *testing.T) {
	t.Helper()
	select {
	case <-l.ch:
	case <-time.After(waitTimeout):
		t.Fatalf("%s was not poked", l.name)
	}
}

// barrier publishes to an organization only sentinel listens to and waits
// for it: Redis delivers one subscription's messages in publish order, and
// the bus fans each out before reading the next, so once the sentinel is
// poked every earlier poke has reached (or skipped) every listener.
func barrier(t *testing.T, pub *pokebus.Bus, sentinel *listener, org string) {
	t.Helper()
	pub.Publish(context.Background(), org, nil)
	sentinel.await(t)
}

const (
	org1     = "11111111-1111-4111-8111-111111111111"
	org2     = "22222222-2222-4222-8222-222222222222"
	orgFence = "99999999-9999-4999-8999-999999999999"
	rep1     = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	rep2     = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
	tech1    = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
	boss     = "dddddddd-dddd-4ddd-8ddd-dddddddddddd"
)

// testBundle is two replicas on one key prefix, pub publishing and sub
// subscribed, with sub's sentinel listener for barrier.
type testBundle struct {
	pub, sub *replica
	sentinel *listener
}

// setup builds the replicas, tunes sub's bus, and returns once sub's
// subscription is confirmed.
func setup(t *testing.T, pubOpts, subOpts *redis.Options, tune ...func(*pokebus.Bus)) *testBundle {
	t.Helper()
	prefix := uniquePrefix(t)
	b := &testBundle{pub: newReplica(t, newClient(t, pubOpts), prefix), sub: newReplica(t, newClient(t, subOpts), prefix)}
	for _, f := range tune {
		f(b.sub.bus)
	}
	b.sub.run(t)
	b.sentinel = subscribe(t, b.sub, "sentinel", orgFence, boss, domain.RoleAdmin)
	return b
}

// TestPokesReachTheRightListenersOnAnotherReplica publishes on one replica
// and listens on another, as two API servers behind a load balancer would.
func TestPokesReachTheRightListenersOnAnotherReplica(t *testing.T) {
	t.Parallel()
	opts := redisOptions(t)
	b := setup(t, opts, opts)
	pub, sub, sentinel := b.pub, b.sub, b.sentinel
	manager1 := subscribe(t, sub, "org1 manager", org1, boss, domain.RoleManager)
	admin1 := subscribe(t, sub, "org1 admin", org1, "admin-1", domain.RoleAdmin)
	rep1a := subscribe(t, sub, "rep1 phone", org1, rep1, domain.RoleSales)
	rep1b := subscribe(t, sub, "rep1 tablet", org1, rep1, domain.RoleSales)
	rep2L := subscribe(t, sub, "rep2", org1, rep2, domain.RoleSales)
	tech1L := subscribe(t, sub, "tech1", org1, tech1, domain.RoleFieldTech)
	// Same user id in another organization: organizations never mix.
	rep1Org2 := subscribe(t, sub, "rep1 id in org2", org2, rep1, domain.RoleSales)
	manager2 := subscribe(t, sub, "org2 manager", org2, boss, domain.RoleManager)
	all := []*listener{manager1, admin1, rep1a, rep1b, rep2L, tech1L, rep1Org2, manager2}

	check := func(step string, want ...*listener) {
		t.Helper()
		barrier(t, pub.bus, sentinel, orgFence)
		for _, l := range all {
			wanted := false
			for _, w := range want {
				wanted = wanted || w == l
			}
			if got := l.pending(); got != wanted {
				t.Errorf("%s: %s poked = %v, want %v", step, l.name, got, wanted)
			}
		}
	}

	pub.bus.Publish(context.Background(), org1, []string{rep1})
	check("commit touching rep1", manager1, admin1, rep1a, rep1b)

	pub.bus.Publish(context.Background(), org1, []string{rep2, tech1})
	check("commit touching rep2 and tech1", manager1, admin1, rep2L, tech1L)

	pub.bus.Publish(context.Background(), org1, nil)
	check("commit touching no rep", manager1, admin1)

	pub.bus.Publish(context.Background(), org2, []string{rep1})
	check("commit in org2", rep1Org2, manager2)

	// A listener that stopped listening is never poked again, and its
	// channel is closed so a reader blocked on it wakes.
	rep1a.cancel()
	rep1a.cancel() // cancel is idempotent
	if _, ok := <-rep1a.ch; ok {
		t.Error("a cancelled subscription's channel is still open")
	}
	all = []*listener{manager1, admin1, rep1b, rep2L, tech1L, rep1Org2, manager2}
	pub.bus.Publish(context.Background(), org1, []string{rep1})
	check("after rep1's phone left", manager1, admin1, rep1b)

	// Delivery is observed as commit-to-delivery lag, once per message.
	h := sub.metric(t, "fieldsync_sync_poke_lag_seconds").GetHistogram()
	if h.GetSampleCount() != 10 || h.GetSampleSum() < 0 {
		t.Errorf("lag histogram has %d samples (sum %v), want 10: 5 pokes and 5 barriers", h.GetSampleCount(), h.GetSampleSum())
	}
	if n := pub.metric(t, "fieldsync_sync_poke_publish_errors_total").GetCounter().GetValue(); n != 0 {
		t.Errorf("%v publish errors", n)
	}
}

// TestBurstCoalescesIntoOnePendingPoke: a listener that is busy (its phone
// is pulling) while many commits land has exactly one poke waiting after.
func TestBurstCoalescesIntoOnePendingPoke(t *testing.T) {
	t.Parallel()
	opts := redisOptions(t)
	b := setup(t, opts, opts)
	rep := subscribe(t, b.sub, "rep1", org1, rep1, domain.RoleSales)

	for range 25 {
		b.pub.bus.Publish(context.Background(), org1, []string{rep1})
	}
	barrier(t, b.pub.bus, b.sentinel, orgFence)
	if !rep.pending() {
		t.Fatal("no poke after a burst")
	}
	if rep.pending() {
		t.Fatal("a burst left more than one poke pending")
	}
	if n := b.sub.metric(t, "fieldsync_sync_poke_lag_seconds").GetHistogram().GetSampleCount(); n != 26 {
		t.Errorf("lag histogram has %d samples, want 26", n)
	}
}

// TestRecoversWhenRedisDropsTheSubscriber kills the subscribing connection
// on the real Redis (as a Redis restart or failover would): Run subscribes
// again, pokes every local listener once because pokes published in the gap
// are lost, and delivers new pokes.
func TestRecoversWhenRedisDropsTheSubscriber(t *testing.T) {
	t.Parallel()
	opts := redisOptions(t)
	subOpts := *opts
	subOpts.ClientName = "fieldsync-pokebus-test-" + randomHex(t)
	b := setup(t, opts, &subOpts)
	rep := subscribe(t, b.sub, "rep1", org1, rep1, domain.RoleSales)
	bystander := subscribe(t, b.sub, "rep2", org1, rep2, domain.RoleSales)

	admin := newClient(t, opts)
	ctx := context.Background()
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+subOpts.ClientName+" ") {
			continue
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
		if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err != nil {
			t.Fatal(err)
		}
		killed++
	}
	if killed == 0 {
		t.Fatalf("no connection named %s in CLIENT LIST:\n%s", subOpts.ClientName, list)
	}

	expectRecovered(t, b, rep, bystander)
	if !strings.Contains(b.sub.logs.String(), "poke subscription lost") {
		t.Errorf("the lost subscription was not logged:\n%s", b.sub.logs.String())
	}
}

// expectRecovered waits for sub's second subscription, checks that every
// listener got the catch-up poke (whatever was published in the gap is
// lost), then that a new poke reaches target and only target.
func expectRecovered(t *testing.T, b *testBundle, target, bystander *listener) {
	t.Helper()
	b.sub.waitSubscriptions(t, 2)
	for _, l := range []*listener{b.sentinel, target, bystander} {
		l.await(t)
	}
	b.pub.bus.Publish(context.Background(), org1, []string{rep1})
	barrier(t, b.pub.bus, b.sentinel, orgFence)
	if !target.pending() {
		t.Error("no poke delivered after recovery")
	}
	if bystander.pending() {
		t.Error("a poke reached a listener it was not for")
	}
}

// TestRecoversAfterARedisOutage stops the Redis server for a while (an
// embedded one, so it can be stopped): publishing fails without stalling
// or panicking, and once Redis is back the subscription resumes by itself.
func TestRecoversAfterARedisOutage(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	opts := &redis.Options{Addr: mr.Addr(), MaxRetries: -1}
	b := setup(t, opts, opts)
	rep := subscribe(t, b.sub, "rep1", org1, rep1, domain.RoleSales)
	bystander := subscribe(t, b.sub, "rep2", org1, rep2, domain.RoleSales)

	mr.Close()
	b.pub.bus.Publish(context.Background(), org1, []string{rep1})
	if n := b.pub.metric(t, "fieldsync_sync_poke_publish_errors_total").GetCounter().GetValue(); n != 1 {
		t.Fatalf("publish errors = %v during the outage, want 1", n)
	}
	if !strings.Contains(b.pub.logs.String(), "pokes not published") {
		t.Errorf("the lost poke was not logged:\n%s", b.pub.logs.String())
	}
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}

	expectRecovered(t, b, rep, bystander)
}

// TestReplacesASilentlyDeadConnection: a connection that a load balancer or
// NAT dropped without telling either end delivers nothing and reports no
// error. Run notices the unanswered ping and subscribes again.
func TestReplacesASilentlyDeadConnection(t *testing.T) {
	t.Parallel()
	opts := redisOptions(t)
	proxy := newBlackholeProxy(t, opts.Addr)
	subOpts := *opts
	subOpts.Addr = proxy.addr
	b := setup(t, opts, &subOpts, func(bus *pokebus.Bus) { bus.SetHealthInterval(100 * time.Millisecond) })
	rep := subscribe(t, b.sub, "rep1", org1, rep1, domain.RoleSales)
	bystander := subscribe(t, b.sub, "rep2", org1, rep2, domain.RoleSales)

	proxy.swallowExisting()
	expectRecovered(t, b, rep, bystander)
}

// TestPublishIsBoundedWhenRedisHangs points the publisher at a server that
// accepts connections and never answers: Publish must still return (the
// commit hook calls it), whatever the client's own timeouts.
func TestPublishIsBoundedWhenRedisHangs(t *testing.T) {
	t.Parallel()
	addr := serveTCP(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	// Deliberately long client timeouts: the bound must come from the bus.
	client := newClient(t, &redis.Options{Addr: addr, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	pub := newReplica(t, client, uniquePrefix(t))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			pub.bus.Publish(context.Background(), org1, []string{rep1})
		}
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Publish blocked on an unresponsive Redis")
	}
	if n := pub.metric(t, "fieldsync_sync_poke_publish_errors_total").GetCounter().GetValue(); n != 3 {
		t.Errorf("publish errors = %v, want 3", n)
	}
}

// serveTCP accepts connections on a local port and hands each to handle,
// closing them all when the test ends. It returns the address.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu gosync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

// blackholeProxy forwards TCP to Redis; swallowExisting turns the
// connections open at that moment into black holes (bytes vanish both ways,
// nothing is closed) while new connections keep working.
type blackholeProxy struct {
	addr  string
	mu    gosync.Mutex
	conns []*atomic.Bool
}

func newBlackholeProxy(t *testing.T, target string) *blackholeProxy {
	t.Helper()
	p := &blackholeProxy{}
	p.addr = serveTCP(t, func(client net.Conn) {
		server, err := net.Dial("tcp", target)
		if err != nil {
			_ = client.Close()
			return
		}
		dead := &atomic.Bool{}
		p.mu.Lock()
		p.conns = append(p.conns, dead)
		p.mu.Unlock()
		// Whichever side closes first closes the other, so the test's
		// cleanup (which closes client) also ends the Redis connection.
		go func() {
			pump(server, client, dead)
			_ = server.Close()
		}()
		pump(client, server, dead)
		_ = client.Close()
	})
	return p
}

func (p *blackholeProxy) swallowExisting() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.conns {
		d.Store(true)
	}
}

func pump(dst io.Writer, src io.Reader, dead *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !dead.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
