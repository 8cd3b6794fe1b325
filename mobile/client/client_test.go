package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile"
	"github.com/iswitchroofs/fieldsync/mobile/client"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

var ctx = context.Background()

// backOffice changes a lead through the store's write path, as the office
// does while phones are offline.
func (e *env) backOffice(t *testing.T, id string, fn func(l *domain.Lead)) {
	t.Helper()
	err := e.store.Write(ctx, e.sys, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindLead, id)
		if err != nil {
			return err
		}
		l := rec.(*domain.Lead)
		fn(l)
		return tx.Update(l)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func update(id string, base int64, fields map[string]any) map[string]any {
	return map[string]any{"id": id, "base_version": base, "fields": fields}
}

// outcomes records the callbacks of a device.
type outcomes struct {
	mu                    gosync.Mutex
	conflicts, rejections []fsync.Outcome
}

func (o *outcomes) tune(cfg *client.Config) {
	cfg.OnConflict = func(x fsync.Outcome) { o.mu.Lock(); o.conflicts = append(o.conflicts, x); o.mu.Unlock() }
	cfg.OnRejection = func(x fsync.Outcome) { o.mu.Lock(); o.rejections = append(o.rejections, x); o.mu.Unlock() }
}

// A phone edits offline, the app is killed, the edits survive the restart
// with their ids; the first push is processed but its answer is lost and
// the app restarts again before it hears back: the replay applies nothing
// twice, new mutations continue the ids, and the device converges.
func TestRestartWithPendingOutbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rep := e.user(t, domain.RoleSales)
	lead := sqltest.Lead(t, e.store, e.sys, func(l *domain.Lead) { l.AssignedTo = rep.ID })
	var oc outcomes
	d := e.device(t, rep, oc.tune, func(c *client.Config) { c.MaxAttempts = 3 })
	d.mustSync(t)

	d.net.offline.Store(true)
	newLead, call := client.NewID(), client.NewID()
	d.mutate(t, "lead.update", update(lead.ID, lead.Version, map[string]any{"notes": "gate code 4411"}))
	d.mutate(t, "lead.create", map[string]any{"id": newLead, "first_name": "Ana", "phone": "+15125550100"})
	d.mutate(t, "interaction.log", map[string]any{"id": call, "lead_id": lead.ID, "kind": "call", "occurred_at": "2026-11-21T15:04:05Z"})
	if got := field(t, d, domain.KindLead, lead.ID, "notes"); got != "gate code 4411" {
		t.Fatalf("optimistic apply: notes = %q", got)
	}
	if err := d.Sync(ctx); err == nil {
		t.Fatal("sync while offline succeeded")
	}

	d.reopen(t)
	ms, err := d.Pending(ctx)
	if err != nil || len(ms) != 3 || ms[0].ID != 1 || ms[2].ID != 3 {
		t.Fatalf("outbox after restart: %v %+v", err, ms)
	}
	if got := field(t, d, domain.KindLead, newLead, "first_name"); got != "Ana" {
		t.Fatalf("the created lead is not shown after restart: %q", got)
	}

	// Online again: the push is processed, its answer lost, and the
	// phone goes offline before retrying; then it restarts.
	var pushes atomic.Int32
	d.net.offline.Store(false)
	d.net.before = func(r *http.Request) bool {
		if r.URL.Path == "/v1/sync/push" && pushes.Add(1) == 1 {
			d.net.offline.Store(true)
			return true
		}
		return false
	}
	if err := d.Sync(ctx); err == nil {
		t.Fatal("sync with the answer lost succeeded")
	}
	d.reopen(t)
	d.net.offline.Store(false)
	d.mutate(t, "lead.update", update(lead.ID, lead.Version, map[string]any{"city": "Austin"}))
	ms, _ = d.Pending(ctx)
	if ms[len(ms)-1].ID != 4 {
		t.Fatalf("ids did not continue across the restart: %+v", ms)
	}
	d.mustSync(t)

	if ms, _ := d.Pending(ctx); len(ms) != 0 {
		t.Fatalf("outbox not drained: %+v", ms)
	}
	if len(oc.rejections) != 0 {
		t.Fatalf("a replayed mutation was applied twice (rejections %+v)", oc.rejections)
	}
	rec, err := e.store.FindRecord(ctx, e.org.ID, domain.KindLead, newLead)
	if err != nil || rec.(*domain.Lead).FirstName != "Ana" {
		t.Fatalf("created lead on the server: %v %+v", err, rec)
	}
	rec, err = e.store.FindRecord(ctx, e.org.ID, domain.KindLead, lead.ID)
	if err != nil || rec.(*domain.Lead).City != "Austin" || rec.(*domain.Lead).Notes != "gate code 4411" {
		t.Fatalf("edited lead on the server: %v %+v", err, rec)
	}
	if _, err := e.store.FindRecord(ctx, e.org.ID, domain.KindInteraction, call); err != nil {
		t.Fatalf("logged call on the server: %v", err)
	}
	if st, _ := d.State(ctx); st.Acked != 4 || st.NextMutationID != 5 {
		t.Fatalf("state %+v", st)
	}
	e.requireConverged(t, d)
}

// A database restore resets the device's cursor while an edit is still
// unpushed, and the connection drops in the middle of the snapshot: the
// session resumes from the last cursor, the edit stays visible throughout
// and in the outbox, and pushes afterwards.
func TestResetKeepsPendingMutations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rep := e.user(t, domain.RoleSales)
	var leads []*domain.Lead
	for range 5 {
		leads = append(leads, sqltest.Lead(t, e.store, e.sys, func(l *domain.Lead) { l.AssignedTo = rep.ID }))
	}
	d := e.device(t, rep, func(c *client.Config) { c.PageLimit = 2 })
	d.mustSync(t)

	d.mutate(t, "lead.update", update(leads[0].ID, leads[0].Version, map[string]any{"notes": "mine"}))
	e.backOffice(t, leads[1].ID, func(l *domain.Lead) { l.Notes = "office" })
	if _, err := e.store.RotateEpoch(ctx, e.org.ID); err != nil {
		t.Fatal(err)
	}
	var pulls atomic.Int32
	d.net.before = func(r *http.Request) bool {
		return r.URL.Path == "/v1/sync/pull" && pulls.Add(1) == 2
	}
	if err := d.Pull(ctx); err != nil { // no push: the edit stays unsent
		t.Fatal(err)
	}
	if d.Stats().Resets < 1 || pulls.Load() < 4 {
		t.Fatalf("expected a paged reset session with a lost page: %+v, %d pulls", d.Stats(), pulls.Load())
	}
	if got := field(t, d, domain.KindLead, leads[0].ID, "notes"); got != "mine" {
		t.Fatalf("the pending edit disappeared over the reset: %q", got)
	}
	if got := field(t, d, domain.KindLead, leads[1].ID, "notes"); got != "office" {
		t.Fatalf("the reset missed the office's edit: %q", got)
	}
	if ms, _ := d.Pending(ctx); len(ms) != 1 {
		t.Fatalf("the reset dropped the outbox: %+v", ms)
	}
	d.mustSync(t)
	rec, err := e.store.FindRecord(ctx, e.org.ID, domain.KindLead, leads[0].ID)
	if err != nil || rec.(*domain.Lead).Notes != "mine" {
		t.Fatalf("the edit did not reach the server: %v", err)
	}
	e.requireConverged(t, d)
}

// The access token expires between the push and the pull of one sync: the
// pull gets 401 token_expired, the client refreshes (the refresh token
// rotates) and the sync completes. A session revoked on the server signs
// the device out without losing its outbox.
func TestTokenRefreshMidSync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rep := e.user(t, domain.RoleSales)
	lead := sqltest.Lead(t, e.store, e.sys, func(l *domain.Lead) { l.AssignedTo = rep.ID })
	d := e.device(t, rep)
	d.mustSync(t)

	d.mutate(t, "lead.update", update(lead.ID, lead.Version, map[string]any{"notes": "after lunch"}))
	var pulls atomic.Int32
	d.net.before = func(r *http.Request) bool {
		if r.URL.Path == "/v1/sync/pull" && pulls.Add(1) == 1 {
			e.clock.advance(16 * time.Minute) // past the 15-minute access token
		}
		return false
	}
	d.mustSync(t)
	if got := d.Stats().Refreshes; got != 1 {
		t.Fatalf("refreshes = %d, want 1", got)
	}
	e.requireConverged(t, d)

	// The office revokes the user's sessions: the next refresh is refused.
	if err := e.store.RevokeUserSessions(ctx, e.org.ID, rep.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(16 * time.Minute)
	d.mutate(t, "lead.update", update(lead.ID, lead.Version, map[string]any{"city": "Waco"}))
	err := d.Sync(ctx)
	if !errors.Is(err, client.ErrSignedOut) {
		t.Fatalf("sync after revocation: %v, want ErrSignedOut", err)
	}
	if ms, _ := d.Pending(ctx); len(ms) != 1 {
		t.Fatalf("signing out lost the outbox: %+v", ms)
	}
	if err := d.SignIn(ctx, rep.Email, password); err != nil {
		t.Fatal(err)
	}
	d.mustSync(t)
	e.requireConverged(t, d)
}

// The poke stream tells a running client to pull; when the connection
// drops (cut by the proxy) the client reconnects and pokes flow again.
func TestPokeStreamThatDrops(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rep := e.user(t, domain.RoleSales)
	lead := sqltest.Lead(t, e.store, e.sys, func(l *domain.Lead) { l.AssignedTo = rep.ID })
	proxy := e.proxy(t)
	d := e.device(t, rep, func(c *client.Config) { c.BaseURL = proxy.URL(); c.StreamIdle = 5 * time.Second })
	d.run(t)

	waitFor(t, "the stream to connect and the first sync", func() bool {
		return d.Stats().StreamConnects >= 1 && field(t, d, domain.KindLead, lead.ID, "first_name") == lead.FirstName
	})
	e.backOffice(t, lead.ID, func(l *domain.Lead) { l.Notes = "first poke" })
	waitFor(t, "the first poke's pull", func() bool { return field(t, d, domain.KindLead, lead.ID, "notes") == "first poke" })

	proxy.CutAll()
	waitFor(t, "the stream to reconnect", func() bool { return d.Stats().StreamConnects >= 2 })
	e.backOffice(t, lead.ID, func(l *domain.Lead) { l.Notes = "after the drop" })
	waitFor(t, "a poke after the reconnect", func() bool { return field(t, d, domain.KindLead, lead.ID, "notes") == "after the drop" })
}

// A stream that goes silent without closing (a half-open connection: the
// proxy swallows every byte) is noticed by its missing heartbeats and
// replaced; a healthy one is kept.
func TestSilentPokeStreamIsReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *mobile.Config) { c.Heartbeat = 100 * time.Millisecond })
	rep := e.user(t, domain.RoleSales)
	lead := sqltest.Lead(t, e.store, e.sys, func(l *domain.Lead) { l.AssignedTo = rep.ID })
	proxy := e.proxy(t)
	d := e.device(t, rep, func(c *client.Config) {
		c.BaseURL, c.StreamIdle = proxy.URL(), time.Second
		// Pooled connections go silent too: a request on one ends at
		// the request timeout and is retried on a new connection.
		c.HTTPClient.Timeout = 2 * time.Second
	})
	d.run(t)
	waitFor(t, "the stream to connect", func() bool { return d.Stats().StreamConnects >= 1 })
	time.Sleep(1500 * time.Millisecond) // longer than StreamIdle: heartbeats keep it
	connects := d.Stats().StreamConnects
	if connects != 1 {
		t.Fatalf("a healthy stream was replaced: %d connects", connects)
	}
	proxy.Blackhole()
	e.backOffice(t, lead.ID, func(l *domain.Lead) { l.Notes = "while silent" })
	waitFor(t, "the silent stream to be replaced", func() bool { return d.Stats().StreamConnects > connects })
	waitFor(t, "the change to be pulled", func() bool { return field(t, d, domain.KindLead, lead.ID, "notes") == "while silent" })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Outcomes reach the app once: an edit of a lead reassigned away is
// rejected (not_found) and disappears from the view; an edit of a field the
// office changed first is a conflict. An app the server no longer serves is
// told to upgrade and keeps its outbox.
func TestOutcomesAndUpgrade(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	repA, repB := e.user(t, domain.RoleSales), e.user(t, domain.RoleSales)
	moved := sqltest.Lead(t, e.store, e.sys, func(l *domain.Lead) { l.AssignedTo = repA.ID })
	kept := sqltest.Lead(t, e.store, e.sys, func(l *domain.Lead) { l.AssignedTo = repA.ID })
	var oc outcomes
	d := e.device(t, repA, oc.tune)
	d.mustSync(t)

	d.mutate(t, "lead.update", update(moved.ID, moved.Version, map[string]any{"notes": "mine"}))
	d.mutate(t, "lead.update", update(kept.ID, kept.Version, map[string]any{"notes": "mine too"}))
	e.backOffice(t, moved.ID, func(l *domain.Lead) { l.AssignedTo = repB.ID })
	e.backOffice(t, kept.ID, func(l *domain.Lead) { l.Notes = "office first" })
	d.mustSync(t)
	d.mustSync(t) // acknowledges the outcomes: nothing is delivered twice
	if len(oc.rejections) != 1 || oc.rejections[0].Code != "not_found" || oc.rejections[0].MutationID != 1 {
		t.Fatalf("rejections %+v", oc.rejections)
	}
	if len(oc.conflicts) != 1 || oc.conflicts[0].Code != "field_conflict" || oc.conflicts[0].MutationID != 2 {
		t.Fatalf("conflicts %+v", oc.conflicts)
	}
	if got := field(t, d, domain.KindLead, moved.ID, "notes"); got != "<absent>" {
		t.Fatalf("the reassigned lead is still shown: %q", got)
	}
	if got := field(t, d, domain.KindLead, kept.ID, "notes"); got != "office first" {
		t.Fatalf("conflict: shown %q, want the value kept", got)
	}
	e.requireConverged(t, d)

	old := e.device(t, repA, func(c *client.Config) { c.SchemaVersion = 99 })
	old.mutate(t, "lead.update", update(kept.ID, kept.Version, map[string]any{"city": "Tyler"}))
	if err := old.Sync(ctx); !errors.Is(err, client.ErrUpgradeRequired) {
		t.Fatalf("sync of an unserved schema: %v", err)
	}
	if ms, _ := old.Pending(ctx); len(ms) != 1 {
		t.Fatalf("upgrade_required lost the outbox: %+v", ms)
	}
}

// Creates the server answers with op version only (their defaults are the
// client's too, docs/sync-protocol.md) leave the device with the record the
// server stored, field by field: a photo taken by the user and pending, an
// appointment scheduled and assigned to the user, a call logged by the user.
func TestEchoedCreatesCarryTheDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mgr := e.user(t, domain.RoleManager) // who may create all three
	cust := sqltest.Customer(t, e.store, e.sys)
	project := sqltest.Project(t, e.store, e.sys, func(p *domain.Project) { p.CustomerID = cust.ID })
	var oc outcomes
	d := e.device(t, mgr, oc.tune)
	d.mustSync(t)

	photo, visit, call := client.NewID(), client.NewID(), client.NewID()
	d.mutate(t, "photo.create", map[string]any{"id": photo, "project_id": project.ID, "kind": "before",
		"taken_at": "2026-11-21T15:04:05Z", "sha256": strings.Repeat("ab", 32), "byte_size": 1234, "content_type": "image/jpeg"})
	d.mutate(t, "appointment.create", map[string]any{"id": visit, "project_id": project.ID, "kind": "inspection",
		"starts_at": "2026-11-24T15:00:00Z", "ends_at": "2026-11-24T16:00:00Z"})
	d.mutate(t, "interaction.log", map[string]any{"id": call, "project_id": project.ID, "kind": "call", "occurred_at": "2026-11-21T15:04:05Z"})
	if got := field(t, d, domain.KindPhoto, photo, "taken_by"); got != mgr.ID {
		t.Errorf("before the push, the photo is shown taken by %q", got)
	}
	d.mustSync(t)
	if len(oc.rejections) != 0 {
		t.Fatalf("rejections: %+v", oc.rejections)
	}
	e.requireConverged(t, d)
	for _, c := range []struct {
		kind      domain.EntityKind
		id, field string
		want      string
	}{
		{domain.KindPhoto, photo, "taken_by", mgr.ID},
		{domain.KindPhoto, photo, "upload_state", string(domain.UploadPending)},
		{domain.KindAppointment, visit, "status", string(domain.AppointmentScheduled)},
		{domain.KindAppointment, visit, "assigned_to", mgr.ID},
		{domain.KindInteraction, call, "user_id", mgr.ID},
	} {
		if got := field(t, d, c.kind, c.id, c.field); got != c.want {
			t.Errorf("%s.%s = %q, want %q", c.kind, c.field, got, c.want)
		}
	}
}
