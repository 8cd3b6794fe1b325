package client

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Backoff is full jitter under an exponential ceiling capped at RetryMax,
// and never shorter than the server's Retry-After.
func TestBackoffHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	c, err := Open(Config{BaseURL: "http://127.0.0.1:1", StorePath: filepath.Join(t.TempDir(), "c.db"),
		RetryBase: 100 * time.Millisecond, RetryMax: time.Second, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	network := errors.New("connection reset")
	for attempt := range 12 {
		ceiling := min(100*time.Millisecond<<attempt, time.Second)
		if d := c.backoff(attempt, network); d < 0 || d > ceiling {
			t.Fatalf("attempt %d: %s, want within [0, %s]", attempt, d, ceiling)
		}
	}
	busy := &APIError{Status: 503, Code: "unavailable", RetryAfter: 3 * time.Second}
	if d := c.backoff(0, busy); d != 3*time.Second {
		t.Fatalf("Retry-After 3s: waited %s", d)
	}
	if !transient(busy) || !transient(network) || transient(&APIError{Status: 422, Code: "invalid"}) ||
		!transient(&APIError{Status: 429}) || transient(errors.Join(ErrSignedOut, network)) {
		t.Fatal("transient() classifies wrongly")
	}
}
