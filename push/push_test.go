package push_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/push"
	"github.com/iswitchroofs/fieldsync/push/pushtest"
)

func newFCM(t *testing.T) (*push.FCM, *pushtest.Server) {
	t.Helper()
	srv := pushtest.NewServer()
	t.Cleanup(srv.Close)
	f, err := push.NewFCM(context.Background(), push.FCMConfig{
		CredentialsJSON: srv.ServiceAccountJSON("fieldsync-test"), Endpoint: srv.FCMEndpoint(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, srv
}

var msg = push.Message{LeadID: "0190c0de-0000-7000-8000-000000000001", Level: 1, Title: "New lead: Pat Lee", Body: "Call within 2 minutes"}

func TestFCMAlertPayload(t *testing.T) {
	t.Parallel()
	f, srv := newFCM(t)
	ctx := context.Background()
	id, err := f.Alert(ctx, push.Device{Token: "tok-1", Platform: domain.PlatformIOS}, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "projects/fieldsync-test/messages/") {
		t.Errorf("message id = %q", id)
	}
	if _, err := f.Poke(ctx, push.Device{Token: "tok-1"}, msg); err != nil {
		t.Fatal(err)
	}
	got := srv.FCM()
	if len(got) != 2 {
		t.Fatalf("FCM received %d requests, want 2", len(got))
	}
	a := got[0]
	if a.Project != "fieldsync-test" || !strings.HasPrefix(a.Auth, "Bearer test-token-") {
		t.Errorf("project %q auth %q", a.Project, a.Auth)
	}
	m := a.Message
	if m.Token != "tok-1" || m.Notification == nil || m.Notification.Title != msg.Title || m.Notification.Body != msg.Body {
		t.Errorf("alert = %+v", m)
	}
	if m.Data["lead_id"] != msg.LeadID || m.Data["kind"] != "lead_alert" || m.Data["level"] != "1" {
		t.Errorf("data = %v", m.Data)
	}
	if m.Android == nil || m.Android.Priority != "high" || m.Android.CollapseKey != "lead-"+msg.LeadID || m.Android.TTL != "120s" {
		t.Errorf("android = %+v", m.Android)
	}
	if m.APNS == nil || m.APNS.Headers["apns-priority"] != "10" || m.APNS.Headers["apns-push-type"] != "alert" ||
		m.APNS.Headers["apns-collapse-id"] != "lead-"+msg.LeadID {
		t.Errorf("apns = %+v", m.APNS)
	}
	p := got[1].Message
	if p.Notification != nil || p.Data["kind"] != "sync_poke" || p.APNS.Headers["apns-push-type"] != "background" ||
		p.APNS.Headers["apns-priority"] != "5" {
		t.Errorf("poke = %+v", p)
	}
	if aps, _ := p.APNS.Payload["aps"].(map[string]any); aps["content-available"] != float64(1) {
		t.Errorf("poke aps = %v", p.APNS.Payload)
	}
	if srv.TokensIssued() != 1 {
		t.Errorf("tokens issued = %d, want 1 (cached)", srv.TokensIssued())
	}
}

func TestFCMFailures(t *testing.T) {
	t.Parallel()
	f, srv := newFCM(t)
	ctx := context.Background()
	dev := push.Device{Token: "tok-dead"}
	srv.Unregister("tok-dead")
	if _, err := f.Alert(ctx, dev, msg); !errors.Is(err, push.ErrTokenInvalid) || !push.IsPermanent(err) {
		t.Errorf("unregistered: err = %v, want ErrTokenInvalid", err)
	}
	srv.FailFCM(pushtest.Failure{Status: 429, RetryAfter: "7"})
	_, err := f.Alert(ctx, push.Device{Token: "tok-2"}, msg)
	if d, ok := push.RetryAfter(err); !ok || d != 7*time.Second || push.IsPermanent(err) {
		t.Errorf("429: err = %v, retry after %v %v; want temporary, 7s", err, d, ok)
	}
	srv.FailFCM(pushtest.Failure{Status: 500})
	_, err = f.Alert(ctx, push.Device{Token: "tok-2"}, msg)
	var tmp *push.TemporaryError
	if !errors.As(err, &tmp) || tmp.Status != 500 {
		t.Errorf("500: err = %v, want a temporary error with status 500", err)
	}
	if _, err := f.Alert(ctx, push.Device{Token: "tok-2"}, msg); err != nil {
		t.Errorf("after the failures: %v", err)
	}
	if n := len(srv.FCM()); n != 1 {
		t.Errorf("accepted %d messages, want 1", n)
	}
}

func TestTwilio(t *testing.T) {
	t.Parallel()
	srv := pushtest.NewServer()
	t.Cleanup(srv.Close)
	tw, err := push.NewTwilio(push.TwilioConfig{AccountSID: "AC123", AuthToken: "secret1", From: "+12485550199", BaseURL: srv.TwilioBaseURL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sid, err := tw.SMS(ctx, "+12485550101", "New lead: Pat Lee")
	if err != nil || !strings.HasPrefix(sid, "SM") {
		t.Fatalf("SMS = %q, %v", sid, err)
	}
	if _, err := tw.Call(ctx, "+12485550100", "A lead waits <now>"); err != nil {
		t.Fatal(err)
	}
	got := srv.Twilio()
	if len(got) != 2 || got[0].Kind != "sms" || got[0].To != "+12485550101" || got[0].From != "+12485550199" ||
		got[0].Body != "New lead: Pat Lee" || got[0].Account != "AC123" {
		t.Fatalf("twilio got %+v", got)
	}
	if got[1].Kind != "call" || !strings.Contains(got[1].Twiml, "<Say>A lead waits &lt;now&gt;</Say>") {
		t.Errorf("call = %+v", got[1])
	}
	srv.FailTwilio(pushtest.Failure{Status: 429, RetryAfter: "3"})
	_, err = tw.SMS(ctx, "+12485550101", "x")
	if d, ok := push.RetryAfter(err); !ok || d != 3*time.Second {
		t.Errorf("429: %v, %v", err, d)
	}
	srv.FailTwilio(pushtest.Failure{Status: 500})
	if _, err = tw.SMS(ctx, "+12485550101", "x"); err == nil || push.IsPermanent(err) {
		t.Errorf("500: %v, want temporary", err)
	}
	if _, err = tw.SMS(ctx, "12345", "x"); !push.IsPermanent(err) {
		t.Errorf("bad number: %v, want permanent", err)
	}
}

func TestSMTP(t *testing.T) {
	t.Parallel()
	srv, err := pushtest.NewSMTPServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	host, port := srv.Addr()
	m, err := push.NewSMTP(push.SMTPConfig{Host: host, Port: port, From: "alerts@fieldsync.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Email(context.Background(), "owner@example.test", "Lead waiting 6 minutes", "Pat Lee\nCall now"); err != nil {
		t.Fatal(err)
	}
	got := srv.Mail()
	if len(got) != 1 || got[0].To[0] != "owner@example.test" || !strings.Contains(got[0].Data, "Subject: Lead waiting 6 minutes") ||
		!strings.Contains(got[0].Data, "Pat Lee\r\nCall now") {
		t.Fatalf("mail = %+v", got)
	}
	if _, err := m.Email(context.Background(), "a@b.test\r\nBcc: x@y", "s", "b"); !push.IsPermanent(err) {
		t.Errorf("header injection: %v", err)
	}
}
