package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
)

// fakeClock is a settable domain.Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

var _ domain.Clock = (*fakeClock)(nil)

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var alicePrincipal = domain.Principal{UserID: "u-alice", OrgID: "org-1", Role: domain.RoleSales}

// keyed is a ring together with the secret of its one key, so tests can
// sign tokens the way an attacker who somehow got the key would.
type keyed struct {
	ring   *auth.KeyRing
	kid    string
	secret []byte
}

func newKeyed(tb testing.TB, kid string) keyed {
	tb.Helper()
	s := randomSecret(tb, 32)
	return keyed{ring: mustRing(tb, kid+":"+base64.RawURLEncoding.EncodeToString(s)), kid: kid, secret: s}
}

func (k keyed) spec() string { return k.kid + ":" + base64.RawURLEncoding.EncodeToString(k.secret) }

// validClaims are what Issue would write at now.
func validClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": auth.Issuer, "sub": "u-alice", "org": "org-1", "role": "sales", "sid": "fam-1", "jti": "t-1",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
}

func sign(tb testing.TB, m jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
	tb.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func wantCode(tb testing.TB, err error, code domain.Code) {
	tb.Helper()
	if !domain.IsCode(err, code) {
		tb.Fatalf("got %v, want %s", err, code)
	}
}

func TestTokensRoundTrip(t *testing.T) {
	t.Parallel()
	k, clock := newKeyed(t, "k1"), newFakeClock()
	tokens := auth.NewTokens(k.ring, clock, 0)
	s, issued, err := tokens.Issue(alicePrincipal, "fam-1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tokens.Verify(s)
	if err != nil {
		t.Fatal(err)
	}
	if got != issued || got.Principal() != alicePrincipal || got.SessionID != "fam-1" || got.TokenID == "" {
		t.Fatalf("verified %+v, issued %+v", got, issued)
	}
	if got.ExpiresAt.Sub(got.IssuedAt) != auth.DefaultAccessTTL {
		t.Fatalf("TTL %s", got.ExpiresAt.Sub(got.IssuedAt))
	}
	hdr, _, _ := strings.Cut(s, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(hdr)
	var h map[string]string
	if err := json.Unmarshal(raw, &h); err != nil || h["kid"] != "k1" || h["alg"] != "HS256" {
		t.Fatalf("header %s", raw)
	}
	if _, _, err := tokens.Issue(domain.Principal{UserID: "u", OrgID: "o", Role: "boss"}, "f"); !domain.IsCode(err, domain.CodeInternal) {
		t.Fatalf("issue with a bad role: %v", err)
	}
}

func TestTokensExpiry(t *testing.T) {
	t.Parallel()
	k, clock := newKeyed(t, "k1"), newFakeClock()
	tokens := auth.NewTokens(k.ring, clock, 10*time.Minute)
	s, _, err := tokens.Issue(alicePrincipal, "fam-1")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(10*time.Minute - time.Second)
	if _, err := tokens.Verify(s); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	clock.Advance(time.Minute)
	_, err = tokens.Verify(s)
	wantCode(t, err, domain.CodeTokenExpired)

	// Expired and forged is forged: the client must sign in, not refresh.
	other := newKeyed(t, "k1")
	c := validClaims(clock.Now().Add(-time.Hour))
	_, err = tokens.Verify(sign(t, jwt.SigningMethodHS256, "k1", other.secret, c))
	wantCode(t, err, domain.CodeTokenInvalid)
	// Expired with a bad issuer, though signed with the real key, is invalid too.
	c["iss"] = "someone-else"
	_, err = tokens.Verify(sign(t, jwt.SigningMethodHS256, "k1", k.secret, c))
	wantCode(t, err, domain.CodeTokenInvalid)
}

func TestTokensRefuseForgeries(t *testing.T) {
	t.Parallel()
	k, clock := newKeyed(t, "k1"), newFakeClock()
	tokens := auth.NewTokens(k.ring, clock, 0)
	now := clock.Now()
	genuine, _, err := tokens.Issue(alicePrincipal, "fam-1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(genuine, ".")
	tamper := func(edit func(map[string]any)) string {
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		out, _ := json.Marshal(m)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(out) + "." + parts[2]
	}
	without := func(claim string) string {
		c := validClaims(now)
		delete(c, claim)
		return sign(t, jwt.SigningMethodHS256, "k1", k.secret, c)
	}
	with := func(claim string, v any) string {
		c := validClaims(now)
		c[claim] = v
		return sign(t, jwt.SigningMethodHS256, "k1", k.secret, c)
	}
	// The secret signing "HS256" must not be reinterpreted under other algorithms.
	noneTok := sign(t, jwt.SigningMethodNone, "k1", jwt.UnsafeAllowNoneSignatureType, validClaims(now))
	sigBytes, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sigBytes[0] ^= 1

	for name, tok := range map[string]string{
		"control: claims we sign ourselves": "",
		"forged signature (other secret)":   sign(t, jwt.SigningMethodHS256, "k1", newKeyed(t, "k1").secret, validClaims(now)),
		"flipped signature bit":             parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sigBytes),
		"signature stripped":                parts[0] + "." + parts[1] + ".",
		"alg none":                          noneTok,
		"alg none, signature kept":          strings.Join([]string{strings.Split(noneTok, ".")[0], parts[1], parts[2]}, "."),
		"HS512 with the real key":           sign(t, jwt.SigningMethodHS512, "k1", k.secret, validClaims(now)),
		"unknown kid":                       sign(t, jwt.SigningMethodHS256, "k2", k.secret, validClaims(now)),
		"no kid":                            sign(t, jwt.SigningMethodHS256, "", k.secret, validClaims(now)),
		"tampered role":                     tamper(func(m map[string]any) { m["role"] = "admin" }),
		"tampered subject":                  tamper(func(m map[string]any) { m["sub"] = "u-bob" }),
		"wrong issuer":                      with("iss", "not-fieldsync"),
		"not yet valid":                     with("nbf", now.Add(time.Hour).Unix()),
		"issued in the future":              with("iat", now.Add(time.Hour).Unix()),
		"unknown role":                      with("role", "owner"),
		"no exp":                            without("exp"),
		"no sub":                            without("sub"),
		"no org":                            without("org"),
		"no sid":                            without("sid"),
		"no jti":                            without("jti"),
		"no iat":                            without("iat"),
		"no iss":                            without("iss"),
		"malformed":                         "not.a.jwt",
		"one segment":                       parts[1],
		"huge":                              strings.Repeat("a", 5000),
	} {
		if tok == "" {
			if _, err := tokens.Verify(sign(t, jwt.SigningMethodHS256, "k1", k.secret, validClaims(now))); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			continue
		}
		_, err := tokens.Verify(tok)
		if !domain.IsCode(err, domain.CodeTokenInvalid) {
			t.Errorf("%s: got %v, want %s", name, err, domain.CodeTokenInvalid)
		}
	}
}

func TestTokensKeyRotation(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	oldKey, newKey := newKeyed(t, "2026-01"), newKeyed(t, "2026-02")

	before := auth.NewTokens(oldKey.ring, clock, 0)
	during := auth.NewTokens(mustRing(t, newKey.spec()+","+oldKey.spec()), clock, 0)
	after := auth.NewTokens(newKey.ring, clock, 0)

	oldTok, _, err := before.Issue(alicePrincipal, "fam-1")
	if err != nil {
		t.Fatal(err)
	}
	newTok, _, err := during.Issue(alicePrincipal, "fam-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := during.Verify(oldTok); err != nil {
		t.Fatalf("old key still in the ring: %v", err)
	}
	if _, err := before.Verify(newTok); !domain.IsCode(err, domain.CodeTokenInvalid) {
		t.Fatalf("the ring must sign with its first key: old ring verified the new token (%v)", err)
	}
	if _, err := after.Verify(newTok); err != nil {
		t.Fatalf("new key: %v", err)
	}
	_, err = after.Verify(oldTok)
	wantCode(t, err, domain.CodeTokenInvalid)
}

// FuzzVerify feeds arbitrary strings, seeded with genuine and near-genuine
// tokens, to Verify: it must not panic, must answer only with the token
// codes, and must accept nothing but the tokens the ring issued.
func FuzzVerify(f *testing.F) {
	k, clock := newKeyed(f, "k1"), newFakeClock()
	tokens := auth.NewTokens(k.ring, clock, 0)
	issued := map[string]bool{}
	for _, p := range []domain.Principal{alicePrincipal, {UserID: "u-b", OrgID: "org-2", Role: domain.RoleAdmin}} {
		s, _, err := tokens.Issue(p, "fam")
		if err != nil {
			f.Fatal(err)
		}
		issued[s] = true
		f.Add(s)
		parts := strings.Split(s, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + "." + parts[1] + "." + parts[2] + "A")
		f.Add(parts[0] + ".." + parts[2])
	}
	f.Add(sign(f, jwt.SigningMethodNone, "k1", jwt.UnsafeAllowNoneSignatureType, validClaims(clock.Now())))
	f.Add(sign(f, jwt.SigningMethodHS256, "k1", newKeyed(f, "k1").secret, validClaims(clock.Now())))
	for _, s := range []string{"", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.x", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tokens.Verify(s)
		if err == nil {
			if !issued[s] {
				t.Fatalf("accepted a token the ring never issued: %q (%+v)", s, c)
			}
			return
		}
		if code := domain.ErrorCode(err); code != domain.CodeTokenInvalid && code != domain.CodeTokenExpired {
			t.Fatalf("code %s for %q", code, s)
		}
	})
}
