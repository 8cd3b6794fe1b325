package sqlstore

import (
	"cmp"
	"context"
	"strings"

	"gorm.io/gorm"

	"github.com/iswitchroofs/fieldsync/domain"
)

// FindRecord loads one live record of kind in orgID. Tombstones, other
// organizations' records and malformed ids are all CodeNotFound; an unknown
// kind is CodeInvalid.
func (s *Store) FindRecord(ctx context.Context, orgID string, kind domain.EntityKind, id string) (domain.Record, error) {
	op := "find " + string(kind)
	e, err := lookup(kind)
	if err != nil {
		return nil, opError(op, err)
	}
	rec, err := findIn(s.conn(ctx), e, orgID, id, false)
	if err != nil {
		return nil, s.translate(op, err)
	}
	return rec, nil
}

// FindUser returns the user only if it belongs to orgID; CodeNotFound
// otherwise.
func (s *Store) FindUser(ctx context.Context, orgID, id string) (*domain.User, error) {
	rec, err := s.FindRecord(ctx, orgID, domain.KindUser, id)
	if err != nil {
		return nil, err
	}
	return rec.(*domain.User), nil
}

// FindUserByEmail matches case-insensitively across all organizations (the
// write path stores emails lowercased). Returns CodeNotFound.
func (s *Store) FindUserByEmail(ctx context.Context, email string) (*domain.User, error) {
	const op = "find user by email"
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return nil, opError(op, domain.ErrNotFound("user"))
	}
	var users []*domain.User
	if err := s.conn(ctx).Where("email = ?", email).Limit(1).Find(&users).Error; err != nil {
		return nil, s.translate(op, err)
	}
	if len(users) == 0 {
		return nil, opError(op, domain.ErrNotFound("user"))
	}
	normalizeTimes(users[0])
	return users[0], nil
}

// ResolveAnchor loads a live record and the lead and project it hangs under,
// and lets domain.AnchorFor say who owns it. A synced record's row keeps
// that anchor in its scope_ columns, current in the same transaction as
// every write of the record or of a parent (the pull's scope reads rely on
// them too), so for those kinds the one read of the row answers; for the
// others the parents are read. Parents are followed through
// the references each kind has: lead_id and project_id directly, a
// project's or customer's lead, a touch's enrollment. A parent that is
// missing is left out; a tombstoned parent still counts, because the record
// hanging under it still belongs to the same people. Returns CodeNotFound
// like FindRecord. The organization itself (kind organization, id = orgID)
// resolves to an anchor with no owner.
func (s *Store) ResolveAnchor(ctx context.Context, orgID string, kind domain.EntityKind, id string) (domain.Anchor, error) {
	op := "resolve anchor of " + string(kind)
	if kind == domain.KindOrganization {
		if orgID == "" || id != orgID {
			return domain.Anchor{}, opError(op, domain.ErrNotFound("organization"))
		}
		if _, err := s.FindOrganization(ctx, id); err != nil {
			return domain.Anchor{}, err
		}
		return domain.Anchor{OrgID: orgID, Kind: kind, ID: id}, nil
	}
	if domain.IsSynced(kind) {
		if e, ok := entities[kind]; ok {
			return s.storedAnchor(ctx, op, e, orgID, id)
		}
	}
	return s.parentAnchor(ctx, op, orgID, kind, id)
}

// storedAnchor is a live synced record's anchor as its row keeps it.
func (s *Store) storedAnchor(ctx context.Context, op string, e entity, orgID, id string) (domain.Anchor, error) {
	c, err := findWithScope(s.conn(ctx), e, orgID, id)
	if err != nil {
		return domain.Anchor{}, s.translate(op, err)
	}
	if sd, ok := c.rec.(domain.SoftDeletable); ok && sd.Deleted() != nil {
		return domain.Anchor{}, opError(op, notFound(c.rec.EntityKind()))
	}
	a := c.scope.anchor(orgID, keyOf(c.rec))
	a.CreatedBy = c.rec.Base().CreatedBy
	return a, nil
}

// parentAnchor resolves the anchor by reading the record's parents.
func (s *Store) parentAnchor(ctx context.Context, op, orgID string, kind domain.EntityKind, id string) (domain.Anchor, error) {
	rec, err := s.FindRecord(ctx, orgID, kind, id)
	if err != nil {
		return domain.Anchor{}, err
	}
	a, err := anchorOf(parentsIn(s.conn(ctx), orgID), rec)
	if err != nil {
		return domain.Anchor{}, s.translate(op, err)
	}
	return a, nil
}

// parentRefs are the ids a record names of the records it hangs under.
type parentRefs struct {
	lead, project, customer, enrollment string
}

func refsOf(rec domain.Record) parentRefs {
	switch r := rec.(type) {
	case *domain.Customer:
		return parentRefs{lead: r.LeadID}
	case *domain.Project:
		return parentRefs{lead: r.LeadID, customer: r.CustomerID}
	case *domain.Interaction:
		return parentRefs{lead: r.LeadID, project: r.ProjectID, customer: r.CustomerID}
	case *domain.Appointment:
		return parentRefs{lead: r.LeadID, project: r.ProjectID, customer: r.CustomerID}
	case *domain.Photo:
		return parentRefs{project: r.ProjectID}
	case *domain.Review:
		return parentRefs{project: r.ProjectID, customer: r.CustomerID}
	case *domain.Referral:
		return parentRefs{lead: r.LeadID}
	case *domain.Alert:
		return parentRefs{lead: r.LeadID}
	case *domain.CampaignEnrollment:
		return parentRefs{lead: r.LeadID, customer: r.CustomerID}
	case *domain.CampaignTouch:
		return parentRefs{enrollment: r.EnrollmentID}
	}
	return parentRefs{}
}

// parentFinder loads a record a child hangs under, tombstone included; a
// missing parent is (nil, nil), because a child may name a parent that a
// phone has not pushed yet.
type parentFinder func(kind domain.EntityKind, id string) (domain.Record, error)

// parentsIn finds parents of orgID through db (a transaction's handle in
// the write path, so that parents written earlier in it count).
func parentsIn(db *gorm.DB, orgID string) parentFinder {
	return func(kind domain.EntityKind, id string) (domain.Record, error) {
		rec, err := findIn(db, entities[kind], orgID, id, true)
		if domain.IsCode(err, domain.CodeNotFound) {
			return nil, nil
		}
		return rec, err
	}
}

// cached remembers what find returned, for work that resolves many
// siblings under the same few parents (an access fan-out, the backfill).
// Only for a stretch in which those parents do not change.
func (find parentFinder) cached() parentFinder {
	type key struct {
		kind domain.EntityKind
		id   string
	}
	seen := map[key]domain.Record{}
	return func(kind domain.EntityKind, id string) (domain.Record, error) {
		k := key{kind, id}
		if rec, ok := seen[k]; ok {
			return rec, nil
		}
		rec, err := find(kind, id)
		if err != nil {
			return nil, err
		}
		seen[k] = rec
		return rec, nil
	}
}

// anchorOf resolves rec's anchor: its parents through find, then
// domain.AnchorFor, which alone decides which field means "owner".
func anchorOf(find parentFinder, rec domain.Record) (domain.Anchor, error) {
	lead, project, err := resolveParents(find, rec)
	if err != nil {
		return domain.Anchor{}, err
	}
	return domain.AnchorFor(rec, lead, project), nil
}

// resolveParents follows rec's references to its lead and project: the
// enrollment's refs for a touch, then the project, then the lead named
// directly, by the project, or by the customer.
func resolveParents(find parentFinder, rec domain.Record) (*domain.Lead, *domain.Project, error) {
	refs := refsOf(rec)
	if refs.enrollment != "" {
		enr, err := findParent[*domain.CampaignEnrollment](find, domain.KindCampaignEnrollment, refs.enrollment)
		if err != nil {
			return nil, nil, err
		}
		if enr != nil {
			refs = refsOf(enr)
		}
	}
	var project *domain.Project
	if p, ok := rec.(*domain.Project); ok {
		project = p
	} else if refs.project != "" {
		var err error
		if project, err = findParent[*domain.Project](find, domain.KindProject, refs.project); err != nil {
			return nil, nil, err
		}
	}
	if project != nil {
		refs.lead = cmp.Or(refs.lead, project.LeadID)
		refs.customer = cmp.Or(refs.customer, project.CustomerID)
	}
	if refs.lead == "" && refs.customer != "" {
		if _, isCustomer := rec.(*domain.Customer); !isCustomer {
			c, err := findParent[*domain.Customer](find, domain.KindCustomer, refs.customer)
			if err != nil {
				return nil, nil, err
			}
			if c != nil {
				refs.lead = c.LeadID
			}
		}
	}
	var lead *domain.Lead
	if refs.lead != "" {
		var err error
		if lead, err = findParent[*domain.Lead](find, domain.KindLead, refs.lead); err != nil {
			return nil, nil, err
		}
	}
	return lead, project, nil
}

// findParent is find with the record's concrete type; nil if missing.
func findParent[T domain.Record](find parentFinder, kind domain.EntityKind, id string) (T, error) {
	var zero T
	rec, err := find(kind, id)
	if err != nil || rec == nil {
		return zero, err
	}
	return rec.(T), nil
}

// ListLeads returns live leads matching f, newest first. With a Principal,
// only the leads it may see (domain.CanSee) come back, filtered in SQL:
// admins and managers see all, a sales rep those assigned to them, anyone
// else (field techs, a principal of another organization) none. Limit 0
// means no limit. An empty OrgID is CodeInvalid.
func (s *Store) ListLeads(ctx context.Context, f domain.LeadFilter) ([]*domain.Lead, error) {
	const op = "list leads"
	if f.OrgID == "" {
		return nil, opError(op, domain.Invalid(domain.FieldError{Field: "org_id", Message: "is required"}))
	}
	q := s.conn(ctx).Where("org_id = ? AND deleted_at IS NULL", f.OrgID)
	if p := f.Principal; p != nil {
		if p.OrgID != f.OrgID || p.UserID == "" {
			return []*domain.Lead{}, nil
		}
		switch p.Role {
		case domain.RoleAdmin, domain.RoleManager:
		case domain.RoleSales:
			q = q.Where("assigned_to = ?", p.UserID)
		default:
			return []*domain.Lead{}, nil
		}
	}
	if f.Status != nil {
		q = q.Where("status = ?", string(*f.Status))
	}
	if f.AssignedTo != nil {
		q = q.Where("assigned_to = ?", *f.AssignedTo)
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	if f.Offset > 0 {
		q = q.Offset(f.Offset)
	}
	leads := []*domain.Lead{}
	if err := q.Order("created_at DESC, id DESC").Find(&leads).Error; err != nil {
		return nil, s.translate(op, err)
	}
	for _, l := range leads {
		normalizeTimes(l)
	}
	return leads, nil
}
