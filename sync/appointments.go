package sync

import (
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// maxAppointment bounds an appointment's length: a multi-day installation
// fits, a typo in the year does not.
const maxAppointment = 14 * 24 * time.Hour

var (
	appointmentCreateFields = []string{
		"lead_id", "customer_id", "project_id", "assigned_to", "kind", "title",
		"starts_at", "ends_at", "location", "notes",
	}
	appointmentUpdateFields = []string{"kind", "title", "location", "notes"}
)

func appointmentMutations() []*mutationDef {
	common := []RejectionCode{RejectInvalidArgs, RejectUnknownField, RejectNotFound, RejectForbidden, RejectRecordDeleted}
	statusArgs := []ArgInfo{
		{Name: "id", Type: "string (UUID)", Required: true},
		{Name: "base_version", Type: "integer", Note: "optional: the version the device held; lets the server answer with op version"},
	}
	return []*mutationDef{{
		info: MutationInfo{
			Name: "appointment.create",
			Summary: "Book an appointment under a lead, customer or project (at least one; each must be visible to the user " +
				"and not deleted). assigned_to defaults to the user; booking someone else needs a manager or admin. " +
				"ends_at must be after starts_at (at most 14 days later). Status is scheduled. The assignee must have " +
				"no other scheduled appointment overlapping [starts_at, ends_at).",
			Args: append([]ArgInfo{{Name: "id", Type: "string (UUID)", Required: true}},
				fieldArgs(domain.KindAppointment, appointmentCreateFields, []string{"kind", "starts_at", "ends_at"})...),
			Rejections: append(common, RejectAlreadyExists, RejectAppointmentConflict),
			Echo:       "always (status scheduled and assigned_to = the user when omitted are the client's defaults too)",
		},
		apply: appointmentCreate,
	}, {
		info: MutationInfo{
			Name:       "appointment.update",
			Summary:    "Change an appointment's kind, title, location or notes (field-level merge against base_version). Times move with appointment.reschedule.",
			Args:       updateArgInfo(),
			Fields:     fieldArgs(domain.KindAppointment, appointmentUpdateFields, nil),
			Rejections: common,
			Echo:       "when base_version is current and nothing conflicted",
		},
		apply: func(m *mut) error { return m.applyUpdate(appointmentUpdateSpec) },
	}, {
		info: MutationInfo{
			Name: "appointment.reschedule",
			Summary: "Move a scheduled appointment to new times, and optionally to another assignee (a manager's call). " +
				"The (new) assignee must have no other scheduled appointment overlapping the new times.",
			Args: append(append([]ArgInfo{}, statusArgs[0]),
				ArgInfo{Name: "starts_at", Type: "time (RFC 3339)", Required: true},
				ArgInfo{Name: "ends_at", Type: "time (RFC 3339)", Required: true},
				ArgInfo{Name: "assigned_to", Type: "string (UUID)", Note: "optional: a new assignee"},
				statusArgs[1]),
			Rejections: append(common, RejectInvalidTransition, RejectAppointmentConflict),
			Echo:       "when base_version is sent and current",
		},
		apply: appointmentReschedule,
	}, {
		info: MutationInfo{
			Name:       "appointment.cancel",
			Summary:    "Cancel a scheduled appointment (cancelling a cancelled one is a no-op).",
			Args:       statusArgs,
			Rejections: append(common, RejectInvalidTransition),
			Echo:       "when base_version is sent and current",
		},
		apply: func(m *mut) error { return appointmentSetStatus(m, domain.AppointmentCancelled) },
	}, {
		info: MutationInfo{
			Name:       "appointment.complete",
			Summary:    "Mark a scheduled appointment completed (completing a completed one is a no-op).",
			Args:       statusArgs,
			Rejections: append(common, RejectInvalidTransition),
			Echo:       "when base_version is sent and current",
		},
		apply: func(m *mut) error { return appointmentSetStatus(m, domain.AppointmentCompleted) },
	}}
}

var appointmentUpdateSpec = updateSpec{
	kind:   domain.KindAppointment,
	fields: appointmentUpdateFields,
	validate: func(_ *mut, rec domain.Record, changed func(string) bool) error {
		return checkAppointment(rec.(*domain.Appointment), changed)
	},
}

// checkAppointment checks an appointment (only the changed fields, if
// changed is set).
func checkAppointment(a *domain.Appointment, changed func(string) bool) error {
	c := checker{changed: changed}
	c.lengths(a)
	if blank(a.Kind) {
		c.add("kind", "is required (inspection, estimate, installation, …)")
	}
	checkTimes(&c, a.StartsAt, a.EndsAt)
	return c.err()
}

func checkTimes(c *checker, start, end time.Time) {
	switch {
	case start.IsZero():
		c.add("starts_at", "is required")
	case end.IsZero():
		c.add("ends_at", "is required")
	case !end.After(start):
		c.addFor([]string{"starts_at", "ends_at"}, "ends_at", "must be after starts_at")
	case end.Sub(start) > maxAppointment:
		c.addFor([]string{"starts_at", "ends_at"}, "ends_at", "must be at most 14 days after starts_at")
	}
}

func appointmentCreate(m *mut) error {
	rec, err := m.decodeRecord(domain.KindAppointment, appointmentCreateFields)
	if err != nil {
		return err
	}
	a := rec.(*domain.Appointment)
	a.Status = domain.AppointmentScheduled
	if a.AssignedTo == "" {
		a.AssignedTo = m.p.UserID
	}
	if err := checkAppointment(a, nil); err != nil {
		return err
	}
	if err := m.parents(a.LeadID, a.CustomerID, a.ProjectID); err != nil {
		return err
	}
	anchor, err := m.anchorOf(a)
	if err != nil {
		return err
	}
	if err := m.authorize(domain.ActionCreate, anchor); err != nil {
		return err
	}
	if a.AssignedTo != m.p.UserID {
		if err := m.authorize(domain.ActionAssign, anchor); err != nil {
			return err
		}
	}
	if err := m.activeUser(a.AssignedTo, "assigned_to"); err != nil {
		return err
	}
	if err := m.noOverlap(a.AssignedTo, a.StartsAt, a.EndsAt, a.ID); err != nil {
		return err
	}
	return m.create(a, content(a))
}

// parents checks the lead, customer and project a new record names: at
// least one, each visible and not deleted.
func (m *mut) parents(leadID, customerID, projectID string) error {
	if leadID == "" && customerID == "" && projectID == "" {
		return fieldError("lead_id", "one of lead_id, customer_id or project_id is required")
	}
	for _, p := range []struct {
		kind      domain.EntityKind
		id, field string
	}{
		{domain.KindLead, leadID, "lead_id"},
		{domain.KindCustomer, customerID, "customer_id"},
		{domain.KindProject, projectID, "project_id"},
	} {
		if p.id == "" {
			continue
		}
		if _, err := m.parent(p.kind, p.id, p.field); err != nil {
			return err
		}
	}
	return nil
}

// overlap is one clash in an appointment_conflict's details. Only times
// are told, not what the other appointment is: it may be outside the
// user's scope.
type overlap struct {
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
}

// noOverlap refuses a booking that overlaps another scheduled appointment
// of the same person. The store reads under the organization's lock, so
// two devices booking the same slot cannot both pass.
func (m *mut) noOverlap(userID string, start, end time.Time, excludeID string) error {
	clashes, err := m.tx.OverlappingAppointments(userID, start, end, excludeID)
	if err != nil {
		return err
	}
	if len(clashes) == 0 {
		return nil
	}
	details := struct {
		Conflicts []overlap `json:"conflicts"`
	}{}
	for _, c := range clashes {
		details.Conflicts = append(details.Conflicts, overlap{StartsAt: c.StartsAt, EndsAt: c.EndsAt})
	}
	return reject(RejectAppointmentConflict, details,
		"the assignee already has an appointment at this time (%d overlapping)", len(clashes))
}

type rescheduleArgs struct {
	ID          string    `json:"id" sync:"required"`
	StartsAt    time.Time `json:"starts_at" sync:"required"`
	EndsAt      time.Time `json:"ends_at" sync:"required"`
	AssignedTo  string    `json:"assigned_to"`
	BaseVersion int64     `json:"base_version"`
}

func appointmentReschedule(m *mut) error {
	var args rescheduleArgs
	if err := m.decodeArgs(&args); err != nil {
		return err
	}
	var c checker
	checkTimes(&c, args.StartsAt, args.EndsAt)
	if err := c.err(); err != nil {
		return err
	}
	rec, anchor, err := m.find(domain.KindAppointment, args.ID, domain.ActionUpdate)
	if err != nil {
		return err
	}
	a := rec.(*domain.Appointment)
	if a.Status != domain.AppointmentScheduled {
		return domain.Errorf(domain.CodeInvalidTransition, "only a scheduled appointment can be rescheduled; this one is %s", a.Status)
	}
	before, current := content(a), a.Version
	if args.AssignedTo != "" && args.AssignedTo != a.AssignedTo {
		if err := m.authorize(domain.ActionAssign, anchor); err != nil {
			return err
		}
		if err := m.activeUser(args.AssignedTo, "assigned_to"); err != nil {
			return err
		}
		a.AssignedTo = args.AssignedTo
	}
	a.StartsAt, a.EndsAt = args.StartsAt, args.EndsAt
	if err := m.noOverlap(a.AssignedTo, a.StartsAt, a.EndsAt, a.ID); err != nil {
		return err
	}
	return m.update(a, before, viewIf(a, args.BaseVersion, current))
}

type appointmentStatusArgs struct {
	ID          string `json:"id" sync:"required"`
	BaseVersion int64  `json:"base_version"`
}

// appointmentSetStatus closes a scheduled appointment. It needs
// ActionUpdate, not ActionSetStatus: cancelling or completing a visit is an
// edit of the calendar entry, which reps may make (they may even delete
// it), while the domain's set-status grants for reps cover leads only.
func appointmentSetStatus(m *mut, to domain.AppointmentStatus) error {
	var args appointmentStatusArgs
	if err := m.decodeArgs(&args); err != nil {
		return err
	}
	rec, _, err := m.find(domain.KindAppointment, args.ID, domain.ActionUpdate)
	if err != nil {
		return err
	}
	a := rec.(*domain.Appointment)
	if a.Status == to {
		return nil // a replayed or duplicate close changes nothing
	}
	if a.Status != domain.AppointmentScheduled {
		return domain.Errorf(domain.CodeInvalidTransition, "an appointment cannot move from %s to %s", a.Status, to)
	}
	before, current := content(a), a.Version
	a.Status = to
	return m.update(a, before, viewIf(a, args.BaseVersion, current))
}
