package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Outbox is the relay's view of the transactional outbox.
type Outbox interface {
	// ClaimOutbox leases up to limit unrelayed messages that are due at now,
	// so that concurrent relays (one per worker replica) do not both take them.
	// A message whose AvailableAt is later stays in the outbox until then,
	// and a claimed message that is not marked comes back after the lease.
	ClaimOutbox(ctx context.Context, limit int, now time.Time) ([]domain.OutboxMessage, error)
	// MarkOutboxRelayed records that the messages reached the queue.
	MarkOutboxRelayed(ctx context.Context, ids []string, now time.Time) error
}

// Enqueuer is the part of *asynq.Client the relay uses.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Relay moves outbox messages onto the asynq queue, exactly once per message
// thanks to the task id.
type Relay struct {
	Outbox   Outbox
	Queue    Enqueuer
	Clock    domain.Clock
	Log      *slog.Logger
	Interval time.Duration
	Batch    int
	// Retention is how long asynq keeps a completed task, and with it the
	// task id that refuses a second enqueue of the same message (default
	// DefaultRetention). Without it a task that finished before its message
	// was marked (a crash, or the database failing the mark) frees its id,
	// and the pass that claims the message again after the lease runs the
	// side effect twice. It must outlast the longest time a message can stay
	// unmarked after its enqueue: the claim lease, or a database outage.
	Retention time.Duration
	// Wake, if set, triggers a pass before Interval elapses (e.g. after a
	// local commit), keeping side-effect latency low without busy polling.
	Wake <-chan struct{}
}

// DefaultRetention is Relay.Retention when unset: a day outlasts any
// outage the relay is expected to ride out, and a completed task costs Redis
// only its small message.
const DefaultRetention = 24 * time.Hour

// markTimeout bounds the mark that outlives a cancelled pass, so that a
// database that does not answer cannot hold up a shutdown.
const markTimeout = 10 * time.Second

// RelayOnce relays one batch and returns how many messages reached the queue.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	msgs, err := r.Outbox.ClaimOutbox(ctx, r.batch(), r.Clock.Now())
	if err != nil {
		return 0, fmt.Errorf("relay: claim: %w", err)
	}
	done := make([]string, 0, len(msgs))
	var firstErr error
	for _, m := range msgs {
		// No ProcessAt: the outbox holds a message until it is due, so it
		// is ready now, and a delay kept there rather than in asynq's
		// scheduled set is not rounded up to DelayedTaskCheckInterval.
		opts := []asynq.Option{asynq.TaskID(m.ID), asynq.MaxRetry(25), asynq.Retention(r.retention())}
		_, err := r.Queue.EnqueueContext(ctx, asynq.NewTask(m.Kind, m.Payload), opts...)
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			if firstErr == nil {
				firstErr = fmt.Errorf("relay: enqueue %s: %w", m.Kind, err)
			}
			continue
		}
		// A task id conflict means an earlier pass enqueued it and crashed
		// before marking it: it is on the queue, or ran within Retention, so
		// it counts as relayed.
		done = append(done, m.ID)
	}
	if len(done) > 0 {
		// The tasks are on the queue whatever happens to ctx: a shutdown
		// that cancels it mid-pass must not leave them unmarked, to be
		// claimed and offered to Redis again by the next relay.
		markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
		defer cancel()
		if err := r.Outbox.MarkOutboxRelayed(markCtx, done, r.Clock.Now()); err != nil {
			return 0, fmt.Errorf("relay: mark relayed: %w", err)
		}
	}
	return len(done), firstErr
}

func (r *Relay) retention() time.Duration {
	if r.Retention <= 0 {
		return DefaultRetention
	}
	return r.Retention
}

func (r *Relay) batch() int {
	if r.Batch <= 0 {
		return 100
	}
	return r.Batch
}

// Run relays until ctx is done, a pass every Interval (default 1 s) or on Wake.
func (r *Relay) Run(ctx context.Context) {
	interval := r.Interval
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := r.RelayOnce(ctx)
			if err != nil && ctx.Err() == nil {
				r.Log.Warn("outbox relay pass failed", slog.String("error", err.Error()))
			}
			// A full batch means more may be waiting: drain before sleeping.
			if err != nil || n < r.batch() {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.Wake:
		}
	}
}
