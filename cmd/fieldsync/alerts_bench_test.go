//go:build bench

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/admin"
	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	"github.com/iswitchroofs/fieldsync/push/pushtest"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// Lead-alert benchmark settings.
const (
	alertRedisDB       = 8   // tests use 9, the sync benchmarks 10
	alertLatencyLeads  = 200 // sequential leads for the latency figures
	alertLoadClients   = 8
	alertLoadDuration  = 10 * time.Second
	targetAlertP95     = 250 * time.Millisecond
	alertArrivalWindow = 60 * time.Second
)

// BenchmarkLeadAlert measures, on PostgreSQL and Redis with `fieldsync
// serve` and `fieldsync worker` running as in production (in this process,
// each with its own wiring) and FCM and Twilio at pushtest's loopback
// endpoints through the real SDKs: the time from POST /v1/leads returning to
// the rep's FCM request arriving, one lead at a time; then sustained leads
// per second with alertLoadClients posting for alertLoadDuration, counted
// by the rep alerts that arrived.
func BenchmarkLeadAlert(b *testing.B) {
	ctx := context.Background()
	fcm := pushtest.NewServer()
	defer fcm.Close()
	dir := b.TempDir()
	creds := filepath.Join(dir, "fcm.json")
	if err := os.WriteFile(creds, fcm.ServiceAccountJSON("bench"), 0o600); err != nil {
		b.Fatal(err)
	}
	dbURL := sqltest.PostgresURL(b)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DB: alertRedisDB})
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		b.Fatalf("Redis: %v", err)
	}
	_ = rdb.Close()
	keys, err := auth.GenerateKeySpec("bench")
	if err != nil {
		b.Fatal(err)
	}
	vars := map[string]string{
		"DATABASE_URL": dbURL, "REDIS_URL": fmt.Sprintf("redis://127.0.0.1:6379/%d", alertRedisDB),
		"FIELDSYNC_JWT_KEYS": keys, "FIELDSYNC_DATA_DIR": dir, "FIELDSYNC_LOG_LEVEL": "error",
		"FIELDSYNC_HTTP_ADDR": "127.0.0.1:0", "FIELDSYNC_WORKER_HTTP_ADDR": "127.0.0.1:0",
		"FIELDSYNC_FCM_CREDENTIALS_FILE": creds, "FIELDSYNC_FCM_ENDPOINT": fcm.FCMEndpoint(),
		"TWILIO_ACCOUNT_SID": "ACbench", "TWILIO_AUTH_TOKEN": "bench", "TWILIO_FROM_NUMBER": "+12485550199",
		"FIELDSYNC_TWILIO_BASE_URL": fcm.TwilioBaseURL(),
	}
	env := func(out io.Writer, ready func(string)) *runEnv {
		return &runEnv{getenv: func(k string) string { return vars[k] }, stdout: out, stderr: out, ready: ready}
	}
	var logs syncBuffer
	if code := run(ctx, env(&logs, nil), []string{"migrate"}); code != 0 {
		b.Fatalf("migrate: %d\n%s", code, logs.String())
	}
	secret := seedAlertBench(b, dbURL)

	// Arrivals of rep alerts (not pokes) by lead id.
	var mu gosync.Mutex
	arrived := map[string]time.Time{}
	fcm.OnFCM = func(r pushtest.FCMRequest) {
		if r.Message.Data["kind"] != "lead_alert" || r.Message.Data["level"] != "0" {
			return
		}
		mu.Lock()
		if _, ok := arrived[r.Message.Data["lead_id"]]; !ok {
			arrived[r.Message.Data["lead_id"]] = r.At
		}
		mu.Unlock()
	}
	arrival := func(id string) (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		t, ok := arrived[id]
		return t, ok
	}

	stop := startBenchProc(b, env, "worker")
	defer stop()
	serveAddr, stopServe := startBenchProcAddr(b, env, "serve")
	defer stopServe()
	base := "http://" + serveAddr
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: alertLoadClients}}
	post := func(i int) (string, time.Time, time.Time) {
		body := fmt.Sprintf(`{"source":"web_form","external_id":"bench-%d","first_name":"Lead","last_name":"N%d",`+
			`"phone":"+1248555%04d","zip":"4830%d","property_value":%d,"income":120000,"engagement":"form_fill"}`,
			i, i, i%10000, i%10, 150000+i%7*100000)
		req, _ := http.NewRequest("POST", base+"/v1/leads", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+secret)
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatalf("POST /v1/leads: %v", err)
		}
		raw, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		done := time.Now()
		if resp.StatusCode != 201 {
			b.Fatalf("POST /v1/leads: %d %s", resp.StatusCode, raw)
		}
		var l struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &l)
		return l.ID, start, done
	}
	waitArrival := func(id string) (time.Time, bool) {
		deadline := time.Now().Add(alertArrivalWindow)
		for time.Now().Before(deadline) {
			if t, ok := arrival(id); ok {
				return t, true
			}
			time.Sleep(time.Millisecond)
		}
		return time.Time{}, false
	}

	// Warm up connections, the token cache and the worker.
	for i := range 5 {
		id, _, _ := post(1_000_000 + i)
		waitArrival(id)
	}

	var fromReturn, fromStart, rtt []time.Duration
	lost := 0
	for i := range alertLatencyLeads {
		id, start, done := post(i)
		at, ok := waitArrival(id)
		if !ok {
			lost++
			continue
		}
		fromReturn = append(fromReturn, max(0, at.Sub(done)))
		fromStart = append(fromStart, at.Sub(start))
		rtt = append(rtt, done.Sub(start))
	}

	// Sustained load.
	var next atomic.Int64
	next.Store(2_000_000)
	var ids []string
	var idsMu gosync.Mutex
	loadStart := time.Now()
	var wg gosync.WaitGroup
	for range alertLoadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(loadStart) < alertLoadDuration {
				id, _, _ := post(int(next.Add(1)))
				idsMu.Lock()
				ids = append(ids, id)
				idsMu.Unlock()
			}
		}()
	}
	wg.Wait()
	postedIn := time.Since(loadStart)
	var last time.Time
	loadLost := 0
	for _, id := range ids {
		at, ok := waitArrival(id)
		if !ok {
			loadLost++
			continue
		}
		if at.After(last) {
			last = at
		}
	}
	alertedIn := last.Sub(loadStart)
	rate := float64(len(ids)-loadLost) / alertedIn.Seconds()

	p95 := pct(fromReturn, 95)
	b.Logf("return → FCM: p50 %s p95 %s p99 %s max %s; start → FCM p95 %s; POST p95 %s; lost %d",
		pct(fromReturn, 50), p95, pct(fromReturn, 99), pct(fromReturn, 100), pct(fromStart, 95), pct(rtt, 95), lost)
	b.Logf("sustained: %d leads posted in %s, all alerted after %s: %.1f leads/s; lost %d", len(ids), postedIn, alertedIn, rate, loadLost)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(p95), "p95-ms")
	b.ReportMetric(rate, "leads/s")

	if path := os.Getenv("FIELDSYNC_ALERT_BENCH_REPORT"); path != "" {
		met := "yes"
		if p95 >= targetAlertP95 || lost > 0 {
			met = "no"
		}
		var md bytes.Buffer
		fmt.Fprintf(&md, "### Lead alerts: intake to FCM\n\n")
		fmt.Fprintf(&md, "Command: `go test -tags bench -run '^$' -bench LeadAlert -benchtime 1x ./cmd/fieldsync/` "+
			"(`fieldsync serve` and `fieldsync worker` in one process on PostgreSQL and Redis; FCM and Twilio at "+
			"push/pushtest's loopback endpoints through the real SDKs; %s).\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
		fmt.Fprintf(&md, "| measure | p50 | p95 | p99 | max | target | met |\n| --- | --- | --- | --- | --- | --- | --- |\n")
		fmt.Fprintf(&md, "| `POST /v1/leads` returned → rep's FCM request arrived (%d leads, one at a time, %d lost) | %s | %s | %s | %s | p95 < %s | %s |\n",
			len(fromReturn), lost, rnd(pct(fromReturn, 50)), rnd(p95), rnd(pct(fromReturn, 99)), rnd(pct(fromReturn, 100)), targetAlertP95, met)
		fmt.Fprintf(&md, "| request sent → FCM request arrived | %s | %s | %s | %s | | |\n",
			rnd(pct(fromStart, 50)), rnd(pct(fromStart, 95)), rnd(pct(fromStart, 99)), rnd(pct(fromStart, 100)))
		fmt.Fprintf(&md, "| `POST /v1/leads` round trip | %s | %s | %s | %s | | |\n\n",
			rnd(pct(rtt, 50)), rnd(pct(rtt, 95)), rnd(pct(rtt, 99)), rnd(pct(rtt, 100)))
		fmt.Fprintf(&md, "Sustained: %d clients posted %d leads in %s; the last rep alert arrived %s after the start: "+
			"**%.1f leads/s** through intake, scoring, routing and alerting (each lead: 2 pushes, 2 pokes and an SMS to its rep), %d without an alert.\n",
			alertLoadClients, len(ids), postedIn.Round(time.Millisecond), alertedIn.Round(time.Millisecond), rate, loadLost)
		if err := os.WriteFile(path, md.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func rnd(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// seedAlertBench creates an organization with three reps (two devices each)
// and the escalation chain, and an intake API key; it returns the key.
func seedAlertBench(b *testing.B, dbURL string) string {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Config{URL: dbURL})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	org := &domain.Organization{Name: "Bench Roofing", Slug: "bench-alerts", TimeZone: "America/Detroit"}
	if err := st.CreateOrganization(ctx, org); err != nil {
		b.Fatal(err)
	}
	sys := domain.Principal{OrgID: org.ID, Role: domain.RoleAdmin}
	users := []*domain.User{
		{Email: "owner@bench.test", Name: "Owner", Phone: "+12485550100", Role: domain.RoleAdmin, EscalationTier: domain.TierOwner, Active: true},
		{Email: "mgr@bench.test", Name: "Manager", Phone: "+12485550101", Role: domain.RoleManager, EscalationTier: domain.TierManager, Active: true},
		{Email: "ops@bench.test", Name: "Ops", Phone: "+12485550102", Role: domain.RoleManager, EscalationTier: domain.TierOperations, Active: true},
	}
	for i := range 3 {
		users = append(users, &domain.User{Email: fmt.Sprintf("rep%d@bench.test", i), Name: "Rep", Phone: fmt.Sprintf("+1248555011%d", i),
			Role: domain.RoleSales, Territories: []string{"483"}, TopPerformer: i == 0, Active: true})
	}
	err = st.Write(ctx, sys, func(tx domain.Tx) error {
		for _, u := range users {
			if err := tx.Create(u); err != nil {
				return err
			}
			if u.Role != domain.RoleSales {
				continue
			}
			for j, p := range []domain.Platform{domain.PlatformIOS, domain.PlatformAndroid} {
				d := &domain.Device{UserID: u.ID, Platform: p, PushToken: fmt.Sprintf("tok-%s-%d", u.ID, j), AppVersion: "bench"}
				if err := tx.Create(d); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	secret := domain.APIKeyPrefix + "benchmark-key-0123456789"
	if err := st.CreateAPIKey(ctx, &domain.APIKey{OrgID: org.ID, Name: "bench", Hash: admin.HashAPIKey(secret)}); err != nil {
		b.Fatal(err)
	}
	return secret
}

// startBenchProc runs a long-running subcommand until the returned stop.
func startBenchProc(b *testing.B, env func(io.Writer, func(string)) *runEnv, cmd string) func() {
	_, stop := startBenchProcAddr(b, env, cmd)
	return stop
}

func startBenchProcAddr(b *testing.B, env func(io.Writer, func(string)) *runEnv, cmd string) (string, func()) {
	var out syncBuffer
	ready := make(chan string, 1)
	done := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- run(ctx, env(&out, func(a string) { ready <- a }), []string{cmd}) }()
	select {
	case addr := <-ready:
		return addr, func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				b.Errorf("%s did not stop", cmd)
			}
		}
	case code := <-done:
		cancel()
		b.Fatalf("%s exited %d:\n%s", cmd, code, out.String())
	case <-time.After(2 * time.Minute):
		cancel()
		b.Fatalf("%s did not start:\n%s", cmd, out.String())
	}
	return "", nil
}
