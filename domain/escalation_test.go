package domain

import (
	"strings"
	"testing"
	"time"
)

func TestLeadAlertMessagesAreTimedFromCreation(t *testing.T) {
	created := time.Date(2026, 3, 10, 15, 0, 7, 0, time.UTC)
	l := &Lead{Meta: Meta{ID: "0190c0de-0000-7000-8000-000000000001", OrgID: "org", CreatedAt: created}}
	msgs := LeadAlertMessages(l)
	want := []struct {
		id  string
		due time.Duration
	}{
		{"alert:" + l.ID, 0},
		{"escalate:" + l.ID + ":1", 2 * time.Minute},
		{"escalate:" + l.ID + ":2", 4 * time.Minute},
		{"escalate:" + l.ID + ":3", 6 * time.Minute},
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages, want %d", len(msgs), len(want))
	}
	for i, w := range want {
		m := msgs[i]
		if m.ID != w.id || m.Kind != TaskAlertLevel || m.OrgID != "org" || !m.AvailableAt.Equal(created.Add(w.due)) {
			t.Errorf("message %d = %+v, want id %s due +%s", i, m, w.id, w.due)
		}
		if !strings.Contains(string(m.Payload), `"level":`+string(rune('0'+i))) {
			t.Errorf("payload %s lacks level %d", m.Payload, i)
		}
	}
}

func TestEscalationRecipientsAndChannels(t *testing.T) {
	rep := &User{Meta: Meta{ID: "rep"}, Role: RoleSales, Active: true}
	other := &User{Meta: Meta{ID: "rep2"}, Role: RoleSales, Active: true}
	mgr := &User{Meta: Meta{ID: "mgr"}, Role: RoleManager, EscalationTier: TierManager, Active: true}
	gone := &User{Meta: Meta{ID: "mgr-old"}, Role: RoleManager, EscalationTier: TierManager}
	ops := &User{Meta: Meta{ID: "ops"}, Role: RoleManager, EscalationTier: TierOperations, Active: true}
	owner := &User{Meta: Meta{ID: "owner"}, Role: RoleAdmin, EscalationTier: TierOwner, Active: true}
	team := []*User{rep, other, mgr, gone, ops, owner}
	ids := func(us []*User) string {
		s := make([]string, len(us))
		for i, u := range us {
			s[i] = u.ID
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		level    int
		assignee string
		want     string
	}{
		{LevelRep, "rep", "rep"}, {LevelManager, "rep", "mgr"}, {LevelOperations, "rep", "ops"},
		{LevelOwner, "rep", "owner"}, {LevelRep, "", "mgr"}, {4, "rep", ""},
	} {
		if got := ids(EscalationRecipients(tc.level, tc.assignee, team)); got != tc.want {
			t.Errorf("level %d assignee %q: %s, want %s", tc.level, tc.assignee, got, tc.want)
		}
	}
	if ch := ChannelsForLevel(LevelOperations); len(ch) != 3 {
		t.Errorf("operations channels = %v", ch)
	}
	if ch := ChannelsForLevel(LevelOwner); len(ch) != 5 || ch[3] != ChannelEmail || ch[4] != ChannelVoice {
		t.Errorf("owner channels = %v", ch)
	}
}

func TestChainStopped(t *testing.T) {
	now := time.Now()
	open := &Lead{Status: LeadNew}
	if ChainStopped(open, []*Alert{{Level: 0}}) {
		t.Error("an unanswered new lead is stopped")
	}
	if !ChainStopped(open, []*Alert{{Level: 0}, {Level: 1, AcknowledgedAt: &now}}) {
		t.Error("an acknowledged chain goes on")
	}
	if !ChainStopped(&Lead{Status: LeadContacted}, nil) || !ChainStopped(nil, nil) {
		t.Error("a worked or missing lead goes on")
	}
	deleted := &Lead{Status: LeadNew}
	deleted.MarkDeleted(now)
	if !ChainStopped(deleted, nil) {
		t.Error("a deleted lead goes on")
	}
}

func TestStableID(t *testing.T) {
	a, b := StableID("alert", "l1", "0", "u1"), StableID("alert", "l1", "0", "u2")
	if a == b || a != StableID("alert", "l1", "0", "u1") || len(a) != 36 || a[14] != '5' {
		t.Errorf("StableID = %s, %s", a, b)
	}
	if StableID("ab", "c") == StableID("a", "bc") {
		t.Error("parts are not separated")
	}
}

func TestBuildResponseReport(t *testing.T) {
	base := time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC) // a Monday
	at := func(d time.Duration) *time.Time { t := base.Add(d); return &t }
	rows := []LeadResponse{
		{LeadID: "a", AssignedTo: "r1", CreatedAt: base, AcknowledgedAt: at(90 * time.Second)},
		{LeadID: "b", AssignedTo: "r1", CreatedAt: base, AcknowledgedAt: at(3 * time.Minute), FirstResponseAt: at(2 * time.Minute)},
		{LeadID: "c", AssignedTo: "r2", CreatedAt: base, FirstResponseAt: at(2*time.Minute + time.Second)},
		{LeadID: "d", CreatedAt: base.Add(7 * 24 * time.Hour)},
	}
	r := BuildResponseReport(rows, PeriodWeek, time.UTC)
	if r.Team.Leads != 4 || r.Team.WithinTarget != 2 || r.Team.Share != 0.5 {
		t.Errorf("team = %+v", r.Team)
	}
	if r1 := r.ByRep["r1"]; r1.Leads != 2 || r1.WithinTarget != 2 {
		t.Errorf("r1 = %+v", r1)
	}
	if r2 := r.ByRep["r2"]; r2.Leads != 1 || r2.WithinTarget != 0 {
		t.Errorf("r2 = %+v", r2)
	}
	if len(r.Periods) != 2 || !r.Periods[0].Start.Equal(base.Add(-12*time.Hour)) || r.Periods[0].Leads != 3 || r.Periods[1].Leads != 1 {
		t.Errorf("periods = %+v", r.Periods)
	}
	if r.Team.MedianSeconds == nil || *r.Team.MedianSeconds != 120 {
		t.Errorf("median = %v", r.Team.MedianSeconds)
	}
}
