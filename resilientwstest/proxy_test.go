//go:build !js

package resilientwstest_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

// tcpEcho starts a plain TCP echo server on 127.0.0.1 and returns its
// address; it is closed and joined by t.Cleanup.
func tcpEcho(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newProxy(t *testing.T, upstream string) *resilientwstest.Proxy {
	p, err := resilientwstest.NewProxy(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// tcpDial dials addr with a deadline of wait on every operation.
func tcpDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(wait))
	return c
}

// echo writes msg to c, reads it back and returns how long it took.
func echo(t *testing.T, c net.Conn, msg []byte) time.Duration {
	t.Helper()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	if werr := <-errc; werr != nil {
		t.Fatalf("write: %v", werr)
	}
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %v (equal %t)", err, bytes.Equal(got, msg))
	}
	return time.Since(start)
}

// noRead checks that nothing arrives on c for a short while.
func noRead(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(short))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %d bytes, %v; want nothing", n, err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
}

func TestProxyPassesAndCounts(t *testing.T) {
	p := newProxy(t, tcpEcho(t))
	c := tcpDial(t, p.Addr())
	echo(t, c, []byte("hello"))
	echo(t, tcpDial(t, p.Addr()), []byte("world"))
	if p.Accepted() != 2 || p.Live() != 2 {
		t.Fatalf("accepted %d live %d", p.Accepted(), p.Live())
	}
	if p.URL("/ws") != "ws://"+p.Addr()+"/ws" {
		t.Fatalf("URL %q", p.URL("/ws"))
	}
}

func TestProxyStallHoldsBytesUntilPass(t *testing.T) {
	p := newProxy(t, tcpEcho(t))
	c := tcpDial(t, p.Addr())
	echo(t, c, []byte("x"))
	p.Stall()
	msg := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	noRead(t, c)
	p.Pass()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("after Pass: %v (equal %t)", err, bytes.Equal(got, msg))
	}
}

func TestProxyBlackholeDropsBytesAndKeepsTCPOpen(t *testing.T) {
	p := newProxy(t, tcpEcho(t))
	c := tcpDial(t, p.Addr())
	echo(t, c, []byte("x"))
	p.Blackhole()
	// 8 MiB fits only if the proxy keeps reading: a stall would block here.
	if _, err := c.Write(make([]byte, 8<<20)); err != nil {
		t.Fatalf("write into the blackhole: %v", err)
	}
	noRead(t, c)
	if p.Live() != 1 {
		t.Fatalf("live %d", p.Live())
	}
	p.Pass()
	echo(t, tcpDial(t, p.Addr()), []byte("new connections work"))
}

func TestProxyResetAll(t *testing.T) {
	p := newProxy(t, tcpEcho(t))
	c := tcpDial(t, p.Addr())
	echo(t, c, []byte("x"))
	p.ResetAll()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after ResetAll: %v", err)
	}
	if p.Live() != 0 {
		t.Fatalf("live %d", p.Live())
	}
}

func TestProxyCloseAll(t *testing.T) {
	p := newProxy(t, tcpEcho(t))
	c := tcpDial(t, p.Addr())
	echo(t, c, []byte("x"))
	p.CloseAll()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read after CloseAll: %v", err)
	}
}

func TestProxyRefuseThenRecoverOnTheSamePort(t *testing.T) {
	p := newProxy(t, tcpEcho(t))
	addr := p.Addr()
	live := tcpDial(t, addr)
	echo(t, live, []byte("x"))
	p.Refuse()
	if c, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial while refusing: %v", err)
	}
	echo(t, live, []byte("live connections are untouched"))
	if err := p.Recover(); err != nil {
		t.Fatal(err)
	}
	if p.Addr() != addr {
		t.Fatalf("address changed: %s, then %s", addr, p.Addr())
	}
	echo(t, tcpDial(t, addr), []byte("again"))
	if p.Accepted() != 2 {
		t.Fatalf("accepted %d", p.Accepted())
	}
}

func TestProxyLatency(t *testing.T) {
	p := newProxy(t, tcpEcho(t))
	c := tcpDial(t, p.Addr())
	echo(t, c, []byte("x"))
	const d = 50 * time.Millisecond
	p.Latency(d)
	if rtt := echo(t, c, []byte("slow")); rtt < 2*d {
		t.Fatalf("round trip %s with %s each way", rtt, d)
	}
	p.Latency(0)
	echo(t, c, []byte("fast"))
}

func TestProxyBandwidth(t *testing.T) {
	p := newProxy(t, tcpEcho(t))
	c := tcpDial(t, p.Addr())
	const rate = 128 << 10
	p.Bandwidth(rate)
	msg := make([]byte, 32<<10) // a quarter of a second each way
	if took := echo(t, c, msg); took < 200*time.Millisecond {
		t.Fatalf("32 KiB at 128 KiB/s took %s", took)
	}
	p.Bandwidth(0)
	echo(t, c, msg)
}

func TestProxyWithADeadUpstreamResetsClients(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p := newProxy(t, dead)
	c, err := net.DialTimeout("tcp", p.Addr(), wait)
	if err != nil {
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("dial: %v, want success or a reset", err)
		}
		return // the reset came before the dial returned
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read through a proxy to a dead upstream: %v, want a reset", err)
	}
}

func TestProxyCarriesWebSocketCloses(t *testing.T) {
	s := newServer(t)
	p := newProxy(t, s.Addr())
	c := dial(t, p.URL("/"))
	c.send(t, "x")
	c.next(t)
	s.CloseAll(websocket.StatusTryAgainLater, "busy")
	if err := c.end(t); websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		t.Fatalf("through the proxy: %v", err)
	}
	if err := s.WaitFor(ctxFor(t, wait), func() bool { return s.Live() == 0 }); err != nil {
		t.Fatal(err)
	}
}

func TestProxyCloseJoinsEverything(t *testing.T) {
	p, err := resilientwstest.NewProxy(tcpEcho(t))
	if err != nil {
		t.Fatal(err)
	}
	c := tcpDial(t, p.Addr())
	echo(t, c, []byte("x"))
	p.Stall()
	c.Write([]byte("held"))
	p.Close()
	p.Close() // idempotent
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection survived Close")
	}
	if _, err := resilientwstest.NewProxy("no port"); err == nil {
		t.Fatal("NewProxy accepted a bad address")
	}
}
