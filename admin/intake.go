package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nyaruka/phonenumbers"

	"github.com/iswitchroofs/fieldsync/domain"
)

// HashAPIKey is how a key's secret is stored and looked up.
func HashAPIKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// newAPIKeySecret makes a key: the prefix and 32 random bytes.
func newAPIKeySecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return domain.APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// apiKey authenticates an intake request by its API key.
func (a *api) apiKey(c *fiber.Ctx) (*domain.APIKey, error) {
	h := c.Get(fiber.HeaderAuthorization)
	scheme, secret, _ := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if h == "" {
		return nil, domain.Errorf(domain.CodeUnauthorized, "send the organization's API key: Authorization: Bearer fsk_…")
	}
	if !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(secret, domain.APIKeyPrefix) {
		return nil, domain.Errorf(domain.CodeAPIKeyInvalid, "the Authorization header must be: Bearer fsk_…")
	}
	k, err := a.cfg.Store.FindAPIKeyByHash(c.UserContext(), HashAPIKey(secret))
	if domain.IsCode(err, domain.CodeNotFound) {
		return nil, domain.Errorf(domain.CodeAPIKeyInvalid, "the API key is not valid")
	}
	if err != nil {
		return nil, err
	}
	if k.RevokedAt != nil {
		return nil, domain.Errorf(domain.CodeAPIKeyRevoked, "the API key was revoked; ask an admin for a new one")
	}
	return k, nil
}

// normalizePhone reads a phone number in the configured region and
// returns it in E.164.
func (a *api) normalizePhone(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	n, err := phonenumbers.Parse(raw, a.cfg.PhoneRegion)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", domain.Errorf(domain.CodeInvalidPhone, "phone is not a valid phone number")
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// intake is POST /v1/leads: a lead from a web form or an ad platform. It
// is validated, scored, routed and stored with its alert chain in one
// transaction. A replay of an external id answers the lead it created
// (200) instead of a second one.
func (a *api) intake(c *fiber.Ctx) error {
	ctx := c.UserContext()
	key, err := a.apiKey(c)
	if err != nil {
		return err
	}
	var req domain.IntakeRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	req.Normalize()
	if req.Phone, err = a.normalizePhone(req.Phone); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	st := a.cfg.Store
	if req.ExternalID != "" {
		if l, err := a.replay(c, key.OrgID, &req); l != nil || err != nil {
			return err
		}
	}
	org, err := st.FindOrganization(ctx, key.OrgID)
	if err != nil {
		return err
	}
	lead := req.Lead()
	lead.Rescore(org.Settings)
	cands, err := st.RouteCandidates(ctx, key.OrgID)
	if err != nil {
		return err
	}
	loc := time.UTC
	if l, err := time.LoadLocation(org.TimeZone); err == nil && org.TimeZone != "" {
		loc = l
	}
	dec := domain.Route(domain.RouteRequest{Lead: lead, Skills: req.Skills, Now: a.cfg.Clock.Now(), Location: loc}, cands)
	lead.AssignedTo, lead.RoutingRule, lead.WhiteGlove = dec.UserID, dec.Rule, dec.WhiteGlove
	sys := domain.Principal{OrgID: key.OrgID, Role: domain.RoleAdmin}
	err = st.Write(ctx, sys, func(tx domain.Tx) error {
		if err := tx.Create(lead); err != nil {
			return err
		}
		for _, m := range domain.LeadAlertMessages(lead) {
			if err := tx.Enqueue(m); err != nil {
				return err
			}
		}
		return nil
	})
	if domain.IsCode(err, domain.CodeConflict) && req.ExternalID != "" {
		// A concurrent replay won the unique (source, external id).
		if l, rerr := a.replay(c, key.OrgID, &req); l != nil || rerr != nil {
			return rerr
		}
	}
	if err != nil {
		return err
	}
	if a.cfg.OnLead != nil {
		a.cfg.OnLead(ctx, lead)
	}
	_ = st.TouchAPIKey(ctx, key.ID, a.cfg.Clock.Now())
	c.Location("/v1/leads/" + lead.ID)
	return c.Status(fiber.StatusCreated).JSON(lead)
}

// replay answers an intake request whose external id the source used
// before: the same person gets the stored lead (200), another person
// CodeExternalIDReused. It returns a nil lead when there was no such lead.
func (a *api) replay(c *fiber.Ctx, orgID string, req *domain.IntakeRequest) (*domain.Lead, error) {
	l, err := a.cfg.Store.FindLeadByExternalID(c.UserContext(), orgID, req.Source, req.ExternalID)
	if domain.IsCode(err, domain.CodeNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !req.SamePerson(l) {
		return l, domain.Errorf(domain.CodeExternalIDReused,
			"external_id %q of source %s already names another lead", req.ExternalID, req.Source)
	}
	c.Set("Idempotent-Replayed", "true")
	c.Location("/v1/leads/" + l.ID)
	return l, c.Status(fiber.StatusOK).JSON(l)
}

type keyRequest struct {
	Name string `json:"name"`
}

type keyCreated struct {
	*domain.APIKey
	// Secret is shown once; only its hash is kept.
	Secret string `json:"secret"`
}

// createKey is POST /v1/admin/api-keys (admins).
func (a *api) createKey(c *fiber.Ctx) error {
	p, err := a.principal(c, domain.RoleAdmin)
	if err != nil {
		return err
	}
	var req keyRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 100 {
		return domain.Invalid(domain.FieldError{Field: "name", Message: "is required, at most 100 characters"})
	}
	secret := newAPIKeySecret()
	k := &domain.APIKey{OrgID: p.OrgID, Name: req.Name, Hint: secret[len(secret)-4:], Hash: HashAPIKey(secret),
		CreatedAt: a.cfg.Clock.Now(), CreatedBy: p.UserID}
	if err := a.cfg.Store.CreateAPIKey(c.UserContext(), k); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(keyCreated{APIKey: k, Secret: secret})
}

// listKeys is GET /v1/admin/api-keys (admins).
func (a *api) listKeys(c *fiber.Ctx) error {
	p, err := a.principal(c, domain.RoleAdmin)
	if err != nil {
		return err
	}
	keys, err := a.cfg.Store.ListAPIKeys(c.UserContext(), p.OrgID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"api_keys": keys})
}

// revokeKey is DELETE /v1/admin/api-keys/{id} (admins).
func (a *api) revokeKey(c *fiber.Ctx) error {
	p, err := a.principal(c, domain.RoleAdmin)
	if err != nil {
		return err
	}
	if err := a.cfg.Store.RevokeAPIKey(c.UserContext(), p.OrgID, c.Params("id"), a.cfg.Clock.Now()); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
