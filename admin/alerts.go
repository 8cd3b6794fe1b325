package admin

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/domain"
)

// acknowledge is POST /v1/alerts/{id}/acknowledge: the alert's recipient
// (or a manager or admin) stops the lead's escalation chain, as the sync
// mutation alert.acknowledge does. Acknowledging twice keeps the first.
func (a *api) acknowledge(c *fiber.Ctx) error {
	p, err := a.principal(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	id := c.Params("id")
	anchor, err := a.cfg.Store.ResolveAnchor(ctx, p.OrgID, domain.KindAlert, id)
	if err != nil {
		return err
	}
	if err := domain.Authorize(p, domain.ActionAcknowledge, anchor); err != nil {
		return err
	}
	var out *domain.Alert
	err = a.cfg.Store.Write(ctx, p, func(tx domain.Tx) error {
		rec, err := tx.Find(domain.KindAlert, id)
		if err != nil {
			return err
		}
		al := rec.(*domain.Alert)
		out = al
		if al.AcknowledgedAt != nil {
			return nil
		}
		now := tx.Now()
		al.AcknowledgedAt, al.AcknowledgedBy = &now, p.UserID
		return tx.Update(al)
	})
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// maxReportRange bounds a response-time report.
const maxReportRange = 366 * 24 * time.Hour

type responseRow struct {
	LeadID                 string     `json:"lead_id"`
	AssignedTo             string     `json:"assigned_to,omitempty"`
	CreatedAt              time.Time  `json:"created_at"`
	AcknowledgedAt         *time.Time `json:"acknowledged_at,omitempty"`
	AcknowledgedBy         string     `json:"acknowledged_by,omitempty"`
	SecondsToAcknowledge   *int       `json:"seconds_to_acknowledge,omitempty"`
	FirstResponseAt        *time.Time `json:"first_response_at,omitempty"`
	SecondsToFirstResponse *int       `json:"seconds_to_first_response,omitempty"`
	AnsweredWithinTarget   bool       `json:"answered_within_target"`
}

func seconds(from time.Time, to *time.Time) *int {
	if to == nil {
		return nil
	}
	s := int(to.Sub(from).Seconds())
	return &s
}

// responseTimes is GET /v1/admin/response-times?from=&to=&period=: each
// alerted lead's seconds to acknowledgement and to first response, and the
// share answered within 2 minutes for the team, each rep and each period
// (managers and admins).
func (a *api) responseTimes(c *fiber.Ctx) error {
	p, err := a.principal(c, domain.RoleAdmin, domain.RoleManager)
	if err != nil {
		return err
	}
	now := a.cfg.Clock.Now()
	to, from := now, now.Add(-30*24*time.Hour)
	var bad []domain.FieldError
	parse := func(name string, dst *time.Time) {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				bad = append(bad, domain.FieldError{Field: name, Message: "must be an RFC 3339 time"})
				return
			}
			*dst = t
		}
	}
	parse("from", &from)
	parse("to", &to)
	period := domain.Period(c.Query("period", string(domain.PeriodDay)))
	if period != domain.PeriodDay && period != domain.PeriodWeek && period != domain.PeriodMonth {
		bad = append(bad, domain.FieldError{Field: "period", Message: "must be day, week or month"})
	}
	if len(bad) == 0 && (!from.Before(to) || to.Sub(from) > maxReportRange) {
		bad = append(bad, domain.FieldError{Field: "from", Message: "must be before to, at most 366 days apart"})
	}
	if len(bad) > 0 {
		return domain.Invalid(bad...)
	}
	ctx := c.UserContext()
	org, err := a.cfg.Store.FindOrganization(ctx, p.OrgID)
	if err != nil {
		return err
	}
	loc := time.UTC
	if l, err := time.LoadLocation(org.TimeZone); err == nil && org.TimeZone != "" {
		loc = l
	}
	rows, err := a.cfg.Store.LeadResponses(ctx, p.OrgID, from, to)
	if err != nil {
		return err
	}
	out := make([]responseRow, len(rows))
	for i, r := range rows {
		ans := r.AnsweredAt()
		out[i] = responseRow{
			LeadID: r.LeadID, AssignedTo: r.AssignedTo, CreatedAt: r.CreatedAt,
			AcknowledgedAt: r.AcknowledgedAt, AcknowledgedBy: r.AcknowledgedBy, SecondsToAcknowledge: seconds(r.CreatedAt, r.AcknowledgedAt),
			FirstResponseAt: r.FirstResponseAt, SecondsToFirstResponse: seconds(r.CreatedAt, r.FirstResponseAt),
			AnsweredWithinTarget: ans != nil && ans.Sub(r.CreatedAt) <= domain.ResponseTarget,
		}
	}
	return c.JSON(fiber.Map{
		"from": from, "to": to, "period": period, "target_seconds": int(domain.ResponseTarget.Seconds()),
		"report": domain.BuildResponseReport(rows, period, loc), "leads": out,
	})
}

// notifications is GET /v1/admin/notifications?channel=&status=&user_id=&limit=:
// what alerting sent or, with no provider configured, put in the local
// outbox (status "outbox"), newest first (managers and admins).
func (a *api) notifications(c *fiber.Ctx) error {
	p, err := a.principal(c, domain.RoleAdmin, domain.RoleManager)
	if err != nil {
		return err
	}
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return domain.Invalid(domain.FieldError{Field: "limit", Message: "must be 1 to 1000"})
		}
		limit = n
	}
	ns, err := a.cfg.Store.ListNotifications(c.UserContext(), domain.NotificationFilter{
		OrgID: p.OrgID, UserID: c.Query("user_id"), Channel: c.Query("channel"), Status: c.Query("status"), Limit: limit,
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"notifications": ns})
}

// setAvailability is PUT /v1/admin/users/{id}/availability: a rep's
// working hours and time off, which routing reads (managers and admins).
func (a *api) setAvailability(c *fiber.Ctx) error {
	p, err := a.principal(c, domain.RoleAdmin, domain.RoleManager)
	if err != nil {
		return err
	}
	var av domain.Availability
	if err := decode(c, &av); err != nil {
		return err
	}
	var bad []domain.FieldError
	for _, h := range av.Hours {
		if h.Weekday < time.Sunday || h.Weekday > time.Saturday || h.Start < 0 || h.End > 24*60 || h.Start >= h.End {
			bad = append(bad, domain.FieldError{Field: "hours", Message: "each shift needs a weekday 0-6 and 0 ≤ start_minute < end_minute ≤ 1440"})
			break
		}
	}
	for _, off := range av.TimeOff {
		if !off.From.Before(off.To) {
			bad = append(bad, domain.FieldError{Field: "time_off", Message: "each absence needs from before to"})
			break
		}
	}
	if len(bad) > 0 {
		return domain.Invalid(bad...)
	}
	if err := a.cfg.Store.SetAvailability(c.UserContext(), p.OrgID, c.Params("id"), av); err != nil {
		return err
	}
	return c.JSON(av)
}
