package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

func TestRelayOnceEnqueuesCommittedMessagesOnce(t *testing.T) {
	opt := freshRedis(t)
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		r := newRig(t, s, opt)
		alert := msg("lead.alert", []byte(`{"lead_id":"l1","level":0}`))
		binary := msg("photo.process", []byte{0x00, 0xff, '"', '\n'})
		r.write(alert, binary)
		// No id: the store picks one, and the task is keyed by it.
		r.write(domain.OutboxMessage{Kind: "review.request", Payload: []byte(`{}`)})

		rl := r.relay(nil)
		r.relayOnce(rl, 3)

		tasks := r.tasks()
		if len(tasks) != 3 {
			t.Fatalf("queue holds %d tasks, want 3", len(tasks))
		}
		r.requireTask(alert, asynq.TaskStatePending)
		r.requireTask(binary, asynq.TaskStatePending)
		var generated *asynq.TaskInfo
		for id, info := range tasks {
			if id != alert.ID && id != binary.ID {
				generated = info
			}
		}
		if generated == nil || generated.ID == "" || generated.Type != "review.request" || string(generated.Payload) != `{}` {
			t.Fatalf("third task = %+v, want review.request {} under an id of its own", generated)
		}

		r.relayOnce(rl, 0)
		// Past the lease a message that was only claimed would come back;
		// one that was marked never does.
		r.clock.pastLease()
		r.relayOnce(rl, 0)
		if n := len(r.tasks()); n != 3 {
			t.Fatalf("after more passes the queue holds %d tasks, want 3", n)
		}
	})
}

func TestRelayOnceNeverSeesRolledBackMessages(t *testing.T) {
	opt := freshRedis(t)
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		r := newRig(t, s, opt)
		kept := msg("lead.alert", []byte(`{"n":1}`))
		r.write(kept)
		lost := msg("lead.alert", []byte(`{"n":2}`))
		failure := errors.New("validation failed after enqueue")
		err := s.Write(context.Background(), sqltest.System(r.org), func(tx domain.Tx) error {
			if err := tx.Enqueue(lost); err != nil {
				return err
			}
			return failure
		})
		if !errors.Is(err, failure) {
			t.Fatalf("Write = %v, want the function's error", err)
		}

		rl := r.relay(nil)
		r.relayOnce(rl, 1)
		r.clock.pastLease()
		r.relayOnce(rl, 0)
		tasks := r.tasks()
		if _, ok := tasks[lost.ID]; ok || len(tasks) != 1 {
			t.Fatalf("queue holds %d tasks (rolled-back one there: %v), want only the committed one", len(tasks), ok)
		}
		r.requireTask(kept, asynq.TaskStatePending)
	})
}

func TestRelayOnceRecoversFromCrashBetweenEnqueueAndMark(t *testing.T) {
	opt := freshRedis(t)
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		r := newRig(t, s, opt)
		crashed := msg("lead.alert", []byte(`{"lead_id":"a"}`))
		fine := msg("lead.alert", []byte(`{"lead_id":"b"}`))
		r.write(crashed, fine)

		n, err := r.relay(crashAfterEnqueue{r.client, []string{crashed.ID}}).RelayOnce(context.Background())
		if err == nil || n != 1 {
			t.Fatalf("RelayOnce = %d, %v; want 1 and the enqueue error", n, err)
		}
		if len(r.tasks()) != 2 {
			t.Fatalf("queue holds %d tasks, want both", len(r.tasks()))
		}

		rl := r.relay(nil)
		// Leased by the pass that died: another relay leaves it alone.
		r.relayOnce(rl, 0)
		r.clock.pastLease()
		// Redis refuses the second enqueue by task id; the relay counts
		// that as delivered and marks it.
		r.relayOnce(rl, 1)
		if tasks := r.tasks(); len(tasks) != 2 {
			t.Fatalf("queue holds %d tasks after recovery, want 2", len(tasks))
		}
		r.requireTask(crashed, asynq.TaskStatePending)
		r.requireTask(fine, asynq.TaskStatePending)
		r.requireAllMarked()
	})
}

// A task can run and finish before its message comes back from the lease;
// the relay must not enqueue it again then (asynq frees a task's id when it
// completes unless the task is retained).
func TestRelayOnceDoesNotRepeatATaskThatRanBeforeTheMark(t *testing.T) {
	opt := freshRedis(t)
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		r := newRig(t, s, opt)
		m := msg("test.count", []byte(`{"lead_id":"a"}`))
		r.write(m)
		if _, err := r.relay(crashAfterEnqueue{r.client, []string{m.ID}}).RelayOnce(context.Background()); err == nil {
			t.Fatal("RelayOnce through a crashing enqueuer reported no error")
		}

		var runs atomic.Int32
		mux := jobs.NewMux(jobs.Deps{Log: slog.New(slog.DiscardHandler), Clock: r.clock})
		mux.HandleFunc("test.count", func(context.Context, *asynq.Task) error {
			runs.Add(1)
			return nil
		})
		stop := startWorker(t, opt, r.queue, mux)
		eventually(t, "the task to run and finish", func() bool {
			if runs.Load() == 0 {
				return false
			}
			info, err := r.insp.GetTaskInfo(r.queue, m.ID)
			return errors.Is(err, asynq.ErrTaskNotFound) || err == nil && info.State == asynq.TaskStateCompleted
		})
		// Stopped so that a wrongly re-enqueued task stays pending for the
		// check below instead of racing the worker.
		stop()

		r.clock.pastLease()
		r.relayOnce(r.relay(nil), 1)
		tasks := r.tasks()
		if info := tasks[m.ID]; info == nil || info.State != asynq.TaskStateCompleted || len(tasks) != 1 {
			t.Fatalf("after the task ran, the relay left %d task(s) on the queue (this one: %+v); want only the completed one", len(tasks), info)
		}
		r.requireTask(m, asynq.TaskStateCompleted)
		if n := runs.Load(); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
		r.requireAllMarked()
	})
}

// A shutdown cancels the relay's context; a task that is already on the
// queue must still be marked, or the next relay offers it to Redis again.
func TestRelayOnceMarksWhatItEnqueuedWhenCancelled(t *testing.T) {
	opt := freshRedis(t)
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		r := newRig(t, s, opt)
		m := msg("lead.alert", []byte(`{}`))
		r.write(m)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rec := &recorder{e: cancelAfterEnqueue{r.client, cancel}}
		n, err := r.relay(rec).RelayOnce(ctx)
		if n != 1 || err != nil {
			t.Fatalf("RelayOnce cancelled after its enqueue = %d, %v; want 1, nil", n, err)
		}
		r.requireAllMarked()
		r.relayOnce(r.relay(rec), 0)
		if rec.conflicts != 0 || len(rec.accepted) != 1 {
			t.Fatalf("%d tasks enqueued, %d duplicate attempts; want 1, 0", len(rec.accepted), rec.conflicts)
		}
	})
}

func TestRelayOnceLeavesMessagesWhileRedisIsDown(t *testing.T) {
	opt := freshRedis(t)
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		r := newRig(t, s, opt)
		a := msg("lead.alert", []byte(`{"phone":"+15125550101"}`))
		b := msg("lead.alert", []byte(`{"phone":"+15125550102"}`))
		r.write(a, b)

		// No client retries: the port refuses at once, and retrying only
		// slows the test.
		rdb := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialerRetries: 1})
		t.Cleanup(func() { _ = rdb.Close() })
		down := asynq.NewClientFromRedisClient(rdb)
		n, err := r.relay(down).RelayOnce(context.Background())
		if err == nil || n != 0 {
			t.Fatalf("RelayOnce with Redis down = %d, %v; want 0 and an error", n, err)
		}
		if strings.Contains(err.Error(), "+1512555") {
			t.Errorf("error %q carries the payload", err)
		}

		up := r.relay(nil)
		// Claimed by the failed pass and not yet due again.
		r.relayOnce(up, 0)
		if len(r.tasks()) != 0 {
			t.Fatal("tasks reached the queue while Redis was down")
		}
		r.clock.pastLease()
		r.relayOnce(up, 2)
		r.requireTask(a, asynq.TaskStatePending)
		r.requireTask(b, asynq.TaskStatePending)
		r.requireAllMarked()
	})
}

// Every worker replica runs a relay; here two, on separate connection
// pools as two processes would have, race each other while messages are
// being written.
func TestConcurrentRelaysEnqueueEachMessageOnce(t *testing.T) {
	opt := freshRedis(t)
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		r := newRig(t, s, opt)
		const writes, perWrite = 10, 3
		const total = writes * perWrite
		rec := &recorder{e: r.client}
		relays := []*jobs.Relay{r.relay(rec), r.relay(rec)}
		relays[1].Outbox = sqltest.Reopen(t, s)
		for _, rl := range relays {
			rl.Batch = 4
		}

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var relayed atomic.Int64
		var wg gosync.WaitGroup
		for _, rl := range relays {
			wg.Go(func() {
				for relayed.Load() < total && ctx.Err() == nil {
					n, err := rl.RelayOnce(ctx)
					if err != nil {
						t.Errorf("RelayOnce: %v", err)
						return
					}
					relayed.Add(int64(n))
					if n == 0 {
						// Nothing due yet: let the writer commit more.
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
		ids := make(map[string]bool, total)
		for range writes {
			var batch []domain.OutboxMessage
			for range perWrite {
				m := msg("lead.alert", []byte(`{}`))
				ids[m.ID] = true
				batch = append(batch, m)
			}
			r.write(batch...)
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if got := relayed.Load(); got != total {
			t.Fatalf("relays reported %d messages, want %d", got, total)
		}
		// Claims are disjoint and no lease ran out, so no message was even
		// offered to Redis twice.
		if rec.conflicts != 0 || len(rec.accepted) != total {
			t.Fatalf("%d distinct tasks enqueued with %d duplicate attempts, want %d and 0", len(rec.accepted), rec.conflicts, total)
		}
		for id, n := range rec.accepted {
			if n != 1 || !ids[id] {
				t.Fatalf("task %s enqueued %d times (written: %v)", id, n, ids[id])
			}
		}
		if n := len(r.tasks()); n != total {
			t.Fatalf("queue holds %d tasks, want %d", n, total)
		}
		r.requireAllMarked()
	})
}

func TestRunDrainsBacklogWakesAndStops(t *testing.T) {
	opt := freshRedis(t)
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		r := newRig(t, s, opt)
		var backlog []domain.OutboxMessage
		for range 10 {
			backlog = append(backlog, msg("lead.alert", []byte(`{}`)))
		}
		r.write(backlog...)

		logs := &logBuffer{}
		wake := make(chan struct{}, 1)
		rec := &recorder{e: r.client}
		rl := r.relay(rec)
		rl.Batch = 3
		// No tick comes during the test: whatever is relayed was relayed by
		// the first round's drain or by a wake.
		rl.Interval = time.Hour
		rl.Wake = wake
		rl.Log = slog.New(slog.NewTextHandler(logs, nil))

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		go func() { defer close(done); rl.Run(ctx) }()

		eventually(t, "the backlog to be relayed", func() bool { return len(r.tasks()) == len(backlog) })
		late := msg("lead.alert", []byte(`{"late":true}`))
		r.write(late)
		wake <- struct{}{}
		eventually(t, "the woken pass to relay the late message", func() bool { return len(r.tasks()) == len(backlog)+1 })

		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context was cancelled")
		}
		if rec.conflicts != 0 || len(rec.accepted) != len(backlog)+1 {
			t.Fatalf("%d tasks enqueued, %d duplicate attempts; want %d, 0", len(rec.accepted), rec.conflicts, len(backlog)+1)
		}
		for _, m := range append(backlog, late) {
			r.requireTask(m, asynq.TaskStatePending)
		}
		if strings.Contains(logs.String(), "failed") {
			t.Errorf("Run logged a failure:\n%s", logs)
		}
		r.requireAllMarked()
	})
}

// The store holds a message whose AvailableAt is later (ClaimOutbox takes
// only due ones), so the relay enqueues nothing early, and a due message
// becomes a ready task rather than a scheduled one.
func TestRelayOnceHoldsMessagesUntilTheyAreDue(t *testing.T) {
	opt := freshRedis(t)
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		r := newRig(t, s, opt)
		escalation := msg("lead.escalate", []byte(`{"level":1}`))
		escalation.AvailableAt = time.Now().Add(2 * time.Minute)
		now := msg("lead.alert", []byte(`{"level":0}`))
		r.write(escalation, now)

		rl := r.relay(nil)
		r.relayOnce(rl, 1)
		if _, err := r.insp.GetTaskInfo(r.queue, escalation.ID); !errors.Is(err, asynq.ErrTaskNotFound) {
			t.Fatalf("task for a message not yet due: err = %v, want ErrTaskNotFound", err)
		}
		r.clock.Advance(time.Minute)
		r.relayOnce(rl, 0)

		r.clock.Advance(time.Minute + time.Second)
		r.relayOnce(rl, 1)
		r.requireTask(escalation, asynq.TaskStatePending)
		r.requireTask(now, asynq.TaskStatePending)
		r.requireAllMarked()
	})
}
