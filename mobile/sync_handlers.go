package mobile

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// SyncEngine is what the device and sync endpoints need from the sync
// engine (*fsync.Engine). The engine checks versions (CodeUpgradeRequired),
// that a client id belongs to the caller (CodeForbidden), and roles; the
// handlers authenticate, decode (push and pull bodies with the engine's own
// strict decoders, fsync.DecodePush and DecodePull) and render.
type SyncEngine interface {
	// RegisterDevice creates or updates the caller's device.
	RegisterDevice(ctx context.Context, p domain.Principal, reg fsync.DeviceRegistration) (*domain.SyncClient, error)
	// Push applies a batch of the device's mutations.
	Push(ctx context.Context, p domain.Principal, req fsync.PushRequest) (fsync.PushResponse, error)
	// Pull answers one page of changes since the device's cursor.
	Pull(ctx context.Context, p domain.Principal, req fsync.PullRequest) (fsync.PullResponse, error)
	// Checksums answers the checksum of each part of the device's scope.
	Checksums(ctx context.Context, p domain.Principal, clientID string) (fsync.ChecksumsResponse, error)
	// Explain answers why a device does or does not see a record (kind and
	// id empty: the device's state only). Managers and admins only.
	Explain(ctx context.Context, p domain.Principal, clientID string, kind domain.EntityKind, id string) (fsync.DeviceReport, error)
}

// Version headers let a GET request, which has no body to carry them, say
// which protocol, entity schema and app build it speaks.
const (
	HeaderProtocol = "X-Fieldsync-Protocol"
	HeaderSchema   = "X-Fieldsync-Schema"
	HeaderApp      = "X-Fieldsync-App"
)

// Body limits of the device and sync endpoints.
const (
	// deviceBodyLimit: an id, a platform, versions and a push token.
	deviceBodyLimit = 8 << 10
	// pushBodyLimit is the largest batch a device may send; the server-wide
	// limit is raised to it so a push is refused from its headers only
	// when it is over this.
	pushBodyLimit = fsync.MaxPushBytes
	// maxAppVersion bounds the app version header.
	maxAppVersion = 64
)

// deviceResponse is the body of POST /v1/devices: the server's record of
// the device, with the last mutation id it processed, so a reinstalled app
// knows where its mutation ids must continue.
type deviceResponse struct {
	ClientID       string          `json:"client_id"`
	UserID         string          `json:"user_id"`
	Platform       domain.Platform `json:"platform"`
	AppVersion     string          `json:"app_version"`
	SchemaVersion  int             `json:"schema_version"`
	LastMutationID int64           `json:"last_mutation_id"`
	LastPullAt     *time.Time      `json:"last_pull_at,omitempty"`
	LastPushAt     *time.Time      `json:"last_push_at,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

// mountSync adds the device, sync and event-stream routes, each behind
// authentication.
func (s *server) mountSync(v1 fiber.Router, reg prometheus.Registerer) {
	s.streams = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "fieldsync_sync_event_streams",
		Help: "Open sync event streams (GET /v1/sync/events) on this replica.",
	})
	reg.MustRegister(s.streams)
	v1.Post("/devices", s.requireAuth, s.registerDevice)
	v1.Post("/sync/push", s.requireAuth, engineCall(fsync.DecodePush, s.sync.Push))
	v1.Post("/sync/pull", s.requireAuth, engineCall(fsync.DecodePull, s.sync.Pull))
	v1.Get("/sync/checksums", s.requireAuth, s.checksums)
	v1.Get("/sync/events", s.requireAuth, s.events)
	v1.Get("/admin/sync/devices/:id", s.requireAuth, s.explainDevice)
}

func (s *server) registerDevice(c *fiber.Ctx) error {
	p, err := mustPrincipal(c)
	if err != nil {
		return err
	}
	var req fsync.DeviceRegistration
	if err := decodeJSON(c, deviceBodyLimit, &req); err != nil {
		return err
	}
	if fe := required("client_id", req.ClientID); len(fe) > 0 {
		return domain.Invalid(fe...)
	}
	sc, err := s.sync.RegisterDevice(c.UserContext(), p, req)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(deviceResponse{
		ClientID: sc.ID, UserID: sc.UserID, Platform: sc.Platform,
		AppVersion: sc.AppVersion, SchemaVersion: sc.SchemaVersion, LastMutationID: sc.LastMutationID,
		LastPullAt: sc.LastPullAt, LastPushAt: sc.LastPushAt, CreatedAt: sc.CreatedAt, UpdatedAt: sc.UpdatedAt,
	})
}

// engineCall serves a POST whose JSON body the engine decodes strictly
// (fsync.DecodePush, DecodePull: they apply each body's own limit and
// rules) and answers: push and pull.
func engineCall[Req, Resp any](decode func([]byte) (Req, error), serve func(context.Context, domain.Principal, Req) (Resp, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, err := mustPrincipal(c)
		if err != nil {
			return err
		}
		body, err := jsonBody(c, pushBodyLimit)
		if err != nil {
			return err
		}
		req, err := decode(body)
		if err != nil {
			return err
		}
		resp, err := serve(c.UserContext(), p, req)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		if a, ok := any(resp).(jsonAppender); ok {
			out, err := a.AppendJSON(make([]byte, 0, 4096))
			if err != nil {
				return err
			}
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.Send(out)
		}
		return c.JSON(resp)
	}
}

// jsonAppender is an answer that encodes itself without encoding/json's
// second pass over embedded raw JSON (fsync.PullResponse).
type jsonAppender interface {
	AppendJSON(b []byte) ([]byte, error)
}

func (s *server) checksums(c *fiber.Ctx) error {
	p, clientID, err := s.syncQuery(c)
	if err != nil {
		return err
	}
	resp, err := s.sync.Checksums(c.UserContext(), p, clientID)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(resp)
}

// explainDevice answers "why doesn't this device see that record?" for
// support: the device's sync state and, when kind and record_id are given,
// whether the record is in its scope and delivered.
func (s *server) explainDevice(c *fiber.Ctx) error {
	p, err := mustPrincipal(c)
	if err != nil {
		return err
	}
	if _, err := headerVersions(c); err != nil {
		return err
	}
	// Fiber's strings alias buffers reused by the next request; the engine
	// may keep what it is given.
	clientID := strings.Clone(c.Params("id"))
	kind := domain.EntityKind(strings.Clone(c.Query("kind")))
	recordID := strings.Clone(c.Query("record_id"))
	var fe []domain.FieldError
	switch {
	case kind == "" && recordID == "":
	case kind == "" || recordID == "":
		fe = append(fe, domain.FieldError{Field: "kind", Message: "kind and record_id go together"})
	default:
		if !domain.IsSynced(kind) {
			fe = append(fe, domain.FieldError{Field: "kind", Message: "is not a synced record kind"})
		}
		if _, perr := uuid.Parse(recordID); perr != nil {
			fe = append(fe, domain.FieldError{Field: "record_id", Message: "must be a UUID"})
		}
	}
	if len(fe) > 0 {
		return domain.Invalid(fe...)
	}
	report, err := s.sync.Explain(c.UserContext(), p, clientID, kind, recordID)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(report)
}

// syncQuery is the common front of the device GET endpoints: the caller, a
// supported version, and the client_id query parameter.
func (s *server) syncQuery(c *fiber.Ctx) (domain.Principal, string, error) {
	p, err := mustPrincipal(c)
	if err != nil {
		return p, "", err
	}
	if _, err := headerVersions(c); err != nil {
		return p, "", err
	}
	clientID := strings.Clone(c.Query("client_id"))
	if fe := required("client_id", clientID); len(fe) > 0 {
		return p, "", domain.Invalid(fe...)
	}
	return p, clientID, nil
}

// headerVersions reads the version headers of a GET request. Each is
// optional (a browser's EventSource cannot send headers); one that is sent
// must be well formed and, for protocol and schema, still served, or the app
// is told to upgrade exactly as a push or pull would tell it.
func headerVersions(c *fiber.Ctx) (fsync.Versions, error) {
	var v fsync.Versions
	var fe []domain.FieldError
	parse := func(header string, dst *int) {
		raw := c.Get(header)
		if raw == "" {
			return
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			fe = append(fe, domain.FieldError{Field: header, Message: "must be a whole number, 1 or more"})
			return
		}
		*dst = n
	}
	parse(HeaderProtocol, &v.ProtocolVersion)
	parse(HeaderSchema, &v.SchemaVersion)
	v.AppVersion = strings.Clone(c.Get(HeaderApp))
	if len(v.AppVersion) > maxAppVersion {
		fe = append(fe, domain.FieldError{Field: HeaderApp, Message: "is too long"})
	}
	if len(fe) > 0 {
		return v, domain.Invalid(fe...)
	}
	if v.ProtocolVersion != 0 && v.ProtocolVersion != fsync.ProtocolVersion {
		return v, domain.Errorf(domain.CodeUpgradeRequired,
			"protocol version %d is not served (this server speaks %d): update the app", v.ProtocolVersion, fsync.ProtocolVersion)
	}
	// The engine's rule for bodies (its checkVersions), applied to headers.
	if v.SchemaVersion != 0 && (v.SchemaVersion < fsync.MinSchemaVersion || v.SchemaVersion > fsync.SchemaVersion) {
		return v, domain.Errorf(domain.CodeUpgradeRequired,
			"schema version %d is not served (this server serves %d to %d): update the app",
			v.SchemaVersion, fsync.MinSchemaVersion, fsync.SchemaVersion)
	}
	return v, nil
}
