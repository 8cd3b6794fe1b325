package push

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// Message is one alert about a lead, the same text on every channel.
type Message struct {
	LeadID string
	Level  int
	Title  string
	Body   string
}

// Device is one push target.
type Device struct {
	Token    string
	Platform domain.Platform
}

// Pusher sends FCM messages. Send returns the provider's message id.
type Pusher interface {
	// Alert sends the visible, high-priority notification.
	Alert(ctx context.Context, d Device, m Message) (string, error)
	// Poke sends the data-only message that wakes a background app to sync.
	Poke(ctx context.Context, d Device, m Message) (string, error)
}

// Texter sends SMS.
type Texter interface {
	SMS(ctx context.Context, to, body string) (string, error)
}

// Caller places voice calls that read a message.
type Caller interface {
	Call(ctx context.Context, to, say string) (string, error)
}

// Mailer sends email.
type Mailer interface {
	Email(ctx context.Context, to, subject, body string) (string, error)
}

// Senders are the channels alerting uses; cmd/fieldsync fills each with a
// provider or with Local.
type Senders struct {
	Push  Pusher
	SMS   Texter
	Voice Caller
	Email Mailer
}

// ErrTokenInvalid says the push token is dead (FCM UNREGISTERED or
// INVALID_ARGUMENT): the device should be pruned, and retrying is useless.
var ErrTokenInvalid = errors.New("push: the device token is unregistered or invalid")

// TemporaryError is a failure worth retrying: the provider was down,
// overloaded or throttling. RetryAfter is the provider's Retry-After, or 0.
type TemporaryError struct {
	Status     int
	RetryAfter time.Duration
	Err        error
}

func (e *TemporaryError) Error() string {
	return fmt.Sprintf("push: temporary failure (status %d, retry after %s): %v", e.Status, e.RetryAfter, e.Err)
}

func (e *TemporaryError) Unwrap() error { return e.Err }

// PermanentError is a failure a retry cannot fix: a bad recipient number,
// an address the server refuses.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "push: permanent failure: " + e.Err.Error() }

func (e *PermanentError) Unwrap() error { return e.Err }

// RetryAfter returns the provider's requested delay if err carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var t *TemporaryError
	if errors.As(err, &t) && t.RetryAfter > 0 {
		return t.RetryAfter, true
	}
	return 0, false
}

// IsPermanent reports whether retrying err cannot help.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.Is(err, ErrTokenInvalid) || errors.As(err, &p)
}

// Local is the sender of every channel when no provider is configured: it
// sends nothing and says so (IsLocal), and the caller records the message
// in its notifications, which the admin API lists (the dev outbox).
type Local struct{}

// LocalID is the message id Local answers.
const LocalID = "local"

// Alert implements Pusher.
func (Local) Alert(context.Context, Device, Message) (string, error) { return LocalID, nil }

// Poke implements Pusher.
func (Local) Poke(context.Context, Device, Message) (string, error) { return LocalID, nil }

// SMS implements Texter.
func (Local) SMS(context.Context, string, string) (string, error) { return LocalID, nil }

// Call implements Caller.
func (Local) Call(context.Context, string, string) (string, error) { return LocalID, nil }

// Email implements Mailer.
func (Local) Email(context.Context, string, string, string) (string, error) { return LocalID, nil }

// IsLocal reports whether a sender is Local.
func IsLocal(sender any) bool {
	switch sender.(type) {
	case Local, *Local:
		return true
	}
	return false
}

// LocalSenders is Local on every channel.
func LocalSenders() Senders {
	return Senders{Push: Local{}, SMS: Local{}, Voice: Local{}, Email: Local{}}
}
