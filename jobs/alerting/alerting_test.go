package alerting_test

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs/alerting"
	"github.com/iswitchroofs/fieldsync/push"
	"github.com/iswitchroofs/fieldsync/push/pushtest"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

func requireCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// The whole chain with nobody answering: the rep at once, then manager,
// operations and owner at exactly 2, 4 and 6 minutes after creation, each
// on exactly its channels, nobody else, nothing twice.
func TestChainLevelsAtTwoFourSixMinutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	lead := b.newLead()

	b.at(0)
	requireCounts(t, "alerts at 0", pushTo(b.srv, "lead_alert"), map[string]int{"rep-token-a": 1, "rep-token-b": 1})
	requireCounts(t, "pokes at 0", pushTo(b.srv, "sync_poke"), map[string]int{"rep-token-a": 1, "rep-token-b": 1})
	requireCounts(t, "SMS at 0", twilioTo(b.srv, "sms"), map[string]int{b.rep.Phone: 1})
	first := b.srv.FCM()[0].Message
	if first.Notification.Title != "New lead: Pat Lee" || !strings.Contains(first.Notification.Body, "+12485550177") ||
		first.Data["lead_id"] != lead.ID || first.Data["level"] != "0" {
		t.Errorf("rep alert = %+v", first)
	}

	b.at(2*time.Minute - time.Second)
	if n := len(b.runner.ran()); n != 1 {
		t.Fatalf("tasks run before 2 min = %d, want 1", n)
	}
	b.at(2 * time.Minute)
	requireCounts(t, "alerts at 2", pushTo(b.srv, "lead_alert"), map[string]int{"rep-token-a": 1, "rep-token-b": 1, "manager-token": 1})
	requireCounts(t, "SMS at 2", twilioTo(b.srv, "sms"), map[string]int{b.rep.Phone: 1, b.manager.Phone: 1})
	sms := b.srv.Twilio()[1]
	if !strings.HasPrefix(sms.Body, "Unanswered lead (2 min): Pat Lee") || sms.From != "+12485550199" {
		t.Errorf("manager SMS = %+v", sms)
	}

	b.at(4*time.Minute - time.Millisecond)
	requireCounts(t, "SMS before 4", twilioTo(b.srv, "sms"), map[string]int{b.rep.Phone: 1, b.manager.Phone: 1})
	b.at(4 * time.Minute)
	requireCounts(t, "SMS at 4", twilioTo(b.srv, "sms"), map[string]int{b.rep.Phone: 1, b.manager.Phone: 1, b.ops.Phone: 1})
	if len(b.smtp.Mail()) != 0 || len(twilioTo(b.srv, "call")) != 0 {
		t.Errorf("email or call before the owner's level")
	}

	b.at(6 * time.Minute)
	requireCounts(t, "SMS at 6", twilioTo(b.srv, "sms"),
		map[string]int{b.rep.Phone: 1, b.manager.Phone: 1, b.ops.Phone: 1, b.owner.Phone: 1})
	requireCounts(t, "calls at 6", twilioTo(b.srv, "call"), map[string]int{b.owner.Phone: 1})
	mail := b.smtp.Mail()
	if len(mail) != 1 || mail[0].To[0] != b.owner.Email || !strings.Contains(mail[0].Data, "Unanswered lead (6 min): Pat Lee") {
		t.Errorf("owner email = %+v", mail)
	}
	want := []string{"alert:" + lead.ID, "escalate:" + lead.ID + ":1", "escalate:" + lead.ID + ":2", "escalate:" + lead.ID + ":3"}
	if got := b.runner.ran(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("task ids = %v, want %v", got, want)
	}
	alerts, err := b.store.LeadAlerts(b.ctx, b.org.ID, lead.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, a := range alerts {
		got[a.Level] = a.RecipientID
		if a.Level > 0 && (a.EscalatedAt == nil || !a.EscalatedAt.Equal(t0.Add(time.Duration(a.Level)*2*time.Minute))) {
			t.Errorf("level %d escalated at %v", a.Level, a.EscalatedAt)
		}
	}
	if len(alerts) != 4 || got[0] != b.rep.ID || got[1] != b.manager.ID || got[2] != b.ops.ID || got[3] != b.owner.ID {
		t.Errorf("alert rows = %v", got)
	}

	// Running every level again (a duplicated task) sends nothing more.
	before := len(b.srv.FCM()) + len(b.srv.Twilio())
	for level := 0; level <= domain.MaxAlertLevel; level++ {
		out, err := b.h.RunOutcome(b.ctx, domain.AlertLevelTask{OrgID: b.org.ID, LeadID: lead.ID, Level: level})
		if err != nil || out.Delivered != 0 {
			t.Errorf("rerun level %d: %+v, %v", level, out, err)
		}
	}
	if after := len(b.srv.FCM()) + len(b.srv.Twilio()); after != before || len(b.smtp.Mail()) != 1 {
		t.Errorf("a rerun sent %d more messages", after-before)
	}
}

// Acknowledged at 3 minutes: the manager's level went out at 2, and
// nothing at 4 or 6.
func TestAcknowledgementStopsTheChain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	lead := b.newLead()
	b.at(0)
	b.at(2 * time.Minute)
	b.clock.Set(t0.Add(3 * time.Minute))
	alerts, _ := b.store.LeadAlerts(b.ctx, b.org.ID, lead.ID)
	var mine *domain.Alert
	for _, a := range alerts {
		if a.RecipientID == b.manager.ID {
			mine = a
		}
	}
	if mine == nil {
		t.Fatal("no alert for the manager")
	}
	err := b.store.Write(b.ctx, sqltest.As(b.manager), func(tx domain.Tx) error {
		now := tx.Now()
		mine.AcknowledgedAt, mine.AcknowledgedBy = &now, b.manager.ID
		return tx.Update(mine)
	})
	if err != nil {
		t.Fatal(err)
	}
	sent := len(b.srv.FCM()) + len(b.srv.Twilio())
	b.at(4 * time.Minute)
	b.at(6 * time.Minute)
	if n := len(b.runner.ran()); n != 4 {
		t.Errorf("tasks run = %d, want all 4 (the late ones doing nothing)", n)
	}
	if after := len(b.srv.FCM()) + len(b.srv.Twilio()); after != sent || len(b.smtp.Mail()) != 0 {
		t.Errorf("%d messages after the acknowledgement", after-sent)
	}
	out, err := b.h.RunOutcome(b.ctx, domain.AlertLevelTask{OrgID: b.org.ID, LeadID: lead.ID, Level: 2})
	if err != nil || !out.Stopped {
		t.Errorf("level 2 after ack: %+v, %v; want stopped", out, err)
	}
}

// A 500 half-way fails the task; the retry sends only what was not sent.
// A 429 hands its Retry-After to asynq's retry delay.
func TestRetryAfterFailureSendsNothingTwice(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Deliveries go alert a, alert b, poke a, poke b, SMS: the first fails.
	lead2 := b.newLead(func(l *domain.Lead) { l.FirstName = "Sam" })
	task2 := domain.AlertLevelTask{OrgID: b.org.ID, LeadID: lead2.ID, Level: 0}
	b.srv.FailFCM(pushtest.Failure{Status: 500})
	out, err := b.h.RunOutcome(b.ctx, task2)
	var tmp *push.TemporaryError
	if !errors.As(err, &tmp) || tmp.Status != 500 {
		t.Fatalf("first attempt: %v, want a temporary 500", err)
	}
	if out.Delivered != 4 {
		t.Errorf("first attempt delivered %d, want 4 of 5", out.Delivered)
	}
	b.srv.FailFCM(pushtest.Failure{Status: 429, RetryAfter: "9"})
	out, err = b.h.RunOutcome(b.ctx, task2)
	if d := alerting.RetryDelay(1, err, asynq.NewTask(domain.TaskAlertLevel, nil)); d != 9*time.Second || out.Skipped != 4 {
		t.Errorf("second attempt: retry delay %s (%v), %+v; want 9s and 4 skipped", d, err, out)
	}
	out, err = b.h.RunOutcome(b.ctx, task2)
	if err != nil || out.Delivered != 1 || out.Skipped != 4 {
		t.Fatalf("third attempt: %+v, %v; want the one missing delivery", out, err)
	}
	out, err = b.h.RunOutcome(b.ctx, task2)
	if err != nil || out.Delivered != 0 || out.Skipped != 5 {
		t.Fatalf("fourth attempt: %+v, %v; want everything skipped", out, err)
	}
	requireCounts(t, "alerts", pushTo(b.srv, "lead_alert"), map[string]int{"rep-token-a": 1, "rep-token-b": 1})
	requireCounts(t, "pokes", pushTo(b.srv, "sync_poke"), map[string]int{"rep-token-a": 1, "rep-token-b": 1})
	requireCounts(t, "SMS", twilioTo(b.srv, "sms"), map[string]int{b.rep.Phone: 1})
	if d := alerting.RetryDelay(3, errors.New("x"), asynq.NewTask(domain.TaskAlertLevel, nil)); d != 8*time.Second {
		t.Errorf("backoff without Retry-After = %s, want 8s", d)
	}
}

// FCM says a token is unregistered: the device's token is pruned, the
// failure recorded, the rest delivered, and the task not retried.
func TestUnregisteredTokenIsPruned(t *testing.T) {
	t.Parallel()
	b := setup(t)
	lead := b.newLead()
	b.srv.Unregister("rep-token-a")
	out, err := b.h.RunOutcome(b.ctx, domain.AlertLevelTask{OrgID: b.org.ID, LeadID: lead.ID, Level: 0})
	if err != nil {
		t.Fatalf("run: %v (a dead token must not fail the task)", err)
	}
	if out.Failed != 1 || out.Delivered != 3 {
		t.Errorf("outcome %+v, want 1 failed (alert a; poke a skipped after pruning) and 3 delivered", out)
	}
	rec, err := b.store.FindRecord(b.ctx, b.org.ID, domain.KindDevice, b.repDevs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if tok := rec.(*domain.Device).PushToken; tok != "" {
		t.Errorf("token after UNREGISTERED = %q, want pruned", tok)
	}
	devs, _ := b.store.PushDevices(b.ctx, b.org.ID, b.rep.ID)
	if len(devs) != 1 || devs[0].PushToken != "rep-token-b" {
		t.Errorf("push devices after pruning = %v", devs)
	}
	failed, _ := b.store.ListNotifications(b.ctx, domain.NotificationFilter{OrgID: b.org.ID, Status: domain.NotificationFailed})
	if len(failed) != 1 || failed[0].Channel != "push" || failed[0].UserID != b.rep.ID {
		t.Errorf("failed notifications = %+v", failed)
	}
}

// With nothing configured every channel is Local: nothing leaves the
// process and each message is in the notifications as "outbox".
func TestLocalOutbox(t *testing.T) {
	t.Parallel()
	b := setup(t)
	h := alerting.New(alerting.Deps{Store: b.store, Senders: push.LocalSenders(), Clock: b.clock})
	lead := b.newLead()
	for level := 0; level <= domain.MaxAlertLevel; level++ {
		if err := h.Run(b.ctx, domain.AlertLevelTask{OrgID: b.org.ID, LeadID: lead.ID, Level: level}); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.srv.FCM())+len(b.srv.Twilio())+len(b.smtp.Mail()) != 0 {
		t.Fatal("a local sender reached a provider")
	}
	ns, err := b.store.ListNotifications(b.ctx, domain.NotificationFilter{OrgID: b.org.ID})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, n := range ns {
		if n.Status != domain.NotificationOutbox || n.RefID != lead.ID {
			t.Errorf("notification %+v", n)
		}
		count[n.Channel]++
	}
	// rep: 2 devices × (push, poke) + SMS; manager: 1 device × 2 + SMS;
	// ops: SMS; owner: SMS + email + voice.
	requireCounts(t, "outbox by channel", count, map[string]int{"push": 3, "poke": 3, "sms": 4, "email": 1, "voice": 1})
}

// An unassigned lead is routed before its first alert, and the rule is
// recorded on it.
func TestUnassignedLeadIsRoutedFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	lead := b.newLead(func(l *domain.Lead) { l.AssignedTo = "" })
	b.at(0)
	rec, err := b.store.FindRecord(b.ctx, b.org.ID, domain.KindLead, lead.ID)
	if err != nil {
		t.Fatal(err)
	}
	l := rec.(*domain.Lead)
	if l.AssignedTo == "" || l.RoutingRule == "" {
		t.Fatalf("lead after level 0: assigned %q rule %q", l.AssignedTo, l.RoutingRule)
	}
	if n := len(twilioTo(b.srv, "sms")); n != 1 {
		t.Errorf("SMS recipients = %d, want the one routed rep", n)
	}
}
