package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Sign-in rate limits used when Config leaves them zero. The limiter is GCRA
// (domain.RateLimit: a burst of Events, refilled evenly over Period).
var (
	// Per account: a burst of 10, then one attempt every 90 s. An online
	// guesser gets under a thousand tries a day at one account, hopeless
	// against a 10+ character password, while someone fumbling a phone
	// keyboard rarely needs more than a few.
	defaultAccountLimit = domain.RateLimit{Events: 10, Period: 15 * time.Minute}
	// Per client address: a burst of 20, then one every 3 s, enough for a
	// crew signing in together behind one office NAT at the start of a shift,
	// while one address spraying many accounts is slowed to a crawl.
	defaultAddressLimit = domain.RateLimit{Events: 20, Period: time.Minute}
)

// maxEmailBytes is RFC 5321's limit on a forward path; longer is not an email.
const maxEmailBytes = 254

// dummyPassword is hashed at start-up so that a sign-in for an unknown email
// costs one verification like any other.
const dummyPassword = "fieldsync-no-such-user"

// Config is what a Service needs. Users, Sessions, Limiter and Keys are
// required; every other zero field takes the default its comment names.
type Config struct {
	Users    domain.UserStore
	Sessions domain.SessionStore
	Limiter  domain.RateLimiter
	Keys     *KeyRing
	// Clock defaults to the system clock.
	Clock domain.Clock
	// AccessTTL defaults to DefaultAccessTTL (15 minutes).
	AccessTTL time.Duration
	// RefreshTTL defaults to DefaultRefreshTTL (30 days).
	RefreshTTL time.Duration
	// RefreshRetryGrace defaults to DefaultRefreshRetryGrace (30 seconds):
	// how long after a refresh token was used presenting it again counts
	// as a retry of a lost answer, not as theft (see Refresh).
	RefreshRetryGrace time.Duration
	// PasswordParams defaults to DefaultParams. Give the parameters new
	// passwords are hashed with: the decoy verification for unknown emails
	// uses them, so it takes as long as a real one.
	PasswordParams Params
	// AccountLimit caps sign-in attempts per email; defaults to 10 per 15
	// minutes.
	AccountLimit domain.RateLimit
	// AddressLimit caps sign-in attempts per client address (IPv6 grouped
	// by /64); defaults to 20 per minute.
	AddressLimit domain.RateLimit
}

// TokenPair is what a sign-in or a refresh hands to the phone.
type TokenPair struct {
	AccessToken      string
	RefreshToken     string
	TokenType        string // always "Bearer"
	ExpiresIn        int    // seconds the access token is valid for
	RefreshExpiresAt time.Time
	User             *domain.User
}

// Service signs users in, rotates their refresh tokens and authenticates
// their requests. It is safe for concurrent use.
type Service struct {
	cfg       Config
	tokens    *Tokens
	dummyHash string
	// verify is VerifyPassword; tests swap it to count verifications, the
	// only way to check the timing-oracle defence without timing anything.
	verify func(encoded, pw string) (bool, error)
}

// NewService checks cfg, fills its defaults and computes the decoy hash.
func NewService(cfg Config) (*Service, error) {
	switch {
	case cfg.Users == nil:
		return nil, errors.New("auth: Config.Users is required")
	case cfg.Sessions == nil:
		return nil, errors.New("auth: Config.Sessions is required")
	case cfg.Limiter == nil:
		return nil, errors.New("auth: Config.Limiter is required")
	case cfg.Keys == nil:
		return nil, errors.New("auth: Config.Keys is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = domain.ClockFunc(time.Now)
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = DefaultAccessTTL
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if cfg.RefreshRetryGrace <= 0 {
		cfg.RefreshRetryGrace = DefaultRefreshRetryGrace
	}
	if cfg.PasswordParams == (Params{}) {
		cfg.PasswordParams = DefaultParams
	}
	if cfg.AccountLimit == (domain.RateLimit{}) {
		cfg.AccountLimit = defaultAccountLimit
	}
	if cfg.AddressLimit == (domain.RateLimit{}) {
		cfg.AddressLimit = defaultAddressLimit
	}
	dummy, err := HashPassword(dummyPassword, cfg.PasswordParams)
	if err != nil {
		return nil, err
	}
	return &Service{
		cfg:       cfg,
		tokens:    NewTokens(cfg.Keys, cfg.Clock, cfg.AccessTTL),
		dummyHash: dummy,
		verify:    VerifyPassword,
	}, nil
}

// SignIn checks an email and password and opens a session. Both rate limits
// are spent before the password is looked at, so a guesser pays for every
// try. Errors: CodeInvalid for an empty or oversized email or an empty
// password; CodeRateLimited with RetryAfter; CodeInvalidCredentials, alike
// for an unknown email, a wrong password and a deactivated account, so the
// answer never tells which emails have accounts; the stores' and limiter's
// errors (CodeUnavailable) as they come.
func (s *Service) SignIn(ctx context.Context, email, password, remoteAddr string) (*TokenPair, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	var fields []domain.FieldError
	if email == "" {
		fields = append(fields, domain.FieldError{Field: "email", Message: "is required"})
	} else if len(email) > maxEmailBytes {
		fields = append(fields, domain.FieldError{Field: "email", Message: "is too long"})
	}
	if password == "" {
		fields = append(fields, domain.FieldError{Field: "password", Message: "is required"})
	}
	if len(fields) > 0 {
		return nil, domain.Invalid(fields...)
	}

	// The address goes first: a flood from one address is turned away
	// without draining the budgets of the accounts it names.
	if err := s.limit(ctx, "signin:ip:"+addressKey(remoteAddr), s.cfg.AddressLimit); err != nil {
		return nil, err
	}
	if err := s.limit(ctx, "signin:acct:"+sha256Hex(email), s.cfg.AccountLimit); err != nil {
		return nil, err
	}

	user, err := s.cfg.Users.FindUserByEmail(ctx, email)
	if domain.IsCode(err, domain.CodeNotFound) {
		user, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	hash := s.dummyHash
	if user != nil && user.PasswordHash != "" {
		hash = user.PasswordHash
	}
	ok, err := s.verify(hash, password)
	if err != nil {
		return nil, err
	}
	if !ok || user == nil || user.PasswordHash == "" || !user.Active {
		return nil, domain.Errorf(domain.CodeInvalidCredentials, "the email or password is wrong")
	}

	now := s.cfg.Clock.Now()
	refresh, refreshHash, err := newRefreshToken()
	if err != nil {
		return nil, err
	}
	family := uuid.NewString()
	rt := &domain.RefreshToken{
		ID:        uuid.NewString(),
		OrgID:     user.OrgID,
		UserID:    user.ID,
		FamilyID:  family,
		TokenHash: refreshHash,
		CreatedAt: now,
		ExpiresAt: now.Add(s.cfg.RefreshTTL),
	}
	if err := s.cfg.Sessions.CreateRefreshToken(ctx, rt); err != nil {
		return nil, err
	}
	return s.pair(user, family, refresh, rt.ExpiresAt)
}

// Refresh trades a refresh token for a new pair in the same session. The old
// token is consumed: presenting it again revokes the session, except within
// RefreshRetryGrace of its use while the pair that use returned is still
// unused, which is what a phone does when the connection dropped before the
// answer arrived (the unused pair is revoked, a new one issued). Errors:
// CodeRefreshInvalid for a malformed, unknown, expired or revoked token (or
// a user that no longer exists); CodeRefreshReused when the token was already
// used; CodeAccountDisabled, after revoking all the user's sessions, for a
// deactivated user; the stores' errors as they come.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (*TokenPair, error) {
	oldHash, err := refreshTokenHash(refreshToken)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Clock.Now()
	refresh, refreshHash, err := newRefreshToken()
	if err != nil {
		return nil, err
	}
	next := &domain.RefreshToken{
		ID:        uuid.NewString(),
		TokenHash: refreshHash,
		CreatedAt: now,
		ExpiresAt: now.Add(s.cfg.RefreshTTL),
	}
	old, err := s.cfg.Sessions.RotateRefreshToken(ctx, oldHash, next, now, s.cfg.RefreshRetryGrace)
	if err != nil {
		return nil, err
	}
	user, err := s.cfg.Users.FindUser(ctx, old.OrgID, old.UserID)
	if domain.IsCode(err, domain.CodeNotFound) {
		if err := s.cfg.Sessions.RevokeRefreshToken(ctx, refreshHash, now); err != nil {
			return nil, err
		}
		return nil, errRefreshInvalid()
	}
	if err != nil {
		return nil, err
	}
	if !user.Active {
		if err := s.cfg.Sessions.RevokeUserSessions(ctx, user.OrgID, user.ID, now); err != nil {
			return nil, err
		}
		return nil, errAccountDisabled()
	}
	return s.pair(user, old.FamilyID, refresh, next.ExpiresAt)
}

// SignOut ends the session the refresh token belongs to, and with it the
// access tokens issued under it (Authenticate checks the session). Signing
// out twice, or with a token the store does not know, succeeds. A
// malformed token is CodeRefreshInvalid.
func (s *Service) SignOut(ctx context.Context, refreshToken string) error {
	hash, err := refreshTokenHash(refreshToken)
	if err != nil {
		return err
	}
	return s.cfg.Sessions.RevokeRefreshToken(ctx, hash, s.cfg.Clock.Now())
}

// Authenticate verifies an access token (without the "Bearer " scheme),
// reloads its user, so the principal carries the user's current role and a
// deactivation locks the user out at once, and checks its session, so a
// sign-out (or a revoked session) ends the access tokens issued under it
// at once too. The two reads run at once. Errors: CodeUnauthorized for an
// empty token; CodeTokenExpired; CodeTokenInvalid (also when the user no
// longer exists or the session was revoked); CodeAccountDisabled; the
// stores' errors as they come.
func (s *Service) Authenticate(ctx context.Context, bearer string) (domain.Principal, Claims, error) {
	if bearer == "" {
		return domain.Principal{}, Claims{}, domain.Errorf(domain.CodeUnauthorized, "sign in first: send an access token")
	}
	claims, err := s.tokens.Verify(bearer)
	if err != nil {
		return domain.Principal{}, Claims{}, err
	}
	type revokedAnswer struct {
		revoked bool
		err     error
	}
	session := make(chan revokedAnswer, 1)
	go func() {
		revoked, err := s.cfg.Sessions.SessionRevoked(ctx, claims.OrgID, claims.UserID, claims.SessionID)
		session <- revokedAnswer{revoked, err}
	}()
	user, err := s.cfg.Users.FindUser(ctx, claims.OrgID, claims.UserID)
	sess := <-session
	if domain.IsCode(err, domain.CodeNotFound) {
		return domain.Principal{}, Claims{}, errTokenInvalid(err)
	}
	if err != nil {
		return domain.Principal{}, Claims{}, err
	}
	if !user.Active {
		return domain.Principal{}, Claims{}, errAccountDisabled()
	}
	if sess.err != nil {
		return domain.Principal{}, Claims{}, sess.err
	}
	if sess.revoked {
		return domain.Principal{}, Claims{}, domain.Errorf(domain.CodeTokenInvalid, "this session was signed out; sign in again")
	}
	return domain.Principal{UserID: user.ID, OrgID: user.OrgID, Role: user.Role}, claims, nil
}

func (s *Service) pair(user *domain.User, family, refresh string, refreshExpires time.Time) (*TokenPair, error) {
	access, _, err := s.tokens.Issue(domain.Principal{UserID: user.ID, OrgID: user.OrgID, Role: user.Role}, family)
	if err != nil {
		return nil, err
	}
	return &TokenPair{
		AccessToken:      access,
		RefreshToken:     refresh,
		TokenType:        "Bearer",
		ExpiresIn:        int(s.tokens.TTL() / time.Second),
		RefreshExpiresAt: refreshExpires,
		User:             user,
	}, nil
}

func (s *Service) limit(ctx context.Context, key string, l domain.RateLimit) error {
	d, err := s.cfg.Limiter.Allow(ctx, key, l)
	if err != nil {
		// Failing closed: without the limiter, sign-in would be open to
		// unthrottled guessing.
		return err
	}
	if d.Allowed {
		return nil
	}
	retry := d.RetryAfter
	if retry < time.Second {
		retry = time.Second // Retry-After speaks whole seconds; never say "now"
	}
	return &domain.Error{Code: domain.CodeRateLimited, Message: "too many sign-in attempts; try again later", RetryAfter: retry}
}

// addressKey buckets a client address: IPv4 per address, IPv6 per /64,
// because one subscriber usually holds a whole /64 and could otherwise
// rotate through it to dodge the limit. A port, if present, is dropped.
func addressKey(remote string) string {
	remote = strings.TrimSpace(remote)
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	addr, err := netip.ParseAddr(remote)
	if err != nil {
		if remote == "" {
			return "unknown"
		}
		return remote
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func errAccountDisabled() error {
	return domain.Errorf(domain.CodeAccountDisabled, "this account is deactivated; ask a manager")
}
