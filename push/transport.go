package push

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// retryHint carries a Retry-After header from the transport to the sender
// that made the request, through the request's context: the FCM SDK's
// errors do not expose the response.
type retryHint struct {
	status int
	after  time.Duration
}

type hintKey struct{}

func withHint(ctx context.Context) (context.Context, *retryHint) {
	h := &retryHint{}
	return context.WithValue(ctx, hintKey{}, h), h
}

// baseURLTransport sends every request to base (scheme, host and path
// prefix) instead of the SDK's fixed host: the documented way to point the
// Twilio SDK at another endpoint. It also notes Retry-After on throttled
// and failed answers.
type baseURLTransport struct {
	base *url.URL // nil: leave requests alone
	next http.RoundTripper
	// failAsError turns 429 and 5xx answers into a *TemporaryError from
	// the transport, for SDKs that would otherwise drop the header.
	failAsError bool
}

func (t *baseURLTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.base != nil {
		r := req.Clone(req.Context())
		r.URL.Scheme, r.URL.Host = t.base.Scheme, t.base.Host
		r.URL.Path = strings.TrimSuffix(t.base.Path, "/") + req.URL.Path
		r.Host = t.base.Host
		req = r
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		after := parseRetryAfter(resp.Header.Get("Retry-After"))
		if h, ok := req.Context().Value(hintKey{}).(*retryHint); ok {
			h.status, h.after = resp.StatusCode, after
		}
		if t.failAsError {
			_ = resp.Body.Close()
			return nil, &TemporaryError{Status: resp.StatusCode, RetryAfter: after, Err: errStatus(resp.StatusCode)}
		}
	}
	return resp, nil
}

type errStatus int

func (e errStatus) Error() string {
	return "HTTP " + strconv.Itoa(int(e)) + " " + http.StatusText(int(e))
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if neither.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
