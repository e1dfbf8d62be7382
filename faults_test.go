//go:build !js

package resilientws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/resilientws/resilientws/resilientwstest"
	"go.uber.org/goleak"
)

func TestReadLimitOverflowReconnectsWith1009(t *testing.T) {
	srv := newTestServer(t)
	srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
		size := 100
		if n == 1 {
			size = 2000
		}
		c.Write(ctx, websocket.MessageBinary, make([]byte, size))
		c.Read(ctx)
	})
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(), WithReadLimit(1000))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	e := r.waitKind("error", 1, wait)
	if !errors.Is(e.err, websocket.ErrMessageTooBig) {
		t.Fatalf("OnError got %v, want ErrMessageTooBig", e.err)
	}
	cl := r.waitKind("close", 1, wait).close
	if cl.Code != websocket.StatusMessageTooBig || !cl.Reconnect {
		t.Fatalf("close event %+v, want 1009 with reconnect", cl)
	}
	if m := r.waitKind("message", 1, wait); len(m.msg.Data) != 100 {
		t.Fatalf("first message delivered has %d bytes, want the 100 of connection 2", len(m.msg.Data))
	}
}

func TestWriteTimeoutMarksTheConnectionDeadAndKeepsTheMessage(t *testing.T) {
	srv := newTestServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	c := r.newClient(p.URL("/"), fastBackoff(), WithHeartbeat(0, 0), WithWriteTimeout(2*time.Second),
		WithQueue(10, 32<<20, OverflowReject))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	p.Stall()
	big := bytes.Repeat([]byte("x"), 8<<20) // more than the socket buffers hold
	if err := c.Send(context.Background(), Binary, big); err != nil {
		t.Fatal(err)
	}
	e := r.wait("a write timeout", wait, func(e rec) bool { return e.kind == "error" && errors.Is(e.err, ErrWriteTimeout) })
	_ = e
	cl := r.waitKind("close", 1, wait).close
	if cl.Code != websocket.StatusAbnormalClosure || !cl.Reconnect || !errors.Is(cl.Err, ErrWriteTimeout) {
		t.Fatalf("close event %+v", cl)
	}
	p.Pass()
	r.waitKind("open", 2, wait)
	// The message stayed queued and is written whole on the new connection.
	srv.WaitFor("the big message", wait, func(s *testServer) bool {
		for _, m := range s.received {
			if len(m.Data) == len(big) {
				return true
			}
		}
		return false
	})
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestDialTimeoutOnASilentServer(t *testing.T) {
	srv := resilientwstest.NewServer()
	t.Cleanup(srv.Close)
	srv.Hang() // accepts TCP, reads the upgrade request, never answers
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(), WithDialTimeout(50*time.Millisecond))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	e := r.waitKind("error", 1, wait)
	if !errors.Is(e.err, context.DeadlineExceeded) {
		t.Fatalf("OnError got %v, want a deadline", e.err)
	}
	r.waitKind("reconnecting", 1, wait)
	// Close while a dial hangs returns promptly.
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %s during a dial", d)
	}
}

func TestCloseFromInsideCallbacks(t *testing.T) {
	for _, where := range []string{"OnOpen", "OnMessage"} {
		t.Run(where, func(t *testing.T) {
			srv := newTestServer(t)
			r := newRecorder(t)
			var closeErr, flushErr error
			returned := make(chan struct{})
			closeNow := func() {
				flushErr = r.client.Flush(context.Background())
				closeErr = r.client.Close()
				close(returned)
			}
			// These replace the recorder's own callback: record, then close.
			opt := OnOpen(func(e OpenEvent) { r.add(rec{kind: "open", open: e}); closeNow() })
			if where == "OnMessage" {
				opt = OnMessage(func(m Message) { r.add(rec{kind: "message", msg: m}); closeNow() })
			}
			c := r.newClient(srv.URL(), fastBackoff(), opt)
			c.SendText(context.Background(), "hi")
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.Done():
			case <-time.After(wait):
				t.Fatal("client did not stop after Close from a callback")
			}
			<-returned
			if !errors.Is(flushErr, ErrInCallback) {
				t.Fatalf("Flush in a callback = %v, want ErrInCallback", flushErr)
			}
			if closeErr != nil && !errors.Is(closeErr, ErrClosed) {
				t.Fatalf("Close in a callback = %v", closeErr)
			}
			if cl := r.of("close"); len(cl) != 1 || cl[0].close.Reconnect {
				t.Fatalf("close events %v", cl)
			}
		})
	}
}

func TestConcurrentCloseAndSend(t *testing.T) {
	srv := newTestServer(t)
	c, err := New(srv.URL(), fastBackoff())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := c.SendText(context.Background(), "x"); err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("Send: %v", err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			if err := c.Close(); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("Close: %v", err)
			}
		}()
	}
	wg.Wait()
	if c.State() != StateClosed {
		t.Fatalf("state %s", c.State())
	}
}

func TestRunReturnsNilWhenCtxIsCancelled(t *testing.T) {
	srv := newTestServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := New(srv.URL(), fastBackoff(), OnOpen(func(OpenEvent) { cancel() }))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if c.State() != StateClosed || c.Err() != nil {
		t.Fatalf("after Run: %s %v", c.State(), c.Err())
	}
}

func TestNoGoroutineOutlivesClose(t *testing.T) {
	srv := newTestServer(t)
	p := newFaultProxy(t, srv.Addr())
	ignore := goleak.IgnoreCurrent()
	r := newRecorder(t)
	c := r.newClient(p.URL("/"), fastBackoff(), WithHeartbeat(5*time.Millisecond, 50*time.Millisecond))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	c.SendText(context.Background(), "x")
	r.waitKind("message", 1, wait)
	p.ResetAll()
	r.waitKind("open", 2, wait)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	p.Close()
	srv.Close()
	goleak.VerifyNone(t, ignore)
}

func TestServerPingsAnsweredWhileIdle(t *testing.T) {
	srv := newTestServer(t)
	pinged := make(chan error, 1)
	srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
		ctx = c.CloseRead(ctx) // the server reads control frames only
		var err error
		for range 5 {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = c.Ping(pctx)
			cancel()
			if err != nil {
				break
			}
		}
		pinged <- err
		<-ctx.Done()
	})
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := <-pinged; err != nil {
		t.Fatalf("server ping while the client is idle: %v", err)
	}
}

func TestUnconfirmedMessagesAreReportedWhenTheLinkDies(t *testing.T) {
	srv := newTestServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	c := r.newClient(p.URL("/"), fastBackoff(), WithHeartbeat(20*time.Millisecond, 50*time.Millisecond))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	c.SendText(context.Background(), "confirmed")
	srv.WaitReceived(1, wait)
	waitUntil(t, "the pong that confirms it", wait, func() bool { n, _, _ := c.unconfirmed.pending(); return n == 0 && c.unconfirmed.mark() > 0 })
	p.Blackhole() // written from now on, the bytes vanish
	for i := range 5 {
		c.SendText(context.Background(), "lost "+strconv.Itoa(i))
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v (the messages were written)", err)
	}
	r.waitKind("close", 1, wait)
	var lost []string
	for _, d := range r.of("drop") {
		if !errors.Is(d.err, ErrUnconfirmed) {
			t.Fatalf("drop %v, want ErrUnconfirmed", d)
		}
		lost = append(lost, string(d.msg.Data))
	}
	if fmt.Sprint(lost) != "[lost 0 lost 1 lost 2 lost 3 lost 4]" {
		t.Fatalf("reported %v", lost)
	}
	if got := serverText(srv.Received()); !equal(got, []string{"confirmed"}) {
		t.Fatalf("server got %v", got)
	}
	if st := c.Stats(); st.DroppedUnconfirmed != 5 {
		t.Fatalf("stats %+v", st)
	}
	p.Pass()
}

func TestCleanCloseConfirmsEverything(t *testing.T) {
	srv := newTestServer(t)
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	for i := range 100 {
		c.SendText(context.Background(), strconv.Itoa(i))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if drops := r.of("drop"); len(drops) != 0 {
		t.Fatalf("drops after a clean close: %v", drops)
	}
	if got := serverText(srv.Received()); !equal(got, numbered(100)) {
		t.Fatalf("server got %d messages", len(got))
	}
}

func TestUnconfirmedLogBoundsWhatIsInFlight(t *testing.T) {
	srv := newTestServer(t)
	srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
		for { // reads and records, but strips pings from view: coder answers them only while reading
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			srv.record(Message{Type: Text, Data: data})
		}
	})
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(0, 0), WithQueue(8, 1<<20, OverflowBlock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := c.unconfirmed.pending(); n > 8 {
			t.Fatalf("%d unconfirmed messages, limit 8", n)
		}
	}
	if got := serverText(srv.WaitReceived(200, wait)); !equal(got, numbered(200)) {
		t.Fatalf("server got %v", got)
	}
}

func TestALostConfirmationPingDoesNotStallTheQueue(t *testing.T) {
	srv := resilientwstest.NewServer()
	defer srv.Close()
	// A long interval keeps the heartbeat out of the way; its timeout bounds
	// each confirmation ping.
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(time.Hour, 100*time.Millisecond), WithQueue(4, 1<<20, OverflowBlock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "OPEN", wait, func() bool { return c.State() == StateOpen })
	srv.StopPongs() // the next ping goes unanswered
	c.SendText(context.Background(), "1")
	waitUntil(t, "a confirmation ping out", wait, func() bool { return c.unconfirmed.mark() == 1 })
	srv.ResumePongs()
	for range 7 { // the log (4 messages) fills, and writing pauses until a pong
		if err := c.SendText(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v: the queue stalled on a healthy connection", err)
	}
	waitUntil(t, "everything confirmed", wait, func() bool { n, _, _ := c.unconfirmed.pending(); return n == 0 })
	if c.Stats().Connects != 1 {
		t.Fatal("the connection was replaced")
	}
}
