package mobile

import (
	"context"
	"net/http"
	"sort"
	gosync "sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// ReadyCheck reports whether one dependency answers.
type ReadyCheck func(ctx context.Context) error

// readyTimeout bounds each dependency check so a hung dependency makes the
// probe fail instead of hang.
const readyTimeout = 2 * time.Second

type checkResult struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

type readyResponse struct {
	Status string                 `json:"status"`
	Checks map[string]checkResult `json:"checks"`
}

// healthz says only that the process serves requests; it never touches a
// dependency, so an orchestrator does not restart us for a database outage.
func healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz checks every dependency concurrently and answers 503 if any fails,
// so a load balancer stops sending traffic to a replica that cannot serve it.
func (s *server) readyz(c *fiber.Ctx) error {
	names := make([]string, 0, len(s.ready))
	for n := range s.ready {
		names = append(names, n)
	}
	sort.Strings(names)
	results := make([]checkResult, len(names))
	var wg gosync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func(i int, check ReadyCheck) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(c.UserContext(), readyTimeout)
			defer cancel()
			if err := check(ctx); err != nil {
				// The error text is ours (driver messages can name hosts
				// but never personal data); operators need it.
				results[i] = checkResult{Status: "down", Error: err.Error()}
				return
			}
			results[i] = checkResult{Status: "up"}
		}(i, s.ready[n])
	}
	wg.Wait()
	resp := readyResponse{Status: "ready", Checks: map[string]checkResult{}}
	status := http.StatusOK
	for i, n := range names {
		resp.Checks[n] = results[i]
		if results[i].Status != "up" {
			resp.Status = "not_ready"
			status = http.StatusServiceUnavailable
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).JSON(resp)
}
