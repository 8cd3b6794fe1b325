package sync

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/iswitchroofs/fieldsync/domain"
)

// TestSchemaHistoryNamesRealFields keeps the declarative history honest: a
// typo there would silently send a field to apps that do not know it.
func TestSchemaHistoryNamesRealFields(t *testing.T) {
	for _, c := range SchemaHistory() {
		if c.Since < 2 || c.Since > SchemaVersion {
			t.Errorf("%s %v: since %d outside 2..%d", c.Kind, c.Fields, c.Since, SchemaVersion)
		}
		if !domain.IsSynced(c.Kind) {
			t.Errorf("%s is not a synced kind", c.Kind)
		}
		for _, f := range c.Fields {
			if _, ok := fieldsOf(c.Kind).byName[f]; !ok {
				t.Errorf("%s has no field %q", c.Kind, f)
			}
		}
	}
	if MinSchemaVersion > SchemaVersion-2 {
		t.Errorf("schemas served %d..%d: the protocol promises two back", MinSchemaVersion, SchemaVersion)
	}
}

func TestStripForSchema(t *testing.T) {
	lead := json.RawMessage(`{"id":"x","white_glove":true,"routing_rule":"top","score_breakdown":{"total":3},"score":3}`)
	keys := func(raw json.RawMessage) []string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return sortedKeys(m)
	}
	for _, tc := range []struct {
		schema int
		want   []string
	}{
		{1, []string{"id", "score"}},
		{2, []string{"id", "routing_rule", "score", "white_glove"}},
		{3, []string{"id", "routing_rule", "score", "score_breakdown", "white_glove"}},
	} {
		if got := keys(stripForSchema(domain.KindLead, lead, tc.schema)); !slices.Equal(got, tc.want) {
			t.Errorf("schema %d: keys %v, want %v", tc.schema, got, tc.want)
		}
	}
	// The current schema gets the stored bytes as they are.
	if got := stripForSchema(domain.KindLead, lead, SchemaVersion); string(got) != string(lead) {
		t.Errorf("current schema payload changed: %s", got)
	}
	// A kind without history is never parsed.
	user := json.RawMessage(`{"id":"u"}`)
	if got := stripForSchema(domain.KindUser, user, 1); string(got) != string(user) {
		t.Errorf("user payload changed: %s", got)
	}
}

// TestCatalogueFieldsExist checks that every field a mutation takes is a
// field of its entity, so a rename in domain breaks this test rather than
// a device.
func TestCatalogueFieldsExist(t *testing.T) {
	specs := map[domain.EntityKind][][]string{
		domain.KindLead:        {leadFields, leadAssignFields},
		domain.KindCustomer:    {customerFields},
		domain.KindProject:     {projectFields},
		domain.KindAppointment: {appointmentCreateFields, appointmentUpdateFields},
		domain.KindInteraction: {interactionFields},
		domain.KindPhoto:       {photoCreateFields, photoUpdateFields},
	}
	for kind, lists := range specs {
		for _, list := range lists {
			for _, f := range list {
				if _, ok := fieldsOf(kind).byName[f]; !ok {
					t.Errorf("%s has no field %q", kind, f)
				}
				if slices.Contains(metaFields, f) {
					t.Errorf("%s: mutations may not set header field %q", kind, f)
				}
			}
		}
	}
	names := map[string]bool{}
	for _, m := range Catalogue() {
		names[m.Name] = true
		if m.Summary == "" || len(m.Args) == 0 || len(m.Rejections) == 0 || m.Echo == "" {
			t.Errorf("%s is not fully documented: %+v", m.Name, m)
		}
	}
	for _, want := range []string{
		"lead.create", "lead.update", "lead.set_status", "customer.update", "project.update", "project.set_status",
		"appointment.create", "appointment.update", "appointment.reschedule", "appointment.cancel", "appointment.complete",
		"interaction.log", "photo.create", "photo.update", "photo.delete", "alert.acknowledge",
	} {
		if !names[want] {
			t.Errorf("mutation %s is not registered", want)
		}
	}
}

func row(seq int64, kind domain.EntityKind, id string, op domain.ChangeOp, origin domain.ChangeOrigin) domain.ChangeRow {
	return domain.ChangeRow{Seq: seq, Kind: kind, EntityID: id, Op: op, Version: seq,
		Payload: json.RawMessage(`{"id":"` + id + `","white_glove":true}`), Origin: origin}
}

func TestFold(t *testing.T) {
	const me = "client-me"
	echo := domain.ChangeOrigin{ClientID: me, MutationID: 1, EchoOnly: true}
	notEcho := domain.ChangeOrigin{ClientID: me, MutationID: 2}
	other := domain.ChangeOrigin{ClientID: "client-other", MutationID: 5, EchoOnly: true}
	rows := []domain.ChangeRow{
		row(1, domain.KindPhoto, "p1", domain.OpUpsert, other),
		row(1, domain.KindLead, "l1", domain.OpUpsert, other),
		row(2, domain.KindLead, "l1", domain.OpUpsert, echo),    // someone else's change precedes: put
		row(3, domain.KindLead, "l2", domain.OpUpsert, echo),    // own echo only: version
		row(4, domain.KindLead, "l3", domain.OpUpsert, notEcho), // own, server changed more: put
		row(5, domain.KindAppointment, "a1", domain.OpDelete, echo),
		row(5, domain.KindLead, "l4", domain.OpRevoke, domain.ChangeOrigin{}),
		row(6, domain.KindLead, "l5", domain.OpGrant, echo), // grants are never echoes
		row(7, domain.KindDevice, "d1", domain.OpUpsert, other),
		row(8, domain.KindPhoto, "p1", domain.OpDelete, other),
	}
	got := fold(rows, me, 1)
	type short struct {
		op   string
		kind domain.EntityKind
		id   string
	}
	var gotShort []short
	for _, c := range got {
		gotShort = append(gotShort, short{c.Op, c.Kind, c.ID})
		if c.Op == OpPut && string(c.Data) != `{"id":"`+c.ID+`"}` {
			t.Errorf("%s %s data %s: want schema-1 fields only", c.Kind, c.ID, c.Data)
		}
		if c.Op != OpPut && c.Data != nil {
			t.Errorf("%s %s %s carries data", c.Op, c.Kind, c.ID)
		}
	}
	want := []short{
		{OpPut, domain.KindLead, "l1"},
		{OpVersion, domain.KindLead, "l2"},
		{OpPut, domain.KindLead, "l3"},
		{OpPut, domain.KindLead, "l5"},
		{OpDelete, domain.KindPhoto, "p1"},       // children's deletes first
		{OpDelete, domain.KindAppointment, "a1"}, // (photo after appointment in SyncedKinds)
		{OpDelete, domain.KindLead, "l4"},
	}
	if !slices.Equal(gotShort, want) {
		t.Fatalf("fold:\n got %v\nwant %v", gotShort, want)
	}
	for _, c := range got {
		if (c.Op == OpVersion) != (c.MutationID != 0) || (c.Op == OpVersion && c.MutationID != 1) {
			t.Errorf("%s %s %s: mutation_id %d", c.Op, c.Kind, c.ID, c.MutationID)
		}
	}
}

func TestOutcomeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code RejectionCode
	}{
		{domain.Invalid(domain.FieldError{Field: "x", Message: "bad"}), RejectInvalidArgs},
		{domain.ErrNotFound("lead"), RejectNotFound},
		{domain.Errorf(domain.CodeForbidden, "no"), RejectForbidden},
		{domain.Errorf(domain.CodeInvalidTransition, "no"), RejectInvalidTransition},
		{domain.Errorf(domain.CodeConflict, "taken"), RejectAlreadyExists},
		{domain.Errorf(domain.CodeInternal, "bug"), RejectInternal},
		{json.Unmarshal([]byte("{"), new(int)), RejectInternal},
		{unknownField("fields.x"), RejectUnknownField},
		{deleted(domain.KindLead), RejectRecordDeleted},
	} {
		code, msg, _ := outcomeOf(tc.err)
		if code != tc.code || msg == "" {
			t.Errorf("outcomeOf(%v) = %q %q, want %q", tc.err, code, msg, tc.code)
		}
	}
	if _, msg, _ := outcomeOf(json.Unmarshal([]byte("{"), new(int))); msg != internalMessage {
		t.Errorf("an internal error's cause leaked: %q", msg)
	}
}
