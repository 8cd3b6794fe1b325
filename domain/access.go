package domain

import (
	"slices"
	"strings"
)

// Principal is the signed-in user a request or a mutation acts for.
type Principal struct {
	UserID string
	OrgID  string
	Role   Role
}

// Anchor is what access rules need to know about a record: who owns the
// chain it hangs from. The storage layer resolves it (a photo's anchor comes
// from its project and that project's lead); the rules stay pure.
type Anchor struct {
	OrgID string
	Kind  EntityKind
	ID    string
	// LeadOwner is the sales rep assigned to the lead the record is, or
	// belongs under ("" if none).
	LeadOwner string
	// ProjectTech is the field tech assigned to the project the record is,
	// or belongs under ("" if none).
	ProjectTech string
	// Assignee is the user the record itself is assigned to or owned by: an
	// appointment's assignee, an alert's recipient, a device's or a
	// notification's user, the user record itself.
	Assignee string
	// CreatedBy is who created the record.
	CreatedBy string
}

// Action is something a principal may try to do to a record.
type Action string

// The actions.
const (
	ActionRead        Action = "read"
	ActionCreate      Action = "create"
	ActionUpdate      Action = "update"
	ActionDelete      Action = "delete"
	ActionSetStatus   Action = "set_status"
	ActionAssign      Action = "assign"
	ActionAcknowledge Action = "acknowledge"
)

// Actions lists every action, for documentation and exhaustive tests.
func Actions() []Action {
	return []Action{
		ActionRead, ActionCreate, ActionUpdate, ActionDelete,
		ActionSetStatus, ActionAssign, ActionAcknowledge,
	}
}

// Valid reports whether a is a known action. Rules deny unknown actions.
func (a Action) Valid() bool { return slices.Contains(Actions(), a) }

// knownKind reports whether k is a kind the access rules have an answer for;
// anything else is denied to everyone, so a kind added without rules fails
// closed.
func knownKind(k EntityKind) bool {
	return k == KindOrganization || slices.Contains(EntityKinds(), k)
}

// CanSee reports whether p may know that the record exists at all.
//
// Visibility is the sync scope: a record p cannot see is never sent to p's
// devices and is "not found" to p's requests. Nothing outside p's own
// organization is visible, nor anything to a principal with no user,
// organization or known role (a half-built principal must fail closed).
// Admins and managers see their whole organization. Every member sees the
// organization and the team directory (users). Devices and notifications
// are private to the user they belong to. Partners are sales business, so
// field techs do not see them. Everything else hangs under a lead or a
// project: a sales rep sees what hangs under the leads assigned to them,
// a field tech what hangs under the projects assigned to them, and both
// see whatever is assigned to them directly (an appointment, an alert).
func CanSee(p Principal, a Anchor) bool {
	if p.OrgID == "" || p.UserID == "" || a.OrgID != p.OrgID || !p.Role.Valid() || !knownKind(a.Kind) {
		return false
	}
	if p.Role == RoleAdmin || p.Role == RoleManager {
		return true
	}
	switch a.Kind {
	case KindOrganization, KindUser:
		return true
	case KindDevice, KindNotification:
		return a.Assignee == p.UserID
	case KindPartner:
		return p.Role == RoleSales
	}
	if a.Assignee == p.UserID {
		return true
	}
	switch p.Role {
	case RoleSales:
		return a.LeadOwner == p.UserID
	case RoleFieldTech:
		return a.ProjectTech == p.UserID
	}
	return false
}

// salesMay and techMay are what sales reps and field techs may do, beyond
// reading, to the lead- and project-owned records they can see. They are
// deliberately narrow: projects, reviews, campaigns and alerts are driven by
// the office and the workers, and only a manager reassigns work.
var (
	salesMay = map[Action][]EntityKind{
		ActionCreate: {
			KindLead, KindCustomer, KindInteraction, KindAppointment,
			KindPhoto, KindReferral,
		},
		ActionUpdate:    {KindLead, KindCustomer, KindAppointment, KindInteraction, KindPhoto},
		ActionSetStatus: {KindLead},
		ActionDelete:    {KindAppointment, KindInteraction, KindPhoto},
	}
	techMay = map[Action][]EntityKind{
		ActionCreate:    {KindInteraction, KindPhoto},
		ActionUpdate:    {KindProject, KindAppointment, KindPhoto, KindInteraction},
		ActionSetStatus: {KindProject, KindAppointment},
		ActionDelete:    {KindPhoto}, // their own photos only; see Can
	}
)

// Can reports whether p may perform act on the record; it is false whenever
// CanSee is.
//
// Admins and managers may do anything in their organization except change
// the organization itself, which only an admin may update. The organization
// is only ever read or updated by members (tenants are created by sign-up
// and removed by operators), so every other action on it is refused. Any
// member may update their own user record (name, phone), but only admins and
// managers manage the team. A user's devices and notifications are theirs
// to create, update and delete. Alerts are acknowledged only by the person
// they were sent to, because acknowledging stops the escalation clock on
// that person's behalf. A field tech deletes only photos they took, so a
// job's evidence is not lost to a colleague's clean-up.
func Can(p Principal, act Action, a Anchor) bool {
	if !act.Valid() || !CanSee(p, a) {
		return false
	}
	if a.Kind == KindOrganization {
		return act == ActionRead || (act == ActionUpdate && p.Role == RoleAdmin)
	}
	if p.Role == RoleAdmin || p.Role == RoleManager || act == ActionRead {
		return true
	}
	switch a.Kind {
	case KindUser:
		return act == ActionUpdate && a.Assignee == p.UserID
	case KindDevice, KindNotification:
		return act == ActionCreate || act == ActionUpdate || act == ActionDelete
	case KindPartner:
		return false
	}
	if act == ActionAcknowledge {
		return a.Kind == KindAlert && a.Assignee == p.UserID
	}
	switch p.Role {
	case RoleSales:
		return slices.Contains(salesMay[act], a.Kind)
	case RoleFieldTech:
		if act == ActionDelete && a.Kind == KindPhoto && a.CreatedBy != p.UserID {
			return false
		}
		return slices.Contains(techMay[act], a.Kind)
	}
	return false
}

// Authorize is Can as an error for request handlers and the sync push path.
// A record p cannot see yields CodeNotFound, worded exactly like a missing
// record, so that probing ids never reveals what exists; a visible record
// with a refused action yields CodeForbidden.
func Authorize(p Principal, act Action, a Anchor) error {
	if !CanSee(p, a) {
		return ErrNotFound(kindNoun(a.Kind))
	}
	if !Can(p, act, a) {
		return Errorf(CodeForbidden, "action %q is not allowed on this %s", act, kindNoun(a.Kind))
	}
	return nil
}

// kindNoun turns a kind into words for a message ("campaign enrollment").
func kindNoun(k EntityKind) string {
	if k == "" {
		return "record"
	}
	return strings.ReplaceAll(string(k), "_", " ")
}

// AnchorFor resolves a record's anchor from the record and the lead and
// project it hangs under; either may be nil when the record has none (or is
// that lead or project itself). Storage loads the parents; this keeps the
// question of which field means "owner" in one place.
//
// LeadOwner is the lead's AssignedTo (a lead's own for a Lead), ProjectTech
// the project's AssignedTech (a project's own for a Project), and Assignee
// the field naming the person the record itself belongs to: an
// appointment's AssignedTo, an alert's RecipientID, a device's or a
// notification's UserID, a user's own ID. A nil record has the zero anchor,
// which no one can see.
func AnchorFor(rec Record, lead *Lead, project *Project) Anchor {
	if rec == nil {
		return Anchor{}
	}
	m := rec.Base()
	a := Anchor{OrgID: m.OrgID, Kind: rec.EntityKind(), ID: m.ID, CreatedBy: m.CreatedBy}
	if l, ok := rec.(*Lead); ok {
		lead = l
	}
	if pr, ok := rec.(*Project); ok {
		project = pr
	}
	if lead != nil {
		a.LeadOwner = lead.AssignedTo
	}
	if project != nil {
		a.ProjectTech = project.AssignedTech
	}
	switch r := rec.(type) {
	case *Appointment:
		a.Assignee = r.AssignedTo
	case *Alert:
		a.Assignee = r.RecipientID
	case *Device:
		a.Assignee = r.UserID
	case *Notification:
		a.Assignee = r.UserID
	case *User:
		a.Assignee = r.ID
	}
	return a
}
