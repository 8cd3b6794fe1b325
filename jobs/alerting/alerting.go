// Package alerting runs the 2-minute response chain of new leads: the rep's
// alert the moment the lead commits, then the manager, operations and the
// owner two minutes apart, timed from the lead's creation.
//
// Each level is one asynq task of kind domain.TaskAlertLevel. The lead's
// transaction writes all four as outbox rows (domain.LeadAlertMessages)
// whose ids are the task ids ("alert:<lead>", "escalate:<lead>:<level>")
// and whose availability is the level's due time, so the chain survives a
// crash or a Redis outage and a level is never queued twice. A task that
// finds the chain stopped (an alert acknowledged, the lead worked or
// deleted) does nothing. Every delivery (one recipient, one channel, one
// device or number) is recorded as a notification with an id derived from
// those, before the task ends; a retried task skips what was delivered, so
// a provider failure half-way resends nothing that already went out.
package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	gosync "sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/push"
)

// Store is what alerting needs from the database.
type Store interface {
	domain.Writer
	domain.AlertStore
	FindRecord(ctx context.Context, orgID string, kind domain.EntityKind, id string) (domain.Record, error)
	FindOrganization(ctx context.Context, id string) (*domain.Organization, error)
}

// Deps are the alerting handler's parts.
type Deps struct {
	Store   Store
	Senders push.Senders
	Clock   domain.Clock
	Log     *slog.Logger
}

// Handler alerts one level of a lead's chain.
type Handler struct {
	d Deps
}

// New builds the handler.
func New(d Deps) *Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Clock == nil {
		d.Clock = domain.ClockFunc(time.Now)
	}
	return &Handler{d: d}
}

// Register adds the alerting task kinds to mux.
func Register(mux *asynq.ServeMux, d Deps) *Handler {
	h := New(d)
	mux.Handle(domain.TaskAlertLevel, h)
	return h
}

// ProcessTask implements asynq.Handler.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var task domain.AlertLevelTask
	if err := json.Unmarshal(t.Payload(), &task); err != nil || task.OrgID == "" || task.LeadID == "" {
		return fmt.Errorf("alerting: bad payload: %w", errors.Join(err, asynq.SkipRetry))
	}
	return h.Run(ctx, task)
}

// RetryDelay is asynq's retry delay for the whole server: an alert task
// waits what the provider asked for (Retry-After), else 1, 2, 4 … up to
// 30 seconds, because a lead alert that waits asynq's default minutes has
// missed its point. Other task kinds keep asynq's default.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if t != nil && t.Type() != domain.TaskAlertLevel {
		return asynq.DefaultRetryDelayFunc(n, err, t)
	}
	if d, ok := push.RetryAfter(err); ok {
		return d
	}
	d := time.Second << min(n, 5)
	return min(d, 30*time.Second)
}

// Outcome summarises one run, for tests and logs.
type Outcome struct {
	Stopped   bool // the chain was already stopped: nothing sent
	Delivered int  // deliveries made by this run
	Skipped   int  // deliveries an earlier run already made
	Failed    int  // deliveries that failed for good
}

// Run alerts task's level. It returns an error worth retrying (a provider
// or database failure); deliveries made before it stay made.
func (h *Handler) Run(ctx context.Context, task domain.AlertLevelTask) error {
	_, err := h.RunOutcome(ctx, task)
	return err
}

// RunOutcome is Run that also reports what it did.
func (h *Handler) RunOutcome(ctx context.Context, task domain.AlertLevelTask) (Outcome, error) {
	var out Outcome
	st := h.d.Store
	sys := domain.Principal{OrgID: task.OrgID, Role: domain.RoleAdmin}
	rec, err := st.FindRecord(ctx, task.OrgID, domain.KindLead, task.LeadID)
	if domain.IsCode(err, domain.CodeNotFound) {
		out.Stopped = true
		return out, nil
	}
	if err != nil {
		return out, err
	}
	lead := rec.(*domain.Lead)
	alerts, err := st.LeadAlerts(ctx, task.OrgID, task.LeadID)
	if err != nil {
		return out, err
	}
	if domain.ChainStopped(lead, alerts) {
		out.Stopped = true
		return out, nil
	}
	if task.Level == domain.LevelRep && lead.AssignedTo == "" && lead.RoutingRule == "" {
		if lead, err = h.route(ctx, sys, lead); err != nil {
			return out, err
		}
	}
	team, err := st.TeamMembers(ctx, task.OrgID)
	if err != nil {
		return out, err
	}
	recipients := domain.EscalationRecipients(task.Level, lead.AssignedTo, team)
	now := h.d.Clock.Now()
	if err := h.recordAlerts(ctx, sys, lead, task.Level, recipients, now); err != nil {
		return out, err
	}
	msg := compose(lead, task.Level)
	var retry error
	var lanes [][]job
	for _, u := range recipients {
		ds, err := h.deliveries(ctx, u, task.Level)
		if err != nil && retry == nil {
			retry = err
		}
		lanes = append(lanes, laneOf(u, ds)...)
	}
	outcomes := h.sendAll(ctx, lead, task.Level, lanes, msg)
	var record []outcome
	for _, o := range outcomes {
		switch {
		case o.err != nil:
			if retry == nil {
				retry = o.err
			}
		case o.res == resultSkipped:
			out.Skipped++
		default:
			record = append(record, o)
		}
	}
	recorded, err := h.record(ctx, sys, record)
	if err != nil {
		return out, err
	}
	for _, o := range recorded {
		if o.res == resultFailed {
			out.Failed++
		} else {
			out.Delivered++
		}
	}
	out.Skipped += len(record) - len(recorded)
	return out, retry
}

// route assigns an unassigned lead (a manager's, or a device's without an
// assignee) before its first alert, and records the rule.
func (h *Handler) route(ctx context.Context, sys domain.Principal, lead *domain.Lead) (*domain.Lead, error) {
	st := h.d.Store
	cands, err := st.RouteCandidates(ctx, lead.OrgID)
	if err != nil {
		return nil, err
	}
	loc := time.UTC
	if org, err := st.FindOrganization(ctx, lead.OrgID); err == nil && org.TimeZone != "" {
		if l, err := time.LoadLocation(org.TimeZone); err == nil {
			loc = l
		}
	}
	dec := domain.Route(domain.RouteRequest{Lead: lead, Now: h.d.Clock.Now(), Location: loc}, cands)
	var routed *domain.Lead
	err = st.Write(ctx, sys, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindLead, lead.ID)
		if err != nil {
			return err
		}
		l := rec.(*domain.Lead)
		if l.AssignedTo == "" && l.RoutingRule == "" {
			l.AssignedTo, l.RoutingRule, l.WhiteGlove = dec.UserID, dec.Rule, l.WhiteGlove || dec.WhiteGlove
			if err := tx.Update(l); err != nil {
				return err
			}
		}
		routed = l
		return nil
	})
	return routed, err
}

// recordAlerts creates the level's alert rows (one per recipient, with
// stable ids, so a retry creates none twice).
func (h *Handler) recordAlerts(ctx context.Context, sys domain.Principal, lead *domain.Lead, level int, users []*domain.User, now time.Time) error {
	if len(users) == 0 {
		return nil
	}
	return h.d.Store.Write(ctx, sys, func(tx domain.Tx) error {
		for _, u := range users {
			id := domain.StableID("alert", lead.ID, fmt.Sprint(level), u.ID)
			if _, err := tx.Find(domain.KindAlert, id); err == nil {
				continue
			} else if !domain.IsCode(err, domain.CodeNotFound) {
				return err
			}
			a := &domain.Alert{LeadID: lead.ID, RecipientID: u.ID, Level: level}
			a.ID = id
			if level > domain.LevelRep {
				at := now
				a.EscalatedAt = &at
			}
			if err := tx.Create(a); err != nil {
				return err
			}
		}
		return nil
	})
}

// delivery is one message to send: a channel and its target (a device, a
// phone number, an address).
type delivery struct {
	channel domain.Channel
	target  string // device id, phone or email
	device  *domain.Device
}

func (h *Handler) deliveries(ctx context.Context, u *domain.User, level int) ([]delivery, error) {
	var out []delivery
	var devices []*domain.Device
	loaded := false
	for _, ch := range domain.ChannelsForLevel(level) {
		switch ch {
		case domain.ChannelPush, domain.ChannelPoke:
			if !loaded {
				var err error
				devices, err = h.d.Store.PushDevices(ctx, u.OrgID, u.ID)
				if err != nil {
					return nil, err
				}
				loaded = true
			}
			for _, d := range devices {
				out = append(out, delivery{channel: ch, target: d.ID, device: d})
			}
		case domain.ChannelSMS, domain.ChannelVoice:
			if u.Phone != "" {
				out = append(out, delivery{channel: ch, target: u.Phone})
			}
		case domain.ChannelEmail:
			if u.Email != "" {
				out = append(out, delivery{channel: ch, target: u.Email})
			}
		}
	}
	return out, nil
}

type result int

const (
	resultDelivered result = iota + 1
	resultSkipped
	resultFailed
)

// job is one delivery to one user.
type job struct {
	user *domain.User
	d    delivery
}

// laneOf groups a user's deliveries into lanes that run one after another
// within and in parallel across: a device's alert then its poke (so a
// token found dead on the first is not tried again), each number, each
// address.
func laneOf(u *domain.User, ds []delivery) [][]job {
	byTarget := map[string]int{}
	var lanes [][]job
	for _, d := range ds {
		key := d.target
		if d.channel == domain.ChannelVoice {
			key = "voice:" + key
		}
		i, ok := byTarget[key]
		if !ok {
			i = len(lanes)
			byTarget[key] = i
			lanes = append(lanes, nil)
		}
		lanes[i] = append(lanes[i], job{user: u, d: d})
	}
	return lanes
}

// outcome is what became of one delivery: res, and the notification that
// records it (nil when skipped), or err to retry.
type outcome struct {
	res   result
	n     *domain.Notification
	prune *domain.Device // a device whose token the provider declared dead
	err   error
}

// sendAll runs the lanes concurrently: a level's push, SMS, call and
// email go out together rather than one provider round trip after another.
func (h *Handler) sendAll(ctx context.Context, lead *domain.Lead, level int, lanes [][]job, msg composed) []outcome {
	results := make([][]outcome, len(lanes))
	var wg gosync.WaitGroup
	for i, lane := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, j := range lane {
				results[i] = append(results[i], h.send(ctx, lead, level, j.user, j.d, msg))
			}
		}()
	}
	wg.Wait()
	var out []outcome
	for _, r := range results {
		out = append(out, r...)
	}
	return out
}

// send delivers one message unless an earlier run did.
func (h *Handler) send(ctx context.Context, lead *domain.Lead, level int, u *domain.User, d delivery, msg composed) outcome {
	if d.device != nil && d.device.PushToken == "" {
		return outcome{res: resultSkipped} // pruned earlier in this lane
	}
	id := domain.StableID("notify", lead.ID, fmt.Sprint(level), u.ID, string(d.channel), d.target)
	if _, err := h.d.Store.FindRecord(ctx, lead.OrgID, domain.KindNotification, id); err == nil {
		return outcome{res: resultSkipped}
	} else if !domain.IsCode(err, domain.CodeNotFound) {
		return outcome{err: err}
	}
	s := h.d.Senders
	var sender any
	var err error
	switch d.channel {
	case domain.ChannelPush:
		sender = s.Push
		_, err = s.Push.Alert(ctx, push.Device{Token: d.device.PushToken, Platform: d.device.Platform}, msg.push)
	case domain.ChannelPoke:
		sender = s.Push
		_, err = s.Push.Poke(ctx, push.Device{Token: d.device.PushToken, Platform: d.device.Platform}, msg.push)
	case domain.ChannelSMS:
		sender = s.SMS
		_, err = s.SMS.SMS(ctx, d.target, msg.sms)
	case domain.ChannelVoice:
		sender = s.Voice
		_, err = s.Voice.Call(ctx, d.target, msg.voice)
	case domain.ChannelEmail:
		sender = s.Email
		_, err = s.Email.Email(ctx, d.target, msg.push.Title, msg.email)
	}
	n := &domain.Notification{
		UserID: u.ID, Channel: string(d.channel), Kind: "lead_alert", Title: msg.push.Title, Body: msg.bodyFor(d.channel),
		RefKind: string(domain.KindLead), RefID: lead.ID,
	}
	n.ID = id
	now := h.d.Clock.Now()
	o := outcome{res: resultDelivered, n: n}
	switch {
	case err == nil:
		n.Status, n.SentAt = domain.NotificationSent, &now
		if push.IsLocal(sender) {
			n.Status = domain.NotificationOutbox
		}
	case push.IsPermanent(err):
		o.res = resultFailed
		n.Status, n.ErrorMsg = domain.NotificationFailed, errorText(err)
		h.d.Log.WarnContext(ctx, "alert delivery failed for good", slog.String("channel", string(d.channel)),
			slog.String("user_id", u.ID), slog.String("lead_id", lead.ID), slog.String("error", errorText(err)))
		if errors.Is(err, push.ErrTokenInvalid) && d.device != nil {
			dead := *d.device
			o.prune = &dead
			d.device.PushToken = "" // the device's other messages this lane are moot
		}
	default:
		return outcome{err: fmt.Errorf("alerting: %s to user %s: %w", d.channel, u.ID, err)}
	}
	return o
}

// record stores the run's deliveries in one transaction (one organization
// lock instead of one per message) and prunes dead tokens. A delivery a
// concurrent run recorded first is left out of the answer. The window in
// which a crash can repeat a message on retry is from a send to this
// commit: the messages of one level, a second at most.
func (h *Handler) record(ctx context.Context, sys domain.Principal, os []outcome) ([]outcome, error) {
	if len(os) == 0 {
		return nil, nil
	}
	var kept []outcome
	err := h.d.Store.Write(ctx, sys, func(tx domain.Tx) error {
		kept = kept[:0]
		for _, o := range os {
			if o.prune != nil {
				// The provider says the token is dead: forget it, so no
				// later alert tries it until the app registers anew.
				if rec, err := tx.Find(domain.KindDevice, o.prune.ID); err == nil {
					dev := rec.(*domain.Device)
					if dev.PushToken == o.prune.PushToken {
						dev.PushToken = ""
						if err := tx.Update(dev); err != nil {
							return err
						}
					}
				}
			}
			if _, err := tx.Find(domain.KindNotification, o.n.ID); err == nil {
				continue
			} else if !domain.IsCode(err, domain.CodeNotFound) {
				return err
			}
			if err := tx.Create(o.n); err != nil {
				return err
			}
			kept = append(kept, o)
		}
		return nil
	})
	return kept, err
}

// errorText keeps a provider error short and free of the message content.
func errorText(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

type composed struct {
	push  push.Message
	sms   string
	voice string
	email string
}

func (c composed) bodyFor(ch domain.Channel) string {
	switch ch {
	case domain.ChannelSMS:
		return c.sms
	case domain.ChannelVoice:
		return c.voice
	case domain.ChannelEmail:
		return c.email
	}
	return c.push.Body
}

// compose writes the alert's text for every channel: who the lead is, how
// hot, how to reach them, and how long it has waited.
func compose(l *domain.Lead, level int) composed {
	name := strings.TrimSpace(l.FirstName + " " + l.LastName)
	if name == "" {
		name = "A new lead"
	}
	title := "New lead: " + name
	wait := ""
	if level > domain.LevelRep {
		mins := int(domain.EscalationStep.Minutes()) * level
		title = fmt.Sprintf("Unanswered lead (%d min): %s", mins, name)
		wait = fmt.Sprintf(" No one has answered for %d minutes.", mins)
	}
	where := strings.TrimSpace(strings.Trim(l.City+", "+l.State, ", "))
	reach := l.Phone
	if reach == "" {
		reach = l.Email
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s lead, score %d", titleCase(string(l.Temperature)), l.Score)
	if l.WhiteGlove {
		b.WriteString(", white-glove")
	}
	if where != "" {
		b.WriteString(", " + where)
	}
	if reach != "" {
		b.WriteString(". Reach them at " + reach)
	}
	b.WriteString(".")
	body := b.String()
	return composed{
		push:  push.Message{LeadID: l.ID, Level: level, Title: title, Body: body},
		sms:   title + ". " + body + wait + " Open fieldsync to acknowledge.",
		voice: "fieldsync alert. " + title + "." + wait + " " + body + " Please call them now.",
		email: title + "\n\n" + body + wait + "\n\nOpen the lead in fieldsync and acknowledge the alert to stop the escalation.\nLead id: " + l.ID + "\n",
	}
}

func titleCase(s string) string {
	if s == "" {
		return "Unscored"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
