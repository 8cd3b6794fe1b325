package sim

import (
	"io"
	"math/rand/v2"
	"net"
	gosync "sync"
	"sync/atomic"
	"time"
)

// Faults are what the proxy does to new connections, each with its own
// probability: refuse it at once (Drop), hold each chunk of it back
// (Delay, up to MaxDelay), or cut it after a random number of answer bytes
// below CutMaxBytes (Cut: the request may well have been processed, the
// answer is lost half way, as when a phone walks out of coverage).
type Faults struct {
	Drop, Delay, Cut float64
	MaxDelay         time.Duration
	CutMaxBytes      int
}

// FaultCounts says how many faults a proxy injected.
type FaultCounts struct {
	Dropped, Delayed, Cut, CutAll int64
}

// Proxy is a TCP proxy between devices and the server that injects
// faults. It forwards to an upstream address that may change (a server
// restarted on a new port).
type Proxy struct {
	ln net.Listener

	mu       gosync.Mutex
	upstream string
	faults   Faults
	rng      *rand.Rand
	conns    map[net.Conn]struct{}
	silent   map[*atomic.Bool]struct{} // one per open connection pair
	closed   bool

	dropped, delayed, cut, cutAll atomic.Int64
	wg                            gosync.WaitGroup
}

// NewProxy listens on a free local port and forwards to upstream.
func NewProxy(upstream string, seed uint64) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, upstream: upstream, rng: rand.New(rand.NewPCG(seed, seed+1)), conns: map[net.Conn]struct{}{}, silent: map[*atomic.Bool]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is where devices connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is Addr as an http base URL.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// SetUpstream points new connections at another server address.
func (p *Proxy) SetUpstream(addr string) {
	p.mu.Lock()
	p.upstream = addr
	p.mu.Unlock()
}

// SetFaults changes the faults of new connections (zero: none).
func (p *Proxy) SetFaults(f Faults) {
	p.mu.Lock()
	p.faults = f
	p.mu.Unlock()
}

// Counts returns the faults injected so far.
func (p *Proxy) Counts() FaultCounts {
	return FaultCounts{Dropped: p.dropped.Load(), Delayed: p.delayed.Load(), Cut: p.cut.Load(), CutAll: p.cutAll.Load()}
}

// CutAll closes every open connection at once (a network outage, or the
// server process dying under its clients) and returns how many it closed.
func (p *Proxy) CutAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
		n++
	}
	p.cutAll.Add(1)
	return n
}

// Blackhole makes every open connection silent without closing it: bytes
// still leave each side and vanish on the way, as on a half-open
// connection after a network change. New connections are not affected.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.silent {
		s.Store(true)
	}
}

// Close stops the proxy and cuts every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.CutAll()
	p.wg.Wait()
	return err
}

// plan is the fate of one connection, drawn when it is accepted.
type plan struct {
	drop     bool
	delay    time.Duration
	cutAfter int // 0: never
	upstream string
}

func (p *Proxy) draw() plan {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.faults
	pl := plan{upstream: p.upstream}
	if f.Drop > 0 && p.rng.Float64() < f.Drop {
		pl.drop = true
		return pl
	}
	if f.Delay > 0 && f.MaxDelay > 0 && p.rng.Float64() < f.Delay {
		pl.delay = time.Duration(p.rng.Int64N(int64(f.MaxDelay)))
	}
	if f.Cut > 0 && f.CutMaxBytes > 0 && p.rng.Float64() < f.Cut {
		pl.cutAfter = 1 + p.rng.IntN(f.CutMaxBytes)
	}
	return pl
}

func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.closed {
			return false
		}
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.serve(c) }()
	}
}

func (p *Proxy) serve(down net.Conn) {
	pl := p.draw()
	if pl.drop {
		p.dropped.Add(1)
		_ = down.Close()
		return
	}
	up, err := net.DialTimeout("tcp", pl.upstream, 2*time.Second)
	if err != nil {
		_ = down.Close()
		return
	}
	if !p.track(down, true) || !p.track(up, true) {
		_ = down.Close()
		_ = up.Close()
		return
	}
	defer p.track(down, false)
	defer p.track(up, false)
	if pl.delay > 0 {
		p.delayed.Add(1)
	}
	silent := new(atomic.Bool)
	p.mu.Lock()
	p.silent[silent] = struct{}{}
	p.mu.Unlock()
	defer func() { p.mu.Lock(); delete(p.silent, silent); p.mu.Unlock() }()
	done := make(chan struct{}, 2)
	go func() { pump(up, down, pl.delay, 0, silent); done <- struct{}{} }()
	go func() {
		if pump(down, up, pl.delay, pl.cutAfter, silent) {
			p.cut.Add(1)
		}
		done <- struct{}{}
	}()
	<-done
	_ = down.Close()
	_ = up.Close()
	<-done
}

// pump copies src to dst, sleeping delay before each chunk, and stops
// after limit bytes (0: no limit), reporting whether it cut. Once silent,
// it reads and drops.
func pump(dst io.Writer, src io.Reader, delay time.Duration, limit int, silent *atomic.Bool) bool {
	buf := make([]byte, 32<<10)
	sent := 0
	for {
		n, err := src.Read(buf)
		if n > 0 && silent.Load() {
			continue
		}
		if n > 0 {
			if delay > 0 {
				time.Sleep(delay)
			}
			chunk := buf[:n]
			cut := false
			if limit > 0 && sent+n >= limit {
				chunk, cut = buf[:limit-sent], true
			}
			if _, werr := dst.Write(chunk); werr != nil {
				return false
			}
			sent += len(chunk)
			if cut {
				return true
			}
		}
		if err != nil {
			return false
		}
	}
}
