package auth_test

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
)

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

func mustHash(tb testing.TB, pw string, p auth.Params) string {
	tb.Helper()
	enc, err := auth.HashPassword(pw, p)
	if err != nil {
		tb.Fatal(err)
	}
	return enc
}

func TestHashPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery"
	enc := mustHash(t, pw, auth.TestParams)
	if !phcPattern.MatchString(enc) {
		t.Fatalf("not PHC argon2id: %s", enc)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{pw, true}, {pw + " ", false}, {"Correct horse battery", false}, {"", false}, {strings.Repeat("x", 10_000), false}} {
		ok, err := auth.VerifyPassword(enc, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("VerifyPassword(%.20q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	if again := mustHash(t, pw, auth.TestParams); again == enc {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

// The encoded fields must mean what the PHC format says, or hashes would not
// move between implementations (or survive a change of library).
func TestHashPasswordEncodesWhatItComputed(t *testing.T) {
	t.Parallel()
	const pw = "0123456789"
	enc := mustHash(t, pw, auth.TestParams)
	m := phcPattern.FindStringSubmatch(enc)
	if m == nil || m[1] != "64" || m[2] != "1" || m[3] != "1" {
		t.Fatalf("params not encoded as m=64,t=1,p=1: %s", enc)
	}
	salt, err := base64.RawStdEncoding.DecodeString(m[4])
	if err != nil || len(salt) != 16 {
		t.Fatalf("salt %q: %v", m[4], err)
	}
	want := base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32))
	if m[5] != want {
		t.Fatalf("hash %s, argon2.IDKey gives %s", m[5], want)
	}
}

func TestHashPasswordLengthLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		pw   string
		ok   bool
	}{
		{"9 bytes", strings.Repeat("a", 9), false},
		{"10 bytes", strings.Repeat("a", 10), true},
		{"256 bytes", strings.Repeat("a", 256), true},
		{"257 bytes", strings.Repeat("a", 257), false},
		{"empty", "", false},
	} {
		_, err := auth.HashPassword(tc.pw, auth.TestParams)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !domain.IsCode(err, domain.CodeInvalid) {
			t.Errorf("%s: got %v, want CodeInvalid", tc.name, err)
		}
	}
}

func TestVerifyPasswordReadsParamsFromHash(t *testing.T) {
	t.Parallel()
	stronger := auth.TestParams
	stronger.Memory, stronger.Iterations = 128, 2
	enc := mustHash(t, "raised-params-pw", stronger)
	if ok, err := auth.VerifyPassword(enc, "raised-params-pw"); !ok || err != nil {
		t.Fatalf("verify with other params: %v %v", ok, err)
	}
	if !auth.NeedsRehash(enc, auth.TestParams) {
		t.Error("NeedsRehash = false for different params")
	}
	if auth.NeedsRehash(enc, stronger) {
		t.Error("NeedsRehash = true for the same params")
	}
	if !auth.NeedsRehash("garbage", auth.TestParams) {
		t.Error("NeedsRehash = false for an unreadable hash")
	}
}

func TestVerifyPasswordMalformedHash(t *testing.T) {
	t.Parallel()
	good := mustHash(t, "0123456789", auth.TestParams)
	parts := strings.Split(good, "$") // "", alg, v, params, salt, key
	join := func(p ...string) string { return strings.Join(p, "$") }
	for name, enc := range map[string]string{
		"empty":           "",
		"bcrypt":          "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":         join("", "argon2i", parts[2], parts[3], parts[4], parts[5]),
		"version 16":      join("", parts[1], "v=16", parts[3], parts[4], parts[5]),
		"version junk":    join("", parts[1], "v=19x", parts[3], parts[4], parts[5]),
		"params order":    join("", parts[1], parts[2], "t=1,m=64,p=1", parts[4], parts[5]),
		"params zero t":   join("", parts[1], parts[2], "m=64,t=0,p=1", parts[4], parts[5]),
		"params huge m":   join("", parts[1], parts[2], "m=4294967295,t=1,p=1", parts[4], parts[5]),
		"params p 300":    join("", parts[1], parts[2], "m=4096,t=1,p=300", parts[4], parts[5]),
		"params leading0": join("", parts[1], parts[2], "m=064,t=1,p=1", parts[4], parts[5]),
		"salt not b64":    join("", parts[1], parts[2], parts[3], "!!!!", parts[5]),
		"salt short":      join("", parts[1], parts[2], parts[3], "c2FsdA", parts[5]),
		"key padded":      join("", parts[1], parts[2], parts[3], parts[4], parts[5]+"="),
		"key short":       join("", parts[1], parts[2], parts[3], parts[4], "a2V5"),
		"extra field":     good + "$x",
	} {
		ok, err := auth.VerifyPassword(enc, "0123456789")
		if ok || !domain.IsCode(err, domain.CodeInternal) {
			t.Errorf("%s: got %v, %v; want false, CodeInternal", name, ok, err)
		}
		if err != nil && len(enc) > 8 && strings.Contains(err.Error(), enc) {
			t.Errorf("%s: the error echoes the hash", name)
		}
	}
}
