package mobile

import (
	"bufio"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/mobile/auth"
)

// Pokes delivers the "pull now" hints of commits (storage/pokebus.Bus).
type Pokes interface {
	// Subscribe returns a channel that receives a value after each commit
	// that may change what userID (with role, in orgID) sees, and a cancel
	// func that ends the subscription. The channel must hold at most one
	// pending poke and be sent to without blocking, so a burst of commits
	// collapses into one poke and a slow stream never holds up the
	// publisher.
	Subscribe(orgID, userID string, role domain.Role) (<-chan struct{}, func())
}

// The frames of the event stream (text/event-stream). Events carry a data
// line, even an empty one, because EventSource drops an event without one.
const (
	frameReady = "event: ready\ndata:\n\n"
	framePoke  = "event: poke\ndata:\n\n"
	framePing  = ": ping\n\n"
)

// events serves GET /v1/sync/events: a server-sent event stream that tells
// an online device to pull. It sends "ready" once subscribed (a device pulls
// then, to cover commits before the stream existed), "poke" after commits
// that concern the user (coalesced: at most one pending), and a comment
// every heartbeat. It never carries data, so a lost or extra event affects
// nothing but latency.
//
// The stream ends when the client goes away (the next write fails), when
// the access token that opened it expires (so a signed-out or deactivated
// user cannot listen on: the client reconnects with a fresh token, which
// requireAuth checks again), and when the server shuts down: when
// Config.Closing is closed, or else when fasthttp closes every request's
// Done channel at the start of Shutdown, before it waits for open
// connections.
func (s *server) events(c *fiber.Ctx) error {
	p, _, err := s.syncQuery(c)
	if err != nil {
		return err
	}
	if s.pokes == nil {
		return domain.Errorf(domain.CodeUnavailable, "live updates are not available on this server; pull periodically")
	}
	until := tokenExpiry(c)
	if until.IsZero() {
		// An authenticator that does not say when the token expires gets
		// the default token lifetime, so no stream lives forever.
		until = time.Now().Add(auth.DefaultAccessTTL)
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	// nginx (and proxies that copy it) buffer answers unless told not to,
	// which would hold pokes back until the buffer fills.
	c.Set("X-Accel-Buffering", "no")
	c.Status(fiber.StatusOK)
	if c.Method() == fiber.MethodHead {
		return nil // no body will be read: hold no subscription for it
	}
	// Subscribe before answering: a commit between "ready" and the first
	// select must still poke.
	pokes, unsubscribe := s.pokes.Subscribe(p.OrgID, p.UserID, p.Role)
	done := s.closing
	if done == nil {
		done = c.Context().Done()
	}
	st := &stream{
		pokes:        pokes,
		done:         done,
		conn:         c.Context().Conn(),
		until:        until,
		heartbeat:    s.heartbeat,
		writeTimeout: s.writeTimeout,
	}
	s.streams.Inc()
	// fasthttp runs the writer in a goroutine of its own, started here, and
	// copies its output to the connection once this handler has returned.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.streams.Dec()
		defer unsubscribe()
		st.run(w)
	})
	return nil
}

// stream is one open event stream. Nothing in it refers to the request,
// which fasthttp recycles.
type stream struct {
	pokes        <-chan struct{}
	done         <-chan struct{} // closed when the server shuts down
	conn         net.Conn
	until        time.Time
	heartbeat    time.Duration
	writeTimeout time.Duration
}

func (st *stream) run(w *bufio.Writer) {
	if !st.send(w, frameReady) {
		return
	}
	heartbeat := time.NewTicker(st.heartbeat)
	defer heartbeat.Stop()
	expiry := time.NewTimer(time.Until(st.until))
	defer expiry.Stop()
	for {
		var frame string
		select {
		case <-st.done:
			return
		case <-expiry.C:
			return
		case _, ok := <-st.pokes:
			if !ok {
				return
			}
			frame = framePoke
		case <-heartbeat.C:
			frame = framePing
		}
		if !st.send(w, frame) {
			return
		}
	}
}

// send writes and flushes one frame, and reports whether the client is
// still there. fasthttp sets the connection's write deadline once per
// answer; a stream renews it with each frame, so it is cut off only when
// writes stall (a client that stopped reading), not after a fixed time.
func (st *stream) send(w *bufio.Writer, frame string) bool {
	if st.conn != nil {
		_ = st.conn.SetWriteDeadline(time.Now().Add(st.writeTimeout))
	}
	if _, err := w.WriteString(frame); err != nil {
		return false
	}
	return w.Flush() == nil
}
