package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
)

// demoPassword signs in every demo user. The demo only ever exists in a
// database someone seeded on purpose (`fieldsync dev` or `fieldsync seed`).
const demoPassword = "fieldsync-demo"

// demoNS makes demo ids deterministic, so the README can name a record.
var demoNS = uuid.MustParse("5b0f3a4e-8f7c-4c1e-9a55-6d1f0c2b7e90")

func demoID(parts ...any) string {
	return uuid.NewSHA1(demoNS, []byte(fmt.Sprint(parts...))).String()
}

type demoUser struct {
	key, name, email, phone string
	role                    domain.Role
	tier                    domain.EscalationTier
	territories, skills     []string
	top                     bool
}

const (
	demoSlug     = "iswitch-demo"
	lakesideSlug = "lakeside-demo"
)

var demoUsers = []demoUser{
	{key: "owner", name: "Marcus Reid", email: "owner@iswitch.demo", phone: "+12485550100", role: domain.RoleAdmin, tier: domain.TierOwner},
	{key: "manager", name: "Dana Whitfield", email: "manager@iswitch.demo", phone: "+12485550101", role: domain.RoleManager, tier: domain.TierManager},
	{key: "ops", name: "Luis Ortega", email: "ops@iswitch.demo", phone: "+12485550102", role: domain.RoleManager, tier: domain.TierOperations},
	{key: "rep1", name: "Priya Shah", email: "priya@iswitch.demo", phone: "+12485550111", role: domain.RoleSales, territories: []string{"483", "480"}, skills: []string{"replacement", "insurance"}, top: true},
	{key: "rep2", name: "Jordan Blake", email: "jordan@iswitch.demo", phone: "+12485550112", role: domain.RoleSales, territories: []string{"481", "482"}, skills: []string{"repair", "gutters"}},
	{key: "rep3", name: "Keisha Monroe", email: "keisha@iswitch.demo", phone: "+12485550113", role: domain.RoleSales, territories: []string{"483", "481"}, skills: []string{"replacement", "siding"}},
	{key: "tech1", name: "Sam Kowalski", email: "sam@iswitch.demo", phone: "+12485550121", role: domain.RoleFieldTech, skills: []string{"shingle", "flat"}},
	{key: "tech2", name: "Ana Ruiz", email: "ana@iswitch.demo", phone: "+12485550122", role: domain.RoleFieldTech, skills: []string{"shingle", "metal"}},
}

// lakesideUsers are a second, unrelated organization, so that tenant
// isolation can be tried by hand from the README.
var lakesideUsers = []demoUser{
	{key: "manager", name: "Grace Lindqvist", email: "manager@lakeside.demo", phone: "+16165550101", role: domain.RoleManager, tier: domain.TierManager},
	{key: "rep1", name: "Tom Becker", email: "tom@lakeside.demo", phone: "+16165550111", role: domain.RoleSales},
}

type signIn struct{ email, role string }

func demoSignIns() []signIn {
	var out []signIn
	for _, u := range append(append([]demoUser{}, demoUsers...), lakesideUsers...) {
		role := string(u.role)
		if u.tier != domain.TierNone {
			role += " (" + string(u.tier) + ")"
		}
		out = append(out, signIn{u.email, role})
	}
	return out
}

// demoLeadID is the id of the n-th demo lead of the main organization.
func demoLeadID(n int) string { return demoID(demoSlug, "/lead/", n) }

// seedDemo loads both demo organizations unless they are there already. It
// reports whether it seeded. All rows go through the one write path.
func seedDemo(ctx context.Context, store domain.Store, clock domain.Clock) (bool, error) {
	if _, err := store.FindUserByEmail(ctx, demoUsers[1].email); err == nil {
		return false, nil
	} else if !domain.IsCode(err, domain.CodeNotFound) {
		return false, err
	}
	hash, err := auth.HashPassword(demoPassword, auth.DefaultParams)
	if err != nil {
		return false, err
	}
	if err := seedOrg(ctx, store, clock, demoSlug, "iSwitch Roofs (demo)", demoUsers, 50, hash); err != nil {
		return false, err
	}
	if err := seedOrg(ctx, store, clock, lakesideSlug, "Lakeside Exteriors (demo)", lakesideUsers, 6, hash); err != nil {
		return false, err
	}
	return true, nil
}

func seedOrg(ctx context.Context, store domain.Store, clock domain.Clock, slug, name string, users []demoUser, leads int, hash string) error {
	org := &domain.Organization{ID: demoID(slug), Name: name, Slug: slug, TimeZone: "America/Detroit", Settings: domain.DefaultOrgSettings()}
	org.Settings.PremiumZips = []string{"48301", "48302", "48304", "48009", "48167"}
	org.Settings.TargetZips = []string{"48322", "48323", "48375", "48098", "48187", "48076"}
	if err := store.CreateOrganization(ctx, org); err != nil {
		if !domain.IsCode(err, domain.CodeConflict) {
			return err
		}
		existing, ferr := store.FindOrganizationBySlug(ctx, slug)
		if ferr != nil {
			return ferr
		}
		org = existing
	}
	system := domain.Principal{OrgID: org.ID, Role: domain.RoleAdmin}
	return store.Write(ctx, system, func(tx domain.Tx) error {
		g := &demoGen{rng: rand.New(rand.NewPCG(42, uint64(len(slug)))), now: clock.Now(), org: org, slug: slug}
		for _, u := range users {
			rec := &domain.User{
				Meta:  domain.Meta{ID: demoID(slug, "/user/", u.key)},
				Email: u.email, Name: u.name, Phone: u.phone, Role: u.role, EscalationTier: u.tier,
				Territories: u.territories, Skills: u.skills, TopPerformer: u.top, Active: true, PasswordHash: hash,
			}
			if err := tx.Create(rec); err != nil {
				return fmt.Errorf("user %s: %w", u.key, err)
			}
			switch u.role {
			case domain.RoleSales:
				g.reps = append(g.reps, rec.ID)
			case domain.RoleFieldTech:
				g.techs = append(g.techs, rec.ID)
			}
		}
		for i := 1; i <= leads; i++ {
			if err := g.lead(tx, i); err != nil {
				return fmt.Errorf("lead %d: %w", i, err)
			}
		}
		return nil
	})
}

type demoGen struct {
	rng   *rand.Rand
	now   time.Time
	org   *domain.Organization
	slug  string
	reps  []string
	techs []string
}

var (
	firstNames = []string{"Emily", "Michael", "Sarah", "David", "Jessica", "Robert", "Ashley", "James", "Megan", "Daniel", "Lauren", "Kevin", "Rachel", "Brian", "Nicole", "Anthony", "Hannah", "Eric", "Olivia", "Tyler"}
	lastNames  = []string{"Anderson", "Brooks", "Carter", "Dawson", "Ellis", "Foster", "Grant", "Hayes", "Irving", "Jensen", "Keller", "Lawson", "Mitchell", "Novak", "Owens", "Patel", "Quinn", "Ramirez", "Sullivan", "Turner"}
	streets    = []string{"Lone Pine Rd", "Woodward Ave", "Maple Rd", "Quarton Rd", "Long Lake Rd", "Orchard Lake Rd", "Haggerty Rd", "Beck Rd", "Square Lake Rd", "Telegraph Rd", "Adams Rd", "Wattles Rd"}
	places     = []struct{ city, zip string }{
		{"Bloomfield Hills", "48301"}, {"Bloomfield Hills", "48302"}, {"Bloomfield Hills", "48304"}, {"Birmingham", "48009"},
		{"Northville", "48167"}, {"West Bloomfield", "48322"}, {"West Bloomfield", "48323"}, {"Novi", "48375"},
		{"Troy", "48098"}, {"Canton", "48187"}, {"Southfield", "48076"}, {"Detroit", "48235"}, {"Dearborn", "48126"}, {"Pontiac", "48341"},
	}
	sources      = []string{"web_form", "google_lsa", "facebook_ads", "referral", "phone", "angi", "door_knock"}
	leadStatuses = []domain.LeadStatus{
		domain.LeadNew, domain.LeadNew, domain.LeadNew, domain.LeadContacted, domain.LeadContacted, domain.LeadQualified,
		domain.LeadAppointmentSet, domain.LeadInspectionCompleted, domain.LeadQuoteSent, domain.LeadNegotiation,
		domain.LeadWon, domain.LeadWon, domain.LeadLost,
	}
	engagements = []domain.Engagement{domain.EngagementNone, domain.EngagementFormFill, domain.EngagementSingle, domain.EngagementMultiple}
	budgets     = []domain.Budget{domain.BudgetUnknown, domain.BudgetEstimated, domain.BudgetConfirmed}
	authorities = []domain.Authority{domain.AuthorityUnknown, domain.AuthorityInfluencer, domain.AuthorityDecisionMaker}
	needs       = []domain.Need{domain.NeedUnknown, domain.NeedExploring, domain.NeedWithin3Mo, domain.NeedImmediate}
	timelines   = []domain.Timeline{domain.TimelineUnknown, domain.TimelineOver90, domain.Timeline30To90, domain.TimelineUnder30}
	jobTypes    = []string{"roof_replacement", "roof_repair", "storm_damage", "gutters", "inspection"}
	projectFlow = []domain.ProjectStatus{domain.ProjectQuoted, domain.ProjectApproved, domain.ProjectScheduled, domain.ProjectInProgress, domain.ProjectCompleted, domain.ProjectInvoiced, domain.ProjectPaid}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// lead writes one lead and, depending on how far along it is, its
// interactions, appointment, customer and project.
func (g *demoGen) lead(tx domain.Tx, n int) error {
	r := g.rng
	place := pick(r, places)
	status := leadStatuses[(n*7)%len(leadStatuses)]
	rep := g.reps[n%len(g.reps)]
	first, last := pick(r, firstNames), pick(r, lastNames)
	l := &domain.Lead{
		Meta:          domain.Meta{ID: demoID(g.slug, "/lead/", n)},
		Source:        pick(r, sources),
		FirstName:     first,
		LastName:      last,
		Email:         fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(first), strings.ToLower(last), n),
		Phone:         fmt.Sprintf("+1248555%04d", 1000+n),
		Street:        fmt.Sprintf("%d %s", 100+r.IntN(9800), pick(r, streets)),
		City:          place.city,
		State:         "MI",
		Zip:           place.zip,
		Status:        status,
		AssignedTo:    rep,
		RoutingRule:   "demo_seed",
		PropertyValue: int64(150_000 + r.IntN(85)*10_000),
		Income:        int64(60_000 + r.IntN(30)*7_500),
		Engagement:    pick(r, engagements),
		Budget:        pick(r, budgets),
		Authority:     pick(r, authorities),
		Need:          pick(r, needs),
		Timeline:      pick(r, timelines),
	}
	if status != domain.LeadNew {
		m := []int{2, 4, 12, 45, 180, 600, 2000}[r.IntN(7)]
		l.ResponseMinutes = &m
		l.InteractionCount = 1 + r.IntN(6)
	}
	if status == domain.LeadLost {
		l.LostReason = pick(r, []string{"went with competitor", "price", "insurance denied", "no response"})
	}
	l.Rescore(g.org.Settings)
	l.WhiteGlove = l.Score >= 90
	if err := tx.Create(l); err != nil {
		return err
	}
	for i := 0; i < l.InteractionCount; i++ {
		kind := pick(r, []domain.InteractionKind{domain.InteractionCall, domain.InteractionSMS, domain.InteractionEmail, domain.InteractionNote})
		in := &domain.Interaction{
			Meta:   domain.Meta{ID: demoID(g.slug, "/lead/", n, "/interaction/", i)},
			LeadID: l.ID, UserID: rep, Kind: kind, Direction: "outbound",
			Subject:    "Follow-up on roof inquiry",
			Body:       "Discussed roof condition and next steps.",
			OccurredAt: g.now.Add(-time.Duration(1+r.IntN(60*24*20)) * time.Minute).UTC(),
		}
		if kind == domain.InteractionCall {
			in.DurationSeconds = 60 + r.IntN(900)
		}
		if err := tx.Create(in); err != nil {
			return err
		}
	}
	if status == domain.LeadAppointmentSet || status == domain.LeadInspectionCompleted {
		start := g.dayAt(r.IntN(14)-4, 9+r.IntN(8))
		st := domain.AppointmentScheduled
		if status == domain.LeadInspectionCompleted {
			start = g.dayAt(-1-r.IntN(7), 9+r.IntN(8))
			st = domain.AppointmentCompleted
		}
		a := &domain.Appointment{
			Meta:   domain.Meta{ID: demoID(g.slug, "/lead/", n, "/inspection")},
			LeadID: l.ID, AssignedTo: rep, Kind: "inspection", Title: "Roof inspection: " + first + " " + last,
			StartsAt: start, EndsAt: start.Add(time.Hour), Status: st, Location: l.Street + ", " + l.City,
		}
		if err := tx.Create(a); err != nil {
			return err
		}
	}
	if status != domain.LeadWon {
		return nil
	}
	return g.customerAndProject(tx, l, n)
}

func (g *demoGen) customerAndProject(tx domain.Tx, l *domain.Lead, n int) error {
	r := g.rng
	c := &domain.Customer{
		Meta:   domain.Meta{ID: demoID(g.slug, "/lead/", n, "/customer")},
		LeadID: l.ID, OwnerID: l.AssignedTo, FirstName: l.FirstName, LastName: l.LastName,
		Email: l.Email, Phone: l.Phone, Street: l.Street, City: l.City, State: l.State, Zip: l.Zip,
	}
	if err := tx.Create(c); err != nil {
		return err
	}
	l.CustomerID = c.ID
	if err := tx.Update(l); err != nil {
		return err
	}
	status := projectFlow[n%len(projectFlow)]
	quote := int64(8_000+r.IntN(30)*1_000) * 100
	p := &domain.Project{
		Meta:       domain.Meta{ID: demoID(g.slug, "/lead/", n, "/project")},
		CustomerID: c.ID, LeadID: l.ID, Name: l.LastName + " residence", Type: pick(r, jobTypes),
		Status: status, SalesRepID: l.AssignedTo, QuoteCents: quote,
		Street: l.Street, City: l.City, State: l.State, Zip: l.Zip,
	}
	if len(g.techs) > 0 {
		p.AssignedTech = g.techs[n%len(g.techs)]
	}
	if status != domain.ProjectQuoted {
		p.ContractCents = quote
	}
	if status == domain.ProjectScheduled || status == domain.ProjectInProgress {
		when := g.dayAt(r.IntN(10), 8)
		p.ScheduledFor = &when
	}
	if status == domain.ProjectCompleted || status == domain.ProjectInvoiced || status == domain.ProjectPaid {
		done := g.dayAt(-3-r.IntN(40), 16)
		p.CompletedAt = &done
	}
	if err := tx.Create(p); err != nil {
		return err
	}
	if p.AssignedTech == "" || p.ScheduledFor == nil {
		return nil
	}
	start := *p.ScheduledFor
	a := &domain.Appointment{
		Meta:      domain.Meta{ID: demoID(g.slug, "/lead/", n, "/install")},
		ProjectID: p.ID, CustomerID: c.ID, AssignedTo: p.AssignedTech, Kind: "installation",
		Title: "Install: " + p.Name, StartsAt: start, EndsAt: start.Add(8 * time.Hour),
		Status: domain.AppointmentScheduled, Location: p.Street + ", " + p.City,
	}
	return tx.Create(a)
}

// dayAt is a whole hour on a day relative to today, in the organization's zone.
func (g *demoGen) dayAt(days, hour int) time.Time {
	loc, err := time.LoadLocation(g.org.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	d := g.now.In(loc).AddDate(0, 0, days)
	return time.Date(d.Year(), d.Month(), d.Day(), hour, 0, 0, 0, loc).UTC()
}
