package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MinKeyBytes is the shortest HMAC secret a key ring accepts: RFC 7518
// requires a key at least as long as the HS256 output.
const MinKeyBytes = 32

var kidPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

type signingKey struct {
	id     string
	secret []byte
}

// KeyRing holds the HMAC keys for access tokens. The first key signs; every
// key verifies, so a key is rotated by putting a new one first and dropping
// the old one once the tokens it signed have expired (one access-token TTL).
//
// A KeyRing never prints its secrets, whatever the format verb.
type KeyRing struct {
	keys []signingKey
	byID map[string][]byte
}

// ParseKeyRing reads a spec of the form "kid1:secret1,kid2:secret2", where
// each secret is base64 (standard or URL alphabet, padded or not) of at least
// MinKeyBytes bytes and each kid matches [A-Za-z0-9._-]{1,64}. Duplicate kids
// are refused. Errors name the offending kid, never a secret.
func ParseKeyRing(spec string) (*KeyRing, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("auth: the key ring spec is empty; expected kid:base64secret[,kid:base64secret...]")
	}
	r := &KeyRing{byID: map[string][]byte{}}
	for i, entry := range strings.Split(spec, ",") {
		kid, enc, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok {
			return nil, fmt.Errorf("auth: key ring entry %d is not kid:base64secret", i+1)
		}
		if !kidPattern.MatchString(kid) {
			return nil, fmt.Errorf("auth: key ring entry %d: the key id must match [A-Za-z0-9._-]{1,64}", i+1)
		}
		if _, dup := r.byID[kid]; dup {
			return nil, fmt.Errorf("auth: key %q appears twice in the key ring", kid)
		}
		secret, err := decodeSecret(enc)
		if err != nil {
			return nil, fmt.Errorf("auth: key %q: the secret is not valid base64", kid)
		}
		if len(secret) < MinKeyBytes {
			return nil, fmt.Errorf("auth: key %q: the secret is %d bytes, at least %d are needed", kid, len(secret), MinKeyBytes)
		}
		r.keys = append(r.keys, signingKey{id: kid, secret: secret})
		r.byID[kid] = secret
	}
	return r, nil
}

// decodeSecret accepts both alphabets with or without padding because
// secrets come from many tools (openssl base64, GenerateKeySpec, vaults).
func decodeSecret(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// GenerateKeySpec returns a one-key spec, "kid:secret", with a fresh random
// secret of MinKeyBytes bytes, for first-time setups that persist it.
func GenerateKeySpec(kid string) (string, error) {
	if !kidPattern.MatchString(kid) {
		return "", errors.New("auth: the key id must match [A-Za-z0-9._-]{1,64}")
	}
	secret := make([]byte, MinKeyBytes)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("auth: generate key: %w", err)
	}
	return kid + ":" + base64.RawURLEncoding.EncodeToString(secret), nil
}

// KeyIDs lists the key ids, the signing one first, for startup logs.
func (r *KeyRing) KeyIDs() []string {
	ids := make([]string, len(r.keys))
	for i, k := range r.keys {
		ids[i] = k.id
	}
	return ids
}

// String describes the ring by its key ids only, so that logging a
// configuration struct that holds it does not leak secrets.
func (r *KeyRing) String() string {
	return "KeyRing" + fmt.Sprint(r.KeyIDs())
}

// GoString keeps %#v from dumping the secrets.
func (r *KeyRing) GoString() string { return r.String() }

func (r *KeyRing) signing() signingKey { return r.keys[0] }

func (r *KeyRing) lookup(kid string) []byte { return r.byID[kid] }
