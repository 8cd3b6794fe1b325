package alerting_test

import (
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

// A lead a manager's phone creates for a rep starts the same chain, and the
// rep's phone's alert.acknowledge stops it: through the real sync engine. A
// lead a rep creates for themselves starts none.
func TestDeviceLeadAndDeviceAcknowledgement(t *testing.T) {
	t.Parallel()
	b := setup(t)
	engine := fsync.New(fsync.Config{Store: b.store, Clock: b.clock})
	phone := synctest.NewDevice(t, engine, sqltest.As(b.rep))
	phone.MustPush(t, "lead.create", map[string]any{"id": synctest.NewID(), "first_name": "Own", "last_name": "Lead", "phone": "+12485550177"})
	b.at(0)
	if ran := b.runner.ran(); len(ran) != 0 {
		t.Fatalf("tasks after a rep's own lead = %v", ran)
	}

	managerPhone := synctest.NewDevice(t, engine, sqltest.As(b.manager))
	leadID := synctest.NewID()
	managerPhone.MustPush(t, "lead.create", map[string]any{"id": leadID, "first_name": "Dee", "last_name": "Vice",
		"phone": "+12485550166", "assigned_to": b.rep.ID})
	b.at(0)
	if ran := b.runner.ran(); len(ran) != 1 || ran[0] != "alert:"+leadID {
		t.Fatalf("tasks after a device's lead = %v", ran)
	}
	requireCounts(t, "rep SMS", twilioTo(b.srv, "sms"), map[string]int{b.rep.Phone: 1})
	b.at(2 * time.Minute)
	requireCounts(t, "SMS at 2", twilioTo(b.srv, "sms"), map[string]int{b.rep.Phone: 1, b.manager.Phone: 1})

	alerts, err := b.store.LeadAlerts(b.ctx, b.org.ID, leadID)
	if err != nil {
		t.Fatal(err)
	}
	var repAlert string
	for _, a := range alerts {
		if a.RecipientID == b.rep.ID {
			repAlert = a.ID
		}
	}
	b.clock.Set(t0.Add(3 * time.Minute))
	phone.MustPull(t)
	if !phone.Has(domain.KindAlert, repAlert) {
		t.Fatal("the rep's phone did not receive its alert")
	}
	phone.MustPush(t, "alert.acknowledge", map[string]any{"id": repAlert})
	before := len(b.srv.FCM()) + len(b.srv.Twilio())
	b.at(4 * time.Minute)
	b.at(6 * time.Minute)
	if after := len(b.srv.FCM()) + len(b.srv.Twilio()); after != before || len(b.smtp.Mail()) != 0 {
		t.Errorf("%d messages after the device acknowledged", after-before)
	}
}
