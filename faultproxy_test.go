package resilientws

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fpMode is the forwarding mode of a faultProxy.
type fpMode int

const (
	fpPass      fpMode = iota // forward bytes normally
	fpStall                   // stop reading; bytes stay queued
	fpBlackhole               // read and discard bytes
)

// fpPair is one proxied connection: the accepted client side and the
// dialled upstream side. Its closed flag is guarded by faultProxy.mu.
type fpPair struct {
	client, server net.Conn
	closed         bool
}

// faultProxy is a TCP proxy for integration tests that can stall,
// blackhole, reset, close or refuse connections on demand.
type faultProxy struct {
	t        testing.TB
	upstream string
	addr     string
	ctx      context.Context
	cancel   context.CancelFunc

	mu     sync.Mutex
	cond   *sync.Cond // broadcast on mode change, pair close and Close
	mode   fpMode
	ln     net.Listener // nil while refusing or closed
	pairs  map[*fpPair]struct{}
	closed bool

	accepted atomic.Int64
	wg       sync.WaitGroup // every goroutine started by the proxy
}

// newFaultProxy starts a proxy on 127.0.0.1:0 that forwards every accepted
// connection to upstream (host:port). It is closed by t.Cleanup.
func newFaultProxy(t testing.TB, upstream string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultProxy: listen: %v", err)
	}
	p := &faultProxy{t: t, upstream: upstream, addr: ln.Addr().String(),
		ln: ln, pairs: make(map[*fpPair]struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.acceptLoop(ln)
	t.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's listening address, "127.0.0.1:port".
func (p *faultProxy) Addr() string { return p.addr }

// URL returns "ws://" + Addr() + path.
func (p *faultProxy) URL(path string) string { return "ws://" + p.addr + path }

// Pass restores normal forwarding (the default); it resumes a stall
// without losing or reordering bytes.
func (p *faultProxy) Pass() { p.setMode(fpPass) }

// Stall stops forwarding in both directions while keeping the bytes
// queued (in kernel buffers, or one chunk held per pump); TCP stays open.
func (p *faultProxy) Stall() { p.setMode(fpStall) }

// Blackhole reads and discards bytes in both directions while keeping TCP
// open, simulating a half-open link.
func (p *faultProxy) Blackhole() { p.setMode(fpBlackhole) }

func (p *faultProxy) setMode(m fpMode) {
	p.mu.Lock()
	p.mode = m
	p.cond.Broadcast()
	p.mu.Unlock()
}

// ResetAll aborts every live connection on both sides with an immediate
// RST (SetLinger(0) + Close), even if the connection is idle.
func (p *faultProxy) ResetAll() { p.dropAll(true) }

// CloseAll closes every live connection on both sides with a plain Close (FIN).
func (p *faultProxy) CloseAll() { p.dropAll(false) }

// Refuse closes the listener and resets all live connections, so new
// dials fail with ECONNREFUSED until Accept is called.
func (p *faultProxy) Refuse() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	if ln != nil {
		ln.Close() // returns once the socket is closed; acceptLoop then exits
	}
	p.ResetAll()
}

// Accept listens again on the same address after Refuse. It retries
// briefly if the port is busy and reports failure with t.Errorf.
func (p *faultProxy) Accept() {
	p.t.Helper()
	var err error
	for i := 0; i < 100; i++ {
		p.mu.Lock()
		if p.closed || p.ln != nil {
			p.mu.Unlock()
			return
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.ln = ln
			p.wg.Add(1)
			go p.acceptLoop(ln)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	p.t.Errorf("faultProxy: re-listen on %s: %v", p.addr, err)
}

// Accepted returns the number of TCP connections accepted so far.
func (p *faultProxy) Accepted() int { return int(p.accepted.Load()) }

// Live returns the number of live proxied connection pairs.
func (p *faultProxy) Live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pairs)
}

// Close stops the listener, closes all connections and waits for every
// goroutine the proxy started. It is idempotent.
func (p *faultProxy) Close() {
	p.mu.Lock()
	p.closed = true
	ln := p.ln
	p.ln = nil
	p.cond.Broadcast()
	p.mu.Unlock()
	p.cancel()
	if ln != nil {
		ln.Close()
	}
	p.dropAll(false)
	p.wg.Wait()
}

// acceptLoop accepts connections on ln until it is closed.
func (p *faultProxy) acceptLoop(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.serve(ln, c)
	}
}

// serve dials upstream for client c and starts the two pumps. The pair is
// discarded if ln was closed (Refuse/Close) in the meantime.
func (p *faultProxy) serve(ln net.Listener, c net.Conn) {
	defer p.wg.Done()
	d := net.Dialer{Timeout: 5 * time.Second}
	s, err := d.DialContext(p.ctx, "tcp", p.upstream)
	if err != nil {
		fpAbort(c)
		return
	}
	pr := &fpPair{client: c, server: s}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.ln != ln {
		fpAbort(c)
		fpAbort(s)
		return
	}
	p.pairs[pr] = struct{}{}
	p.wg.Add(2)
	go p.pump(pr, s, c)
	go p.pump(pr, c, s)
}

// pump copies src to dst according to the current mode until either side
// fails or the pair is dropped, then closes both sides.
func (p *faultProxy) pump(pr *fpPair, dst, src net.Conn) {
	defer p.wg.Done()
	defer p.drop(pr, false)
	buf := make([]byte, 32<<10)
	for {
		if _, ok := p.wait(pr); !ok {
			return
		}
		n, err := src.Read(buf)
		if n > 0 {
			m, ok := p.wait(pr) // a chunk read before a Stall is held until Pass
			if !ok {
				return
			}
			if m == fpPass {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// wait blocks while the proxy is stalled and returns the current mode, or
// false if the pair or proxy has been closed.
func (p *faultProxy) wait(pr *fpPair) (fpMode, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == fpStall && !pr.closed && !p.closed {
		p.cond.Wait()
	}
	return p.mode, !pr.closed && !p.closed
}

// drop removes pr from the live set and closes both sides (with RST if
// rst). Only the first caller closes the conns.
func (p *faultProxy) drop(pr *fpPair, rst bool) {
	p.mu.Lock()
	if pr.closed {
		p.mu.Unlock()
		return
	}
	pr.closed = true
	delete(p.pairs, pr)
	p.cond.Broadcast()
	p.mu.Unlock()
	fpClose(pr.client, rst)
	fpClose(pr.server, rst)
}

// dropAll drops every live pair.
func (p *faultProxy) dropAll(rst bool) {
	p.mu.Lock()
	prs := make([]*fpPair, 0, len(p.pairs))
	for pr := range p.pairs {
		prs = append(prs, pr)
	}
	p.mu.Unlock()
	for _, pr := range prs {
		p.drop(pr, rst)
	}
}

// fpClose closes c, first setting SO_LINGER 0 (RST) if rst.
func fpClose(c net.Conn, rst bool) {
	if tc, ok := c.(*net.TCPConn); ok && rst {
		tc.SetLinger(0)
	}
	c.Close()
}

// fpAbort closes c with an RST.
func fpAbort(c net.Conn) { fpClose(c, true) }

// fpEchoServer starts a plain TCP echo server on 127.0.0.1:0 and returns
// its address; it is shut down and joined by t.Cleanup.
func fpEchoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// fpDial dials addr with a 2 s read/write deadline and closes it on cleanup.
func fpDial(t *testing.T, addr string) net.Conn {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(2 * time.Second))
	return c
}

// fpEcho writes msg to c and expects it echoed back.
func fpEcho(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: err=%v equal=%v", err, bytes.Equal(got, msg))
	}
}

func TestFaultProxyStallThenPass(t *testing.T) {
	p := newFaultProxy(t, fpEchoServer(t))
	c := fpDial(t, p.Addr())
	fpEcho(t, c, []byte("hello"))
	if p.Accepted() != 1 || p.Live() != 1 {
		t.Fatalf("accepted=%d live=%d", p.Accepted(), p.Live())
	}
	p.Stall()
	msg := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled read: n=%d err=%v", n, err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	p.Pass()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("after Pass: err=%v equal=%v", err, bytes.Equal(got, msg))
	}
}

func TestFaultProxyBlackhole(t *testing.T) {
	p := newFaultProxy(t, fpEchoServer(t))
	c := fpDial(t, p.Addr())
	fpEcho(t, c, []byte("hello"))
	p.Blackhole()
	// 8 MiB only fits if the proxy keeps reading (a Stall would block here).
	if _, err := c.Write(make([]byte, 8<<20)); err != nil {
		t.Fatalf("write into blackhole: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackholed read: n=%d err=%v", n, err)
	}
	if p.Live() != 1 {
		t.Fatalf("live=%d, want 1", p.Live())
	}
}

func TestFaultProxyRefuseAccept(t *testing.T) {
	p := newFaultProxy(t, fpEchoServer(t))
	addr := p.Addr()
	old := fpDial(t, addr)
	fpEcho(t, old, []byte("x"))
	p.Refuse()
	if _, err := old.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("live conn after Refuse: %v", err)
	}
	if c, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial while refusing: %v", err)
	}
	p.Accept()
	if p.Addr() != addr {
		t.Fatalf("addr changed: %s -> %s", addr, p.Addr())
	}
	fpEcho(t, fpDial(t, addr), []byte("again"))
	if p.Accepted() != 2 {
		t.Fatalf("accepted=%d, want 2", p.Accepted())
	}
}

func TestFaultProxyResetAll(t *testing.T) {
	p := newFaultProxy(t, fpEchoServer(t))
	c := fpDial(t, p.Addr())
	fpEcho(t, c, []byte("hello"))
	done := make(chan struct{})
	go func() { defer close(done); p.ResetAll() }()
	_, err := c.Read(make([]byte, 1))
	<-done
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after ResetAll: %v", err)
	}
	if p.Live() != 0 {
		t.Fatalf("live=%d, want 0", p.Live())
	}
}
