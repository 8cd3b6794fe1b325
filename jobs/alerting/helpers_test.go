package alerting_test

import (
	"context"
	"log/slog"
	gosync "sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs"
	"github.com/iswitchroofs/fieldsync/jobs/alerting"
	"github.com/iswitchroofs/fieldsync/push"
	"github.com/iswitchroofs/fieldsync/push/pushtest"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

// clock is a settable test clock.
type clock struct {
	mu gosync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// t0 is when test leads are created: a Tuesday mid-morning.
var t0 = time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)

// bundle is one test's world: a store on a fresh database, an organization
// with a full escalation chain, the providers' local endpoints and the
// senders that talk to them through the real SDKs.
type bundle struct {
	t       *testing.T
	ctx     context.Context
	clock   *clock
	store   *sqlstore.Store
	org     *domain.Organization
	rep     *domain.User
	manager *domain.User
	ops     *domain.User
	owner   *domain.User
	repDevs []*domain.Device
	mgrDev  *domain.Device
	srv     *pushtest.Server
	smtp    *pushtest.SMTPServer
	h       *alerting.Handler
	relay   *jobs.Relay
	runner  *runner
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: t0}
	st := sqltest.Postgres(t, sqltest.WithClock(clk))
	org := sqltest.Org(t, st)
	b := &bundle{t: t, ctx: ctx, clock: clk, store: st, org: org}
	b.rep = sqltest.User(t, st, org, domain.RoleSales, func(u *domain.User) { u.Phone = "+12485550111"; u.Name = "Rita Rep" })
	b.manager = sqltest.User(t, st, org, domain.RoleManager, func(u *domain.User) {
		u.Phone, u.EscalationTier = "+12485550122", domain.TierManager
	})
	b.ops = sqltest.User(t, st, org, domain.RoleManager, func(u *domain.User) {
		u.Phone, u.EscalationTier = "+12485550133", domain.TierOperations
	})
	b.owner = sqltest.User(t, st, org, domain.RoleAdmin, func(u *domain.User) {
		u.Phone, u.EscalationTier = "+12485550144", domain.TierOwner
	})
	// A sales rep outside the chain: never alerted for another rep's lead.
	sqltest.User(t, st, org, domain.RoleSales, func(u *domain.User) { u.Phone = "+12485550155" })
	for i, p := range []domain.Platform{domain.PlatformIOS, domain.PlatformAndroid} {
		b.repDevs = append(b.repDevs, b.device(b.rep, p, "rep-token-"+string(rune('a'+i))))
	}
	b.mgrDev = b.device(b.manager, domain.PlatformIOS, "manager-token")

	b.srv = pushtest.NewServer()
	t.Cleanup(b.srv.Close)
	smtpSrv, err := pushtest.NewSMTPServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = smtpSrv.Close() })
	b.smtp = smtpSrv
	b.h = alerting.New(alerting.Deps{Store: st, Senders: b.senders(), Clock: clk})
	b.runner = &runner{h: b.h}
	b.relay = &jobs.Relay{Outbox: st, Queue: b.runner, Clock: clk, Log: slog.New(slog.DiscardHandler)}
	return b
}

func (b *bundle) senders() push.Senders {
	b.t.Helper()
	fcm, err := push.NewFCM(b.ctx, push.FCMConfig{CredentialsJSON: b.srv.ServiceAccountJSON("alerts-test"), Endpoint: b.srv.FCMEndpoint()})
	if err != nil {
		b.t.Fatal(err)
	}
	tw, err := push.NewTwilio(push.TwilioConfig{AccountSID: "AC42", AuthToken: "token42", From: "+12485550199", BaseURL: b.srv.TwilioBaseURL()})
	if err != nil {
		b.t.Fatal(err)
	}
	host, port := b.smtp.Addr()
	mail, err := push.NewSMTP(push.SMTPConfig{Host: host, Port: port, From: "alerts@fieldsync.test"})
	if err != nil {
		b.t.Fatal(err)
	}
	return push.Senders{Push: fcm, SMS: tw, Voice: tw, Email: mail}
}

func (b *bundle) device(u *domain.User, p domain.Platform, token string) *domain.Device {
	b.t.Helper()
	return sqltest.Create(b.t, b.store, sqltest.As(u), &domain.Device{UserID: u.ID, Platform: p, PushToken: token, AppVersion: "1.0.0"})
}

// newLead creates a lead assigned to the rep the way intake does: the lead
// and its alert chain's outbox rows in one transaction.
func (b *bundle) newLead(opts ...func(*domain.Lead)) *domain.Lead {
	b.t.Helper()
	l := &domain.Lead{Source: "web_form", FirstName: "Pat", LastName: "Lee", Phone: "+12485550177", City: "Troy",
		State: "MI", Zip: "48084", Status: domain.LeadNew, AssignedTo: b.rep.ID}
	for _, o := range opts {
		o(l)
	}
	err := b.store.Write(b.ctx, sqltest.System(b.org), func(tx domain.Tx) error {
		if err := tx.Create(l); err != nil {
			return err
		}
		for _, m := range domain.LeadAlertMessages(l) {
			if err := tx.Enqueue(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return l
}

// at moves the clock and runs the relay once: every due level runs.
func (b *bundle) at(d time.Duration) {
	b.t.Helper()
	b.clock.Set(t0.Add(d))
	if _, err := b.relay.RelayOnce(b.ctx); err != nil {
		b.t.Fatalf("relay at +%s: %v", d, err)
	}
}

// runner is the relay's queue in these tests: it runs each task at once
// with the handler (asynq's own delay is not what is under test) and
// refuses a task id it has seen, as asynq does.
type runner struct {
	h    *alerting.Handler
	mu   gosync.Mutex
	seen map[string]bool
	ids  []string
	errs []error
}

func (r *runner) EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	id := ""
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			id = o.Value().(string)
		}
	}
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if r.seen[id] {
		r.mu.Unlock()
		return nil, asynq.ErrTaskIDConflict
	}
	r.seen[id] = true
	r.ids = append(r.ids, id)
	r.mu.Unlock()
	err := r.h.ProcessTask(ctx, t)
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	return &asynq.TaskInfo{ID: id}, nil
}

func (r *runner) ran() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// pushTo counts FCM alerts (not pokes) per token.
func pushTo(srv *pushtest.Server, kind string) map[string]int {
	out := map[string]int{}
	for _, r := range srv.FCM() {
		if r.Message.Data["kind"] == kind {
			out[r.Message.Token]++
		}
	}
	return out
}

// twilioTo counts SMS or calls per number.
func twilioTo(srv *pushtest.Server, kind string) map[string]int {
	out := map[string]int{}
	for _, r := range srv.Twilio() {
		if r.Kind == kind {
			out[r.To]++
		}
	}
	return out
}
