package redisrate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/storage/redisrate"
)

// TestRedis runs the suite against the real Redis named by TEST_REDIS_URL.
func TestRedis(t *testing.T) {
	t.Parallel()
	runSuite(t, realRedis(t))
}

// TestMiniredis runs the same suite against miniredis, the embedded Redis
// of `fieldsync dev`: the limiter's Lua script must work there too.
func TestMiniredis(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	runSuite(t, client)
}

func realRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		msg := "Redis not reachable at " + opts.Addr + ": start it with `make services`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return client
}

// newLimiter returns a limiter under a prefix no other test uses, and
// deletes that prefix's keys when the test ends (never the whole database:
// other packages' tests share it).
func newLimiter(t *testing.T, client redis.UniversalClient) (*redisrate.Limiter, string) {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	prefix := "fieldsync-test:redisrate:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := client.Scan(ctx, 0, "*"+prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			if err := client.Del(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return redisrate.New(client, prefix), prefix
}

func allow(t *testing.T, l *redisrate.Limiter, key string, limit domain.RateLimit) domain.RateDecision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, limit)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// runSuite is what any Redis the limiter runs on must pass.
func runSuite(t *testing.T, client redis.UniversalClient) {
	hour := func(n int) domain.RateLimit { return domain.RateLimit{Events: n, Period: time.Hour} }

	t.Run("allows the burst then refuses", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t, client)
		for i := range 5 {
			d := allow(t, l, "k", hour(5))
			if !d.Allowed || d.Remaining != 4-i || d.RetryAfter != 0 {
				t.Fatalf("attempt %d: %+v", i+1, d)
			}
		}
		d := allow(t, l, "k", hour(5))
		// GCRA refills one event every Period/Events.
		if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > 12*time.Minute {
			t.Fatalf("attempt 6: %+v", d)
		}
	})

	t.Run("keys and prefixes are independent", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t, client)
		other, _ := newLimiter(t, client)
		allow(t, l, "a", hour(1))
		if d := allow(t, l, "a", hour(1)); d.Allowed {
			t.Fatal("a: second attempt allowed")
		}
		if d := allow(t, l, "b", hour(1)); !d.Allowed {
			t.Fatal("b was limited by a")
		}
		if d := allow(t, other, "a", hour(1)); !d.Allowed {
			t.Fatal("a under another prefix was limited")
		}
	})

	t.Run("recovers after the period", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t, client)
		limit := domain.RateLimit{Events: 2, Period: time.Second}
		allow(t, l, "k", limit)
		allow(t, l, "k", limit)
		d := allow(t, l, "k", limit)
		if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Second {
			t.Fatalf("third attempt: %+v", d)
		}
		// Waiting as told is enough; the margin only absorbs scheduling.
		time.Sleep(d.RetryAfter + 100*time.Millisecond)
		if d := allow(t, l, "k", limit); !d.Allowed {
			t.Fatalf("after RetryAfter: %+v", d)
		}
	})

	t.Run("counts atomically across callers", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t, client)
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for range 25 {
			wg.Go(func() {
				d, err := l.Allow(context.Background(), "shared", hour(10))
				if err != nil {
					t.Error(err)
				}
				if d.Allowed {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != 10 {
			t.Fatalf("%d of 25 concurrent attempts allowed, want 10", n)
		}
	})

	t.Run("keys expire by themselves", func(t *testing.T) {
		t.Parallel()
		l, prefix := newLimiter(t, client)
		allow(t, l, "k", hour(4))
		ttl, err := client.TTL(context.Background(), "rate:"+prefix+"k").Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > time.Hour {
			t.Fatalf("TTL %s: keys would pile up", ttl)
		}
	})

	t.Run("refuses a limit that is no limit", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t, client)
		for _, limit := range []domain.RateLimit{{}, {Events: 0, Period: time.Second}, {Events: 3}, {Events: -1, Period: time.Second}} {
			if _, err := l.Allow(context.Background(), "k", limit); !domain.IsCode(err, domain.CodeInternal) {
				t.Errorf("%+v: got %v, want %s", limit, err, domain.CodeInternal)
			}
		}
	})
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodeUnavailable || de.Err == nil {
		t.Fatalf("got %v, want %s with its cause", err, domain.CodeUnavailable)
	}
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	_, err = redisrate.New(client, "x:").Allow(context.Background(), "k", domain.RateLimit{Events: 1, Period: time.Second})
	wantUnavailable(t, err)
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("the network error is not wrapped: %v", err)
	}
}

func TestMiniredisGoesAway(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	l := redisrate.New(client, "x:")
	limit := domain.RateLimit{Events: 1, Period: time.Second}
	if _, err := l.Allow(context.Background(), "k", limit); err != nil {
		t.Fatal(err)
	}
	mr.Close()
	_, err := l.Allow(context.Background(), "k", limit)
	wantUnavailable(t, err)
}
