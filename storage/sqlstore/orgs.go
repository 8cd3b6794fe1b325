package sqlstore

import (
	"context"
	"reflect"
	"strings"

	"gorm.io/gorm"

	"github.com/iswitchroofs/fieldsync/domain"
)

// CreateOrganization inserts org, filling in what the store owns: a new
// UUID when ID is empty, the default settings when Settings is zero, a
// change sequence of 0, the timestamps and a sync epoch. Name and slug are trimmed and the
// slug lowercased, so slugs are unique case-insensitively. Returns
// CodeInvalid for a missing name or slug or a malformed id, CodeConflict for
// a taken slug or id.
func (s *Store) CreateOrganization(ctx context.Context, org *domain.Organization) error {
	const op = "create organization"
	if org == nil {
		return opError(op, domain.Errorf(domain.CodeInvalid, "no organization given"))
	}
	org.Name = strings.TrimSpace(org.Name)
	org.Slug = strings.ToLower(strings.TrimSpace(org.Slug))
	var bad []domain.FieldError
	if org.Name == "" {
		bad = append(bad, domain.FieldError{Field: "name", Message: "is required"})
	}
	if org.Slug == "" {
		bad = append(bad, domain.FieldError{Field: "slug", Message: "is required"})
	}
	if org.ID == "" {
		org.ID = newID()
	} else if !validID(org.ID) {
		bad = append(bad, badID)
	}
	if len(bad) > 0 {
		return opError(op, domain.Invalid(bad...))
	}
	if reflect.ValueOf(org.Settings).IsZero() {
		org.Settings = domain.DefaultOrgSettings()
	}
	org.ChangeSeq = 0
	org.CreatedAt = s.now()
	org.UpdatedAt = org.CreatedAt
	return s.inTx(ctx, func(db *gorm.DB) error {
		if err := db.Create(org).Error; err != nil {
			return s.translate(op, err)
		}
		// The epoch is not a field of the domain type: cursors carry it,
		// and only the sync engine reads it (SyncState).
		err := db.Exec("UPDATE organizations SET sync_epoch = ? WHERE id = ?", newEpoch(), org.ID).Error
		return s.translate(op, err)
	})
}

// FindOrganization returns CodeNotFound if there is no such organization.
func (s *Store) FindOrganization(ctx context.Context, id string) (*domain.Organization, error) {
	if !validID(id) {
		return nil, opError("find organization", domain.ErrNotFound("organization"))
	}
	return s.findOrganization(ctx, "find organization", "id = ?", id)
}

// FindOrganizationBySlug matches case-insensitively; CodeNotFound if no
// organization has slug.
func (s *Store) FindOrganizationBySlug(ctx context.Context, slug string) (*domain.Organization, error) {
	return s.findOrganization(ctx, "find organization by slug", "slug = ?", strings.ToLower(strings.TrimSpace(slug)))
}

func (s *Store) findOrganization(ctx context.Context, op, where string, arg string) (*domain.Organization, error) {
	var orgs []*domain.Organization
	if err := s.conn(ctx).Where(where, arg).Limit(1).Find(&orgs).Error; err != nil {
		return nil, s.translate(op, err)
	}
	if len(orgs) == 0 {
		return nil, opError(op, domain.ErrNotFound("organization"))
	}
	normalizeTimes(orgs[0])
	return orgs[0], nil
}
