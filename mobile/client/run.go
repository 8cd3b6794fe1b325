package client

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
	fsync "github.com/iswitchroofs/fieldsync/sync"
)

// Run keeps the device in sync until ctx ends: it syncs at start, on every
// poke of the event stream (reconnected with backoff whenever it drops or
// falls silent), after every local mutation (Poke), and every PullInterval
// as a safety net. Alongside, it uploads the photos of AddPhoto: each as
// soon as a push has brought its record to the server, retried with
// backoff. It returns nil when ctx ends, ErrSignedOut when the session is
// gone, and ErrUpgradeRequired when the server wants a newer app; the
// outbox and the upload queue are kept in every case.
func (c *Client) Run(ctx context.Context) error {
	bgCtx, stop := context.WithCancel(ctx)
	var bg gosync.WaitGroup
	bg.Go(func() { c.stream(bgCtx) })
	bg.Go(func() {
		if err := c.queue.Run(bgCtx, c.cfg.PullInterval); err != nil {
			c.log.Error("fieldsync client: the upload queue stopped", slog.String("error", err.Error()))
		}
	})
	defer func() { stop(); bg.Wait() }()
	tick := time.NewTicker(c.cfg.PullInterval)
	defer tick.Stop()
	for {
		err := c.Sync(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrSignedOut), errors.Is(err, ErrUpgradeRequired), errors.Is(err, ErrLostMutations):
			return err
		case err != nil:
			c.log.Warn("fieldsync client: sync failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.kick:
		case <-tick.C:
		}
	}
}

// stream holds the poke stream open and turns its events into Pokes.
func (c *Client) stream(ctx context.Context) {
	hc := &http.Client{Transport: c.cfg.HTTPClient.Transport}
	for attempt := 0; ctx.Err() == nil; {
		ready, err := c.streamOnce(ctx, hc)
		if ctx.Err() != nil {
			return
		}
		if ready {
			attempt = 0 // it worked for a while: start backing off afresh
		}
		if errors.Is(err, ErrSignedOut) || errors.Is(err, ErrUpgradeRequired) {
			return // Run reports it from its own sync
		}
		t := time.NewTimer(c.backoff(attempt, err))
		attempt++
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// streamOnce reads one connection of the stream until it ends, fails, or
// stays silent for StreamIdle. ready says the server answered.
func (c *Client) streamOnce(ctx context.Context, hc *http.Client) (ready bool, err error) {
	token, err := c.accessToken(ctx)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.BaseURL+"/v1/sync/events?client_id="+url.QueryEscape(c.clientID), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	c.versionHeaders(req)
	// A watchdog cancels the request when nothing arrives for StreamIdle
	// (a half-open connection that a proxy or a network change left), from
	// the start: a pooled connection may already be dead, and then even
	// the answer's headers never come.
	alive := make(chan struct{}, 1)
	go func() {
		t := time.NewTimer(c.cfg.StreamIdle)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-alive:
				t.Reset(c.cfg.StreamIdle)
			case <-t.C:
				cancel()
				return
			}
		}
	}()
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		err := problem(resp, raw)
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			if ae.Code != domain.CodeTokenExpired {
				return false, errors.Join(ErrSignedOut, err)
			}
			// The stream ends when its token expires; refresh and reconnect.
			if rerr := c.refresh(ctx, token); rerr != nil {
				return false, rerr
			}
			return true, err
		}
		if errors.As(err, &ae) && ae.Status == http.StatusUpgradeRequired {
			return false, errors.Join(ErrUpgradeRequired, err)
		}
		return false, err
	}
	c.stats.streamConnects.Add(1)
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		select {
		case alive <- struct{}{}:
		default:
		}
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case line == "":
			if event == "poke" || event == "ready" {
				ready = true
				c.stats.pokes.Add(1)
				c.Poke()
			}
			event = ""
		}
	}
	if err := sc.Err(); err != nil {
		return ready, err
	}
	return ready, errors.New("client: event stream ended")
}

// Checksums computes over the committed local copy what the server's
// GET /v1/sync/checksums answers over the scope.
func (c *Client) Checksums(ctx context.Context) ([]domain.ScopePart, error) {
	recs, err := listRecords(ctx, c.st.db, "")
	if err != nil {
		return nil, err
	}
	out := make([]domain.ScopePart, 0, len(domain.SyncedKinds()))
	for _, kind := range domain.SyncedKinds() {
		var lines []string
		for _, r := range recs {
			if r.Kind == kind {
				lines = append(lines, fmt.Sprintf("%s:%d\n", r.ID, r.Version))
			}
		}
		slices.Sort(lines)
		h := sha256.New()
		for _, l := range lines {
			h.Write([]byte(l))
		}
		out = append(out, domain.ScopePart{Kind: kind, Count: len(lines), Hash: hex.EncodeToString(h.Sum(nil))})
	}
	return out, nil
}

// Verify compares the local checksums with the server's and returns the
// kinds that differ. Call it after a sync, when the device is idle.
func (c *Client) Verify(ctx context.Context) ([]domain.EntityKind, error) {
	var server fsync.ChecksumsResponse
	err := c.retry(ctx, func(ctx context.Context) error {
		return c.call(ctx, http.MethodGet, "/v1/sync/checksums?client_id="+url.QueryEscape(c.clientID), nil, &server)
	})
	if err != nil {
		return nil, err
	}
	local, err := c.Checksums(ctx)
	if err != nil {
		return nil, err
	}
	byKind := map[domain.EntityKind]domain.ScopePart{}
	for _, p := range local {
		byKind[p.Kind] = p
	}
	var bad []domain.EntityKind
	for _, p := range server.Parts {
		if byKind[p.Kind] != p {
			bad = append(bad, p.Kind)
		}
	}
	return bad, nil
}

// Repair re-snapshots the given kinds (a reset session of just those).
func (c *Client) Repair(ctx context.Context, kinds []domain.EntityKind) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	c.stats.repairs.Add(1)
	return c.retry(ctx, func(ctx context.Context) error { return c.pull(ctx, kinds) })
}
