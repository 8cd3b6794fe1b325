package sqlstore

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/iswitchroofs/fieldsync/domain"
)

// CreateRefreshToken stores the first token of a new family. An empty ID
// gets a new UUID, an empty FamilyID the token's own ID, a zero CreatedAt
// the store clock. Returns CodeInvalid if required fields are missing or the
// user is not a member of OrgID, CodeConflict if the hash is taken.
func (s *Store) CreateRefreshToken(ctx context.Context, t *domain.RefreshToken) error {
	const op = "create refresh token"
	if err := checkToken(t); err != nil {
		return opError(op, err)
	}
	if t.ID == "" {
		t.ID = newID()
	}
	if t.FamilyID == "" {
		t.FamilyID = t.ID
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	normalizeTimes(t)
	if err := s.conn(ctx).Create(t).Error; err != nil {
		return s.translate(op, err)
	}
	return nil
}

func checkToken(t *domain.RefreshToken) error {
	if t == nil {
		return domain.Errorf(domain.CodeInvalid, "no refresh token given")
	}
	var bad []domain.FieldError
	for _, f := range []struct{ name, value string }{
		{"org_id", t.OrgID}, {"user_id", t.UserID}, {"token_hash", t.TokenHash},
	} {
		if f.value == "" {
			bad = append(bad, domain.FieldError{Field: f.name, Message: "is required"})
		}
	}
	if t.ExpiresAt.IsZero() {
		bad = append(bad, domain.FieldError{Field: "expires_at", Message: "is required"})
	}
	if len(bad) > 0 {
		return domain.Invalid(bad...)
	}
	return nil
}

// RotateRefreshToken atomically consumes the token whose hash is oldHash and
// stores next in the same family (next's FamilyID, UserID and OrgID are
// filled from the old token; an empty ID and zero CreatedAt are filled as in
// CreateRefreshToken). It returns the consumed token.
//
// The old token's row is locked (SELECT … FOR UPDATE on PostgreSQL, the
// write lock on SQLite), so of two concurrent rotations exactly one wins;
// the other then finds the token consumed. Presenting a consumed token means
// it leaked: the whole family is revoked, that revocation is committed, and
// the caller gets CodeRefreshReused (again on every later presentation). An
// unknown, revoked or expired (at now) token is CodeRefreshInvalid.
//
// The one exception is a retry: a phone whose connection dropped while the
// answer to its refresh was on the way presents the same token again. If
// that happens less than grace after the token was consumed, and the
// family's newest token (the one that answer carried) has not been used,
// that newest token is revoked and next replaces it, so the family still
// has exactly one live token. The window counts from the first use, so
// retrying does not stretch it.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next *domain.RefreshToken, now time.Time, grace time.Duration) (*domain.RefreshToken, error) {
	const op = "rotate refresh token"
	if next == nil || next.TokenHash == "" || next.ExpiresAt.IsZero() {
		return nil, opError(op, domain.Invalid(domain.FieldError{Field: "next", Message: "needs a token hash and an expiry"}))
	}
	now = normalTime(now)
	var consumed *domain.RefreshToken
	// outcome is the answer for the caller; it is not the transaction's
	// error, because a detected reuse must commit the revocation.
	var outcome error
	err := s.inTx(ctx, func(db *gorm.DB) error {
		consumed, outcome = nil, nil
		old, err := s.lockToken(db, oldHash)
		if err != nil {
			return err
		}
		switch {
		case old == nil:
			outcome = domain.Errorf(domain.CodeRefreshInvalid, "the refresh token is invalid")
			return nil
		case old.UsedAt != nil:
			retried, err := s.retriedRotation(db, old, now, grace)
			if err != nil {
				return err
			}
			if !retried {
				// Checked before revocation: every racer but the winner is
				// told the same thing, however many there were.
				outcome = domain.Errorf(domain.CodeRefreshReused, "the refresh token was already used; every session of this sign-in is revoked")
				return s.revokeWhere(db, now, "family_id = ?", old.FamilyID)
			}
		case old.RevokedAt != nil:
			outcome = domain.Errorf(domain.CodeRefreshInvalid, "the refresh token is revoked")
			return nil
		case !now.Before(old.ExpiresAt):
			outcome = domain.Errorf(domain.CodeRefreshInvalid, "the refresh token has expired")
			return nil
		}
		if old.UsedAt == nil {
			if err := db.Model(&domain.RefreshToken{}).Where("id = ?", old.ID).Update("used_at", now).Error; err != nil {
				return s.translate(op, err)
			}
			old.UsedAt = &now
		}
		n := *next
		n.OrgID, n.UserID, n.FamilyID = old.OrgID, old.UserID, old.FamilyID
		n.UsedAt, n.RevokedAt = nil, nil
		if n.ID == "" {
			n.ID = newID()
		}
		if n.CreatedAt.IsZero() {
			n.CreatedAt = now
		}
		normalizeTimes(&n)
		if err := db.Create(&n).Error; err != nil {
			return s.translate(op, err)
		}
		*next = n
		consumed = old
		return nil
	})
	if err != nil {
		return nil, err
	}
	if outcome != nil {
		return nil, opError(op, outcome)
	}
	return consumed, nil
}

// retriedRotation decides whether a consumed token presented again is a
// retry of a rotation whose answer was lost (see RotateRefreshToken) and, if
// so, revokes the family's unused newest token. The consumed token's row is
// locked, and every rotation of the family locks its own consumed token
// first, so the family's tokens do not change under this check.
func (s *Store) retriedRotation(db *gorm.DB, old *domain.RefreshToken, now time.Time, grace time.Duration) (bool, error) {
	const op = "rotate refresh token"
	if grace <= 0 || old.RevokedAt != nil || !now.Before(old.ExpiresAt) || now.Sub(*old.UsedAt) >= grace {
		return false, nil
	}
	// The tokens issued since old was consumed are its successor and those
	// of earlier retries. If the phone used any of them, it received an
	// answer and moved on: this presentation is a replay.
	const since = "family_id = ? AND created_at >= ? AND id <> ?"
	var used int64
	err := db.Model(&domain.RefreshToken{}).Where(since, old.FamilyID, *old.UsedAt, old.ID).
		Where("used_at IS NOT NULL").Count(&used).Error
	if err != nil {
		return false, s.translate(op, err)
	}
	if used > 0 {
		return false, nil
	}
	err = db.Model(&domain.RefreshToken{}).Where(since, old.FamilyID, *old.UsedAt, old.ID).
		Where("revoked_at IS NULL").Update("revoked_at", now).Error
	if err != nil {
		return false, s.translate(op, err)
	}
	return true, nil
}

// lockToken loads the token by hash and locks its row; nil if unknown.
func (s *Store) lockToken(db *gorm.DB, hash string) (*domain.RefreshToken, error) {
	if hash == "" {
		return nil, nil
	}
	q := db.Where("token_hash = ?", hash)
	if s.dialect == DialectPostgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var toks []*domain.RefreshToken
	if err := q.Limit(1).Find(&toks).Error; err != nil {
		return nil, s.translate("lock refresh token", err)
	}
	if len(toks) == 0 {
		return nil, nil
	}
	normalizeTimes(toks[0])
	return toks[0], nil
}

// revokeWhere revokes every live token matching the condition. On
// PostgreSQL it first locks the matching rows: that waits out a rotation in
// flight, and the UPDATE that follows (a new statement, so a new snapshot)
// then also sees the token that rotation added, which would otherwise
// survive the revocation.
func (s *Store) revokeWhere(db *gorm.DB, now time.Time, cond string, args ...any) error {
	const op = "revoke refresh tokens"
	if s.dialect == DialectPostgres {
		var ids []string
		err := db.Model(&domain.RefreshToken{}).Where(cond, args...).
			Clauses(clause.Locking{Strength: "UPDATE"}).Pluck("id", &ids).Error
		if err != nil {
			return s.translate(op, err)
		}
	}
	err := db.Model(&domain.RefreshToken{}).Where(cond, args...).Where("revoked_at IS NULL").
		Update("revoked_at", now).Error
	if err != nil {
		return s.translate(op, err)
	}
	return nil
}

// RevokeRefreshToken revokes the family of the token whose hash is given.
// Unknown tokens are not an error (sign-out is idempotent).
func (s *Store) RevokeRefreshToken(ctx context.Context, hash string, now time.Time) error {
	now = normalTime(now)
	return s.inTx(ctx, func(db *gorm.DB) error {
		tok, err := s.lockToken(db, hash)
		if err != nil || tok == nil {
			return err
		}
		return s.revokeWhere(db, now, "family_id = ?", tok.FamilyID)
	})
}

// SessionRevoked implements domain.SessionStore.
func (s *Store) SessionRevoked(ctx context.Context, orgID, userID, familyID string) (bool, error) {
	var n int64
	err := s.conn(ctx).Model(&domain.RefreshToken{}).
		Where("family_id = ? AND org_id = ? AND user_id = ? AND revoked_at IS NOT NULL", familyID, orgID, userID).
		Limit(1).Count(&n).Error
	return n > 0, s.translate("session revoked", err)
}

// RevokeUserSessions revokes every family of a user (deactivation, password
// change).
func (s *Store) RevokeUserSessions(ctx context.Context, orgID, userID string, now time.Time) error {
	now = normalTime(now)
	return s.inTx(ctx, func(db *gorm.DB) error {
		return s.revokeWhere(db, now, "org_id = ? AND user_id = ?", orgID, userID)
	})
}
