package domain

import (
	"fmt"
	"slices"
)

// leadOrder is the sales board, left to right. The index of an open status
// is its position in the pipeline; won and lost close it.
var leadOrder = []LeadStatus{
	LeadNew, LeadContacted, LeadQualified, LeadAppointmentSet,
	LeadInspectionCompleted, LeadQuoteSent, LeadNegotiation, LeadWon, LeadLost,
}

// projectOrder is a job's life, in order, with cancelled last.
var projectOrder = []ProjectStatus{
	ProjectQuoted, ProjectApproved, ProjectScheduled, ProjectInProgress,
	ProjectCompleted, ProjectInvoiced, ProjectPaid, ProjectCancelled,
}

// LeadStatuses lists every lead status in board order (the open columns,
// then won, then lost). The slice is the caller's to keep.
func LeadStatuses() []LeadStatus { return slices.Clone(leadOrder) }

// ProjectStatuses lists every project status in workflow order, cancelled
// last. The slice is the caller's to keep.
func ProjectStatuses() []ProjectStatus { return slices.Clone(projectOrder) }

// Valid reports whether s is a known lead status.
func (s LeadStatus) Valid() bool { return slices.Contains(leadOrder, s) }

// Open reports whether the lead is still in the pipeline (new through
// negotiation), i.e. neither won nor lost.
func (s LeadStatus) Open() bool { return s.Valid() && s != LeadWon && s != LeadLost }

// Valid reports whether s is a known project status.
func (s ProjectStatus) Valid() bool { return slices.Contains(projectOrder, s) }

// LeadTransition says whether a lead may move from one board column to
// another. It returns nil when it may, a CodeInvalid error when either
// status is unknown, and a CodeInvalidTransition error otherwise.
//
// The board follows how reps actually work rather than a strict sequence:
//   - Forward across open columns, skipping any: a rep may book the
//     inspection on the first call.
//   - Back exactly one open column, to undo a mis-drag; further back would
//     rewrite the funnel history that analytics report on.
//   - Won only from quote_sent or negotiation: a sale needs a quote.
//   - Lost from any open column; a lost lead may be reopened, but only to
//     contacted, because reopening means somebody talked to them again.
//   - Won is final: converting created a customer and a project.
//   - The same status is a no-op, not an error, so that a device replaying
//     an edit offline never gets it rejected.
func LeadTransition(from, to LeadStatus) error {
	if !from.Valid() {
		return unknownStatus("lead", from)
	}
	if !to.Valid() {
		return unknownStatus("lead", to)
	}
	if from == to || leadTransitionAllowed(from, to) {
		return nil
	}
	return Errorf(CodeInvalidTransition, "a lead cannot move from %s to %s", from, to)
}

func leadTransitionAllowed(from, to LeadStatus) bool {
	switch {
	case from == LeadLost:
		return to == LeadContacted
	case !from.Open(): // won
		return false
	case to == LeadLost:
		return true
	case to == LeadWon:
		return from == LeadQuoteSent || from == LeadNegotiation
	}
	f, t := slices.Index(leadOrder, from), slices.Index(leadOrder, to)
	return t > f || t == f-1
}

// unknownStatus is CodeInvalid rather than CodeInvalidTransition: the value
// is not a status at all, which is a malformed field, not a workflow refusal.
func unknownStatus[S ~string](entity string, s S) error {
	return Invalid(FieldError{Field: "status", Message: fmt.Sprintf("unknown %s status %q", entity, s)})
}

// projectNext holds every allowed project move, so the workflow reads as
// one table: one step forward; back from scheduled to approved when a date
// falls through; cancelled until the work is done (after that the money is
// owed and the job is closed by invoicing, not cancelling).
var projectNext = map[ProjectStatus][]ProjectStatus{
	ProjectQuoted:     {ProjectApproved, ProjectCancelled},
	ProjectApproved:   {ProjectScheduled, ProjectCancelled},
	ProjectScheduled:  {ProjectInProgress, ProjectApproved, ProjectCancelled},
	ProjectInProgress: {ProjectCompleted, ProjectCancelled},
	ProjectCompleted:  {ProjectInvoiced},
	ProjectInvoiced:   {ProjectPaid},
}

// ProjectTransition says whether a project may move from one status to
// another. It returns nil when it may, a CodeInvalid error when either
// status is unknown, and a CodeInvalidTransition error otherwise. Paid and
// cancelled are terminal. As for leads, the same status is an allowed no-op
// so that replayed offline edits are not rejected.
func ProjectTransition(from, to ProjectStatus) error {
	if !from.Valid() {
		return unknownStatus("project", from)
	}
	if !to.Valid() {
		return unknownStatus("project", to)
	}
	if from == to || slices.Contains(projectNext[from], to) {
		return nil
	}
	return Errorf(CodeInvalidTransition, "a project cannot move from %s to %s", from, to)
}
