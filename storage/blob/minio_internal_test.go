package blob

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// A server that is down makes every operation CodeUnavailable, with the
// connection error kept as the cause for the log.
func TestMinIOUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := MinIOConfig{Endpoint: l.Addr().String(), AccessKey: "user", SecretKey: "password", Bucket: "photos", Region: "us-east-1"}
	_ = l.Close() // nothing listens there now

	// One attempt per request: the default retries for seconds.
	m, err := newMinIO(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	requireUnavailable(t, "creating the bucket", m.ensureBucket(ctx, cfg.Region))
	_, err = m.Put(ctx, "k", strings.NewReader("v"), 1, "")
	requireUnavailable(t, "Put", err)
	_, err = m.Put(ctx, "k", strings.NewReader("v"), -1, "")
	requireUnavailable(t, "Put of unknown size", err)
	_, _, err = m.Get(ctx, "k")
	requireUnavailable(t, "Get", err)
	_, err = m.Stat(ctx, "k")
	requireUnavailable(t, "Stat", err)
	requireUnavailable(t, "Delete", m.Delete(ctx, "k"))
	requireUnavailable(t, "List", m.List(ctx, "", func(domain.BlobInfo) error { return nil }))
	requireUnavailable(t, "Ping", m.Ping(ctx))
	// Signing is local: it works while the server is down.
	if _, err := m.PresignGet(ctx, "k", time.Minute); err != nil {
		t.Errorf("PresignGet while the server is down: %v", err)
	}
}

func requireUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if !domain.IsCode(err, domain.CodeUnavailable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%s = %v, want CodeUnavailable caused by the refused connection", what, err)
	}
}
