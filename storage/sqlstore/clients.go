package sqlstore

import (
	"context"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// RegisterClient creates a device's sync state for its user, or updates the
// platform, app version and schema version of the one it has; the cursor,
// role and last mutation id are never touched here (pushes and pulls own
// them). c is filled with the stored state. Returns CodeForbidden if the id
// is registered to another user or organization, CodeInvalid without an
// id, organization or user, or for a user not in the organization.
func (s *Store) RegisterClient(ctx context.Context, c *domain.SyncClient) error {
	const op = "register sync client"
	if err := checkClient(c, ""); err != nil {
		return opError(op, err)
	}
	now := s.now()
	// One statement, so two registrations of one id cannot both insert;
	// the WHERE makes an id of someone else's update nothing.
	res := s.conn(ctx).Exec(`INSERT INTO sync_clients (id, org_id, user_id, platform, app_version, schema_version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET platform = excluded.platform, app_version = excluded.app_version,
			schema_version = excluded.schema_version, updated_at = excluded.updated_at
		WHERE sync_clients.org_id = excluded.org_id AND sync_clients.user_id = excluded.user_id`,
		c.ID, c.OrgID, c.UserID, string(c.Platform), c.AppVersion, c.SchemaVersion, now, now)
	if res.Error != nil {
		return s.translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return opError(op, foreignClient())
	}
	stored, err := findClient(s.conn(ctx), c.OrgID, c.ID)
	if err != nil {
		return s.translate(op, err)
	}
	*c = *stored
	return nil
}

// FindClient loads a device's sync state in orgID. Returns CodeNotFound,
// also for another organization's device.
func (s *Store) FindClient(ctx context.Context, orgID, clientID string) (*domain.SyncClient, error) {
	c, err := findClient(s.conn(ctx), orgID, clientID)
	if err != nil {
		return nil, s.translate("find sync client", err)
	}
	return c, nil
}

// TouchPull records a completed pull: the cursor handed out, the role the
// scope was read for, and when. Returns CodeNotFound for an unknown device.
func (s *Store) TouchPull(ctx context.Context, orgID, clientID, cursor string, role domain.Role, at time.Time) error {
	const op = "record pull"
	at = normalTime(at)
	res := s.conn(ctx).Exec("UPDATE sync_clients SET cursor = ?, role = ?, last_pull_at = ?, updated_at = ? WHERE org_id = ? AND id = ?",
		cursor, string(role), at, s.now(), orgID, clientID)
	if res.Error != nil {
		return s.translate(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return opError(op, domain.ErrNotFound("sync client"))
	}
	return nil
}

// Outcomes returns the device's rejections and conflicts with a mutation id
// above afterMutationID, by mutation id.
func (s *Store) Outcomes(ctx context.Context, orgID, clientID string, afterMutationID int64) ([]domain.MutationOutcome, error) {
	// Details goes through []byte: SQLite hands TEXT back as a string,
	// which database/sql will not put in a json.RawMessage.
	var rows []struct {
		OrgID, ClientID string
		MutationID      int64
		Name            string
		Kind            domain.OutcomeKind
		Code, Message   string
		Details         []byte
		CreatedAt       time.Time
	}
	err := s.conn(ctx).Table("sync_outcomes").
		Where("org_id = ? AND client_id = ? AND mutation_id > ?", orgID, clientID, afterMutationID).
		Order("mutation_id, kind").Find(&rows).Error
	if err != nil {
		return nil, s.translate("mutation outcomes", err)
	}
	out := make([]domain.MutationOutcome, len(rows))
	for i, r := range rows {
		out[i] = domain.MutationOutcome{
			OrgID: r.OrgID, ClientID: r.ClientID, MutationID: r.MutationID, Name: r.Name, Kind: r.Kind,
			Code: r.Code, Message: r.Message, Details: r.Details, CreatedAt: normalTime(r.CreatedAt),
		}
	}
	return out, nil
}
