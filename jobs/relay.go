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
	// Wake, if set, triggers a pass before Interval elapses (e.g. after a
	// local commit), keeping side-effect latency low without busy polling.
	Wake <-chan struct{}
}

// RelayOnce relays one batch and returns how many messages reached the queue.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	msgs, err := r.Outbox.ClaimOutbox(ctx, r.batch(), r.Clock.Now())
	if err != nil {
		return 0, fmt.Errorf("relay: claim: %w", err)
	}
	done := make([]string, 0, len(msgs))
	var firstErr error
	for _, m := range msgs {
		opts := []asynq.Option{asynq.TaskID(m.ID), asynq.MaxRetry(25)}
		if !m.AvailableAt.IsZero() && m.AvailableAt.After(r.Clock.Now()) {
			opts = append(opts, asynq.ProcessAt(m.AvailableAt))
		}
		_, err := r.Queue.EnqueueContext(ctx, asynq.NewTask(m.Kind, m.Payload), opts...)
		if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			if firstErr == nil {
				firstErr = fmt.Errorf("relay: enqueue %s: %w", m.Kind, err)
			}
			continue
		}
		// A task id conflict means an earlier pass enqueued it and crashed
		// before marking it: it is on the queue, so it counts as relayed.
		done = append(done, m.ID)
	}
	if len(done) > 0 {
		if err := r.Outbox.MarkOutboxRelayed(ctx, done, r.Clock.Now()); err != nil {
			return 0, fmt.Errorf("relay: mark relayed: %w", err)
		}
	}
	return len(done), firstErr
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
