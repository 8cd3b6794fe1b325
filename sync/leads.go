package sync

import (
	"github.com/iswitchroofs/fieldsync/domain"
)

// leadFields are the lead fields a device may set on create and change on
// update. Status moves only through lead.set_status (the workflow), and
// the score, temperature and breakdown are the server's (rescored on every
// change of an input); routing_rule is the router's.
var leadFields = []string{
	"source", "first_name", "last_name", "email", "phone", "street", "city", "state", "zip",
	"notes", "property_value", "income", "engagement", "response_minutes", "budget",
	"authority", "need", "timeline", "assigned_to", "white_glove",
}

// leadAssignFields need ActionAssign: who works a lead, and the white-glove
// flag that routes it to the top performers, are a manager's decisions.
var leadAssignFields = []string{"assigned_to", "white_glove"}

func leadMutations() []*mutationDef {
	common := []RejectionCode{RejectInvalidArgs, RejectUnknownField}
	return []*mutationDef{{
		info: MutationInfo{
			Name: "lead.create",
			Summary: "Create a lead with a client-generated id. A first or last name and a phone or email are required. " +
				"It starts in status new and is scored by the server. " +
				"A sales rep's lead is assigned to the rep (assigned_to may be omitted or the rep's own id); " +
				"managers and admins may assign it to any active team member or leave it unassigned. " +
				"white_glove (schema 2) may be set only by managers and admins. source defaults to \"mobile\". " +
				"A lead assigned to someone other than its creator, or to nobody, starts the 2-minute alert chain; " +
				"a lead its creator keeps does not (they have it in hand).",
			Args: append([]ArgInfo{{Name: "id", Type: "string (UUID)", Required: true}},
				fieldArgs(domain.KindLead, leadFields, nil)...),
			Rejections: append(common, RejectForbidden, RejectAlreadyExists),
			Echo:       "never (the server scores the lead): the device gets the full record",
		},
		apply: leadCreate,
	}, {
		info: MutationInfo{
			Name: "lead.update",
			Summary: "Change some fields of a lead (field-level merge against base_version). " +
				"Changing assigned_to or white_glove needs a manager or admin; a reassigned lead leaves the old rep's devices " +
				"and reaches the new rep's with everything under it. Any change of a scoring input rescores the lead.",
			Args:       updateArgInfo(),
			Fields:     fieldArgs(domain.KindLead, leadFields, nil),
			Rejections: append(common, RejectNotFound, RejectForbidden, RejectRecordDeleted),
			Echo:       "when base_version is current, nothing conflicted and the score did not change",
		},
		apply: func(m *mut) error { return m.applyUpdate(leadUpdateSpec) },
	}, {
		info: MutationInfo{
			Name: "lead.set_status",
			Summary: "Move a lead on the sales board (rules of domain.LeadTransition: forward across open columns, " +
				"back one, won only from quote_sent or negotiation, lost from any open column, a lost lead reopens " +
				"only to contacted, won is final, the same status is a no-op). lost_reason is allowed only with " +
				"status lost; reopening a lost lead clears it.",
			Args: []ArgInfo{
				{Name: "id", Type: "string (UUID)", Required: true},
				{Name: "status", Type: "string", Required: true, Note: "new, contacted, qualified, appointment_scheduled, inspection_completed, quote_sent, negotiation, won or lost"},
				{Name: "lost_reason", Type: "string", Note: "only with status lost"},
				{Name: "base_version", Type: "integer", Note: "optional: the version the device held; lets the server answer with op version"},
			},
			Rejections: append(common, RejectNotFound, RejectForbidden, RejectRecordDeleted, RejectInvalidTransition),
			Echo:       "when base_version is sent and current, and the score did not change",
		},
		apply: leadSetStatus,
	}}
}

var leadUpdateSpec = updateSpec{
	kind:     domain.KindLead,
	fields:   leadFields,
	assign:   leadAssignFields,
	validate: validateLead,
	derive:   rescore,
}

func rescore(m *mut, rec domain.Record) { rec.(*domain.Lead).Rescore(m.settings) }

func leadCreate(m *mut) error {
	rec, err := m.decodeRecord(domain.KindLead, leadFields)
	if err != nil {
		return err
	}
	l := rec.(*domain.Lead)
	l.Status = domain.LeadNew
	if l.Source == "" {
		l.Source = "mobile"
	}
	// Assigning to anyone but oneself, or flagging white-glove, is a
	// manager's call: ask the rules whether the caller may assign a lead
	// it owns, before the lead's own anchor (which names the other
	// assignee) would make it invisible and the answer a confusing
	// not_found.
	if (l.AssignedTo != "" && l.AssignedTo != m.p.UserID) || l.WhiteGlove {
		own := domain.Anchor{OrgID: m.p.OrgID, Kind: domain.KindLead, ID: l.ID, LeadOwner: m.p.UserID}
		if !domain.Can(m.p, domain.ActionAssign, own) {
			return reject(RejectForbidden, nil, "only a manager may assign a lead to someone else or flag it white-glove")
		}
	}
	if l.AssignedTo == "" && m.p.Role == domain.RoleSales {
		l.AssignedTo = m.p.UserID
	}
	if err := validateLead(m, l, allChanged); err != nil {
		return err
	}
	if err := m.authorize(domain.ActionCreate, domain.AnchorFor(l, nil, nil)); err != nil {
		return err
	}
	view := content(l)
	l.Rescore(m.settings)
	if err := m.create(l, view); err != nil {
		return err
	}
	// A new lead starts its 2-minute alert chain (jobs/alerting) unless
	// its creator keeps it: a rep who typed in a lead from a doorstep has
	// it in hand, and paging them (then their manager) about it would be
	// noise that also spoils the response-time figures.
	if l.AssignedTo == m.p.UserID {
		return nil
	}
	for _, msg := range domain.LeadAlertMessages(l) {
		if err := m.tx.Enqueue(msg); err != nil {
			return err
		}
	}
	return nil
}

type leadStatusArgs struct {
	ID          string            `json:"id" sync:"required"`
	Status      domain.LeadStatus `json:"status" sync:"required"`
	LostReason  *string           `json:"lost_reason"`
	BaseVersion int64             `json:"base_version"`
}

func leadSetStatus(m *mut) error {
	var a leadStatusArgs
	if err := m.decodeArgs(&a); err != nil {
		return err
	}
	if a.LostReason != nil && a.Status != domain.LeadLost {
		return fieldError("lost_reason", "is allowed only with status lost")
	}
	rec, _, err := m.find(domain.KindLead, a.ID, domain.ActionSetStatus)
	if err != nil {
		return err
	}
	l := rec.(*domain.Lead)
	if err := domain.LeadTransition(l.Status, a.Status); err != nil {
		return err
	}
	before, current := content(l), l.Version
	if l.Status == domain.LeadLost && a.Status != domain.LeadLost {
		l.LostReason = "" // reopened: the old reason no longer holds
	}
	l.Status = a.Status
	if a.LostReason != nil {
		l.LostReason = *a.LostReason
	}
	c := checker{changed: func(f string) bool { return f == "lost_reason" }}
	c.lengths(l)
	if err := c.err(); err != nil {
		return err
	}
	view := viewIf(l, a.BaseVersion, current)
	l.Rescore(m.settings)
	return m.update(l, before, view)
}

// validateLead checks a lead after a create or a merge: a name and a way to
// reach them, known answers for the scoring inputs, no negative money, an
// active assignee.
func validateLead(m *mut, rec domain.Record, changed func(string) bool) error {
	l := rec.(*domain.Lead)
	c := checker{changed: changed}
	c.lengths(l)
	c.person(l.FirstName, l.LastName, l.Email, l.Phone)
	c.nonNegative("property_value", l.PropertyValue)
	c.nonNegative("income", l.Income)
	if l.ResponseMinutes != nil {
		c.nonNegative("response_minutes", int64(*l.ResponseMinutes))
	}
	c.oneOf("engagement", string(l.Engagement), "", string(domain.EngagementMultiple),
		string(domain.EngagementSingle), string(domain.EngagementFormFill))
	c.oneOf("budget", string(l.Budget), "", string(domain.BudgetUnknown),
		string(domain.BudgetEstimated), string(domain.BudgetConfirmed))
	c.oneOf("authority", string(l.Authority), "", string(domain.AuthorityUnknown),
		string(domain.AuthorityInfluencer), string(domain.AuthorityDecisionMaker))
	c.oneOf("need", string(l.Need), "", string(domain.NeedExploring),
		string(domain.NeedWithin3Mo), string(domain.NeedImmediate))
	c.oneOf("timeline", string(l.Timeline), "", string(domain.TimelineOver90),
		string(domain.Timeline30To90), string(domain.TimelineUnder30))
	if err := c.err(); err != nil {
		return err
	}
	if l.AssignedTo != "" && changed("assigned_to") {
		return m.activeUser(l.AssignedTo, "assigned_to")
	}
	return nil
}

// allChanged is the changed-fields answer for a new record.
func allChanged(string) bool { return true }

// fieldArgs documents entity fields used as arguments.
func fieldArgs(kind domain.EntityKind, names, required []string) []ArgInfo {
	kf := fieldsOf(kind)
	out := make([]ArgInfo, 0, len(names))
	for _, n := range names {
		fi := kf.byName[n]
		req := false
		for _, r := range required {
			req = req || r == n
		}
		out = append(out, ArgInfo{Name: n, Type: wireType(fi), Required: req, Since: fieldSince(kind, n)})
	}
	return out
}

func updateArgInfo() []ArgInfo {
	return []ArgInfo{
		{Name: "id", Type: "string (UUID)", Required: true},
		{Name: "base_version", Type: "integer", Required: true, Note: "the record's version the device held when the user made the change"},
		{Name: "fields", Type: "object", Required: true, Note: "only the changed fields, by name (see Fields); null clears a nullable field"},
	}
}
