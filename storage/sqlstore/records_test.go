package sqlstore_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

func TestFindUsers(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		other := sqltest.Org(t, s)
		u := sqltest.User(t, s, org, domain.RoleSales, func(u *domain.User) { u.Email = "  Rep.One@Example.TEST " })
		if u.Email != "rep.one@example.test" {
			t.Fatalf("email stored as %q", u.Email)
		}
		got, err := s.FindUserByEmail(ctx, "REP.ONE@example.test")
		if err != nil || got.ID != u.ID {
			t.Fatalf("FindUserByEmail = %+v, %v", got, err)
		}
		_, err = s.FindUserByEmail(ctx, "nobody@example.test")
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		_, err = s.FindUserByEmail(ctx, "")
		sqltest.RequireCode(t, err, domain.CodeNotFound)

		// One email signs in to one user, in any organization, in any case.
		err = s.Write(ctx, sqltest.System(other), func(tx domain.Tx) error {
			return tx.Create(&domain.User{Email: "rep.ONE@example.test", Role: domain.RoleSales})
		})
		sqltest.RequireCode(t, err, domain.CodeConflict)
		var de *domain.Error
		if !errors.As(err, &de) || len(de.Fields) != 1 || de.Fields[0].Field != "email" {
			t.Errorf("the conflict should name the email field: %+v", de)
		}
		// Users without an email do not collide.
		for range 2 {
			sqltest.User(t, s, org, domain.RoleFieldTech, func(u *domain.User) { u.Email = "" })
		}

		if got, err := s.FindUser(ctx, org.ID, u.ID); err != nil || got.Email != u.Email {
			t.Fatalf("FindUser = %+v, %v", got, err)
		}
		_, err = s.FindUser(ctx, other.ID, u.ID)
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		_, err = s.FindRecord(ctx, other.ID, domain.KindUser, u.ID)
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		_, err = s.FindRecord(ctx, org.ID, "spaceship", u.ID)
		sqltest.RequireCode(t, err, domain.CodeInvalid)
	})
}

// tree is one organization's ownership chains: a rep's lead with its
// customer and a tech's project under it, and a record of every kind hanging
// somewhere below.
type tree struct {
	org                   *domain.Organization
	rep, tech, mgr, other *domain.User
	lead, lead2           *domain.Lead
	customer              *domain.Customer
	project               *domain.Project
	records               map[domain.EntityKind]domain.Record
	orphanPhoto           *domain.Photo
	customerOnlyAppt      *domain.Appointment
}

func buildTree(t *testing.T, s *sqlstore.Store) *tree {
	t.Helper()
	tr := &tree{org: sqltest.Org(t, s), records: map[domain.EntityKind]domain.Record{}}
	tr.rep = sqltest.User(t, s, tr.org, domain.RoleSales)
	tr.other = sqltest.User(t, s, tr.org, domain.RoleSales)
	tr.tech = sqltest.User(t, s, tr.org, domain.RoleFieldTech)
	tr.mgr = sqltest.User(t, s, tr.org, domain.RoleManager)
	p := sqltest.As(tr.mgr)
	tr.lead = sqltest.Lead(t, s, p, func(l *domain.Lead) { l.AssignedTo = tr.rep.ID })
	tr.lead2 = sqltest.Lead(t, s, p, func(l *domain.Lead) { l.AssignedTo = tr.other.ID })
	tr.customer = sqltest.Customer(t, s, p, func(c *domain.Customer) { c.LeadID = tr.lead.ID })
	tr.project = sqltest.Project(t, s, p, func(pr *domain.Project) {
		pr.LeadID, pr.CustomerID, pr.AssignedTech = tr.lead.ID, tr.customer.ID, tr.tech.ID
	})
	enr := sqltest.Create(t, s, p, &domain.CampaignEnrollment{Campaign: "follow_up", LeadID: tr.lead.ID, EnrolledAt: time.Now()})
	for _, r := range []domain.Record{
		tr.rep, tr.lead, tr.customer, tr.project, enr,
		&domain.Device{UserID: tr.rep.ID, Platform: domain.PlatformIOS},
		&domain.Interaction{ProjectID: tr.project.ID, Kind: domain.InteractionNote, OccurredAt: time.Now()},
		&domain.Appointment{LeadID: tr.lead.ID, AssignedTo: tr.other.ID, StartsAt: time.Now(), EndsAt: time.Now()},
		&domain.Photo{ProjectID: tr.project.ID, TakenAt: time.Now()},
		&domain.Review{CustomerID: tr.customer.ID, ReviewedAt: time.Now()},
		&domain.Partner{Name: "Realtor"},
		&domain.Referral{LeadID: tr.lead.ID},
		&domain.Alert{LeadID: tr.lead.ID, RecipientID: tr.mgr.ID},
		&domain.CampaignTouch{EnrollmentID: enr.ID, DueAt: time.Now()},
		&domain.Notification{UserID: tr.tech.ID},
	} {
		if r.Base().ID == "" {
			sqltest.Create(t, s, p, r)
		}
		tr.records[r.EntityKind()] = r
	}
	tr.orphanPhoto = sqltest.Photo(t, s, p, func(ph *domain.Photo) { ph.ProjectID = uuid.NewString() })
	tr.customerOnlyAppt = sqltest.Appointment(t, s, p, func(a *domain.Appointment) { a.CustomerID = tr.customer.ID })
	return tr
}

func TestResolveAnchorEveryKind(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		tr := buildTree(t, s)
		rep, tech := tr.rep.ID, tr.tech.ID
		want := map[domain.EntityKind]domain.Anchor{
			domain.KindUser:               {Assignee: rep},
			domain.KindDevice:             {Assignee: rep},
			domain.KindLead:               {LeadOwner: rep},
			domain.KindCustomer:           {LeadOwner: rep},
			domain.KindProject:            {LeadOwner: rep, ProjectTech: tech},
			domain.KindInteraction:        {LeadOwner: rep, ProjectTech: tech},     // via the project's lead
			domain.KindAppointment:        {LeadOwner: rep, Assignee: tr.other.ID}, // lead_id
			domain.KindPhoto:              {LeadOwner: rep, ProjectTech: tech},     // project, then its lead
			domain.KindReview:             {LeadOwner: rep},                        // via the customer's lead
			domain.KindPartner:            {},                                      // hangs under nothing
			domain.KindReferral:           {LeadOwner: rep},                        // lead_id
			domain.KindAlert:              {LeadOwner: rep, Assignee: tr.mgr.ID},   // lead_id
			domain.KindCampaignEnrollment: {LeadOwner: rep},                        // lead_id
			domain.KindCampaignTouch:      {LeadOwner: rep},                        // via the enrollment
			domain.KindNotification:       {Assignee: tech},                        // its user
		}
		for _, k := range domain.EntityKinds() {
			rec := tr.records[k]
			got, err := s.ResolveAnchor(ctx, tr.org.ID, k, rec.Base().ID)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			w := want[k]
			w.OrgID, w.Kind, w.ID, w.CreatedBy = tr.org.ID, k, rec.Base().ID, rec.Base().CreatedBy
			if got != w {
				t.Errorf("%s anchor\n got %+v\nwant %+v", k, got, w)
			}
			// Another organization asking is told nothing exists.
			_, err = s.ResolveAnchor(ctx, uuid.NewString(), k, rec.Base().ID)
			sqltest.RequireCode(t, err, domain.CodeNotFound)
		}

		// A missing parent leaves its part of the anchor empty.
		if a, err := s.ResolveAnchor(ctx, tr.org.ID, domain.KindPhoto, tr.orphanPhoto.ID); err != nil || a.LeadOwner != "" || a.ProjectTech != "" {
			t.Errorf("orphan photo anchor %+v, %v", a, err)
		}
		// An appointment with only a customer gets the customer's lead.
		if a, err := s.ResolveAnchor(ctx, tr.org.ID, domain.KindAppointment, tr.customerOnlyAppt.ID); err != nil || a.LeadOwner != rep {
			t.Errorf("customer-only appointment anchor %+v, %v", a, err)
		}
		// A tombstoned lead still owns what hangs under it.
		if err := s.Write(ctx, sqltest.As(tr.mgr), func(tx domain.Tx) error { return tx.Delete(domain.KindLead, tr.lead.ID) }); err != nil {
			t.Fatal(err)
		}
		if a, err := s.ResolveAnchor(ctx, tr.org.ID, domain.KindPhoto, tr.records[domain.KindPhoto].Base().ID); err != nil || a.LeadOwner != rep {
			t.Errorf("photo under a deleted lead: %+v, %v", a, err)
		}

		// The organization itself.
		a, err := s.ResolveAnchor(ctx, tr.org.ID, domain.KindOrganization, tr.org.ID)
		if err != nil || a != (domain.Anchor{OrgID: tr.org.ID, Kind: domain.KindOrganization, ID: tr.org.ID}) {
			t.Errorf("organization anchor %+v, %v", a, err)
		}
		_, err = s.ResolveAnchor(ctx, tr.org.ID, domain.KindOrganization, uuid.NewString())
		sqltest.RequireCode(t, err, domain.CodeNotFound)
	})
}

func TestListLeadsScope(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		tr := buildTree(t, s)
		p := sqltest.As(tr.mgr)
		unassigned := sqltest.Lead(t, s, p)
		won := sqltest.Lead(t, s, p, func(l *domain.Lead) { l.AssignedTo = tr.rep.ID; l.Status = domain.LeadWon })
		all := []*domain.Lead{tr.lead, tr.lead2, unassigned, won}
		admin := sqltest.User(t, s, tr.org, domain.RoleAdmin)
		outsider := sqltest.User(t, s, sqltest.Org(t, s), domain.RoleAdmin)

		ids := func(leads []*domain.Lead) []string {
			out := []string{}
			for _, l := range leads {
				out = append(out, l.ID)
			}
			return out
		}
		list := func(f domain.LeadFilter) []string {
			t.Helper()
			f.OrgID = tr.org.ID
			leads, err := s.ListLeads(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			return ids(leads)
		}
		// What CanSee says each principal may see, newest first.
		visible := func(u *domain.User) []string {
			var out []*domain.Lead
			for _, l := range all {
				if domain.CanSee(sqltest.As(u), domain.AnchorFor(l, nil, nil)) {
					out = append(out, l)
				}
			}
			slices.Reverse(out) // created in order, listed newest first
			return ids(out)
		}
		for _, u := range []*domain.User{admin, tr.mgr, tr.rep, tr.other, tr.tech, outsider} {
			p := sqltest.As(u)
			got := list(domain.LeadFilter{Principal: &p})
			if want := visible(u); !slices.Equal(got, want) {
				t.Errorf("%s sees %v, want %v", u.Role, got, want)
			}
		}
		if got := list(domain.LeadFilter{}); !slices.Equal(got, ids([]*domain.Lead{won, unassigned, tr.lead2, tr.lead})) {
			t.Errorf("unscoped, newest first: %v", got)
		}
		status := domain.LeadWon
		if got := list(domain.LeadFilter{Status: &status}); !slices.Equal(got, []string{won.ID}) {
			t.Errorf("by status: %v", got)
		}
		assignee := tr.rep.ID
		if got := list(domain.LeadFilter{AssignedTo: &assignee}); !slices.Equal(got, []string{won.ID, tr.lead.ID}) {
			t.Errorf("by assignee: %v", got)
		}
		if got := list(domain.LeadFilter{Limit: 2, Offset: 1}); !slices.Equal(got, []string{unassigned.ID, tr.lead2.ID}) {
			t.Errorf("page: %v", got)
		}
		_, err := s.ListLeads(ctx, domain.LeadFilter{})
		sqltest.RequireCode(t, err, domain.CodeInvalid)
	}, sqltest.WithClock(&stepClock{now: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}))
}
