package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// APIError is a problem+json answer of the server.
type APIError struct {
	Status int
	Code   domain.Code
	Title  string
	Detail string
	// RetryAfter is the server's Retry-After, if it sent one.
	RetryAfter time.Duration
}

// Error implements error.
func (e *APIError) Error() string {
	return fmt.Sprintf("fieldsync: %d %s: %s", e.Status, e.Code, e.Detail)
}

// Errors the app reacts to.
var (
	// ErrSignedOut: there is no session, or the refresh token was refused
	// (expired, revoked, reused). The app shows sign-in; the outbox stays.
	ErrSignedOut = errors.New("fieldsync: signed out: sign in again")
	// ErrUpgradeRequired: the server no longer serves this app's protocol
	// or schema version. The app asks for an update; the outbox stays and
	// applies after it.
	ErrUpgradeRequired = errors.New("fieldsync: the server requires a newer app")
	// ErrLostMutations: the server expects mutations the device no longer
	// has (its database was replaced). Nothing more can be pushed.
	ErrLostMutations = errors.New("fieldsync: the server expects mutations this device no longer has")
)

// transient reports whether err is worth retrying after a pause: network
// failures, 5xx, 429. Other 4xx answers never succeed by repeating them.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrSignedOut) || errors.Is(err, ErrUpgradeRequired) || errors.Is(err, ErrLostMutations) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
	}
	return true // network errors, truncated answers
}

// backoff is the pause before retry number attempt (0-based): full jitter
// over an exponential ceiling, at least the server's Retry-After.
func (c *Client) backoff(attempt int, err error) time.Duration {
	ceiling := float64(c.cfg.RetryBase) * math.Pow(2, float64(min(attempt, 30)))
	ceiling = min(ceiling, float64(c.cfg.RetryMax))
	d := time.Duration(c.jitter() * ceiling)
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > d {
		d = ae.RetryAfter
	}
	return d
}

// retry runs op until it succeeds, fails for good, or ctx ends.
func (c *Client) retry(ctx context.Context, op func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		err := op(ctx)
		if !transient(err) {
			return err
		}
		c.stats.retries.Add(1)
		if c.cfg.MaxAttempts > 0 && attempt+1 >= c.cfg.MaxAttempts {
			return err
		}
		t := time.NewTimer(c.backoff(attempt, err))
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}

func (c *Client) versions() fsync.Versions {
	return fsync.Versions{ProtocolVersion: fsync.ProtocolVersion, SchemaVersion: c.cfg.SchemaVersion, AppVersion: c.cfg.AppVersion}
}

// call sends one request with the current access token; on 401
// token_expired it refreshes the session once and repeats.
func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	token, err := c.accessToken(ctx)
	if err != nil {
		return err
	}
	err = c.send(ctx, method, path, token, body, out)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && ae.Code == domain.CodeTokenExpired {
		if err := c.refresh(ctx, token); err != nil {
			return err
		}
		if token, err = c.accessToken(ctx); err != nil {
			return err
		}
		err = c.send(ctx, method, path, token, body, out)
	}
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return errors.Join(ErrSignedOut, err)
	}
	if errors.As(err, &ae) && ae.Code == domain.CodeUpgradeRequired {
		return errors.Join(ErrUpgradeRequired, err)
	}
	return err
}

// send is one HTTP exchange: JSON in, JSON out, problem+json as *APIError.
func (c *Client) send(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("fieldsync: encode %s: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c.versionHeaders(req)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("fieldsync: read answer of %s: %w", path, err)
	}
	if resp.StatusCode >= 300 {
		return problem(resp, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		// A cut connection can end a 200 body early: worth a retry.
		return fmt.Errorf("fieldsync: decode answer of %s: %w", path, err)
	}
	return nil
}

func (c *Client) versionHeaders(req *http.Request) {
	req.Header.Set("X-Fieldsync-Protocol", strconv.Itoa(fsync.ProtocolVersion))
	req.Header.Set("X-Fieldsync-Schema", strconv.Itoa(c.cfg.SchemaVersion))
	req.Header.Set("X-Fieldsync-App", c.cfg.AppVersion)
}

func problem(resp *http.Response, raw []byte) error {
	var p struct {
		Title  string      `json:"title"`
		Code   domain.Code `json:"code"`
		Detail string      `json:"detail"`
	}
	_ = json.Unmarshal(raw, &p)
	ae := &APIError{Status: resp.StatusCode, Code: p.Code, Title: p.Title, Detail: p.Detail}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		ae.RetryAfter = time.Duration(s) * time.Second
	}
	return ae
}

// tokenPair is the sign-in and refresh answer.
type tokenPair struct {
	AccessToken  string       `json:"access_token"`
	RefreshToken string       `json:"refresh_token"`
	User         *domain.User `json:"user"`
}

// SignIn starts a session with the user's email and password and keeps
// its tokens in the local store, so a restarted app stays signed in.
func (c *Client) SignIn(ctx context.Context, email, password string) error {
	var pair tokenPair
	err := c.send(ctx, http.MethodPost, "/v1/auth/sign-in", "", map[string]string{"email": email, "password": password}, &pair)
	if err != nil {
		return err
	}
	return c.SetTokens(ctx, pair.AccessToken, pair.RefreshToken)
}

// SetTokens stores a session obtained elsewhere (the app's own sign-in).
func (c *Client) SetTokens(ctx context.Context, access, refresh string) error {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	return c.storeTokens(ctx, access, refresh)
}

func (c *Client) storeTokens(ctx context.Context, access, refresh string) error {
	return c.st.tx(ctx, func(tx txq) error {
		if err := setMeta(ctx, tx, metaAccess, access); err != nil {
			return err
		}
		return setMeta(ctx, tx, metaRefresh, refresh)
	})
}

func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	t, err := getMeta(ctx, c.st.db, metaAccess)
	if err != nil {
		return "", err
	}
	if t == "" {
		return "", ErrSignedOut
	}
	return t, nil
}

// refresh trades the refresh token for a new pair. Refresh tokens rotate
// and presenting a used one revokes the whole session, so refreshes are
// serialised, and one that finds the access token already replaced (by a
// concurrent request that refreshed first) does nothing.
func (c *Client) refresh(ctx context.Context, stale string) error {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	current, err := getMeta(ctx, c.st.db, metaAccess)
	if err != nil {
		return err
	}
	if current != stale && current != "" {
		return nil
	}
	rt, err := getMeta(ctx, c.st.db, metaRefresh)
	if err != nil {
		return err
	}
	if rt == "" {
		return ErrSignedOut
	}
	var pair tokenPair
	err = c.send(ctx, http.MethodPost, "/v1/auth/refresh", "", map[string]string{"refresh_token": rt}, &pair)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusTooManyRequests {
		// Refused for good: forget the session so no one presents the
		// token again.
		if serr := c.storeTokens(ctx, "", ""); serr != nil {
			return serr
		}
		return errors.Join(ErrSignedOut, err)
	}
	if err != nil {
		// The answer was lost: the server may have rotated the token, in
		// which case the next attempt reports it reused and signs out. A
		// phone cannot tell; the user signs in again.
		return err
	}
	c.stats.refreshes.Add(1)
	return c.storeTokens(ctx, pair.AccessToken, pair.RefreshToken)
}
