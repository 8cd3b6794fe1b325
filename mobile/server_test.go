package mobile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
)

// fakeAuth is a function-field fake of the session service.
type fakeAuth struct {
	signIn       func(ctx context.Context, email, password, addr string) (*auth.TokenPair, error)
	refresh      func(ctx context.Context, token string) (*auth.TokenPair, error)
	signOut      func(ctx context.Context, token string) error
	authenticate func(ctx context.Context, bearer string) (domain.Principal, auth.Claims, error)
}

var _ Authenticator = (*fakeAuth)(nil)

func (f *fakeAuth) SignIn(ctx context.Context, e, p, a string) (*auth.TokenPair, error) {
	return f.signIn(ctx, e, p, a)
}
func (f *fakeAuth) Refresh(ctx context.Context, t string) (*auth.TokenPair, error) {
	return f.refresh(ctx, t)
}
func (f *fakeAuth) SignOut(ctx context.Context, t string) error { return f.signOut(ctx, t) }
func (f *fakeAuth) Authenticate(ctx context.Context, b string) (domain.Principal, auth.Claims, error) {
	return f.authenticate(ctx, b)
}

// fakeRecords is a function-field fake of the record and user stores.
type fakeRecords struct {
	find    func(ctx context.Context, orgID string, kind domain.EntityKind, id string) (domain.Record, error)
	anchor  func(ctx context.Context, orgID string, kind domain.EntityKind, id string) (domain.Anchor, error)
	list    func(ctx context.Context, f domain.LeadFilter) ([]*domain.Lead, error)
	findUsr func(ctx context.Context, orgID, id string) (*domain.User, error)
}

var (
	_ domain.RecordStore = (*fakeRecords)(nil)
	_ domain.UserStore   = (*fakeRecords)(nil)
)

func (f *fakeRecords) FindRecord(ctx context.Context, o string, k domain.EntityKind, id string) (domain.Record, error) {
	return f.find(ctx, o, k, id)
}
func (f *fakeRecords) ResolveAnchor(ctx context.Context, o string, k domain.EntityKind, id string) (domain.Anchor, error) {
	return f.anchor(ctx, o, k, id)
}
func (f *fakeRecords) ListLeads(ctx context.Context, lf domain.LeadFilter) ([]*domain.Lead, error) {
	return f.list(ctx, lf)
}
func (f *fakeRecords) FindUser(ctx context.Context, o, id string) (*domain.User, error) {
	return f.findUsr(ctx, o, id)
}
func (f *fakeRecords) FindUserByEmail(context.Context, string) (*domain.User, error) {
	return nil, domain.ErrNotFound("user")
}

const (
	orgA   = "11111111-1111-4111-8111-111111111111"
	repID  = "22222222-2222-4222-8222-222222222222"
	leadID = "33333333-3333-4333-8333-333333333333"
)

type testBundle struct {
	auth    *fakeAuth
	records *fakeRecords
	sync    *fakeSync
	pokes   *fakePokes
	logs    *bytes.Buffer
	app     *fiber.App
	do      func(req *http.Request) *http.Response
	signIns int
	addr    string
}

// setup starts the application on a real listener. Options adjust its
// Config before it is built (withSync mounts the sync routes).
func setup(t *testing.T, opts ...func(b *testBundle, cfg *Config)) *testBundle {
	t.Helper()
	b := &testBundle{logs: &bytes.Buffer{}, sync: newFakeSync(), pokes: newFakePokes()}
	b.auth = &fakeAuth{
		signIn: func(_ context.Context, email, password, _ string) (*auth.TokenPair, error) {
			b.signIns++
			if email != "rep@example.com" || password != "right-password" {
				return nil, domain.Errorf(domain.CodeInvalidCredentials, "wrong email or password")
			}
			return &auth.TokenPair{AccessToken: "acc", RefreshToken: "fsr_x", TokenType: "Bearer", ExpiresIn: 900}, nil
		},
		refresh: func(context.Context, string) (*auth.TokenPair, error) {
			return nil, domain.Errorf(domain.CodeRefreshReused, "refresh token already used; signed out everywhere")
		},
		signOut: func(context.Context, string) error { return nil },
		authenticate: func(_ context.Context, bearer string) (domain.Principal, auth.Claims, error) {
			switch bearer {
			case "good":
				return domain.Principal{UserID: repID, OrgID: orgA, Role: domain.RoleSales}, auth.Claims{}, nil
			case "expired":
				return domain.Principal{}, auth.Claims{}, domain.Errorf(domain.CodeTokenExpired, "access token expired")
			}
			return domain.Principal{}, auth.Claims{}, domain.Errorf(domain.CodeTokenInvalid, "invalid access token")
		},
	}
	b.records = &fakeRecords{
		anchor: func(_ context.Context, org string, kind domain.EntityKind, id string) (domain.Anchor, error) {
			if org == orgA && id == leadID {
				return domain.Anchor{OrgID: orgA, Kind: kind, ID: id, LeadOwner: repID}, nil
			}
			return domain.Anchor{}, domain.ErrNotFound(string(kind))
		},
		find: func(_ context.Context, org string, kind domain.EntityKind, id string) (domain.Record, error) {
			return &domain.Lead{Meta: domain.Meta{ID: id, OrgID: org}, FirstName: "Ada"}, nil
		},
		list: func(context.Context, domain.LeadFilter) ([]*domain.Lead, error) { return nil, nil },
		findUsr: func(_ context.Context, org, id string) (*domain.User, error) {
			return &domain.User{Meta: domain.Meta{ID: id, OrgID: org}, Email: "rep@example.com", Role: domain.RoleSales}, nil
		},
	}
	log := slog.New(slog.NewJSONHandler(b.logs, nil))
	cfg := Config{
		Logger: log, Registry: prometheus.NewRegistry(), Auth: b.auth, Users: b.records, Records: b.records,
		Ready: map[string]ReadyCheck{
			"database": func(context.Context) error { return nil },
			"redis":    func(context.Context) error { return errors.New("dial tcp 127.0.0.1:6379: connection refused") },
		},
	}
	for _, o := range opts {
		o(b, &cfg)
	}
	app := New(cfg)
	b.app = app
	// A real listener, not app.Test: body limits and read errors happen in
	// the server's connection handling, which app.Test bypasses.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second}
	b.addr = ln.Addr().String()
	b.do = func(req *http.Request) *http.Response {
		t.Helper()
		req.RequestURI = ""
		u, err := url.Parse(base + req.URL.RequestURI())
		if err != nil {
			t.Fatal(err)
		}
		req.URL = u
		req.Host = u.Host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		return resp
	}
	return b
}

type scenario struct {
	name     string
	method   string
	url      string
	headers  map[string]string
	body     string
	status   int
	code     domain.Code // for problem answers
	contains []string
}

func jsonHeaders(extra ...string) map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

func TestScenarios(t *testing.T) {
	t.Parallel()
	big := `{"email":"` + strings.Repeat("a", 9000) + `","password":"x"}`
	scenarios := []scenario{
		{name: "healthz", method: "GET", url: "/healthz", status: 200, contains: []string{`"status":"ok"`}},
		{name: "readyz reports the failing dependency", method: "GET", url: "/readyz", status: 503,
			contains: []string{`"redis":{"status":"down"`, `"database":{"status":"up"}`, `"not_ready"`}},
		{name: "sign-in ok", method: "POST", url: "/v1/auth/sign-in", headers: jsonHeaders(),
			body: `{"email":"rep@example.com","password":"right-password"}`, status: 200,
			contains: []string{`"access_token":"acc"`, `"refresh_token":"fsr_x"`, `"token_type":"Bearer"`, `"expires_in":900`}},
		{name: "sign-in wrong password", method: "POST", url: "/v1/auth/sign-in", headers: jsonHeaders(),
			body: `{"email":"rep@example.com","password":"nope"}`, status: 401, code: domain.CodeInvalidCredentials},
		{name: "malformed JSON", method: "POST", url: "/v1/auth/sign-in", headers: jsonHeaders(),
			body: `{"email":`, status: 400, code: domain.CodeMalformedRequest},
		{name: "not JSON at all", method: "POST", url: "/v1/auth/sign-in", headers: jsonHeaders(),
			body: `email=a&password=b`, status: 400, code: domain.CodeMalformedRequest},
		{name: "empty body", method: "POST", url: "/v1/auth/sign-in", headers: jsonHeaders(),
			body: ``, status: 400, code: domain.CodeMalformedRequest},
		{name: "array instead of object", method: "POST", url: "/v1/auth/sign-in", headers: jsonHeaders(),
			body: `["a"]`, status: 400, code: domain.CodeMalformedRequest},
		{name: "trailing data", method: "POST", url: "/v1/auth/sign-in", headers: jsonHeaders(),
			body: `{"email":"a","password":"b"} {}`, status: 400, code: domain.CodeMalformedRequest},
		{name: "wrong type", method: "POST", url: "/v1/auth/sign-in", headers: jsonHeaders(),
			body: `{"email":42,"password":"b"}`, status: 422, code: domain.CodeInvalid,
			contains: []string{`"field":"email"`, `must be a string`}},
		{name: "missing fields listed together", method: "POST", url: "/v1/auth/sign-in", headers: jsonHeaders(),
			body: `{}`, status: 422, code: domain.CodeInvalid,
			contains: []string{`"field":"email"`, `"field":"password"`}},
		{name: "unknown field", method: "POST", url: "/v1/auth/sign-in", headers: jsonHeaders(),
			body: `{"email":"a","password":"b","admin":true}`, status: 422, code: domain.CodeInvalid,
			contains: []string{`"field":"admin"`, `unknown field`}},
		{name: "over the endpoint limit", method: "POST", url: "/v1/auth/sign-in", headers: jsonHeaders(),
			body: big, status: 413, code: domain.CodePayloadTooLarge},
		{name: "wrong content type", method: "POST", url: "/v1/auth/sign-in", headers: map[string]string{"Content-Type": "text/plain"},
			body: `{"email":"a","password":"b"}`, status: 415, code: domain.CodeUnsupportedMedia},
		{name: "no content type", method: "POST", url: "/v1/auth/sign-in",
			body: `{"email":"a","password":"b"}`, status: 415, code: domain.CodeUnsupportedMedia},
		{name: "refresh reuse passes the code through", method: "POST", url: "/v1/auth/refresh", headers: jsonHeaders(),
			body: `{"refresh_token":"fsr_old"}`, status: 401, code: domain.CodeRefreshReused},
		{name: "refresh missing token", method: "POST", url: "/v1/auth/refresh", headers: jsonHeaders(),
			body: `{"refresh_token":""}`, status: 422, code: domain.CodeInvalid},
		{name: "sign-out", method: "POST", url: "/v1/auth/sign-out", headers: jsonHeaders(),
			body: `{"refresh_token":"fsr_x"}`, status: 204},
		{name: "no token", method: "GET", url: "/v1/me", status: 401, code: domain.CodeUnauthorized},
		{name: "not a bearer token", method: "GET", url: "/v1/me", headers: map[string]string{"Authorization": "Basic abc"},
			status: 401, code: domain.CodeTokenInvalid},
		{name: "expired token", method: "GET", url: "/v1/me", headers: map[string]string{"Authorization": "Bearer expired"},
			status: 401, code: domain.CodeTokenExpired},
		{name: "forged token", method: "GET", url: "/v1/me", headers: map[string]string{"Authorization": "Bearer forged"},
			status: 401, code: domain.CodeTokenInvalid},
		{name: "me", method: "GET", url: "/v1/me", headers: map[string]string{"Authorization": "Bearer good"},
			status: 200, contains: []string{`"email":"rep@example.com"`}},
		{name: "own lead", method: "GET", url: "/v1/leads/" + leadID, headers: map[string]string{"Authorization": "Bearer good"},
			status: 200, contains: []string{`"first_name":"Ada"`}},
		{name: "unknown lead", method: "GET", url: "/v1/leads/44444444-4444-4444-8444-444444444444", headers: map[string]string{"Authorization": "Bearer good"},
			status: 404, code: domain.CodeNotFound},
		{name: "id that cannot exist", method: "GET", url: "/v1/leads/not-a-uuid", headers: map[string]string{"Authorization": "Bearer good"},
			status: 404, code: domain.CodeNotFound},
		{name: "bad page params", method: "GET", url: "/v1/leads?limit=0&offset=-1", headers: map[string]string{"Authorization": "Bearer good"},
			status: 422, code: domain.CodeInvalid, contains: []string{`"field":"limit"`, `"field":"offset"`}},
		{name: "bad status filter", method: "GET", url: "/v1/leads?status=hot", headers: map[string]string{"Authorization": "Bearer good"},
			status: 422, code: domain.CodeInvalid},
		{name: "empty list is an empty array", method: "GET", url: "/v1/leads", headers: map[string]string{"Authorization": "Bearer good"},
			status: 200, contains: []string{`"items":[]`}},
		{name: "no such route", method: "GET", url: "/v1/nope", status: 404, code: domain.CodeRouteNotFound},
		{name: "wrong method", method: "GET", url: "/v1/auth/sign-in", status: 405, code: domain.CodeMethodNotAllowed},
	}
	runScenarios(t, scenarios)
}

// runScenarios runs each scenario in parallel against its own server.
func runScenarios(t *testing.T, scenarios []scenario, opts ...func(b *testBundle, cfg *Config)) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, opts...)
			var body io.Reader
			if sc.body != "" {
				body = strings.NewReader(sc.body)
			}
			req := httptest.NewRequest(sc.method, sc.url, body)
			for k, v := range sc.headers {
				req.Header.Set(k, v)
			}
			resp := b.do(req)
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != sc.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, sc.status, raw)
			}
			if resp.Header.Get(RequestIDHeader) == "" {
				t.Errorf("no %s header", RequestIDHeader)
			}
			if sc.code != "" {
				if ct := resp.Header.Get("Content-Type"); ct != ProblemContentType {
					t.Errorf("Content-Type = %q, want %q", ct, ProblemContentType)
				}
				var p Problem
				if err := json.Unmarshal(raw, &p); err != nil {
					t.Fatalf("problem body: %v: %s", err, raw)
				}
				if p.Code != sc.code || p.Status != sc.status || p.Detail == "" || p.RequestID == "" {
					t.Errorf("problem = %+v, want code %s status %d with detail and request id", p, sc.code, sc.status)
				}
			}
			for _, want := range sc.contains {
				if !strings.Contains(string(raw), want) {
					t.Errorf("body %s does not contain %s", raw, want)
				}
			}
		})
	}
}

func TestBadInputNeverReachesTheService(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, body := range []string{`{"email":`, `{"email":1}`, `{}`, `{"email":"a","password":"b","x":1}`} {
		req := httptest.NewRequest("POST", "/v1/auth/sign-in", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp := b.do(req)
		resp.Body.Close()
	}
	if b.signIns != 0 {
		t.Fatalf("service called %d times for rejected bodies", b.signIns)
	}
}

func TestAccessLogHasNoPersonalData(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req := httptest.NewRequest("POST", "/v1/auth/sign-in?email=rep@example.com", strings.NewReader(`{"email":"rep@example.com","password":"right-password"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(RequestIDHeader, "client-req-1")
	b.do(req).Body.Close()
	req = httptest.NewRequest("GET", "/v1/leads/"+leadID, nil)
	req.Header.Set("Authorization", "Bearer good")
	b.do(req).Body.Close()
	logs := b.logs.String()
	for _, secret := range []string{"rep@example.com", "right-password", "fsr_x", leadID, "Ada"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{`"request_id":"client-req-1"`, `"route":"/v1/auth/sign-in"`, `"route":"/v1/leads/:id"`, `"user_id":"` + repID + `"`, `"status":200`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestRequestIDIsSanitized(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set(RequestIDHeader, `evil" level=ERROR msg="forged`)
	resp := b.do(req)
	resp.Body.Close()
	if got := resp.Header.Get(RequestIDHeader); got == "" || strings.ContainsAny(got, "\" =") {
		t.Fatalf("request id %q was not replaced", got)
	}
}

func TestMetricsCountRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Alternate methods on one keep-alive connection: label values must not
	// alias the server's reused request buffers.
	for i := 0; i < 3; i++ {
		b.do(httptest.NewRequest("GET", "/healthz", nil)).Body.Close()
		req := httptest.NewRequest("POST", "/v1/auth/sign-in", strings.NewReader(`{"email":"a@b.c","password":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		b.do(req).Body.Close()
	}
	resp := b.do(httptest.NewRequest("GET", "/metrics", nil))
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`fieldsync_http_requests_total{method="GET",route="/healthz",status="200"} 3`,
		`fieldsync_http_requests_total{method="POST",route="/v1/auth/sign-in",status="401"} 3`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Fatalf("metrics lack %s:\n%s", want, raw)
		}
	}
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.records.findUsr = func(context.Context, string, string) (*domain.User, error) {
		return nil, errors.New("pq: password authentication failed for user secretuser")
	}
	req := httptest.NewRequest("GET", "/v1/me", nil)
	req.Header.Set("Authorization", "Bearer good")
	resp := b.do(req)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || strings.Contains(string(raw), "secretuser") || !strings.Contains(string(raw), `"code":"internal"`) {
		t.Fatalf("got %d %s", resp.StatusCode, raw)
	}
	if !strings.Contains(b.logs.String(), "secretuser") {
		t.Fatalf("the cause should be logged for operators")
	}
}

func TestRateLimitedCarriesRetryAfter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.auth.signIn = func(context.Context, string, string, string) (*auth.TokenPair, error) {
		return nil, &domain.Error{Code: domain.CodeRateLimited, Message: "too many sign-in attempts", RetryAfter: 1500 * time.Millisecond}
	}
	req := httptest.NewRequest("POST", "/v1/auth/sign-in", strings.NewReader(`{"email":"a@b.c","password":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	resp := b.do(req)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || !strings.Contains(string(raw), `"retry_after_seconds":2`) {
		t.Fatalf("got %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}
}

func TestEveryCodeHasAStatus(t *testing.T) {
	t.Parallel()
	for _, c := range domain.Codes() {
		if s := StatusFor(c); s < 400 || s > 599 {
			t.Errorf("code %s maps to status %d", c, s)
		}
	}
}

// TestBodyOverServerLimit declares a body over the server-wide limit: the
// server refuses it from the headers, before reading it, with a problem.
func TestBodyOverServerLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	expectRefusedFromHeaders(t, b, "/v1/auth/sign-in", 2*DefaultBodyLimit)
}

// expectRefusedFromHeaders declares a body of length bytes but sends one:
// only an answer decided from the headers can arrive before the read
// timeout. A raw connection is used because an HTTP client would still be
// writing the body when the server answers and closes.
func expectRefusedFromHeaders(t *testing.T, b *testBundle, path string, length int) {
	t.Helper()
	conn, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", path, length)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || resp.Header.Get("Content-Type") != ProblemContentType || !strings.Contains(string(raw), `"code":"payload_too_large"`) {
		t.Fatalf("got %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
}

func TestClientAddressBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	var got []string
	fake := &fakeAuth{signIn: func(_ context.Context, _, _, addr string) (*auth.TokenPair, error) {
		got = append(got, addr)
		return nil, domain.Errorf(domain.CodeInvalidCredentials, "wrong email or password")
	}}
	for _, tc := range []struct {
		name    string
		proxies []string
		xff     []string
		want    string
	}{
		{"no proxies: the peer, whatever the header says", nil, []string{"9.9.9.9"}, "127.0.0.1"},
		{"trusted peer: the client it reports", []string{"127.0.0.1"}, []string{"203.0.113.7"}, "203.0.113.7"},
		{"a spoofed left entry is ignored", []string{"127.0.0.0/8"}, []string{"1.1.1.1, 203.0.113.7"}, "203.0.113.7"},
		{"chained trusted proxies are skipped", []string{"127.0.0.1", "10.0.0.0/8"}, []string{"203.0.113.7, 10.1.2.3"}, "203.0.113.7"},
		{"several header lines read as one list", []string{"127.0.0.1"}, []string{"1.1.1.1", "198.51.100.2"}, "198.51.100.2"},
		{"garbage stops at the last named address", []string{"127.0.0.1"}, []string{"203.0.113.7, not-an-ip"}, "127.0.0.1"},
		{"no header: the proxy itself", []string{"127.0.0.1"}, nil, "127.0.0.1"},
	} {
		got = nil
		// A real listener: the peer address must be a real one.
		app := New(Config{Logger: slog.New(slog.DiscardHandler), Auth: fake, TrustedProxies: tc.proxies})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = app.Listener(ln) }()
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v1/auth/sign-in", strings.NewReader(`{"email":"a@b.c","password":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		for _, h := range tc.xff {
			req.Header.Add("X-Forwarded-For", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		_ = app.Shutdown()
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: client address %v, want %s", tc.name, got, tc.want)
		}
	}
}
