//go:build !js

package resilientws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestEventsCallbackOrder(t *testing.T) {
	srv := newServer(t)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf("hello %d", c.Number())))
		if c.Number() == 1 {
			c.Close(websocket.StatusGoingAway, "restart")
			return
		}
		c.Echo(ctx)
	})
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff())
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

func TestEventsPanickingCallbackIsReported(t *testing.T) {
	srv := newServer(t)
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

// The event goroutine exits when idle and a new one takes over at the next
// event, still recognised as the event goroutine.
func TestEventsGoroutineIsStartedOnDemand(t *testing.T) {
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

// TestEventsBlockedHandlerDoesNotHoldUpTheReconnect blocks OnMessage with more
// messages pending than the backlog holds, then drops the connection: the
// client must notice, replace the connection while the handler is still
// blocked, and still deliver every message read from the first one.
func TestEventsBlockedHandlerDoesNotHoldUpTheReconnect(t *testing.T) {
	srv := newServer(t)
	const burst = maxPendingMessages + 10
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		if c.Number() == 1 {
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

// TestEventsReceiveBacklogIsBounded blocks OnMessage and lets the server write
// far more than the backlog holds: the reader must stop reading at the
// message limit (and, with large messages, at the byte limit) instead of
// buffering without bound.
func TestEventsReceiveBacklogIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		max  int // most messages read: the backlog, plus the one the handler holds, plus the one the reader waits with
	}{
		{"messages", 10, maxPendingMessages + 2},
		{"bytes", 256 << 10, maxPendingBytes/(256<<10) + 2}, // 16 messages fill the 4 MiB first
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			var written atomic.Int64
			srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
				msg := make([]byte, tc.size)
				for {
					if c.Write(ctx, websocket.MessageBinary, msg) != nil {
						return
					}
					written.Add(1)
				}
			})
			release := make(chan struct{})
			c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(0, 0),
				OnMessage(func(Message) { <-release }))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			defer c.Close()
			defer once.Do(func() { close(release) })
			waitUntil(t, "the reader to stall", wait, func() bool {
				cn := c.current.Load()
				return cn != nil && cn.stalls.Load()%2 == 1
			})
			// More than the limit is on its way, in the socket buffers;
			// the client has read no more than the limit.
			waitUntil(t, "the server to write past the limit", wait, func() bool { return written.Load() > int64(tc.max) })
			if got := c.Stats().MessagesReceived; got > uint64(tc.max) {
				t.Fatalf("read %d messages with OnMessage blocked, want at most %d", got, tc.max)
			}
			before := c.Stats().MessagesReceived
			t.Logf("%s: %d messages read, server wrote %d", tc.name, before, written.Load())
		})
	}
}

func TestEventsOpenEventSendGoesAheadOfTheQueue(t *testing.T) {
	srv := newServer(t)
	var sendErr error
	c, err := New(srv.URL(), fastBackoff(), OnOpen(func(e OpenEvent) {
		sendErr = e.Send(context.Background(), Text, []byte("auth "+strconv.Itoa(e.Connection)))
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SendText(context.Background(), "queued 1")
	c.SendText(context.Background(), "queued 2")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	got := serverText(waitReceived(t, srv, 3))
	if want := []string{"auth 1", "queued 1", "queued 2"}; !equal(got, want) {
		t.Fatalf("server got %v, want %v", got, want)
	}
	if err := c.Close(); err != nil || sendErr != nil {
		t.Fatalf("Close %v, OpenEvent.Send %v", err, sendErr)
	}
}

func TestEventsOpenEventSendWithADoneCtxLeavesTheConnectionAlone(t *testing.T) {
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

type tick struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
}

func TestEventsOnJSON(t *testing.T) {
	srv := newServer(t)
	var got []tick
	var errs []error
	done := make(chan struct{})
	c, err := New(srv.URL(), fastBackoff(),
		OnJSON(func(v tick) {
			if got = append(got, v); len(got) == 2 {
				close(done)
			}
		}),
		OnError(func(err error) { errs = append(errs, err) }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	c.SendJSON(context.Background(), tick{"ABC", 1.5})
	c.SendText(context.Background(), "not json")
	c.SendJSON(context.Background(), tick{"XYZ", 2})
	if err := c.SendJSON(context.Background(), func() {}); err == nil {
		t.Fatal("SendJSON encoded a func")
	}
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("JSON messages not delivered")
	}
	c.Close()
	var de *DecodeError
	if len(errs) != 1 || !errors.As(errs[0], &de) || string(de.Message.Data) != "not json" {
		t.Fatalf("errors %v, want one DecodeError", errs)
	}
	var syn *json.SyntaxError
	if !errors.As(errs[0], &syn) {
		t.Fatalf("DecodeError does not unwrap to the json error: %v", errs[0])
	}
	if got[0] != (tick{"ABC", 1.5}) || got[1] != (tick{"XYZ", 2}) || c.Stats().Connects != 1 {
		t.Fatalf("got %v, connects %d", got, c.Stats().Connects)
	}
}
