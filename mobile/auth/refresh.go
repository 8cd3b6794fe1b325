package auth

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// RefreshTokenPrefix marks fieldsync refresh tokens so that secret scanners
// (and people reading logs) recognise one, and so that an access token sent
// to the refresh endpoint is refused without a database lookup.
const RefreshTokenPrefix = "fsr_"

// DefaultRefreshTTL is how long a refresh token lasts without use. Every
// refresh replaces it with one that lasts as long again, so a phone that comes
// online at least once a month never has to sign in again.
const DefaultRefreshTTL = 30 * 24 * time.Hour

// DefaultRefreshRetryGrace is how long a used refresh token may be
// presented again as a retry (the phone lost the answer on a dropped
// connection) before a presentation counts as reuse of a stolen token. It
// is short: within it, a thief who replays a token the phone has not yet
// used again would get the session, and the phone would have to sign in.
const DefaultRefreshRetryGrace = 30 * time.Second

const refreshRandomBytes = 32

var refreshEncodedLen = len(RefreshTokenPrefix) + base64.RawURLEncoding.EncodedLen(refreshRandomBytes)

// newRefreshToken returns a fresh token and the hash under which the store
// keeps it. Only the hash is stored, so a database leak yields no usable
// tokens; the token has 256 bits of entropy, so an unsalted fast hash is
// enough (nothing to brute-force).
func newRefreshToken() (token, hash string, err error) {
	b := make([]byte, refreshRandomBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", domain.WrapError(domain.CodeInternal, fmt.Errorf("auth: refresh token: %w", err), "cannot create a session")
	}
	token = RefreshTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, sha256Hex(token), nil
}

// refreshTokenHash checks the token's shape and returns its hash, or
// CodeRefreshInvalid for something that cannot be one of ours.
func refreshTokenHash(token string) (string, error) {
	rest, ok := strings.CutPrefix(token, RefreshTokenPrefix)
	if !ok || len(token) != refreshEncodedLen {
		return "", errRefreshInvalid()
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(rest); err != nil {
		return "", errRefreshInvalid()
	}
	return sha256Hex(token), nil
}

func errRefreshInvalid() error {
	return domain.Errorf(domain.CodeRefreshInvalid, "the refresh token is invalid; sign in again")
}
