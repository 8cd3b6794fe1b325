package sync

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Config is what an Engine needs. Store is required; Clock defaults to the
// system clock, Log to discarding, Metrics to none.
type Config struct {
	Store domain.SyncStore
	Clock domain.Clock
	Log   *slog.Logger
	// Metrics, if set, is told about every push, pull and rejection (the
	// HTTP layer exports them).
	Metrics Metrics
}

// Metrics receives the engine's measurements. Implementations must be safe
// for concurrent use and fast: they are called on the request path.
type Metrics interface {
	// PushDone is called once per Push call.
	PushDone(PushStats)
	// PullDone is called once per Pull call.
	PullDone(PullStats)
	// Rejected is called once per rejected mutation.
	Rejected(mutation string, code RejectionCode)
}

// PushStats describes one Push call.
type PushStats struct {
	Duration time.Duration
	// Applied and Rejected count mutations processed by this call;
	// Replayed those the server had already processed; Conflicts the
	// applied ones that lost a field.
	Applied, Rejected, Replayed, Conflicts int
	Gap                                    bool
	Err                                    error
}

// PullStats describes one Pull call.
type PullStats struct {
	Duration time.Duration
	Changes  int
	Outcomes int
	Snapshot bool
	// ResetReason is set on the first page of a reset session.
	ResetReason string
	Err         error
}

// Engine is the sync protocol engine. It is safe for concurrent use; all
// its state lives in the store.
type Engine struct {
	store   domain.SyncStore
	clock   domain.Clock
	log     *slog.Logger
	metrics Metrics
}

// New returns an engine over cfg.Store.
func New(cfg Config) *Engine {
	if cfg.Store == nil {
		panic("sync: New needs a Store")
	}
	e := &Engine{store: cfg.Store, clock: cfg.Clock, log: cfg.Log, metrics: cfg.Metrics}
	if e.clock == nil {
		e.clock = domain.ClockFunc(time.Now)
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e
}

func (e *Engine) now() time.Time { return e.clock.Now().UTC() }

// checkVersions refuses a protocol or schema version this server does not
// serve with CodeUpgradeRequired, before anything else is looked at, so an
// app too old (or too new) keeps its pending mutations for after its update.
func checkVersions(v Versions) error {
	if v.ProtocolVersion != ProtocolVersion {
		return domain.Errorf(domain.CodeUpgradeRequired,
			"protocol version %d is not served (this server speaks %d): update the app", v.ProtocolVersion, ProtocolVersion)
	}
	if v.SchemaVersion < MinSchemaVersion || v.SchemaVersion > SchemaVersion {
		return domain.Errorf(domain.CodeUpgradeRequired,
			"schema version %d is not served (this server serves %d to %d): update the app",
			v.SchemaVersion, MinSchemaVersion, SchemaVersion)
	}
	return nil
}

// checkPrincipal refuses a principal that is not a signed-in user: a device
// always syncs for a person, whose role decides its scope.
func checkPrincipal(p domain.Principal) error {
	if p.OrgID == "" || p.UserID == "" || !p.Role.Valid() {
		return domain.Errorf(domain.CodeForbidden, "sync needs a signed-in user")
	}
	return nil
}

// client loads the device's sync state and checks that it is p's. Returns
// CodeNotFound (the device must register first) or CodeForbidden (another
// user's client id).
func (e *Engine) client(ctx context.Context, p domain.Principal, clientID string) (*domain.SyncClient, error) {
	if err := checkPrincipal(p); err != nil {
		return nil, err
	}
	if !validID(clientID) {
		return nil, domain.Invalid(domain.FieldError{Field: "client_id", Message: idMessage})
	}
	c, err := e.store.FindClient(ctx, p.OrgID, clientID)
	if err != nil {
		return nil, clientError(err)
	}
	if c.UserID != p.UserID {
		return nil, errForeignClient()
	}
	return c, nil
}

// clientError is the answer to a failed load of the device's state.
func clientError(err error) error {
	if domain.IsCode(err, domain.CodeNotFound) {
		return domain.WrapError(domain.CodeNotFound, err, "unknown client_id: register the device first (POST /v1/devices)")
	}
	return fmt.Errorf("sync: load client: %w", err)
}

// errForeignClient is the answer to a client id registered by another user.
func errForeignClient() error {
	return domain.Errorf(domain.CodeForbidden, "this client_id belongs to another user")
}

// RegisterDevice records a phone install (its client id, platform and push
// token) for p, or updates it: registering again is how a device refreshes
// its push token and app version, and it keeps the device's sync state
// (last mutation id, cursor). The client id must be a lowercase UUID the
// phone generated once per install.
//
// Returns CodeUpgradeRequired for an unserved version, CodeInvalid for a
// bad field, CodeForbidden if the client id is another user's, and
// CodeUnavailable when the database is down.
func (e *Engine) RegisterDevice(ctx context.Context, p domain.Principal, reg DeviceRegistration) (*domain.SyncClient, error) {
	if err := checkVersions(reg.Versions); err != nil {
		return nil, err
	}
	if err := checkPrincipal(p); err != nil {
		return nil, err
	}
	if err := validateRegistration(reg); err != nil {
		return nil, err
	}
	c := &domain.SyncClient{
		ID: reg.ClientID, OrgID: p.OrgID, UserID: p.UserID, Platform: reg.Platform,
		AppVersion: reg.AppVersion, SchemaVersion: reg.SchemaVersion,
	}
	if err := e.store.RegisterClient(ctx, c); err != nil {
		return nil, fmt.Errorf("sync: register client: %w", err)
	}
	// The push token lives on the Device record, which the push senders
	// read; it is written through the one write path like any record.
	err := e.store.SyncWrite(ctx, p, func(tx domain.SyncTx) error {
		rec, err := tx.Find(domain.KindDevice, reg.ClientID)
		if domain.IsCode(err, domain.CodeNotFound) {
			d := &domain.Device{
				Meta: domain.Meta{ID: reg.ClientID, OrgID: p.OrgID}, UserID: p.UserID, Platform: reg.Platform,
				PushToken: reg.PushToken, AppVersion: reg.AppVersion,
			}
			now := tx.Now()
			d.LastSeenAt = &now
			if err := domain.Authorize(p, domain.ActionCreate, domain.AnchorFor(d, nil, nil)); err != nil {
				return err
			}
			return tx.Create(d)
		}
		if err != nil {
			return err
		}
		d := rec.(*domain.Device)
		if err := domain.Authorize(p, domain.ActionUpdate, domain.AnchorFor(d, nil, nil)); err != nil {
			// Another user's device id: same answer as RegisterClient's.
			return domain.Errorf(domain.CodeForbidden, "this client_id belongs to another user")
		}
		now := tx.Now()
		d.Platform, d.PushToken, d.AppVersion, d.LastSeenAt = reg.Platform, reg.PushToken, reg.AppVersion, &now
		return tx.Update(d)
	})
	if err != nil {
		return nil, fmt.Errorf("sync: register device: %w", err)
	}
	e.log.InfoContext(ctx, "sync device registered", "client_id", reg.ClientID, "user_id", p.UserID,
		"platform", string(reg.Platform), "schema_version", reg.SchemaVersion)
	stored, err := e.store.FindClient(ctx, p.OrgID, reg.ClientID)
	if err != nil {
		return nil, fmt.Errorf("sync: load client: %w", err)
	}
	return stored, nil
}

func validateRegistration(reg DeviceRegistration) error {
	var fields []domain.FieldError
	if !validID(reg.ClientID) {
		fields = append(fields, domain.FieldError{Field: "client_id", Message: idMessage})
	}
	switch reg.Platform {
	case domain.PlatformIOS, domain.PlatformAndroid, domain.PlatformWeb:
	default:
		fields = append(fields, domain.FieldError{Field: "platform", Message: "must be ios, android or web"})
	}
	if len(reg.PushToken) > 4096 {
		fields = append(fields, domain.FieldError{Field: "push_token", Message: "is too long"})
	}
	fields = appendAppVersion(fields, reg.AppVersion)
	if len(fields) > 0 {
		return domain.Invalid(fields...)
	}
	return nil
}

func appendAppVersion(fields []domain.FieldError, v string) []domain.FieldError {
	if len(v) > 64 {
		fields = append(fields, domain.FieldError{Field: "app_version", Message: "must be at most 64 characters"})
	}
	return fields
}

const idMessage = "must be a UUID in lowercase canonical form"

// validID accepts canonical lowercase UUIDs (8-4-4-4-12 hex), the only id
// spelling the store accepts, so that one record never has two ids.
func validID(id string) bool {
	if len(id) != 36 || id == "00000000-0000-0000-0000-000000000000" {
		return false
	}
	for i, r := range id {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdef", r) {
				return false
			}
		}
	}
	return true
}
