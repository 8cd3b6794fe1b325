package push

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"time"

	"github.com/twilio/twilio-go"
	tclient "github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
)

// TwilioConfig configures SMS and voice calls.
type TwilioConfig struct {
	AccountSID string
	AuthToken  string
	// From is the Twilio number messages and calls come from (E.164).
	From string
	// BaseURL replaces https://api.twilio.com (scheme, host and an
	// optional path prefix); empty for Twilio's.
	BaseURL string
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
}

// Twilio sends SMS and places voice calls through twilio-go.
type Twilio struct {
	rest *twilio.RestClient
	from string
}

// NewTwilio builds the sender. The SDK has no base-URL option, so its
// HTTP client gets a transport that sends to BaseURL when one is set.
func NewTwilio(cfg TwilioConfig) (*Twilio, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" || cfg.From == "" {
		return nil, errors.New("push: twilio needs an account SID, an auth token and a from number")
	}
	tr := &baseURLTransport{next: http.DefaultTransport, failAsError: true}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("push: twilio base URL %q is not an absolute URL", cfg.BaseURL)
		}
		tr.base = u
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	c := &tclient.Client{
		Credentials: tclient.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		HTTPClient: &http.Client{
			Timeout:   timeout,
			Transport: tr,
			// Twilio answers what it answers; a redirect is not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(cfg.AccountSID)
	return &Twilio{rest: twilio.NewRestClientWithParams(twilio.ClientParams{Client: c}), from: cfg.From}, nil
}

// SMS implements Texter.
func (t *Twilio) SMS(_ context.Context, to, body string) (string, error) {
	p := &api.CreateMessageParams{}
	p.SetTo(to)
	p.SetFrom(t.from)
	p.SetBody(body)
	m, err := t.rest.Api.CreateMessage(p)
	if err != nil {
		return "", twilioError(err)
	}
	return deref(m.Sid), nil
}

// Call implements Caller: the call reads say aloud twice (TwiML inline, so
// no webhook has to be reachable).
func (t *Twilio) Call(_ context.Context, to, say string) (string, error) {
	p := &api.CreateCallParams{}
	p.SetTo(to)
	p.SetFrom(t.from)
	s := html.EscapeString(say)
	p.SetTwiml("<Response><Say>" + s + "</Say><Pause length=\"1\"/><Say>" + s + "</Say></Response>")
	c, err := t.rest.Api.CreateCall(p)
	if err != nil {
		return "", twilioError(err)
	}
	return deref(c.Sid), nil
}

// twilioError sorts an SDK error: 429 and 5xx (already a *TemporaryError
// from the transport) and network failures are temporary; any other
// answer from Twilio (a bad number, an unverified sender) is permanent.
func twilioError(err error) error {
	var tmp *TemporaryError
	if errors.As(err, &tmp) {
		return tmp
	}
	var rest *tclient.TwilioRestError
	if errors.As(err, &rest) {
		return &PermanentError{Err: err}
	}
	return &TemporaryError{Err: err}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
