package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// syncBuffer is a goroutine-safe log sink for a subcommand under test.
type syncBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a subcommand running in-process, as `fieldsync <cmd>` would.
type proc struct {
	addr   string
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan int
	cancel context.CancelFunc
}

// runCmd runs a short subcommand to completion and returns its exit code and output.
func runCmd(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	env := &runEnv{getenv: func(k string) string { return vars[k] }, stdout: &out, stderr: &errb}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, env, args)
	return code, out.String(), errb.String()
}

// startCmd starts a long-running subcommand (serve, dev) and waits until it listens.
func startCmd(t *testing.T, vars map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan int, 1)}
	ready := make(chan string, 1)
	env := &runEnv{
		getenv: func(k string) string { return vars[k] },
		stdout: p.stdout, stderr: p.stderr,
		ready: func(addr string) { ready <- addr },
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- run(ctx, env, args) }()
	select {
	case p.addr = <-ready:
	case code := <-p.done:
		t.Fatalf("fieldsync %v exited with %d before listening:\n%s", args, code, p.stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("fieldsync %v did not listen:\n%s", args, p.stderr.String())
	}
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if p.cancel == nil {
		return 0
	}
	p.cancel()
	p.cancel = nil
	select {
	case code := <-p.done:
		return code
	case <-time.After(30 * time.Second):
		t.Errorf("process did not shut down:\n%s", p.stderr.String())
		return -1
	}
}

// client speaks to a running server and decodes answers.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// problemCode returns the code of a problem+json answer ("" if not one).
func (a answer) problemCode() domain.Code {
	if a.header.Get("Content-Type") != "application/problem+json" {
		return ""
	}
	var p struct {
		Code domain.Code `json:"code"`
	}
	_ = json.Unmarshal(a.body, &p)
	return p.Code
}

func (c *client) do(method, path, token string, body any) answer {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			r = strings.NewReader(b)
		default:
			raw, _ := json.Marshal(b)
			r = bytes.NewReader(raw)
		}
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

type tokens struct {
	AccessToken  string       `json:"access_token"`
	RefreshToken string       `json:"refresh_token"`
	TokenType    string       `json:"token_type"`
	ExpiresIn    int          `json:"expires_in"`
	User         *domain.User `json:"user"`
}

func (c *client) signIn(email string) tokens {
	c.t.Helper()
	a := c.do("POST", "/v1/auth/sign-in", "", map[string]string{"email": email, "password": demoPassword})
	if a.status != 200 {
		c.t.Fatalf("sign-in %s: %d %s", email, a.status, a.body)
	}
	var tk tokens
	a.json(c.t, &tk)
	if tk.AccessToken == "" || tk.RefreshToken == "" || tk.TokenType != "Bearer" || tk.ExpiresIn <= 0 || tk.User == nil {
		c.t.Fatalf("sign-in %s: incomplete answer %s", email, a.body)
	}
	return tk
}

func expect(t *testing.T, what string, a answer, status int, code domain.Code) {
	t.Helper()
	if a.status != status || (code != "" && a.problemCode() != code) {
		t.Fatalf("%s: got %d %s, want %d %s", what, a.status, a.body, status, code)
	}
}

// walkthrough is the README's "Try it" section, step by step, against a
// server holding the demo data, plus the bad-input and scope checks the
// foundation promises.
func walkthrough(t *testing.T, base string, keys *auth.KeyRing) {
	c := &client{t: t, base: base, http: &http.Client{Timeout: 30 * time.Second}}

	expect(t, "healthz", c.do("GET", "/healthz", "", nil), 200, "")
	ready := c.do("GET", "/readyz", "", nil)
	expect(t, "readyz", ready, 200, "")
	for _, dep := range []string{"database", "redis", "blobs"} {
		if !strings.Contains(string(ready.body), `"`+dep+`":{"status":"up"}`) {
			t.Errorf("readyz lacks %s up: %s", dep, ready.body)
		}
	}

	mgr := c.signIn("manager@iswitch.demo")
	me := c.do("GET", "/v1/me", mgr.AccessToken, nil)
	expect(t, "me", me, 200, "")
	var u domain.User
	me.json(t, &u)
	if u.Email != "manager@iswitch.demo" || u.Role != domain.RoleManager || strings.Contains(string(me.body), "argon2") {
		t.Fatalf("me = %s", me.body)
	}

	// Refresh rotates; reuse of the spent token kills the whole family.
	a := c.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": mgr.RefreshToken})
	expect(t, "refresh", a, 200, "")
	var rotated tokens
	a.json(t, &rotated)
	if rotated.RefreshToken == mgr.RefreshToken || rotated.RefreshToken == "" {
		t.Fatalf("refresh did not rotate: %s", a.body)
	}
	expect(t, "new access token", c.do("GET", "/v1/me", rotated.AccessToken, nil), 200, "")
	// Presenting the spent token again before the new one is used is a
	// phone retrying a lost answer: a fresh pair, and the lost one dies.
	retry := c.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": mgr.RefreshToken})
	expect(t, "retried refresh", retry, 200, "")
	var retried tokens
	retry.json(t, &retried)
	expect(t, "lost answer's token", c.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": rotated.RefreshToken}), 401, domain.CodeRefreshInvalid)
	next := c.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": retried.RefreshToken})
	expect(t, "refresh after the retry", next, 200, "")
	var current tokens
	next.json(t, &current)
	// Once a newer token has been used, the spent one is a stolen copy.
	expect(t, "reused refresh", c.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": mgr.RefreshToken}), 401, domain.CodeRefreshReused)
	expect(t, "family revoked", c.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": current.RefreshToken}), 401, domain.CodeRefreshInvalid)
	// The family's access tokens end with it, not when they expire.
	expect(t, "access token of the revoked family", c.do("GET", "/v1/me", current.AccessToken, nil), 401, domain.CodeTokenInvalid)
	mgr = c.signIn("manager@iswitch.demo")

	// Sign-out revokes; it is idempotent.
	s2 := c.signIn("manager@iswitch.demo")
	expect(t, "sign-out", c.do("POST", "/v1/auth/sign-out", "", map[string]string{"refresh_token": s2.RefreshToken}), 204, "")
	expect(t, "sign-out again", c.do("POST", "/v1/auth/sign-out", "", map[string]string{"refresh_token": s2.RefreshToken}), 204, "")
	expect(t, "refresh after sign-out", c.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": s2.RefreshToken}), 401, domain.CodeRefreshInvalid)
	expect(t, "access token after sign-out", c.do("GET", "/v1/me", s2.AccessToken, nil), 401, domain.CodeTokenInvalid)

	// An expired token signed with the server's own key, and forged ones.
	p := domain.Principal{UserID: u.ID, OrgID: u.OrgID, Role: u.Role}
	past := domain.ClockFunc(func() time.Time { return time.Now().Add(-2 * time.Hour) })
	expired, _, err := auth.NewTokens(keys, past, 15*time.Minute).Issue(p, "sid-1")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "expired token", c.do("GET", "/v1/me", expired, nil), 401, domain.CodeTokenExpired)
	otherKeys, err := auth.ParseKeyRing(strings.SplitN(mustSpec(t, keys.KeyIDs()[0]), ",", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	forged, _, err := auth.NewTokens(otherKeys, nil, 0).Issue(p, "sid-1")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "forged token", c.do("GET", "/v1/me", forged, nil), 401, domain.CodeTokenInvalid)
	expect(t, "garbage token", c.do("GET", "/v1/me", "eyJhbGciOiJub25lIn0.e30.", nil), 401, domain.CodeTokenInvalid)
	expect(t, "no token", c.do("GET", "/v1/me", "", nil), 401, domain.CodeUnauthorized)

	// Tenant isolation and scope: the same lead id, asked by different people.
	repLead := demoLeadID(3)   // assigned to Priya (rep1)
	otherLead := demoLeadID(1) // assigned to Jordan (rep2)
	expect(t, "manager reads a lead", c.do("GET", "/v1/leads/"+repLead, mgr.AccessToken, nil), 200, "")
	lakeside := c.signIn("manager@lakeside.demo")
	expect(t, "other organization", c.do("GET", "/v1/leads/"+repLead, lakeside.AccessToken, nil), 404, domain.CodeNotFound)
	priya := c.signIn("priya@iswitch.demo")
	expect(t, "rep reads own lead", c.do("GET", "/v1/leads/"+repLead, priya.AccessToken, nil), 200, "")
	expect(t, "rep reads a colleague's lead", c.do("GET", "/v1/leads/"+otherLead, priya.AccessToken, nil), 404, domain.CodeNotFound)
	sam := c.signIn("sam@iswitch.demo")
	expect(t, "tech reads a lead", c.do("GET", "/v1/leads/"+repLead, sam.AccessToken, nil), 404, domain.CodeNotFound)

	var page struct {
		Items []domain.Lead `json:"items"`
	}
	list := c.do("GET", "/v1/leads?limit=200", priya.AccessToken, nil)
	expect(t, "rep's leads", list, 200, "")
	list.json(t, &page)
	if len(page.Items) == 0 {
		t.Fatal("rep sees no leads")
	}
	for _, l := range page.Items {
		if l.AssignedTo != priya.User.ID || l.OrgID != priya.User.OrgID {
			t.Fatalf("rep sees lead %s assigned to %s", l.ID, l.AssignedTo)
		}
	}
	list = c.do("GET", "/v1/leads?limit=200", mgr.AccessToken, nil)
	list.json(t, &page)
	if len(page.Items) != 50 {
		t.Fatalf("manager sees %d leads, want the 50 seeded", len(page.Items))
	}
	for _, l := range page.Items {
		if l.Score < 0 || l.Score > 100 || l.Temperature == "" || l.ScoreBreakdown.Total != l.Score {
			t.Fatalf("lead %s: score %d temp %q breakdown total %d", l.ID, l.Score, l.Temperature, l.ScoreBreakdown.Total)
		}
	}

	// Bad input answers a problem and writes nothing: the refresh tokens
	// issued so far all still behave as before.
	bad := []struct {
		name, body string
		status     int
		code       domain.Code
	}{
		{"malformed", `{"email":`, 400, domain.CodeMalformedRequest},
		{"wrong type", `{"email":["x"],"password":"y"}`, 422, domain.CodeInvalid},
		{"missing", `{"email":"manager@iswitch.demo"}`, 422, domain.CodeInvalid},
		{"oversized", `{"email":"` + strings.Repeat("m", 10000) + `","password":"x"}`, 413, domain.CodePayloadTooLarge},
	}
	for _, b := range bad {
		for _, path := range []string{"/v1/auth/sign-in", "/v1/auth/refresh", "/v1/auth/sign-out"} {
			body := b.body
			if path != "/v1/auth/sign-in" && b.name == "missing" {
				body = `{}`
			}
			if path != "/v1/auth/sign-in" && b.name == "wrong type" {
				body = `{"refresh_token":7}`
			}
			expect(t, b.name+" "+path, c.do("POST", path, "", body), b.status, b.code)
		}
	}
	expect(t, "session survives bad sign-outs", c.do("GET", "/v1/me", priya.AccessToken, nil), 200, "")
	a = c.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": priya.RefreshToken})
	expect(t, "refresh token untouched by bad input", a, 200, "")

	// Sign-in is rate limited per account: the 11th wrong password in 15
	// minutes is refused before the password is even checked.
	var last answer
	for i := 0; i < 11; i++ {
		last = c.do("POST", "/v1/auth/sign-in", "", map[string]string{"email": "tom@lakeside.demo", "password": "wrong-password"})
		if i < 10 && last.status != 401 {
			t.Fatalf("attempt %d: %d %s", i+1, last.status, last.body)
		}
	}
	expect(t, "rate limited", last, 429, domain.CodeRateLimited)
	if last.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	expect(t, "even the right password", c.do("POST", "/v1/auth/sign-in", "", map[string]string{"email": "tom@lakeside.demo", "password": demoPassword}), 429, domain.CodeRateLimited)

	metrics := c.do("GET", "/metrics", "", nil)
	if !strings.Contains(string(metrics.body), `fieldsync_http_requests_total{method="POST",route="/v1/auth/sign-in",status="429"}`) {
		t.Fatalf("metrics lack the rate-limited sign-in: %s", metrics.body)
	}
}

// mustSpec makes a fresh key spec reusing kid, so a forged token names a
// key the server knows but is signed with another secret.
func mustSpec(t *testing.T, kid string) string {
	t.Helper()
	spec, err := auth.GenerateKeySpec(kid)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestReadmeWalkthroughDev runs the README against `fieldsync dev` on the
// embedded default: SQLite, a photo directory, in-process Redis.
func TestReadmeWalkthroughDev(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"FIELDSYNC_HTTP_ADDR": "127.0.0.1:0", "FIELDSYNC_DATA_DIR": dir}
	p := startCmd(t, vars, "dev")
	out := p.stdout.String()
	for _, want := range []string{"http://" + p.addr, "manager@iswitch.demo", demoPassword, "seeded just now"} {
		if !strings.Contains(out, want) {
			t.Errorf("dev banner lacks %q:\n%s", want, out)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "jwt-keys"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.ParseKeyRing(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	walkthrough(t, "http://"+p.addr, keys)
	if code := p.stop(t); code != 0 {
		t.Fatalf("dev exited %d:\n%s", code, p.stderr.String())
	}

	// A restart keeps the data and seeds nothing twice.
	p = startCmd(t, vars, "dev")
	if strings.Contains(p.stdout.String(), "seeded just now") {
		t.Fatal("dev seeded again on restart")
	}
	c := &client{t: t, base: "http://" + p.addr, http: &http.Client{Timeout: 30 * time.Second}}
	mgr := c.signIn("manager@iswitch.demo")
	var page struct {
		Items []domain.Lead `json:"items"`
	}
	c.do("GET", "/v1/leads?limit=200", mgr.AccessToken, nil).json(t, &page)
	if len(page.Items) != 50 {
		t.Fatalf("after restart the manager sees %d leads", len(page.Items))
	}
}

// TestReadmeWalkthroughProduction runs the production shape: migrate, seed
// and serve on PostgreSQL with the real Redis, after checking that serve
// refuses a stale schema.
func TestReadmeWalkthroughProduction(t *testing.T) {
	t.Parallel()
	dbURL := sqltest.PostgresURL(t)
	redisURL := testRedisURL(t, 9)
	spec := mustSpec(t, "main")
	keys, err := auth.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"FIELDSYNC_HTTP_ADDR": "127.0.0.1:0",
		"FIELDSYNC_DATA_DIR":  t.TempDir(),
		"DATABASE_URL":        dbURL,
		"REDIS_URL":           redisURL,
		"FIELDSYNC_JWT_KEYS":  spec,
	}

	code, _, stderr := runCmd(t, vars, "serve")
	if code == 0 || !strings.Contains(stderr, "fieldsync migrate") {
		t.Fatalf("serve on an unmigrated database: exit %d, stderr %q; want a refusal naming `fieldsync migrate`", code, stderr)
	}
	code, out, stderr := runCmd(t, vars, "migrate", "--status")
	if code != 0 || !strings.Contains(out, "schema version 0") {
		t.Fatalf("migrate --status: %d %q %q", code, out, stderr)
	}
	if code, out, stderr = runCmd(t, vars, "migrate"); code != 0 || !strings.Contains(out, "migrated schema") {
		t.Fatalf("migrate: %d %q %q", code, out, stderr)
	}
	if code, out, _ = runCmd(t, vars, "migrate"); code != 0 || !strings.Contains(out, "schema is current") {
		t.Fatalf("second migrate: %d %q", code, out)
	}
	if code, out, stderr = runCmd(t, vars, "seed"); code != 0 || !strings.Contains(out, "seeded") {
		t.Fatalf("seed: %d %q %q", code, out, stderr)
	}
	if code, out, _ = runCmd(t, vars, "seed"); code != 0 || !strings.Contains(out, "already present") {
		t.Fatalf("second seed: %d %q", code, out)
	}

	noKeys := map[string]string{}
	for k, v := range vars {
		noKeys[k] = v
	}
	delete(noKeys, "FIELDSYNC_JWT_KEYS")
	if code, _, stderr = runCmd(t, noKeys, "serve"); code == 0 || !strings.Contains(stderr, "FIELDSYNC_JWT_KEYS") {
		t.Fatalf("serve without keys: %d %q", code, stderr)
	}

	p := startCmd(t, vars, "serve")
	if strings.Contains(p.stdout.String(), "seeded") {
		t.Fatal("serve printed seeding")
	}
	walkthrough(t, "http://"+p.addr, keys)
	if code, out, stderr := runCmd(t, vars, "reset-sync"); code != 0 || !strings.Contains(out, "new sync epoch for 2 organizations") {
		t.Fatalf("reset-sync: %d %q %q", code, out, stderr)
	}
	workerProbes(t, vars)
	if code := p.stop(t); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, p.stderr.String())
	}
	logs := p.stderr.String()
	for _, pii := range []string{"manager@iswitch.demo", demoPassword, "fsr_"} {
		if strings.Contains(logs, pii) {
			t.Errorf("server log contains %q", pii)
		}
	}
}

// testRedisURL is database db of the real Redis server, reserved for one
// test of this package (9 and 13; other packages' tests use 10 to 12),
// emptied first so rate-limit counters of an earlier run do not leak in.
func testRedisURL(t *testing.T, db int) string {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DB = db
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.FlushDB(ctx).Err(); err != nil {
		msg := fmt.Sprintf("Redis not reachable at %s: start it with `make services` (%v)", opt.Addr, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return fmt.Sprintf("redis://%s/%d", opt.Addr, db)
}

func TestHelpForEveryCommand(t *testing.T) {
	t.Parallel()
	for _, c := range commands() {
		code, out, _ := runCmd(t, nil, c.name, "--help")
		if code != 0 || !strings.Contains(out, "usage: fieldsync "+c.name) || !strings.Contains(out, "FIELDSYNC_HTTP_ADDR") {
			t.Errorf("%s --help: %d %q", c.name, code, out)
		}
	}
	if code, out, _ := runCmd(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "fieldsync ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, nil, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"FIELDSYNC_ACCESS_TTL":         "soon",
		"FIELDSYNC_WORKER_CONCURRENCY": "-1",
		"MINIO_USE_SSL":                "maybe",
		"FIELDSYNC_LOG_LEVEL":          "loud",
		"DATABASE_URL":                 "mysql://x",
		"MINIO_ENDPOINT":               "127.0.0.1:9000",
		"FIELDSYNC_TRUSTED_PROXIES":    "10.0.0.0/8, lb.internal",
	}
	for name, val := range cases {
		_, err := loadConfig(func(k string) string {
			if k == name {
				return val
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: err %v", name, val, err)
		}
	}
	cfg, err := loadConfig(func(string) string { return "" })
	if err != nil || cfg.HTTPAddr != "127.0.0.1:8080" || cfg.DataDir != "./data" || cfg.AccessTTL != 15*time.Minute {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
}

// workerProbes starts `fieldsync worker` and checks what its orchestrator
// and Prometheus read: /healthz, /readyz with every dependency up, /metrics.
func workerProbes(t *testing.T, vars map[string]string) {
	t.Helper()
	wvars := map[string]string{"FIELDSYNC_WORKER_HTTP_ADDR": "127.0.0.1:0"}
	for k, v := range vars {
		if k != "FIELDSYNC_JWT_KEYS" { // the worker signs nothing
			wvars[k] = v
		}
	}
	w := startCmd(t, wvars, "worker")
	for _, c := range []struct{ path, want string }{
		{"/healthz", `"status":"ok"`},
		{"/readyz", `"status":"ready"`},
		{"/metrics", "http_requests_total"},
	} {
		resp, err := http.Get("http://" + w.addr + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), c.want) {
			t.Errorf("worker GET %s = %d %.300s", c.path, resp.StatusCode, body)
		}
	}
	if code := w.stop(t); code != 0 {
		t.Fatalf("worker exited %d:\n%s", code, w.stderr.String())
	}
}
