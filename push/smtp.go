package push

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// SMTPConfig configures email.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string // empty: no authentication
	Password string
	From     string
}

// SMTP sends plain-text email with net/smtp (STARTTLS when the server
// offers it; PLAIN authentication only over TLS or to localhost, as
// net/smtp enforces).
type SMTP struct {
	cfg SMTPConfig
}

// NewSMTP builds the sender.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" || cfg.From == "" {
		return nil, errors.New("push: smtp needs a host and a from address")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	return &SMTP{cfg: cfg}, nil
}

// Email implements Mailer. It returns the Message-ID it set.
func (s *SMTP) Email(ctx context.Context, to, subject, body string) (string, error) {
	if strings.ContainsAny(to, "\r\n") || strings.ContainsAny(subject, "\r\n") {
		return "", &PermanentError{Err: errors.New("header injection refused")}
	}
	id := "<" + randomHex() + "@" + s.cfg.Host + ">"
	var b strings.Builder
	b.WriteString("From: " + s.cfg.From + "\r\n")
	b.WriteString("To: " + to + "\r\n")
	b.WriteString("Subject: " + mime.QEncoding.Encode("utf-8", subject) + "\r\n")
	b.WriteString("Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n")
	b.WriteString("Message-ID: " + id + "\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	b.WriteString("\r\n")
	var auth smtp.Auth
	if s.cfg.Username != "" {
		auth = smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)
	}
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(addr, auth, s.cfg.From, []string{to}, []byte(b.String())) }()
	select {
	case err := <-done:
		if err != nil {
			return "", smtpError(err)
		}
		return id, nil
	case <-ctx.Done():
		return "", &TemporaryError{Err: ctx.Err()}
	}
}

// smtpError: a 5xx reply is permanent, anything else (4xx, network) is
// worth retrying.
func smtpError(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return &PermanentError{Err: err}
	}
	return &TemporaryError{Err: fmt.Errorf("smtp: %w", err)}
}

func randomHex() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
