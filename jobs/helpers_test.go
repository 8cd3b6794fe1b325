package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// redisDB is the Redis database reserved for this package's tests, so that
// flushing it cannot touch another package's jobs.
const redisDB = 11

// redisOpt returns the connection to this package's Redis database. When
// Redis does not answer the test skips, except under CI=true, where it fails
// with one line naming what is missing, so a green CI run means the relay
// really talked to Redis.
func redisOpt(t *testing.T) asynq.RedisClientOpt {
	t.Helper()
	opt, err := redisTarget()
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	if err := redisReachable(); err != nil {
		msg := fmt.Sprintf("Redis not reachable at %s: start it with `make services` (%v)", opt.Addr, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return opt
}

// redisTarget reads TEST_REDIS_URL and points it at this package's database.
func redisTarget() (asynq.RedisClientOpt, error) {
	raw := os.Getenv("TEST_REDIS_URL")
	if raw == "" {
		raw = "redis://127.0.0.1:6379/0"
	}
	conn, err := asynq.ParseRedisURI(raw)
	if err != nil {
		return asynq.RedisClientOpt{}, err
	}
	opt, ok := conn.(asynq.RedisClientOpt)
	if !ok {
		return asynq.RedisClientOpt{}, errors.New("must be a redis:// or rediss:// URL")
	}
	opt.DB = redisDB
	return opt, nil
}

// redisReachable pings once per test binary, so that with Redis down every
// test reports it at once instead of each waiting out dial retries.
var redisReachable = gosync.OnceValue(func() error {
	opt, err := redisTarget()
	if err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{
		Network: opt.Network, Addr: opt.Addr, Username: opt.Username, Password: opt.Password,
		DB: opt.DB, TLSConfig: opt.TLSConfig, DialerRetries: 1, MaxRetries: -1,
	})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return rdb.Ping(ctx).Err()
})

// freshRedis empties this package's Redis database. Only top-level tests,
// which never run in parallel, call it: the parallel postgres and sqlite
// halves of one test share the database and keep apart by queue name.
func freshRedis(t *testing.T) asynq.RedisClientOpt {
	t.Helper()
	opt := redisOpt(t)
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	if err := rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("flush Redis DB %d: %v", redisDB, err)
	}
	return opt
}

// offsetClock is the relay's clock: the system time plus an offset a test
// moves forward, so it can step past a claim lease without sleeping. It
// runs from the system time because the store stamps messages with the
// system clock (sqltest.Each opens both stores with the same options, and
// the two halves of a test must not move each other's time).
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()))
}

// Advance moves the clock forward by d.
func (c *offsetClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// pastLease moves the clock beyond the lease of everything claimed so far.
func (c *offsetClock) pastLease() { c.Advance(sqlstore.OutboxClaimLease + time.Second) }

// rig is one database's half of a relay test: a store with an
// organization, the relay's clock, and a queue of its own on Redis.
type rig struct {
	t      *testing.T
	store  *sqlstore.Store
	org    *domain.Organization
	clock  *offsetClock
	opt    asynq.RedisClientOpt
	queue  string
	client *asynq.Client
	insp   *asynq.Inspector
}

var unsafeQueueChars = regexp.MustCompile(`[^a-z0-9]+`)

func newRig(t *testing.T, s *sqlstore.Store, opt asynq.RedisClientOpt) *rig {
	t.Helper()
	client := asynq.NewClient(opt)
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() {
		_ = client.Close()
		_ = insp.Close()
	})
	return &rig{
		t: t, store: s, org: sqltest.Org(t, s), clock: &offsetClock{}, opt: opt,
		queue:  "jobs-test-" + strings.Trim(unsafeQueueChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-"),
		client: client, insp: insp,
	}
}

// relay is a Relay on the rig's store and clock that enqueues through e
// (the real client when nil) onto the rig's queue.
func (r *rig) relay(e jobs.Enqueuer) *jobs.Relay {
	if e == nil {
		e = r.client
	}
	return &jobs.Relay{
		Outbox: r.store, Queue: onQueue{e, r.queue}, Clock: r.clock,
		Log: slog.New(slog.DiscardHandler),
	}
}

// msg is an outbox message with an id chosen here, so the test can find
// its task (Enqueue gives an id-less message one the caller never sees).
func msg(kind string, payload []byte) domain.OutboxMessage {
	return domain.OutboxMessage{ID: uuid.NewString(), Kind: kind, Payload: payload}
}

// write commits a new lead and msgs in one transaction, the way a handler
// records a change and its side effects.
func (r *rig) write(msgs ...domain.OutboxMessage) {
	r.t.Helper()
	err := r.store.Write(context.Background(), sqltest.System(r.org), func(tx domain.Tx) error {
		lead := &domain.Lead{Source: "web", FirstName: "Pat", LastName: "Lee", Status: domain.LeadNew, Zip: "75001"}
		if err := tx.Create(lead); err != nil {
			return err
		}
		for _, m := range msgs {
			if err := tx.Enqueue(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// relayOnce runs one pass and fails the test unless it relayed want
// messages without error.
func (r *rig) relayOnce(rl *jobs.Relay, want int) {
	r.t.Helper()
	n, err := rl.RelayOnce(context.Background())
	if err != nil || n != want {
		r.t.Fatalf("RelayOnce = %d, %v; want %d, nil", n, err, want)
	}
}

// requireAllMarked fails if any message can still be claimed once every
// lease has run out, i.e. if one was left unmarked.
func (r *rig) requireAllMarked() {
	r.t.Helper()
	r.clock.pastLease()
	left, err := r.store.ClaimOutbox(context.Background(), 1000, r.clock.Now())
	if err != nil {
		r.t.Fatalf("ClaimOutbox: %v", err)
	}
	if len(left) > 0 {
		r.t.Fatalf("%d message(s) not marked relayed, first %s (%s)", len(left), left[0].ID, left[0].Kind)
	}
}

// tasks lists every task on the rig's queue, in any state, by id.
func (r *rig) tasks() map[string]*asynq.TaskInfo {
	r.t.Helper()
	lists := []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		r.insp.ListPendingTasks, r.insp.ListActiveTasks, r.insp.ListScheduledTasks,
		r.insp.ListRetryTasks, r.insp.ListArchivedTasks, r.insp.ListCompletedTasks,
	}
	out := map[string]*asynq.TaskInfo{}
	for _, list := range lists {
		infos, err := list(r.queue, asynq.PageSize(1000))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return out
		}
		if err != nil {
			r.t.Fatalf("inspect queue %s: %v", r.queue, err)
		}
		for _, info := range infos {
			if _, dup := out[info.ID]; dup {
				r.t.Fatalf("task %s listed twice", info.ID)
			}
			out[info.ID] = info
		}
	}
	return out
}

// requireTask fails unless the queue holds m as a task of the given state,
// with its kind and payload as written and the relay's options.
func (r *rig) requireTask(m domain.OutboxMessage, state asynq.TaskState) {
	r.t.Helper()
	info, err := r.insp.GetTaskInfo(r.queue, m.ID)
	if err != nil {
		r.t.Fatalf("task %s: %v", m.ID, err)
	}
	if info.Type != m.Kind || !bytes.Equal(info.Payload, m.Payload) {
		r.t.Errorf("task %s = %q %q, want %q %q", m.ID, info.Type, info.Payload, m.Kind, m.Payload)
	}
	if info.State != state {
		r.t.Errorf("task %s state = %v, want %v", m.ID, info.State, state)
	}
	if info.Retention != jobs.DefaultRetention || info.MaxRetry != 25 {
		r.t.Errorf("task %s retention %v, max retry %d; want %v, 25", m.ID, info.Retention, info.MaxRetry, jobs.DefaultRetention)
	}
}

// onQueue sends every task to one queue, so that the postgres and sqlite
// halves of a test, which run in parallel on one Redis database, do not see
// each other's tasks.
type onQueue struct {
	e    jobs.Enqueuer
	name string
}

func (q onQueue) EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	return q.e.EnqueueContext(ctx, task, append(slices.Clip(opts), asynq.Queue(q.name))...)
}

// crashAfterEnqueue enqueues the tasks of the listed message ids and then
// fails, as a relay process that dies between the enqueue and the mark
// would look to the outbox.
type crashAfterEnqueue struct {
	e   jobs.Enqueuer
	ids []string
}

func (c crashAfterEnqueue) EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := c.e.EnqueueContext(ctx, task, opts...)
	if err == nil && slices.Contains(c.ids, info.ID) {
		return nil, errors.New("relay died before marking")
	}
	return info, err
}

// cancelAfterEnqueue cancels the relay's context once a task is on the
// queue, as a shutdown arriving mid-pass would.
type cancelAfterEnqueue struct {
	e      jobs.Enqueuer
	cancel context.CancelFunc
}

func (c cancelAfterEnqueue) EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := c.e.EnqueueContext(ctx, task, opts...)
	c.cancel()
	return info, err
}

// recorder counts, per task id, the enqueues Redis accepted and the ones
// it refused as duplicates.
type recorder struct {
	e         jobs.Enqueuer
	mu        gosync.Mutex
	accepted  map[string]int
	conflicts int
}

func (r *recorder) EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	info, err := r.e.EnqueueContext(ctx, task, opts...)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		r.conflicts++
	case err == nil:
		if r.accepted == nil {
			r.accepted = map[string]int{}
		}
		r.accepted[info.ID]++
	}
	return info, err
}

// eventually polls cond until it holds, failing after a deadline far beyond
// what the wait should take: a guard against hanging, not a timing claim.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startWorker runs an asynq server with mux on queue until stop is called
// or the test ends, checking for work often so the test does not wait on
// asynq's defaults.
func startWorker(t *testing.T, opt asynq.RedisClientOpt, queue string, mux *asynq.ServeMux) (stop func()) {
	t.Helper()
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:              2,
		Queues:                   map[string]int{queue: 1},
		TaskCheckInterval:        20 * time.Millisecond,
		DelayedTaskCheckInterval: time.Second,
		// A failed task stays in the retry set where the test can see it.
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
		Logger:         nopLogger{},
	})
	if err := srv.Start(mux); err != nil {
		t.Fatalf("start asynq server: %v", err)
	}
	var once gosync.Once
	stop = func() { once.Do(srv.Shutdown) }
	t.Cleanup(stop)
	return stop
}

// nopLogger silences asynq's own logging, which would outlive the test.
type nopLogger struct{}

func (nopLogger) Debug(...any) {}
func (nopLogger) Info(...any)  {}
func (nopLogger) Warn(...any)  {}
func (nopLogger) Error(...any) {}
func (nopLogger) Fatal(...any) {}

// logBuffer collects log output written from several goroutines.
type logBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*logBuffer)(nil)
