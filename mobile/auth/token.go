package auth

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Issuer is the iss claim of every access token; tokens from anything else
// that happens to share a key are refused.
const Issuer = "fieldsync"

// DefaultAccessTTL bounds how long a stolen access token is useful and how
// long a sign-out takes to reach requests (deactivation is immediate anyway,
// see Service.Authenticate).
const DefaultAccessTTL = 15 * time.Minute

// clockLeeway absorbs clock differences between the replica that issued a
// token and the one verifying it. NTP keeps those well under a second, so a
// few seconds is plenty and barely extends a token's life.
const clockLeeway = 5 * time.Second

// maxTokenBytes refuses absurd inputs before any parsing; real tokens are
// a few hundred bytes.
const maxTokenBytes = 4096

// Claims are what a verified access token says.
type Claims struct {
	UserID    string
	OrgID     string
	Role      domain.Role
	SessionID string // the refresh-token family the token was issued under
	TokenID   string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Principal is the user the token was issued to, with the role it carried
// then; Service.Authenticate returns the current role instead.
func (c Claims) Principal() domain.Principal {
	return domain.Principal{UserID: c.UserID, OrgID: c.OrgID, Role: c.Role}
}

// accessClaims is the JWT body: registered claims plus ours.
type accessClaims struct {
	jwt.RegisteredClaims
	Org  string      `json:"org"`
	Role domain.Role `json:"role"`
	SID  string      `json:"sid"`
}

// complete reports whether every claim we rely on is present, so that a
// validly signed but incomplete token (from a bug, or an older format) is
// refused rather than half-trusted.
func (c *accessClaims) complete() bool {
	return c.Subject != "" && c.Org != "" && c.Role.Valid() && c.SID != "" && c.ID != "" &&
		c.IssuedAt != nil && c.NotBefore != nil && c.ExpiresAt != nil
}

// Tokens issues and verifies access tokens with a key ring and a clock.
// It is safe for concurrent use.
type Tokens struct {
	keys   *KeyRing
	clock  domain.Clock
	ttl    time.Duration
	parser *jwt.Parser
}

// NewTokens returns a Tokens signing with keys' first key. A nil clock means
// the system clock; a ttl ≤ 0 means DefaultAccessTTL.
func NewTokens(keys *KeyRing, clock domain.Clock, ttl time.Duration) *Tokens {
	if clock == nil {
		clock = domain.ClockFunc(time.Now)
	}
	if ttl <= 0 {
		ttl = DefaultAccessTTL
	}
	return &Tokens{
		keys:  keys,
		clock: clock,
		ttl:   ttl,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(clockLeeway),
			jwt.WithTimeFunc(clock.Now),
			// Without strict decoding a signature has several base64 spellings,
			// so a token nobody issued would still verify.
			jwt.WithStrictDecoding(),
		),
	}
}

// TTL is how long issued tokens are valid, for the expires_in a client reads.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue signs an access token for p under the refresh-token family
// sessionID. It returns CodeInternal if p or sessionID is incomplete.
func (t *Tokens) Issue(p domain.Principal, sessionID string) (string, Claims, error) {
	if p.UserID == "" || p.OrgID == "" || !p.Role.Valid() || sessionID == "" {
		return "", Claims{}, domain.Errorf(domain.CodeInternal, "cannot issue a token for an incomplete principal")
	}
	now := t.clock.Now().UTC().Truncate(time.Second) // JWT times are whole seconds
	c := Claims{
		UserID:    p.UserID,
		OrgID:     p.OrgID,
		Role:      p.Role,
		SessionID: sessionID,
		TokenID:   uuid.NewString(),
		IssuedAt:  now,
		ExpiresAt: now.Add(t.ttl),
	}
	key := t.keys.signing()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, &accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   c.UserID,
			ID:        c.TokenID,
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			NotBefore: jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		},
		Org:  c.OrgID,
		Role: c.Role,
		SID:  c.SessionID,
	})
	tok.Header["kid"] = key.id
	s, err := tok.SignedString(key.secret)
	if err != nil {
		return "", Claims{}, domain.WrapError(domain.CodeInternal, err, "cannot issue a token")
	}
	return s, c, nil
}

// Verify checks token's signature against the ring key its kid names and its
// claims against the clock. It returns CodeTokenExpired for a genuine token
// past its expiry and CodeTokenInvalid for anything else wrong: bad or
// missing signature, another algorithm, an unknown kid, a malformed token,
// a wrong issuer, missing claims, or a token not yet valid.
func (t *Tokens) Verify(token string) (Claims, error) {
	if token == "" || len(token) > maxTokenBytes {
		return Claims{}, errTokenInvalid(nil)
	}
	var ac accessClaims
	_, err := t.parser.ParseWithClaims(token, &ac, t.keyFor)
	switch {
	case err == nil && ac.complete():
		return Claims{
			UserID:    ac.Subject,
			OrgID:     ac.Org,
			Role:      ac.Role,
			SessionID: ac.SID,
			TokenID:   ac.ID,
			IssuedAt:  ac.IssuedAt.UTC(),
			ExpiresAt: ac.ExpiresAt.UTC(),
		}, nil
	case err == nil:
		return Claims{}, errTokenInvalid(errors.New("auth: token lacks required claims"))
	case isOnlyExpired(err) && ac.complete():
		// The parser checks the signature before the claims, so reaching
		// here means the token is ours and merely old: the client should
		// refresh rather than sign in again.
		return Claims{}, domain.WrapError(domain.CodeTokenExpired, err, "the access token has expired; refresh it")
	default:
		return Claims{}, errTokenInvalid(err)
	}
}

func (t *Tokens) keyFor(tok *jwt.Token) (any, error) {
	kid, _ := tok.Header["kid"].(string)
	key := t.keys.lookup(kid)
	if key == nil {
		return nil, errors.New("auth: unknown key id")
	}
	return key, nil
}

// isOnlyExpired reports whether err is a claims failure caused by expiry
// and nothing else (the validator joins every failed claim into one error).
func isOnlyExpired(err error) bool {
	if !errors.Is(err, jwt.ErrTokenExpired) {
		return false
	}
	for _, other := range []error{jwt.ErrTokenSignatureInvalid, jwt.ErrTokenUnverifiable, jwt.ErrTokenMalformed,
		jwt.ErrTokenInvalidIssuer, jwt.ErrTokenNotValidYet, jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenRequiredClaimMissing} {
		if errors.Is(err, other) {
			return false
		}
	}
	return true
}

func errTokenInvalid(cause error) error {
	return domain.WrapError(domain.CodeTokenInvalid, cause, "the access token is invalid; sign in again")
}
