package resilientws

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Close must drain a healthy connection even when delivery confirmation is
// what holds the queue back: the drain's pings must not run on the stop
// signal Shutdown has just cancelled.
func TestCloseDrainsWhileWaitingForConfirmation(t *testing.T) {
	srv := newServer(t)
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

func TestCloseFromTheDialHookAndThePolicy(t *testing.T) {
	srv := newServer(t)
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

func TestOpenEventSendWithADoneCtxLeavesTheConnectionAlone(t *testing.T) {
	srv := newServer(t)
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
	if got := serverText(waitReceived(t, srv, 1)); !equal(got, []string{"after"}) || c.Stats().Connects != 1 {
		t.Fatalf("server got %v, connects %d", got, c.Stats().Connects)
	}
}

// The event goroutine exits when idle and a new one takes over at the next
// event, still recognised as the event goroutine.
func TestEventGoroutineIsStartedOnDemand(t *testing.T) {
	srv := newServer(t)
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
