package domain

import (
	"net/mail"
	"slices"
	"strings"
	"time"
)

// IntakeSources are the lead sources intake accepts: the web form and the
// ad and lead platforms the seed names.
var IntakeSources = []string{
	"web_form", "website", "google_ads", "facebook_ads", "instagram_ads", "angi", "homeadvisor",
	"thumbtack", "yelp", "nextdoor", "bing_ads", "referral", "phone", "direct_mail",
}

// IntakeRequest is a lead from a web form or an ad platform. Phone is in
// E.164 by the time Validate runs: the HTTP layer normalises it with a
// phone-number library the domain may not import.
type IntakeRequest struct {
	Source        string     `json:"source"`
	ExternalID    string     `json:"external_id"`
	FirstName     string     `json:"first_name"`
	LastName      string     `json:"last_name"`
	Email         string     `json:"email"`
	Phone         string     `json:"phone"`
	Street        string     `json:"street"`
	City          string     `json:"city"`
	State         string     `json:"state"`
	Zip           string     `json:"zip"`
	Notes         string     `json:"notes"`
	PropertyValue int64      `json:"property_value"`
	Income        int64      `json:"income"`
	Engagement    Engagement `json:"engagement"`
	Budget        Budget     `json:"budget"`
	Authority     Authority  `json:"authority"`
	Need          Need       `json:"need"`
	Timeline      Timeline   `json:"timeline"`
	// Skills the job needs, for routing (not stored on the lead).
	Skills []string `json:"skills"`
}

// Normalize trims every text field and lowercases the source and email.
func (r *IntakeRequest) Normalize() {
	for _, f := range []*string{&r.ExternalID, &r.FirstName, &r.LastName, &r.Phone, &r.Street, &r.City, &r.State, &r.Zip, &r.Notes} {
		*f = strings.TrimSpace(*f)
	}
	r.Source = strings.ToLower(strings.TrimSpace(r.Source))
	r.Email = strings.ToLower(strings.TrimSpace(r.Email))
}

// Validate checks an intake request, in the order a client fixes them: an
// unknown source, no way to contact the lead, then field errors. Phone must
// already be E.164.
func (r *IntakeRequest) Validate() error {
	if !slices.Contains(IntakeSources, r.Source) {
		return Errorf(CodeUnknownSource, "source must be one of: %s", strings.Join(IntakeSources, ", "))
	}
	if r.Email == "" && r.Phone == "" {
		return Errorf(CodeMissingContact, "a phone number or an email address is required")
	}
	var bad []FieldError
	if r.FirstName == "" && r.LastName == "" {
		bad = append(bad, FieldError{Field: "first_name", Message: "a first or last name is required"})
	}
	if r.Email != "" {
		if a, err := mail.ParseAddress(r.Email); err != nil || a.Address != r.Email {
			bad = append(bad, FieldError{Field: "email", Message: "is not an email address"})
		}
	}
	if r.Phone != "" && !IsE164(r.Phone) {
		return Errorf(CodeInvalidPhone, "phone must be a valid phone number")
	}
	if len(r.ExternalID) > 200 {
		bad = append(bad, FieldError{Field: "external_id", Message: "is longer than 200 characters"})
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"first_name", r.FirstName, 100}, {"last_name", r.LastName, 100}, {"street", r.Street, 200},
		{"city", r.City, 100}, {"state", r.State, 50}, {"zip", r.Zip, 20}, {"notes", r.Notes, 4000}} {
		if len(f.v) > f.max {
			bad = append(bad, FieldError{Field: f.name, Message: "is too long"})
		}
	}
	if r.PropertyValue < 0 {
		bad = append(bad, FieldError{Field: "property_value", Message: "must not be negative"})
	}
	if r.Income < 0 {
		bad = append(bad, FieldError{Field: "income", Message: "must not be negative"})
	}
	oneOf := func(field, v string, allowed ...string) {
		if v != "" && !slices.Contains(allowed, v) {
			bad = append(bad, FieldError{Field: field, Message: "must be one of: " + strings.Join(allowed, ", ")})
		}
	}
	oneOf("engagement", string(r.Engagement), string(EngagementMultiple), string(EngagementSingle), string(EngagementFormFill))
	oneOf("budget", string(r.Budget), string(BudgetUnknown), string(BudgetEstimated), string(BudgetConfirmed))
	oneOf("authority", string(r.Authority), string(AuthorityUnknown), string(AuthorityInfluencer), string(AuthorityDecisionMaker))
	oneOf("need", string(r.Need), string(NeedExploring), string(NeedWithin3Mo), string(NeedImmediate))
	oneOf("timeline", string(r.Timeline), string(TimelineOver90), string(Timeline30To90), string(TimelineUnder30))
	if len(r.Skills) > 20 {
		bad = append(bad, FieldError{Field: "skills", Message: "has more than 20 entries"})
	}
	if len(bad) > 0 {
		return Invalid(bad...)
	}
	return nil
}

// Lead builds the new lead the request describes (status new, unscored).
func (r *IntakeRequest) Lead() *Lead {
	return &Lead{
		Source: r.Source, ExternalID: r.ExternalID, FirstName: r.FirstName, LastName: r.LastName,
		Email: r.Email, Phone: r.Phone, Street: r.Street, City: r.City, State: r.State, Zip: r.Zip,
		Notes: r.Notes, Status: LeadNew, PropertyValue: r.PropertyValue, Income: r.Income,
		Engagement: r.Engagement, Budget: r.Budget, Authority: r.Authority, Need: r.Need, Timeline: r.Timeline,
	}
}

// SamePerson reports whether a replayed request describes the lead stored
// under its external id: a replay answers that lead, while a different
// person under a reused id is refused.
func (r *IntakeRequest) SamePerson(l *Lead) bool {
	return strings.EqualFold(r.FirstName, l.FirstName) && strings.EqualFold(r.LastName, l.LastName) &&
		strings.EqualFold(r.Email, l.Email) && r.Phone == l.Phone
}

// IsE164 reports whether s has the E.164 shape: "+", a non-zero digit and
// 7 to 14 more digits.
func IsE164(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	return allDigits(s[1:])
}

// APIKeyPrefix starts every intake API key, so a leaked one is easy to
// recognise (secret scanners) and tell apart from a session token.
const APIKeyPrefix = "fsk_"

// APIKey lets a web form or ad platform post leads into one organization.
// Only the SHA-256 of the secret is stored; Hint is its last four
// characters, to tell keys apart in a list.
type APIKey struct {
	ID         string     `json:"id"`
	OrgID      string     `json:"org_id"`
	Name       string     `json:"name"`
	Hint       string     `json:"hint"`
	Hash       string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}
