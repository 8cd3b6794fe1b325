package mobile

import (
	"strconv"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/iswitchroofs/fieldsync/domain"
)

// readableKinds are the record kinds served by GET /v1/<plural>/:id, keyed
// by the URL segment.
var readableKinds = map[string]domain.EntityKind{
	"leads":        domain.KindLead,
	"customers":    domain.KindCustomer,
	"projects":     domain.KindProject,
	"appointments": domain.KindAppointment,
	"interactions": domain.KindInteraction,
	"photos":       domain.KindPhoto,
	"alerts":       domain.KindAlert,
	"users":        domain.KindUser,
}

// getRecord answers one record if, and only if, the caller may see it. A
// record of another organization, outside the caller's scope, deleted, or
// with an id that cannot exist all answer the same 404, so the endpoint
// never reveals what exists.
func (s *server) getRecord(kind domain.EntityKind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, err := mustPrincipal(c)
		if err != nil {
			return err
		}
		id := c.Params("id")
		if _, perr := uuid.Parse(id); perr != nil {
			return domain.ErrNotFound(string(kind))
		}
		ctx := c.UserContext()
		anchor, err := s.records.ResolveAnchor(ctx, p.OrgID, kind, id)
		if err != nil {
			return err
		}
		if err := domain.Authorize(p, domain.ActionRead, anchor); err != nil {
			return err
		}
		rec, err := s.records.FindRecord(ctx, p.OrgID, kind, id)
		if err != nil {
			return err
		}
		return c.JSON(rec)
	}
}

// listResponse wraps a page of records.
type listResponse[T any] struct {
	Items  []T `json:"items"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

func (s *server) listLeads(c *fiber.Ctx) error {
	p, err := mustPrincipal(c)
	if err != nil {
		return err
	}
	limit, offset, err := pageParams(c)
	if err != nil {
		return err
	}
	f := domain.LeadFilter{OrgID: p.OrgID, Principal: &p, Limit: limit, Offset: offset}
	if st := c.Query("status"); st != "" {
		ls := domain.LeadStatus(st)
		if !ls.Valid() {
			return domain.Invalid(domain.FieldError{Field: "status", Message: "unknown lead status"})
		}
		f.Status = &ls
	}
	leads, err := s.records.ListLeads(c.UserContext(), f)
	if err != nil {
		return err
	}
	if leads == nil {
		leads = []*domain.Lead{}
	}
	return c.JSON(listResponse[*domain.Lead]{Items: leads, Limit: limit, Offset: offset})
}

// pageParams reads limit (1–200, default 50) and offset (≥ 0).
func pageParams(c *fiber.Ctx) (limit, offset int, err error) {
	limit, offset = 50, 0
	var fe []domain.FieldError
	if v := c.Query("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > 200 {
			fe = append(fe, domain.FieldError{Field: "limit", Message: "must be a whole number from 1 to 200"})
		}
		limit = n
	}
	if v := c.Query("offset"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			fe = append(fe, domain.FieldError{Field: "offset", Message: "must be a whole number, 0 or more"})
		}
		offset = n
	}
	if len(fe) > 0 {
		return 0, 0, domain.Invalid(fe...)
	}
	return limit, offset, nil
}

func (s *server) me(c *fiber.Ctx) error {
	p, err := mustPrincipal(c)
	if err != nil {
		return err
	}
	u, err := s.users.FindUser(c.UserContext(), p.OrgID, p.UserID)
	if err != nil {
		return err
	}
	return c.JSON(u)
}
