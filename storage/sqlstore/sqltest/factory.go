package sqltest

import (
	"context"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
)

// Org creates an organization with a unique slug and default settings.
func Org(tb testing.TB, s *sqlstore.Store) *domain.Organization {
	tb.Helper()
	org := &domain.Organization{Name: "Test Roofing", Slug: "test-" + randomHex(6), TimeZone: "America/Chicago"}
	if err := s.CreateOrganization(context.Background(), org); err != nil {
		tb.Fatalf("sqltest: create organization: %v", err)
	}
	return org
}

// System is a principal of org with no user, for writes made by the
// system itself (intake, workers, seeding).
func System(org *domain.Organization) domain.Principal {
	return domain.Principal{OrgID: org.ID, Role: domain.RoleAdmin}
}

// As is the principal of a signed-in user.
func As(u *domain.User) domain.Principal {
	return domain.Principal{OrgID: u.OrgID, UserID: u.ID, Role: u.Role}
}

// Create writes rec through the write path as p, after applying opts, and
// returns it as stored.
func Create[T domain.Record](tb testing.TB, s *sqlstore.Store, p domain.Principal, rec T, opts ...func(T)) T {
	tb.Helper()
	for _, o := range opts {
		o(rec)
	}
	err := s.Write(context.Background(), p, func(tx domain.Tx) error { return tx.Create(rec) })
	if err != nil {
		tb.Fatalf("sqltest: create %s: %v", rec.EntityKind(), err)
	}
	return rec
}

// User creates an active team member of org with a unique email.
func User(tb testing.TB, s *sqlstore.Store, org *domain.Organization, role domain.Role, opts ...func(*domain.User)) *domain.User {
	tb.Helper()
	u := &domain.User{
		Email: string(role) + "-" + randomHex(6) + "@example.test", Name: "Test " + string(role),
		Role: role, Active: true,
	}
	return Create(tb, s, System(org), u, opts...)
}

// Lead creates a new lead from the web as p.
func Lead(tb testing.TB, s *sqlstore.Store, p domain.Principal, opts ...func(*domain.Lead)) *domain.Lead {
	tb.Helper()
	l := &domain.Lead{Source: "web", FirstName: "Pat", LastName: "Lee", Status: domain.LeadNew, Zip: "75001"}
	return Create(tb, s, p, l, opts...)
}

// Customer creates a customer as p.
func Customer(tb testing.TB, s *sqlstore.Store, p domain.Principal, opts ...func(*domain.Customer)) *domain.Customer {
	tb.Helper()
	c := &domain.Customer{FirstName: "Pat", LastName: "Lee"}
	return Create(tb, s, p, c, opts...)
}

// Project creates a quoted roof replacement as p.
func Project(tb testing.TB, s *sqlstore.Store, p domain.Principal, opts ...func(*domain.Project)) *domain.Project {
	tb.Helper()
	pr := &domain.Project{Name: "Roof replacement", Type: "replacement", Status: domain.ProjectQuoted}
	return Create(tb, s, p, pr, opts...)
}

// Appointment creates a one-hour inspection tomorrow as p.
func Appointment(tb testing.TB, s *sqlstore.Store, p domain.Principal, opts ...func(*domain.Appointment)) *domain.Appointment {
	tb.Helper()
	start := time.Now().Add(24 * time.Hour).Truncate(time.Hour)
	a := &domain.Appointment{
		Kind: "inspection", Title: "Roof inspection", StartsAt: start, EndsAt: start.Add(time.Hour),
		Status: domain.AppointmentScheduled,
	}
	return Create(tb, s, p, a, opts...)
}

// Interaction logs a call as p.
func Interaction(tb testing.TB, s *sqlstore.Store, p domain.Principal, opts ...func(*domain.Interaction)) *domain.Interaction {
	tb.Helper()
	i := &domain.Interaction{UserID: p.UserID, Kind: domain.InteractionCall, OccurredAt: time.Now()}
	return Create(tb, s, p, i, opts...)
}

// Photo creates the metadata of a pending "before" photo as p.
func Photo(tb testing.TB, s *sqlstore.Store, p domain.Principal, opts ...func(*domain.Photo)) *domain.Photo {
	tb.Helper()
	ph := &domain.Photo{
		Kind: domain.PhotoBefore, TakenAt: time.Now(), TakenBy: p.UserID,
		UploadState: domain.UploadPending, ProcessingState: domain.ProcessingPending,
	}
	return Create(tb, s, p, ph, opts...)
}

// Alert creates a level-0 lead alert as p.
func Alert(tb testing.TB, s *sqlstore.Store, p domain.Principal, opts ...func(*domain.Alert)) *domain.Alert {
	tb.Helper()
	return Create(tb, s, p, &domain.Alert{}, opts...)
}
