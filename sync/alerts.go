package sync

import (
	"github.com/iswitchroofs/fieldsync/domain"
)

func alertMutations() []*mutationDef {
	return []*mutationDef{{
		info: MutationInfo{
			Name: "alert.acknowledge",
			Summary: "Acknowledge a new-lead alert, which stops its escalation clock. Only the alert's recipient, or a " +
				"manager or admin, may. The first acknowledgement is kept (acknowledged_at, acknowledged_by); " +
				"acknowledging again is a no-op.",
			Args:       []ArgInfo{{Name: "id", Type: "string (UUID)", Required: true}},
			Rejections: []RejectionCode{RejectInvalidArgs, RejectUnknownField, RejectNotFound, RejectForbidden},
			Echo:       "never (acknowledged_at is the server's time)",
		},
		apply: alertAcknowledge,
	}}
}

func alertAcknowledge(m *mut) error {
	var a idArgs
	if err := m.decodeArgs(&a); err != nil {
		return err
	}
	rec, _, err := m.find(domain.KindAlert, a.ID, domain.ActionAcknowledge)
	if err != nil {
		return err
	}
	al := rec.(*domain.Alert)
	if al.AcknowledgedAt != nil {
		return nil
	}
	before := content(al)
	now := m.tx.Now()
	al.AcknowledgedAt, al.AcknowledgedBy = &now, m.p.UserID
	return m.update(al, before, nil)
}
