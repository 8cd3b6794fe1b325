package mobile

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
)

// authBodyLimit caps the auth endpoints' bodies well below the global limit:
// an email, a password and a token fit in far less.
const authBodyLimit = 8 << 10

// Authenticator is what the HTTP layer needs from the session service.
type Authenticator interface {
	SignIn(ctx context.Context, email, password, remoteAddr string) (*auth.TokenPair, error)
	Refresh(ctx context.Context, refreshToken string) (*auth.TokenPair, error)
	SignOut(ctx context.Context, refreshToken string) error
	Authenticate(ctx context.Context, bearer string) (domain.Principal, auth.Claims, error)
}

type signInRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// tokenResponse is the body of a successful sign-in or refresh.
type tokenResponse struct {
	AccessToken      string       `json:"access_token"`
	TokenType        string       `json:"token_type"`
	ExpiresIn        int          `json:"expires_in"`
	RefreshToken     string       `json:"refresh_token"`
	RefreshExpiresAt time.Time    `json:"refresh_expires_at"`
	User             *domain.User `json:"user,omitempty"`
}

func toTokenResponse(p *auth.TokenPair) tokenResponse {
	return tokenResponse{
		AccessToken:      p.AccessToken,
		TokenType:        p.TokenType,
		ExpiresIn:        p.ExpiresIn,
		RefreshToken:     p.RefreshToken,
		RefreshExpiresAt: p.RefreshExpiresAt,
		User:             p.User,
	}
}

func (s *server) signIn(c *fiber.Ctx) error {
	var req signInRequest
	if err := decodeJSON(c, authBodyLimit, &req); err != nil {
		return err
	}
	if fe := required("email", req.Email, "password", req.Password); len(fe) > 0 {
		return domain.Invalid(fe...)
	}
	pair, err := s.auth.SignIn(c.UserContext(), req.Email, req.Password, s.clientIP(c))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(toTokenResponse(pair))
}

func (s *server) refresh(c *fiber.Ctx) error {
	var req refreshRequest
	if err := decodeJSON(c, authBodyLimit, &req); err != nil {
		return err
	}
	if fe := required("refresh_token", req.RefreshToken); len(fe) > 0 {
		return domain.Invalid(fe...)
	}
	pair, err := s.auth.Refresh(c.UserContext(), req.RefreshToken)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(toTokenResponse(pair))
}

func (s *server) signOut(c *fiber.Ctx) error {
	var req refreshRequest
	if err := decodeJSON(c, authBodyLimit, &req); err != nil {
		return err
	}
	if fe := required("refresh_token", req.RefreshToken); len(fe) > 0 {
		return domain.Invalid(fe...)
	}
	if err := s.auth.SignOut(c.UserContext(), req.RefreshToken); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// requireAuth authenticates the bearer token and puts the principal in the
// request (Locals for handlers, the user context for code below them).
func (s *server) requireAuth(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return domain.Errorf(domain.CodeUnauthorized, "sign in first: send Authorization: Bearer <access token>")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return domain.Errorf(domain.CodeTokenInvalid, "the Authorization header must be: Bearer <access token>")
	}
	p, claims, err := s.auth.Authenticate(c.UserContext(), strings.TrimSpace(token))
	if err != nil {
		return err
	}
	c.Locals(principalKey, p)
	// Kept for long-lived answers (the event stream), which must end when
	// the token that opened them does.
	c.Locals(tokenExpiryKey, claims.ExpiresAt)
	c.SetUserContext(WithPrincipal(c.UserContext(), p))
	return c.Next()
}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p domain.Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFromContext returns the authenticated principal carried by ctx.
func PrincipalFromContext(ctx context.Context) (domain.Principal, bool) {
	p, ok := ctx.Value(principalKey).(domain.Principal)
	return p, ok
}

// tokenExpiry is when the request's access token expires (zero if the
// authenticator did not say).
func tokenExpiry(c *fiber.Ctx) time.Time {
	t, _ := c.Locals(tokenExpiryKey).(time.Time)
	return t
}

func principalOf(c *fiber.Ctx) (domain.Principal, bool) {
	p, ok := c.Locals(principalKey).(domain.Principal)
	return p, ok
}

// mustPrincipal is for handlers behind requireAuth; reaching one without a
// principal is a wiring bug, reported as internal.
func mustPrincipal(c *fiber.Ctx) (domain.Principal, error) {
	p, ok := principalOf(c)
	if !ok {
		return domain.Principal{}, domain.Errorf(domain.CodeInternal, "route is missing authentication")
	}
	return p, nil
}
