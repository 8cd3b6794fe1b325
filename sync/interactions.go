package sync

import (
	"github.com/iswitchroofs/fieldsync/domain"
)

var interactionFields = []string{
	"lead_id", "customer_id", "project_id", "kind", "direction", "subject", "body",
	"occurred_at", "duration_seconds",
}

func interactionMutations() []*mutationDef {
	return []*mutationDef{{
		info: MutationInfo{
			Name: "interaction.log",
			Summary: "Log a call, text, email, meeting or note about a lead, customer or project (at least one; each " +
				"visible to the user and not deleted). user_id is the user. Logging on a lead (lead_id) counts toward " +
				"its interactions and rescores it.",
			Args: append([]ArgInfo{{Name: "id", Type: "string (UUID)", Required: true}},
				fieldArgs(domain.KindInteraction, interactionFields, []string{"kind", "occurred_at"})...),
			Rejections: []RejectionCode{RejectInvalidArgs, RejectUnknownField, RejectNotFound, RejectForbidden,
				RejectRecordDeleted, RejectAlreadyExists},
			Echo: "the interaction always (user_id = the user is the client's default too); the lead it rescored never",
		},
		apply: interactionLog,
	}}
}

func interactionLog(m *mut) error {
	rec, err := m.decodeRecord(domain.KindInteraction, interactionFields)
	if err != nil {
		return err
	}
	in := rec.(*domain.Interaction)
	in.UserID = m.p.UserID
	var c checker
	c.lengths(in)
	c.oneOf("kind", string(in.Kind), string(domain.InteractionCall), string(domain.InteractionSMS),
		string(domain.InteractionEmail), string(domain.InteractionMeeting), string(domain.InteractionNote))
	c.oneOf("direction", in.Direction, "", "inbound", "outbound")
	if in.OccurredAt.IsZero() {
		c.add("occurred_at", "is required")
	}
	c.nonNegative("duration_seconds", int64(in.DurationSeconds))
	if err := c.err(); err != nil {
		return err
	}
	if err := m.parents(in.LeadID, in.CustomerID, in.ProjectID); err != nil {
		return err
	}
	anchor, err := m.anchorOf(in)
	if err != nil {
		return err
	}
	if err := m.authorize(domain.ActionCreate, anchor); err != nil {
		return err
	}
	if err := m.create(in, content(in)); err != nil {
		return err
	}
	if in.LeadID == "" {
		return nil
	}
	// The count is a scoring input: the lead is rescored with it, in the
	// same transaction, so score and count never disagree on any device.
	lead, err := findAs[*domain.Lead](m.tx, domain.KindLead, in.LeadID)
	if err != nil || lead == nil {
		return err
	}
	lead.InteractionCount++
	lead.Rescore(m.settings)
	return m.derived(lead)
}
