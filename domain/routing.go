package domain

import (
	"sort"
	"strings"
	"time"
)

// Score thresholds of the routing rules (the seed's): hot leads go to the
// top performers, the hottest also get the white-glove flag.
const (
	TopPerformerScore = 80
	WhiteGloveScore   = 90
)

// The parts a routing rule name is made of, joined by "+" in the order they
// applied (e.g. "top_performer+territory+least_workload"). The name is
// stored on the lead so a manager can see why a rep got it.
const (
	RulePartTopPerformer = "top_performer"
	RulePartTerritory    = "territory"
	RulePartSkills       = "skills"
	RulePartWorkload     = "least_workload"
	RuleNoRepAvailable   = "no_rep_available"
)

// WorkingHours is one weekday's shift in minutes after local midnight:
// [Start, End).
type WorkingHours struct {
	Weekday time.Weekday `json:"weekday"`
	Start   int          `json:"start_minute"`
	End     int          `json:"end_minute"`
}

// TimeOff is an absence: [From, To).
type TimeOff struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Availability is when a rep takes leads. No hours at all means no
// schedule was set: always available (outside time off).
type Availability struct {
	Hours   []WorkingHours `json:"hours,omitempty"`
	TimeOff []TimeOff      `json:"time_off,omitempty"`
}

// AvailableAt reports whether the rep works at t, read in loc (the
// organization's time zone; UTC if nil).
func (a Availability) AvailableAt(t time.Time, loc *time.Location) bool {
	for _, off := range a.TimeOff {
		if !t.Before(off.From) && t.Before(off.To) {
			return false
		}
	}
	if len(a.Hours) == 0 {
		return true
	}
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	minute := lt.Hour()*60 + lt.Minute()
	for _, h := range a.Hours {
		if h.Weekday == lt.Weekday() && minute >= h.Start && minute < h.End {
			return true
		}
	}
	return false
}

// RouteCandidate is one team member the router may pick, with what it
// needs to know about them now.
type RouteCandidate struct {
	User         *User
	Availability Availability
	// OpenLeads is how many open leads (not won, lost or deleted) the
	// user is assigned.
	OpenLeads int
}

// RouteRequest is a lead to route: it must be scored already.
type RouteRequest struct {
	Lead *Lead
	// Skills the lead needs (e.g. "insurance_claim", "commercial"); a rep
	// must have all of them to be preferred.
	Skills []string
	Now    time.Time
	// Location is the organization's time zone for working hours.
	Location *time.Location
}

// RouteDecision is the router's answer.
type RouteDecision struct {
	UserID     string
	Rule       string
	WhiteGlove bool
}

// Route picks the rep for a new lead. Only active sales reps available now
// are considered. Then, each step kept only if it leaves someone: a lead
// scoring TopPerformerScore or more goes to the top performers; reps whose
// territory covers the lead's zip, state or city are preferred; so are
// reps with every skill the lead needs; and among those left the one with
// the fewest open leads wins (ties broken by id, so the answer is
// deterministic). A lead scoring WhiteGloveScore or more is flagged
// white-glove. With nobody available the lead stays unassigned and the
// rule says so; its alert then goes to the managers at once.
func Route(req RouteRequest, cands []RouteCandidate) RouteDecision {
	l := req.Lead
	d := RouteDecision{WhiteGlove: l.WhiteGlove || l.Score >= WhiteGloveScore}
	var pool []RouteCandidate
	for _, c := range cands {
		if c.User != nil && c.User.Active && c.User.Role == RoleSales && c.Availability.AvailableAt(req.Now, req.Location) {
			pool = append(pool, c)
		}
	}
	if len(pool) == 0 {
		d.Rule = RuleNoRepAvailable
		return d
	}
	var parts []string
	narrow := func(part string, keep func(RouteCandidate) bool) {
		var next []RouteCandidate
		for _, c := range pool {
			if keep(c) {
				next = append(next, c)
			}
		}
		if len(next) > 0 {
			pool = next
			parts = append(parts, part)
		}
	}
	if l.Score >= TopPerformerScore || d.WhiteGlove {
		narrow(RulePartTopPerformer, func(c RouteCandidate) bool { return c.User.TopPerformer })
	}
	narrow(RulePartTerritory, func(c RouteCandidate) bool { return CoversTerritory(c.User.Territories, l) })
	if len(req.Skills) > 0 {
		narrow(RulePartSkills, func(c RouteCandidate) bool { return hasSkills(c.User.Skills, req.Skills) })
	}
	sort.Slice(pool, func(i, j int) bool {
		if pool[i].OpenLeads != pool[j].OpenLeads {
			return pool[i].OpenLeads < pool[j].OpenLeads
		}
		return pool[i].User.ID < pool[j].User.ID
	})
	parts = append(parts, RulePartWorkload)
	d.UserID = pool[0].User.ID
	d.Rule = strings.Join(parts, "+")
	return d
}

// CoversTerritory reports whether one of a rep's territories covers the
// lead: a territory is a zip code, a zip prefix of digits ("750"), a state
// code or a city name, compared without case.
func CoversTerritory(territories []string, l *Lead) bool {
	zip := strings.TrimSpace(l.Zip)
	for _, t := range territories {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if zip != "" && allDigits(t) && strings.HasPrefix(zip, t) {
			return true
		}
		if strings.EqualFold(t, strings.TrimSpace(l.State)) || strings.EqualFold(t, strings.TrimSpace(l.City)) {
			return true
		}
	}
	return false
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func hasSkills(have, need []string) bool {
	for _, n := range need {
		found := false
		for _, h := range have {
			if strings.EqualFold(strings.TrimSpace(h), strings.TrimSpace(n)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
