package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Password length bounds, in bytes. The minimum follows NIST SP 800-63B for
// user-chosen secrets; the maximum bounds the work one request can cause and
// still leaves room for long passphrases.
const (
	MinPasswordBytes = 10
	MaxPasswordBytes = 256
)

// Params are the argon2id cost parameters. They are stored in every encoded
// hash, so raising them later leaves old hashes verifiable; NeedsRehash tells
// when a hash should be upgraded.
type Params struct {
	Memory      uint32 // KiB
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32 // bytes
	KeyLength   uint32 // bytes
}

// DefaultParams is the OWASP Password Storage Cheat Sheet's argon2id
// baseline (19 MiB, 2 passes, 1 lane): about 20-40 ms on a server core,
// which an interactive sign-in can afford and a guesser cannot.
var DefaultParams = Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// TestParams are deliberately weak so that tests which hash many passwords
// stay fast. Never use them in production.
var TestParams = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Bounds on parameters read from a stored hash: a corrupt or hostile hash
// must not make one verification allocate gigabytes or spin for minutes.
const (
	maxMemoryKiB  = 1 << 21 // 2 GiB
	maxIterations = 1 << 10
	minSaltBytes  = 8
	minKeyBytes   = 16
	maxKeyBytes   = 1 << 10
)

// b64 is the PHC string format's base64: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// HashPassword derives an argon2id hash of pw with a fresh random salt and
// returns it in PHC string format ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
// It returns CodeInvalid if pw is shorter than MinPasswordBytes or longer
// than MaxPasswordBytes.
func HashPassword(pw string, p Params) (string, error) {
	if len(pw) < MinPasswordBytes {
		return "", domain.Invalid(domain.FieldError{Field: "password", Message: fmt.Sprintf("must be at least %d characters", MinPasswordBytes)})
	}
	if len(pw) > MaxPasswordBytes {
		return "", domain.Invalid(domain.FieldError{Field: "password", Message: fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes)})
	}
	if err := p.check(); err != nil {
		return "", domain.WrapError(domain.CodeInternal, err, "cannot hash the password")
	}
	salt := make([]byte, p.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", domain.WrapError(domain.CodeInternal, fmt.Errorf("auth: salt: %w", err), "cannot hash the password")
	}
	key := argon2.IDKey([]byte(pw), salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLength)
	return encodeHash(p, salt, key), nil
}

// VerifyPassword reports whether pw matches the encoded hash, using the
// parameters recorded in the hash. A malformed hash is an error (CodeInternal:
// stored hashes are ours), a mismatch is (false, nil).
func VerifyPassword(encoded, pw string) (bool, error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, domain.WrapError(domain.CodeInternal, err, "cannot verify the password")
	}
	if len(pw) > MaxPasswordBytes {
		// HashPassword never accepted it, so it cannot match; skipping the
		// work keeps an oversized input from costing more than a normal one.
		return false, nil
	}
	got := argon2.IDKey([]byte(pw), salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters other than p
// (or cannot be read), so that a caller holding the plain password after a
// successful verification can store a stronger hash.
func NeedsRehash(encoded string, p Params) bool {
	have, _, _, err := decodeHash(encoded)
	return err != nil || have != p
}

func (p Params) check() error {
	switch {
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("auth: argon2 iterations %d out of range", p.Iterations)
	case p.Parallelism < 1:
		return errors.New("auth: argon2 parallelism must be at least 1")
	case p.Memory < 8*uint32(p.Parallelism) || p.Memory > maxMemoryKiB:
		return fmt.Errorf("auth: argon2 memory %d KiB out of range", p.Memory)
	case p.SaltLength < minSaltBytes:
		return fmt.Errorf("auth: argon2 salt of %d bytes is too short", p.SaltLength)
	case p.KeyLength < minKeyBytes || p.KeyLength > maxKeyBytes:
		return fmt.Errorf("auth: argon2 key length %d out of range", p.KeyLength)
	}
	return nil
}

func encodeHash(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodeHash parses a PHC argon2id string. The errors never include the
// string itself: it is a secret-derived value that does not belong in logs.
func decodeHash(encoded string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, errors.New("auth: password hash is not in PHC format")
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, errors.New("auth: password hash is not argon2id")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || parts[2] != fmt.Sprintf("v=%d", version) {
		return p, nil, nil, errors.New("auth: password hash has a malformed version")
	}
	if version != argon2.Version {
		return p, nil, nil, fmt.Errorf("auth: password hash has unsupported argon2 version %d", version)
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Iterations, &p.Parallelism); err != nil ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Iterations, p.Parallelism) {
		return p, nil, nil, errors.New("auth: password hash has malformed parameters")
	}
	salt, err := b64.Strict().DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, errors.New("auth: password hash has a malformed salt")
	}
	key, err := b64.Strict().DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, errors.New("auth: password hash has a malformed key")
	}
	p.SaltLength, p.KeyLength = uint32(len(salt)), uint32(len(key))
	if err := p.check(); err != nil {
		return p, nil, nil, err
	}
	return p, salt, key, nil
}
