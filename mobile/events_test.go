package mobile

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/iswitchroofs/fieldsync/domain"
)

// waitTimeout bounds every wait in these tests; none asserts how long
// anything took.
const waitTimeout = 10 * time.Second

// fakePokes is an in-memory poke source with the contract of the real one:
// one pending poke per subscription, sent without blocking.
type fakePokes struct {
	mu        gosync.Mutex
	subs      map[*fakeSub]struct{}
	cancelled int
	// burst is how many pokes land on a subscription as it is created, as
	// if a burst of commits arrived before the stream could write.
	burst int
}

type fakeSub struct {
	org, user string
	role      domain.Role
	ch        chan struct{}
}

var _ Pokes = (*fakePokes)(nil)

func newFakePokes() *fakePokes { return &fakePokes{subs: map[*fakeSub]struct{}{}} }

func (f *fakePokes) Subscribe(org, user string, role domain.Role) (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeSub{org: org, user: user, role: role, ch: make(chan struct{}, 1)}
	f.subs[s] = struct{}{}
	for range f.burst {
		send(s.ch)
	}
	var once gosync.Once
	return s.ch, func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			delete(f.subs, s)
			f.cancelled++
		})
	}
}

func send(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// fire pokes every subscription, as a commit concerning everyone would.
func (f *fakePokes) fire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		send(s.ch)
	}
}

func (f *fakePokes) counts() (open, cancelled int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs), f.cancelled
}

func (f *fakePokes) only(t *testing.T) fakeSub {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.subs) != 1 {
		t.Fatalf("%d subscriptions, want 1", len(f.subs))
	}
	for s := range f.subs {
		return *s
	}
	return fakeSub{}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sseEvent is one frame of the stream: an event or a comment.
type sseEvent struct {
	name, data, comment string
}

// sseStream reads an event stream in the background, frame by frame.
type sseStream struct {
	resp   *http.Response
	frames chan sseEvent
	close  func()
}

// openStream opens GET /v1/sync/events with token over the real listener
// and reads its first frame, which must be the ready event.
func openStream(t *testing.T, b *testBundle, token string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+b.addr+"/v1/sync/events?client_id=66666666-6666-4666-8666-666666666666", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(HeaderProtocol, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sseStream{resp: resp, frames: make(chan sseEvent, 1024)}
	s.close = func() {
		cancel()
		_ = resp.Body.Close()
	}
	t.Cleanup(s.close)
	if resp.StatusCode != 200 {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	go func() {
		defer close(s.frames)
		r := bufio.NewReader(resp.Body)
		var ev sseEvent
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				s.frames <- ev
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "event:"):
				ev.name = strings.TrimSpace(line[len("event:"):])
			case strings.HasPrefix(line, "data:"):
				ev.data += strings.TrimPrefix(line[len("data:"):], " ")
			}
		}
	}()
	if ev, _ := s.next(t); ev.name != "ready" {
		t.Fatalf("first frame %+v, want the ready event", ev)
	}
	return s
}

// next returns the next frame; ok is false when the stream ended.
func (s *sseStream) next(t *testing.T) (ev sseEvent, ok bool) {
	t.Helper()
	select {
	case ev, ok = <-s.frames:
		return ev, ok
	case <-time.After(waitTimeout):
		t.Fatal("no frame and no end of stream")
		return sseEvent{}, false
	}
}

// nextEvent skips heartbeats and returns the next named event.
func (s *sseStream) nextEvent(t *testing.T) string {
	t.Helper()
	for {
		ev, ok := s.next(t)
		if !ok {
			t.Fatal("the stream ended")
		}
		if ev.name != "" {
			return ev.name
		}
	}
}

// expectEnd waits for the server to end the stream.
func (s *sseStream) expectEnd(t *testing.T) {
	t.Helper()
	for {
		ev, ok := s.next(t)
		if !ok {
			return
		}
		if ev.name == "poke" {
			t.Errorf("unexpected poke while waiting for the end")
		}
	}
}

func metricsText(t *testing.T, b *testBundle) string {
	t.Helper()
	resp := b.do(mustRequest(t, "GET", "/metrics"))
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return string(raw)
}

func mustRequest(t *testing.T, method, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func heartbeat(d time.Duration) func(*testBundle, *Config) {
	return func(_ *testBundle, cfg *Config) { cfg.Heartbeat = d }
}

func TestEventStreamSaysReadyThenPokes(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync)
	s := openStream(t, b, "good")
	for h, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"} {
		if got := s.resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	sub := b.pokes.only(t)
	if sub.org != orgA || sub.user != repID || sub.role != domain.RoleSales {
		t.Errorf("subscribed as %+v, want the caller", sub)
	}
	if !strings.Contains(metricsText(t, b), "fieldsync_sync_event_streams 1") {
		t.Error("the open stream is not counted")
	}
	for range 3 {
		b.pokes.fire()
		if ev := s.nextEvent(t); ev != "poke" {
			t.Fatalf("got %q after a commit, want poke", ev)
		}
	}
}

// TestEventStreamFrames checks the bytes a client parses: events carry an
// empty data line (EventSource drops events without one), pings are comments.
func TestEventStreamFrames(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync, heartbeat(20*time.Millisecond))
	req := mustRequest(t, "GET", "/v1/sync/events?client_id=66666666-6666-4666-8666-666666666666")
	req.Header.Set("Authorization", "Bearer good")
	resp := b.do(req)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	var got strings.Builder
	for !strings.Contains(got.String(), framePing) || !strings.Contains(got.String(), framePoke) {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", got.String(), err)
		}
		got.WriteString(line)
		if got.Len() == len(frameReady) {
			b.pokes.fire()
		}
	}
	if !strings.HasPrefix(got.String(), "event: ready\ndata:\n\n") || !strings.Contains(got.String(), "event: poke\ndata:\n\n") ||
		!strings.Contains(got.String(), ": ping\n\n") {
		t.Errorf("stream bytes %q", got.String())
	}
}

func TestEventStreamHeartbeat(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync, heartbeat(10*time.Millisecond))
	s := openStream(t, b, "good")
	for range 3 {
		if ev, ok := s.next(t); !ok || ev.comment != "ping" || ev.name != "" {
			t.Fatalf("got %+v (open %v), want a ping comment", ev, ok)
		}
	}
}

// TestEventStreamCoalescesABurst: commits that landed while the stream was
// busy yield one poke, not one each.
func TestEventStreamCoalescesABurst(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync, heartbeat(10*time.Millisecond))
	b.pokes.burst = 100
	s := openStream(t, b, "good")
	pokes, pingsAfter := 0, 0
	for frames := 0; pingsAfter < 3; frames++ {
		ev, ok := s.next(t)
		if !ok {
			t.Fatal("the stream ended")
		}
		switch {
		case ev.name == "poke":
			pokes++
		case ev.comment == "ping" && pokes > 0:
			pingsAfter++
		case frames > 1000:
			t.Fatal("no poke after a burst")
		}
	}
	if pokes != 1 {
		t.Errorf("a burst of 100 commits gave %d pokes, want 1", pokes)
	}
}

// TestEventStreamEndsWhenTheClientGoesAway: the next heartbeat finds the
// connection gone, and the subscription and the gauge are released.
func TestEventStreamEndsWhenTheClientGoesAway(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync, heartbeat(10*time.Millisecond))
	s := openStream(t, b, "good")
	s.close()
	waitFor(t, "the subscription to be cancelled", func() bool {
		open, cancelled := b.pokes.counts()
		return open == 0 && cancelled == 1
	})
	waitFor(t, "the stream gauge to drop", func() bool {
		return strings.Contains(metricsText(t, b), "fieldsync_sync_event_streams 0")
	})
}

// TestEventStreamEndsWhenTheTokenExpires: a user whose access is revoked
// cannot keep listening on an old token; the client reconnects with a new
// one, which is checked again.
func TestEventStreamEndsWhenTheTokenExpires(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync) // heartbeat of an hour: only the expiry can end it
	s := openStream(t, b, "brief")
	s.expectEnd(t)
	waitFor(t, "the subscription to be cancelled", func() bool {
		_, cancelled := b.pokes.counts()
		return cancelled == 1
	})
}

// TestShutdownEndsOpenStreams: graceful shutdown waits for open requests;
// open streams must end by themselves or it would wait out its timeout.
func TestShutdownEndsOpenStreams(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync)
	streams := []*sseStream{openStream(t, b, "good"), openStream(t, b, "manager")}
	done := make(chan error, 1)
	go func() { done <- b.app.ShutdownWithTimeout(waitTimeout) }()
	select {
	case err := <-done:
		// An error here is the timeout: shutdown gave up on open streams.
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(2 * waitTimeout):
		t.Fatal("shutdown did not return")
	}
	for _, s := range streams {
		s.expectEnd(t)
	}
	if open, cancelled := b.pokes.counts(); open != 0 || cancelled != 2 {
		t.Errorf("after shutdown: %d subscriptions open, %d cancelled", open, cancelled)
	}
}

// TestClosingEndsOpenStreams: with Config.Closing, streams end when it is
// closed (the caller's shutdown step), before Shutdown is called, and the
// shutdown that follows has nothing to wait for.
func TestClosingEndsOpenStreams(t *testing.T) {
	t.Parallel()
	closing := make(chan struct{})
	b := setup(t, withSync, func(_ *testBundle, cfg *Config) { cfg.Closing = closing })
	streams := []*sseStream{openStream(t, b, "good"), openStream(t, b, "manager")}
	close(closing)
	for _, s := range streams {
		s.expectEnd(t)
	}
	waitFor(t, "both subscriptions to be cancelled", func() bool {
		open, cancelled := b.pokes.counts()
		return open == 0 && cancelled == 2
	})
	if err := b.app.ShutdownWithTimeout(waitTimeout); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestEventStreamOutlivesTheWriteTimeout: the server's write timeout is set
// once per answer; a stream renews it with each frame, so a live stream is
// not cut off after WriteTimeout while a stalled one would be.
func TestEventStreamOutlivesTheWriteTimeout(t *testing.T) {
	t.Parallel()
	const writeTimeout = 300 * time.Millisecond
	b := setup(t, withSync, heartbeat(20*time.Millisecond), func(_ *testBundle, cfg *Config) { cfg.WriteTimeout = writeTimeout })
	s := openStream(t, b, "good")
	watchUntil := time.Now().Add(5 * writeTimeout)
	for time.Now().Before(watchUntil) {
		if _, ok := s.next(t); !ok {
			t.Fatal("the stream was cut off while the client kept reading")
		}
	}
	b.pokes.fire()
	if ev := s.nextEvent(t); ev != "poke" {
		t.Fatalf("got %q, want poke", ev)
	}
}

// TestStreamIsLoggedWithoutWaitingForItsEnd: the access log line of a
// stream is written as it starts (before any of its bytes go out); measuring
// the body, as for other answers, would read the stream to its end first.
func TestStreamIsLoggedWithoutWaitingForItsEnd(t *testing.T) {
	t.Parallel()
	b := setup(t, withSync)
	openStream(t, b, "good") // returns once the ready event has arrived
	if logs := b.logs.String(); !strings.Contains(logs, `"route":"/v1/sync/events"`) || !strings.Contains(logs, `"status":200`) {
		t.Errorf("no access log line for the open stream:\n%s", logs)
	}
}
