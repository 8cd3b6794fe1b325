package push

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/messaging"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/option"

	"github.com/iswitchroofs/fieldsync/domain"
)

// fcmScope is the OAuth2 scope of the FCM HTTP v1 API.
const fcmScope = "https://www.googleapis.com/auth/firebase.messaging"

// FCMConfig configures the FCM sender.
type FCMConfig struct {
	// CredentialsJSON is the service-account file's content. Its
	// token_uri is where access tokens come from, and its project_id the
	// project messages are sent for (unless ProjectID is set).
	CredentialsJSON []byte
	ProjectID       string
	// Endpoint replaces https://fcm.googleapis.com/v1 (sends go to
	// <Endpoint>/projects/<id>/messages:send); empty for Google's.
	Endpoint string
	// Timeout bounds one send (default 10 s).
	Timeout time.Duration
}

// FCM sends push notifications through the Firebase Admin SDK.
type FCM struct {
	client *messaging.Client
}

// NewFCM builds the sender. It reads no file and makes no request: the
// first send fetches a token.
func NewFCM(ctx context.Context, cfg FCMConfig) (*FCM, error) {
	creds, err := google.CredentialsFromJSON(ctx, cfg.CredentialsJSON, fcmScope)
	if err != nil {
		return nil, fmt.Errorf("push: fcm credentials: %w", err)
	}
	project := cfg.ProjectID
	if project == "" {
		project = creds.ProjectID
	}
	if project == "" {
		return nil, errors.New("push: fcm credentials name no project_id")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	// Our own client (OAuth2 over a transport that notes Retry-After)
	// rather than the SDK's, so a throttled send tells the job when to
	// come back.
	hc := &http.Client{
		Timeout: timeout,
		Transport: &oauth2.Transport{
			Source: creds.TokenSource,
			Base:   &baseURLTransport{next: http.DefaultTransport},
		},
	}
	opts := []option.ClientOption{option.WithHTTPClient(hc)}
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
	}
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: project}, opts...)
	if err != nil {
		return nil, fmt.Errorf("push: firebase app: %w", err)
	}
	client, err := app.Messaging(ctx)
	if err != nil {
		return nil, fmt.Errorf("push: fcm client: %w", err)
	}
	return &FCM{client: client}, nil
}

// Alert implements Pusher.
func (f *FCM) Alert(ctx context.Context, d Device, m Message) (string, error) {
	return f.send(ctx, AlertMessage(d.Token, m))
}

// Poke implements Pusher.
func (f *FCM) Poke(ctx context.Context, d Device, m Message) (string, error) {
	return f.send(ctx, PokeMessage(d.Token, m))
}

func (f *FCM) send(ctx context.Context, msg *messaging.Message) (string, error) {
	ctx, hint := withHint(ctx)
	id, err := f.client.Send(ctx, msg)
	if err == nil {
		return id, nil
	}
	switch {
	case messaging.IsUnregistered(err), messaging.IsInvalidArgument(err):
		return "", fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	case messaging.IsSenderIDMismatch(err), messaging.IsThirdPartyAuthError(err):
		return "", &PermanentError{Err: err}
	}
	return "", &TemporaryError{Status: hint.status, RetryAfter: hint.after, Err: err}
}

// CollapseKey groups every alert about one lead, so a phone that was off
// shows only the latest level's notification, not the whole chain.
func CollapseKey(leadID string) string { return "lead-" + leadID }

// The data keys every lead alert carries, for the app to open the lead.
const (
	DataKind   = "kind"
	DataLeadID = "lead_id"
	DataLevel  = "level"
)

// AlertMessage shapes the visible alert: high priority on both platforms
// (Android priority high, APNs priority 10 with a time-sensitive alert), a
// notification with a category the app attaches actions to, the lead id in
// data, and one collapse key per lead. On Android it expires after the
// 2-minute window it is about.
func AlertMessage(token string, m Message) *messaging.Message {
	ttl := domain.EscalationStep
	key := CollapseKey(m.LeadID)
	return &messaging.Message{
		Token:        token,
		Notification: &messaging.Notification{Title: m.Title, Body: m.Body},
		Data:         map[string]string{DataKind: "lead_alert", DataLeadID: m.LeadID, DataLevel: strconv.Itoa(m.Level)},
		Android: &messaging.AndroidConfig{
			Priority:    "high",
			CollapseKey: key,
			TTL:         &ttl,
			Notification: &messaging.AndroidNotification{
				ChannelID:   "lead_alerts",
				Tag:         key,
				ClickAction: "OPEN_LEAD",
				Priority:    messaging.PriorityMax,
				Sound:       "default",
			},
		},
		APNS: &messaging.APNSConfig{
			Headers: map[string]string{
				"apns-priority":    "10",
				"apns-push-type":   "alert",
				"apns-collapse-id": key,
			},
			Payload: &messaging.APNSPayload{Aps: &messaging.Aps{
				Sound:            "default",
				Category:         "LEAD_ALERT",
				ThreadID:         key,
				MutableContent:   true,
				CustomData:       map[string]any{"interruption-level": "time-sensitive"},
				ContentAvailable: false,
			}},
		},
	}
}

// PokeMessage shapes the data-only poke: no notification, so the OS hands
// it to the app in the background (Android high priority so it is
// delivered in Doze; APNs background push, priority 5 as Apple requires,
// content-available), to pull the new lead before the rep opens the app.
func PokeMessage(token string, m Message) *messaging.Message {
	return &messaging.Message{
		Token:   token,
		Data:    map[string]string{DataKind: "sync_poke", DataLeadID: m.LeadID},
		Android: &messaging.AndroidConfig{Priority: "high", CollapseKey: "sync"},
		APNS: &messaging.APNSConfig{
			Headers: map[string]string{"apns-priority": "5", "apns-push-type": "background", "apns-collapse-id": "sync"},
			Payload: &messaging.APNSPayload{Aps: &messaging.Aps{ContentAvailable: true}},
		},
	}
}
