package sync_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
	fsync "github.com/iswitchroofs/fieldsync/sync"
	"github.com/iswitchroofs/fieldsync/sync/synctest"
)

// bundle is one test's organization: a team and an engine over a fresh
// database.
type bundle struct {
	s                                 *sqlstore.Store
	e                                 *fsync.Engine
	org                               *domain.Organization
	admin, manager, repA, repB, techT *domain.User
	asAdmin, asManager, asA, asB, asT domain.Principal
}

func setup(t *testing.T, s *sqlstore.Store) *bundle {
	t.Helper()
	b := &bundle{s: s, org: sqltest.Org(t, s)}
	var log *slog.Logger
	if os.Getenv("SYNC_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b.e = fsync.New(fsync.Config{Store: s, Log: log})
	b.admin = sqltest.User(t, s, b.org, domain.RoleAdmin)
	b.manager = sqltest.User(t, s, b.org, domain.RoleManager)
	b.repA = sqltest.User(t, s, b.org, domain.RoleSales)
	b.repB = sqltest.User(t, s, b.org, domain.RoleSales)
	b.techT = sqltest.User(t, s, b.org, domain.RoleFieldTech)
	b.asAdmin, b.asManager = sqltest.As(b.admin), sqltest.As(b.manager)
	b.asA, b.asB, b.asT = sqltest.As(b.repA), sqltest.As(b.repB), sqltest.As(b.techT)
	return b
}

// lead creates a lead assigned to owner, reachable by phone.
func (b *bundle) lead(t *testing.T, owner *domain.User, opts ...func(*domain.Lead)) *domain.Lead {
	t.Helper()
	opts = append([]func(*domain.Lead){func(l *domain.Lead) { l.AssignedTo, l.Phone = owner.ID, "248-555-0100" }}, opts...)
	// Scored like every lead the write path stores.
	opts = append(opts, func(l *domain.Lead) { l.Rescore(b.org.Settings) })
	return sqltest.Lead(t, b.s, b.asManager, opts...)
}

// tree is a lead with everything that can hang under it.
type tree struct {
	lead        *domain.Lead
	customer    *domain.Customer
	project     *domain.Project
	appointment *domain.Appointment
	interaction *domain.Interaction
	photo       *domain.Photo
}

func (tr tree) keys() []synctest.Key {
	return []synctest.Key{
		{Kind: domain.KindLead, ID: tr.lead.ID}, {Kind: domain.KindCustomer, ID: tr.customer.ID},
		{Kind: domain.KindProject, ID: tr.project.ID}, {Kind: domain.KindAppointment, ID: tr.appointment.ID},
		{Kind: domain.KindInteraction, ID: tr.interaction.ID}, {Kind: domain.KindPhoto, ID: tr.photo.ID},
	}
}

// tree builds a lead of owner with a customer, a project (of tech, if
// given), an unassigned appointment, an interaction and a photo under it.
func (b *bundle) tree(t *testing.T, owner, tech *domain.User) tree {
	t.Helper()
	var tr tree
	tr.lead = b.lead(t, owner)
	tr.customer = sqltest.Customer(t, b.s, b.asManager, func(c *domain.Customer) { c.LeadID = tr.lead.ID })
	tr.project = sqltest.Project(t, b.s, b.asManager, func(p *domain.Project) {
		p.LeadID, p.CustomerID = tr.lead.ID, tr.customer.ID
		if tech != nil {
			p.AssignedTech = tech.ID
		}
	})
	tr.appointment = sqltest.Appointment(t, b.s, b.asManager, func(a *domain.Appointment) { a.LeadID = tr.lead.ID })
	tr.interaction = sqltest.Interaction(t, b.s, b.asManager, func(i *domain.Interaction) { i.LeadID = tr.lead.ID })
	tr.photo = sqltest.Photo(t, b.s, b.asManager, func(p *domain.Photo) {
		p.ProjectID, p.SHA256, p.ByteSize, p.ContentType = tr.project.ID, sha, 1000, "image/jpeg"
	})
	return tr
}

const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// find loads a live record as stored, failing the test if it is missing.
func find[T domain.Record](t *testing.T, b *bundle, kind domain.EntityKind, id string) T {
	t.Helper()
	rec, err := b.s.FindRecord(context.Background(), b.org.ID, kind, id)
	if err != nil {
		t.Fatalf("find %s %s: %v", kind, id, err)
	}
	return rec.(T)
}

// update is the args of an update mutation.
func update(id string, base int64, fields map[string]any) map[string]any {
	return map[string]any{"id": id, "base_version": base, "fields": fields}
}

// version is the version the device holds of a record (0 if none).
func version(d *synctest.Device, kind domain.EntityKind, id string) int64 {
	r, _ := d.Get(kind, id)
	return r.Version
}

// requireOutcome fails unless the device received an outcome of the given
// kind and code for mutation id.
func requireOutcome(t *testing.T, d *synctest.Device, id int64, kind domain.OutcomeKind, code string) fsync.Outcome {
	t.Helper()
	o, ok := d.Outcomes[id]
	if !ok {
		t.Fatalf("no outcome for mutation %d (have %v)", id, d.Outcomes)
	}
	if o.Kind != kind || o.Code != code || o.Message == "" {
		t.Fatalf("outcome of mutation %d = %+v, want %s %s with a message", id, o, kind, code)
	}
	return o
}

func requireNoOutcome(t *testing.T, d *synctest.Device, id int64) {
	t.Helper()
	if o, ok := d.Outcomes[id]; ok {
		t.Fatalf("mutation %d got outcome %+v, want none", id, o)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var ctx = context.Background()

// at is a fixed time on the hour, for appointments.
func at(hour, minute int) time.Time {
	return time.Date(2031, 3, 4, hour, minute, 0, 0, time.UTC)
}
