package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/admin"
	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/push/pushtest"
)

// The back-office routes are in the OpenAPI document like the device API's.
func TestOpenAPIListsEveryAdminRoute(t *testing.T) {
	t.Parallel()
	spec := readDoc(t, "docs/openapi.yaml")
	app := fiber.New()
	admin.Mount(app, admin.Config{RequireAuth: func(c *fiber.Ctx) error { return c.Next() }})
	param := regexp.MustCompile(`:([a-z_]+)`)
	routes := 0
	for _, r := range app.GetRoutes(true) {
		if r.Method == "HEAD" {
			continue
		}
		routes++
		path := param.ReplaceAllString(r.Path, "{$1}")
		i := strings.Index(spec, "\n  "+path+":\n")
		if i < 0 {
			t.Errorf("docs/openapi.yaml lacks path %s", path)
			continue
		}
		block := spec[i+1:]
		if next := regexp.MustCompile(`\n  /`).FindStringIndex(block); next != nil {
			block = block[:next[0]+1]
		}
		if !strings.Contains(block, "\n    "+strings.ToLower(r.Method)+":") {
			t.Errorf("docs/openapi.yaml lacks %s %s", r.Method, path)
		}
	}
	if routes < 8 {
		t.Errorf("only %d admin routes found", routes)
	}
}

func TestAlertSettings(t *testing.T) {
	t.Parallel()
	env := map[string]string{"TWILIO_ACCOUNT_SID": "AC1", "SMTP_HOST": "mail", "SMTP_PORT": "x", "TWILIO_FROM_NUMBER": "555"}
	_, err := loadConfig(func(k string) string { return env[k] })
	for _, want := range []string{"TWILIO_AUTH_TOKEN", "SMTP_FROM is required", "SMTP_PORT must", "TWILIO_FROM_NUMBER must be an E.164"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config error %v lacks %q", err, want)
		}
	}
	env = map[string]string{"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM_NUMBER": "+12485550199",
		"FIELDSYNC_TWILIO_BASE_URL": "http://127.0.0.1:9", "SMTP_HOST": "mail", "SMTP_FROM": "a@b.test"}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil || cfg.Alerts.TwilioFrom != "+12485550199" || cfg.Alerts.SMTPPort != 587 || cfg.Alerts.TwilioBaseURL != "http://127.0.0.1:9" {
		t.Errorf("config = %+v, %v", cfg.Alerts, err)
	}
}

// fieldsync dev with Twilio pointed at a local endpoint and nothing else
// configured: a lead posted with an API key reaches its rep by SMS through
// the real SDK, and the push channel lands in the local outbox.
func TestDevIntakeAlertsTheRep(t *testing.T) {
	t.Parallel()
	srv := pushtest.NewServer()
	t.Cleanup(srv.Close)
	vars := map[string]string{
		"FIELDSYNC_HTTP_ADDR": "127.0.0.1:0", "FIELDSYNC_DATA_DIR": t.TempDir(),
		"TWILIO_ACCOUNT_SID": "AC77", "TWILIO_AUTH_TOKEN": "secret77", "TWILIO_FROM_NUMBER": "+12485550199",
		"FIELDSYNC_TWILIO_BASE_URL": srv.TwilioBaseURL(),
	}
	p := startCmd(t, vars, "dev")
	c := &client{t: t, base: "http://" + p.addr, http: &http.Client{Timeout: 30 * time.Second}}
	owner := c.signIn("owner@iswitch.demo")
	var key struct {
		Secret string `json:"secret"`
	}
	a := c.do("POST", "/v1/admin/api-keys", owner.AccessToken, map[string]string{"name": "web form"})
	expect(t, "create key", a, 201, "")
	a.json(t, &key)
	lead := map[string]any{"source": "web_form", "external_id": "e2e-1", "first_name": "Chris", "last_name": "Vale",
		"phone": "248-555-0188", "zip": "48301", "property_value": 700000, "income": 250000, "engagement": "multiple_visits",
		"budget": "confirmed", "authority": "decision_maker", "need": "immediate", "timeline": "under_30_days"}
	a = c.do("POST", "/v1/leads", key.Secret, lead)
	expect(t, "intake", a, 201, "")
	var got domain.Lead
	a.json(t, &got)
	if got.AssignedTo == "" || got.RoutingRule == "" || got.Phone != "+12485550188" {
		t.Fatalf("intake answered %s", a.body)
	}
	expect(t, "replay", c.do("POST", "/v1/leads", key.Secret, lead), 200, "")
	deadline := time.Now().Add(20 * time.Second)
	for len(srv.Twilio()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	sms := srv.Twilio()
	if len(sms) != 1 || !strings.HasPrefix(sms[0].Body, "New lead: Chris Vale") {
		t.Fatalf("Twilio received %+v", sms)
	}
	// The job records what it sent in a transaction after the sends, so the
	// record can trail Twilio's request by a moment.
	var ns struct {
		Notifications []domain.Notification `json:"notifications"`
	}
	sent := 0
	for sent == 0 && time.Now().Before(deadline.Add(10*time.Second)) {
		ns.Notifications = nil
		c.do("GET", "/v1/admin/notifications", owner.AccessToken, nil).json(t, &ns)
		sent = 0
		for _, n := range ns.Notifications {
			if n.RefID == got.ID && n.Channel == "sms" && n.Status == domain.NotificationSent && n.UserID == got.AssignedTo {
				sent++
			}
		}
		if sent == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if sent != 1 {
		t.Errorf("notifications = %+v, want the rep's SMS as sent", ns.Notifications)
	}
}
