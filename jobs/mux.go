package jobs

import (
	"context"
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Deps are what task handlers may use; cmd/fieldsync fills them.
type Deps struct {
	Log   *slog.Logger
	Clock domain.Clock
}

// NewMux returns the worker's task router. Each task kind registers its
// handler here; a task whose kind has no handler fails and is retried, so a
// worker older than the writer that enqueued it never drops the task.
func NewMux(d Deps) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Use(logFailures(d.Log))
	return mux
}

// logFailures logs each failed task attempt with its kind and id (never its
// payload, which can carry personal data).
func logFailures(log *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			err := next.ProcessTask(ctx, t)
			if err != nil {
				id, _ := asynq.GetTaskID(ctx)
				log.WarnContext(ctx, "task failed", slog.String("kind", t.Type()), slog.String("task_id", id), slog.String("error", err.Error()))
			}
			return err
		})
	}
}
