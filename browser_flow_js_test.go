//go:build js && wasm

package resilientws

// The browser suite: flow control on the page's socket. Writing waits on
// the socket's bufferedAmount, so a server that stops reading meets the
// queue's limits and the write timeout as natively; the read limit holds
// from the first message.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A server that stops reading: writing waits while the socket holds more
// than the queue's byte limit unsent, so the queue fills and Send meets
// its limit (OverflowReject here), and memory stays bounded, as natively.
// When the server reads again, everything goes out.
func TestBrowserWriteBackpressure(t *testing.T) {
	const (
		limit = 256 << 10
		size  = 16 << 10
		most  = 32 << 20 // without backpressure the browser takes all of it
	)
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff(), WithQueue(1024, limit, OverflowReject), WithWriteTimeout(time.Minute))
	start(t, c)
	r.waitKind("open", 1, bwait)
	srv.do("stopreading")
	msg := strings.Repeat("x", size)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	sent, full := 0, false
	for sent < most {
		err := c.SendText(context.Background(), msg)
		if errors.Is(err, ErrQueueFull) {
			full = true
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sent += size
		// Let the supervisor write (the page runs one goroutine at a
		// time): until the queue is empty, or for 50 ms if writing waits.
		end := time.Now().Add(50 * time.Millisecond)
		for c.queue.buffered() > 0 && time.Now().Before(end) {
			<-tick.C
		}
	}
	cn := c.current.Load()
	if cn == nil {
		t.Fatal("no connection open")
	}
	socketHeld := unsent(cn.ws)
	t.Logf("sent %d KiB before ErrQueueFull: BufferedAmount %d KiB, the socket's own %d KiB",
		sent>>10, c.BufferedAmount()>>10, socketHeld>>10)
	if !full {
		t.Fatalf("Send took %d MiB without meeting the queue's limit: the socket buffered %d KiB", most>>20, socketHeld>>10)
	}
	if socketHeld > limit+size {
		t.Errorf("the socket holds %d bytes unsent, want at most the queue's limit (%d) and one message", socketHeld, limit)
	}
	if n := c.BufferedAmount(); n > 2*limit+2*size {
		t.Errorf("BufferedAmount = %d, want at most twice the queue's limit", n)
	}
	srv.do("resumereading")
	waitUntil(t, "everything written", 2*bwait, func() bool { return c.BufferedAmount() == 0 })
	if s := c.State(); s != StateOpen || len(r.of("close")) != 0 {
		t.Errorf("the connection did not survive: %s", r.summary())
	}
}

// The configured read limit applies from the first message, one the
// server sends as soon as it accepts. (The socket now starts with it. The
// old code, which set it just after open, passes this test too: Go's
// WebAssembly scheduler runs every ready goroutine, the dial's included,
// before it returns to the page's event loop, so no message could come in
// between; the test keeps the rule from depending on that.)
func TestBrowserReadLimitFromTheFirstMessage(t *testing.T) {
	var r struct {
		ID  int    `json:"id"`
		URL string `json:"url"`
	}
	ctl(t, http.MethodPost, "/ctl/new?greet=16", &r)
	srv := &ctlSrv{t: t, id: r.ID, url: r.URL}
	t.Cleanup(func() { srv.do("close") })
	rr := newRecorder(t)
	c := rr.newClient(srv.url, browserBackoff(), WithReadLimit(8))
	start(t, c)
	if e := rr.waitKind("close", 1, bwait).close; e.Code != websocket.StatusMessageTooBig {
		t.Errorf("OnClose = %+v, want 1009: the 16-byte greeting is over the limit of 8", e)
	}
	if n := len(rr.of("message")); n != 0 {
		t.Errorf("%d message(s) delivered, want none", n)
	}
	_ = c
}

// A write that waits for the socket to send, behind a server that stopped
// reading, is bounded by the write timeout, as a blocked TCP write is
// natively: ErrWriteTimeout, and the client reconnects.
func TestBrowserWriteTimeoutWhenTheServerStopsReading(t *testing.T) {
	const limit, size = 64 << 10, 16 << 10
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff(), WithQueue(1024, limit, OverflowDropOldest), WithWriteTimeout(300*time.Millisecond))
	start(t, c)
	r.waitKind("open", 1, bwait)
	srv.do("stopreading")
	msg := strings.Repeat("x", size)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for len(r.of("close")) == 0 {
		if err := c.SendText(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		<-tick.C // lets the supervisor write, and the watchdog fire
	}
	if e := r.waitKind("close", 1, bwait).close; !errors.Is(e.Err, ErrWriteTimeout) || !e.Reconnect {
		t.Errorf("OnClose = %+v, want ErrWriteTimeout, reconnecting", e)
	}
	srv.do("resumereading")
	r.waitKind("open", 2, bwait)
}
