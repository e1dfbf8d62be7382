package resilientws

import (
	"context"
	"errors"
	"testing"
	"time"
)

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
