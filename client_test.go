//go:build !js

package resilientws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait is the generous bound for events expected "soon": tests wait on
// events, never sleep, and this only limits how long a broken test hangs.
const wait = 10 * time.Second

// fastBackoff retries every few milliseconds.
func fastBackoff() Option {
	return WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(5 * time.Millisecond) })
}

func serverText(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Data)
	}
	return out
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEchoRoundTrip(t *testing.T) {
	srv := newTestServer(t)
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	open := r.waitKind("open", 1, wait)
	if open.open.Connection != 1 || open.state != StateOpen {
		t.Fatalf("open event %+v in state %s, want connection 1 in OPEN", open.open, open.state)
	}
	if err := c.SendText(context.Background(), "hello"); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), Binary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	got := r.waitMessages(2, wait)
	if got[0].msg.Type != Text || string(got[0].msg.Data) != "hello" || got[1].msg.Type != Binary || string(got[1].msg.Data) != "\x01\x02\x03" {
		t.Fatalf("echo = %+v", got)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if c.State() != StateClosed || c.Err() != nil {
		t.Fatalf("after Close: state %s, err %v", c.State(), c.Err())
	}
	closes := r.of("close")
	if len(closes) != 1 || closes[0].close.Code != websocket.StatusNormalClosure || closes[0].close.Reconnect || closes[0].close.Err != nil {
		t.Fatalf("close events %+v, want one 1000 without reconnect", closes)
	}
	st := c.Stats()
	if st.Connects != 1 || st.MessagesSent != 2 || st.MessagesReceived != 2 || st.BytesSent != 8 || st.BytesReceived != 8 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSendBeforeStartArrivesInOrder(t *testing.T) {
	srv := newTestServer(t)
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	for i := range 100 {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.BufferedAmount(); got != 190 {
		t.Fatalf("BufferedAmount before Start = %d, want 190", got)
	}
	if c.State() != StateConnecting {
		t.Fatalf("state before Start = %s", c.State())
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if c.BufferedAmount() != 0 {
		t.Fatalf("BufferedAmount after Flush = %d", c.BufferedAmount())
	}
	got := serverText(srv.WaitReceived(100, wait))
	if !equal(got, numbered(100)) {
		t.Fatalf("server received %v", got)
	}
}

func TestStartTwiceAndAfterClose(t *testing.T) {
	srv := newTestServer(t)
	c, err := New(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
	if err := c.SendText(context.Background(), "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
}

func TestOutageQueuesAndDeliversOnceInOrder(t *testing.T) {
	srv := newTestServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	c := r.newClient(p.URL("/"), fastBackoff(), WithHeartbeat(0, 0))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	for i := range 10 {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	srv.WaitReceived(10, wait)
	waitUntil(t, "the pong that confirms them", wait, func() bool { n, _, _ := c.unconfirmed.pending(); return n == 0 && c.unconfirmed.mark() > 0 })

	p.Refuse()   // new dials are refused...
	p.ResetAll() // ...and live connections drop
	r.waitKind("close", 1, wait)
	r.waitKind("error", 2, wait) // the lost connection, then at least one refused dial
	if c.State() != StateConnecting {
		t.Fatalf("state during the outage = %s", c.State())
	}
	for i := 10; i < 50; i++ {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if c.Stats().Queued != 40 {
		t.Fatalf("queued during the outage = %d, want 40", c.Stats().Queued)
	}
	if err := p.Recover(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 2, wait)
	got := serverText(srv.WaitReceived(50, wait))
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !equal(got, numbered(50)) {
		t.Fatalf("server received %v, want 0..49 once each, in order", got)
	}
	if st := c.Stats(); st.Connects != 2 || st.Reconnects != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	cl := r.of("close")[0].close
	if !cl.Reconnect || cl.Code != websocket.StatusAbnormalClosure || cl.Err == nil {
		t.Fatalf("close event %+v, want 1006 with reconnect", cl)
	}
}

func TestHalfOpenPeerDetectedByHeartbeat(t *testing.T) {
	srv := newTestServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	const interval, timeout = 30 * time.Millisecond, 30 * time.Millisecond
	c := r.newClient(p.URL("/"), fastBackoff(), WithHeartbeat(interval, timeout))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
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

func TestSlowHandlerIsNotADeadPeer(t *testing.T) {
	srv := newTestServer(t)
	const burst = 3 * maxPendingMessages
	srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
		for i := range burst {
			if c.Write(ctx, websocket.MessageText, []byte(strconv.Itoa(i))) != nil {
				return
			}
		}
		c.Read(ctx) // hold the connection open; answers pings meanwhile
	})
	slowHandlerSurvives(t, srv.URL(), burst, WithHeartbeat(10*time.Millisecond, 20*time.Millisecond))
}

// slowHandlerSurvives receives burst messages from url through an OnMessage
// that takes a millisecond each (far past the backlog, so the reader stalls
// for many heartbeat timeouts) and checks that the heartbeat never took that
// for a dead peer: no error, one connection.
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

func TestUnauthorizedStopsWithHandshakeError(t *testing.T) {
	srv := newTestServer(t)
	srv.Refuse(http.StatusUnauthorized, "")
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	if err := c.SendText(context.Background(), "queued"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("client did not stop after 401")
	}
	var he *HandshakeError
	if !errors.As(c.Err(), &he) || he.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Err() = %v, want *HandshakeError 401", c.Err())
	}
	if c.State() != StateClosed {
		t.Fatalf("state = %s", c.State())
	}
	errs := r.of("error")
	if len(errs) != 1 || !errors.As(errs[0].err, &he) {
		t.Fatalf("OnError got %v", errs)
	}
	drops := r.of("drop")
	if len(drops) != 1 || !errors.Is(drops[0].err, ErrClosed) || !errors.As(drops[0].err, &he) {
		t.Fatalf("OnDrop got %v", drops)
	}
	if err := c.Run(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("Run after stop = %v", err)
	}
}

func TestRetryAfterSetsTheLeastWait(t *testing.T) {
	srv := newTestServer(t)
	srv.Refuse(http.StatusServiceUnavailable, "1")
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	e := r.waitKind("error", 1, wait)
	var he *HandshakeError
	if !errors.As(e.err, &he) || he.StatusCode != 503 || he.RetryAfter != time.Second {
		t.Fatalf("error %v, want 503 with RetryAfter 1s", e.err)
	}
	srv.Refuse(0, "")
	rc := r.waitKind("reconnecting", 1, wait)
	if rc.rec.Delay != time.Second || rc.rec.DelaySource != DelayRetryAfter || rc.rec.Attempt != 1 || rc.at.Sub(e.at) < 900*time.Millisecond {
		t.Fatalf("reconnecting %+v after %s, want a 1s wait", rc.rec, rc.at.Sub(e.at))
	}
	r.waitKind("open", 1, wait)
}

func TestServerCloseCodes(t *testing.T) {
	cases := []struct {
		code      websocket.StatusCode
		reconnect bool
	}{
		{websocket.StatusNormalClosure, true},
		{websocket.StatusGoingAway, true},
		{websocket.StatusInternalError, true},
		{websocket.StatusServiceRestart, true},
		{4000, true},
		{4999, true},
		{websocket.StatusProtocolError, false},
		{websocket.StatusUnsupportedData, false},
		{websocket.StatusInvalidFramePayloadData, false},
		{websocket.StatusPolicyViolation, false},
		{websocket.StatusMessageTooBig, false},
		{websocket.StatusMandatoryExtension, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(int(tc.code)), func(t *testing.T) {
			srv := newTestServer(t)
			srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
				if n == 1 {
					c.Close(tc.code, "bye")
					return
				}
				srv.echo(ctx, c)
			})
			r := newRecorder(t)
			c := r.newClient(srv.URL(), fastBackoff())
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			cl := r.waitKind("close", 1, wait).close
			if cl.Code != tc.code || cl.Reason != "bye" || cl.Reconnect != tc.reconnect {
				t.Fatalf("close event %+v, want code %d reconnect %v", cl, tc.code, tc.reconnect)
			}
			if len(r.of("error")) != 0 {
				t.Fatalf("a clean close frame was reported through OnError: %v", r.of("error"))
			}
			if tc.reconnect {
				r.waitKind("open", 2, wait)
				return
			}
			<-c.Done()
			if websocket.CloseStatus(c.Err()) != tc.code {
				t.Fatalf("Err() = %v, want close status %d", c.Err(), tc.code)
			}
		})
	}
}

func TestCloseDuringReconnectWait(t *testing.T) {
	srv := newTestServer(t)
	srv.Refuse(http.StatusServiceUnavailable, "")
	r := newRecorder(t)
	c := r.newClient(srv.URL(), WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("error", 1, wait)
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %s during a backoff wait", d)
	}
	if c.Err() != nil || c.State() != StateClosed {
		t.Fatalf("after Close: err %v state %s", c.Err(), c.State())
	}
	if n := len(r.of("close")); n != 0 {
		t.Fatalf("%d OnClose for a client that never opened", n)
	}
}

func TestCallbackOrder(t *testing.T) {
	srv := newTestServer(t)
	srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
		c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf("hello %d", n)))
		if n == 1 {
			c.Close(websocket.StatusGoingAway, "restart")
			return
		}
		srv.echo(ctx, c)
	})
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("message", 2, wait)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	want := "open(1) message(hello 1) close(1001,reconnect=true) backoff(1) reconnecting(1) open(2) message(hello 2) close(1000,reconnect=false)"
	if got := r.summary(); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	states := map[string]State{}
	for _, e := range r.all() {
		states[e.String()] = e.state
	}
	// The state changes before the matching event is delivered; by the time
	// a callback runs, later changes may have happened too, so check only
	// those that nothing can follow here.
	if states["open(2)"] != StateOpen || states["close(1000,reconnect=false)"] != StateClosed {
		t.Fatalf("states seen inside callbacks: %v", states)
	}
}

func TestPanickingCallbackIsReported(t *testing.T) {
	srv := newTestServer(t)
	r := newRecorder(t)
	calls := 0
	c := r.newClient(srv.URL(), fastBackoff(), OnMessage(func(m Message) {
		calls++
		r.add(rec{kind: "message", msg: m})
		if calls == 1 {
			panic("boom")
		}
	}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	c.SendText(context.Background(), "a")
	c.SendText(context.Background(), "b")
	r.waitMessages(2, wait)
	var pe *PanicError
	e := r.waitKind("error", 1, wait)
	if !errors.As(e.err, &pe) || pe.Callback != "OnMessage" || pe.Value != "boom" {
		t.Fatalf("OnError got %v, want a PanicError naming boom", e.err)
	}
	if c.State() != StateOpen || c.Stats().Connects != 1 {
		t.Fatalf("client did not go on: state %s", c.State())
	}
}

// TestABlockedHandlerDoesNotHoldUpTheReconnect blocks OnMessage with more
// messages pending than the backlog holds, then drops the connection: the
// client must notice, replace the connection while the handler is still
// blocked, and still deliver every message read from the first one.
func TestABlockedHandlerDoesNotHoldUpTheReconnect(t *testing.T) {
	srv := newTestServer(t)
	const burst = maxPendingMessages + 10
	srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
		if n == 1 {
			for i := range burst {
				if c.Write(ctx, websocket.MessageText, []byte(strconv.Itoa(i))) != nil {
					return
				}
			}
		}
		c.Read(ctx) // hold the connection open until it is dropped
	})
	release := make(chan struct{})
	got := make(chan int, burst+1)
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(10*time.Millisecond, 50*time.Millisecond),
		OnMessage(func(m Message) {
			<-release
			n, _ := strconv.Atoi(string(m.Data))
			got <- n
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var once sync.Once
	releaseHandler := func() { once.Do(func() { close(release) }) }
	defer releaseHandler() // before Close, which waits for the handler
	waitUntil(t, "the reader to stall on the full backlog", wait, func() bool {
		cn := c.current.Load()
		return cn != nil && cn.stalls.Load()%2 == 1
	})
	srv.DropAll()
	waitUntil(t, "a second connection while OnMessage is blocked", wait, func() bool { return c.Stats().Connects == 2 })
	releaseHandler()
	// Every message read from the first connection is delivered, in order
	// (those still unread in its socket when it died are gone with it).
	read := int(c.Stats().MessagesReceived)
	if read <= maxPendingMessages {
		t.Fatalf("only %d messages read before the drop", read)
	}
	for want := range read {
		select {
		case n := <-got:
			if n != want {
				t.Fatalf("message %d delivered as %d", want, n)
			}
		case <-time.After(wait):
			t.Fatalf("only %d of the %d messages read were delivered", want, read)
		}
	}
}
