//go:build !js

package resilientws

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/resilientws/resilientws/resilientwstest"
)

// openWithCloseSeen starts a server that reports how each connection ended
// (closeSeen) and a recorded client on it, and waits for the client's first
// OPEN.
func openWithCloseSeen(t *testing.T) (*resilientwstest.Server, <-chan websocket.CloseError, *recorder, *Client) {
	t.Helper()
	srv := newServer(t)
	seen := closeSeen(srv)
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff())
	r.waitKind("open", 1, wait)
	return srv, seen, r, c
}

// closeSeen makes srv echo on every connection, recording what it reads,
// and report how each connection ended: the close frame it got, or Code -1
// when none came.
func closeSeen(srv *resilientwstest.Server) <-chan websocket.CloseError {
	seen := make(chan websocket.CloseError, 16)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				var ce websocket.CloseError
				if !errors.As(err, &ce) {
					ce.Code = -1
				}
				seen <- ce
				return
			}
			if err := c.Write(ctx, typ, data); err != nil {
				seen <- websocket.CloseError{Code: -1}
				return
			}
		}
	})
	return seen
}

// awaitClose returns the next close the server saw.
func awaitClose(t *testing.T, seen <-chan websocket.CloseError) websocket.CloseError {
	t.Helper()
	select {
	case ce := <-seen:
		return ce
	case <-time.After(wait):
		t.Fatal("the server's connection did not end")
		return websocket.CloseError{}
	}
}

// awaitDone waits for the client to stop.
func awaitDone(t *testing.T, c *Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("the client did not stop")
	}
}

// checkFinalClose checks that the only close event is a final one with code
// and reason and no error.
func checkFinalClose(t *testing.T, r *recorder, code websocket.StatusCode, reason string) {
	t.Helper()
	cl := r.of("close")
	if len(cl) != 1 {
		t.Fatalf("close events %v, want one", cl)
	}
	if e := cl[0].close; e.Code != code || e.Reason != reason || e.Err != nil || e.Reconnect {
		t.Fatalf("OnClose got %+v, want code %d, reason %q, no error, no reconnect", e, code, reason)
	}
}

func TestCloseDuringReconnectWait(t *testing.T) {
	srv := newServer(t)
	srv.Refuse(http.StatusServiceUnavailable, "")
	r := newRecorder(t)
	c := r.startClient(srv.URL(), WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }))
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

func TestCloseFromInsideCallbacks(t *testing.T) {
	for _, where := range []string{"OnOpen", "OnMessage"} {
		t.Run(where, func(t *testing.T) {
			srv := newServer(t)
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

func TestCloseConcurrentWithSend(t *testing.T) {
	srv := newServer(t)
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

func TestCloseLeavesNoGoroutineBehind(t *testing.T) {
	srv := newServer(t)
	p := newFaultProxy(t, srv.Addr())
	ignore := goleak.IgnoreCurrent()
	r := newRecorder(t)
	c := r.startClient(p.URL("/"), fastBackoff(), WithHeartbeat(5*time.Millisecond, 50*time.Millisecond))
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

// TestCloseEndsATCPDialThatHangs checks that Close ends a TCP dial stuck on
// a host that does not answer (net/http detaches dials from their request,
// so without the library's own link such a dial ran on for up to 30 s after
// Close).
func TestCloseEndsATCPDialThatHangs(t *testing.T) {
	started, ended := make(chan struct{}, 1), make(chan struct{})
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		started <- struct{}{}
		<-ctx.Done() // a SYN that nobody answers
		close(ended)
		return nil, ctx.Err()
	}}
	c, err := New("ws://192.0.2.1/", WithDialTimeout(time.Minute),
		WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("no dial")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(wait):
		t.Fatal("the TCP dial outlived Close")
	}
}

func TestCloseShutdownDrainsTheQueueThenCloses1000(t *testing.T) {
	srv := newServer(t)
	closed := make(chan websocket.StatusCode, 1)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		for {
			_, _, err := c.Read(ctx)
			if err != nil {
				closed <- websocket.CloseStatus(err)
				return
			}
		}
	})
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff())
	r.waitKind("open", 1, wait)
	for i := range 200 {
		c.SendText(context.Background(), strconv.Itoa(i))
	}
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := serverText(srv.Messages()); !equal(got, numbered(200)) {
		t.Fatalf("server got %d messages before the close", len(got))
	}
	if code := <-closed; code != websocket.StatusNormalClosure {
		t.Fatalf("server saw close %d, want 1000", code)
	}
}

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

func TestCloseOnAStalledLinkAbandonsAndReports(t *testing.T) {
	srv := newServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	c := r.startClient(p.URL("/"), fastBackoff(), WithHeartbeat(0, 0), WithQueue(10, 64<<20, OverflowReject))
	r.waitKind("open", 1, wait)
	p.Stall()
	big := make([]byte, 8<<20) // more than the socket buffers hold
	for range 3 {
		if err := c.Send(context.Background(), Binary, big); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Shutdown(ctx)
	took := time.Since(start)
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("Shutdown = %v, want abandoned messages", err)
	}
	if took > 5*time.Second {
		t.Fatalf("Shutdown took %s on a stalled link", took)
	}
	drops := r.of("drop")
	if len(drops) == 0 || !errors.Is(drops[0].err, ErrClosed) {
		t.Fatalf("drops %v", drops)
	}
	if cl := r.of("close"); len(cl) != 1 || cl[0].close.Reconnect {
		t.Fatalf("close events %v", cl)
	}
	t.Logf("Shutdown on a stalled link took %s, abandoned %d", took, len(drops))
}

func TestCloseWithSendsItsCodeAndReason(t *testing.T) {
	longest := strings.Repeat("é", 61) + "!" // 123 bytes
	for _, tc := range []struct {
		name   string
		code   websocket.StatusCode
		reason string
	}{
		{"1000 without a reason", websocket.StatusNormalClosure, ""},
		{"3000", 3000, "unauthorized"},
		{"4999 with the longest reason", 4999, longest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			seen := closeSeen(srv)
			r := newRecorder(t)
			c := r.newClient(srv.URL(), fastBackoff())
			for _, s := range []string{"a", "b", "c"} {
				if err := c.SendText(context.Background(), s); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			r.waitKind("open", 1, wait)
			if err := c.CloseWith(context.Background(), tc.code, tc.reason); err != nil {
				t.Fatalf("CloseWith = %v", err)
			}
			if got := serverText(srv.Messages()); !equal(got, []string{"a", "b", "c"}) {
				t.Fatalf("the server got %v before the close, want the queue drained", got)
			}
			if ce := awaitClose(t, seen); ce.Code != tc.code || ce.Reason != tc.reason {
				t.Fatalf("the server saw close %d %q, want %d %q", ce.Code, ce.Reason, tc.code, tc.reason)
			}
			checkFinalClose(t, r, tc.code, tc.reason)
			if c.State() != StateClosed || c.Err() != nil {
				t.Fatalf("after CloseWith: state %s, err %v", c.State(), c.Err())
			}
		})
	}
}

func TestCloseWithRefusesBadCodesAndReasonsAndGoesOn(t *testing.T) {
	bad := []struct {
		code   websocket.StatusCode
		reason string
	}{
		{-1, ""}, {0, ""}, {999, ""},
		{websocket.StatusGoingAway, ""}, {websocket.StatusNoStatusRcvd, ""},
		{websocket.StatusAbnormalClosure, ""}, {websocket.StatusInternalError, ""},
		{websocket.StatusTLSHandshake, ""}, {2999, ""}, {5000, ""}, {65535, ""},
		{4000, strings.Repeat("x", 124)},
		{4000, strings.Repeat("é", 62)}, // 124 bytes in 62 characters
		{4000, "bad \xff byte"},
		{websocket.StatusNormalClosure, "\xc3"}, // a cut-off "é"
	}
	srv := newServer(t)
	seen := closeSeen(srv)
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	check := func(when string) {
		t.Helper()
		for _, b := range bad {
			err := c.CloseWith(context.Background(), b.code, b.reason)
			if !errors.Is(err, ErrInvalidClose) {
				t.Fatalf("%s: CloseWith(%d, %q) = %v, want ErrInvalidClose", when, b.code, b.reason, err)
			}
		}
	}
	check("before Start")
	if err := c.Start(); err != nil {
		t.Fatalf("Start after refused CloseWiths = %v", err)
	}
	r.waitKind("open", 1, wait)
	check("while open")
	if c.State() != StateOpen {
		t.Fatalf("state %s after refused CloseWiths, want OPEN", c.State())
	}
	if err := c.SendText(context.Background(), "still here"); err != nil {
		t.Fatal(err)
	}
	if m := r.waitMessages(1, wait); string(m[0].msg.Data) != "still here" {
		t.Fatalf("echo %q", m[0].msg.Data)
	}
	if cl := r.of("close"); len(cl) != 0 || srv.Accepted() != 1 {
		t.Fatalf("close events %v and %d connections after refused CloseWiths, want none and 1", cl, srv.Accepted())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if ce := awaitClose(t, seen); ce.Code != websocket.StatusNormalClosure {
		t.Fatalf("the server saw close %d after Close, want 1000", ce.Code)
	}
}

func TestCloseWithErrorSaysWhatIsWrong(t *testing.T) {
	c, err := New("ws://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		code   websocket.StatusCode
		reason string
		want   string
	}{
		{1001, "", "code 1001 is neither 1000 nor in 3000-4999"},
		{4000, strings.Repeat("x", 200), "200 bytes long, more than 123"},
		{4000, "\xff", "not valid UTF-8"},
	} {
		err := c.CloseWith(context.Background(), tc.code, tc.reason)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "resilientws: ") {
			t.Errorf("CloseWith(%d, %d bytes) = %v, want it to say %q", tc.code, len(tc.reason), err, tc.want)
		}
	}
}

func TestCloseWithBeforeStart(t *testing.T) {
	t.Run("nothing queued", func(t *testing.T) {
		r := newRecorder(t)
		c := r.newClient("ws://127.0.0.1:1/")
		if err := c.CloseWith(context.Background(), 4000, "never started"); err != nil {
			t.Fatalf("CloseWith before Start = %v, want nil", err)
		}
		awaitDone(t, c)
		if c.State() != StateClosed || c.Err() != nil {
			t.Fatalf("state %s, err %v", c.State(), c.Err())
		}
		if ev := r.all(); len(ev) != 0 {
			t.Fatalf("events %v, want none: no connection ever opened", ev)
		}
		if err := c.Start(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Start after CloseWith = %v, want ErrClosed", err)
		}
	})
	t.Run("messages queued", func(t *testing.T) {
		r := newRecorder(t)
		c := r.newClient("ws://127.0.0.1:1/")
		if err := c.SendText(context.Background(), "unsent"); err != nil {
			t.Fatal(err)
		}
		err := c.CloseWith(context.Background(), 4000, "never started")
		if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "1 queued message(s) abandoned") {
			t.Fatalf("CloseWith before Start with a queued message = %v, want it abandoned", err)
		}
		if d := r.of("drop"); len(d) != 1 || !errors.Is(d[0].err, ErrClosed) || len(r.of("close")) != 0 {
			t.Fatalf("events %s, want one drop and no close", r.summary())
		}
	})
}

func TestCloseWithTwice(t *testing.T) {
	t.Run("one after the other", func(t *testing.T) {
		_, seen, r, c := openWithCloseSeen(t)
		if err := c.CloseWith(context.Background(), 4001, "first"); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWith(context.Background(), 4002, "second"); err != nil {
			t.Fatalf("second CloseWith = %v, want nil", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close after CloseWith = %v, want nil", err)
		}
		if err := c.CloseWith(context.Background(), 1, "bad"); !errors.Is(err, ErrInvalidClose) {
			t.Fatalf("a bad CloseWith after the close = %v, want ErrInvalidClose", err)
		}
		if ce := awaitClose(t, seen); ce.Code != 4001 || ce.Reason != "first" {
			t.Fatalf("the server saw %d %q, want the first call's 4001 \"first\"", ce.Code, ce.Reason)
		}
		checkFinalClose(t, r, 4001, "first")
	})
	t.Run("at the same time", func(t *testing.T) {
		_, seen, r, c := openWithCloseSeen(t)
		errs := make(chan error, 2)
		for _, code := range []websocket.StatusCode{4001, 4002} {
			go func() { errs <- c.CloseWith(context.Background(), code, "racing") }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("CloseWith = %v", err)
			}
		}
		ce := awaitClose(t, seen)
		if (ce.Code != 4001 && ce.Code != 4002) || ce.Reason != "racing" {
			t.Fatalf("the server saw %d %q", ce.Code, ce.Reason)
		}
		checkFinalClose(t, r, ce.Code, "racing") // the same call won both
	})
}

func TestCloseWithFromInsideCallbacks(t *testing.T) {
	for _, where := range []string{"OnOpen", "OnMessage"} {
		t.Run(where, func(t *testing.T) {
			srv := newServer(t)
			seen := closeSeen(srv)
			r := newRecorder(t)
			returned := make(chan error, 1)
			closeNow := func() {
				returned <- r.client.CloseWith(context.Background(), 4003, "from "+where)
			}
			// These replace the recorder's own callback: record, then close.
			opt := OnOpen(func(e OpenEvent) { r.add(rec{kind: "open", open: e}); closeNow() })
			if where == "OnMessage" {
				opt = OnMessage(func(m Message) { r.add(rec{kind: "message", msg: m}); closeNow() })
			}
			c := r.newClient(srv.URL(), fastBackoff(), opt)
			if err := c.SendText(context.Background(), "hi"); err != nil {
				t.Fatal(err)
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-returned:
				if err != nil {
					t.Fatalf("CloseWith in %s = %v", where, err)
				}
			case <-time.After(wait):
				t.Fatalf("CloseWith in %s did not return", where)
			}
			awaitDone(t, c)
			if ce := awaitClose(t, seen); ce.Code != 4003 || ce.Reason != "from "+where {
				t.Fatalf("the server saw %d %q", ce.Code, ce.Reason)
			}
			checkFinalClose(t, r, 4003, "from "+where)
		})
	}
}

func TestCloseWithWhileNoConnectionIsOpen(t *testing.T) {
	t.Run("never connected", func(t *testing.T) {
		srv := newServer(t)
		srv.Refuse(http.StatusServiceUnavailable, "")
		r := newRecorder(t)
		c := r.startClient(srv.URL(), fastBackoff())
		r.waitKind("reconnecting", 1, wait)
		if err := c.CloseWith(context.Background(), 4000, "bye"); err != nil {
			t.Fatalf("CloseWith = %v, want nil", err)
		}
		if cl := r.of("close"); len(cl) != 0 {
			t.Fatalf("close events %v, want none: no connection ever opened", cl)
		}
		if c.State() != StateClosed || c.Err() != nil {
			t.Fatalf("state %s, err %v", c.State(), c.Err())
		}
	})
	t.Run("between connections", func(t *testing.T) {
		srv, seen, r, c := openWithCloseSeen(t)
		srv.Refuse(http.StatusServiceUnavailable, "")
		srv.DropAll()
		if ce := awaitClose(t, seen); ce.Code != -1 {
			t.Fatalf("the server saw close %d, want a drop", ce.Code)
		}
		r.waitKind("reconnecting", 1, wait)
		if err := c.CloseWith(context.Background(), 4000, "bye"); err != nil {
			t.Fatalf("CloseWith = %v, want nil", err)
		}
		cl := r.of("close")
		if len(cl) != 1 || !cl[0].close.Reconnect || cl[0].close.Code != websocket.StatusAbnormalClosure {
			t.Fatalf("close events %v, want only the dropped connection's (1006, reconnecting)", cl)
		}
		if n := srv.Accepted(); n != 1 {
			t.Fatalf("%d connections, want 1", n)
		}
		select {
		case ce := <-seen:
			t.Fatalf("the server saw another close: %d %q", ce.Code, ce.Reason)
		default:
		}
	})
}

// A close answered with another code than ours (1000 to CloseWith's 4000) or
// with an empty close frame (1005) is an answer all the same: the server
// read everything written before, and nothing is reported ErrUnconfirmed.
func TestCloseAnsweredWithAnotherCodeConfirmsEverything(t *testing.T) {
	for _, tc := range []struct {
		name  string
		code  websocket.StatusCode
		reply []byte
	}{
		{"4000 answered with 1000", 4000, []byte{0x88, 2, 0x03, 0xE8}},
		{"1000 answered with an empty frame", 1000, []byte{0x88, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, received := closePeer(t, tc.reply)
			r := newRecorder(t)
			c := r.startClient(url, fastBackoff(), WithHeartbeat(0, 0))
			r.waitKind("open", 1, wait)
			for _, s := range []string{"a", "b", "c"} {
				if err := c.SendText(context.Background(), s); err != nil {
					t.Fatal(err)
				}
			}
			waitUntil(t, "the server to read the messages", wait, func() bool { return received.Load() == 3 })
			if err := c.CloseWith(context.Background(), tc.code, "bye"); err != nil {
				t.Fatal(err)
			}
			if drops := r.of("drop"); len(drops) != 0 {
				t.Fatalf("drops after an answered close: %v", drops)
			}
		})
	}
}

// Close from the reconnect policy: the client stops there, the last OnClose
// says so (Reconnect false) and no wait is announced.
func TestCloseFromThePolicyEndsWithoutAnotherWait(t *testing.T) {
	srv := newServer(t)
	r := newRecorder(t)
	var c *Client
	c = r.newClient(srv.URL(), fastBackoff(), WithReconnectPolicy(func(error) bool {
		_ = c.Close()
		return true
	}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	srv.CloseAll(websocket.StatusGoingAway, "bye")
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("the client did not stop")
	}
	closes := r.of("close")
	if len(closes) != 1 || closes[0].close.Reconnect {
		t.Fatalf("close events %v, want one with Reconnect false", closes)
	}
	if n := len(r.of("backoff")); n != 0 {
		t.Fatalf("%d OnBackoff for a wait that never comes", n)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("Err() = %v after Close, want nil", err)
	}
}
