//go:build bench

// The sync benchmarks of `make bench` (docs/benchmarks.md). They are load
// runs, not tests: each drives `fieldsync serve`, built from this package
// and run as a separate process on PostgreSQL and Redis, over loopback HTTP
// for a fixed time or a fixed amount of work, and reports what it measured;
// nothing here compares a time against a limit. The build tag keeps them
// out of `make test`; scripts/bench.sh runs them with
//
//	go test -tags bench -run '^$' -bench . -benchtime 1x ./cmd/fieldsync/
//
// and FIELDSYNC_BENCH_REPORT naming the file that receives the figures as
// Markdown, which it splices into docs/benchmarks.md. Each benchmark body
// runs once whatever b.N is: its work is set by its duration or record count.
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// The shape of the runs. They are sized for the project's 2-core machines
// with PostgreSQL and Redis on the same host: the whole of `make bench`
// stays well under 15 minutes, and every load is bounded in time or count.
const (
	// pushClients is the number of devices pushing at once in the push
	// runs, each with its own HTTP connection, one request at a time (a
	// phone pushes its outbox in order); pgbench gets as many clients.
	pushClients = 20
	// pushOrgs is how many organizations the first push run spreads over
	// (one device each).
	pushOrgs = 20
	// pushWarmup is run before each measured push window and not counted.
	pushWarmup = 2 * time.Second
	// pushWindow is how long pushes (and pgbench) are measured.
	pushWindow = 20 * time.Second
	// leadPool is the number of leads each pushing device may update once
	// each (lead.update with base_version current); a device that has
	// updated all of them logs interactions only.
	leadPool = 400
	// scopeLeads leads plus one interaction each make the 100,000-record
	// scope of the initial-sync run.
	scopeLeads = 50_000
	// seedBatch is the records written per transaction when loading.
	seedBatch = 2_000
	// pokeSamples is the number of commits timed per poke run.
	pokeSamples = 500
	// pokeWait is how long a sample waits for its poke before it counts
	// as lost.
	pokeWait = 5 * time.Second
	// benchRedisDB is the Redis database of the benchmarks (tests use 9).
	benchRedisDB = 10
	// appVersion is what the benchmark's devices say they run.
	appVersion = "bench"
)

// Targets of the issues, for the report's "met" column.
const (
	targetPushRatio    = 0.4
	targetOneOrgPushes = 300.0
	targetInitialRate  = 20_000
	targetInitialMemMB = 100.0
	targetPokeP95      = 100 * time.Millisecond
)

// TestMain builds nothing itself; it writes the report of the benchmarks
// that ran once they are all done, and removes the binary.
func TestMain(m *testing.M) {
	report.started = time.Now()
	report.loadStart = loadAverage()
	code := m.Run()
	report.loadEnd = loadAverage()
	if path := os.Getenv("FIELDSYNC_BENCH_REPORT"); path != "" && report.ran() {
		if err := os.WriteFile(path, []byte(report.markdown()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench report:", err)
			code = 1
		}
	}
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// ---------------------------------------------------------------------------
// The benchmarks.

// BenchmarkPushManyOrgs measures single-mutation pushes per second over HTTP
// from pushOrgs organizations (one device each, pushing at once), then, in
// the same run, pgbench -N on a scratch database of the same server with as
// many clients for as long, and reports the ratio.
func BenchmarkPushManyOrgs(b *testing.B) {
	env := newBenchEnv(b)
	var devices []*pushDevice
	for i := range pushOrgs {
		org := env.org(b, fmt.Sprintf("push-%02d", i))
		rep := env.user(b, org, domain.RoleSales, "rep")
		devices = append(devices, env.pushDevice(b, org, rep))
	}
	env.analyze(b, true)
	srv := env.serve(b)
	for _, d := range devices {
		srv.register(b, d.token, d.clientID)
	}
	res := runPushes(b, env, srv, devices)
	res.rejected = countOutcomes(b, srv, devices)
	pg := env.pgbench(b, pushClients, pushWindow)
	ratio := res.rate / pg.tps
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(res.rate, "pushes/s")
	b.ReportMetric(pg.tps, "pgbench-tps")
	b.ReportMetric(ratio, "ratio")
	report.set(func(r *benchReport) { r.manyOrgs, r.pgbench = &res, &pg })
}

// BenchmarkPushOneOrg measures single-mutation pushes per second when every
// pushing device belongs to one organization (pushClients sales reps, one
// device each), whose writes the store serializes.
func BenchmarkPushOneOrg(b *testing.B) {
	env := newBenchEnv(b)
	org := env.org(b, "one-org")
	var devices []*pushDevice
	for range pushClients {
		rep := env.user(b, org, domain.RoleSales, "rep")
		devices = append(devices, env.pushDevice(b, org, rep))
	}
	env.analyze(b, true)
	srv := env.serve(b)
	for _, d := range devices {
		srv.register(b, d.token, d.clientID)
	}
	res := runPushes(b, env, srv, devices)
	res.rejected = countOutcomes(b, srv, devices)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(res.rate, "pushes/s")
	report.set(func(r *benchReport) { r.oneOrg = &res })
}

// BenchmarkInitialSync loads a scope of scopeLeads leads and as many
// interactions, all visible to one manager, then times a new device's whole
// first sync (register, then pull until has_more is false) with the default
// page size and with the largest, each against a freshly started server
// whose memory is read before and at its peak.
func BenchmarkInitialSync(b *testing.B) {
	env := newBenchEnv(b)
	org := env.org(b, "scope")
	mgr := env.user(b, org, domain.RoleManager, "manager")
	var reps []*domain.User
	for range 10 {
		reps = append(reps, env.user(b, org, domain.RoleSales, "rep"))
	}
	loadStart := time.Now()
	env.loadScope(b, org, reps, scopeLeads)
	loaded := time.Since(loadStart)
	token := env.token(b, mgr)
	var results []initialResult
	for _, limit := range []int{0, fsync.MaxPullLimit} {
		srv := env.serve(b)
		r := srv.initialSync(b, env, token, limit)
		r.loadTime = loaded
		srv.stop(b)
		results = append(results, r)
		name := "default"
		if limit > 0 {
			name = strconv.Itoa(limit)
		}
		b.Logf("initial sync, page %s: %d records in %s (%.0f records/s), RSS %.1f MB -> peak %.1f MB; CPUs busy: %s",
			name, r.records, r.elapsed.Round(time.Millisecond), r.rate(), mb(r.rssBefore), mb(r.hwm), r.cpu)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(results[0].rate(), "records/s")
	b.ReportMetric(mb(results[0].hwm-results[0].rssBefore), "MB-growth")
	b.ReportMetric(results[1].rate(), "records/s-max-page")
	b.ReportMetric(mb(results[1].hwm-results[1].rssBefore), "MB-growth-max-page")
	report.set(func(r *benchReport) { r.initial = results })
}

// BenchmarkPokeLatency opens a device's event stream and times, commit by
// commit, how long the "pull now" poke takes to arrive: first for writes
// committed by another process through the same write path and poke bus
// (timed from the commit), then for pushes from the user's second device
// over HTTP (timed from sending the push, so the figure includes the push
// itself).
func BenchmarkPokeLatency(b *testing.B) {
	env := newBenchEnv(b)
	org := env.org(b, "poke")
	rep := env.user(b, org, domain.RoleSales, "rep")
	leads := env.leads(b, org, rep, 1)
	env.analyze(b, true)
	srv := env.serve(b)
	token := env.token(b, rep)
	listener, pusher := uuid.NewString(), uuid.NewString()
	srv.register(b, token, listener)
	srv.register(b, token, pusher)
	stream := srv.events(b, token, listener)

	// A second process's view of the product: the same wiring as serve
	// (store, Redis, poke bus) with the commit hook timed.
	sys := env.sys
	sys.openSync(context.Background())
	var committed atomic.Int64
	bus := sys.pokes
	sys.store.OnCommit(func(orgID string, _ int64, users []string) {
		committed.Store(time.Now().UnixNano())
		bus.Publish(context.Background(), orgID, users)
	})
	time.Sleep(200 * time.Millisecond) // let the registrations' pokes land
	stream.drain()

	p := domain.Principal{OrgID: org.ID, UserID: rep.ID, Role: rep.Role}
	direct := pokeResult{name: "write in another process → poke"}
	for i := range pokeSamples {
		stream.drain()
		err := sys.store.Write(context.Background(), p, func(tx domain.Tx) error {
			rec, err := tx.Find(domain.KindLead, leads[0].id)
			if err != nil {
				return err
			}
			l := rec.(*domain.Lead)
			l.Notes = fmt.Sprintf("poke sample %d", i)
			return tx.Update(l)
		})
		if err != nil {
			b.Fatalf("write: %v", err)
		}
		at, ok := stream.wait(pokeWait)
		if !ok {
			direct.lost++
			continue
		}
		direct.samples = append(direct.samples, at.Sub(time.Unix(0, committed.Load())))
	}

	pushed := pokeResult{name: "push over HTTP → poke"}
	dev := &pushDevice{token: token, clientID: pusher, hot: leads[0]}
	hc := newHTTPClient(2)
	defer hc.CloseIdleConnections()
	for range pokeSamples {
		stream.drain()
		body := dev.nextBody(false)
		start := time.Now()
		if err := srv.push(hc, dev, body); err != nil {
			b.Fatalf("push: %v", err)
		}
		pushed.roundTrips = append(pushed.roundTrips, time.Since(start))
		at, ok := stream.wait(pokeWait)
		if !ok {
			pushed.lost++
			continue
		}
		pushed.samples = append(pushed.samples, at.Sub(start))
	}
	stream.close()
	for _, r := range []*pokeResult{&direct, &pushed} {
		b.Logf("%s: %d samples, p50 %s p95 %s p99 %s max %s, lost %d", r.name, len(r.samples),
			pct(r.samples, 50), pct(r.samples, 95), pct(r.samples, 99), pct(r.samples, 100), r.lost)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(pct(direct.samples, 95)), "p95-ms")
	b.ReportMetric(ms(pct(pushed.samples, 95)), "p95-ms-push")
	report.set(func(r *benchReport) { r.poke = []pokeResult{direct, pushed} })
}

// ---------------------------------------------------------------------------
// Environment: a fresh database, the binary, keys, Redis.

// binDir holds the fieldsync binary the benchmarks run, built once.
var binDir string

var buildBinary = gosync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "fieldsync-bench-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "fieldsync")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// benchEnv is one benchmark's database (fresh, migrated by `fieldsync
// migrate`), the settings every process of it gets, and a store in this
// process for loading data through the write path.
type benchEnv struct {
	bin    string
	vars   map[string]string
	sys    *system
	tokens *auth.Tokens
	// db is a plain connection to the benchmark's database, for ANALYZE
	// and for reading which server processes serve it.
	db *sql.DB
	// written counts the records loaded, analyzed those at the last ANALYZE.
	written, analyzed int
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	bin, err := buildBinary()
	if err != nil {
		b.Fatal(err)
	}
	spec, err := auth.GenerateKeySpec("bench")
	if err != nil {
		b.Fatal(err)
	}
	keys, err := auth.ParseKeyRing(spec)
	if err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{
		bin: bin,
		vars: map[string]string{
			"DATABASE_URL":       sqltest.PostgresURL(b),
			"REDIS_URL":          benchRedisURL(b),
			"FIELDSYNC_JWT_KEYS": spec,
		},
		// Tokens signed with the server's key, as sign-in would issue
		// them: sign-in itself (argon2id, rate limited per address) is not
		// what is measured, and its per-address limit would refuse dozens
		// of sign-ins from one loopback address.
		tokens: auth.NewTokens(keys, nil, 2*time.Hour),
	}
	report.machineOnce(b, e.vars["DATABASE_URL"])
	if out, err := e.run(b, "migrate"); err != nil {
		b.Fatalf("fieldsync migrate: %v\n%s", err, out)
	}
	e.sys = e.system(b)
	db, err := sql.Open("pgx", e.vars["DATABASE_URL"])
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { _ = db.Close() })
	e.db = db
	return e
}

// loaded notes n more records written by the loader and runs ANALYZE each
// time the records have doubled since the last one. The write path's
// statements are prepared and cached per connection, and plans made while a
// table was nearly empty (sequential scans) are kept until it is analyzed,
// so without this a load slows down as its tables grow; autovacuum would
// analyze them too, but only after a minute or so.
func (e *benchEnv) loaded(b *testing.B, n int) {
	b.Helper()
	e.written += n
	if e.written >= 2*max(e.analyzed, 500) {
		e.analyze(b, false)
		e.analyzed = e.written
	}
}

// analyze runs VACUUM ANALYZE on the benchmark's database after loading,
// as pgbench -i does on its own and autovacuum would do in production:
// measured runs start on a database whose statistics are current.
func (e *benchEnv) analyze(b *testing.B, vacuum bool) {
	b.Helper()
	q := "ANALYZE"
	if vacuum {
		q = "VACUUM ANALYZE"
	}
	if _, err := e.db.Exec(q); err != nil {
		b.Fatalf("%s: %v", q, err)
	}
}

// run runs a short subcommand of the binary and returns its output.
func (e *benchEnv) run(b *testing.B, args ...string) ([]byte, error) {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.environ(b.TempDir())
	return cmd.CombinedOutput()
}

func (e *benchEnv) environ(dataDir string) []string {
	env := []string{"FIELDSYNC_HTTP_ADDR=127.0.0.1:0", "FIELDSYNC_DATA_DIR=" + dataDir}
	for k, v := range e.vars {
		env = append(env, k+"="+v)
	}
	return env
}

// system opens the product's own store and Redis wiring in this process,
// as a second replica would, quiet.
func (e *benchEnv) system(b *testing.B) *system {
	b.Helper()
	env := &runEnv{getenv: func(k string) string { return e.vars[k] }, stdout: io.Discard, stderr: io.Discard}
	s, err := newSystem(env, modeServe)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.close)
	ctx := context.Background()
	if err := s.openStore(ctx, false); err != nil {
		b.Fatal(err)
	}
	if err := s.openRedis(ctx, false); err != nil {
		b.Fatal(err)
	}
	return s
}

func (e *benchEnv) token(b *testing.B, u *domain.User) string {
	b.Helper()
	tok, _, err := e.tokens.Issue(domain.Principal{OrgID: u.OrgID, UserID: u.ID, Role: u.Role}, "bench-"+u.ID)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// benchRedisURL is the benchmarks' Redis database, emptied first.
func benchRedisURL(b *testing.B) string {
	b.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	opt.DB = benchRedisDB
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.FlushDB(ctx).Err(); err != nil {
		b.Fatalf("Redis not reachable at %s: start it with `make services` (%v)", opt.Addr, err)
	}
	report.redisOnce(c)
	return fmt.Sprintf("redis://%s/%d", opt.Addr, benchRedisDB)
}

// ---------------------------------------------------------------------------
// Loading data through the one write path.

func (e *benchEnv) org(b *testing.B, name string) *domain.Organization {
	b.Helper()
	org := &domain.Organization{
		Name: "Bench " + name, Slug: "bench-" + name + "-" + uuid.NewString()[:8],
		TimeZone: "America/Detroit", Settings: domain.DefaultOrgSettings(),
	}
	if err := e.sys.store.CreateOrganization(context.Background(), org); err != nil {
		b.Fatalf("create organization: %v", err)
	}
	return org
}

func system0(org *domain.Organization) domain.Principal {
	return domain.Principal{OrgID: org.ID, Role: domain.RoleAdmin}
}

func (e *benchEnv) user(b *testing.B, org *domain.Organization, role domain.Role, name string) *domain.User {
	b.Helper()
	u := &domain.User{
		Email: name + "-" + uuid.NewString()[:12] + "@bench.test", Name: "Bench " + name,
		Phone: "+12485550100", Role: role, Active: true,
	}
	if err := e.sys.store.Write(context.Background(), system0(org), func(tx domain.Tx) error { return tx.Create(u) }); err != nil {
		b.Fatalf("create user: %v", err)
	}
	return u
}

// leadRef is a lead as a device last saw it.
type leadRef struct {
	id      string
	version int64
}

var (
	benchFirst  = []string{"Emily", "Michael", "Sarah", "David", "Jessica", "Robert", "Ashley", "James", "Megan", "Daniel"}
	benchLast   = []string{"Anderson", "Brooks", "Carter", "Dawson", "Ellis", "Foster", "Grant", "Hayes", "Irving", "Jensen"}
	benchCities = []struct{ city, zip string }{{"Bloomfield Hills", "48301"}, {"Birmingham", "48009"}, {"Novi", "48375"}, {"Troy", "48098"}}
)

func benchLead(org *domain.Organization, owner string, n int) *domain.Lead {
	place := benchCities[n%len(benchCities)]
	first, last := benchFirst[n%len(benchFirst)], benchLast[(n/len(benchFirst))%len(benchLast)]
	l := &domain.Lead{
		Source: "web_form", FirstName: first, LastName: last,
		Email:  fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(first), strings.ToLower(last), n),
		Phone:  fmt.Sprintf("+1248%07d", n%10_000_000),
		Street: fmt.Sprintf("%d Woodward Ave", 100+n%9800), City: place.city, State: "MI", Zip: place.zip,
		Status: domain.LeadNew, AssignedTo: owner, RoutingRule: "bench",
		PropertyValue: int64(150_000 + (n%85)*10_000), Income: int64(60_000 + (n%30)*7_500),
		Engagement: domain.EngagementFormFill, Budget: domain.BudgetEstimated,
		Authority: domain.AuthorityDecisionMaker, Need: domain.NeedWithin3Mo, Timeline: domain.Timeline30To90,
	}
	l.Rescore(org.Settings)
	return l
}

// leads creates n leads assigned to owner, seedBatch per transaction.
func (e *benchEnv) leads(b *testing.B, org *domain.Organization, owner *domain.User, n int) []leadRef {
	b.Helper()
	out := make([]leadRef, 0, n)
	for start := 0; start < n; start += seedBatch {
		batch := make([]*domain.Lead, 0, min(seedBatch, n-start))
		err := e.sys.store.Write(context.Background(), system0(org), func(tx domain.Tx) error {
			batch = batch[:0]
			for i := start; i < min(start+seedBatch, n); i++ {
				l := benchLead(org, owner.ID, i)
				if err := tx.Create(l); err != nil {
					return err
				}
				batch = append(batch, l)
			}
			return nil
		})
		if err != nil {
			b.Fatalf("create leads: %v", err)
		}
		for _, l := range batch {
			out = append(out, leadRef{l.ID, l.Version})
		}
		e.loaded(b, len(batch))
	}
	return out
}

// loadScope writes n leads spread over reps, each with one logged call.
func (e *benchEnv) loadScope(b *testing.B, org *domain.Organization, reps []*domain.User, n int) {
	b.Helper()
	per := seedBatch / 2
	for start := 0; start < n; start += per {
		err := e.sys.store.Write(context.Background(), system0(org), func(tx domain.Tx) error {
			for i := start; i < min(start+per, n); i++ {
				rep := reps[i%len(reps)]
				l := benchLead(org, rep.ID, i)
				l.InteractionCount = 1
				l.Rescore(org.Settings)
				if err := tx.Create(l); err != nil {
					return err
				}
				in := &domain.Interaction{
					LeadID: l.ID, UserID: rep.ID, Kind: domain.InteractionCall, Direction: "outbound",
					Subject: "Follow-up on roof inquiry", Body: "Discussed roof condition and next steps.",
					OccurredAt: time.Now().Add(-time.Duration(i) * time.Minute).UTC(), DurationSeconds: 60 + i%900,
				}
				if err := tx.Create(in); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("load scope: %v", err)
		}
		e.loaded(b, 2*(min(start+per, n)-start))
	}
	e.analyze(b, true)
}

// ---------------------------------------------------------------------------
// The server process.

type serveProc struct {
	cmd     *exec.Cmd
	base    string
	logPath string
	done    chan error
	client  *http.Client
}

var listenRE = regexp.MustCompile(`"msg":"http listening","addr":"([^"]+)"`)

// serve starts `fieldsync serve` as a separate process and waits until it
// answers /readyz.
func (e *benchEnv) serve(b *testing.B) *serveProc {
	b.Helper()
	dir := b.TempDir()
	logPath := filepath.Join(dir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(e.bin, "serve")
	cmd.Env = e.environ(dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatalf("start fieldsync serve: %v", err)
	}
	p := &serveProc{cmd: cmd, logPath: logPath, done: make(chan error, 1), client: newHTTPClient(4)}
	go func() { p.done <- cmd.Wait() }()
	b.Cleanup(func() { p.stop(b) })
	deadline := time.Now().Add(time.Minute)
	for p.base == "" {
		select {
		case err := <-p.done:
			p.done <- err
			b.Fatalf("fieldsync serve exited before listening (%v):\n%s", err, p.log())
		case <-time.After(20 * time.Millisecond):
		}
		if m := listenRE.FindStringSubmatch(p.log()); m != nil {
			p.base = "http://" + m[1]
		}
		if time.Now().After(deadline) {
			b.Fatalf("fieldsync serve did not listen within a minute:\n%s", p.log())
		}
	}
	for {
		resp, err := p.client.Get(p.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("fieldsync serve not ready within a minute (%v):\n%s", err, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *serveProc) log() string {
	raw, _ := os.ReadFile(p.logPath)
	return string(raw)
}

// stop ends the server (SIGTERM, then SIGKILL after 30 s); safe to call twice.
func (p *serveProc) stop(b *testing.B) {
	if p.cmd == nil {
		return
	}
	cmd := p.cmd
	p.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-p.done
		b.Errorf("fieldsync serve did not stop on SIGTERM within 30 s")
	}
	p.client.CloseIdleConnections()
}

// procStatus reads a field of /proc/<pid>/status in bytes (VmRSS, VmHWM).
func (p *serveProc) procStatus(b *testing.B, field string) int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("%s: %q", field, line)
			}
			return kb << 10
		}
	}
	b.Fatalf("/proc/%d/status has no %s", p.cmd.Process.Pid, field)
	return 0
}

func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

var versions = fsync.Versions{ProtocolVersion: fsync.ProtocolVersion, SchemaVersion: fsync.SchemaVersion, AppVersion: appVersion}

// post sends a JSON body and decodes a 200 or 201 answer into out.
func (p *serveProc) post(c *http.Client, path, token string, body []byte, out any) error {
	raw, err := p.postRaw(c, path, token, body)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// postRaw sends a JSON body and returns a 200 or 201 answer's bytes.
func (p *serveProc) postRaw(c *http.Client, path, token string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, p.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, raw)
	}
	return raw, nil
}

func (p *serveProc) register(b *testing.B, token, clientID string) {
	b.Helper()
	if err := p.registerErr(token, clientID); err != nil {
		b.Fatal(err)
	}
}

func (p *serveProc) registerErr(token, clientID string) error {
	body, err := json.Marshal(fsync.DeviceRegistration{Versions: versions, ClientID: clientID, Platform: domain.PlatformIOS})
	if err != nil {
		return err
	}
	return p.post(p.client, "/v1/devices", token, body, nil)
}

// ---------------------------------------------------------------------------
// Pushing.

// pushDevice is one phone pushing its outbox one mutation at a time:
// alternately a call logged on its hot lead (interaction.log) and a note on
// the next lead of its pool it has not touched yet (lead.update against the
// version it holds, so the merge has nothing to resolve).
type pushDevice struct {
	token    string
	clientID string
	hot      leadRef
	pool     []leadRef
	next     int64 // id of the next mutation
	updates  int
	logs     int
}

func (e *benchEnv) pushDevice(b *testing.B, org *domain.Organization, rep *domain.User) *pushDevice {
	b.Helper()
	leads := e.leads(b, org, rep, leadPool+1)
	return &pushDevice{token: e.token(b, rep), clientID: uuid.NewString(), hot: leads[0], pool: leads[1:]}
}

type pushBody struct {
	fsync.Versions
	ClientID  string           `json:"client_id"`
	Mutations []fsync.Mutation `json:"mutations"`
}

// nextBody is the push of the device's next mutation; mix alternates
// interaction.log and lead.update, otherwise it logs only.
func (d *pushDevice) nextBody(mix bool) []byte {
	d.next++
	var m fsync.Mutation
	if mix && d.next%2 == 0 && d.updates < len(d.pool) {
		l := d.pool[d.updates]
		d.updates++
		m.Name = "lead.update"
		m.Args, _ = json.Marshal(map[string]any{
			"id": l.id, "base_version": l.version,
			"fields": map[string]any{"notes": fmt.Sprintf("Gate code %04d, dog in yard", d.next%10_000)},
		})
	} else {
		d.logs++
		m.Name = "interaction.log"
		m.Args, _ = json.Marshal(map[string]any{
			"id": uuid.NewString(), "lead_id": d.hot.id, "kind": "call", "direction": "outbound",
			"occurred_at": time.Now().UTC().Format(time.RFC3339), "duration_seconds": 240,
			"subject": "Follow-up call",
		})
	}
	m.ID = d.next
	body, _ := json.Marshal(pushBody{Versions: versions, ClientID: d.clientID, Mutations: []fsync.Mutation{m}})
	return body
}

// push sends one push and checks that the server processed exactly it.
func (p *serveProc) push(c *http.Client, d *pushDevice, body []byte) error {
	var resp fsync.PushResponse
	if err := p.post(c, "/v1/sync/push", d.token, body, &resp); err != nil {
		return err
	}
	if resp.Gap != nil || resp.Processed != 1 || resp.LastMutationID != d.next {
		return fmt.Errorf("push of mutation %d answered %+v", d.next, resp)
	}
	return nil
}

type pushResult struct {
	devices, orgs int
	window        time.Duration
	pushes        int
	rate          float64
	latencies     []time.Duration
	errors        int
	firstError    string
	updates, logs int
	rejected      int
	cpu           cpuUse
}

// runPushes runs every device in its own goroutine, pushing back to back,
// for pushWarmup and then pushWindow, and counts the pushes answered within
// the window.
func runPushes(b *testing.B, env *benchEnv, srv *serveProc, devices []*pushDevice) pushResult {
	b.Helper()
	const (
		warming = iota
		measuring
		stopping
	)
	var phase atomic.Int32
	client := newHTTPClient(len(devices) + 4)
	defer client.CloseIdleConnections()
	type tally struct {
		lat    []time.Duration
		errs   int
		errMsg string
	}
	tallies := make([]tally, len(devices))
	var wg gosync.WaitGroup
	for i, d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := &tallies[i]
			for phase.Load() != stopping {
				body := d.nextBody(true)
				start := time.Now()
				err := srv.push(client, d, body)
				took := time.Since(start)
				measured := phase.Load() == measuring
				if err != nil {
					if measured {
						t.errs++
						if t.errMsg == "" {
							t.errMsg = err.Error()
						}
					}
					// Go on from what the server says it processed.
					d.next = lastProcessed(srv, client, d)
					continue
				}
				if measured {
					t.lat = append(t.lat, took)
				}
			}
		}()
	}
	time.Sleep(pushWarmup)
	phase.Store(measuring)
	start := time.Now()
	cpuStart := env.cpu(b, srv)
	time.Sleep(pushWindow)
	phase.Store(stopping)
	window := time.Since(start)
	cpu := cpuStart.until(env.cpu(b, srv))
	wg.Wait()
	res := pushResult{devices: len(devices), window: window, cpu: cpu}
	for i, t := range tallies {
		res.latencies = append(res.latencies, t.lat...)
		res.errors += t.errs
		if res.firstError == "" {
			res.firstError = t.errMsg
		}
		res.updates += devices[i].updates
		res.logs += devices[i].logs
	}
	res.pushes = len(res.latencies)
	res.rate = float64(res.pushes) / window.Seconds()
	slices.Sort(res.latencies)
	b.Logf("%d devices: %d pushes in %s = %.1f pushes/s (p50 %s, p95 %s, p99 %s), %d errors %s",
		len(devices), res.pushes, window.Round(time.Millisecond), res.rate,
		pct(res.latencies, 50), pct(res.latencies, 95), pct(res.latencies, 99), res.errors, res.firstError)
	b.Logf("CPUs busy: %s", cpu)
	if res.errors > 0 {
		b.Errorf("%d pushes failed; first: %s", res.errors, res.firstError)
	}
	return res
}

// lastProcessed asks the server (by registering again, which answers the
// device's last processed mutation id) where a device stands.
func lastProcessed(srv *serveProc, c *http.Client, d *pushDevice) int64 {
	body, _ := json.Marshal(fsync.DeviceRegistration{Versions: versions, ClientID: d.clientID, Platform: domain.PlatformIOS})
	var resp struct {
		LastMutationID int64 `json:"last_mutation_id"`
	}
	if err := srv.post(c, "/v1/devices", d.token, body, &resp); err != nil {
		return d.next - 1
	}
	return resp.LastMutationID
}

// countOutcomes pulls one page for every device and counts the outcomes
// (rejections and conflicts) of its mutations: the pushes measured should
// all have applied cleanly.
func countOutcomes(b *testing.B, srv *serveProc, devices []*pushDevice) int {
	b.Helper()
	n := 0
	for _, d := range devices {
		body, _ := json.Marshal(fsync.PullRequest{Versions: versions, ClientID: d.clientID, Limit: 1})
		var resp struct {
			Outcomes []fsync.Outcome `json:"outcomes"`
		}
		if err := srv.post(srv.client, "/v1/sync/pull", d.token, body, &resp); err != nil {
			b.Fatal(err)
		}
		n += len(resp.Outcomes)
		for _, o := range resp.Outcomes {
			b.Logf("outcome of mutation %d (%s): %s %s", o.MutationID, o.Name, o.Code, o.Message)
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// pgbench.

type pgbenchResult struct {
	clients int
	window  time.Duration
	tps     float64
	command string
	// cpu is the CPUs busy while it ran, with pgbench as the "server"
	// and the backends serving it as PostgreSQL.
	cpu cpuUse
}

var tpsRE = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench initializes a scratch database at scale 10 and runs pgbench's
// simple-update script (-N) with clients clients for window, reading where
// the CPU time goes between its first second and shortly before its end.
func (e *benchEnv) pgbench(b *testing.B, clients int, window time.Duration) pgbenchResult {
	b.Helper()
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		b.Fatal("pgbench not found: install the PostgreSQL client tools (apt-get install -y postgresql-client)")
	}
	dbURL := sqltest.PostgresURL(b)
	if out, err := exec.Command(pgbench, "-i", "-s", "10", "-q", dbURL).CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	args := []string{"-N", "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(int(window.Seconds())), "-n"}
	var out bytes.Buffer
	cmd := exec.Command(pgbench, append(args, dbURL)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	u, err := neturl.Parse(dbURL)
	if err != nil {
		b.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	if err := cmd.Start(); err != nil {
		b.Fatalf("pgbench: %v", err)
	}
	b.Cleanup(func() { // only if the benchmark failed before waiting for it
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	time.Sleep(time.Second)
	first := e.cpuOf(b, cmd.Process.Pid, dbName)
	time.Sleep(window - 1500*time.Millisecond)
	cpu := first.until(e.cpuOf(b, cmd.Process.Pid, dbName))
	if err := cmd.Wait(); err != nil {
		b.Fatalf("pgbench: %v\n%s", err, out.Bytes())
	}
	m := tpsRE.FindSubmatch(out.Bytes())
	if m == nil {
		b.Fatalf("pgbench printed no tps:\n%s", out.Bytes())
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	b.Logf("pgbench %s: %.1f tps; CPUs busy: machine %.2f = pgbench %.2f + its backends %.2f + load generator %.2f + other %.2f",
		strings.Join(args, " "), tps, cpu.machine, cpu.server, cpu.pg, cpu.self, cpu.other())
	return pgbenchResult{clients: clients, window: window, tps: tps, cpu: cpu,
		command: "pgbench -i -s 10 && pgbench " + strings.Join(args, " ")}
}

// ---------------------------------------------------------------------------
// Initial sync.

type initialResult struct {
	limit     int // 0: the server's default
	records   int
	pages     int
	bytes     int64
	elapsed   time.Duration
	rssBefore int64
	hwm       int64
	loadTime  time.Duration
	cpu       cpuUse
}

func (r initialResult) rate() float64 { return float64(r.records) / r.elapsed.Seconds() }

// thousands writes n with thousands separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// initialSync times a new device's first sync: registration, then pulls
// until has_more is false, reading the server's resident memory before and
// its peak after.
func (p *serveProc) initialSync(b *testing.B, env *benchEnv, token string, limit int) initialResult {
	b.Helper()
	r := initialResult{limit: limit}
	client := newHTTPClient(2)
	defer client.CloseIdleConnections()
	// Settle what start-up allocated before reading the baseline.
	time.Sleep(500 * time.Millisecond)
	r.rssBefore = p.procStatus(b, "VmRSS")
	clientID := uuid.NewString()
	start := time.Now()
	cpuStart := env.cpu(b, p)
	if err := p.registerErr(token, clientID); err != nil {
		b.Fatal(err)
	}
	req := fsync.PullRequest{Versions: versions, ClientID: clientID, Limit: limit}
	for {
		body, _ := json.Marshal(req)
		var page struct {
			Cursor  string `json:"cursor"`
			HasMore bool   `json:"has_more"`
			Changes []struct {
				Op string `json:"op"`
			} `json:"changes"`
		}
		cr := &countingReader{}
		if err := p.postCounting(client, "/v1/sync/pull", token, body, cr, &page); err != nil {
			b.Fatal(err)
		}
		r.pages++
		r.bytes += cr.n
		for _, c := range page.Changes {
			if c.Op == fsync.OpPut {
				r.records++
			}
		}
		req.Cursor = page.Cursor
		if !page.HasMore {
			break
		}
	}
	r.elapsed = time.Since(start)
	r.cpu = cpuStart.until(env.cpu(b, p))
	r.hwm = p.procStatus(b, "VmHWM")
	if r.records < 2*scopeLeads {
		b.Errorf("initial sync delivered %d records, want at least %d", r.records, 2*scopeLeads)
	}
	return r
}

type countingReader struct{ n int64 }

// postCounting is post that also counts the answer's bytes.
func (p *serveProc) postCounting(c *http.Client, path, token string, body []byte, cr *countingReader, out any) error {
	raw, err := p.postRaw(c, path, token, body)
	if err != nil {
		return err
	}
	cr.n = int64(len(raw))
	return json.Unmarshal(raw, out)
}

// ---------------------------------------------------------------------------
// Event stream.

type eventStream struct {
	resp  *http.Response
	pokes chan time.Time
}

// events opens GET /v1/sync/events for a device and waits for "ready".
func (p *serveProc) events(b *testing.B, token, clientID string) *eventStream {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, p.base+"/v1/sync/events?client_id="+clientID, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Fieldsync-Protocol", strconv.Itoa(fsync.ProtocolVersion))
	req.Header.Set("X-Fieldsync-Schema", strconv.Itoa(fsync.SchemaVersion))
	req.Header.Set("Accept", "text/event-stream")
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		b.Fatalf("GET /v1/sync/events: %d %s", resp.StatusCode, raw)
	}
	s := &eventStream{resp: resp, pokes: make(chan time.Time, 1024)}
	ready := make(chan struct{})
	go func() {
		r := bufio.NewReader(resp.Body)
		readySeen := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				close(s.pokes)
				return
			}
			switch strings.TrimRight(line, "\r\n") {
			case "event: poke":
				s.pokes <- time.Now()
			case "event: ready":
				if !readySeen {
					readySeen = true
					close(ready)
				}
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		b.Fatal("the event stream sent no ready event within 10 s")
	}
	b.Cleanup(s.close)
	return s
}

// drain discards pokes already received.
func (s *eventStream) drain() {
	for {
		select {
		case <-s.pokes:
		default:
			return
		}
	}
}

// wait returns when the next poke arrived.
func (s *eventStream) wait(d time.Duration) (time.Time, bool) {
	select {
	case at, ok := <-s.pokes:
		return at, ok
	case <-time.After(d):
		return time.Time{}, false
	}
}

func (s *eventStream) close() { _ = s.resp.Body.Close() }

type pokeResult struct {
	name       string
	samples    []time.Duration
	roundTrips []time.Duration
	lost       int
}

// ---------------------------------------------------------------------------
// CPU accounting: where the machine's CPU time goes during a measured window.

// clockTick is USER_HZ, the unit of /proc CPU times (100 on Linux).
const clockTick = 100.0

// cpuSnapshot is the CPU time (seconds) used so far by the whole machine,
// the server process, each PostgreSQL process serving the benchmark's
// database, and this process (the load generator).
type cpuSnapshot struct {
	at      time.Time
	machine float64
	server  float64
	pg      map[int]float64
	self    float64
}

// cpuUse is the CPUs kept busy on average during a window, by part.
type cpuUse struct {
	machine, server, pg, self float64
}

func (u cpuUse) other() float64 { return max(0, u.machine-u.server-u.pg-u.self) }

func (u cpuUse) String() string {
	return fmt.Sprintf("machine %.2f = server %.2f + PostgreSQL backends %.2f + load generator %.2f + other %.2f",
		u.machine, u.server, u.pg, u.self, u.other())
}

func (e *benchEnv) cpu(b *testing.B, srv *serveProc) cpuSnapshot {
	b.Helper()
	return e.cpuOf(b, srv.cmd.Process.Pid, "")
}

// cpuOf is a snapshot with pid as the server and the backends of database
// dbName ("": the benchmark's own) as PostgreSQL.
func (e *benchEnv) cpuOf(b *testing.B, pid int, dbName string) cpuSnapshot {
	b.Helper()
	s := cpuSnapshot{at: time.Now(), machine: machineCPU(), server: procCPU(pid),
		self: procCPU(os.Getpid()), pg: map[int]float64{}}
	rows, err := e.db.Query(`SELECT pid FROM pg_stat_activity
		WHERE datname = COALESCE(NULLIF($1, ''), current_database()) AND pid <> pg_backend_pid()`, dbName)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		s.pg[pid] = procCPU(pid)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return s
}

// until is the use between s and a later snapshot z. A backend that
// started in between counts from zero; one that ended is not counted.
func (s cpuSnapshot) until(z cpuSnapshot) cpuUse {
	secs := z.at.Sub(s.at).Seconds()
	var pg float64
	for pid, t := range z.pg {
		pg += t - s.pg[pid]
	}
	return cpuUse{
		machine: (z.machine - s.machine) / secs,
		server:  (z.server - s.server) / secs,
		pg:      pg / secs,
		self:    (z.self - s.self) / secs,
	}
}

// machineCPU is the busy CPU time of all CPUs so far, from /proc/stat.
func machineCPU() float64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / clockTick
}

// procCPU is the user and system CPU time of a process so far, 0 if gone.
func procCPU(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(rest) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(rest[11], 64)
	stime, _ := strconv.ParseFloat(rest[12], 64)
	return (utime + stime) / clockTick
}

// ---------------------------------------------------------------------------
// Figures.

// pct is the p-th percentile of ds (nearest rank), 0 if empty.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mb(n int64) float64 { return float64(n) / (1 << 20) }

func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// benchReport collects what the benchmarks measured, for the Markdown.
type benchReport struct {
	mu                 gosync.Mutex
	started            time.Time
	loadStart, loadEnd string
	machine            gosync.Once
	cpus               int
	cpuModel, memory   string
	kernel, pgVersion  string
	pgSettings         string
	redisOnceGuard     gosync.Once
	redisVersion       string

	manyOrgs *pushResult
	pgbench  *pgbenchResult
	oneOrg   *pushResult
	initial  []initialResult
	poke     []pokeResult
	photos   *photoResult
	upload   *uploadResult
}

var report benchReport

func (r *benchReport) set(fn func(*benchReport)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r)
}

func (r *benchReport) ran() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.manyOrgs != nil || r.oneOrg != nil || r.initial != nil || r.poke != nil || r.photos != nil || r.upload != nil
}

// machineOnce records the machine and the database server.
func (r *benchReport) machineOnce(b *testing.B, dbURL string) {
	r.machine.Do(func() {
		r.cpus = runtime.NumCPU()
		r.cpuModel, r.memory, r.kernel = "unknown", "unknown", "unknown"
		if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
			for _, line := range strings.Split(string(raw), "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
					r.cpuModel = strings.TrimSpace(v)
					break
				}
			}
		}
		if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
			for _, line := range strings.Split(string(raw), "\n") {
				if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
					kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
					r.memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
		if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
			r.kernel = "Linux " + strings.TrimSpace(string(raw))
		}
		db, err := sql.Open("pgx", dbURL)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		var settings []string
		for _, q := range []string{"server_version", "fsync", "synchronous_commit", "shared_buffers", "max_connections"} {
			var v string
			if err := db.QueryRow("SHOW " + q).Scan(&v); err != nil {
				b.Fatalf("SHOW %s: %v", q, err)
			}
			if q == "server_version" {
				r.pgVersion = v
				continue
			}
			settings = append(settings, q+"="+v)
		}
		r.pgSettings = strings.Join(settings, ", ")
	})
}

func (r *benchReport) redisOnce(c *redis.Client) {
	r.redisOnceGuard.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := c.Info(ctx, "server").Result()
		r.redisVersion = "unknown"
		if err != nil {
			return
		}
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				r.redisVersion = v
			}
		}
	})
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func dur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.0f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond && d%time.Millisecond == 0:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", ms(d))
	default:
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
}

// maxOther is the most CPU that processes outside the benchmark used
// during a measured window.
func (r *benchReport) maxOther() float64 {
	var m float64
	for _, res := range []*pushResult{r.manyOrgs, r.oneOrg} {
		if res != nil {
			m = max(m, res.cpu.other())
		}
	}
	if r.pgbench != nil {
		m = max(m, r.pgbench.cpu.other()+r.pgbench.cpu.self)
	}
	for _, in := range r.initial {
		m = max(m, in.cpu.other())
	}
	return m
}

// markdown renders the figures section of docs/benchmarks.md.
func (r *benchReport) markdown() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	p("Measured %s by `make bench` (figures generated; edit the prose outside this block).\n\n",
		r.started.UTC().Format("2006-01-02 15:04 MST"))
	p("**Command:** `make bench`, which runs `scripts/bench.sh`: these figures come from\n")
	p("`go test -tags bench -run '^$' -bench . -benchtime 1x -timeout 20m ./cmd/fieldsync/`\n")
	p("(cmd/fieldsync/bench_test.go), against `fieldsync serve` built from this tree and run as a separate process.\n\n")
	p("**Machine:** %d CPUs (%s), %s RAM, %s; Go %s; PostgreSQL %s (%s) and Redis %s on the same machine,\n",
		r.cpus, r.cpuModel, r.memory, r.kernel, runtime.Version(), r.pgVersion, r.pgSettings, r.redisVersion)
	p("reached over loopback; load generator, server and databases share the %d CPUs. Load average at the start %s, at the end %s.\n",
		r.cpus, r.loadStart, r.loadEnd)
	p("The server runs with its defaults (`FIELDSYNC_DB_MAX_CONNS=10`, JSON request logs at info level to a file).\n\n")

	var missed []string
	miss := func(ok bool, what string) string {
		if !ok {
			missed = append(missed, what)
		}
		return met(ok)
	}
	p("| # | measure | figure | target | |\n| --- | --- | --- | --- | --- |\n")
	if m, pg := r.manyOrgs, r.pgbench; m != nil && pg != nil {
		ratio := m.rate / pg.tps
		p("| 1 | single-mutation pushes/s, %d organizations × 1 device, %d clients, %s | %.0f pushes/s | | |\n",
			m.devices, m.devices, dur(m.window.Round(time.Second)), m.rate)
		p("| 1 | `pgbench -N`, %d clients, 2 threads, %s, scale 10 | %.0f tps | | |\n", pg.clients, dur(pg.window), pg.tps)
		p("| 1 | pushes/s ÷ pgbench tps | %.2f | ≥ %.1f | %s |\n", ratio, targetPushRatio,
			miss(ratio >= targetPushRatio, fmt.Sprintf("1 (pushes/s ÷ pgbench tps %.2f, target ≥ %.1f)", ratio, targetPushRatio)))
	}
	if o := r.oneOrg; o != nil {
		p("| 2 | single-mutation pushes/s, 1 organization × %d devices, %d clients, %s | %.0f pushes/s | ≥ %.0f | %s |\n",
			o.devices, o.devices, dur(o.window.Round(time.Second)), o.rate, targetOneOrgPushes,
			miss(o.rate >= targetOneOrgPushes, fmt.Sprintf("2 (%.0f pushes/s in one organization, target ≥ %.0f)", o.rate, targetOneOrgPushes)))
	}
	for _, in := range r.initial {
		page := fmt.Sprintf("default page of %d", fsync.DefaultPullLimit)
		if in.limit > 0 {
			page = fmt.Sprintf("largest page of %s", thousands(in.limit))
		}
		growth := mb(in.hwm - in.rssBefore)
		p("| 3 | initial sync of %s records, %s | %s records/s | ≥ %s | %s |\n",
			thousands(in.records), page, thousands(int(in.rate())), thousands(targetInitialRate),
			miss(in.rate() >= targetInitialRate, fmt.Sprintf("3 (initial sync, %s: %s records/s, target ≥ %s)",
				page, thousands(int(in.rate())), thousands(targetInitialRate))))
		p("| 3 | server memory growth during it (peak VmHWM − VmRSS before) | %.1f MB | < %.0f MB | %s |\n",
			growth, targetInitialMemMB,
			miss(growth < targetInitialMemMB, fmt.Sprintf("3 (memory growth, %s: %.1f MB, target < %.0f MB)", page, growth, targetInitialMemMB)))
	}
	for _, k := range r.poke {
		p95 := pct(k.samples, 95)
		p("| 4 | commit-to-poke p95, %s (%d samples) | %s | < %s | %s |\n",
			k.name, len(k.samples), dur(p95), dur(targetPokeP95),
			miss(p95 < targetPokeP95 && k.lost == 0, fmt.Sprintf("4 (%s: p95 %s, %d lost, target p95 < %s)", k.name, dur(p95), k.lost, dur(targetPokeP95))))
	}
	if ph := r.photos; ph != nil {
		ratio := ph.oursRate() / ph.vipsRate()
		p("| 5 | photos processed per second per core (screen 1600 px + thumbnail 320 px), ÷ vipsthumbnail's on the same files | %.2f (%.2f vs %.2f photos/s) | ≥ %.1f | %s |\n",
			ratio, ph.oursRate(), ph.vipsRate(), targetPhotoRatio,
			miss(ratio >= targetPhotoRatio, fmt.Sprintf("5 (photos per core ÷ vipsthumbnail %.2f, target ≥ %.1f)", ratio, targetPhotoRatio)))
		p("| 5 | peak heap of one processing job (largest file) | %.0f MB | | |\n", mb(int64(ph.peakHeap)))
	}
	if u := r.upload; u != nil {
		seq, conc := u.serverMBps()/u.directMBps(), u.concMBps(u.serverConc)/u.concMBps(u.directConc)
		p("| 6 | photo upload throughput through the server (tus) ÷ direct PUTs into MinIO, %d uploads at a time | %.2f (%.1f vs %.1f MB/s) | ≥ %.1f | %s |\n",
			u.workers, conc, u.concMBps(u.serverConc), u.concMBps(u.directConc), targetUploadRatio,
			miss(conc >= targetUploadRatio, fmt.Sprintf("6 (upload throughput, %d at a time: %.2f of direct PUTs, target ≥ %.1f)", u.workers, conc, targetUploadRatio)))
		p("| 6 | the same, one upload at a time | %.2f (%.1f vs %.1f MB/s) | ≥ %.1f | %s |\n",
			seq, u.serverMBps(), u.directMBps(), targetUploadRatio,
			miss(seq >= targetUploadRatio, fmt.Sprintf("6 (upload throughput, one at a time: %.2f of a direct PUT, target ≥ %.1f)", seq, targetUploadRatio)))
		if u.oneReq > 0 {
			one := u.oneReqDirect.Seconds() / u.oneReq.Seconds()
			p("| 6 | the same, one at a time, tus creation-with-upload (the `POST` carries the file) | %.2f (%.1f vs %.1f MB/s) | ≥ %.1f | %s |\n",
				one, mb(u.oneReqBytes)/u.oneReq.Seconds(), mb(u.oneReqBytes)/u.oneReqDirect.Seconds(), targetUploadRatio,
				miss(one >= targetUploadRatio, fmt.Sprintf("6 (upload throughput with creation-with-upload: %.2f of a direct PUT, target ≥ %.1f)", one, targetUploadRatio)))
		}
	}
	p("\n")
	if len(missed) > 0 {
		p("**Missed in this run:** %s.\n\n", strings.Join(missed, "; "))
	} else {
		p("**Every target was met in this run.**\n\n")
	}
	if other := r.maxOther(); other > 0.25 {
		p("**Shared machine:** other processes used up to %.2f of the %d CPUs during the measured windows (\"other\" below), ", other, r.cpus)
		p("so these figures are lower than the same machine gives when idle. pgbench ran right after the pushes of 1, ")
		p("not at the same time, so unless both show little \"other\" the ratio may be off in either direction.\n\n")
	}

	if m, pg := r.manyOrgs, r.pgbench; m != nil && pg != nil {
		p("**1. Pushes across organizations.** %d organizations, each with one sales rep, one device and %d leads; ", m.devices, leadPool+1)
		p("each device pushes one mutation per request, back to back, alternating `interaction.log` (a call on its first lead, ")
		p("which also rescores that lead) and `lead.update` (a note on a lead it has not touched, against the version it holds). ")
		p("%s of warm-up, then %s measured: %s pushes answered (%s `lead.update`, %s `interaction.log` in all, warm-up included), ",
			dur(pushWarmup), dur(m.window.Round(time.Millisecond)), thousands(m.pushes), thousands(m.updates), thousands(m.logs))
		p("push latency p50 %s, p95 %s, p99 %s; %d failed; %d rejections or conflicts reported by the following pull. ",
			dur(pct(m.latencies, 50)), dur(pct(m.latencies, 95)), dur(pct(m.latencies, 99)), m.errors, m.rejected)
		p("CPUs busy on average during the window (of %d): %s; per push, %.2f ms of server CPU and %.2f ms of PostgreSQL backend CPU. ",
			r.cpus, m.cpu, 1000*m.cpu.server/m.rate, 1000*m.cpu.pg/m.rate)
		p("Right after, on a scratch database of the same server: `%s`: %.0f tps; CPUs busy: machine %.2f = pgbench %.2f + its backends %.2f + other %.2f; ",
			pg.command, pg.tps, pg.cpu.machine, pg.cpu.server, pg.cpu.pg, pg.cpu.other()+pg.cpu.self)
		p("pgbench and its backends used %.2f ms of CPU per transaction, the pushes' server, backends and load generator %.2f ms per push. Ratio %.2f.\n\n",
			1000*(pg.cpu.server+pg.cpu.pg)/pg.tps, 1000*(m.cpu.server+m.cpu.pg+m.cpu.self)/m.rate, m.rate/pg.tps)
	}
	if o := r.oneOrg; o != nil {
		p("**2. Pushes within one organization.** %d sales reps of one organization, one device each, the same mutations as in 1. ", o.devices)
		p("%s pushes in %s; latency p50 %s, p95 %s, p99 %s; %d failed; %d rejections or conflicts. ",
			thousands(o.pushes), dur(o.window.Round(time.Millisecond)), dur(pct(o.latencies, 50)), dur(pct(o.latencies, 95)), dur(pct(o.latencies, 99)),
			o.errors, o.rejected)
		p("CPUs busy on average: %s; per push, %.2f ms of server CPU and %.2f ms of PostgreSQL backend CPU. ",
			o.cpu, 1000*o.cpu.server/o.rate, 1000*o.cpu.pg/o.rate)
		p("The store serializes one organization's writes on its row lock (sqlstore `Write`), so this is the single-lock rate.\n\n")
	}
	if len(r.initial) > 0 {
		p("**3. Initial sync.** One organization with a manager and 10 sales reps; %s leads and one logged call each ",
			thousands(scopeLeads))
		p("loaded through the write path (%s records per transaction, %s), all in the manager's scope. ",
			thousands(seedBatch), dur(r.initial[0].loadTime.Round(time.Millisecond)))
		p("For each page size a freshly started server; timed from `POST /v1/devices` of a new device to the pull answering `has_more: false`, ")
		p("the client decoding every page. Memory from `/proc/<pid>/status` of the server: VmRSS half a second after it is ready, VmHWM after the session.\n\n")
		p("| page size | records | pages | bytes | time | records/s | VmRSS before | VmHWM | growth | CPUs busy: server / PostgreSQL / client / other |\n")
		p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, in := range r.initial {
			size := fmt.Sprintf("default (%d)", fsync.DefaultPullLimit)
			if in.limit > 0 {
				size = thousands(in.limit)
			}
			p("| %s | %s | %d | %.1f MB | %s | %s | %.1f MB | %.1f MB | %.1f MB | %.2f / %.2f / %.2f / %.2f |\n", size,
				thousands(in.records), in.pages, mb(in.bytes), dur(in.elapsed.Round(time.Millisecond)), thousands(int(in.rate())),
				mb(in.rssBefore), mb(in.hwm), mb(in.hwm-in.rssBefore),
				in.cpu.server, in.cpu.pg, in.cpu.self, in.cpu.other())
		}
		p("\n")
	}
	if len(r.poke) > 0 {
		p("**4. Commit-to-poke latency.** A sales rep's device holds `GET /v1/sync/events` open on the server; %d times in a row ", pokeSamples)
		p("a change to the rep's lead commits and the time until `event: poke` is read on the stream is taken (the next change waits for it). ")
		p("First the change is written by a second process wired as `serve` is (the same store and Redis poke bus, as another replica or the worker), ")
		p("timed from its commit hook; then it is pushed (`interaction.log`) by the rep's other device over HTTP, timed from sending the push, ")
		p("so that figure includes the whole push.\n\n")
		p("| path | samples | p50 | p95 | p99 | max | lost |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		var note string
		for _, k := range r.poke {
			p("| %s | %d | %s | %s | %s | %s | %d |\n", k.name, len(k.samples), dur(pct(k.samples, 50)), dur(pct(k.samples, 95)),
				dur(pct(k.samples, 99)), dur(pct(k.samples, 100)), k.lost)
			if len(k.roundTrips) > 0 {
				note = fmt.Sprintf("\nThe pushes of the second path took p50 %s, p95 %s from sending to their answer.\n",
					dur(pct(k.roundTrips, 50)), dur(pct(k.roundTrips, 95)))
			}
		}
		p("%s", note)
	}
	if ph := r.photos; ph != nil {
		p("**5. Photo processing.** The %d JPEGs of Debian's `%s` package (%.1f megapixels on average), %d rounds: ",
			ph.files, ph.filesNote, float64(ph.pixels)/float64(ph.files)/1e6, photoRounds)
		p("`photoproc.Process` (the worker's job minus storage: dimension check, decode with EXIF orientation, the screen image and the thumbnail ")
		p("made from it, both re-encoded as JPEG quality 82) with GOMAXPROCS=1 used %.2f s of CPU for %d photos (%.2f s wall); ",
			ph.oursCPU.Seconds(), ph.photos, ph.oursWall.Seconds())
		p("`vipsthumbnail` (%s, VIPS_CONCURRENCY=1) making the same two sizes (`-s 1600`, `-s 320`, `[Q=82,strip]`) of the same files used %.2f s of CPU (%.2f s wall). ",
			ph.vipsVersion, ph.vipsCPU.Seconds(), ph.vipsWall.Seconds())
		p("Both are charged CPU time, so the ratio is per core whatever else the machine did. One job held at most %.0f MB of heap above what was live before it and allocated %.0f MB in all.\n\n",
			mb(int64(ph.peakHeap)), mb(int64(ph.allocPerJob)))
	}
	if u := r.upload; u != nil {
		p("**6. Photo uploads.** Sample photos with 32 random bytes after their end (so that no two hash alike), %.1f MB in %d uploads per figure, ",
			mb(u.bytes), u.uploads)
		p("through `fieldsync serve` (tus `POST /v1/uploads`, then one `PATCH` with the whole file, as tus-js-client sends by default; ")
		p("the server sniffs the type and checks the image's structure as the bytes stream in, and streams a whole upload, as it arrives, into one PUT that carries the photo's sha256, ")
		p("which MinIO verifies before keeping the object; then it commits the photo's new state and the upload's completion in one transaction through the write path) ")
		p("and the same bytes PUT into the same MinIO server directly with minio-go. The two sides alternate, upload by upload (in blocks of %d when several run at once), ", 2*u.workers)
		p("after one warm-up upload each, so a change in the machine's load meets both alike. One at a time: %s through the server (server busy %.2f CPUs) against %s direct. ",
			dur(u.server.Round(time.Millisecond)), u.serverCPU, dur(u.direct.Round(time.Millisecond)))
		p("%d at a time (several phones at once): %s (server busy %.2f CPUs) against %s. ",
			u.workers, dur(u.serverConc.Round(time.Millisecond)), u.serverCPUConc, dur(u.directConc.Round(time.Millisecond)))
		p("One at a time, each upload pays a fixed cost of database round trips (the upload row, the photo's synced state changes) that a bare PUT does not; ")
		p("with several at a time those overlap, and the figure is the server's capacity.\n\n")
	}
	return w.String()
}
