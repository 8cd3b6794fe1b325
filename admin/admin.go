package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Store is what the back office needs from the database.
type Store interface {
	domain.Writer
	domain.AlertStore
	domain.LeadIntakeStore
	domain.APIKeyStore
	domain.NotificationStore
	FindRecord(ctx context.Context, orgID string, kind domain.EntityKind, id string) (domain.Record, error)
	ResolveAnchor(ctx context.Context, orgID string, kind domain.EntityKind, id string) (domain.Anchor, error)
	FindOrganization(ctx context.Context, id string) (*domain.Organization, error)
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

// Config wires the back office.
type Config struct {
	Store Store
	Clock domain.Clock
	Log   *slog.Logger
	// RequireAuth authenticates a user's access token and stores the
	// principal for Principal to find (mobile.RequireAuth).
	RequireAuth fiber.Handler
	// Principal returns the principal RequireAuth stored in the request's
	// user context (mobile.PrincipalFromContext).
	Principal func(ctx context.Context) (domain.Principal, bool)
	// PhoneRegion is the region phone numbers without a country code are
	// read in (default "US").
	PhoneRegion string
	// OnLead, if set, is called after an intake lead commits (the wiring
	// queues its first alert at once with it, so the alert does not wait
	// for the outbox relay's next pass).
	OnLead func(ctx context.Context, l *domain.Lead)
}

// bodyLimit bounds every back-office request body.
const bodyLimit = 64 << 10

type api struct {
	cfg Config
}

// Mount adds the back-office routes to r (the application root).
func Mount(r fiber.Router, cfg Config) {
	if cfg.Clock == nil {
		cfg.Clock = domain.ClockFunc(time.Now)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.PhoneRegion == "" {
		cfg.PhoneRegion = "US"
	}
	a := &api{cfg: cfg}
	v1 := r.Group("/v1")
	v1.Post("/leads", a.intake)
	auth := cfg.RequireAuth
	v1.Post("/alerts/:id/acknowledge", auth, a.acknowledge)
	v1.Post("/admin/api-keys", auth, a.createKey)
	v1.Get("/admin/api-keys", auth, a.listKeys)
	v1.Delete("/admin/api-keys/:id", auth, a.revokeKey)
	v1.Get("/admin/response-times", auth, a.responseTimes)
	v1.Get("/admin/notifications", auth, a.notifications)
	v1.Put("/admin/users/:id/availability", auth, a.setAvailability)
}

// principal returns the signed-in caller, requiring one of roles if given.
func (a *api) principal(c *fiber.Ctx, roles ...domain.Role) (domain.Principal, error) {
	p, ok := a.cfg.Principal(c.UserContext())
	if !ok {
		return p, domain.Errorf(domain.CodeUnauthorized, "sign in first")
	}
	if len(roles) == 0 {
		return p, nil
	}
	for _, r := range roles {
		if p.Role == r {
			return p, nil
		}
	}
	return p, domain.Errorf(domain.CodeForbidden, "this needs the %s role", joinRoles(roles))
}

func joinRoles(roles []domain.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}

// decode reads a JSON object strictly: declared as JSON, within the limit,
// no unknown fields, nothing after it.
func decode(c *fiber.Ctx, dst any) error {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || (mt != fiber.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
		return domain.Errorf(domain.CodeUnsupportedMedia, "send the body as application/json")
	}
	body := c.Body()
	if len(body) > bodyLimit {
		return domain.Errorf(domain.CodePayloadTooLarge, "request body exceeds %d bytes", bodyLimit)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return domain.Errorf(domain.CodeMalformedRequest, "request body is empty; expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typ) && typ.Field != "":
			return domain.Invalid(domain.FieldError{Field: typ.Field, Message: "has the wrong type"})
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return domain.Invalid(domain.FieldError{Field: name, Message: "unknown field"})
		}
		return domain.Errorf(domain.CodeMalformedRequest, "request body is not the JSON object this endpoint expects")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return domain.Errorf(domain.CodeMalformedRequest, "request body has data after the JSON object")
	}
	return nil
}
