package sqlstore_test

import (
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore"
	"github.com/iswitchroofs/fieldsync/storage/sqlstore/sqltest"
)

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org, other := sqltest.Org(t, s), sqltest.Org(t, s)
		k := &domain.APIKey{OrgID: org.ID, Name: "form", Hint: "abcd", Hash: "h1"}
		if err := s.CreateAPIKey(ctx, k); err != nil || k.ID == "" || k.CreatedAt.IsZero() {
			t.Fatalf("create: %v %+v", err, k)
		}
		sqltest.RequireCode(t, s.CreateAPIKey(ctx, &domain.APIKey{OrgID: org.ID, Name: "dup", Hash: "h1"}), domain.CodeConflict)
		sqltest.RequireCode(t, s.CreateAPIKey(ctx, &domain.APIKey{OrgID: org.ID, Hash: "h2"}), domain.CodeInvalid)
		got, err := s.FindAPIKeyByHash(ctx, "h1")
		if err != nil || got.ID != k.ID || got.OrgID != org.ID || got.RevokedAt != nil {
			t.Fatalf("find: %+v %v", got, err)
		}
		_, err = s.FindAPIKeyByHash(ctx, "nope")
		sqltest.RequireCode(t, err, domain.CodeNotFound)
		sqltest.RequireCode(t, s.RevokeAPIKey(ctx, other.ID, k.ID, time.Now()), domain.CodeNotFound)
		first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := s.RevokeAPIKey(ctx, org.ID, k.ID, first); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeAPIKey(ctx, org.ID, k.ID, first.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _ = s.FindAPIKeyByHash(ctx, "h1")
		if got.RevokedAt == nil || !got.RevokedAt.Equal(first) {
			t.Errorf("revoked at %v, want the first revocation %v", got.RevokedAt, first)
		}
		if err := s.TouchAPIKey(ctx, k.ID, first); err != nil {
			t.Fatal(err)
		}
		keys, err := s.ListAPIKeys(ctx, org.ID)
		if err != nil || len(keys) != 1 || keys[0].LastUsedAt == nil {
			t.Errorf("list: %+v %v", keys, err)
		}
		if keys, _ := s.ListAPIKeys(ctx, other.ID); len(keys) != 0 {
			t.Errorf("another organization lists %d keys", len(keys))
		}
	})
}

func TestAlertQueries(t *testing.T) {
	t.Parallel()
	sqltest.Each(t, func(t *testing.T, s *sqlstore.Store) {
		org := sqltest.Org(t, s)
		sys := sqltest.System(org)
		r1 := sqltest.User(t, s, org, domain.RoleSales)
		r2 := sqltest.User(t, s, org, domain.RoleSales)
		sqltest.User(t, s, org, domain.RoleSales, func(u *domain.User) { u.Active = false })
		sqltest.User(t, s, org, domain.RoleManager)
		sqltest.Create(t, s, sqltest.As(r1), &domain.Device{UserID: r1.ID, PushToken: "t1"})
		sqltest.Create(t, s, sqltest.As(r1), &domain.Device{UserID: r1.ID})
		gone := time.Now()
		sqltest.Create(t, s, sqltest.As(r1), &domain.Device{UserID: r1.ID, PushToken: "t3", RevokedAt: &gone})
		l1 := sqltest.Lead(t, s, sys, func(l *domain.Lead) { l.AssignedTo = r1.ID; l.Source, l.ExternalID = "web_form", "x1" })
		sqltest.Lead(t, s, sys, func(l *domain.Lead) { l.AssignedTo = r1.ID; l.Status = domain.LeadWon })
		sqltest.Lead(t, s, sys, func(l *domain.Lead) { l.AssignedTo = r2.ID })
		sqltest.Lead(t, s, sys, func(l *domain.Lead) { l.AssignedTo = r2.ID })

		// One live lead per (source, external id).
		err := s.Write(ctx, sys, func(tx domain.Tx) error {
			return tx.Create(&domain.Lead{Source: "web_form", ExternalID: "x1", FirstName: "B", Status: domain.LeadNew})
		})
		sqltest.RequireCode(t, err, domain.CodeConflict)
		found, err := s.FindLeadByExternalID(ctx, org.ID, "web_form", "x1")
		if err != nil || found.ID != l1.ID {
			t.Errorf("by external id: %v %v", found, err)
		}
		_, err = s.FindLeadByExternalID(ctx, org.ID, "google_ads", "x1")
		sqltest.RequireCode(t, err, domain.CodeNotFound)

		devs, err := s.PushDevices(ctx, org.ID, r1.ID)
		if err != nil || len(devs) != 1 || devs[0].PushToken != "t1" {
			t.Errorf("push devices: %+v %v", devs, err)
		}
		team, _ := s.TeamMembers(ctx, org.ID)
		if len(team) != 3 {
			t.Errorf("team = %d, want the 3 active members", len(team))
		}
		if err := s.SetAvailability(ctx, org.ID, r2.ID, domain.Availability{Hours: []domain.WorkingHours{{Weekday: 1, Start: 0, End: 60}}}); err != nil {
			t.Fatal(err)
		}
		sqltest.RequireCode(t, s.SetAvailability(ctx, org.ID, domain.StableID("x"), domain.Availability{}), domain.CodeNotFound)
		cands, err := s.RouteCandidates(ctx, org.ID)
		if err != nil || len(cands) != 2 {
			t.Fatalf("candidates: %+v %v", cands, err)
		}
		load := map[string]int{}
		for _, c := range cands {
			load[c.User.ID] = c.OpenLeads
			if c.User.ID == r2.ID && len(c.Availability.Hours) != 1 {
				t.Errorf("r2 availability = %+v", c.Availability)
			}
		}
		if load[r1.ID] != 1 || load[r2.ID] != 2 {
			t.Errorf("open leads = %v, want r1 1 (won does not count), r2 2", load)
		}

		// Response clock: acknowledged at +90 s, first call at +3 min.
		al := sqltest.Alert(t, s, sys, func(a *domain.Alert) { a.LeadID, a.RecipientID = l1.ID, r1.ID })
		err = s.Write(ctx, sqltest.As(r1), func(tx domain.Tx) error {
			at := l1.CreatedAt.Add(90 * time.Second)
			al.AcknowledgedAt, al.AcknowledgedBy = &at, r1.ID
			return tx.Update(al)
		})
		if err != nil {
			t.Fatal(err)
		}
		sqltest.Interaction(t, s, sqltest.As(r1), func(i *domain.Interaction) {
			i.LeadID, i.Kind, i.OccurredAt = l1.ID, domain.InteractionCall, l1.CreatedAt.Add(3*time.Minute)
		})
		sqltest.Interaction(t, s, sqltest.As(r1), func(i *domain.Interaction) {
			i.LeadID, i.Kind, i.OccurredAt = l1.ID, domain.InteractionNote, l1.CreatedAt.Add(time.Minute)
		})
		rows, err := s.LeadResponses(ctx, org.ID, l1.CreatedAt.Add(-time.Hour), l1.CreatedAt.Add(time.Hour))
		if err != nil || len(rows) != 1 {
			t.Fatalf("responses: %+v %v (only alerted leads count)", rows, err)
		}
		r := rows[0]
		if r.LeadID != l1.ID || r.AcknowledgedBy != r1.ID || r.AcknowledgedAt.Sub(r.CreatedAt) != 90*time.Second ||
			r.FirstResponseAt == nil || r.FirstResponseAt.Sub(r.CreatedAt) != 3*time.Minute {
			t.Errorf("response row = %+v", r)
		}
		alerts, _ := s.LeadAlerts(ctx, org.ID, l1.ID)
		if len(alerts) != 1 || alerts[0].ID != al.ID {
			t.Errorf("lead alerts = %+v", alerts)
		}

		n := sqltest.Create(t, s, sys, &domain.Notification{UserID: r1.ID, Channel: "sms", Status: domain.NotificationOutbox, RefID: l1.ID})
		sqltest.Create(t, s, sys, &domain.Notification{UserID: r2.ID, Channel: "push", Status: domain.NotificationSent})
		ns, err := s.ListNotifications(ctx, domain.NotificationFilter{OrgID: org.ID, Status: domain.NotificationOutbox})
		if err != nil || len(ns) != 1 || ns[0].ID != n.ID {
			t.Errorf("outbox notifications: %+v %v", ns, err)
		}
		if ns, _ := s.ListNotifications(ctx, domain.NotificationFilter{OrgID: org.ID, Limit: 1}); len(ns) != 1 {
			t.Errorf("limit 1 gave %d", len(ns))
		}
	})
}
