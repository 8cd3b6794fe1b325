package domain

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestIntakeValidate(t *testing.T) {
	ok := IntakeRequest{Source: " Web_Form ", FirstName: " Pat ", Email: " Pat@Example.COM ", Phone: "+12485550177"}
	ok.Normalize()
	if err := ok.Validate(); err != nil || ok.Source != "web_form" || ok.Email != "pat@example.com" || ok.FirstName != "Pat" {
		t.Fatalf("valid request: %v (%+v)", err, ok)
	}
	cases := []struct {
		name string
		req  IntakeRequest
		code Code
	}{
		{"unknown source", IntakeRequest{Source: "fax", FirstName: "A", Email: "a@b.co"}, CodeUnknownSource},
		{"no contact", IntakeRequest{Source: "web_form", FirstName: "A"}, CodeMissingContact},
		{"not E.164", IntakeRequest{Source: "web_form", FirstName: "A", Phone: "2485550177"}, CodeInvalidPhone},
		{"no name", IntakeRequest{Source: "web_form", Email: "a@b.co"}, CodeInvalid},
		{"bad email", IntakeRequest{Source: "web_form", FirstName: "A", Email: "Pat <a@b.co>"}, CodeInvalid},
		{"negative money", IntakeRequest{Source: "web_form", FirstName: "A", Email: "a@b.co", Income: -1}, CodeInvalid},
		{"bad answer", IntakeRequest{Source: "web_form", FirstName: "A", Email: "a@b.co", Budget: "lots"}, CodeInvalid},
	}
	for _, tc := range cases {
		if err := tc.req.Validate(); ErrorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	for s, want := range map[string]bool{"+12485550177": true, "+0248555": false, "12485550177": false, "+1248555017a": false, "+1234567": false} {
		if IsE164(s) != want {
			t.Errorf("IsE164(%q) = %v", s, !want)
		}
	}
	l := ok.Lead()
	if l.Status != LeadNew || !ok.SamePerson(l) {
		t.Errorf("lead %+v", l)
	}
	l.Phone = "+12485550100"
	if ok.SamePerson(l) {
		t.Error("another phone is the same person")
	}
}

// FuzzIntake feeds intake bodies through decoding, normalisation and
// validation: nothing panics, and whatever passes has a source intake
// accepts, a way to reach the person and, if any, an E.164 phone.
func FuzzIntake(f *testing.F) {
	f.Add([]byte(`{"source":"web_form","first_name":"Pat","phone":"+12485550177"}`))
	f.Add([]byte(`{"source":"angi","last_name":"Lee","email":"a@b.co","skills":["x"]}`))
	f.Add([]byte(`{"source":"","email":"\u0000@x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r IntakeRequest
		if json.Unmarshal(body, &r) != nil {
			return
		}
		r.Normalize()
		if r.Validate() != nil {
			return
		}
		if !slices.Contains(IntakeSources, r.Source) || (r.Email == "" && r.Phone == "") || (r.Phone != "" && !IsE164(r.Phone)) {
			t.Fatalf("accepted %+v", r)
		}
	})
}
