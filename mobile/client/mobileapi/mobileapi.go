// Package mobileapi is the facade of the reference client that gomobile
// binds for Android (Java/Kotlin) and iOS (Objective-C/Swift). gobind
// supports only a few types across the boundary (string, int64, bool,
// []byte, error, and interfaces and structs of those), so records and
// mutation arguments cross it as JSON text and callbacks as a Listener
// interface the app implements. `make test` runs gobind on this package
// for Java and Objective-C, so nothing unsupported can creep in.
package mobileapi

import (
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
	// OnChange: what the app shows changed (refresh the screen).
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
		PullInterval: time.Duration(o.PullIntervalSeconds) * time.Second,
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
