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

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestEchoRoundTrip(t *testing.T) {
	srv := newServer(t)
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

func TestStartTwiceAndAfterClose(t *testing.T) {
	srv := newServer(t)
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

func TestUnauthorizedStopsWithHandshakeError(t *testing.T) {
	srv := newServer(t)
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

func TestCallbackOrder(t *testing.T) {
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
	c := r.newClient(srv.URL(), fastBackoff())
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("message", 2, wait)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	want := "open(1) message(hello 1) close(1001,reconnect=true) reconnecting(1) open(2) message(hello 2) close(1000,reconnect=false)"
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

// TestABlockedHandlerDoesNotHoldUpTheReconnect blocks OnMessage with more
// messages pending than the backlog holds, then drops the connection: the
// client must notice, replace the connection while the handler is still
// blocked, and still deliver every message read from the first one.
func TestABlockedHandlerDoesNotHoldUpTheReconnect(t *testing.T) {
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
