package domain

import (
	"context"
	"time"
)

// AlertStore is what lead alerting reads from the database. Writes go
// through the Writer like every other.
type AlertStore interface {
	// TeamMembers lists the organization's active users.
	TeamMembers(ctx context.Context, orgID string) ([]*User, error)
	// LeadAlerts lists every alert of a lead, any level.
	LeadAlerts(ctx context.Context, orgID, leadID string) ([]*Alert, error)
	// PushDevices lists a user's devices that are not revoked and have a
	// push token.
	PushDevices(ctx context.Context, orgID, userID string) ([]*Device, error)
	// RouteCandidates lists the active sales reps with their availability
	// and open-lead counts.
	RouteCandidates(ctx context.Context, orgID string) ([]RouteCandidate, error)
	// SetAvailability stores a user's working hours and time off. Returns
	// CodeNotFound for a user outside orgID.
	SetAvailability(ctx context.Context, orgID, userID string, a Availability) error
	// LeadResponses returns, for each lead that got an alert and was
	// created in [from, to), when it was created, acknowledged and first
	// answered by call, SMS or email.
	LeadResponses(ctx context.Context, orgID string, from, to time.Time) ([]LeadResponse, error)
}

// LeadIntakeStore finds intake replays.
type LeadIntakeStore interface {
	// FindLeadByExternalID returns the live lead a source created under
	// externalID. Returns CodeNotFound.
	FindLeadByExternalID(ctx context.Context, orgID, source, externalID string) (*Lead, error)
}

// APIKeyStore keeps intake API keys (hashed).
type APIKeyStore interface {
	// CreateAPIKey stores k (ID and CreatedAt filled if empty). Returns
	// CodeInvalid for missing fields.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// ListAPIKeys lists the organization's keys, newest first, revoked included.
	ListAPIKeys(ctx context.Context, orgID string) ([]*APIKey, error)
	// RevokeAPIKey revokes a key of orgID; revoking twice keeps the first
	// time. Returns CodeNotFound.
	RevokeAPIKey(ctx context.Context, orgID, id string, at time.Time) error
	// FindAPIKeyByHash returns the key whose secret hashes to hash, revoked
	// or not. Returns CodeNotFound.
	FindAPIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
}

// NotificationFilter selects notifications, newest first.
type NotificationFilter struct {
	OrgID   string
	UserID  string // "" for everyone's
	Channel string // "" for every channel
	Status  string // "" for every status
	Limit   int
}

// NotificationStore lists sent and recorded notifications.
type NotificationStore interface {
	ListNotifications(ctx context.Context, f NotificationFilter) ([]*Notification, error)
}

// Notification statuses: sent to the provider, recorded in the local
// outbox instead (nothing configured), or failed for good.
const (
	NotificationSent   = "sent"
	NotificationOutbox = "outbox"
	NotificationFailed = "failed"
)
