// Package redisrate implements domain.RateLimiter on Redis with the GCRA
// algorithm (github.com/go-redis/redis_rate), so that every server replica
// counts against the same budget. Each key costs one small Redis string that
// expires by itself once its budget is full again.
package redisrate

import (
	"context"
	"fmt"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Limiter is a domain.RateLimiter backed by Redis. It is safe for concurrent
// use.
type Limiter struct {
	rl     *redis_rate.Limiter
	prefix string
}

var _ domain.RateLimiter = (*Limiter)(nil)

// New returns a Limiter on client that namespaces its keys with prefix (say
// "fieldsync:"), so that several deployments or tests can share one Redis.
// redis_rate adds its own "rate:" in front, so the stored key is
// "rate:" + prefix + key.
func New(client redis.UniversalClient, prefix string) *Limiter {
	return &Limiter{rl: redis_rate.NewLimiter(client), prefix: prefix}
}

// Allow records one attempt under key. limit allows limit.Events attempts in
// a burst, refilled evenly over limit.Period; a refused attempt is not
// counted and says how long to wait in RetryAfter. Returns CodeInternal for a
// limit with no events or no period (a programming error) and CodeUnavailable
// when Redis cannot be reached.
func (l *Limiter) Allow(ctx context.Context, key string, limit domain.RateLimit) (domain.RateDecision, error) {
	if limit.Events <= 0 || limit.Period <= 0 {
		return domain.RateDecision{}, domain.Errorf(domain.CodeInternal, "rate limit %d per %s is not a limit", limit.Events, limit.Period)
	}
	res, err := l.rl.Allow(ctx, l.prefix+key, redis_rate.Limit{Rate: limit.Events, Burst: limit.Events, Period: limit.Period})
	if err != nil {
		return domain.RateDecision{}, domain.WrapError(domain.CodeUnavailable,
			fmt.Errorf("redisrate: allow %q: %w", key, err), "the service is busy; try again shortly")
	}
	d := domain.RateDecision{Allowed: res.Allowed > 0, Remaining: res.Remaining}
	if !d.Allowed {
		d.RetryAfter = res.RetryAfter
	}
	return d, nil
}
