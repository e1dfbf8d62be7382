//go:build !js

package resilientwstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// proxy forwarding modes.
type proxyMode int

const (
	proxyPass proxyMode = iota
	proxyStall
	proxyBlackhole
)

// Proxy is a TCP proxy on 127.0.0.1 that forwards every connection it
// accepts to an upstream address and injects faults on demand, from any
// goroutine, at any moment. The forwarding faults (Latency, Bandwidth,
// Stall, Blackhole) apply to every connection, live and future, in both
// directions; ResetAll and CloseAll act on the live connections; Refuse and
// Recover act on the listener.
//
// A Proxy must be closed with Close, which also waits for every goroutine it
// started.
type Proxy struct {
	upstream string
	addr     string
	ctx      context.Context // done at Close: ends upstream dials
	cancel   context.CancelFunc

	mu       sync.Mutex // guards the fields below
	mode     proxyMode
	latency  time.Duration
	rate     int64         // bytes per second and direction; 0 = unlimited
	changed  chan struct{} // closed and replaced when a setting changes
	ln       net.Listener  // nil while refusing or closed
	links    map[*link]struct{}
	accepted int
	closed   bool

	wg sync.WaitGroup // accept loops, dials and pumps
}

// NewProxy starts a Proxy on 127.0.0.1 on a free port that forwards to
// upstream, a "host:port" address. It starts in Pass mode.
func NewProxy(upstream string) (*Proxy, error) {
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		return nil, fmt.Errorf("resilientwstest: NewProxy: upstream %q: %w", upstream, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("resilientwstest: NewProxy: %w", err)
	}
	p := &Proxy{
		upstream: upstream,
		addr:     ln.Addr().String(),
		changed:  make(chan struct{}),
		ln:       ln,
		links:    make(map[*link]struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.acceptLoop(ln)
	return p, nil
}

// Addr returns the Proxy's address, "127.0.0.1:port". It stays the same
// across Refuse and Recover.
func (p *Proxy) Addr() string { return p.addr }

// URL returns "ws://" + Addr() + path: the WebSocket URL of the upstream
// server through the Proxy.
func (p *Proxy) URL(path string) string { return "ws://" + p.addr + path }

// Pass restores normal forwarding, the default. It resumes a Stall without
// losing or reordering a byte. Latency and Bandwidth stay as set.
func (p *Proxy) Pass() { p.set(func() { p.mode = proxyPass }) }

// Stall stops forwarding in both directions but keeps every byte: what was
// already read is held, the rest stays in the kernel's buffers until the
// senders' writes block. TCP stays open. Pass resumes the flow losslessly.
func (p *Proxy) Stall() { p.set(func() { p.mode = proxyStall }) }

// Blackhole reads and discards every byte in both directions, held ones
// included, while TCP stays open: a half-open link, where writes succeed and
// nothing ever arrives. A close or reset from either side is held back too,
// until Pass. Bytes dropped are gone for good, so after Pass the streams are
// corrupt: only new connections are usable.
func (p *Proxy) Blackhole() { p.set(func() { p.mode = proxyBlackhole }) }

// Latency delays every chunk of bytes by d in each direction (a round trip
// gains 2d), preserving order; the delay counts from when the Proxy read the
// chunk, so a change applies at once to what is in flight. 0 removes it.
func (p *Proxy) Latency(d time.Duration) {
	p.set(func() { p.latency = max(d, 0) })
}

// Bandwidth limits each direction of each connection to bytesPerSec bytes
// per second. 0 removes the limit.
func (p *Proxy) Bandwidth(bytesPerSec int64) {
	p.set(func() { p.rate = max(bytesPerSec, 0) })
}

func (p *Proxy) set(f func()) {
	p.mu.Lock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// settings returns the forwarding settings and a channel closed when they
// change.
func (p *Proxy) settings() (proxyMode, time.Duration, int64, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.latency, p.rate, p.changed
}

// ResetAll aborts every live connection on both sides with an immediate TCP
// reset (SO_LINGER 0), even an idle one: both ends see "connection reset by
// peer".
func (p *Proxy) ResetAll() {
	for _, l := range p.liveLinks() {
		l.close(true)
	}
}

// CloseAll closes every live connection on both sides with a plain close
// (FIN): both ends see EOF.
func (p *Proxy) CloseAll() {
	for _, l := range p.liveLinks() {
		l.close(false)
	}
}

// Refuse closes the listener, so that new connections fail with "connection
// refused" until Recover. Live connections are not touched: add ResetAll or
// CloseAll to take the whole server down.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
}

// Recover listens again on the same address after Refuse. If the port is
// briefly busy it retries for up to a second, then returns the error. It
// does nothing if the Proxy is listening or closed.
func (p *Proxy) Recover() error {
	deadline := time.Now().Add(time.Second)
	for {
		p.mu.Lock()
		if p.closed || p.ln != nil {
			p.mu.Unlock()
			return nil
		}
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.ln = ln
			p.wg.Add(1)
			go p.acceptLoop(ln)
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			return fmt.Errorf("resilientwstest: Proxy.Recover: %w", err)
		}
		t := time.NewTimer(10 * time.Millisecond) // the port may be in use by a dying socket
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// Accepted returns the number of TCP connections accepted so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Live returns the number of live proxied connections.
func (p *Proxy) Live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close closes the listener and every connection (FIN) and waits for every
// goroutine the Proxy started. It is idempotent.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	p.cancel()
	if ln != nil {
		_ = ln.Close()
	}
	p.CloseAll()
	p.wg.Wait()
}

func (p *Proxy) liveLinks() []*link {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*link, 0, len(p.links))
	for l := range p.links {
		out = append(out, l)
	}
	return out
}

// acceptLoop accepts connections on ln until it is closed.
func (p *Proxy) acceptLoop(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepted++
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c)
	}
}

// serve dials upstream for the client connection c and starts forwarding.
// If upstream cannot be reached, c is reset, as a load balancer with a dead
// backend would.
func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	d := net.Dialer{Timeout: 5 * time.Second}
	u, err := d.DialContext(p.ctx, "tcp", p.upstream)
	if err != nil {
		abort(c)
		return
	}
	l := &link{p: p, client: c, server: u, done: make(chan struct{}), halves: 2}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		abort(c)
		abort(u)
		return
	}
	p.links[l] = struct{}{}
	p.wg.Add(4)
	p.mu.Unlock()
	l.forward(c, u)
	l.forward(u, c)
}

// link is one proxied connection: the accepted client side and the dialled
// upstream side.
type link struct {
	p              *Proxy
	client, server net.Conn
	done           chan struct{} // closed by close

	mu     sync.Mutex // guards closed and halves
	closed bool
	halves int // directions still open
}

// chunk is bytes read from one side, stamped with the time they were read.
type chunk struct {
	data []byte
	at   time.Time
}

// forward starts the two goroutines that copy src to dst: a reader that
// stamps chunks and a writer that releases them when due.
func (l *link) forward(src, dst net.Conn) {
	ch := make(chan chunk, 16)
	go l.read(src, ch)
	go l.write(dst, ch)
}

// read reads src into ch until src ends or the link is closed. It closes ch
// on a clean EOF, and closes the link on any other error.
func (l *link) read(src net.Conn, ch chan<- chunk) {
	defer l.p.wg.Done()
	for {
		if !l.waitNot(proxyStall) {
			return
		}
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			c := chunk{data: buf[:n], at: time.Now()}
			select {
			case ch <- c:
			case <-l.done:
				return
			}
		}
		if err == nil {
			continue
		}
		// A blackhole eats the end of the stream too.
		if !l.waitNot(proxyBlackhole) {
			return
		}
		if errors.Is(err, io.EOF) {
			close(ch) // the writer half-closes dst once ch is drained
			return
		}
		l.close(isReset(err))
		return
	}
}

// write writes the chunks of ch to dst as the settings allow.
func (l *link) write(dst net.Conn, ch <-chan chunk) {
	defer l.p.wg.Done()
	var next time.Time // bandwidth pacing: no write before next
	for {
		var c chunk
		var ok bool
		select {
		case c, ok = <-ch:
		case <-l.done:
			return
		}
		if !ok {
			l.halfClose(dst)
			return
		}
		for data := c.data; len(data) > 0; {
			mode, latency, rate, changed := l.p.settings()
			if mode == proxyBlackhole {
				break
			}
			wait := time.Until(c.at.Add(latency))
			if rate > 0 {
				wait = max(wait, time.Until(next))
			}
			if mode == proxyStall || wait > 0 {
				if !l.sleep(wait, mode == proxyStall, changed) {
					return
				}
				continue // the settings may have changed
			}
			n := len(data)
			if rate > 0 {
				n = int(min(int64(n), max(rate/100, 1))) // 10 ms worth at a time
				next = time.Now().Add(time.Duration(int64(n) * int64(time.Second) / rate))
			}
			if _, err := dst.Write(data[:n]); err != nil {
				l.close(isReset(err))
				return
			}
			data = data[n:]
		}
	}
}

// sleep waits for d (forever if stalled), a settings change or the link's
// end; it returns false at the link's end.
func (l *link) sleep(d time.Duration, stalled bool, changed <-chan struct{}) bool {
	var timeout <-chan time.Time
	if !stalled {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
	case <-changed:
	case <-l.done:
		return false
	}
	return true
}

// waitNot waits while the Proxy is in mode m; it returns false at the link's
// end.
func (l *link) waitNot(m proxyMode) bool {
	for {
		mode, _, _, changed := l.p.settings()
		if mode != m {
			select {
			case <-l.done:
				return false
			default:
				return true
			}
		}
		select {
		case <-changed:
		case <-l.done:
			return false
		}
	}
}

// halfClose passes a clean EOF on to dst; the link is closed once both
// directions have ended.
func (l *link) halfClose(dst net.Conn) {
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	l.mu.Lock()
	l.halves--
	last := l.halves == 0
	l.mu.Unlock()
	if last {
		l.close(false)
	}
}

// close closes both sides, with a TCP reset if rst, and forgets the link.
// Only the first call does anything.
func (l *link) close(rst bool) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	l.p.mu.Lock()
	delete(l.p.links, l)
	l.p.mu.Unlock()
	if rst {
		abort(l.client)
		abort(l.server)
		return
	}
	_ = l.client.Close()
	_ = l.server.Close()
}

// abort closes c with a TCP reset.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// isReset reports whether err is a TCP reset, to be passed on as one.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
