package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/admin"
	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// allow is a rate limiter that never limits: sign-in limits are not what
// these tests are about.
type allow struct{}

func (allow) Allow(context.Context, string, domain.RateLimit) (domain.RateDecision, error) {
	return domain.RateDecision{Allowed: true}, nil
}

var cheap = auth.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

type bundle struct {
	t       *testing.T
	store   *sqlstore.Store
	app     *fiber.App
	org     *domain.Organization
	admin   *domain.User
	manager *domain.User
	rep     *domain.User
	tokens  map[string]string // user id → access token
}

func setup(t *testing.T) *bundle {
	t.Helper()
	st := sqltest.Postgres(t)
	b := &bundle{t: t, store: st, tokens: map[string]string{}}
	b.org = sqltest.Org(t, st)
	hash, err := auth.HashPassword("correct horse", cheap)
	if err != nil {
		t.Fatal(err)
	}
	pw := func(u *domain.User) { u.PasswordHash = hash }
	b.admin = sqltest.User(t, st, b.org, domain.RoleAdmin, pw)
	b.manager = sqltest.User(t, st, b.org, domain.RoleManager, pw, func(u *domain.User) { u.EscalationTier = domain.TierManager })
	b.rep = sqltest.User(t, st, b.org, domain.RoleSales, pw, func(u *domain.User) { u.Phone = "+12485550111" })
	spec, err := auth.GenerateKeySpec("k1")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.ParseKeyRing(spec)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(auth.Config{Users: st, Sessions: st, Limiter: allow{}, Keys: keys, PasswordParams: cheap})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	b.app = mobile.New(mobile.Config{Logger: log, Auth: svc, Users: st, Records: st})
	admin.Mount(b.app, admin.Config{Store: st, Log: log, RequireAuth: mobile.RequireAuth(svc), Principal: mobile.PrincipalFromContext})
	for _, u := range []*domain.User{b.admin, b.manager, b.rep} {
		pair, err := svc.SignIn(context.Background(), u.Email, "correct horse", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		b.tokens[u.ID] = pair.AccessToken
	}
	return b
}

type answer struct {
	status int
	body   map[string]any
	header http.Header
}

func (b *bundle) do(method, path, bearer, body string) answer {
	b.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := b.app.Test(req, 10000)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: map[string]any{}}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			b.t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return a
}

func (b *bundle) as(u *domain.User) string { return b.tokens[u.ID] }

// newKey creates an API key as the admin and returns its secret and id.
func (b *bundle) newKey() (string, string) {
	b.t.Helper()
	a := b.do("POST", "/v1/admin/api-keys", b.as(b.admin), `{"name":"Website form"}`)
	if a.status != 201 {
		b.t.Fatalf("create key: %d %v", a.status, a.body)
	}
	return a.body["secret"].(string), a.body["id"].(string)
}

func (b *bundle) leadCount() int {
	b.t.Helper()
	leads, err := b.store.ListLeads(context.Background(), domain.LeadFilter{OrgID: b.org.ID})
	if err != nil {
		b.t.Fatal(err)
	}
	return len(leads)
}

func (b *bundle) outboxCount() int {
	b.t.Helper()
	msgs, err := b.store.ClaimOutbox(context.Background(), 1000, time.Now().Add(time.Hour))
	if err != nil {
		b.t.Fatal(err)
	}
	return len(msgs)
}

const goodLead = `{"source":"web_form","external_id":"form-1","first_name":"Pat","last_name":"Lee",` +
	`"phone":"(248) 555-0177","email":"Pat@Example.com","zip":"48084","property_value":650000,"income":250000,` +
	`"engagement":"multiple_visits","budget":"confirmed","authority":"decision_maker","need":"immediate","timeline":"under_30_days"}`

func TestIntakeCreatesScoresRoutesAndQueuesTheChain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	secret, _ := b.newKey()
	a := b.do("POST", "/v1/leads", secret, goodLead)
	if a.status != 201 {
		t.Fatalf("intake: %d %v", a.status, a.body)
	}
	if a.body["phone"] != "+12485550177" || a.body["email"] != "pat@example.com" || a.body["status"] != "new" {
		t.Errorf("lead = %v", a.body)
	}
	if a.body["assigned_to"] != b.rep.ID || a.body["routing_rule"] != "least_workload" {
		t.Errorf("routed to %v by %v", a.body["assigned_to"], a.body["routing_rule"])
	}
	// 30 + 15 + 3 (zip in no list) + 15 (multiple visits) + 10 (BANT) = 73.
	if score := a.body["score"].(float64); score != 73 || a.body["temperature"] != "warm" {
		t.Errorf("score %v temperature %v", score, a.body["temperature"])
	}
	if n := b.outboxCount(); n != 4 {
		t.Errorf("outbox rows = %d, want the 4 levels of the chain", n)
	}
	// The replay answers the same lead and creates nothing.
	r := b.do("POST", "/v1/leads", secret, goodLead)
	if r.status != 200 || r.body["id"] != a.body["id"] || r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %v", r.status, r.body)
	}
	if b.leadCount() != 1 {
		t.Errorf("leads after replay = %d, want 1", b.leadCount())
	}
}

func TestIntakeRefusesBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	secret, keyID := b.newKey()
	if a := b.do("POST", "/v1/leads", secret, goodLead); a.status != 201 {
		t.Fatalf("first lead: %d %v", a.status, a.body)
	}
	other, _ := b.newKey()
	cases := []struct {
		name, bearer, body string
		status             int
		code               string
	}{
		{"no key", "", goodLead, 401, "unauthorized"},
		{"unknown key", "fsk_nope", goodLead, 401, "api_key_invalid"},
		{"malformed phone", other, strings.Replace(goodLead, "(248) 555-0177", "555-01", 1), 422, "invalid_phone"},
		{"letters for a phone", other, strings.Replace(goodLead, "(248) 555-0177", "call me", 1), 422, "invalid_phone"},
		{"missing contact", other, `{"source":"web_form","first_name":"Pat"}`, 422, "missing_contact"},
		{"unknown source", other, strings.Replace(goodLead, "web_form", "carrier_pigeon", 1), 422, "unknown_source"},
		{"bad email", other, `{"source":"web_form","first_name":"Pat","email":"not-an-email"}`, 422, "invalid"},
		{"no name", other, `{"source":"web_form","email":"a@b.co"}`, 422, "invalid"},
		{"unknown field", other, `{"source":"web_form","email":"a@b.co","first_name":"A","ssn":"1"}`, 422, "invalid"},
		{"not JSON", other, `{"source":`, 400, "malformed_request"},
		{"reused external id", other, strings.Replace(goodLead, `"first_name":"Pat"`, `"first_name":"Someone else"`, 1), 409, "external_id_reused"},
	}
	for _, tc := range cases {
		a := b.do("POST", "/v1/leads", tc.bearer, tc.body)
		if a.status != tc.status || a.body["code"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, a.status, a.body["code"], tc.status, tc.code)
		}
	}
	// Revoked: the key stops working at once.
	if a := b.do("DELETE", "/v1/admin/api-keys/"+keyID, b.as(b.admin), ""); a.status != 204 {
		t.Fatalf("revoke: %d %v", a.status, a.body)
	}
	a := b.do("POST", "/v1/leads", secret, strings.Replace(goodLead, "form-1", "form-2", 1))
	if a.status != 401 || a.body["code"] != "api_key_revoked" {
		t.Errorf("revoked key: %d %v", a.status, a.body)
	}
	if n := b.leadCount(); n != 1 {
		t.Errorf("leads = %d, want only the first", n)
	}
	if n := b.outboxCount(); n != 4 {
		t.Errorf("outbox rows = %d, want only the first lead's chain", n)
	}
}

func TestAPIKeysAreAdminsOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	secret, id := b.newKey()
	if a := b.do("POST", "/v1/admin/api-keys", b.as(b.manager), `{"name":"x"}`); a.status != 403 || a.body["code"] != "forbidden" {
		t.Errorf("manager creates a key: %d %v", a.status, a.body)
	}
	if a := b.do("POST", "/v1/admin/api-keys", b.as(b.admin), `{"name":""}`); a.status != 422 {
		t.Errorf("nameless key: %d %v", a.status, a.body)
	}
	a := b.do("GET", "/v1/admin/api-keys", b.as(b.admin), "")
	keys := a.body["api_keys"].([]any)
	k := keys[0].(map[string]any)
	if len(keys) != 1 || k["id"] != id || k["hint"] != secret[len(secret)-4:] || k["hash"] != nil || k["secret"] != nil {
		t.Errorf("list = %v", a.body)
	}
	stored, err := b.store.FindAPIKeyByHash(context.Background(), admin.HashAPIKey(secret))
	if err != nil || stored.ID != id {
		t.Errorf("stored hash lookup: %v %v", stored, err)
	}
	if a := b.do("DELETE", "/v1/admin/api-keys/"+domain.StableID("nope"), b.as(b.admin), ""); a.status != 404 {
		t.Errorf("revoke unknown: %d %v", a.status, a.body)
	}
}

func TestAcknowledgeAndResponseTimes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	lead := sqltest.Lead(t, b.store, sqltest.System(b.org), func(l *domain.Lead) { l.AssignedTo = b.rep.ID })
	al := sqltest.Alert(t, b.store, sqltest.System(b.org), func(a *domain.Alert) { a.LeadID, a.RecipientID = lead.ID, b.rep.ID })
	otherRep := sqltest.User(t, b.store, b.org, domain.RoleSales)
	_ = otherRep
	if a := b.do("POST", "/v1/alerts/"+al.ID+"/acknowledge", "", ""); a.status != 401 {
		t.Errorf("anonymous ack: %d", a.status)
	}
	if a := b.do("POST", "/v1/alerts/"+domain.StableID("x")+"/acknowledge", b.as(b.rep), ""); a.status != 404 {
		t.Errorf("unknown alert: %d %v", a.status, a.body)
	}
	a := b.do("POST", "/v1/alerts/"+al.ID+"/acknowledge", b.as(b.rep), "")
	if a.status != 200 || a.body["acknowledged_by"] != b.rep.ID || a.body["acknowledged_at"] == nil {
		t.Fatalf("ack: %d %v", a.status, a.body)
	}
	first := a.body["acknowledged_at"]
	if again := b.do("POST", "/v1/alerts/"+al.ID+"/acknowledge", b.as(b.manager), ""); again.status != 200 ||
		again.body["acknowledged_at"] != first || again.body["acknowledged_by"] != b.rep.ID {
		t.Errorf("second ack changed it: %v", again.body)
	}
	alerts, _ := b.store.LeadAlerts(ctx, b.org.ID, lead.ID)
	if !domain.ChainStopped(lead, alerts) {
		t.Error("the chain is not stopped after the acknowledgement")
	}

	if a := b.do("GET", "/v1/admin/response-times", b.as(b.rep), ""); a.status != 403 {
		t.Errorf("rep reads compliance: %d", a.status)
	}
	if a := b.do("GET", "/v1/admin/response-times?period=year", b.as(b.manager), ""); a.status != 422 {
		t.Errorf("bad period: %d", a.status)
	}
	r := b.do("GET", "/v1/admin/response-times?period=week", b.as(b.manager), "")
	if r.status != 200 {
		t.Fatalf("report: %d %v", r.status, r.body)
	}
	team := r.body["report"].(map[string]any)["team"].(map[string]any)
	leads := r.body["leads"].([]any)
	if team["leads"] != float64(1) || len(leads) != 1 || leads[0].(map[string]any)["seconds_to_acknowledge"] == nil {
		t.Errorf("report = %v", r.body)
	}
	n := b.do("GET", "/v1/admin/notifications?limit=5", b.as(b.admin), "")
	if n.status != 200 || n.body["notifications"] == nil {
		t.Errorf("notifications: %d %v", n.status, n.body)
	}
	if n := b.do("GET", "/v1/admin/notifications?limit=0", b.as(b.admin), ""); n.status != 422 {
		t.Errorf("limit 0: %d", n.status)
	}
}

func TestAvailability(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := `{"hours":[{"weekday":1,"start_minute":480,"end_minute":1020}],"time_off":[]}`
	if a := b.do("PUT", "/v1/admin/users/"+b.rep.ID+"/availability", b.as(b.manager), body); a.status != 200 {
		t.Fatalf("set: %d %v", a.status, a.body)
	}
	if a := b.do("PUT", "/v1/admin/users/"+b.rep.ID+"/availability", b.as(b.manager), `{"hours":[{"weekday":9,"start_minute":0,"end_minute":10}]}`); a.status != 422 {
		t.Errorf("bad weekday: %d", a.status)
	}
	if a := b.do("PUT", "/v1/admin/users/"+domain.StableID("x")+"/availability", b.as(b.manager), body); a.status != 404 {
		t.Errorf("unknown user: %d", a.status)
	}
	cands, err := b.store.RouteCandidates(context.Background(), b.org.ID)
	if err != nil || len(cands) != 1 || len(cands[0].Availability.Hours) != 1 {
		t.Errorf("candidates = %+v, %v", cands, err)
	}
}
