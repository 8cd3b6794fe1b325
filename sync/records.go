package sync

import (
	"github.com/iswitchroofs/fieldsync/domain"
)

var (
	customerFields = []string{
		"first_name", "last_name", "email", "phone", "street", "city", "state", "zip",
		"sms_opt_out", "email_opt_out", "notes", "owner_id",
	}
	projectFields = []string{
		"name", "type", "quote_cents", "contract_cents", "street", "city", "state", "zip",
		"scheduled_for", "notes", "assigned_tech", "sales_rep_id",
	}
)

func recordMutations() []*mutationDef {
	common := []RejectionCode{RejectInvalidArgs, RejectUnknownField, RejectNotFound, RejectForbidden, RejectRecordDeleted}
	return []*mutationDef{{
		info: MutationInfo{
			Name:       "customer.update",
			Summary:    "Change some fields of a customer (field-level merge against base_version). Changing owner_id needs a manager or admin.",
			Args:       updateArgInfo(),
			Fields:     fieldArgs(domain.KindCustomer, customerFields, nil),
			Rejections: common,
			Echo:       "when base_version is current and nothing conflicted",
		},
		apply: func(m *mut) error { return m.applyUpdate(customerUpdateSpec) },
	}, {
		info: MutationInfo{
			Name: "project.update",
			Summary: "Change some fields of a project (field-level merge against base_version). Changing assigned_tech " +
				"or sales_rep_id needs a manager or admin; a tech taken off a project loses it and everything under it.",
			Args:       updateArgInfo(),
			Fields:     fieldArgs(domain.KindProject, projectFields, nil),
			Rejections: common,
			Echo:       "when base_version is current and nothing conflicted",
		},
		apply: func(m *mut) error { return m.applyUpdate(projectUpdateSpec) },
	}, {
		info: MutationInfo{
			Name: "project.set_status",
			Summary: "Move a project through its workflow (domain.ProjectTransition: quoted → approved → scheduled → " +
				"in_progress → completed → invoiced → paid, back from scheduled to approved, cancelled from any state " +
				"before completed; the same status is a no-op). Completing sets completed_at to the server's time.",
			Args: []ArgInfo{
				{Name: "id", Type: "string (UUID)", Required: true},
				{Name: "status", Type: "string", Required: true, Note: "quoted, approved, scheduled, in_progress, completed, invoiced, paid or cancelled"},
				{Name: "base_version", Type: "integer", Note: "optional: the version the device held; lets the server answer with op version"},
			},
			Rejections: append(common, RejectInvalidTransition),
			Echo:       "when base_version is sent and current, except on completion (completed_at is the server's)",
		},
		apply: projectSetStatus,
	}}
}

var customerUpdateSpec = updateSpec{
	kind:   domain.KindCustomer,
	fields: customerFields,
	assign: []string{"owner_id"},
	validate: func(m *mut, rec domain.Record, changed func(string) bool) error {
		cu := rec.(*domain.Customer)
		c := checker{changed: changed}
		c.lengths(cu)
		if blank(cu.FirstName) && blank(cu.LastName) {
			c.addFor([]string{"first_name", "last_name"}, "first_name", "a first or last name is required")
		}
		c.email("email", cu.Email)
		c.phone("phone", cu.Phone)
		if err := c.err(); err != nil {
			return err
		}
		if cu.OwnerID != "" && changed("owner_id") {
			return m.activeUser(cu.OwnerID, "owner_id")
		}
		return nil
	},
}

var projectUpdateSpec = updateSpec{
	kind:   domain.KindProject,
	fields: projectFields,
	assign: []string{"assigned_tech", "sales_rep_id"},
	validate: func(m *mut, rec domain.Record, changed func(string) bool) error {
		p := rec.(*domain.Project)
		c := checker{changed: changed}
		c.lengths(p)
		if blank(p.Name) {
			c.add("name", "is required")
		}
		c.nonNegative("quote_cents", p.QuoteCents)
		c.nonNegative("contract_cents", p.ContractCents)
		if err := c.err(); err != nil {
			return err
		}
		for _, f := range []struct{ name, id string }{{"assigned_tech", p.AssignedTech}, {"sales_rep_id", p.SalesRepID}} {
			if f.id != "" && changed(f.name) {
				if err := m.activeUser(f.id, f.name); err != nil {
					return err
				}
			}
		}
		return nil
	},
}

type projectStatusArgs struct {
	ID          string               `json:"id" sync:"required"`
	Status      domain.ProjectStatus `json:"status" sync:"required"`
	BaseVersion int64                `json:"base_version"`
}

func projectSetStatus(m *mut) error {
	var a projectStatusArgs
	if err := m.decodeArgs(&a); err != nil {
		return err
	}
	rec, _, err := m.find(domain.KindProject, a.ID, domain.ActionSetStatus)
	if err != nil {
		return err
	}
	p := rec.(*domain.Project)
	if err := domain.ProjectTransition(p.Status, a.Status); err != nil {
		return err
	}
	before, current := content(p), p.Version
	p.Status = a.Status
	view := viewIf(p, a.BaseVersion, current)
	if p.Status == domain.ProjectCompleted && p.CompletedAt == nil {
		now := m.tx.Now()
		p.CompletedAt = &now
	}
	return m.update(p, before, view)
}
