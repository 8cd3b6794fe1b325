// Package mobileapi is the facade of the reference client that gomobile
// binds for Android (Java/Kotlin) and iOS (Objective-C/Swift). gobind
// supports only a few types across the boundary (string, int64, bool,
// []byte, error, and interfaces and structs of those), so records and
// mutation arguments cross it as JSON text and callbacks as a Listener
// interface the app implements. `make test` runs gobind on this package
// for Java and Objective-C, so nothing unsupported can creep in.
//
// Errors of bad input (AddPhoto's) cross as messages that begin with their
// stable code and a colon ("unsupported_image_type: ..."), which the app
// can match on.
package mobileapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	gosync "sync"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/client"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// Listener is implemented by the app. Calls come from background threads.
type Listener interface {
	// OnConflict: a mutation applied, but the server kept another value
	// for at least one field; detailsJSON lists them.
	OnConflict(mutationID int64, name, code, message, detailsJSON string)
	// OnRejection: the server refused a mutation for good; the view no
	// longer shows it.
	OnRejection(mutationID int64, name, code, message, detailsJSON string)
	// OnChange: what the app shows changed (refresh the screen), a
	// photo's upload progress included.
	OnChange()
	// OnStopped: background sync stopped for good; reason is
	// "signed_out" (show sign-in), "upgrade_required" (ask for an update)
	// or "lost_mutations".
	OnStopped(reason string)
}

// Options configure a Client. BaseURL and StorePath are required.
type Options struct {
	BaseURL    string
	StorePath  string
	AppVersion string
	// Platform is "ios" or "android".
	Platform  string
	PushToken string
	// PullIntervalSeconds is the safety-net pull (0: 5 minutes).
	PullIntervalSeconds int64
	// DeleteAfterUpload removes a photo's file once the server confirmed
	// every byte of it (never before).
	DeleteAfterUpload bool
	// UploadChunkBytes is the bytes of a photo sent per request after its
	// first attempt failed (0: 1 MiB); UploadOneRequestBytes the largest
	// photo a first attempt sends whole in one request (0: 8 MiB;
	// negative: UploadChunkBytes).
	UploadChunkBytes, UploadOneRequestBytes int64
}

// NewOptions returns empty options (gobind exposes structs by pointer).
func NewOptions() *Options { return &Options{} }

// Client is one install of the app.
type Client struct {
	c        *client.Client
	listener Listener

	mu     gosync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Open opens the local store (creating it on first use).
func Open(o *Options, l Listener) (*Client, error) {
	if o == nil {
		return nil, errors.New("mobileapi: options are required")
	}
	cfg := client.Config{
		BaseURL: o.BaseURL, StorePath: o.StorePath, AppVersion: o.AppVersion,
		Platform: domain.Platform(o.Platform), PushToken: o.PushToken,
		PullInterval:      time.Duration(o.PullIntervalSeconds) * time.Second,
		DeleteAfterUpload: o.DeleteAfterUpload, UploadChunkSize: int(o.UploadChunkBytes),
		UploadOneRequestSize: int(o.UploadOneRequestBytes),
	}
	if l != nil {
		cfg.OnConflict = func(x fsync.Outcome) {
			l.OnConflict(x.MutationID, x.Name, x.Code, x.Message, string(x.Details))
		}
		cfg.OnRejection = func(x fsync.Outcome) {
			l.OnRejection(x.MutationID, x.Name, x.Code, x.Message, string(x.Details))
		}
		cfg.OnChange = l.OnChange
	}
	c, err := client.Open(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{c: c, listener: l}, nil
}

// ClientID is the install's id.
func (c *Client) ClientID() string { return c.c.ClientID() }

// SignIn starts a session; it survives restarts.
func (c *Client) SignIn(email, password string) error {
	return c.c.SignIn(context.Background(), email, password)
}

// SetTokens stores a session the app obtained itself.
func (c *Client) SetTokens(accessToken, refreshToken string) error {
	return c.c.SetTokens(context.Background(), accessToken, refreshToken)
}

// Mutate records a mutation (argsJSON: its argument object) and returns
// its id; the view shows it at once and background sync pushes it.
func (c *Client) Mutate(name, argsJSON string) (int64, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal([]byte(argsJSON), &probe); err != nil {
		return 0, fmt.Errorf("mobileapi: the arguments of %s must be a JSON object: %w", name, err)
	}
	return c.c.Mutate(context.Background(), name, json.RawMessage(argsJSON))
}

// Get returns the record as the app shows it, as JSON ("" if there is none).
func (c *Client) Get(kind, id string) (string, error) {
	data, ok, err := c.c.Get(context.Background(), domain.EntityKind(kind), id)
	if err != nil || !ok {
		return "", err
	}
	return string(data), nil
}

// List returns every record of kind as the app shows it: a JSON array of
// the records' objects, in id order.
func (c *Client) List(kind string) (string, error) {
	recs, err := c.c.View(context.Background(), domain.EntityKind(kind))
	if err != nil {
		return "", err
	}
	out := make([]json.RawMessage, len(recs))
	for i, r := range recs {
		out[i] = r.Data
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// PendingCount is the number of mutations not yet confirmed by a pull.
func (c *Client) PendingCount() (int64, error) {
	ms, err := c.c.Pending(context.Background())
	return int64(len(ms)), err
}

// AddPhoto records a photo and queues its file (path) for upload; it
// returns the photo's id. argsJSON holds photo.create's arguments but the
// ones the file gives (sha256, byte_size, content_type): project_id, kind,
// taken_at (RFC 3339; default now), and optionally id, appointment_id,
// caption, latitude, longitude, width, height. The photo is shown at once;
// Start uploads it once its record reached the server. Refused with nothing
// recorded: invalid (arguments not an object of those fields; a file that
// cannot be read or is empty), payload_too_large, unsupported_image_type
// (not JPEG, PNG or WebP), conflict (an id added before).
func (c *Client) AddPhoto(argsJSON, path string) (string, error) {
	var args client.PhotoArgs
	dec := json.NewDecoder(bytes.NewReader([]byte(argsJSON)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil {
		return "", coded(domain.Invalid(domain.FieldError{Field: "args", Message: "must be a JSON object of photo.create's arguments: " + err.Error()}))
	}
	id, _, err := c.c.AddPhoto(context.Background(), args, path)
	return id, coded(err)
}

// PhotoState returns a photo's way to the office as a JSON object: stage
// (waiting, queued, uploading, pending, uploaded, processing, ready,
// failed), reason (a failed photo's code), the upload's offset, size,
// attempts, next_attempt and last_error, and the server's upload_state,
// processing_state and failure_reason as last pulled. An unknown photo is
// not_found.
func (c *Client) PhotoState(photoID string) (string, error) {
	s, err := c.c.PhotoState(context.Background(), photoID)
	if err != nil {
		return "", coded(err)
	}
	b, err := json.Marshal(s)
	return string(b), err
}

// PendingPhotos returns, as a JSON array of PhotoState objects, every photo
// added on this device that is not ready yet: the screen of uploads a user
// may need to look at.
func (c *Client) PendingPhotos() (string, error) {
	list, err := c.c.PendingPhotos(context.Background())
	if err != nil {
		return "", err
	}
	if list == nil {
		list = []client.PhotoState{}
	}
	b, err := json.Marshal(list)
	return string(b), err
}

// coded puts a domain error's code at the head of its message, where the
// app finds it; other errors pass unchanged.
func coded(err error) error {
	var de *domain.Error
	if !errors.As(err, &de) {
		return err
	}
	return errors.New(string(de.Code) + ": " + de.Message)
}

// Sync pushes and pulls now, retrying transient failures for at most
// timeoutSeconds (0: one minute).
func (c *Client) Sync(timeoutSeconds int64) error {
	if timeoutSeconds <= 0 {
		timeoutSeconds = 60
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutSeconds)*time.Second)
	defer cancel()
	return c.c.Sync(ctx)
}

// Poke asks background sync to sync now (call it on an FCM data message).
func (c *Client) Poke() { c.c.Poke() }

// Start runs background sync (poke stream, periodic pull, pushes after
// mutations) until Stop. Call it when the app comes to the foreground.
func (c *Client) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		err := c.c.Run(ctx)
		if err != nil && c.listener != nil {
			c.listener.OnStopped(reason(err))
		}
	}(c.done)
}

func reason(err error) string {
	switch {
	case errors.Is(err, client.ErrSignedOut):
		return "signed_out"
	case errors.Is(err, client.ErrUpgradeRequired):
		return "upgrade_required"
	case errors.Is(err, client.ErrLostMutations):
		return "lost_mutations"
	}
	return err.Error()
}

// Stop ends background sync and waits for it.
func (c *Client) Stop() {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.cancel, c.done = nil, nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Close stops background sync and closes the local store.
func (c *Client) Close() error {
	c.Stop()
	return c.c.Close()
}
