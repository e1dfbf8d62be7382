//go:build !js

package resilientws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
	"github.com/resilientws/resilientws/resilientwstest"
)

// coderWords are coder/websocket's internal phrases, which no error text of
// ours may carry.
var coderWords = []string{"failed to ", "received close frame", "status = ", "Status"}

// checkText fails the test unless err reads exactly want. Every text must
// also have one "resilientws: " prefix, at its start, and no coder/websocket
// internals.
func checkText(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: nil error, want %q", what, want)
	}
	got := err.Error()
	t.Logf("%s: %s", what, got)
	if got != want {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
	checkHumane(t, what, err)
}

// checkHumane fails the test unless err's text has one "resilientws: "
// prefix, at its start, and none of coder/websocket's internal phrases.
func checkHumane(t *testing.T, what string, err error) {
	t.Helper()
	got := err.Error()
	if !strings.HasPrefix(got, "resilientws: ") || strings.Count(got, "resilientws:") != 1 {
		t.Errorf("%s: %q: want one \"resilientws: \" prefix", what, got)
	}
	for _, w := range coderWords {
		if strings.Contains(got, w) {
			t.Errorf("%s: %q speaks of coder/websocket's %q", what, got, w)
		}
	}
}

// closingServer closes its first connection with code and reason, and
// echoes on the next ones.
func closingServer(t *testing.T, code websocket.StatusCode, reason string) *resilientwstest.Server {
	srv := newServer(t)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		if c.Number() == 1 {
			c.Close(code, reason)
			return
		}
		c.Echo(ctx)
	})
	return srv
}

// droppingServer drops its first connection without a close frame (a plain
// TCP close: the client reads EOF), and echoes on the next ones.
func droppingServer(t *testing.T) *resilientwstest.Server {
	srv := newServer(t)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		if c.Number() == 1 {
			c.CloseNow()
			return
		}
		c.Echo(ctx)
	})
	return srv
}

func TestErrorTextServerClose(t *testing.T) {
	cases := []struct {
		code   websocket.StatusCode
		reason string
		want   string
	}{
		{websocket.StatusPolicyViolation, "policy says no",
			`resilientws: connection 1 closed by the server with 1008 (policy violation) "policy says no"`},
		{websocket.StatusProtocolError, "",
			`resilientws: connection 1 closed by the server with 1002 (protocol error)`},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(int(tc.code)), func(t *testing.T) {
			srv := closingServer(t, tc.code, tc.reason)
			r := newRecorder(t)
			c := r.startClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0))
			cl := r.waitKind("close", 1, wait).close
			<-c.Done()
			checkText(t, "CloseEvent.Err", cl.Err, tc.want)
			checkText(t, "Err()", c.Err(), tc.want+"; not reconnecting")
			sendErr := c.SendText(context.Background(), "too late")
			checkText(t, "Send after the end", sendErr, "resilientws: client closed: "+strings.TrimPrefix(tc.want, "resilientws: ")+"; not reconnecting")
			for what, err := range map[string]error{"CloseEvent.Err": cl.Err, "Err()": c.Err(), "Send": sendErr} {
				var ce websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != tc.code || ce.Reason != tc.reason {
					t.Errorf("%s: errors.As found %+v, want code %d and reason %q", what, ce, tc.code, tc.reason)
				}
				if got := websocket.CloseStatus(err); got != tc.code {
					t.Errorf("%s: CloseStatus = %d, want %d", what, got, tc.code)
				}
			}
			if !errors.Is(sendErr, ErrClosed) {
				t.Errorf("Send after the end = %v, want ErrClosed", sendErr)
			}
		})
	}
}

func TestErrorTextLostConnection(t *testing.T) {
	t.Run("EOF", func(t *testing.T) {
		srv := droppingServer(t)
		r := newRecorder(t)
		r.startClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0))
		e := r.waitKind("error", 1, wait).err
		cl := r.waitKind("close", 1, wait).close
		const want = "resilientws: connection 1 lost: the server closed TCP without a close frame (EOF)"
		checkText(t, "OnError", e, want)
		checkText(t, "CloseEvent.Err", cl.Err, want)
		if !errors.Is(e, io.EOF) || !errors.Is(cl.Err, io.EOF) {
			t.Errorf("errors.Is(io.EOF) fails on %v", e)
		}
		if websocket.CloseStatus(e) != -1 || cl.Code != websocket.StatusAbnormalClosure {
			t.Errorf("a dropped connection has close status %d and code %d", websocket.CloseStatus(e), cl.Code)
		}
	})
	t.Run("ECONNRESET", func(t *testing.T) {
		srv := resilientwstest.NewServer()
		t.Cleanup(srv.Close)
		r := newRecorder(t)
		r.startClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0))
		r.waitKind("open", 1, wait)
		srv.DropAll()
		e := r.waitKind("error", 1, wait).err
		checkText(t, "OnError", e, "resilientws: connection 1 lost: the connection was reset (ECONNRESET)")
		if !errors.Is(e, syscall.ECONNRESET) {
			t.Errorf("errors.Is(ECONNRESET) fails on %v", e)
		}
	})
	t.Run("heartbeat", func(t *testing.T) {
		srv := resilientwstest.NewServer()
		t.Cleanup(srv.Close)
		srv.StopPongs()
		r := newRecorder(t)
		r.startClient(srv.URL(), fastBackoff(), WithHeartbeat(20*time.Millisecond, 100*time.Millisecond))
		e := r.waitKind("error", 1, wait).err
		checkText(t, "OnError", e, "resilientws: connection 1 lost: heartbeat timeout: no pong from the peer within 100ms")
		if !errors.Is(e, ErrHeartbeatTimeout) {
			t.Errorf("errors.Is(ErrHeartbeatTimeout) fails on %v", e)
		}
	})
	t.Run("write timeout", func(t *testing.T) {
		srv := newServer(t)
		p := newFaultProxy(t, srv.Addr())
		r := newRecorder(t)
		c := r.newClient(p.URL("/"), fastBackoff(), WithHeartbeat(0, 0), WithWriteTimeout(100*time.Millisecond),
			WithQueue(10, 32<<20, OverflowReject))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		r.waitKind("open", 1, wait)
		p.Stall()
		if err := c.Send(context.Background(), Binary, make([]byte, 8<<20)); err != nil { // more than the socket buffers hold
			t.Fatal(err)
		}
		e := r.waitKind("error", 1, wait).err
		checkText(t, "OnError", e, "resilientws: connection 1 lost: write timeout: a write took longer than 100ms")
		if !errors.Is(e, ErrWriteTimeout) {
			t.Errorf("errors.Is(ErrWriteTimeout) fails on %v", e)
		}
		p.Pass()
	})
	t.Run("read limit", func(t *testing.T) {
		srv := newServer(t)
		srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
			c.Write(ctx, websocket.MessageBinary, make([]byte, 2000))
			c.Read(ctx)
		})
		r := newRecorder(t)
		r.startClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0), WithReadLimit(1000))
		e := r.waitKind("error", 1, wait).err
		cl := r.waitKind("close", 1, wait).close
		const want = "resilientws: connection 1 lost: a message from the server was larger than the 1000-byte read limit"
		checkText(t, "OnError", e, want)
		checkText(t, "CloseEvent.Err", cl.Err, want)
		if !errors.Is(e, websocket.ErrMessageTooBig) || cl.Code != websocket.StatusMessageTooBig {
			t.Errorf("close code %d, errors.Is(ErrMessageTooBig) %v", cl.Code, errors.Is(e, websocket.ErrMessageTooBig))
		}
	})
}

func TestErrorTextGivingUp(t *testing.T) {
	const lost = "resilientws: connection 1 lost: the server closed TCP without a close frame (EOF)"
	cases := []struct {
		name string
		opt  Option
		want string
		is   error
	}{
		{"policy", WithReconnectPolicy(func(error) bool { return false }), lost + "; not reconnecting", nil},
		{"backoff", WithBackoff(func() backoff.BackOff { return &backoff.StopBackOff{} }),
			lost + "; backoff policy stopped reconnecting", ErrBackoffStopped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := droppingServer(t)
			r := newRecorder(t)
			c := r.startClient(srv.URL(), WithHeartbeat(0, 0), tc.opt)
			<-c.Done()
			err := c.Err()
			checkText(t, "Err()", err, tc.want)
			if !errors.Is(err, io.EOF) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("errors.Is(io.EOF) or errors.Is(%v) fails on %v", tc.is, err)
			}
		})
	}
}

func TestErrorTextMessageTooLarge(t *testing.T) {
	srv := newServer(t)
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff())
	err := c.Send(context.Background(), Binary, make([]byte, 2<<20))
	checkText(t, "Send", err, "resilientws: message of 2097152 bytes is larger than the send queue's 1048576-byte limit")
	if !errors.Is(err, ErrMessageTooLarge) || !errors.Is(err, ErrQueueFull) {
		t.Errorf("Send = %v, want ErrMessageTooLarge and ErrQueueFull", err)
	}
}

func TestErrorTextInsideCallbacks(t *testing.T) {
	srv := newServer(t)
	type result struct {
		flush, send error
		open        OpenEvent
	}
	got := make(chan result, 1)
	var c *Client
	r := newRecorder(t)
	c = r.newClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0), WithQueue(1, 1<<20, OverflowBlock),
		OnOpen(func(e OpenEvent) {
			r.add(rec{kind: "open", open: e}) // this OnOpen replaces the recorder's
			if e.Connection != 1 {
				return
			}
			var res result
			res.open = e
			res.flush = c.Flush(context.Background())
			if err := c.SendText(context.Background(), "fills the queue"); err != nil {
				res.send = err
			} else {
				res.send = c.SendText(context.Background(), "would wait")
			}
			got <- res
		}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-got:
	case <-time.After(wait):
		t.Fatal("OnOpen did not run")
	}
	checkText(t, "Flush in OnOpen", res.flush, "resilientws: Flush: called from inside a callback")
	checkText(t, "Send in OnOpen", res.send,
		"resilientws: send queue full: Send would wait for room, and nothing can make any while it waits: called from inside a callback")
	if !errors.Is(res.flush, ErrInCallback) || !errors.Is(res.send, ErrInCallback) || !errors.Is(res.send, ErrQueueFull) {
		t.Errorf("Flush = %v, Send = %v: want ErrInCallback (and ErrQueueFull)", res.flush, res.send)
	}
	srv.DropAll()
	r.waitKind("close", 1, wait)
	err := res.open.Send(context.Background(), Text, []byte("late"))
	checkText(t, "OpenEvent.Send after its connection", err, "resilientws: OpenEvent.Send: connection 1 is gone")
	if !errors.Is(err, ErrNotConnected) {
		t.Errorf("OpenEvent.Send = %v, want ErrNotConnected", err)
	}
	err = OpenEvent{}.Send(context.Background(), Text, []byte("none"))
	checkText(t, "OpenEvent{}.Send", err, "resilientws: OpenEvent.Send: no connection: client closed")
	if !errors.Is(err, ErrClosed) {
		t.Errorf("OpenEvent{}.Send = %v, want ErrClosed", err)
	}
}

func TestErrorTextDial(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		wsURL := "ws://" + ln.Addr().String() + "/"
		ln.Close() // nothing listens there now
		r := newRecorder(t)
		r.startClient(wsURL, fastBackoff())
		e := r.waitKind("error", 1, wait).err
		checkText(t, "OnError", e, "resilientws: dial "+wsURL+": the connection was refused (ECONNREFUSED)")
		if !errors.Is(e, syscall.ECONNREFUSED) {
			t.Errorf("errors.Is(ECONNREFUSED) fails on %v", e)
		}
	})
	t.Run("hook", func(t *testing.T) {
		down := errors.New("token service down")
		r := newRecorder(t)
		c := r.newClient("ws://127.0.0.1:1/", fastBackoff(), WithDialHook(func(context.Context, int) (string, http.Header, error) {
			return "", nil, down
		}))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		e := r.waitKind("error", 1, wait).err
		checkText(t, "OnError", e, "resilientws: dial hook: token service down")
		if !errors.Is(e, down) {
			t.Errorf("errors.Is fails on %v", e)
		}
	})
	t.Run("hook panics", func(t *testing.T) {
		r := newRecorder(t)
		c := r.newClient("ws://127.0.0.1:1/", fastBackoff(), WithDialHook(func(context.Context, int) (string, http.Header, error) {
			panic("no token")
		}))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		e := r.waitKind("error", 1, wait).err
		checkText(t, "OnError", e, "resilientws: dial hook: WithDialHook callback panicked: no token")
		var pe *PanicError
		if !errors.As(e, &pe) {
			t.Errorf("errors.As(*PanicError) fails on %v", e)
		}
	})
	t.Run("redirect loop", func(t *testing.T) {
		wsURL := hostileServer(t, func(w http.ResponseWriter, r *http.Request, _ func(interface{ Close() error })) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		})
		r := newRecorder(t)
		r.startClient(wsURL, fastBackoff())
		e := r.waitKind("error", 1, wait).err
		checkText(t, "OnError", e, fmt.Sprintf("resilientws: dial %s: stopped after %d redirects", wsURL, maxRedirects))
		if !errors.Is(e, errTooManyRedirects) {
			t.Errorf("errors.Is(errTooManyRedirects) fails on %v", e)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := resilientwstest.NewServer()
		t.Cleanup(srv.Close)
		srv.Hang()
		r := newRecorder(t)
		r.startClient(srv.URL(), fastBackoff(), WithDialTimeout(50*time.Millisecond))
		e := r.waitKind("error", 1, wait).err
		checkText(t, "OnError", e, "resilientws: dial "+srv.URL()+": no handshake within 50ms")
		if !errors.Is(e, context.DeadlineExceeded) {
			t.Errorf("errors.Is(DeadlineExceeded) fails on %v", e)
		}
	})
}

func TestErrorTextClose(t *testing.T) {
	r := newRecorder(t)
	c := r.newClient("ws://127.0.0.1:1/", fastBackoff())
	if err := c.SendText(context.Background(), "never sent"); err != nil {
		t.Fatal(err)
	}
	err := c.Close()
	checkText(t, "Close", err, "resilientws: 1 queued message(s) abandoned: client closed")
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Close = %v, want ErrClosed", err)
	}
}

func TestErrorTextNew(t *testing.T) {
	_, err := New("ws://127.0.0.1:1/", WithAppHeartbeat(time.Second, time.Second, Message{Type: MessageType(7)}, func(Message) bool { return true }))
	checkText(t, "New", err, "resilientws: WithAppHeartbeat: ping: invalid message type 7 (want Text or Binary)")
	_, err = New("ws://[::1")
	checkText(t, "New", err, `resilientws: invalid URL "ws://[::1": missing ']' in host`)
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("errors.As(*url.Error) fails on %v", err)
	}
}

// An address without a scheme: New says what is missing, and does not guess.
func TestErrorTextNewWithoutAScheme(t *testing.T) {
	for _, raw := range []string{"127.0.0.1:9", "localhost:9001/echo", "feed.example.com/ws", "[::1]:9"} {
		_, err := New(raw)
		checkText(t, "New", err, fmt.Sprintf("resilientws: invalid URL %q: no scheme: ws://%s or wss://%s?", raw, raw, raw))
	}
	// Not an address either: the parser's complaint stands.
	_, err := New("no address")
	checkText(t, "New", err, `resilientws: invalid URL "no address": missing scheme (want ws, wss, http or https)`)
}

// TestErrorTextOfEverySentinel wraps each sentinel as the library does when a
// connection ends and the client gives up: one prefix, and errors.Is holds.
func TestErrorTextOfEverySentinel(t *testing.T) {
	sentinels := []error{ErrClosed, ErrQueueFull, ErrMessageTooLarge, ErrHeartbeatTimeout, ErrWriteTimeout,
		ErrBackoffStopped, ErrStarted, ErrNotConnected, ErrExpired, ErrUnconfirmed, ErrReconnectRequested, ErrInCallback}
	for _, s := range sentinels {
		cause := fmt.Errorf("%w within 5s", s)
		lost := classify(1, cause).cause
		final := permanent(lost)
		for what, err := range map[string]error{"lost": lost, "permanent": final, "closed": newFailure(describe(ErrClosed)+": "+describe(final), ErrClosed, final)} {
			checkHumane(t, what, err)
			if !errors.Is(err, s) {
				t.Errorf("%s: errors.Is(%v) fails on %v", what, s, err)
			}
		}
		if want := "resilientws: connection 1 lost: " + strings.TrimPrefix(s.Error(), "resilientws: ") + " within 5s"; lost.Error() != want {
			t.Errorf("lost: got %q, want %q", lost, want)
		}
	}
}

func TestCloseText(t *testing.T) {
	names := map[websocket.StatusCode]string{
		1000: "normal closure", 1001: "going away", 1002: "protocol error", 1003: "unsupported data",
		1005: "no status", 1006: "abnormal closure", 1007: "invalid frame payload data", 1008: "policy violation",
		1009: "message too big", 1010: "mandatory extension", 1011: "internal error", 1012: "service restart",
		1013: "try again later", 1014: "bad gateway", 1015: "TLS handshake",
	}
	for code := websocket.StatusCode(999); code <= 1016; code++ {
		want := fmt.Sprint(int(code))
		if name, ok := names[code]; ok {
			want += " (" + name + ")"
		}
		if got := closeText(websocket.CloseError{Code: code}); got != want {
			t.Errorf("closeText(%d) = %q, want %q", code, got, want)
		}
	}
	if got, want := closeText(websocket.CloseError{Code: 4000, Reason: `say "hi"`}), `4000 "say \"hi\""`; got != want {
		t.Errorf("closeText(4000) = %q, want %q", got, want)
	}
}

func TestDescribe(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("failed to read: failed to read frame payload: %w", io.ErrUnexpectedEOF), "the server closed TCP without a close frame (unexpected EOF)"},
		{fmt.Errorf("failed to get reader: %w", net.ErrClosed), "the socket was already closed (net.ErrClosed)"},
		{fmt.Errorf("failed to write frame: %w", &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}), "the other side had closed the connection (EPIPE)"},
		{fmt.Errorf("failed to get reader: %w", errors.New("received header with unexpected rsv bits set: true:false:false")),
			"received header with unexpected rsv bits set: true:false:false"},
		{fmt.Errorf("failed to get reader: %w", fmt.Errorf("received invalid close payload: %w", errors.New("invalid status code 1006"))),
			"received invalid close payload: invalid status code 1006"},
		{context.Canceled, "the context was cancelled (context canceled)"},
		{ErrClosed, "client closed"},
		{&PanicError{Callback: "OnOpen", Value: "boom"}, "OnOpen callback panicked: boom"},
	}
	for _, tc := range cases {
		if got := describe(tc.err); got != tc.want {
			t.Errorf("describe(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
