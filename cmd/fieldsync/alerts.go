package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/hibiken/asynq"

	"github.com/iswitchroofs/fieldsync/admin"
	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs"
	"github.com/iswitchroofs/fieldsync/jobs/alerting"
	"github.com/iswitchroofs/fieldsync/mobile"
	"github.com/iswitchroofs/fieldsync/push"
)

// AlertSettings select the alert channels' providers; a provider left
// unset sends to the local outbox (notifications with status "outbox",
// listed by GET /v1/admin/notifications).
type AlertSettings struct {
	FCMCredentialsFile string
	FCMEndpoint        string
	TwilioAccountSID   string
	TwilioAuthToken    string
	TwilioFrom         string
	TwilioBaseURL      string
	SMTPHost           string
	SMTPPort           int
	SMTPUsername       string
	SMTPPassword       string
	SMTPFrom           string
}

// alertEnvVars document the alert settings (part of envVars).
var alertEnvVars = []envVar{
	{"FIELDSYNC_FCM_CREDENTIALS_FILE", "(local outbox)", "path of the Firebase service-account JSON file; set to send push notifications through FCM"},
	{"FIELDSYNC_FCM_ENDPOINT", "https://fcm.googleapis.com/v1", "FCM API base URL (a local endpoint for tests and benchmarks)"},
	{"TWILIO_ACCOUNT_SID", "(local outbox)", "Twilio account SID; with TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER sends SMS and voice calls"},
	{"TWILIO_AUTH_TOKEN", "", "Twilio auth token"},
	{"TWILIO_FROM_NUMBER", "", "Twilio number alerts come from, E.164"},
	{"FIELDSYNC_TWILIO_BASE_URL", "https://api.twilio.com", "Twilio API base URL (a local endpoint for tests and benchmarks)"},
	{"SMTP_HOST", "(local outbox)", "SMTP server for alert email; set with SMTP_FROM"},
	{"SMTP_PORT", "587", "SMTP port (STARTTLS when the server offers it)"},
	{"SMTP_USERNAME", "", "SMTP user (PLAIN authentication, only over TLS or to localhost)"},
	{"SMTP_PASSWORD", "", "SMTP password"},
	{"SMTP_FROM", "", "sender address of alert email"},
}

// loadAlertSettings reads the alert settings through get (loadConfig's).
func loadAlertSettings(get func(name, def string) string) (AlertSettings, []string) {
	a := AlertSettings{
		FCMCredentialsFile: get("FIELDSYNC_FCM_CREDENTIALS_FILE", ""),
		FCMEndpoint:        get("FIELDSYNC_FCM_ENDPOINT", ""),
		TwilioAccountSID:   get("TWILIO_ACCOUNT_SID", ""),
		TwilioAuthToken:    get("TWILIO_AUTH_TOKEN", ""),
		TwilioFrom:         get("TWILIO_FROM_NUMBER", ""),
		TwilioBaseURL:      get("FIELDSYNC_TWILIO_BASE_URL", ""),
		SMTPHost:           get("SMTP_HOST", ""),
		SMTPUsername:       get("SMTP_USERNAME", ""),
		SMTPPassword:       get("SMTP_PASSWORD", ""),
		SMTPFrom:           get("SMTP_FROM", ""),
	}
	var errs []string
	port, err := strconv.Atoi(get("SMTP_PORT", "587"))
	if err != nil || port <= 0 || port > 65535 {
		errs = append(errs, "SMTP_PORT must be a port number")
	}
	a.SMTPPort = port
	if a.TwilioAccountSID != "" && (a.TwilioAuthToken == "" || a.TwilioFrom == "") {
		errs = append(errs, "TWILIO_ACCOUNT_SID is set: TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER are required too")
	}
	if a.TwilioFrom != "" && !domain.IsE164(a.TwilioFrom) {
		errs = append(errs, "TWILIO_FROM_NUMBER must be an E.164 number such as +12485550199")
	}
	if a.SMTPHost != "" && a.SMTPFrom == "" {
		errs = append(errs, "SMTP_HOST is set: SMTP_FROM is required too")
	}
	for _, u := range []struct{ name, v string }{{"FIELDSYNC_FCM_ENDPOINT", a.FCMEndpoint}, {"FIELDSYNC_TWILIO_BASE_URL", a.TwilioBaseURL}} {
		if u.v != "" && !strings.HasPrefix(u.v, "http://") && !strings.HasPrefix(u.v, "https://") {
			errs = append(errs, u.name+" must be an http:// or https:// URL")
		}
	}
	return a, errs
}

// alertSenders builds each channel's sender from the settings; an
// unconfigured channel goes to the local outbox.
func (s *system) alertSenders(ctx context.Context) (push.Senders, error) {
	a := s.cfg.Alerts
	out := push.LocalSenders()
	var local []string
	if a.FCMCredentialsFile != "" {
		creds, err := os.ReadFile(a.FCMCredentialsFile)
		if err != nil {
			return out, fmt.Errorf("FIELDSYNC_FCM_CREDENTIALS_FILE: %w", err)
		}
		fcm, err := push.NewFCM(ctx, push.FCMConfig{CredentialsJSON: creds, Endpoint: a.FCMEndpoint})
		if err != nil {
			return out, fmt.Errorf("FIELDSYNC_FCM_CREDENTIALS_FILE: %w", err)
		}
		out.Push = fcm
	} else {
		local = append(local, "push")
	}
	if a.TwilioAccountSID != "" {
		tw, err := push.NewTwilio(push.TwilioConfig{AccountSID: a.TwilioAccountSID, AuthToken: a.TwilioAuthToken, From: a.TwilioFrom, BaseURL: a.TwilioBaseURL})
		if err != nil {
			return out, fmt.Errorf("twilio: %w", err)
		}
		out.SMS, out.Voice = tw, tw
	} else {
		local = append(local, "sms", "voice")
	}
	if a.SMTPHost != "" {
		m, err := push.NewSMTP(push.SMTPConfig{Host: a.SMTPHost, Port: a.SMTPPort, Username: a.SMTPUsername, Password: a.SMTPPassword, From: a.SMTPFrom})
		if err != nil {
			return out, fmt.Errorf("smtp: %w", err)
		}
		out.Email = m
	} else {
		local = append(local, "email")
	}
	if len(local) > 0 {
		s.log.Info("alert channels without a provider go to the local outbox (GET /v1/admin/notifications)",
			slog.String("channels", strings.Join(local, ",")))
	}
	return out, nil
}

// alertRetryDelay is the worker's retry delay: Retry-After and a short
// backoff for alerts, asynq's default for everything else.
var alertRetryDelay = alerting.RetryDelay

// startAlertJobs registers the alert chain's handler on the worker's mux.
func (s *system) startAlertJobs(ctx context.Context, mux *asynq.ServeMux) error {
	senders, err := s.alertSenders(ctx)
	if err != nil {
		return err
	}
	alerting.Register(mux, alerting.Deps{Store: s.store, Senders: senders, Clock: s.clock, Log: s.log})
	return nil
}

// mountAdmin adds the back-office routes to the API. A new intake lead's
// first alert is put on the queue right after its commit, so it does not
// wait for the relay's next pass; the relay then finds the task id taken
// and only marks the row.
func (s *system) mountAdmin(app *fiber.App) {
	client := asynq.NewClientFromRedisClient(s.redis)
	admin.Mount(app, admin.Config{
		Store: s.store, Clock: s.clock, Log: s.log,
		RequireAuth: mobile.RequireAuth(s.auth), Principal: mobile.PrincipalFromContext,
		OnLead: func(ctx context.Context, l *domain.Lead) {
			m := domain.LeadAlertMessages(l)[0]
			_, err := client.EnqueueContext(ctx, asynq.NewTask(m.Kind, m.Payload),
				asynq.TaskID(m.ID), asynq.MaxRetry(25), asynq.Retention(jobs.DefaultRetention))
			if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
				s.log.Warn("fast enqueue of a lead alert failed; the relay will", slog.String("error", err.Error()))
			}
		},
	})
}
