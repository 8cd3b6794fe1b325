package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/iswitchroofs/fieldsync/jobs"
)

// secretPayload stands for the personal data task payloads carry.
const secretPayload = `{"phone":"+15125550199","name":"Pat Lee"}`

// A worker older than the writer that enqueued a task has no handler for
// its kind: the task must fail (and be retried later, by a newer worker)
// rather than succeed and be dropped.
func TestNewMuxFailsUnknownKinds(t *testing.T) {
	logs := &logBuffer{}
	mux := jobs.NewMux(jobs.Deps{Log: slog.New(slog.NewJSONHandler(logs, nil))})

	err := mux.ProcessTask(context.Background(), asynq.NewTask("kind.from.the.future", []byte(secretPayload)))
	if err == nil {
		t.Fatal("an unknown kind was processed without error")
	}
	if errors.Is(err, asynq.SkipRetry) || errors.Is(err, asynq.RevokeTask) {
		t.Fatalf("error %v stops asynq from retrying", err)
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"task failed"`) || !strings.Contains(out, `"kind":"kind.from.the.future"`) {
		t.Errorf("failure not logged with its kind:\n%s", out)
	}
	if strings.Contains(out, "+15125550199") || strings.Contains(out, "Pat Lee") {
		t.Errorf("log carries the payload:\n%s", out)
	}
}

// Through a real worker: the unknown task ends up waiting for a retry, and
// the log names its id.
func TestWorkerRetriesUnknownKinds(t *testing.T) {
	opt := freshRedis(t)
	const queue = "jobs-test-unknown-kind"
	logs := &logBuffer{}
	startWorker(t, opt, queue, jobs.NewMux(jobs.Deps{Log: slog.New(slog.NewJSONHandler(logs, nil))}))

	client := asynq.NewClient(opt)
	defer client.Close()
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	info, err := client.Enqueue(asynq.NewTask("kind.from.the.future", []byte(secretPayload)), asynq.Queue(queue), asynq.TaskID("unknown-1"))
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	eventually(t, "the task to fail", func() bool {
		got, err := insp.GetTaskInfo(queue, info.ID)
		return err == nil && got.State == asynq.TaskStateRetry
	})
	got, err := insp.GetTaskInfo(queue, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Retried != 1 || got.LastErr == "" {
		t.Errorf("retried %d times with last error %q, want 1 and the reason", got.Retried, got.LastErr)
	}
	eventually(t, "the failure to be logged", func() bool { return strings.Contains(logs.String(), `"task_id":"unknown-1"`) })
	if out := logs.String(); strings.Contains(out, "+15125550199") || strings.Contains(out, "Pat Lee") {
		t.Errorf("log carries the payload:\n%s", out)
	}
}
