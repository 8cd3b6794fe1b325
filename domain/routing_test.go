package domain

import (
	"testing"
	"time"
	// The binary embeds the zone database (cmd/fieldsync); so do these
	// tests, so that they run on a machine without one.
	_ "time/tzdata"
)

func rep(id string, opts ...func(*User)) *User {
	u := &User{Meta: Meta{ID: id}, Role: RoleSales, Active: true}
	for _, o := range opts {
		o(u)
	}
	return u
}

func TestRoute(t *testing.T) {
	// Tuesday 10:00 in Detroit.
	det, err := time.LoadLocation("America/Detroit")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 10, 0, 0, 0, det)
	top := rep("a-top", func(u *User) { u.TopPerformer, u.Territories = true, []string{"480"} })
	local := rep("b-local", func(u *User) { u.Territories, u.Skills = []string{"483", "MI"}, []string{"insurance"} })
	local2 := rep("c-local", func(u *User) { u.Territories = []string{"Troy"} })
	far := rep("d-far", func(u *User) { u.Territories = []string{"606"} })
	manager := &User{Meta: Meta{ID: "m"}, Role: RoleManager, Active: true}
	inactive := rep("e-inactive", func(u *User) { u.Active = false; u.TopPerformer = true })
	weekdays := Availability{Hours: []WorkingHours{{Weekday: time.Tuesday, Start: 8 * 60, End: 17 * 60}}}
	cands := []RouteCandidate{
		{User: top, OpenLeads: 9}, {User: local, OpenLeads: 3, Availability: weekdays}, {User: local2, OpenLeads: 1},
		{User: far}, {User: manager}, {User: inactive},
	}
	lead := func(score int) *Lead { return &Lead{Zip: "48301", City: "Troy", State: "MI", Score: score} }
	cases := []struct {
		name  string
		req   RouteRequest
		cands []RouteCandidate
		want  string
		rule  string
		glove bool
	}{
		{"territory then workload", RouteRequest{Lead: lead(50)}, cands, "c-local", "territory+least_workload", false},
		{"skills narrow", RouteRequest{Lead: lead(50), Skills: []string{"Insurance"}}, cands, "b-local", "territory+skills+least_workload", false},
		{"80+ to top performers", RouteRequest{Lead: lead(85)}, cands, "a-top", "top_performer+least_workload", false},
		{"90+ white-glove", RouteRequest{Lead: lead(93)}, cands, "a-top", "top_performer+least_workload", true},
		{"nobody in territory", RouteRequest{Lead: &Lead{Zip: "10001"}}, cands[3:], "d-far", "least_workload", false},
		{"none available", RouteRequest{Lead: lead(50)}, []RouteCandidate{{User: manager}, {User: inactive}}, "", RuleNoRepAvailable, false},
	}
	for _, tc := range cases {
		tc.req.Now, tc.req.Location = now, det
		d := Route(tc.req, tc.cands)
		if d.UserID != tc.want || d.Rule != tc.rule || d.WhiteGlove != tc.glove {
			t.Errorf("%s: %+v, want %s by %s (white-glove %v)", tc.name, d, tc.want, tc.rule, tc.glove)
		}
	}
	// Outside working hours (Tuesday 18:00) or on time off, b-local is skipped.
	req := RouteRequest{Lead: lead(50), Skills: []string{"insurance"}, Now: now.Add(8 * time.Hour), Location: det}
	if d := Route(req, cands); d.UserID == "b-local" {
		t.Errorf("routed outside working hours: %+v", d)
	}
	off := weekdays
	off.TimeOff = []TimeOff{{From: now.Add(-time.Hour), To: now.Add(time.Hour)}}
	c2 := append([]RouteCandidate(nil), cands...)
	c2[1].Availability = off
	req.Now = now
	if d := Route(req, c2); d.UserID == "b-local" {
		t.Errorf("routed during time off: %+v", d)
	}
}

func TestAvailabilityUsesTheOrganizationsZone(t *testing.T) {
	det, err := time.LoadLocation("America/Detroit")
	if err != nil {
		t.Fatal(err)
	}
	a := Availability{Hours: []WorkingHours{{Weekday: time.Monday, Start: 9 * 60, End: 17 * 60}}}
	// 13:30 UTC on a Monday in March is 09:30 in Detroit (EDT).
	at := time.Date(2026, 3, 9, 13, 30, 0, 0, time.UTC)
	if !a.AvailableAt(at, det) || a.AvailableAt(at.Add(-time.Hour), det) {
		t.Error("working hours not read in the organization's zone")
	}
	if !(Availability{}).AvailableAt(at, nil) {
		t.Error("no schedule should mean always available")
	}
}
