package mobile_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/iswitchroofs/fieldsync/mobile"
)

// The worker's probe server answers like the API's: healthz without
// touching a dependency, readyz 503 naming the one that is down, metrics,
// and problem+json for anything else.
func TestProbesApp(t *testing.T) {
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	reg := prometheus.NewRegistry()
	app := mobile.NewProbes(mobile.ProbeConfig{Registry: reg, Ready: map[string]mobile.ReadyCheck{"database": up, "redis": down}})
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := app.Test(httptest.NewRequest("GET", path, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, _, body := get("/healthz"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("healthz = %d %s", code, body)
	}
	code, _, body := get("/readyz")
	var ready struct {
		Status string
		Checks map[string]struct{ Status, Error string }
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil {
		t.Fatal(err)
	}
	if code != 503 || ready.Status != "not_ready" || ready.Checks["redis"].Status != "down" || ready.Checks["database"].Status != "up" {
		t.Errorf("readyz = %d %s", code, body)
	}
	if code, _, body := get("/metrics"); code != 200 || !strings.Contains(body, "http_requests_total") {
		t.Errorf("metrics = %d %.200s", code, body)
	}
	if code, ctype, body := get("/v1/me"); code != 404 || ctype != "application/problem+json" || !strings.Contains(body, "route_not_found") {
		t.Errorf("unknown route = %d %s %s", code, ctype, body)
	}
}
