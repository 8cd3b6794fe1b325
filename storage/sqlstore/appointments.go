package sqlstore

import (
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// OverlappingAppointments implements the conflict check of domain.SyncTx:
// it takes the organization's lock before it reads (no row lock covers rows
// that do not exist yet), so two bookings of one person cannot both see a
// free slot.
func (t *writeTx) OverlappingAppointments(userID string, start, end time.Time, excludeID string) ([]*domain.Appointment, error) {
	const op = "overlapping appointments"
	if err := t.usable(op); err != nil {
		return nil, err
	}
	if err := t.lockOrg(op); err != nil {
		return nil, err
	}
	var out []*domain.Appointment
	err := t.db.Table("appointments").
		Where("org_id = ? AND assigned_to = ? AND deleted_at IS NULL AND status = ? AND id <> ? AND starts_at < ? AND ends_at > ?",
			t.p.OrgID, userID, string(domain.AppointmentScheduled), excludeID, normalTime(end), normalTime(start)).
		Order("starts_at").Find(&out).Error
	if err != nil {
		return nil, t.fail(op, err)
	}
	for _, a := range out {
		normalizeTimes(a)
	}
	return out, nil
}
