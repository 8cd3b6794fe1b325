package domain

import (
	"slices"
	"strings"
	"testing"
)

// In the matrices below a row is the "from" status and a column the "to"
// status, both in the order written in the header. "=" is the allowed
// no-op, "Y" an allowed move and "." a refused one. They are written out by
// hand from product.md so that a change to the rules has to change them too.

var leadMatrixColumns = []LeadStatus{
	LeadNew, LeadContacted, LeadQualified, LeadAppointmentSet,
	LeadInspectionCompleted, LeadQuoteSent, LeadNegotiation, LeadWon, LeadLost,
}

var leadMatrix = map[LeadStatus]string{
	//                        new con qua app ins quo neg won lost
	LeadNew:                 "=   Y   Y   Y   Y   Y   Y   .   Y",
	LeadContacted:           "Y   =   Y   Y   Y   Y   Y   .   Y",
	LeadQualified:           ".   Y   =   Y   Y   Y   Y   .   Y",
	LeadAppointmentSet:      ".   .   Y   =   Y   Y   Y   .   Y",
	LeadInspectionCompleted: ".   .   .   Y   =   Y   Y   .   Y",
	LeadQuoteSent:           ".   .   .   .   Y   =   Y   Y   Y",
	LeadNegotiation:         ".   .   .   .   .   Y   =   Y   Y",
	LeadWon:                 ".   .   .   .   .   .   .   =   .",
	LeadLost:                ".   Y   .   .   .   .   .   .   =",
}

var projectMatrixColumns = []ProjectStatus{
	ProjectQuoted, ProjectApproved, ProjectScheduled, ProjectInProgress,
	ProjectCompleted, ProjectInvoiced, ProjectPaid, ProjectCancelled,
}

var projectMatrix = map[ProjectStatus]string{
	//                  quo app sch inp com inv paid can
	ProjectQuoted:     "=   Y   .   .   .   .   .   Y",
	ProjectApproved:   ".   =   Y   .   .   .   .   Y",
	ProjectScheduled:  ".   Y   =   Y   .   .   .   Y",
	ProjectInProgress: ".   .   .   =   Y   .   .   Y",
	ProjectCompleted:  ".   .   .   .   =   Y   .   .",
	ProjectInvoiced:   ".   .   .   .   .   =   Y   .",
	ProjectPaid:       ".   .   .   .   .   .   =   .",
	ProjectCancelled:  ".   .   .   .   .   .   .   =",
}

func TestLeadTransitionMatrix(t *testing.T) {
	t.Parallel()
	checkMatrix(t, LeadStatuses(), leadMatrixColumns, leadMatrix, LeadTransition, 81)
}

func TestProjectTransitionMatrix(t *testing.T) {
	t.Parallel()
	checkMatrix(t, ProjectStatuses(), projectMatrixColumns, projectMatrix, ProjectTransition, 64)
}

// checkMatrix runs transition over every pair of columns and compares each
// answer with its cell.
func checkMatrix[S ~string](t *testing.T, listed, columns []S, matrix map[S]string, transition func(from, to S) error, pairs int) {
	t.Helper()
	if !slices.Equal(listed, columns) {
		t.Fatalf("the package lists %q, the matrix has %q", listed, columns)
	}
	checked := 0
	for _, from := range columns {
		cells := strings.Fields(matrix[from])
		if len(cells) != len(columns) {
			t.Fatalf("matrix row %s has %d cells", from, len(cells))
		}
		for i, to := range columns {
			checkTransition(t, string(from), string(to), cells[i], transition(from, to))
			checked++
		}
	}
	if checked != pairs {
		t.Fatalf("checked %d pairs, want %d", checked, pairs)
	}
}

func checkTransition(t *testing.T, from, to, cell string, err error) {
	t.Helper()
	switch cell {
	case "=", "Y":
		if from == to && cell != "=" || from != to && cell == "=" {
			t.Fatalf("matrix typo at %s → %s", from, to)
		}
		if err != nil {
			t.Errorf("%s → %s: got %v, want allowed", from, to, err)
		}
	case ".":
		if !IsCode(err, CodeInvalidTransition) {
			t.Errorf("%s → %s: got %v, want %s", from, to, err, CodeInvalidTransition)
			return
		}
		msg := ErrorMessage(err)
		if !strings.Contains(msg, from) || !strings.Contains(msg, to) {
			t.Errorf("%s → %s: message %q does not name both statuses", from, to, msg)
		}
	default:
		t.Fatalf("matrix cell %q at %s → %s", cell, from, to)
	}
}

func TestTransitionUnknownStatus(t *testing.T) {
	t.Parallel()
	leadCases := [][2]LeadStatus{
		{"", LeadNew},
		{LeadNew, ""},
		{"archived", LeadContacted},
		{LeadContacted, "Won"},
		{"bogus", "bogus"},
	}
	for _, c := range leadCases {
		err := LeadTransition(c[0], c[1])
		if !IsCode(err, CodeInvalid) {
			t.Errorf("LeadTransition(%q, %q) = %v, want %s", c[0], c[1], err, CodeInvalid)
		}
	}
	projectCases := [][2]ProjectStatus{
		{"", ProjectQuoted},
		{ProjectQuoted, ""},
		{"on_hold", ProjectApproved},
		{ProjectInProgress, "done"},
		{"bogus", "bogus"},
	}
	for _, c := range projectCases {
		err := ProjectTransition(c[0], c[1])
		if !IsCode(err, CodeInvalid) {
			t.Errorf("ProjectTransition(%q, %q) = %v, want %s", c[0], c[1], err, CodeInvalid)
		}
	}
	if msg := ErrorMessage(LeadTransition(LeadNew, "")); !strings.Contains(msg, `""`) {
		t.Errorf("message %q should show the empty status", msg)
	}
}

func TestStatusPredicates(t *testing.T) {
	t.Parallel()
	open := map[LeadStatus]bool{
		LeadNew: true, LeadContacted: true, LeadQualified: true, LeadAppointmentSet: true,
		LeadInspectionCompleted: true, LeadQuoteSent: true, LeadNegotiation: true,
		LeadWon: false, LeadLost: false,
	}
	for _, s := range LeadStatuses() {
		if !s.Valid() {
			t.Errorf("%q.Valid() = false", s)
		}
		if s.Open() != open[s] {
			t.Errorf("%q.Open() = %v, want %v", s, s.Open(), open[s])
		}
	}
	for _, s := range []LeadStatus{"", "NEW", "closed", " new"} {
		if s.Valid() || s.Open() {
			t.Errorf("%q: Valid %v Open %v, want both false", s, s.Valid(), s.Open())
		}
	}
	for _, s := range ProjectStatuses() {
		if !s.Valid() {
			t.Errorf("%q.Valid() = false", s)
		}
	}
	for _, s := range []ProjectStatus{"", "QUOTED", "on_hold"} {
		if s.Valid() {
			t.Errorf("%q.Valid() = true", s)
		}
	}
	// The lists are copies: a caller editing one must not change the rules.
	l := LeadStatuses()
	l[0] = "mutated"
	p := ProjectStatuses()
	p[0] = "mutated"
	if !LeadNew.Valid() || !ProjectQuoted.Valid() {
		t.Fatal("editing a returned list changed the package's statuses")
	}
}
