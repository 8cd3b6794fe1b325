package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

// The sync tests take these knobs from the environment (the randomized
// ones are guarantee 1's concurrent writers and the multi-device
// convergence):
//
//	FIELDSYNC_SYNC_RUNS  how many randomized runs per database (the
//	                     defaults keep `go test -race ./sync/...` in the CI
//	                     budget; raise it for a longer hunt)
//	FIELDSYNC_SYNC_SEED  the first run's seed (default: the clock), to
//	                     replay a failure; a failing run prints its seed
//	FIELDSYNC_SYNC_TRACE set to log every action of the convergence test
//	FIELDSYNC_SYNC_LARGE the record count of guarantee 10 (largeScope)
//
// With -short every randomized test does a single run.
const (
	envRuns = "FIELDSYNC_SYNC_RUNS"
	envSeed = "FIELDSYNC_SYNC_SEED"
)

// randomRuns is the number of randomized runs: def, FIELDSYNC_SYNC_RUNS if
// set, 1 under -short.
func randomRuns(t *testing.T, def int) int {
	t.Helper()
	if v := os.Getenv(envRuns); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a whole number, 1 or more", envRuns, v)
		}
		return n
	}
	if testing.Short() {
		return 1
	}
	return def
}

// baseSeed is the first run's seed: FIELDSYNC_SYNC_SEED, or the clock, so
// that every CI run explores new schedules and a failure names the seed
// that replays it.
func baseSeed(t *testing.T) int64 {
	t.Helper()
	if v := os.Getenv(envSeed); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an integer", envSeed, v)
		}
		return n
	}
	return time.Now().UnixNano() % 1_000_000_000
}

// reportSeed prints how to replay a failed run.
func reportSeed(t *testing.T, seed int64) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay this run with %s=%d %s=1 go test -race -run '%s' ./sync/", envSeed, seed, envRuns,
				strings.SplitN(t.Name(), "/", 2)[0])
		}
	})
}

// recordingMetrics is an fsync.Metrics that keeps what it is told.
type recordingMetrics struct {
	mu       gosync.Mutex
	pushes   []fsync.PushStats
	pulls    []fsync.PullStats
	rejected []string // "mutation:code"
}

var _ fsync.Metrics = (*recordingMetrics)(nil)

func (m *recordingMetrics) PushDone(s fsync.PushStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pushes = append(m.pushes, s)
}

func (m *recordingMetrics) PullDone(s fsync.PullStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pulls = append(m.pulls, s)
}

func (m *recordingMetrics) Rejected(mutation string, code fsync.RejectionCode) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rejected = append(m.rejected, mutation+":"+string(code))
}

// faultStore is a domain.SyncStore that injects failures into the real one:
// beforeWrite runs before each SyncWrite (an error stands for a database
// that cannot begin a transaction) and afterCommit after each successful
// one; wrapTx, if set, replaces the transaction the engine sees, so that a
// statement can fail in the middle of a mutation.
type faultStore struct {
	domain.SyncStore
	mu          gosync.Mutex
	writes      int
	beforeWrite func(n int) error
	afterCommit func(n int)
	wrapTx      func(n int, tx domain.SyncTx) domain.SyncTx
}

func (f *faultStore) SyncWrite(ctx context.Context, p domain.Principal, fn func(domain.SyncTx) error) error {
	f.mu.Lock()
	f.writes++
	n := f.writes
	before, after, wrap := f.beforeWrite, f.afterCommit, f.wrapTx
	f.mu.Unlock()
	if before != nil {
		if err := before(n); err != nil {
			return err
		}
	}
	err := f.SyncStore.SyncWrite(ctx, p, func(tx domain.SyncTx) error {
		if wrap != nil {
			tx = wrap(n, tx)
		}
		return fn(tx)
	})
	if err == nil && after != nil {
		after(n)
	}
	return err
}

// unavailable is what the store answers when the database is down.
func unavailable() error {
	return domain.Errorf(domain.CodeUnavailable, "the database is unreachable")
}

// failingTx is a transaction whose statements fail as when the
// connection drops: with saveErr, after the mutation's effects are
// written, saving the device's last mutation id; with findErr, the
// handler's first read.
type failingTx struct {
	domain.SyncTx
	saveErr error
	findErr error
}

func (f failingTx) SaveClient(c *domain.SyncClient) error {
	if f.saveErr != nil {
		return f.saveErr
	}
	return f.SyncTx.SaveClient(c)
}

func (f failingTx) Find(kind domain.EntityKind, id string) (domain.Record, error) {
	if f.findErr != nil {
		return nil, f.findErr
	}
	return f.SyncTx.Find(kind, id)
}

// httpHarness is the real HTTP application (mobile.New) over the real
// engine, store and sign-in service, as cmd/fieldsync wires it, minus
// Redis: for the guarantees whose refusal happens before the engine
// (a deactivated user's token) or beside it (reading a record by id).
type httpHarness struct {
	t      *testing.T
	app    *fiber.App
	tokens *auth.Tokens
}

// allowAll is a rate limiter that never limits: sign-in limits are not
// what these tests are about.
type allowAll struct{}

func (allowAll) Allow(context.Context, string, domain.RateLimit) (domain.RateDecision, error) {
	return domain.RateDecision{Allowed: true, Remaining: 1}, nil
}

func newHTTPHarness(t *testing.T, s *sqlstore.Store, e *fsync.Engine) *httpHarness {
	t.Helper()
	spec, err := auth.GenerateKeySpec("test")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(auth.Config{Users: s, Sessions: s, Limiter: allowAll{}, Keys: keys, PasswordParams: auth.TestParams})
	if err != nil {
		t.Fatal(err)
	}
	app := mobile.New(mobile.Config{
		Logger: slog.New(slog.DiscardHandler), Auth: svc, Users: s, Records: s, Sync: e,
	})
	return &httpHarness{t: t, app: app, tokens: auth.NewTokens(keys, domain.ClockFunc(time.Now), auth.DefaultAccessTTL)}
}

// token signs an access token for u, as a sign-in would.
func (h *httpHarness) token(u *domain.User) string {
	h.t.Helper()
	tok, _, err := h.tokens.Issue(sqltest.As(u), synctest.NewID())
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// do sends one request and returns the status and the decoded problem code
// (for an error) or body.
func (h *httpHarness) do(method, path, token string, body any) (int, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = strings.NewReader(string(b))
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(mobile.HeaderProtocol, strconv.Itoa(fsync.ProtocolVersion))
	req.Header.Set(mobile.HeaderSchema, strconv.Itoa(fsync.SchemaVersion))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.app.Test(req, -1)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// code is the machine-readable code of a problem answer.
func code(body map[string]any) string {
	c, _ := body["code"].(string)
	return c
}

// seededRand is a deterministic source for one goroutine of a run.
func seededRand(seed int64, stream int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(stream)))
}

// pick returns a random element of xs (the zero value for none).
func pick[T any](r *rand.Rand, xs []T) T {
	var zero T
	if len(xs) == 0 {
		return zero
	}
	return xs[r.IntN(len(xs))]
}

// keysOf lists the ids of kind in the device's local copy, sorted, so a
// seeded run picks the same records every time.
func keysOf(d *synctest.Device, kind domain.EntityKind) []string {
	var ids []string
	for k := range d.Records {
		if k.Kind == kind {
			ids = append(ids, k.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// describe names a device for messages.
func describe(d *synctest.Device) string {
	return fmt.Sprintf("%s device %s…", d.Principal.Role, d.ClientID[:8])
}
