package sqlstore

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/iswitchroofs/fieldsync/domain"
)

var _ domain.APIKeyStore = (*Store)(nil)

const apiKeysTable = "api_keys"

// CreateAPIKey stores k; an empty ID gets a new UUID and a zero CreatedAt
// the store clock. Returns CodeInvalid if the organization, name or hash is
// missing, CodeConflict if the hash is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k *domain.APIKey) error {
	const op = "create api key"
	if k == nil || k.OrgID == "" || k.Name == "" || k.Hash == "" {
		return opError(op, domain.Invalid(domain.FieldError{Field: "name", Message: "is required"}))
	}
	if k.ID == "" {
		k.ID = newID()
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	normalizeTimes(k)
	if err := s.conn(ctx).Table(apiKeysTable).Create(k).Error; err != nil {
		return s.translate(op, err)
	}
	return nil
}

// ListAPIKeys lists the organization's keys, newest first.
func (s *Store) ListAPIKeys(ctx context.Context, orgID string) ([]*domain.APIKey, error) {
	keys := []*domain.APIKey{}
	err := s.conn(ctx).Table(apiKeysTable).Where("org_id = ?", orgID).Order("created_at DESC, id DESC").Find(&keys).Error
	if err != nil {
		return nil, s.translate("list api keys", err)
	}
	for _, k := range keys {
		normalizeTimes(k)
	}
	return keys, nil
}

// RevokeAPIKey revokes a key of orgID, keeping the first revocation time.
// Returns CodeNotFound for a key of another organization or none.
func (s *Store) RevokeAPIKey(ctx context.Context, orgID, id string, at time.Time) error {
	const op = "revoke api key"
	res := s.conn(ctx).Table(apiKeysTable).Where("org_id = ? AND id = ?", orgID, id).
		Update("revoked_at", gorm.Expr("COALESCE(revoked_at, ?)", normalTime(at)))
	if res.Error != nil {
		return s.translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return opError(op, domain.ErrNotFound("API key"))
	}
	return nil
}

// FindAPIKeyByHash returns the key whose secret hashes to hash. Returns
// CodeNotFound.
func (s *Store) FindAPIKeyByHash(ctx context.Context, hash string) (*domain.APIKey, error) {
	const op = "find api key"
	var keys []*domain.APIKey
	if err := s.conn(ctx).Table(apiKeysTable).Where("hash = ?", hash).Limit(1).Find(&keys).Error; err != nil {
		return nil, s.translate(op, err)
	}
	if len(keys) == 0 {
		return nil, opError(op, domain.ErrNotFound("API key"))
	}
	normalizeTimes(keys[0])
	return keys[0], nil
}

// TouchAPIKey records that the key was used at at (at most once a minute
// per key, so a busy form does not write on every lead).
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	at = normalTime(at)
	err := s.conn(ctx).Table(apiKeysTable).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, at.Add(-time.Minute)).
		Update("last_used_at", at).Error
	return s.translate("touch api key", err)
}
