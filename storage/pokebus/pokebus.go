package pokebus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Defaults of a new Bus.
const (
	// PublishTimeout bounds one Publish. Publish runs in the commit hook: a
	// slow or unreachable Redis must cost a commit at most this much, and a
	// local PUBLISH answers in well under a millisecond.
	PublishTimeout = 250 * time.Millisecond
	// HealthInterval is how long the subscription may stay silent before
	// Run pings it; without an answer by the next interval the connection
	// is presumed dead (a load balancer or NAT dropping it silently) and
	// replaced.
	HealthInterval = 15 * time.Second
	// maxInFlight bounds the publishes waiting on an unresponsive Redis;
	// beyond it pokes are dropped at once.
	maxInFlight = 64
	// failureLogEvery spaces the log lines about lost pokes.
	failureLogEvery = 10 * time.Second
	// minBackoff and maxBackoff bound the wait between re-subscriptions.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// message is what travels on the channel: small, and never any record data,
// because every replica of every organization shares the pattern.
type message struct {
	Org   string   `json:"org"`
	Users []string `json:"users,omitempty"`
	// At is the publisher's clock at commit, in Unix nanoseconds, for the
	// commit-to-delivery lag histogram.
	At int64 `json:"at"`
}

type subscriber struct {
	userID string
	// all is set for managers and admins, who see the whole organization
	// and so are poked by every commit in it.
	all bool
	ch  chan struct{}
}

// Bus publishes pokes to Redis and fans the ones it receives out to local
// subscribers. It is safe for concurrent use.
type Bus struct {
	client redis.UniversalClient
	prefix string
	log    *slog.Logger

	publishTimeout time.Duration
	healthInterval time.Duration
	// inflight holds a token per publish still talking to Redis.
	inflight chan struct{}
	// unlogged counts publish failures since lastLogged (Unix nanoseconds).
	unlogged   atomic.Int64
	lastLogged atomic.Int64

	mu   gosync.Mutex
	subs map[string]map[*subscriber]struct{} // by organization

	running atomic.Bool

	lag           prometheus.Histogram
	publishErrors prometheus.Counter
	subscriptions prometheus.Counter
}

// New returns a Bus on client whose channels are prefix+orgID (say
// "fieldsync:poke:"), so several deployments or tests can share one Redis.
// Its metrics are registered with reg unless reg is nil.
func New(client redis.UniversalClient, prefix string, log *slog.Logger, reg prometheus.Registerer) *Bus {
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{
		client:         client,
		prefix:         prefix,
		log:            log,
		publishTimeout: PublishTimeout,
		healthInterval: HealthInterval,
		inflight:       make(chan struct{}, maxInFlight),
		subs:           map[string]map[*subscriber]struct{}{},
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fieldsync_sync_poke_lag_seconds",
			Help:    "Time from a commit's poke being published to its delivery to this replica's event streams.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fieldsync_sync_poke_publish_errors_total",
			Help: "Pokes that could not be published (the devices catch up at their next periodic pull).",
		}),
		subscriptions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fieldsync_sync_poke_subscriptions_total",
			Help: "Times Redis confirmed this replica's poke subscription; more than one means it was re-established after errors.",
		}),
	}
	if reg != nil {
		reg.MustRegister(b.lag, b.publishErrors, b.subscriptions)
	}
	return b
}

// Publish tells every replica that a commit in orgID changed what users (the
// reps and techs whose scope it touched) may see; the organization's
// managers and admins are poked by every commit. It is meant for the commit
// hook, after the commit: it returns within PublishTimeout whatever Redis
// does, and only logs a failure, because a lost poke delays a device until
// its next periodic pull and must never fail or stall a write.
func (b *Bus) Publish(ctx context.Context, orgID string, users []string) {
	payload, err := json.Marshal(message{Org: orgID, Users: users, At: time.Now().UnixNano()})
	if err != nil {
		b.failed(ctx, orgID, err)
		return
	}
	// go-redis ignores context deadlines unless the client was built with
	// ContextTimeoutEnabled, and then waits its own read timeout, with
	// retries: the bound is enforced here instead, whatever the client's
	// options. A publish still stuck past it finishes in the background, and
	// at most maxInFlight do, so a hung Redis cannot pile up goroutines.
	select {
	case b.inflight <- struct{}{}:
	default:
		b.failed(ctx, orgID, errors.New("too many publishes waiting for Redis"))
		return
	}
	// The request that committed may be gone already; its poke is still
	// owed to everyone else.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.publishTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() { <-b.inflight }()
		done <- b.client.Publish(pctx, b.prefix+orgID, payload).Err()
	}()
	select {
	case err = <-done:
	case <-pctx.Done():
		err = fmt.Errorf("no answer from Redis in %s", b.publishTimeout)
	}
	if err != nil {
		b.failed(ctx, orgID, err)
	}
}

// failed counts a lost poke and logs it, at most once per failureLogEvery
// with the number lost since: during a Redis outage every commit fails to
// publish, and one line per commit would drown the log.
func (b *Bus) failed(ctx context.Context, orgID string, err error) {
	b.publishErrors.Inc()
	b.unlogged.Add(1)
	now := time.Now().UnixNano()
	last := b.lastLogged.Load()
	if now-last < int64(failureLogEvery) || !b.lastLogged.CompareAndSwap(last, now) {
		return
	}
	b.log.WarnContext(ctx, "pokes not published; devices will catch up at their next pull",
		slog.String("org_id", orgID), slog.Int64("lost", b.unlogged.Swap(0)), slog.String("error", err.Error()))
}

// Subscribe registers a local listener for the pokes of userID, who has role
// in orgID. The channel has room for one poke and is sent to without
// blocking, so a burst of commits leaves at most one poke pending and a slow
// reader never holds up the others. cancel unregisters the listener and
// closes the channel; it may be called more than once.
func (b *Bus) Subscribe(orgID, userID string, role domain.Role) (<-chan struct{}, func()) {
	s := &subscriber{userID: userID, all: role == domain.RoleManager || role == domain.RoleAdmin, ch: make(chan struct{}, 1)}
	b.mu.Lock()
	set := b.subs[orgID]
	if set == nil {
		set = map[*subscriber]struct{}{}
		b.subs[orgID] = set
	}
	set[s] = struct{}{}
	b.mu.Unlock()
	var once gosync.Once
	return s.ch, func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			delete(b.subs[orgID], s)
			if len(b.subs[orgID]) == 0 {
				delete(b.subs, orgID)
			}
			// Sends happen under b.mu, so none can follow this close.
			close(s.ch)
		})
	}
}

// Run keeps this process's one pattern subscription (prefix+"*") and fans
// every poke out to the local subscribers, until ctx ends. After a Redis
// error it re-subscribes with capped, jittered backoff (so replicas do not
// reconnect in lockstep after a Redis restart). Whenever Redis confirms the
// subscription, every local subscriber is poked once, since whatever was
// published while this process was not subscribed is lost. Call it once per
// Bus; a second concurrent call returns at once.
func (b *Bus) Run(ctx context.Context) {
	if !b.running.CompareAndSwap(false, true) {
		b.log.Error("pokebus: Run called twice; the second call does nothing")
		return
	}
	defer b.running.Store(false)
	backoff := minBackoff
	for {
		subscribed, err := b.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		if subscribed {
			backoff = minBackoff
		}
		b.log.Warn("poke subscription lost; re-subscribing",
			slog.String("error", err.Error()), slog.Duration("backoff", backoff))
		// Equal jitter: between half and all of the backoff.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen holds one subscription until it fails or ctx ends. subscribed
// reports whether Redis confirmed it, which resets the backoff.
func (b *Bus) listen(ctx context.Context) (subscribed bool, err error) {
	ps := b.client.PSubscribe(ctx, globEscape(b.prefix)+"*")
	// go-redis does not abandon a blocking read when ctx ends; closing the
	// subscription does.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		stop()
		_ = ps.Close()
	}()
	pingSent := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.healthInterval)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return subscribed, err
			}
			if pingSent {
				return subscribed, fmt.Errorf("no answer to a ping in %s: %w", b.healthInterval, err)
			}
			if err := ps.Ping(ctx); err != nil {
				return subscribed, err
			}
			pingSent = true
			continue
		}
		pingSent = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "psubscribe" && !subscribed {
				subscribed = true
				b.pokeAll()
				b.subscriptions.Inc()
			}
		case *redis.Message:
			b.deliver(ctx, m.Payload)
		}
	}
}

func (b *Bus) deliver(ctx context.Context, payload string) {
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.Org == "" {
		b.log.WarnContext(ctx, "pokebus: ignoring a malformed message", slog.Int("bytes", len(payload)))
		return
	}
	// Replica clocks differ a little; a negative lag is clock skew, not time travel.
	b.lag.Observe(max(0, time.Since(time.Unix(0, m.At)).Seconds()))
	b.mu.Lock()
	defer b.mu.Unlock()
	set := b.subs[m.Org]
	if len(set) == 0 {
		return
	}
	users := make(map[string]struct{}, len(m.Users))
	for _, u := range m.Users {
		users[u] = struct{}{}
	}
	for s := range set {
		if _, named := users[s.userID]; s.all || named {
			poke(s.ch)
		}
	}
}

func (b *Bus) pokeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, set := range b.subs {
		for s := range set {
			poke(s.ch)
		}
	}
}

// poke leaves one poke pending without ever blocking: if one is already
// waiting, this one is the same news.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// globEscape quotes Redis glob characters, so a prefix is matched literally.
func globEscape(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
