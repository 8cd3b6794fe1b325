package main

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// simSeed is the first seed of the campaigns: FIELDSYNC_SIM_SEED replays a
// failed run; otherwise it changes every run, and the summary names it.
func simSeed(t *testing.T) int64 {
	if v := os.Getenv("FIELDSYNC_SIM_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("FIELDSYNC_SIM_SEED: %v", err)
		}
		return n
	}
	return time.Now().UnixNano() % 1_000_000
}

// The convergence campaign of every CI run: 20 phones, 200 operations,
// three seeds, with network faults, server kills mid-push and restarts of
// a private PostgreSQL the campaign starts itself.
func TestSimCampaignConverges(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(pgBinDir + "/pg_ctl"); err != nil && os.Getenv("CI") != "true" {
		t.Skipf("PostgreSQL server binaries not installed in %s", pgBinDir)
	}
	var out, errb syncBuffer
	env := &runEnv{getenv: func(string) string { return "" }, stdout: &out, stderr: &errb}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	o := simOptions{seed: simSeed(t), seeds: 3, devices: 20, ops: 200, faults: true, chaos: true, pause: 5 * time.Millisecond, tokenTTL: 15 * time.Second}
	reports, err := simulate(ctx, env, o)
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if len(reports) != 3 {
		t.Fatalf("%d campaigns ran, want 3", len(reports))
	}
	var faults int64
	for _, r := range reports {
		if r.Diverged() {
			t.Fatalf("seed %d diverged (replay with FIELDSYNC_SIM_SEED=%d)", r.Seed, r.Seed)
		}
		if r.Mutations == 0 || r.OfficeEdits == 0 || r.Reassignments == 0 {
			t.Fatalf("seed %d exercised too little: %+v", r.Seed, r)
		}
		faults += r.Faults.Dropped + r.Faults.Cut
	}
	// Faults are drawn at random: one light campaign may see none cut, the
	// three together must.
	if faults == 0 {
		t.Fatalf("no connection was dropped or cut in %d campaigns: the proxy injected nothing", len(reports))
	}
}

// withoutDeletes is a deliberately broken server: its pulls never tell a
// device to delete a record, so neither deletions nor revocations (a lead
// reassigned away, a tech taken off a project) reach the phones.
type withoutDeletes struct{ mobile.SyncEngine }

func (b withoutDeletes) Pull(ctx context.Context, p domain.Principal, req fsync.PullRequest) (fsync.PullResponse, error) {
	resp, err := b.SyncEngine.Pull(ctx, p, req)
	resp.Changes = slices.DeleteFunc(resp.Changes, func(c fsync.Change) bool { return c.Op == fsync.OpDelete })
	return resp, err
}

// The simulator can fail: against a server that drops revocations it
// reports divergence, with the first differing record and its history.
func TestSimReportsDivergenceOfABrokenServer(t *testing.T) {
	t.Parallel()
	var out, errb syncBuffer
	env := &runEnv{getenv: func(string) string { return "" }, stdout: &out, stderr: &errb}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := simOptions{
		seed: simSeed(t), seeds: 1, devices: 8, ops: 150, faults: false, chaos: false, tokenTTL: time.Minute,
		databaseURL: sqltest.PostgresURL(t),
		wrapEngine:  func(e mobile.SyncEngine) mobile.SyncEngine { return withoutDeletes{e} },
	}
	reports, err := simulate(ctx, env, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	summary := out.String()
	t.Logf("\n%s", summary)
	if len(reports) != 1 || !reports[0].Diverged() {
		t.Fatal("the simulator did not notice a server that never revokes")
	}
	if !strings.Contains(summary, "DIVERGED") || !strings.Contains(summary, "history of ") {
		t.Fatalf("the summary does not show the divergence and its history:\n%s", summary)
	}
}

// fieldsync sim refuses nonsense and prints its usage.
func TestSimFlags(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCmd(t, nil, "sim", "--devices", "2")
	if code != 1 || !strings.Contains(stderr, "--devices must be at least 4") {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
	code, stdout, _ := runCmd(t, nil, "sim", "--help")
	if code != 0 || !strings.Contains(stdout, "--seed") && !strings.Contains(stdout, "-seed") {
		t.Fatalf("code %d, usage %q", code, stdout)
	}
}
