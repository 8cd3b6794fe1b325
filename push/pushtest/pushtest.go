// Package pushtest runs the providers' endpoints on loopback for tests and
// benchmarks: FCM HTTP v1 (projects/*/messages:send) with the OAuth2 token
// endpoint a generated service account points at, Twilio's Messages.json
// and Calls.json, and an SMTP server. Each records what it received and
// can be told to fail the way the real one does (500, 429 with
// Retry-After, UNREGISTERED tokens), so the real SDKs are tested against
// the wire formats they speak.
package pushtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	gosync "sync"
	"time"
)

// FCMRequest is one messages:send call as received.
type FCMRequest struct {
	Project string
	Auth    string
	// Message is the "message" object of the body.
	Message FCMMessage
	At      time.Time
}

// FCMMessage is the part of an FCM v1 message tests look at.
type FCMMessage struct {
	Token        string `json:"token"`
	Notification *struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	} `json:"notification"`
	Data    map[string]string `json:"data"`
	Android *struct {
		Priority    string `json:"priority"`
		CollapseKey string `json:"collapse_key"`
		TTL         string `json:"ttl"`
	} `json:"android"`
	APNS *struct {
		Headers map[string]string `json:"headers"`
		Payload map[string]any    `json:"payload"`
	} `json:"apns"`
}

// TwilioRequest is one Messages.json or Calls.json call as received.
type TwilioRequest struct {
	Kind    string // "sms" or "call"
	Account string
	User    string // basic-auth user
	To      string
	From    string
	Body    string // SMS text
	Twiml   string // call script
	At      time.Time
}

// Failure is a canned error answer.
type Failure struct {
	Status     int
	RetryAfter string // header value; "" for none
}

// Server is the FCM + OAuth2 + Twilio endpoint.
type Server struct {
	*httptest.Server

	mu          gosync.Mutex
	fcm         []FCMRequest
	twilio      []TwilioRequest
	tokens      int
	fcmFails    []Failure
	twilioFails []Failure
	dead        map[string]bool
	// OnFCM, if set, is called (outside the lock) for every accepted
	// messages:send, e.g. to time arrivals in a benchmark.
	OnFCM func(FCMRequest)
	// down makes every endpoint answer 502 (SetDown).
	down bool
}

// NewServer starts the server on loopback; Close stops it.
func NewServer() *Server {
	s := &Server{dead: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /", s.route)
	s.Server = httptest.NewServer(mux)
	return s
}

// FCMEndpoint is the value for push.FCMConfig.Endpoint.
func (s *Server) FCMEndpoint() string { return s.URL + "/v1" }

// TwilioBaseURL is the value for push.TwilioConfig.BaseURL.
func (s *Server) TwilioBaseURL() string { return s.URL }

// ServiceAccountJSON returns a service-account file whose token_uri is
// this server, with a freshly generated key, for project.
func (s *Server) ServiceAccountJSON(project string) []byte {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(key))})
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": project, "private_key_id": "test-key",
		"private_key": string(pemKey), "client_email": "fieldsync@" + project + ".iam.gserviceaccount.com",
		"client_id": "1", "token_uri": s.URL + "/token",
	})
	return b
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// FailFCM queues failures for the next messages:send calls, in order.
func (s *Server) FailFCM(f ...Failure) {
	s.mu.Lock()
	s.fcmFails = append(s.fcmFails, f...)
	s.mu.Unlock()
}

// FailTwilio queues failures for the next Twilio calls, in order.
func (s *Server) FailTwilio(f ...Failure) {
	s.mu.Lock()
	s.twilioFails = append(s.twilioFails, f...)
	s.mu.Unlock()
}

// Unregister makes FCM answer UNREGISTERED for token from now on.
func (s *Server) Unregister(token string) { s.mu.Lock(); s.dead[token] = true; s.mu.Unlock() }

// SetDown makes every endpoint answer 502, as a proxy in front of a dead
// service does (true), or work again (false). Not 503: the FCM SDK retries
// that itself for seconds, which is not what a test of our retries wants.
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// FCM returns the accepted messages:send calls so far.
func (s *Server) FCM() []FCMRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]FCMRequest(nil), s.fcm...)
}

// Twilio returns the accepted Twilio calls so far.
func (s *Server) Twilio() []TwilioRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TwilioRequest(nil), s.twilio...)
}

// TokensIssued counts OAuth2 tokens handed out.
func (s *Server) TokensIssued() int { s.mu.Lock(); defer s.mu.Unlock(); return s.tokens }

// Reset forgets what was received and any queued failure.
func (s *Server) Reset() {
	s.mu.Lock()
	s.fcm, s.twilio, s.fcmFails, s.twilioFails = nil, nil, nil, nil
	s.dead = map[string]bool{}
	s.mu.Unlock()
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("assertion") == "" {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.tokens++
	n := s.tokens
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"access_token":"test-token-`+strconv.Itoa(n)+`","token_type":"Bearer","expires_in":3600}`)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/messages:send") && strings.Contains(p, "/projects/"):
		s.fcmSend(w, r)
	case strings.HasPrefix(p, "/2010-04-01/Accounts/") && (strings.HasSuffix(p, "/Messages.json") || strings.HasSuffix(p, "/Calls.json")):
		s.twilioCreate(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) fail(w http.ResponseWriter, queue *[]Failure, body string) bool {
	s.mu.Lock()
	down := s.down
	var f *Failure
	if !down && len(*queue) > 0 {
		f = &(*queue)[0]
		*queue = (*queue)[1:]
	}
	s.mu.Unlock()
	if down {
		f = &Failure{Status: http.StatusBadGateway}
	}
	if f == nil {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, strings.ReplaceAll(body, "STATUS", strconv.Itoa(f.Status)))
	return true
}

func (s *Server) fcmSend(w http.ResponseWriter, r *http.Request) {
	project := strings.TrimSuffix(r.URL.Path[strings.Index(r.URL.Path, "/projects/")+len("/projects/"):], "/messages:send")
	var body struct {
		Message FCMMessage `json:"message"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fcmError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer test-token-") {
		fcmError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR")
		return
	}
	if s.fail(w, &s.fcmFails, `{"error":{"code":STATUS,"message":"injected failure","status":"UNAVAILABLE"}}`) {
		return
	}
	s.mu.Lock()
	dead := s.dead[body.Message.Token]
	s.mu.Unlock()
	if dead {
		fcmError(w, http.StatusNotFound, "NOT_FOUND", "UNREGISTERED")
		return
	}
	req := FCMRequest{Project: project, Auth: r.Header.Get("Authorization"), Message: body.Message, At: time.Now()}
	s.mu.Lock()
	s.fcm = append(s.fcm, req)
	n := len(s.fcm)
	on := s.OnFCM
	s.mu.Unlock()
	if on != nil {
		on(req)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"name":"projects/`+project+`/messages/`+strconv.Itoa(n)+`"}`)
}

func fcmError(w http.ResponseWriter, status int, grpc, fcm string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": "test error " + fcm, "status": grpc,
		"details": []map[string]string{{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm}},
	}})
}

func (s *Server) twilioCreate(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(r.URL.Path, "/")
	account := parts[3]
	user, _, ok := r.BasicAuth()
	if !ok || user != account {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"code":20003,"message":"Authenticate","status":401}`)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if s.fail(w, &s.twilioFails, `{"code":20500,"message":"injected failure","status":STATUS}`) {
		return
	}
	req := TwilioRequest{Account: account, User: user, To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), At: time.Now()}
	prefix := "SM"
	if strings.HasSuffix(r.URL.Path, "/Calls.json") {
		req.Kind, req.Twiml, prefix = "call", r.PostForm.Get("Twiml"), "CA"
	} else {
		req.Kind, req.Body = "sms", r.PostForm.Get("Body")
	}
	if !strings.HasPrefix(req.To, "+") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}`)
		return
	}
	s.mu.Lock()
	s.twilio = append(s.twilio, req)
	n := len(s.twilio)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"sid": prefix + strconv.Itoa(100000+n), "account_sid": account, "to": req.To, "from": req.From,
		"status": "queued", "body": req.Body,
	})
}
