package sync_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

const testClient = "0d6f4c0a-3b7e-4a51-9d43-2f5b8e1c7a90"

// pushBody builds a push body with the given mutations JSON.
func pushBody(mutations string) string {
	return `{"protocol_version":1,"schema_version":3,"app_version":"2.4.1","client_id":"` + testClient + `","mutations":` + mutations + `}`
}

func TestDecodePushAccepts(t *testing.T) {
	req, err := fsync.DecodePush([]byte(pushBody(`[
		{"id":41,"name":"lead.update","args":{"id":"x","base_version":1,"fields":{"notes":"n"}}},
		{"id":42,"name":"future.mutation","args":{}}]`)))
	if err != nil {
		t.Fatalf("DecodePush: %v", err)
	}
	if req.ClientID != testClient || len(req.Mutations) != 2 || req.Mutations[1].ID != 42 || req.SchemaVersion != 3 {
		t.Fatalf("decoded %+v", req)
	}
	// An empty batch is a valid probe of the device's last mutation id.
	if _, err := fsync.DecodePush([]byte(pushBody(`[]`))); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

func TestDecodePushRejects(t *testing.T) {
	many := make([]string, fsync.MaxMutationsPerPush+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"id":%d,"name":"x","args":{}}`, i+1)
	}
	cases := []struct {
		name  string
		body  string
		code  domain.Code
		field string // a field the error must name, if any
	}{
		{"empty body", ``, domain.CodeMalformedRequest, ""},
		{"not json", `hello`, domain.CodeMalformedRequest, ""},
		{"truncated", `{"protocol_version":1,`, domain.CodeMalformedRequest, ""},
		{"array body", `[]`, domain.CodeMalformedRequest, ""},
		{"trailing object", pushBody(`[]`) + `{}`, domain.CodeMalformedRequest, ""},
		{"trailing bracket", pushBody(`[]`) + `]`, domain.CodeMalformedRequest, ""},
		{"unknown field", strings.Replace(pushBody(`[]`), `{`, `{"extra":1,`, 1), domain.CodeMalformedRequest, "extra"},
		{"client_id wrong type", `{"protocol_version":1,"schema_version":3,"client_id":5,"mutations":[]}`, domain.CodeMalformedRequest, "client_id"},
		{"mutations wrong type", `{"protocol_version":1,"schema_version":3,"client_id":"` + testClient + `","mutations":{}}`, domain.CodeMalformedRequest, "mutations"},
		{"id wrong type", pushBody(`[{"id":"1","name":"x","args":{}}]`), domain.CodeMalformedRequest, "mutations.id"},
		{"id fractional", pushBody(`[{"id":1.5,"name":"x","args":{}}]`), domain.CodeMalformedRequest, "mutations.id"},
		{"mutation unknown key", pushBody(`[{"id":1,"name":"x","args":{},"extra":true}]`), domain.CodeMalformedRequest, "extra"},
		{"missing client_id", `{"protocol_version":1,"schema_version":3,"mutations":[]}`, domain.CodeInvalid, "client_id"},
		{"client_id not a uuid", `{"protocol_version":1,"schema_version":3,"client_id":"phone-1","mutations":[]}`, domain.CodeInvalid, "client_id"},
		{"client_id uppercase", `{"protocol_version":1,"schema_version":3,"client_id":"` + strings.ToUpper(testClient) + `","mutations":[]}`, domain.CodeInvalid, "client_id"},
		{"missing protocol_version", `{"schema_version":3,"client_id":"` + testClient + `","mutations":[]}`, domain.CodeInvalid, "protocol_version"},
		{"missing schema_version", `{"protocol_version":1,"client_id":"` + testClient + `","mutations":[]}`, domain.CodeInvalid, "schema_version"},
		{"missing mutations", `{"protocol_version":1,"schema_version":3,"client_id":"` + testClient + `"}`, domain.CodeInvalid, "mutations"},
		{"null mutations", pushBody(`null`), domain.CodeInvalid, "mutations"},
		{"too many mutations", pushBody(`[` + strings.Join(many, ",") + `]`), domain.CodeInvalid, "mutations"},
		{"non-consecutive ids", pushBody(`[{"id":1,"name":"x","args":{}},{"id":3,"name":"x","args":{}}]`), domain.CodeInvalid, "mutations[1].id"},
		{"descending ids", pushBody(`[{"id":2,"name":"x","args":{}},{"id":1,"name":"x","args":{}}]`), domain.CodeInvalid, "mutations[1].id"},
		{"zero id", pushBody(`[{"id":0,"name":"x","args":{}}]`), domain.CodeInvalid, "mutations[0].id"},
		{"negative id", pushBody(`[{"id":-4,"name":"x","args":{}}]`), domain.CodeInvalid, "mutations[0].id"},
		{"missing name", pushBody(`[{"id":1,"args":{}}]`), domain.CodeInvalid, "mutations[0].name"},
		{"long name", pushBody(`[{"id":1,"name":"` + strings.Repeat("x", 65) + `","args":{}}]`), domain.CodeInvalid, "mutations[0].name"},
		{"missing args", pushBody(`[{"id":1,"name":"x"}]`), domain.CodeInvalid, "mutations[0].args"},
		{"args not an object", pushBody(`[{"id":1,"name":"x","args":[1]}]`), domain.CodeInvalid, "mutations[0].args"},
		{"args null", pushBody(`[{"id":1,"name":"x","args":null}]`), domain.CodeInvalid, "mutations[0].args"},
		{"long app version", strings.Replace(pushBody(`[]`), `2.4.1`, strings.Repeat("9", 65), 1), domain.CodeInvalid, "app_version"},
		{"protocol 2", strings.Replace(pushBody(`[]`), `"protocol_version":1`, `"protocol_version":2`, 1), domain.CodeUpgradeRequired, ""},
		{"schema 0 is missing", strings.Replace(pushBody(`[]`), `"schema_version":3`, `"schema_version":0`, 1), domain.CodeInvalid, "schema_version"},
		{"schema 4", strings.Replace(pushBody(`[]`), `"schema_version":3`, `"schema_version":4`, 1), domain.CodeUpgradeRequired, ""},
		{"future body shape", `{"protocol_version":2,"schema_version":9,"batch":{"client":"x"}}`, domain.CodeUpgradeRequired, ""},
		{"too large", `{"x":"` + strings.Repeat("a", fsync.MaxPushBytes) + `"}`, domain.CodePayloadTooLarge, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fsync.DecodePush([]byte(tc.body))
			requireError(t, err, tc.code, tc.field)
		})
	}
}

func TestDecodePullRejects(t *testing.T) {
	base := `"protocol_version":1,"schema_version":3,"client_id":"` + testClient + `"`
	if req, err := fsync.DecodePull([]byte(`{` + base + `,"cursor":"abc","limit":10,"ack_outcomes_through":4,"repair_kinds":["lead"]}`)); err != nil {
		t.Fatalf("DecodePull: %v", err)
	} else if req.Limit != 10 || req.AckOutcomesThrough != 4 || len(req.RepairKinds) != 1 {
		t.Fatalf("decoded %+v", req)
	}
	cases := []struct {
		name, body string
		code       domain.Code
		field      string
	}{
		{"empty", ``, domain.CodeMalformedRequest, ""},
		{"not json", `{`, domain.CodeMalformedRequest, ""},
		{"unknown field", `{` + base + `,"since":4}`, domain.CodeMalformedRequest, "since"},
		{"limit wrong type", `{` + base + `,"limit":"10"}`, domain.CodeMalformedRequest, "limit"},
		{"cursor wrong type", `{` + base + `,"cursor":12}`, domain.CodeMalformedRequest, "cursor"},
		{"missing client_id", `{"protocol_version":1,"schema_version":3}`, domain.CodeInvalid, "client_id"},
		{"negative limit", `{` + base + `,"limit":-1}`, domain.CodeInvalid, "limit"},
		{"negative ack", `{` + base + `,"ack_outcomes_through":-1}`, domain.CodeInvalid, "ack_outcomes_through"},
		{"unsynced repair kind", `{` + base + `,"repair_kinds":["device"]}`, domain.CodeInvalid, "repair_kinds[0]"},
		{"repeated repair kind", `{` + base + `,"repair_kinds":["lead","lead"]}`, domain.CodeInvalid, "repair_kinds[1]"},
		{"giant cursor", `{` + base + `,"cursor":"` + strings.Repeat("A", fsync.MaxCursorLen+1) + `"}`, domain.CodeInvalid, "cursor"},
		{"protocol 0.5", `{"protocol_version":0.5,"schema_version":3,"client_id":"` + testClient + `"}`, domain.CodeMalformedRequest, "protocol_version"},
		{"old schema", strings.Replace(`{`+base+`}`, `"schema_version":3`, `"schema_version":-1`, 1), domain.CodeUpgradeRequired, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fsync.DecodePull([]byte(tc.body))
			requireError(t, err, tc.code, tc.field)
		})
	}
}

// requireError checks err's code and that it names field (in its message
// or its field list).
func requireError(t *testing.T, err error, code domain.Code, field string) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Fatalf("code = %q, want %q (err: %v)", got, code, err)
	}
	if field == "" {
		return
	}
	named := strings.Contains(domain.ErrorMessage(err), field)
	var de *domain.Error
	if e, ok := err.(*domain.Error); ok {
		de = e
	}
	if de != nil {
		for _, f := range de.Fields {
			named = named || f.Field == field
		}
	}
	if !named {
		t.Fatalf("error %v does not name %q", err, field)
	}
}
