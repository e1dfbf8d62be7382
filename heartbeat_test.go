//go:build !js

package resilientws

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestHeartbeatDetectsAHalfOpenPeer(t *testing.T) {
	srv := newServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	const interval, timeout = 30 * time.Millisecond, 30 * time.Millisecond
	c := r.startClient(p.URL("/"), fastBackoff(), WithHeartbeat(interval, timeout))
	r.waitKind("open", 1, wait)
	waitUntil(t, "a pong", wait, func() bool { return c.Stats().LastRTT > 0 })
	p.Blackhole()
	start := time.Now()
	e := r.wait("a heartbeat timeout", wait, func(e rec) bool { return e.kind == "error" && errors.Is(e.err, ErrHeartbeatTimeout) })
	detected := e.at.Sub(start)
	cl := r.waitKind("close", 1, wait).close
	if cl.Code != websocket.StatusAbnormalClosure || !cl.Reconnect || !errors.Is(cl.Err, ErrHeartbeatTimeout) {
		t.Fatalf("close event %+v", cl)
	}
	// The bound is interval + timeout; allow generous scheduling slack on a
	// shared machine, but far less than any TCP-level detection.
	if detected > 20*(interval+timeout) {
		t.Fatalf("half-open link detected after %s, bound %s", detected, interval+timeout)
	}
	t.Logf("half-open link detected after %s (interval %s + timeout %s)", detected, interval, timeout)
	p.Pass()
	r.waitKind("open", 2, wait)
}

// Writes that come and go while a ping waits must not excuse a late pong:
// a busy sender talking to a peer that stopped answering is still caught.
func TestHeartbeatBusySenderStillDetectsADeadPeer(t *testing.T) {
	srv := newServer(t)
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithHeartbeat(20*time.Millisecond, 40*time.Millisecond))
	r.waitKind("open", 1, wait)
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() { // a steady stream of small messages
		defer close(sent)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				c.SendText(context.Background(), strconv.Itoa(i))
			}
		}
	}()
	srv.StopPongs()
	r.wait("a heartbeat timeout", wait, func(e rec) bool { return e.kind == "error" && errors.Is(e.err, ErrHeartbeatTimeout) })
	close(stop)
	<-sent
}

func TestHeartbeatSlowHandlerIsNotADeadPeer(t *testing.T) {
	srv := newServer(t)
	const burst = 3 * maxPendingMessages
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		for i := range burst {
			if c.Write(ctx, websocket.MessageText, []byte(strconv.Itoa(i))) != nil {
				return
			}
		}
		c.Read(ctx) // hold the connection open; answers pings meanwhile
	})
	slowHandlerSurvives(t, srv.URL(), burst, WithHeartbeat(20*time.Millisecond, 100*time.Millisecond))
}

// slowHandlerSurvives receives burst messages from url through an OnMessage
// that takes a millisecond each (far past the backlog, so the reader stalls
// for about 500 ms, five heartbeat timeouts of 100 ms: short timeouts would
// also catch a loaded machine's scheduling delays) and checks that the
// heartbeat never took that for a dead peer: no error, one connection.
func slowHandlerSurvives(t *testing.T, url string, burst int, heartbeat Option) {
	t.Helper()
	var errs []error
	done := make(chan struct{})
	got := 0
	c, err := New(url, fastBackoff(), heartbeat,
		OnMessage(func(Message) {
			time.Sleep(time.Millisecond) // the slow handler under test, not synchronisation
			if got++; got == burst {
				close(done)
			}
		}),
		OnError(func(err error) { errs = append(errs, err) }))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("burst not delivered")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 0 || c.Stats().Connects != 1 {
		t.Fatalf("a slow handler was taken for a dead peer: errors %v, connects %d", errs, c.Stats().Connects)
	}
}

// A peer that answers only the latest of several pending pings (RFC 6455
// §5.5.3), promptly, is alive, while a busy sender's confirmation pings and
// the heartbeat's overlap: one connection, no timeout, every message
// confirmed.
func TestHeartbeatPeerAnsweringOnlyTheLatestPingIsAlive(t *testing.T) {
	peer := newPingPeer(t, pongLatest, 20*time.Millisecond)
	r := newRecorder(t)
	c := r.startClient(peer.url, fastBackoff(), WithHeartbeat(100*time.Millisecond, 500*time.Millisecond))
	r.waitKind("open", 1, wait)
	sent := 0
	tick := time.NewTicker(7 * time.Millisecond)
	defer tick.Stop()
	for peer.pings.Load() < 40 { // a few heartbeat intervals, with confirmation pings in between
		<-tick.C
		if err := c.SendText(context.Background(), "m"); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	waitUntil(t, "the peer to read every message", wait, func() bool { return peer.messages.Load() == int64(sent) })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.of("open")); n != 1 {
		t.Fatalf("%d connections, want 1: %s", n, r.summary())
	}
	for _, e := range r.of("error") {
		t.Errorf("error: %v", e.err)
	}
	for _, d := range r.of("drop") {
		t.Errorf("drop %q: %v", d.msg.Data, d.err)
	}
}

// A peer that answers no ping but sends pongs of its own (a unidirectional
// heartbeat, RFC 6455 §5.5.3) is alive; its pongs confirm nothing, so what
// was written is confirmed by the answer to the close frame.
func TestHeartbeatUnsolicitedPongsProveThePeerAlive(t *testing.T) {
	peer := newPingPeer(t, pongUnsolicited, 10*time.Millisecond)
	r := newRecorder(t)
	c := r.startClient(peer.url, fastBackoff(), WithHeartbeat(20*time.Millisecond, 60*time.Millisecond))
	r.waitKind("open", 1, wait)
	for _, s := range []string{"a", "b", "c"} {
		if err := c.SendText(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "ten unanswered heartbeat pings", wait, func() bool { return peer.pings.Load() >= 10 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.of("open")); n != 1 {
		t.Fatalf("%d connections, want 1: %s", n, r.summary())
	}
	for _, e := range r.of("error") {
		t.Errorf("error: %v", e.err)
	}
	for _, d := range r.of("drop") {
		t.Errorf("drop %q: %v", d.msg.Data, d.err)
	}
	if peer.messages.Load() != 3 {
		t.Fatalf("peer read %d messages, want 3", peer.messages.Load())
	}
}

// Without pongs of any kind, the heartbeat still declares the peer dead.
func TestHeartbeatNoPongAtAllIsATimeout(t *testing.T) {
	peer := newPingPeer(t, pongUnsolicited, time.Hour)
	r := newRecorder(t)
	r.startClient(peer.url, fastBackoff(), WithHeartbeat(20*time.Millisecond, 60*time.Millisecond))
	e := r.waitKind("close", 1, wait)
	if !errors.Is(e.close.Err, ErrHeartbeatTimeout) {
		t.Fatalf("close: %v, want ErrHeartbeatTimeout", e.close.Err)
	}
}

// A user's OnPongReceived still sees every pong.
func TestHeartbeatKeepsTheUsersOnPongReceived(t *testing.T) {
	srv := newServer(t)
	var pongs atomic.Int64
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(), WithHeartbeat(10*time.Millisecond, time.Second),
		WithDialOptions(&websocket.DialOptions{OnPongReceived: func(context.Context, []byte) { pongs.Add(1) }}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the user's OnPongReceived to see pongs", wait, func() bool { return pongs.Load() >= 3 })
}

// Pongs of the peer's own confirm nothing: when the unconfirmed log is full
// and two confirmation pings in a row go unanswered, the connection is
// replaced rather than left stalled, and what it could not confirm is
// reported.
func TestHeartbeatUnsolicitedPongsDoNotConfirmAFullLog(t *testing.T) {
	peer := newPingPeer(t, pongUnsolicited, 5*time.Millisecond)
	r := newRecorder(t)
	c := r.startClient(peer.url, fastBackoff(), WithHeartbeat(time.Hour, 30*time.Millisecond), WithQueue(2, 1<<20, OverflowReject))
	r.waitKind("open", 1, wait)
	for _, s := range []string{"a", "b"} {
		if err := c.SendText(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	e := r.waitKind("close", 1, wait)
	if !errors.Is(e.close.Err, ErrHeartbeatTimeout) {
		t.Fatalf("close: %v, want ErrHeartbeatTimeout", e.close.Err)
	}
	for _, d := range r.of("drop") {
		if !errors.Is(d.err, ErrUnconfirmed) {
			t.Fatalf("drop %q: %v, want ErrUnconfirmed", d.msg.Data, d.err)
		}
	}
}

// appPingServer answers {"request":"ping"} with {"response":"pong"} while
// answering is on, and echoes everything else.
func appPingServer(t *testing.T, answering *atomic.Bool) *resilientwstest.Server {
	srv := newServer(t)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if string(data) == `{"request":"ping"}` {
				if answering.Load() {
					c.Write(ctx, websocket.MessageText, []byte(`{"response":"pong"}`))
				}
				continue
			}
			c.Write(ctx, typ, data)
		}
	})
	return srv
}

func isAppPong(m Message) bool { return string(m.Data) == `{"response":"pong"}` }

var appPing = Message{Type: Text, Data: []byte(`{"request":"ping"}`)}

func TestHeartbeatAppFiltersPongsAndDetectsSilence(t *testing.T) {
	var answering atomic.Bool
	answering.Store(true)
	srv := appPingServer(t, &answering)
	r := newRecorder(t)
	const interval, timeout = 20 * time.Millisecond, 40 * time.Millisecond
	c := r.startClient(srv.URL(), fastBackoff(), WithAppHeartbeat(interval, timeout, appPing, isAppPong))
	r.waitKind("open", 1, wait)
	waitUntil(t, "an app pong", wait, func() bool { return c.Stats().LastRTT > 0 })
	c.SendText(context.Background(), "data")
	r.waitMessages(1, wait)
	for _, m := range r.of("message") {
		if isAppPong(m.msg) {
			t.Fatal("an app pong reached OnMessage")
		}
	}
	answering.Store(false)
	start := time.Now()
	e := r.wait("a heartbeat timeout", wait, func(e rec) bool { return e.kind == "error" && errors.Is(e.err, ErrHeartbeatTimeout) })
	if d := e.at.Sub(start); d > 20*(interval+timeout) {
		t.Fatalf("silence detected after %s, bound %s", d, interval+timeout)
	}
	if cl := r.waitKind("close", 1, wait).close; cl.Code != websocket.StatusAbnormalClosure || !cl.Reconnect {
		t.Fatalf("close event %+v", cl)
	}
	answering.Store(true)
	r.waitKind("open", 2, wait)
}

func TestHeartbeatAppSlowHandlerIsNotADeadPeer(t *testing.T) {
	var answering atomic.Bool
	answering.Store(true)
	srv := appPingServer(t, &answering)
	const burst = 3 * maxPendingMessages
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		go func() {
			for i := range burst {
				if c.Write(ctx, websocket.MessageText, []byte(strconv.Itoa(i))) != nil {
					return
				}
			}
		}()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if string(data) == `{"request":"ping"}` {
				c.Write(ctx, websocket.MessageText, []byte(`{"response":"pong"}`))
			}
		}
	})
	slowHandlerSurvives(t, srv.URL(), burst, WithAppHeartbeat(20*time.Millisecond, 100*time.Millisecond, appPing, isAppPong))
}

func TestHeartbeatAnyMessageAsPong(t *testing.T) {
	srv := newServer(t)
	p := newFaultProxy(t, srv.Addr())
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		// A busy feed that never answers the app ping.
		for i := 0; ; i++ {
			if c.Write(ctx, websocket.MessageText, []byte(strconv.Itoa(i))) != nil {
				return
			}
			t := time.NewTimer(2 * time.Millisecond) // the feed's pace, not synchronisation
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	})
	r := newRecorder(t)
	c := r.newClient(p.URL("/"), fastBackoff(), WithAnyMessageAsPong(),
		WithAppHeartbeat(10*time.Millisecond, 20*time.Millisecond, appPing, isAppPong))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitMessages(100, wait)
	if errs := r.of("error"); len(errs) != 0 {
		t.Fatalf("a busy feed was taken for a dead one: %v", errs)
	}
	p.Blackhole() // now the feed goes silent too
	r.wait("a heartbeat timeout", wait, func(e rec) bool { return e.kind == "error" && errors.Is(e.err, ErrHeartbeatTimeout) })
	p.Pass()
}
