package domain

import (
	"slices"
	"strings"
	"testing"
)

// relation is how the record under test relates to the principal "me".
type relation string

const (
	relOwnLead     relation = "own_lead"      // LeadOwner is me
	relOwnProject  relation = "own_project"   // ProjectTech is me
	relAssigned    relation = "assigned"      // Assignee is me
	relCreated     relation = "created"       // only CreatedBy is me
	relMyPhotoWork relation = "own_proj_made" // ProjectTech and CreatedBy are me
	relOther       relation = "other_user"    // every field names a colleague
	relUnowned     relation = "unowned"       // every field empty
	relOtherOrg    relation = "other_org"     // every field is me, in another organization
)

var (
	allRelations = []relation{
		relOwnLead, relOwnProject, relAssigned, relCreated, relMyPhotoWork,
		relOther, relUnowned, relOtherOrg,
	}
	sameOrg   = []relation{relOwnLead, relOwnProject, relAssigned, relCreated, relMyPhotoWork, relOther, relUnowned}
	salesRels = []relation{relOwnLead, relAssigned}
	techRels  = []relation{relOwnProject, relAssigned, relMyPhotoWork}

	allRoles = []Role{RoleAdmin, RoleManager, RoleSales, RoleFieldTech}
	reps     = []Role{RoleSales, RoleFieldTech}
	bosses   = []Role{RoleAdmin, RoleManager}

	allActions = []Action{
		ActionRead, ActionCreate, ActionUpdate, ActionDelete,
		ActionSetStatus, ActionAssign, ActionAcknowledge,
	}
	writeActions = []Action{
		ActionCreate, ActionUpdate, ActionDelete,
		ActionSetStatus, ActionAssign, ActionAcknowledge,
	}

	// chainKinds hang under a lead or a project.
	chainKinds = []EntityKind{
		KindLead, KindCustomer, KindProject, KindInteraction, KindAppointment,
		KindPhoto, KindReview, KindReferral, KindAlert,
		KindCampaignEnrollment, KindCampaignTouch,
	}
	memberKinds = []EntityKind{KindUser, KindDevice, KindNotification, KindPartner}
	allKinds    = append(append([]EntityKind{KindOrganization}, memberKinds...), chainKinds...)
)

// grant allows every combination of its roles, kinds, actions and
// relations. Everything not granted must be refused.
type grant struct {
	why     string
	roles   []Role
	kinds   []EntityKind
	actions []Action
	rels    []relation
}

// grants is the access policy of the brief, written out independently of
// access.go.
var grants = []grant{
	{"bosses run their organization", bosses, without(allKinds, KindOrganization), allActions, sameOrg},
	{"everyone reads the organization", allRoles, []EntityKind{KindOrganization}, []Action{ActionRead}, sameOrg},
	{"only an admin edits the organization", []Role{RoleAdmin}, []EntityKind{KindOrganization}, []Action{ActionUpdate}, sameOrg},

	{"team directory", reps, []EntityKind{KindUser}, []Action{ActionRead}, sameOrg},
	{"edit own profile", reps, []EntityKind{KindUser}, []Action{ActionUpdate}, []relation{relAssigned}},
	{"own devices and notifications", reps, []EntityKind{KindDevice, KindNotification},
		[]Action{ActionRead, ActionCreate, ActionUpdate, ActionDelete}, []relation{relAssigned}},
	{"sales read partners", []Role{RoleSales}, []EntityKind{KindPartner}, []Action{ActionRead}, sameOrg},

	{"sales read their leads' records", []Role{RoleSales}, chainKinds, []Action{ActionRead}, salesRels},
	{"sales create", []Role{RoleSales}, []EntityKind{
		KindLead, KindCustomer, KindInteraction, KindAppointment, KindPhoto, KindReferral,
	}, []Action{ActionCreate}, salesRels},
	{"sales update", []Role{RoleSales}, []EntityKind{
		KindLead, KindCustomer, KindAppointment, KindInteraction, KindPhoto,
	}, []Action{ActionUpdate}, salesRels},
	{"sales move leads", []Role{RoleSales}, []EntityKind{KindLead}, []Action{ActionSetStatus}, salesRels},
	{"sales delete", []Role{RoleSales}, []EntityKind{KindAppointment, KindInteraction, KindPhoto}, []Action{ActionDelete}, salesRels},

	{"techs read their projects' records", []Role{RoleFieldTech}, chainKinds, []Action{ActionRead}, techRels},
	{"techs update", []Role{RoleFieldTech}, []EntityKind{
		KindProject, KindAppointment, KindPhoto, KindInteraction,
	}, []Action{ActionUpdate}, techRels},
	{"techs move projects and appointments", []Role{RoleFieldTech}, []EntityKind{KindProject, KindAppointment}, []Action{ActionSetStatus}, techRels},
	{"techs log and photograph", []Role{RoleFieldTech}, []EntityKind{KindInteraction, KindPhoto}, []Action{ActionCreate}, techRels},
	{"techs delete their own photos", []Role{RoleFieldTech}, []EntityKind{KindPhoto}, []Action{ActionDelete}, []relation{relMyPhotoWork}},

	{"acknowledge alerts sent to me", reps, []EntityKind{KindAlert}, []Action{ActionAcknowledge}, []relation{relAssigned}},
}

func without(kinds []EntityKind, drop EntityKind) []EntityKind {
	return slices.DeleteFunc(slices.Clone(kinds), func(k EntityKind) bool { return k == drop })
}

type accessKey struct {
	role   Role
	kind   EntityKind
	action Action
	rel    relation
}

func allowedSet() map[accessKey]bool {
	allowed := map[accessKey]bool{}
	for _, g := range grants {
		for _, r := range g.roles {
			for _, k := range g.kinds {
				for _, a := range g.actions {
					for _, rel := range g.rels {
						allowed[accessKey{r, k, a, rel}] = true
					}
				}
			}
		}
	}
	return allowed
}

const (
	me        = "u-me"
	colleague = "u-colleague"
	myOrg     = "org-1"
	otherOrg  = "org-2"
)

func anchorFor(kind EntityKind, rel relation) Anchor {
	a := Anchor{OrgID: myOrg, Kind: kind, ID: "rec-1"}
	set := func(lead, tech, assignee, creator string) {
		a.LeadOwner, a.ProjectTech, a.Assignee, a.CreatedBy = lead, tech, assignee, creator
	}
	switch rel {
	case relOwnLead:
		set(me, colleague, colleague, colleague)
	case relOwnProject:
		set(colleague, me, colleague, colleague)
	case relAssigned:
		set(colleague, colleague, me, colleague)
	case relCreated:
		set(colleague, colleague, colleague, me)
	case relMyPhotoWork:
		set(colleague, me, colleague, me)
	case relOther:
		set(colleague, colleague, colleague, colleague)
	case relUnowned:
		set("", "", "", "")
	case relOtherOrg:
		set(me, me, me, me)
		a.OrgID = otherOrg
	default:
		panic("unknown relation " + rel)
	}
	return a
}

// TestAccessMatrix checks every role × kind × action × relation against
// the grants above, through all three of CanSee, Can and Authorize.
func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	if !slices.Equal(Actions(), allActions) {
		t.Fatalf("Actions() = %q; update the test's list", Actions())
	}
	// A new kind must get rules and a place in this test.
	if len(EntityKinds())+1 != len(allKinds) {
		t.Fatalf("EntityKinds() = %q; update the test's kinds", EntityKinds())
	}
	for _, k := range EntityKinds() {
		if !slices.Contains(allKinds, k) {
			t.Fatalf("kind %q is not covered by the test", k)
		}
	}

	allowed := allowedSet()
	checked, granted := 0, 0
	for _, role := range allRoles {
		p := Principal{UserID: me, OrgID: myOrg, Role: role}
		for _, kind := range allKinds {
			for _, rel := range allRelations {
				a := anchorFor(kind, rel)
				wantSee := allowed[accessKey{role, kind, ActionRead, rel}]
				if got := CanSee(p, a); got != wantSee {
					t.Errorf("CanSee(%s, %s %s) = %v, want %v", role, rel, kind, got, wantSee)
				}
				for _, act := range allActions {
					checked++
					want := allowed[accessKey{role, kind, act, rel}]
					if want {
						granted++
					}
					if got := Can(p, act, a); got != want {
						t.Errorf("Can(%s, %s, %s %s) = %v, want %v", role, act, rel, kind, got, want)
					}
					err := Authorize(p, act, a)
					switch {
					case want && err != nil:
						t.Errorf("Authorize(%s, %s, %s %s) = %v, want nil", role, act, rel, kind, err)
					case !want && !wantSee && !IsCode(err, CodeNotFound):
						t.Errorf("Authorize(%s, %s, %s %s) = %v, want %s", role, act, rel, kind, err, CodeNotFound)
					case !want && wantSee && !IsCode(err, CodeForbidden):
						t.Errorf("Authorize(%s, %s, %s %s) = %v, want %s", role, act, rel, kind, err, CodeForbidden)
					}
				}
			}
		}
	}
	if checked != 4*16*7*8 {
		t.Fatalf("checked %d combinations", checked)
	}
	t.Logf("%d combinations, %d granted", checked, granted)
}

// TestAccessScenarios spells out the cases people ask about, one by one,
// so a regression reads as a sentence.
func TestAccessScenarios(t *testing.T) {
	t.Parallel()
	sales := Principal{UserID: "rep-1", OrgID: myOrg, Role: RoleSales}
	tech := Principal{UserID: "tech-1", OrgID: myOrg, Role: RoleFieldTech}
	manager := Principal{UserID: "mgr-1", OrgID: myOrg, Role: RoleManager}
	admin := Principal{UserID: "adm-1", OrgID: myOrg, Role: RoleAdmin}

	myLead := Anchor{OrgID: myOrg, Kind: KindLead, ID: "l1", LeadOwner: "rep-1"}
	theirLead := Anchor{OrgID: myOrg, Kind: KindLead, ID: "l2", LeadOwner: "rep-2"}
	foreignLead := Anchor{OrgID: otherOrg, Kind: KindLead, ID: "l3", LeadOwner: "rep-1"}
	techPhoto := Anchor{OrgID: myOrg, Kind: KindPhoto, ID: "p1", LeadOwner: "rep-1", ProjectTech: "tech-1", CreatedBy: "tech-1"}
	colleaguePhoto := Anchor{OrgID: myOrg, Kind: KindPhoto, ID: "p2", LeadOwner: "rep-1", ProjectTech: "tech-1", CreatedBy: "tech-2"}
	escalated := Anchor{OrgID: myOrg, Kind: KindAlert, ID: "a1", LeadOwner: "rep-1", Assignee: "mgr-1"}
	techAppt := Anchor{OrgID: myOrg, Kind: KindAppointment, ID: "ap1", LeadOwner: "rep-2", Assignee: "tech-1"}
	org := Anchor{OrgID: myOrg, Kind: KindOrganization, ID: myOrg}
	mgrUser := Anchor{OrgID: myOrg, Kind: KindUser, ID: "mgr-1", Assignee: "mgr-1"}
	salesUser := Anchor{OrgID: myOrg, Kind: KindUser, ID: "rep-1", Assignee: "rep-1"}

	tests := []struct {
		name string
		p    Principal
		act  Action
		a    Anchor
		want Code // "" means allowed
	}{
		{"rep reads own lead", sales, ActionRead, myLead, ""},
		{"rep moves own lead", sales, ActionSetStatus, myLead, ""},
		{"rep cannot reassign own lead", sales, ActionAssign, myLead, CodeForbidden},
		{"rep cannot delete own lead", sales, ActionDelete, myLead, CodeForbidden},
		{"rep does not see a colleague's lead", sales, ActionRead, theirLead, CodeNotFound},
		{"rep does not see another organization's lead", sales, ActionRead, foreignLead, CodeNotFound},
		{"manager sees a colleague's lead", manager, ActionAssign, theirLead, ""},
		{"admin does not see another organization", admin, ActionRead, foreignLead, CodeNotFound},
		{"tech deletes own photo", tech, ActionDelete, techPhoto, ""},
		{"tech keeps a colleague's photo", tech, ActionDelete, colleaguePhoto, CodeForbidden},
		{"rep deletes a photo on own lead", sales, ActionDelete, colleaguePhoto, ""},
		{"rep sees escalated alert on own lead", sales, ActionRead, escalated, ""},
		{"rep cannot acknowledge the manager's alert", sales, ActionAcknowledge, escalated, CodeForbidden},
		{"manager acknowledges own alert", manager, ActionAcknowledge, escalated, ""},
		{"tech sees an appointment assigned to them", tech, ActionRead, techAppt, ""},
		{"tech completes that appointment", tech, ActionSetStatus, techAppt, ""},
		{"tech cannot delete that appointment", tech, ActionDelete, techAppt, CodeForbidden},
		{"manager cannot edit the organization", manager, ActionUpdate, org, CodeForbidden},
		{"admin edits the organization", admin, ActionUpdate, org, ""},
		{"admin cannot delete the organization", admin, ActionDelete, org, CodeForbidden},
		{"rep reads the manager's profile", sales, ActionRead, mgrUser, ""},
		{"rep cannot edit the manager's profile", sales, ActionUpdate, mgrUser, CodeForbidden},
		{"rep edits own profile", sales, ActionUpdate, salesUser, ""},
		{"rep cannot delete own user", sales, ActionDelete, salesUser, CodeForbidden},
		{"manager deactivates a rep", manager, ActionDelete, salesUser, ""},
		{"unknown action", admin, Action("launch"), myLead, CodeForbidden},
		{"unknown kind", admin, ActionRead, Anchor{OrgID: myOrg, Kind: "invoice", ID: "i1"}, CodeNotFound},
		{"empty kind", admin, ActionRead, Anchor{OrgID: myOrg, ID: "i1"}, CodeNotFound},
		{"principal without user", Principal{OrgID: myOrg, Role: RoleAdmin}, ActionRead, myLead, CodeNotFound},
		{"principal without organization", Principal{UserID: "adm-1", Role: RoleAdmin}, ActionRead, Anchor{Kind: KindLead, ID: "x"}, CodeNotFound},
		{"principal without role", Principal{UserID: "rep-1", OrgID: myOrg}, ActionRead, myLead, CodeNotFound},
		{"principal with unknown role", Principal{UserID: "rep-1", OrgID: myOrg, Role: "owner"}, ActionRead, org, CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Authorize(tt.p, tt.act, tt.a)
			if got := ErrorCode(err); got != tt.want {
				t.Fatalf("Authorize = %v, want code %q", err, tt.want)
			}
			if can := Can(tt.p, tt.act, tt.a); can != (tt.want == "") {
				t.Errorf("Can = %v, disagrees with Authorize", can)
			}
		})
	}
}

// TestAuthorizeMessages checks that a hidden record reads exactly like a
// missing one, and that a refusal names the action and the kind.
func TestAuthorizeMessages(t *testing.T) {
	t.Parallel()
	p := Principal{UserID: me, OrgID: myOrg, Role: RoleSales}
	hidden := Authorize(p, ActionRead, anchorFor(KindCampaignEnrollment, relOther))
	if got, want := ErrorMessage(hidden), ErrorMessage(ErrNotFound("campaign enrollment")); got != want {
		t.Errorf("hidden record message %q, want %q", got, want)
	}
	refused := Authorize(p, ActionAssign, anchorFor(KindLead, relOwnLead))
	if msg := ErrorMessage(refused); !strings.Contains(msg, "assign") || !strings.Contains(msg, "lead") {
		t.Errorf("refusal message %q should name the action and the kind", msg)
	}
}

func TestAnchorFor(t *testing.T) {
	t.Parallel()
	meta := func(id string) Meta { return Meta{ID: id, OrgID: myOrg, CreatedBy: "creator"} }
	lead := &Lead{Meta: meta("lead-1"), AssignedTo: "rep-1"}
	project := &Project{Meta: meta("proj-1"), AssignedTech: "tech-1", SalesRepID: "rep-9"}
	base := func(kind EntityKind, id string) Anchor {
		return Anchor{OrgID: myOrg, Kind: kind, ID: id, CreatedBy: "creator"}
	}
	with := func(a Anchor, lead, tech, assignee string) Anchor {
		a.LeadOwner, a.ProjectTech, a.Assignee = lead, tech, assignee
		return a
	}

	tests := []struct {
		name    string
		rec     Record
		lead    *Lead
		project *Project
		want    Anchor
	}{
		{"lead itself", lead, nil, nil, with(base(KindLead, "lead-1"), "rep-1", "", "")},
		{"lead ignores a passed lead", lead, &Lead{AssignedTo: "rep-2"}, nil, with(base(KindLead, "lead-1"), "rep-1", "", "")},
		{"project itself with its lead", project, lead, nil, with(base(KindProject, "proj-1"), "rep-1", "tech-1", "")},
		{"project without a lead", project, nil, nil, with(base(KindProject, "proj-1"), "", "tech-1", "")},
		{"project ignores a passed project", project, nil, &Project{AssignedTech: "tech-2"}, with(base(KindProject, "proj-1"), "", "tech-1", "")},
		{"customer", &Customer{Meta: meta("c-1"), OwnerID: "rep-9"}, lead, nil, with(base(KindCustomer, "c-1"), "rep-1", "", "")},
		{"photo", &Photo{Meta: meta("ph-1"), TakenBy: "tech-9"}, lead, project, with(base(KindPhoto, "ph-1"), "rep-1", "tech-1", "")},
		{"interaction", &Interaction{Meta: meta("i-1"), UserID: "rep-9"}, lead, nil, with(base(KindInteraction, "i-1"), "rep-1", "", "")},
		{"appointment", &Appointment{Meta: meta("ap-1"), AssignedTo: "tech-3"}, lead, project, with(base(KindAppointment, "ap-1"), "rep-1", "tech-1", "tech-3")},
		{"alert", &Alert{Meta: meta("al-1"), RecipientID: "mgr-1"}, lead, nil, with(base(KindAlert, "al-1"), "rep-1", "", "mgr-1")},
		{"device", &Device{Meta: meta("d-1"), UserID: "rep-1"}, nil, nil, with(base(KindDevice, "d-1"), "", "", "rep-1")},
		{"notification", &Notification{Meta: meta("n-1"), UserID: "rep-2"}, nil, nil, with(base(KindNotification, "n-1"), "", "", "rep-2")},
		{"user", &User{Meta: meta("u-1")}, nil, nil, with(base(KindUser, "u-1"), "", "", "u-1")},
		{"review", &Review{Meta: meta("r-1")}, nil, project, with(base(KindReview, "r-1"), "", "tech-1", "")},
		{"partner", &Partner{Meta: meta("pa-1")}, nil, nil, base(KindPartner, "pa-1")},
		{"referral", &Referral{Meta: meta("rf-1")}, lead, nil, with(base(KindReferral, "rf-1"), "rep-1", "", "")},
		{"campaign enrollment", &CampaignEnrollment{Meta: meta("ce-1")}, lead, nil, with(base(KindCampaignEnrollment, "ce-1"), "rep-1", "", "")},
		{"campaign touch", &CampaignTouch{Meta: meta("ct-1")}, lead, nil, with(base(KindCampaignTouch, "ct-1"), "rep-1", "", "")},
		{"nil record", nil, lead, project, Anchor{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := AnchorFor(tt.rec, tt.lead, tt.project); got != tt.want {
				t.Errorf("AnchorFor:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestAnchorForFeedsRules runs a resolved anchor through the rules end to
// end: the tech on a job may delete the photo they took there.
func TestAnchorForFeedsRules(t *testing.T) {
	t.Parallel()
	lead := &Lead{Meta: Meta{ID: "l", OrgID: myOrg}, AssignedTo: "rep-1"}
	project := &Project{Meta: Meta{ID: "p", OrgID: myOrg}, AssignedTech: "tech-1"}
	photo := &Photo{Meta: Meta{ID: "ph", OrgID: myOrg, CreatedBy: "tech-1"}}
	a := AnchorFor(photo, lead, project)
	for _, c := range []struct {
		p    Principal
		act  Action
		want bool
	}{
		{Principal{UserID: "tech-1", OrgID: myOrg, Role: RoleFieldTech}, ActionDelete, true},
		{Principal{UserID: "tech-2", OrgID: myOrg, Role: RoleFieldTech}, ActionRead, false},
		{Principal{UserID: "rep-1", OrgID: myOrg, Role: RoleSales}, ActionUpdate, true},
		{Principal{UserID: "rep-2", OrgID: myOrg, Role: RoleSales}, ActionRead, false},
	} {
		if got := Can(c.p, c.act, a); got != c.want {
			t.Errorf("Can(%s %s, %s, photo) = %v, want %v", c.p.Role, c.p.UserID, c.act, got, c.want)
		}
	}
}

func TestActionValid(t *testing.T) {
	t.Parallel()
	for _, a := range Actions() {
		if !a.Valid() {
			t.Errorf("%q.Valid() = false", a)
		}
	}
	for _, a := range []Action{"", "READ", "write", "read "} {
		if a.Valid() {
			t.Errorf("%q.Valid() = true", a)
		}
	}
}
