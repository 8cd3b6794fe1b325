package auth_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/iswitchroofs/fieldsync/mobile/auth"
)

// randomSecret returns n random bytes; tests that forge tokens need to know
// the secrets a ring holds.
func randomSecret(tb testing.TB, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustRing(tb testing.TB, spec string) *auth.KeyRing {
	tb.Helper()
	r, err := auth.ParseKeyRing(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestParseKeyRing(t *testing.T) {
	t.Parallel()
	s1, s2, s3 := randomSecret(t, 32), randomSecret(t, 48), randomSecret(t, 33)
	spec := "2026-02:" + base64.StdEncoding.EncodeToString(s1) +
		", old.key_1:" + base64.RawURLEncoding.EncodeToString(s2) +
		",k3:" + base64.RawStdEncoding.EncodeToString(s3)
	r := mustRing(t, spec)
	if got := fmt.Sprint(r.KeyIDs()); got != "[2026-02 old.key_1 k3]" {
		t.Fatalf("KeyIDs = %s", got)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, r)
		for _, s := range [][]byte{s1, s2, s3} {
			if strings.Contains(out, base64.StdEncoding.EncodeToString(s)[:20]) || strings.Contains(out, base64.RawURLEncoding.EncodeToString(s)[:20]) {
				t.Errorf("%s prints a secret: %s", verb, out)
			}
		}
	}
}

func TestParseKeyRingRefuses(t *testing.T) {
	t.Parallel()
	secret := base64.RawURLEncoding.EncodeToString(randomSecret(t, 32))
	short := base64.StdEncoding.EncodeToString(randomSecret(t, 31))
	for name, spec := range map[string]string{
		"empty":          "",
		"blank":          "  ",
		"no colon":       "k1" + secret,
		"empty kid":      ":" + secret,
		"kid with space": "k 1:" + secret,
		"kid with slash": "k/1:" + secret,
		"kid too long":   strings.Repeat("k", 65) + ":" + secret,
		"short secret":   "k1:" + short,
		"empty secret":   "k1:",
		"not base64":     "k1:" + secret[:20] + "*" + secret[21:],
		"mixed alphabet": "k1:" + "+_" + secret[2:],
		"duplicate kid":  "k1:" + secret + ",k1:" + secret,
		"trailing comma": "k1:" + secret + ",",
	} {
		_, err := auth.ParseKeyRing(spec)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret[:16]) || strings.Contains(err.Error(), short[:16]) {
			t.Errorf("%s: error echoes the secret: %v", name, err)
		}
	}
}

func TestGenerateKeySpec(t *testing.T) {
	t.Parallel()
	a, err := auth.GenerateKeySpec("dev")
	if err != nil {
		t.Fatal(err)
	}
	b, err := auth.GenerateKeySpec("dev")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two generated specs are equal")
	}
	if got := fmt.Sprint(mustRing(t, a).KeyIDs()); got != "[dev]" {
		t.Fatalf("KeyIDs = %s", got)
	}
	// A generated key can be prepended to an existing spec: that is rotation.
	if got := fmt.Sprint(mustRing(t, "new:"+strings.TrimPrefix(b, "dev:")+","+a).KeyIDs()); got != "[new dev]" {
		t.Fatalf("rotated KeyIDs = %s", got)
	}
	if _, err := auth.GenerateKeySpec("bad kid"); err == nil {
		t.Fatal("bad kid accepted")
	}
}
