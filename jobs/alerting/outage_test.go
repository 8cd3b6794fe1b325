package alerting_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs"
	"github.com/iswitchroofs/fieldsync/jobs/alerting"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
)

// redisDB is the Redis database reserved for this package's tests.
const redisDB = 12

func redisOpt(t *testing.T) asynq.RedisClientOpt {
	t.Helper()
	addr := "127.0.0.1:6379"
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		conn, err := asynq.ParseRedisURI(u)
		if err != nil {
			t.Fatalf("TEST_REDIS_URL: %v", err)
		}
		addr = conn.(asynq.RedisClientOpt).Addr
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: redisDB, DialTimeout: time.Second, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.FlushDB(context.Background()).Err(); err != nil {
		msg := fmt.Sprintf("Redis not reachable at %s: start it with `make services` (%v)", addr, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return asynq.RedisClientOpt{Addr: addr, DB: redisDB}
}

// Redis is down when the lead commits, and the push and SMS endpoints are
// down when Redis is back: the alert still goes out once the endpoints
// return, exactly once, through the real relay, asynq and its retries.
func TestOutagesLoseNoAlert(t *testing.T) {
	b := setup(t)
	opt := redisOpt(t)
	b.clock.Set(time.Now()) // asynq schedules retries by the wall clock
	lead := b.newLead()
	log := slog.New(slog.DiscardHandler)

	down := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond})
	defer down.Close()
	relay := &jobs.Relay{Outbox: b.store, Queue: down, Clock: b.clock, Log: log}
	if n, err := relay.RelayOnce(b.ctx); err == nil || n != 0 {
		t.Fatalf("relay with Redis down: %d, %v; want an error and nothing relayed", n, err)
	}

	b.srv.SetDown(true)
	live := asynq.NewClient(opt)
	defer live.Close()
	relay.Queue = live
	// The failed pass's claim hides the row for the lease; the next pass
	// after it relays the row.
	relay.Clock = domain.ClockFunc(func() time.Time { return b.clock.Now().Add(sqlstore.OutboxClaimLease) })
	if n, err := relay.RelayOnce(b.ctx); err != nil || n != 1 {
		t.Fatalf("relay with Redis back: %d, %v; want the rep's alert", n, err)
	}

	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: 2, TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
		RetryDelayFunc: alerting.RetryDelay, LogLevel: asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	alerting.Register(mux, alerting.Deps{Store: b.store, Senders: b.senders(), Clock: b.clock, Log: log})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	taskID := domain.AlertTaskID(lead.ID, 0)
	waitFor(t, "a failed attempt", func() bool {
		info, err := insp.GetTaskInfo("default", taskID)
		return err == nil && info.Retried >= 1
	})
	b.srv.SetDown(false)
	waitFor(t, "the task to complete", func() bool {
		info, err := insp.GetTaskInfo("default", taskID)
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	requireCounts(t, "alerts", pushTo(b.srv, "lead_alert"), map[string]int{"rep-token-a": 1, "rep-token-b": 1})
	requireCounts(t, "pokes", pushTo(b.srv, "sync_poke"), map[string]int{"rep-token-a": 1, "rep-token-b": 1})
	requireCounts(t, "SMS", twilioTo(b.srv, "sms"), map[string]int{b.rep.Phone: 1})
	// A second relay pass finds nothing to do: the row was marked.
	if n, err := relay.RelayOnce(b.ctx); err != nil || n != 0 {
		t.Errorf("second relay pass: %d, %v", n, err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
