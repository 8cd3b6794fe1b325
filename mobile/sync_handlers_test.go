package mobile

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// fakeSync is a function-field fake of the sync engine.
type fakeSync struct {
	register  func(ctx context.Context, p domain.Principal, reg fsync.DeviceRegistration) (*domain.SyncClient, error)
	push      func(ctx context.Context, p domain.Principal, req fsync.PushRequest) (fsync.PushResponse, error)
	pull      func(ctx context.Context, p domain.Principal, req fsync.PullRequest) (fsync.PullResponse, error)
	checksums func(ctx context.Context, p domain.Principal, clientID string) (fsync.ChecksumsResponse, error)
	explain   func(ctx context.Context, p domain.Principal, clientID string, kind domain.EntityKind, id string) (fsync.DeviceReport, error)
}

var _ SyncEngine = (*fakeSync)(nil)

func (f *fakeSync) RegisterDevice(ctx context.Context, p domain.Principal, r fsync.DeviceRegistration) (*domain.SyncClient, error) {
	return f.register(ctx, p, r)
}
func (f *fakeSync) Push(ctx context.Context, p domain.Principal, r fsync.PushRequest) (fsync.PushResponse, error) {
	return f.push(ctx, p, r)
}
func (f *fakeSync) Pull(ctx context.Context, p domain.Principal, r fsync.PullRequest) (fsync.PullResponse, error) {
	return f.pull(ctx, p, r)
}
func (f *fakeSync) Checksums(ctx context.Context, p domain.Principal, id string) (fsync.ChecksumsResponse, error) {
	return f.checksums(ctx, p, id)
}
func (f *fakeSync) Explain(ctx context.Context, p domain.Principal, id string, k domain.EntityKind, rid string) (fsync.DeviceReport, error) {
	return f.explain(ctx, p, id, k, rid)
}

const (
	deviceID  = "66666666-6666-4666-8666-666666666666"
	foreignID = "77777777-7777-4777-8777-777777777777"
	managerID = "55555555-5555-4555-8555-555555555555"
)

// engineChecks does what the real engine does before anything else: refuse
// a device of another user and an app version it no longer serves.
func engineChecks(clientID string, v *fsync.Versions) error {
	if clientID == foreignID {
		return domain.Errorf(domain.CodeForbidden, "this device belongs to another user")
	}
	if v != nil && v.ProtocolVersion != fsync.ProtocolVersion {
		return domain.Errorf(domain.CodeUpgradeRequired, "update the app")
	}
	return nil
}

// newFakeSync answers by echoing what it was given, so the scenarios can
// see that the handler decoded the request and passed the caller on.
func newFakeSync() *fakeSync {
	return &fakeSync{
		register: func(_ context.Context, p domain.Principal, r fsync.DeviceRegistration) (*domain.SyncClient, error) {
			if err := engineChecks(r.ClientID, &r.Versions); err != nil {
				return nil, err
			}
			return &domain.SyncClient{ID: r.ClientID, OrgID: p.OrgID, UserID: p.UserID, Platform: r.Platform,
				AppVersion: r.AppVersion, SchemaVersion: r.SchemaVersion, LastMutationID: 7, Cursor: "secret-cursor"}, nil
		},
		push: func(_ context.Context, _ domain.Principal, r fsync.PushRequest) (fsync.PushResponse, error) {
			if err := engineChecks(r.ClientID, &r.Versions); err != nil {
				return fsync.PushResponse{}, err
			}
			resp := fsync.PushResponse{Processed: len(r.Mutations)}
			if n := len(r.Mutations); n > 0 {
				resp.LastMutationID = r.Mutations[n-1].ID
			}
			return resp, nil
		},
		pull: func(_ context.Context, _ domain.Principal, r fsync.PullRequest) (fsync.PullResponse, error) {
			if err := engineChecks(r.ClientID, &r.Versions); err != nil {
				return fsync.PullResponse{}, err
			}
			return fsync.PullResponse{Cursor: r.Cursor + "+1", Changes: []fsync.Change{}, Outcomes: []fsync.Outcome{}}, nil
		},
		checksums: func(_ context.Context, _ domain.Principal, id string) (fsync.ChecksumsResponse, error) {
			if err := engineChecks(id, nil); err != nil {
				return fsync.ChecksumsResponse{}, err
			}
			return fsync.ChecksumsResponse{Parts: []domain.ScopePart{{Kind: domain.KindLead, Count: 2, Hash: "ab12"}}}, nil
		},
		explain: func(_ context.Context, p domain.Principal, id string, k domain.EntityKind, rid string) (fsync.DeviceReport, error) {
			if p.Role != domain.RoleManager && p.Role != domain.RoleAdmin {
				return fsync.DeviceReport{}, domain.Errorf(domain.CodeForbidden, "managers and admins only")
			}
			rep := fsync.DeviceReport{ClientID: id, UserID: repID, Pending: []fsync.Outcome{}}
			if k != "" {
				rep.Record = &fsync.RecordReport{Kind: k, ID: rid, Exists: true, Reason: "the lead's rep is another user"}
			}
			return rep, nil
		},
	}
}

// withSync mounts the sync routes on the fakes, and adds a manager's token
// ("manager") and one that expires almost at once ("brief").
func withSync(b *testBundle, cfg *Config) {
	cfg.Sync = b.sync
	cfg.Pokes = b.pokes
	// Streams in the scenarios stay quiet unless a test shortens this.
	cfg.Heartbeat = time.Hour
	base := b.auth.authenticate
	b.auth.authenticate = func(ctx context.Context, bearer string) (domain.Principal, auth.Claims, error) {
		switch bearer {
		case "manager":
			return domain.Principal{UserID: managerID, OrgID: orgA, Role: domain.RoleManager},
				auth.Claims{ExpiresAt: time.Now().Add(15 * time.Minute)}, nil
		case "brief":
			return domain.Principal{UserID: repID, OrgID: orgA, Role: domain.RoleSales},
				auth.Claims{ExpiresAt: time.Now().Add(300 * time.Millisecond)}, nil
		}
		return base(ctx, bearer)
	}
}

func bearer(token string, extra ...string) map[string]string {
	return jsonHeaders(append([]string{"Authorization", "Bearer " + token}, extra...)...)
}

func TestSyncScenarios(t *testing.T) {
	t.Parallel()
	const v = `"protocol_version":1,"schema_version":3,"app_version":"2.4.0"`
	scenarios := []scenario{
		// POST /v1/devices
		{name: "register device", method: "POST", url: "/v1/devices", headers: bearer("good"),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","platform":"ios","push_token":"tok"}`, status: 201,
			contains: []string{`"client_id":"66666666-6666-4666-8666-666666666666"`, `"user_id":"` + repID + `"`, `"platform":"ios"`, `"app_version":"2.4.0"`, `"last_mutation_id":7`}},
		{name: "register device without a token", method: "POST", url: "/v1/devices", headers: jsonHeaders(),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","platform":"ios"}`, status: 401, code: domain.CodeUnauthorized},
		{name: "register device with an expired token", method: "POST", url: "/v1/devices", headers: bearer("expired"),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","platform":"ios"}`, status: 401, code: domain.CodeTokenExpired},
		{name: "register another user's device", method: "POST", url: "/v1/devices", headers: bearer("good"),
			body: `{` + v + `,"client_id":"` + foreignID + `","platform":"ios"}`, status: 403, code: domain.CodeForbidden},
		{name: "register device from an old app", method: "POST", url: "/v1/devices", headers: bearer("good"),
			body: `{"protocol_version":0,"client_id":"66666666-6666-4666-8666-666666666666","platform":"ios"}`, status: 426, code: domain.CodeUpgradeRequired},
		{name: "register device without client_id", method: "POST", url: "/v1/devices", headers: bearer("good"),
			body: `{` + v + `,"platform":"ios"}`, status: 422, code: domain.CodeInvalid, contains: []string{`"field":"client_id"`}},
		{name: "register device with malformed JSON", method: "POST", url: "/v1/devices", headers: bearer("good"),
			body: `{"client_id":`, status: 400, code: domain.CodeMalformedRequest},
		{name: "register device with a version of the wrong type", method: "POST", url: "/v1/devices", headers: bearer("good"),
			body: `{"protocol_version":"1","client_id":"66666666-6666-4666-8666-666666666666"}`, status: 422, code: domain.CodeInvalid,
			contains: []string{`"field":"protocol_version"`, `must be a number`}},
		{name: "register device over its limit", method: "POST", url: "/v1/devices", headers: bearer("good"),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","push_token":"` + strings.Repeat("t", 9000) + `"}`, status: 413, code: domain.CodePayloadTooLarge},

		// POST /v1/sync/push
		{name: "push", method: "POST", url: "/v1/sync/push", headers: bearer("good"),
			body:   `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","mutations":[{"id":3,"name":"lead.update","args":{"notes":"hi"}},{"id":4,"name":"interaction.log","args":{}}]}`,
			status: 200, contains: []string{`"last_mutation_id":4`, `"processed":2`}},
		{name: "push without a token", method: "POST", url: "/v1/sync/push", headers: jsonHeaders(),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","mutations":[]}`, status: 401, code: domain.CodeUnauthorized},
		{name: "push for another user's device", method: "POST", url: "/v1/sync/push", headers: bearer("good"),
			body: `{` + v + `,"client_id":"` + foreignID + `","mutations":[]}`, status: 403, code: domain.CodeForbidden},
		{name: "push from an unsupported protocol", method: "POST", url: "/v1/sync/push", headers: bearer("good"),
			body: `{"protocol_version":9,"client_id":"66666666-6666-4666-8666-666666666666","mutations":[]}`, status: 426, code: domain.CodeUpgradeRequired},
		{name: "push without client_id", method: "POST", url: "/v1/sync/push", headers: bearer("good"),
			body: `{` + v + `,"mutations":[]}`, status: 422, code: domain.CodeInvalid, contains: []string{`"field":"client_id"`}},
		{name: "push with malformed JSON", method: "POST", url: "/v1/sync/push", headers: bearer("good"),
			body: `{"client_id":"66666666-6666-4666-8666-666666666666","mutations":[`, status: 400, code: domain.CodeMalformedRequest},
		// Push and pull bodies are decoded by the engine's fsync.DecodePush
		// and DecodePull, which answer a wrong type or an unknown field
		// with malformed_request naming the field.
		{name: "push with mutations of the wrong type", method: "POST", url: "/v1/sync/push", headers: bearer("good"),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","mutations":"all of them"}`, status: 400, code: domain.CodeMalformedRequest,
			contains: []string{`"field":"mutations"`}},
		{name: "push with a mutation id of the wrong type", method: "POST", url: "/v1/sync/push", headers: bearer("good"),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","mutations":[{"id":"3","name":"lead.update","args":{}}]}`, status: 400, code: domain.CodeMalformedRequest,
			contains: []string{`"field":"mutations.id"`}},
		{name: "push with an unknown field", method: "POST", url: "/v1/sync/push", headers: bearer("good"),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","mutations":[],"force":true}`, status: 400, code: domain.CodeMalformedRequest,
			contains: []string{`"field":"force"`}},
		{name: "push with a gap inside the batch", method: "POST", url: "/v1/sync/push", headers: bearer("good"),
			body:   `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","mutations":[{"id":3,"name":"lead.update","args":{}},{"id":5,"name":"lead.update","args":{}}]}`,
			status: 422, code: domain.CodeInvalid, contains: []string{`"field":"mutations[1].id"`}},
		{name: "push with a client_id that is not a UUID", method: "POST", url: "/v1/sync/push", headers: bearer("good"),
			body: `{` + v + `,"client_id":"phone-1","mutations":[]}`, status: 422, code: domain.CodeInvalid, contains: []string{`"field":"client_id"`}},
		{name: "push as a form", method: "POST", url: "/v1/sync/push", headers: bearer("good", "Content-Type", "application/x-www-form-urlencoded"),
			body: `client_id=66666666-6666-4666-8666-666666666666`, status: 415, code: domain.CodeUnsupportedMedia},

		// POST /v1/sync/pull
		{name: "pull", method: "POST", url: "/v1/sync/pull", headers: bearer("good"),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","cursor":"c41","limit":100,"repair_kinds":["lead"]}`, status: 200,
			contains: []string{`"cursor":"c41+1"`, `"changes":[]`}},
		{name: "pull without a token", method: "POST", url: "/v1/sync/pull", headers: jsonHeaders(),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666"}`, status: 401, code: domain.CodeUnauthorized},
		{name: "pull for another user's device", method: "POST", url: "/v1/sync/pull", headers: bearer("good"),
			body: `{` + v + `,"client_id":"` + foreignID + `"}`, status: 403, code: domain.CodeForbidden},
		{name: "pull from a schema not served", method: "POST", url: "/v1/sync/pull", headers: bearer("good"),
			body: `{"protocol_version":1,"schema_version":99,"client_id":"66666666-6666-4666-8666-666666666666"}`, status: 426, code: domain.CodeUpgradeRequired},
		{name: "pull without versions", method: "POST", url: "/v1/sync/pull", headers: bearer("good"),
			body: `{"client_id":"66666666-6666-4666-8666-666666666666"}`, status: 422, code: domain.CodeInvalid,
			contains: []string{`"field":"protocol_version"`, `"field":"schema_version"`}},
		{name: "pull without client_id", method: "POST", url: "/v1/sync/pull", headers: bearer("good"),
			body: `{` + v + `,"cursor":""}`, status: 422, code: domain.CodeInvalid, contains: []string{`"field":"client_id"`}},
		{name: "pull with a limit of the wrong type", method: "POST", url: "/v1/sync/pull", headers: bearer("good"),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","limit":"all"}`, status: 400, code: domain.CodeMalformedRequest, contains: []string{`"field":"limit"`}},
		{name: "pull over its limit", method: "POST", url: "/v1/sync/pull", headers: bearer("good"),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666","cursor":"` + strings.Repeat("c", 20000) + `"}`, status: 413, code: domain.CodePayloadTooLarge},
		{name: "pull with trailing data", method: "POST", url: "/v1/sync/pull", headers: bearer("good"),
			body: `{` + v + `,"client_id":"66666666-6666-4666-8666-666666666666"}{}`, status: 400, code: domain.CodeMalformedRequest},
		{name: "pull with an empty body", method: "POST", url: "/v1/sync/pull", headers: bearer("good"),
			status: 400, code: domain.CodeMalformedRequest},

		// GET /v1/sync/checksums
		{name: "checksums", method: "GET", url: "/v1/sync/checksums?client_id=66666666-6666-4666-8666-666666666666", headers: bearer("good",
			HeaderProtocol, "1", HeaderSchema, "3", HeaderApp, "2.4.0"),
			status: 200, contains: []string{`"parts":[{"kind":"lead","count":2,"hash":"ab12"}]`}},
		{name: "checksums without version headers", method: "GET", url: "/v1/sync/checksums?client_id=66666666-6666-4666-8666-666666666666", headers: bearer("good"),
			status: 200},
		{name: "checksums without a token", method: "GET", url: "/v1/sync/checksums?client_id=66666666-6666-4666-8666-666666666666",
			status: 401, code: domain.CodeUnauthorized},
		{name: "checksums without client_id", method: "GET", url: "/v1/sync/checksums", headers: bearer("good"),
			status: 422, code: domain.CodeInvalid, contains: []string{`"field":"client_id"`}},
		{name: "checksums of another user's device", method: "GET", url: "/v1/sync/checksums?client_id=" + foreignID, headers: bearer("good"),
			status: 403, code: domain.CodeForbidden},
		{name: "checksums from an unsupported protocol", method: "GET", url: "/v1/sync/checksums?client_id=66666666-6666-4666-8666-666666666666",
			headers: bearer("good", HeaderProtocol, "2"), status: 426, code: domain.CodeUpgradeRequired},
		{name: "checksums from a schema not served", method: "GET", url: "/v1/sync/checksums?client_id=66666666-6666-4666-8666-666666666666",
			headers: bearer("good", HeaderSchema, "99"), status: 426, code: domain.CodeUpgradeRequired},
		{name: "checksums with schema 0", method: "GET", url: "/v1/sync/checksums?client_id=66666666-6666-4666-8666-666666666666",
			headers: bearer("good", HeaderSchema, "0"), status: 422, code: domain.CodeInvalid, contains: []string{`"field":"X-Fieldsync-Schema"`}},
		{name: "checksums with a version header that is not a number", method: "GET", url: "/v1/sync/checksums?client_id=66666666-6666-4666-8666-666666666666",
			headers: bearer("good", HeaderProtocol, "one"), status: 422, code: domain.CodeInvalid, contains: []string{`"field":"X-Fieldsync-Protocol"`}},

		// GET /v1/admin/sync/devices/:id
		{name: "explain a device", method: "GET", url: "/v1/admin/sync/devices/66666666-6666-4666-8666-666666666666", headers: bearer("manager"),
			status: 200, contains: []string{`"client_id":"66666666-6666-4666-8666-666666666666"`, `"pending_outcomes":[]`}},
		{name: "explain a record", method: "GET", url: "/v1/admin/sync/devices/66666666-6666-4666-8666-666666666666?kind=lead&record_id=" + leadID, headers: bearer("manager"),
			status: 200, contains: []string{`"record":{"kind":"lead","id":"` + leadID + `"`, `"reason":"the lead's rep is another user"`}},
		{name: "explain as a rep", method: "GET", url: "/v1/admin/sync/devices/66666666-6666-4666-8666-666666666666", headers: bearer("good"),
			status: 403, code: domain.CodeForbidden},
		{name: "explain without a token", method: "GET", url: "/v1/admin/sync/devices/66666666-6666-4666-8666-666666666666",
			status: 401, code: domain.CodeUnauthorized},
		{name: "explain a kind without a record", method: "GET", url: "/v1/admin/sync/devices/66666666-6666-4666-8666-666666666666?kind=lead", headers: bearer("manager"),
			status: 422, code: domain.CodeInvalid, contains: []string{`"field":"kind"`}},
		{name: "explain an unsynced kind and a bad id", method: "GET", url: "/v1/admin/sync/devices/66666666-6666-4666-8666-666666666666?kind=campaign&record_id=x", headers: bearer("manager"),
			status: 422, code: domain.CodeInvalid, contains: []string{`"field":"kind"`, `"field":"record_id"`}},

		// GET /v1/sync/events (the stream itself is tested in events_test.go)
		{name: "events without a token", method: "GET", url: "/v1/sync/events?client_id=66666666-6666-4666-8666-666666666666",
			status: 401, code: domain.CodeUnauthorized},
		{name: "events without client_id", method: "GET", url: "/v1/sync/events", headers: bearer("good"),
			status: 422, code: domain.CodeInvalid, contains: []string{`"field":"client_id"`}},
		{name: "events from an unsupported protocol", method: "GET", url: "/v1/sync/events?client_id=66666666-6666-4666-8666-666666666666",
			headers: bearer("good", HeaderProtocol, "2"), status: 426, code: domain.CodeUpgradeRequired},
		{name: "wrong method on push", method: "GET", url: "/v1/sync/push", headers: bearer("good"),
			status: 405, code: domain.CodeMethodNotAllowed},
	}
	runScenarios(t, scenarios, withSync)
}

// TestRegisteredDeviceHidesServerState: the answer is the device's public
// record, never the server's cursor or organization.
func TestRegisteredDeviceHidesServerState(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync)
	req := httptest.NewRequest("POST", "/v1/devices", strings.NewReader(`{"protocol_version":1,"client_id":"66666666-6666-4666-8666-666666666666","platform":"android"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer good")
	resp := b.do(req)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	for _, hidden := range []string{"cursor", "Cursor", "org_id", "OrgID", "role"} {
		if _, ok := body[hidden]; ok {
			t.Errorf("device answer has %q: %s", hidden, raw)
		}
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
	}
}

// TestEngineGetsTheCallerAndTheRequest: the handlers hand the engine the
// authenticated principal and the request as decoded, nothing from the body
// about who the caller is.
func TestEngineGetsTheCallerAndTheRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync)
	var mu gosync.Mutex
	var gotP domain.Principal
	var gotReq fsync.PullRequest
	b.sync.pull = func(_ context.Context, p domain.Principal, r fsync.PullRequest) (fsync.PullResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		gotP, gotReq = p, r
		return fsync.PullResponse{}, nil
	}
	req := httptest.NewRequest("POST", "/v1/sync/pull", strings.NewReader(
		`{"protocol_version":1,"schema_version":2,"app_version":"2.3.1","client_id":"66666666-6666-4666-8666-666666666666","cursor":"abc","limit":50,"ack_outcomes_through":9,"repair_kinds":["lead","photo"]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer manager")
	resp := b.do(req)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != 200 || gotP.UserID != managerID || gotP.OrgID != orgA || gotP.Role != domain.RoleManager {
		t.Fatalf("status %d, principal %+v", resp.StatusCode, gotP)
	}
	want := fsync.PullRequest{
		Versions: fsync.Versions{ProtocolVersion: 1, SchemaVersion: 2, AppVersion: "2.3.1"},
		ClientID: deviceID, Cursor: "abc", Limit: 50, AckOutcomesThrough: 9,
		RepairKinds: []domain.EntityKind{domain.KindLead, domain.KindPhoto},
	}
	gotJSON, _ := json.Marshal(gotReq)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("engine got %s, want %s", gotJSON, wantJSON)
	}
}

// TestPushOverItsLimitIsRefusedBeforeReading: the server-wide limit is the
// push limit, so a larger push is refused from its headers.
func TestPushOverItsLimitIsRefusedBeforeReading(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync)
	expectRefusedFromHeaders(t, b, "/v1/sync/push", fsync.MaxPushBytes+1)
}

// TestLargePushFitsButOtherLimitsHold: a push larger than the default body
// limit is served, while the same size to sign-in is still refused by that
// endpoint's own limit.
func TestLargePushFitsButOtherLimitsHold(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync)
	notes := strings.Repeat("n", 2*DefaultBodyLimit)
	push := httptest.NewRequest("POST", "/v1/sync/push", strings.NewReader(
		`{"protocol_version":1,"schema_version":3,"client_id":"66666666-6666-4666-8666-666666666666","mutations":[{"id":1,"name":"lead.update","args":{"notes":"`+notes+`"}}]}`))
	push.Header.Set("Content-Type", "application/json")
	push.Header.Set("Authorization", "Bearer good")
	resp := b.do(push)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"processed":1`) {
		t.Fatalf("large push: %d %.200s", resp.StatusCode, raw)
	}
	signIn := httptest.NewRequest("POST", "/v1/auth/sign-in", strings.NewReader(`{"email":"`+notes+`","password":"x"}`))
	signIn.Header.Set("Content-Type", "application/json")
	resp = b.do(signIn)
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(raw), `"code":"payload_too_large"`) {
		t.Fatalf("large sign-in: %d %.200s", resp.StatusCode, raw)
	}
}

// TestSyncRoutesNeedAnEngine: without Config.Sync the routes do not exist.
func TestSyncRoutesNeedAnEngine(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "no push route", method: "POST", url: "/v1/sync/push", headers: bearer("good"),
			body: `{"client_id":"66666666-6666-4666-8666-666666666666"}`, status: 404, code: domain.CodeRouteNotFound},
		{name: "no events route", method: "GET", url: "/v1/sync/events?client_id=66666666-6666-4666-8666-666666666666", headers: bearer("good"),
			status: 404, code: domain.CodeRouteNotFound},
	})
}

// TestEventsWithoutPokesIsUnavailable: a server wired without a poke source
// says so instead of holding streams that would never speak.
func TestEventsWithoutPokesIsUnavailable(t *testing.T) {
	t.Parallel()
	runScenarios(t, []scenario{
		{name: "events without pokes", method: "GET", url: "/v1/sync/events?client_id=66666666-6666-4666-8666-666666666666", headers: bearer("good"),
			status: 503, code: domain.CodeUnavailable},
	}, withSync, func(_ *testBundle, cfg *Config) { cfg.Pokes = nil })
}
