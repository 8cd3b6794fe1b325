package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm/clause"

	"github.com/iswitchroofs/fieldsync/domain"
)

var (
	_ domain.AlertStore      = (*Store)(nil)
	_ domain.LeadIntakeStore = (*Store)(nil)
)

// TeamMembers lists the organization's active users, by id.
func (s *Store) TeamMembers(ctx context.Context, orgID string) ([]*domain.User, error) {
	users := []*domain.User{}
	if err := s.conn(ctx).Where("org_id = ? AND active", orgID).Order("id").Find(&users).Error; err != nil {
		return nil, s.translate("team members", err)
	}
	for _, u := range users {
		normalizeTimes(u)
	}
	return users, nil
}

// LeadAlerts lists every alert of a lead, by level then recipient.
func (s *Store) LeadAlerts(ctx context.Context, orgID, leadID string) ([]*domain.Alert, error) {
	alerts := []*domain.Alert{}
	err := s.conn(ctx).Where("org_id = ? AND lead_id = ?", orgID, leadID).Order("level, recipient_id").Find(&alerts).Error
	if err != nil {
		return nil, s.translate("lead alerts", err)
	}
	for _, a := range alerts {
		normalizeTimes(a)
	}
	return alerts, nil
}

// PushDevices lists a user's live devices that have a push token.
func (s *Store) PushDevices(ctx context.Context, orgID, userID string) ([]*domain.Device, error) {
	devs := []*domain.Device{}
	err := s.conn(ctx).Where("org_id = ? AND user_id = ? AND revoked_at IS NULL AND push_token <> ''", orgID, userID).
		Order("id").Find(&devs).Error
	if err != nil {
		return nil, s.translate("push devices", err)
	}
	for _, d := range devs {
		normalizeTimes(d)
	}
	return devs, nil
}

type availabilityRow struct {
	OrgID        string
	UserID       string
	Availability string
	UpdatedAt    time.Time
}

// RouteCandidates lists the active sales reps with their schedules and
// how many open leads (not won, lost or deleted) each holds.
func (s *Store) RouteCandidates(ctx context.Context, orgID string) ([]domain.RouteCandidate, error) {
	const op = "route candidates"
	var reps []*domain.User
	db := s.conn(ctx)
	if err := db.Where("org_id = ? AND active AND role = ?", orgID, string(domain.RoleSales)).Order("id").Find(&reps).Error; err != nil {
		return nil, s.translate(op, err)
	}
	var rows []availabilityRow
	if err := db.Table("rep_availability").Where("org_id = ?", orgID).Find(&rows).Error; err != nil {
		return nil, s.translate(op, err)
	}
	avail := map[string]domain.Availability{}
	for _, r := range rows {
		var a domain.Availability
		if err := json.Unmarshal([]byte(r.Availability), &a); err == nil {
			avail[r.UserID] = a
		}
	}
	var loads []struct {
		AssignedTo string
		N          int
	}
	err := db.Table("leads").Select("assigned_to, COUNT(*) AS n").
		Where("org_id = ? AND deleted_at IS NULL AND assigned_to <> '' AND status NOT IN ?", orgID,
			[]string{string(domain.LeadWon), string(domain.LeadLost)}).
		Group("assigned_to").Scan(&loads).Error
	if err != nil {
		return nil, s.translate(op, err)
	}
	load := map[string]int{}
	for _, l := range loads {
		load[l.AssignedTo] = l.N
	}
	out := make([]domain.RouteCandidate, 0, len(reps))
	for _, u := range reps {
		normalizeTimes(u)
		out = append(out, domain.RouteCandidate{User: u, Availability: avail[u.ID], OpenLeads: load[u.ID]})
	}
	return out, nil
}

// SetAvailability stores a user's schedule. Returns CodeNotFound for a
// user outside orgID.
func (s *Store) SetAvailability(ctx context.Context, orgID, userID string, a domain.Availability) error {
	const op = "set availability"
	if _, err := s.FindUser(ctx, orgID, userID); err != nil {
		return err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return opError(op, err)
	}
	row := availabilityRow{OrgID: orgID, UserID: userID, Availability: string(b), UpdatedAt: s.now()}
	err = s.conn(ctx).Table("rep_availability").Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "org_id"}, {Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"availability", "updated_at"}),
	}).Create(&row).Error
	return s.translate(op, err)
}

// LeadResponses returns the response clock of every alerted lead created
// in [from, to), oldest first.
func (s *Store) LeadResponses(ctx context.Context, orgID string, from, to time.Time) ([]domain.LeadResponse, error) {
	const op = "lead responses"
	db := s.conn(ctx)
	var leads []*domain.Lead
	err := db.Where("org_id = ? AND deleted_at IS NULL AND created_at >= ? AND created_at < ?", orgID, normalTime(from), normalTime(to)).
		Where("EXISTS (SELECT 1 FROM alerts a WHERE a.org_id = leads.org_id AND a.lead_id = leads.id)").
		Order("created_at, id").Find(&leads).Error
	if err != nil {
		return nil, s.translate(op, err)
	}
	out := make([]domain.LeadResponse, 0, len(leads))
	const chunk = 500
	for start := 0; start < len(leads); start += chunk {
		part := leads[start:min(start+chunk, len(leads))]
		ids := make([]string, len(part))
		for i, l := range part {
			ids[i] = l.ID
		}
		var alerts []*domain.Alert
		if err := db.Where("org_id = ? AND lead_id IN ? AND acknowledged_at IS NOT NULL", orgID, ids).Find(&alerts).Error; err != nil {
			return nil, s.translate(op, err)
		}
		var acts []*domain.Interaction
		err := db.Where("org_id = ? AND lead_id IN ? AND deleted_at IS NULL AND kind IN ?", orgID, ids,
			[]string{string(domain.InteractionCall), string(domain.InteractionSMS), string(domain.InteractionEmail)}).Find(&acts).Error
		if err != nil {
			return nil, s.translate(op, err)
		}
		byLead := make(map[string]*domain.LeadResponse, len(part))
		for _, l := range part {
			normalizeTimes(l)
			out = append(out, domain.LeadResponse{LeadID: l.ID, AssignedTo: l.AssignedTo, CreatedAt: l.CreatedAt})
		}
		for i := len(out) - len(part); i < len(out); i++ {
			byLead[out[i].LeadID] = &out[i]
		}
		for _, a := range alerts {
			normalizeTimes(a)
			r := byLead[a.LeadID]
			if r.AcknowledgedAt == nil || a.AcknowledgedAt.Before(*r.AcknowledgedAt) {
				at := *a.AcknowledgedAt
				r.AcknowledgedAt, r.AcknowledgedBy = &at, a.AcknowledgedBy
			}
		}
		for _, it := range acts {
			normalizeTimes(it)
			r := byLead[it.LeadID]
			if r.FirstResponseAt == nil || it.OccurredAt.Before(*r.FirstResponseAt) {
				at := it.OccurredAt
				r.FirstResponseAt = &at
			}
		}
	}
	return out, nil
}

// FindLeadByExternalID returns the live lead source created under
// externalID in orgID. Returns CodeNotFound.
func (s *Store) FindLeadByExternalID(ctx context.Context, orgID, source, externalID string) (*domain.Lead, error) {
	const op = "find lead by external id"
	var leads []*domain.Lead
	err := s.conn(ctx).Where("org_id = ? AND source = ? AND external_id = ? AND external_id <> ''", orgID, source, externalID).
		Limit(1).Find(&leads).Error
	if err != nil {
		return nil, s.translate(op, err)
	}
	if len(leads) == 0 {
		return nil, opError(op, domain.ErrNotFound("lead"))
	}
	normalizeTimes(leads[0])
	return leads[0], nil
}
