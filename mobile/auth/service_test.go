package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
)

// fakeUsers is an in-memory domain.UserStore. It hands out copies, as a
// database would, so a test changes a user only through put.
type fakeUsers struct {
	mu    sync.Mutex
	users map[string]domain.User // by id
}

var _ domain.UserStore = (*fakeUsers)(nil)

func (f *fakeUsers) put(u domain.User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.users == nil {
		f.users = map[string]domain.User{}
	}
	f.users[u.ID] = u
}

func (f *fakeUsers) remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.users, id)
}

func (f *fakeUsers) get(id string) domain.User {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.users[id]
}

func (f *fakeUsers) FindUserByEmail(_ context.Context, email string) (*domain.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if strings.EqualFold(u.Email, email) {
			return &u, nil
		}
	}
	return nil, domain.ErrNotFound("user")
}

func (f *fakeUsers) FindUser(_ context.Context, orgID, id string) (*domain.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[id]
	if !ok || u.OrgID != orgID {
		return nil, domain.ErrNotFound("user")
	}
	return &u, nil
}

// fakeSessions is an in-memory domain.SessionStore following the port's
// contract: rotation consumes, replay revokes the family.
type fakeSessions struct {
	mu     sync.Mutex
	byHash map[string]*domain.RefreshToken
}

var _ domain.SessionStore = (*fakeSessions)(nil)

func (f *fakeSessions) CreateRefreshToken(_ context.Context, t *domain.RefreshToken) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byHash == nil {
		f.byHash = map[string]*domain.RefreshToken{}
	}
	c := *t
	f.byHash[t.TokenHash] = &c
	return nil
}

func (f *fakeSessions) RotateRefreshToken(_ context.Context, oldHash string, next *domain.RefreshToken, now time.Time, _ time.Duration) (*domain.RefreshToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.byHash[oldHash]
	switch {
	case !ok || old.RevokedAt != nil || !now.Before(old.ExpiresAt):
		return nil, domain.Errorf(domain.CodeRefreshInvalid, "refresh token invalid")
	case old.UsedAt != nil:
		f.revokeFamily(old.FamilyID, now)
		return nil, domain.Errorf(domain.CodeRefreshReused, "refresh token reused")
	}
	old.UsedAt = &now
	next.FamilyID, next.UserID, next.OrgID = old.FamilyID, old.UserID, old.OrgID
	c := *next
	f.byHash[next.TokenHash] = &c
	consumed := *old
	return &consumed, nil
}

func (f *fakeSessions) RevokeRefreshToken(_ context.Context, hash string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.byHash[hash]; ok {
		f.revokeFamily(t.FamilyID, now)
	}
	return nil
}

func (f *fakeSessions) RevokeUserSessions(_ context.Context, orgID, userID string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.byHash {
		if t.OrgID == orgID && t.UserID == userID && t.RevokedAt == nil {
			t.RevokedAt = &now
		}
	}
	return nil
}

func (f *fakeSessions) SessionRevoked(_ context.Context, orgID, userID, familyID string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.byHash {
		if t.FamilyID == familyID && t.OrgID == orgID && t.UserID == userID && t.RevokedAt != nil {
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeSessions) revokeFamily(family string, now time.Time) {
	for _, t := range f.byHash {
		if t.FamilyID == family && t.RevokedAt == nil {
			t.RevokedAt = &now
		}
	}
}

func (f *fakeSessions) get(hash string) (domain.RefreshToken, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.byHash[hash]
	if !ok {
		return domain.RefreshToken{}, false
	}
	return *t, true
}

// fakeLimiter allows limit.Events attempts per key and then refuses, and
// records what it was asked.
type fakeLimiter struct {
	mu     sync.Mutex
	counts map[string]int
	limits map[string]domain.RateLimit
	err    error
}

var _ domain.RateLimiter = (*fakeLimiter)(nil)

func (f *fakeLimiter) Allow(_ context.Context, key string, limit domain.RateLimit) (domain.RateDecision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return domain.RateDecision{}, f.err
	}
	if f.counts == nil {
		f.counts, f.limits = map[string]int{}, map[string]domain.RateLimit{}
	}
	f.limits[key] = limit
	if f.counts[key] >= limit.Events {
		return domain.RateDecision{RetryAfter: limit.Period / time.Duration(limit.Events)}, nil
	}
	f.counts[key]++
	return domain.RateDecision{Allowed: true, Remaining: limit.Events - f.counts[key]}, nil
}

func (f *fakeLimiter) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[key]
}

func (f *fakeLimiter) limit(key string) domain.RateLimit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.limits[key]
}

const (
	alicePassword = "alice-has-a-long-password"
	addr          = "203.0.113.7"
)

type bundle struct {
	svc      *auth.Service
	users    *fakeUsers
	sessions *fakeSessions
	limiter  *fakeLimiter
	clock    *fakeClock
	verifies interface{ Load() int32 }
}

// setup builds a Service over fresh fakes holding two users of org-1:
// alice (sales, active) and bob (deactivated), both with alicePassword.
func setup(tb testing.TB, edit ...func(*auth.Config)) *bundle {
	tb.Helper()
	hash := mustHash(tb, alicePassword, auth.TestParams)
	b := &bundle{users: &fakeUsers{}, sessions: &fakeSessions{}, limiter: &fakeLimiter{}, clock: newFakeClock()}
	b.users.put(domain.User{Meta: domain.Meta{ID: "u-alice", OrgID: "org-1"}, Email: "Alice@Example.com", Role: domain.RoleSales, Active: true, PasswordHash: hash})
	b.users.put(domain.User{Meta: domain.Meta{ID: "u-bob", OrgID: "org-1"}, Email: "bob@example.com", Role: domain.RoleFieldTech, Active: false, PasswordHash: hash})
	cfg := auth.Config{
		Users: b.users, Sessions: b.sessions, Limiter: b.limiter, Keys: newKeyed(tb, "k1").ring,
		Clock: b.clock, PasswordParams: auth.TestParams,
	}
	for _, e := range edit {
		e(&cfg)
	}
	var err error
	b.svc, err = auth.NewService(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	b.verifies = auth.CountVerifications(b.svc)
	return b
}

func (b *bundle) signIn(tb testing.TB) *auth.TokenPair {
	tb.Helper()
	p, err := b.svc.SignIn(context.Background(), "alice@example.com", alicePassword, addr)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p, err := b.svc.SignIn(ctx, "  ALICE@example.COM ", alicePassword, addr)
	if err != nil {
		t.Fatal(err)
	}
	if p.TokenType != "Bearer" || p.ExpiresIn != 900 || p.User == nil || p.User.ID != "u-alice" {
		t.Fatalf("pair %+v", p)
	}
	if !p.RefreshExpiresAt.Equal(b.clock.Now().Add(30 * 24 * time.Hour)) {
		t.Fatalf("refresh expires %s", p.RefreshExpiresAt)
	}
	if !strings.HasPrefix(p.RefreshToken, "fsr_") || len(p.RefreshToken) != 4+43 {
		t.Fatalf("refresh token %q", p.RefreshToken)
	}
	stored, ok := b.sessions.get(sha256Hex(p.RefreshToken))
	if !ok {
		t.Fatal("the store does not hold the token's SHA-256")
	}
	if stored.UserID != "u-alice" || stored.OrgID != "org-1" || stored.FamilyID == "" || stored.TokenHash == p.RefreshToken {
		t.Fatalf("stored %+v", stored)
	}
	principal, claims, err := b.svc.Authenticate(ctx, p.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if principal != alicePrincipal || claims.SessionID != stored.FamilyID {
		t.Fatalf("principal %+v, claims %+v", principal, claims)
	}
	if n := b.verifies.Load(); n != 1 {
		t.Fatalf("%d password verifications", n)
	}
}

// Every failure says the same thing and costs one password verification, so
// neither the answer nor its timing tells which emails have accounts.
func TestSignInFailuresLookAlike(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var first *domain.Error
	for name, try := range map[string]func(*bundle) error{
		"wrong password": func(b *bundle) error {
			_, err := b.svc.SignIn(ctx, "alice@example.com", alicePassword+"!", addr)
			return err
		},
		"unknown email": func(b *bundle) error {
			_, err := b.svc.SignIn(ctx, "nobody@example.com", alicePassword, addr)
			return err
		},
		"deactivated, right password": func(b *bundle) error {
			_, err := b.svc.SignIn(ctx, "bob@example.com", alicePassword, addr)
			return err
		},
		"no password set": func(b *bundle) error {
			u := b.users.get("u-alice")
			u.PasswordHash = ""
			b.users.put(u)
			_, err := b.svc.SignIn(ctx, "alice@example.com", alicePassword, addr)
			return err
		},
	} {
		b := setup(t)
		err := try(b)
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != domain.CodeInvalidCredentials {
			t.Fatalf("%s: got %v, want %s", name, err, domain.CodeInvalidCredentials)
		}
		if first == nil {
			first = de
		} else if de.Message != first.Message || de.Err != nil {
			t.Errorf("%s: message %q differs from %q", name, de.Message, first.Message)
		}
		if n := b.verifies.Load(); n != 1 {
			t.Errorf("%s: %d password verifications, want 1", name, n)
		}
		if len(b.sessions.byHash) != 0 {
			t.Errorf("%s: a session was created", name)
		}
	}
}

func TestSignInInvalidInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct{ email, password string }{
		{"", alicePassword}, {"   ", alicePassword}, {"alice@example.com", ""},
		{strings.Repeat("a", 250) + "@x.io", alicePassword},
	} {
		_, err := b.svc.SignIn(context.Background(), tc.email, tc.password, addr)
		wantCode(t, err, domain.CodeInvalid)
	}
	if b.limiter.count("signin:ip:"+addr) != 0 {
		t.Fatal("invalid input spent rate-limit budget")
	}
}

func TestSignInLimitsAndKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.signIn(t)
	acct := "signin:acct:" + sha256Hex("alice@example.com")
	if got := b.limiter.limit(acct); got != (domain.RateLimit{Events: 10, Period: 15 * time.Minute}) {
		t.Errorf("account limit %+v", got)
	}
	if got := b.limiter.limit("signin:ip:" + addr); got != (domain.RateLimit{Events: 20, Period: time.Minute}) {
		t.Errorf("address limit %+v", got)
	}
	for remote, key := range map[string]string{
		"198.51.100.9:4711":    "signin:ip:198.51.100.9",
		"::ffff:198.51.100.10": "signin:ip:198.51.100.10",
		"2001:db8:1:2::1":      "signin:ip:2001:db8:1:2::/64",
		"[2001:db8:1:2::2]:80": "signin:ip:2001:db8:1:2::/64",
		"":                     "signin:ip:unknown",
	} {
		if _, err := b.svc.SignIn(context.Background(), "alice@example.com", alicePassword, remote); err != nil {
			t.Fatal(err)
		}
		if b.limiter.count(key) == 0 {
			t.Errorf("%q: nothing counted under %s", remote, key)
		}
	}
}

func TestSignInRateLimitPerAccount(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *auth.Config) { c.AccountLimit = domain.RateLimit{Events: 3, Period: time.Hour} })
	ctx := context.Background()
	for i, a := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		_, err := b.svc.SignIn(ctx, "alice@example.com", "guess-number-"+string(rune('0'+i)), a)
		wantCode(t, err, domain.CodeInvalidCredentials)
	}
	// The right password from a fresh address is still refused, unchecked.
	_, err := b.svc.SignIn(ctx, "ALICE@example.com", alicePassword, "198.51.100.4")
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeRateLimited || de.RetryAfter <= 0 {
		t.Fatalf("got %v, want %s with RetryAfter", err, domain.CodeRateLimited)
	}
	if n := b.verifies.Load(); n != 3 {
		t.Fatalf("%d verifications: the limit must apply before the password is checked", n)
	}
	// Another account from the same address is unaffected.
	if _, err := b.svc.SignIn(ctx, "bob@example.com", "whatever-pw", "198.51.100.4"); !domain.IsCode(err, domain.CodeInvalidCredentials) {
		t.Fatalf("other account: %v", err)
	}
}

func TestSignInRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *auth.Config) { c.AddressLimit = domain.RateLimit{Events: 3, Period: time.Hour} })
	ctx := context.Background()
	// One /64 is one address: a host cannot dodge the limit by hopping in it.
	for i, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		_, err := b.svc.SignIn(ctx, email, alicePassword, "2001:db8::"+string(rune('1'+i)))
		wantCode(t, err, domain.CodeInvalidCredentials)
	}
	_, err := b.svc.SignIn(ctx, "alice@example.com", alicePassword, "2001:db8::ff")
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeRateLimited || de.RetryAfter <= 0 {
		t.Fatalf("got %v, want %s with RetryAfter", err, domain.CodeRateLimited)
	}
	// Refused at the address, the attempt did not drain alice's own budget.
	if n := b.limiter.count("signin:acct:" + sha256Hex("alice@example.com")); n != 0 {
		t.Fatalf("account budget spent %d times", n)
	}
	if _, err := b.svc.SignIn(ctx, "alice@example.com", alicePassword, "2001:db8:0:1::1"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
}

func TestSignInLimiterDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.limiter.err = domain.WrapError(domain.CodeUnavailable, errors.New("connection refused"), "rate limiter unavailable")
	_, err := b.svc.SignIn(context.Background(), "alice@example.com", alicePassword, addr)
	wantCode(t, err, domain.CodeUnavailable)
	if b.verifies.Load() != 0 {
		t.Fatal("the password was checked without the limiter")
	}
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	first := b.signIn(t)
	b.clock.Advance(10 * 24 * time.Hour)
	second, err := b.svc.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh returned the same tokens")
	}
	old, _ := b.sessions.get(sha256Hex(first.RefreshToken))
	next, ok := b.sessions.get(sha256Hex(second.RefreshToken))
	if old.UsedAt == nil || !ok || next.FamilyID != old.FamilyID {
		t.Fatalf("old %+v, next %+v", old, next)
	}
	// The session slides: a phone that refreshes stays signed in.
	if !second.RefreshExpiresAt.Equal(b.clock.Now().Add(auth.DefaultRefreshTTL)) {
		t.Fatalf("refresh expires %s", second.RefreshExpiresAt)
	}
	_, claims, err := b.svc.Authenticate(ctx, second.AccessToken)
	if err != nil || claims.SessionID != old.FamilyID {
		t.Fatalf("claims %+v, %v", claims, err)
	}
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	first := b.signIn(t)
	second, err := b.svc.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.Refresh(ctx, first.RefreshToken)
	wantCode(t, err, domain.CodeRefreshReused)
	// Whoever held the newer token is signed out as well, access token
	// included.
	_, err = b.svc.Refresh(ctx, second.RefreshToken)
	wantCode(t, err, domain.CodeRefreshInvalid)
	_, _, err = b.svc.Authenticate(ctx, second.AccessToken)
	wantCode(t, err, domain.CodeTokenInvalid)
}

func TestSignOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p := b.signIn(t)
	other := b.signIn(t) // a second phone
	if _, _, err := b.svc.Authenticate(ctx, p.AccessToken); err != nil {
		t.Fatalf("before sign-out: %v", err)
	}
	for range 2 {
		if err := b.svc.SignOut(ctx, p.RefreshToken); err != nil {
			t.Fatal(err)
		}
	}
	_, err := b.svc.Refresh(ctx, p.RefreshToken)
	wantCode(t, err, domain.CodeRefreshInvalid)
	// The access token issued with it ends at once, not when it expires.
	_, _, err = b.svc.Authenticate(ctx, p.AccessToken)
	wantCode(t, err, domain.CodeTokenInvalid)
	if _, _, err := b.svc.Authenticate(ctx, other.AccessToken); err != nil {
		t.Fatalf("signing out one phone ended another's access token: %v", err)
	}
	if _, err := b.svc.Refresh(ctx, other.RefreshToken); err != nil {
		t.Fatalf("signing out one phone signed out another: %v", err)
	}
	unknown := "fsr_" + strings.Repeat("A", 43)
	if err := b.svc.SignOut(ctx, unknown); err != nil {
		t.Fatalf("unknown token: %v", err)
	}
	wantCode(t, b.svc.SignOut(ctx, "nonsense"), domain.CodeRefreshInvalid)
}

func TestRefreshMalformed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	good := b.signIn(t).RefreshToken
	for _, tok := range []string{
		"", "fsr_", "fsr", good[4:], "fsx_" + good[4:], good + "A", good[:len(good)-1],
		good[:10] + "+" + good[11:], good[:10] + "=" + good[11:], strings.ToUpper(good[:4]) + good[4:],
		good[:len(good)-1] + "B", // 43 chars whose last carries stray bits: not a strict encoding
	} {
		if tok == good {
			continue
		}
		_, err := b.svc.Refresh(context.Background(), tok)
		if !domain.IsCode(err, domain.CodeRefreshInvalid) {
			t.Errorf("Refresh(%q) = %v, want %s", tok, err, domain.CodeRefreshInvalid)
		}
	}
	if _, err := b.svc.Refresh(context.Background(), good); err != nil {
		t.Fatalf("malformed attempts harmed the real token: %v", err)
	}
}

func TestRefreshExpired(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.signIn(t)
	b.clock.Advance(auth.DefaultRefreshTTL + time.Second)
	_, err := b.svc.Refresh(context.Background(), p.RefreshToken)
	wantCode(t, err, domain.CodeRefreshInvalid)
}

func TestRefreshDeactivatedOrDeletedUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	b := setup(t)
	p, other := b.signIn(t), b.signIn(t)
	u := b.users.get("u-alice")
	u.Active = false
	b.users.put(u)
	_, err := b.svc.Refresh(ctx, p.RefreshToken)
	wantCode(t, err, domain.CodeAccountDisabled)
	u.Active = true
	b.users.put(u)
	if _, err := b.svc.Refresh(ctx, other.RefreshToken); !domain.IsCode(err, domain.CodeRefreshInvalid) {
		t.Fatalf("the user's other sessions survived deactivation: %v", err)
	}

	b = setup(t)
	p = b.signIn(t)
	b.users.remove("u-alice")
	_, err = b.svc.Refresh(ctx, p.RefreshToken)
	wantCode(t, err, domain.CodeRefreshInvalid)
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("role change shows at once", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		p := b.signIn(t)
		u := b.users.get("u-alice")
		u.Role = domain.RoleManager
		b.users.put(u)
		principal, claims, err := b.svc.Authenticate(ctx, p.AccessToken)
		if err != nil || principal.Role != domain.RoleManager || claims.Role != domain.RoleSales {
			t.Fatalf("principal %+v, claims %+v, %v", principal, claims, err)
		}
	})
	t.Run("deactivation shows at once", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		p := b.signIn(t)
		u := b.users.get("u-alice")
		u.Active = false
		b.users.put(u)
		_, _, err := b.svc.Authenticate(ctx, p.AccessToken)
		wantCode(t, err, domain.CodeAccountDisabled)
	})
	t.Run("deleted user", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		p := b.signIn(t)
		b.users.remove("u-alice")
		_, _, err := b.svc.Authenticate(ctx, p.AccessToken)
		wantCode(t, err, domain.CodeTokenInvalid)
	})
	t.Run("expired", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *auth.Config) { c.AccessTTL = time.Minute })
		p := b.signIn(t)
		if p.ExpiresIn != 60 {
			t.Fatalf("ExpiresIn %d", p.ExpiresIn)
		}
		b.clock.Advance(2 * time.Minute)
		_, _, err := b.svc.Authenticate(ctx, p.AccessToken)
		wantCode(t, err, domain.CodeTokenExpired)
	})
	t.Run("another deployment's token", func(t *testing.T) {
		t.Parallel()
		p := setup(t).signIn(t)
		_, _, err := setup(t).svc.Authenticate(ctx, p.AccessToken)
		wantCode(t, err, domain.CodeTokenInvalid)
	})
	t.Run("refresh token as bearer", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, _, err := b.svc.Authenticate(ctx, b.signIn(t).RefreshToken)
		wantCode(t, err, domain.CodeTokenInvalid)
	})
	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		_, _, err := setup(t).svc.Authenticate(ctx, "")
		wantCode(t, err, domain.CodeUnauthorized)
	})
}

func TestNewServiceRequiresPorts(t *testing.T) {
	t.Parallel()
	full := auth.Config{Users: &fakeUsers{}, Sessions: &fakeSessions{}, Limiter: &fakeLimiter{}, Keys: newKeyed(t, "k").ring, PasswordParams: auth.TestParams}
	for name, edit := range map[string]func(*auth.Config){
		"users":    func(c *auth.Config) { c.Users = nil },
		"sessions": func(c *auth.Config) { c.Sessions = nil },
		"limiter":  func(c *auth.Config) { c.Limiter = nil },
		"keys":     func(c *auth.Config) { c.Keys = nil },
	} {
		c := full
		edit(&c)
		if _, err := auth.NewService(c); err == nil {
			t.Errorf("no %s: accepted", name)
		}
	}
	if _, err := auth.NewService(full); err != nil {
		t.Fatal(err)
	}
}
