//go:build !js

package resilientws

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/resilientws/resilientws/resilientwstest"
)

// Regression tests for defects found in review.

// Close must drain a healthy connection even when delivery confirmation is
// what holds the queue back: the drain's pings must not run on the stop
// signal Shutdown has just cancelled.
func TestCloseDrainsWhileWaitingForConfirmation(t *testing.T) {
	srv := resilientwstest.NewServer()
	defer srv.Close()
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(0, 0), WithQueue(4, 1<<20, OverflowReject))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "OPEN", wait, func() bool { return c.State() == StateOpen })
	srv.StopReading() // the log fills and writing pauses
	for i := range 8 {
		for c.SendText(context.Background(), strconv.Itoa(i)) != nil { // queue full: wait for a write
			waitUntil(t, "room", wait, func() bool { return c.Stats().Queued < 4 })
		}
	}
	waitUntil(t, "a full unconfirmed log", wait, func() bool { _, _, full := c.unconfirmed.pending(); return full })
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	waitUntil(t, "CLOSING", wait, func() bool { return c.State() == StateClosing })
	srv.ResumeReading()
	if err := <-done; err != nil {
		t.Fatalf("Close = %v: a healthy connection was not drained", err)
	}
	if got := len(srv.Messages()); got != 8 {
		t.Fatalf("server got %d of 8", got)
	}
}

func TestBlockingSendFromACallbackFailsFast(t *testing.T) {
	srv := newTestServer(t)
	res := make(chan error, 1)
	var c *Client
	c, err := New(srv.URL(), fastBackoff(), WithQueue(1, 1<<20, OverflowBlock),
		OnOpen(func(OpenEvent) {
			// The queue drains only after OnOpen returns: waiting here would
			// never end.
			c.SendText(context.Background(), "a")
			res <- c.SendText(context.Background(), "b")
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Start()
	select {
	case err := <-res:
		if !errors.Is(err, ErrQueueFull) || !errors.Is(err, ErrInCallback) {
			t.Fatalf("Send = %v, want ErrQueueFull and ErrInCallback", err)
		}
	case <-time.After(wait):
		t.Fatal("Send blocked inside a callback")
	}
}

func TestCloseFromTheDialHookAndThePolicy(t *testing.T) {
	srv := newTestServer(t)
	srv.Refuse(http.StatusUnauthorized, "")
	var c1, c2 *Client
	c1, _ = New(srv.URL(), fastBackoff(), WithDialHook(func(context.Context, int) (string, http.Header, error) {
		c1.Close()
		return "", nil, nil
	}))
	c2, _ = New(srv.URL(), fastBackoff(), WithReconnectPolicy(func(error) bool {
		c2.Close()
		return true
	}))
	for _, c := range []*Client{c1, c2} {
		c.Start()
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Fatal("Close from the supervisor's own callbacks deadlocked")
		}
		if c.Err() != nil || c.State() != StateClosed {
			t.Fatalf("after Close: %v %s", c.Err(), c.State())
		}
	}
}

type panickyBackoff struct{}

func (panickyBackoff) NextBackOff() time.Duration { panic("backoff boom") }
func (panickyBackoff) Reset()                     {}

func TestPanickingPolicyAndBackoffAreReported(t *testing.T) {
	srv := newTestServer(t)
	srv.Refuse(http.StatusServiceUnavailable, "")
	r := newRecorder(t)
	c := r.newClient(srv.URL(),
		WithReconnectPolicy(func(error) bool { panic("policy boom") }),
		WithBackoff(func() backoff.BackOff { return panickyBackoff{} }))
	c.Start()
	var pe *PanicError
	r.wait("the policy's panic", wait, func(e rec) bool { return errors.As(e.err, &pe) && pe.Callback == "WithReconnectPolicy" })
	r.wait("the backoff's panic", wait, func(e rec) bool { return errors.As(e.err, &pe) && pe.Callback == "WithBackoff" })
	if c.State() != StateConnecting {
		t.Fatalf("state %s: the client should go on", c.State())
	}
	c.Close()
}

func TestWithoutQueueAfterCloseIsErrClosed(t *testing.T) {
	c, _ := New("ws://127.0.0.1:1/")
	c.Close()
	if err := c.SendText(context.Background(), "x", WithoutQueue()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send = %v, want ErrClosed", err)
	}
}

func TestOpenEventSendWithADoneCtxLeavesTheConnectionAlone(t *testing.T) {
	srv := newTestServer(t)
	res := make(chan error, 1)
	c, err := New(srv.URL(), fastBackoff(), OnOpen(func(e OpenEvent) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res <- e.Send(ctx, Text, []byte("late"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Start()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenEvent.Send = %v", err)
	}
	c.SendText(context.Background(), "after")
	if got := serverText(srv.WaitReceived(1, wait)); !equal(got, []string{"after"}) || c.Stats().Connects != 1 {
		t.Fatalf("server got %v, connects %d", got, c.Stats().Connects)
	}
}

func TestNoPongsWithTheHeartbeatOffReplacesTheConnection(t *testing.T) {
	srv := resilientwstest.NewServer()
	defer srv.Close()
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(0, 0), WithQueue(2, 1<<20, OverflowBlock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Start()
	waitUntil(t, "OPEN", wait, func() bool { return c.State() == StateOpen })
	srv.StopPongs()
	// With no pong, the log (2 messages) fills; after confirmTimeout the
	// connection is replaced instead of stalling for good.
	for i := range 3 {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if testing.Short() {
		t.Skip("waits confirmTimeout (5 s)")
	}
	waitUntil(t, "a second connection", 2*confirmTimeout, func() bool { return c.Stats().Connects >= 2 })
}

// Writes that come and go while a ping waits must not excuse a late pong:
// a busy sender talking to a peer that stopped answering is still caught.
func TestBusySenderStillDetectsADeadPeer(t *testing.T) {
	srv := resilientwstest.NewServer()
	defer srv.Close()
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(), WithHeartbeat(20*time.Millisecond, 40*time.Millisecond))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
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

// The event goroutine exits when idle and a new one takes over at the next
// event, still recognised as the event goroutine.
func TestEventGoroutineIsStartedOnDemand(t *testing.T) {
	srv := newTestServer(t)
	flushErr := make(chan error, 1)
	c, err := New(srv.URL(), fastBackoff(), OnMessage(func(Message) { flushErr <- nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Start()
	waitUntil(t, "OPEN", wait, func() bool { return c.State() == StateOpen })
	idle := func() bool { c.disp.mu.Lock(); defer c.disp.mu.Unlock(); return !c.disp.running }
	waitUntil(t, "the idle event goroutine to exit", wait, idle)
	var c2 *Client
	c2, _ = New(srv.URL(), fastBackoff(), OnMessage(func(Message) { flushErr <- c2.Flush(context.Background()) }))
	defer c2.Close()
	c2.Start()
	waitUntil(t, "OPEN", wait, func() bool { return c2.State() == StateOpen })
	waitUntil(t, "the idle event goroutine to exit", wait, func() bool { c2.disp.mu.Lock(); defer c2.disp.mu.Unlock(); return !c2.disp.running })
	c2.SendText(context.Background(), "wake up")
	select {
	case err := <-flushErr:
		if !errors.Is(err, ErrInCallback) {
			t.Fatalf("Flush in a callback of a restarted event goroutine = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("no callback after the event goroutine restarted")
	}
}
