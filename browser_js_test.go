//go:build js && wasm

package resilientws

// The browser suite. TestBrowser (browser_test.go) compiles these tests to
// WebAssembly and runs them in headless Chromium, where the client uses the
// page's WebSocket. Their servers live in TestBrowser's native process
// (resilientwstest), driven through its control API on the page's origin,
// so drops, refusals and silences are real.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
)

// bwait bounds every wait of the browser tests.
const bwait = 5 * time.Second

// ctlBase is the control API's origin: the page's.
var ctlBase = js.Global().Get("location").Get("origin").String()

// ctl calls the control API and decodes its JSON answer into out, if not nil.
func ctl(t testing.TB, method, path string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, ctlBase+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("control %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode >= 300 {
		t.Fatalf("control %s %s: %s %s %v", method, path, resp.Status, body, err)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("control %s %s: %v", method, path, err)
		}
	}
}

// ctlSrv is one test server of the control API.
type ctlSrv struct {
	t   testing.TB
	id  int
	url string
}

// newCtlSrv starts a test server, closed at the end of the test, that
// accepts the subprotocols given, if any.
func newCtlSrv(t testing.TB, subprotocols ...string) *ctlSrv {
	t.Helper()
	var r struct {
		ID  int    `json:"id"`
		URL string `json:"url"`
	}
	ctl(t, http.MethodPost, "/ctl/new?subprotocols="+url.QueryEscape(strings.Join(subprotocols, ",")), &r)
	s := &ctlSrv{t: t, id: r.ID, url: r.URL}
	t.Cleanup(func() { s.do("close") })
	return s
}

// do makes the server misbehave: op, with query parameters as "k=v".
func (s *ctlSrv) do(op string, params ...string) {
	s.t.Helper()
	q := url.Values{}
	for _, p := range params {
		k, v, _ := strings.Cut(p, "=")
		q.Set(k, v)
	}
	ctl(s.t, http.MethodPost, fmt.Sprintf("/ctl/%d/%s?%s", s.id, op, q.Encode()), nil)
}

func (s *ctlSrv) state() serverState {
	s.t.Helper()
	var st serverState
	ctl(s.t, http.MethodGet, fmt.Sprintf("/ctl/%d/state", s.id), &st)
	return st
}

// waitState polls the server's state until cond holds.
func (s *ctlSrv) waitState(what string, cond func(serverState) bool) serverState {
	s.t.Helper()
	deadline := time.Now().Add(bwait)
	for {
		st := s.state()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for the server: %s; it saw %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond) // polling the server process over HTTP
	}
}

// end returns how the server saw connection n end, and whether it has.
func (st serverState) end(n int) (connEndSeen, bool) {
	for _, e := range st.Ends {
		if e.Conn == n {
			return e, true
		}
	}
	return connEndSeen{}, false
}

// browserBackoff waits 50 ms, then 100, 200, 400 ms, without jitter.
func browserBackoff() Option {
	return WithBackoff(func() backoff.BackOff {
		return backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(50*time.Millisecond),
			backoff.WithRandomizationFactor(0),
			backoff.WithMultiplier(2),
			backoff.WithMaxInterval(400*time.Millisecond),
			backoff.WithMaxElapsedTime(0))
	})
}

// The application heartbeat of the browser tests.
const (
	hbInterval = 150 * time.Millisecond
	hbTimeout  = 150 * time.Millisecond
)

func appHeartbeat() Option {
	return WithAppHeartbeat(hbInterval, hbTimeout, Message{Type: Text, Data: []byte(pingText)},
		func(m Message) bool { return string(m.Data) == pongText })
}

func start(t testing.TB, c *Client) {
	t.Helper()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
}

func send(t testing.TB, c *Client, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		if err := c.SendText(context.Background(), m); err != nil {
			t.Fatalf("SendText(%q): %v", m, err)
		}
	}
}

func texts(events []rec) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = string(e.msg.Data)
	}
	return out
}

func TestBrowserEchoAndState(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff())
	if s := c.State(); s != StateConnecting {
		t.Errorf("State before Start = %s, want CONNECTING", s)
	}
	start(t, c)
	r.waitKind("open", 1, bwait)
	if s := c.State(); s != StateOpen {
		t.Errorf("State once open = %s, want OPEN", s)
	}
	send(t, c, "hello", "world")
	if got := texts(r.waitMessages(2, bwait)); !slices.Equal(got, []string{"hello", "world"}) {
		t.Errorf("echoed %q", got)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := c.BufferedAmount(); n != 0 {
		t.Errorf("BufferedAmount once echoed = %d, want 0", n)
	}
	if s := c.Stats(); s.MessagesSent != 2 || s.MessagesReceived != 2 || s.Connects != 1 {
		t.Errorf("Stats = %+v", s)
	}
}

// A dial the server never answers ends at the dial timeout, and is
// retried; Close during such a dial returns at once.
func TestBrowserDialTimeoutAndCloseWhileDialing(t *testing.T) {
	srv := newCtlSrv(t)
	srv.do("hang")
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff(), WithDialTimeout(200*time.Millisecond))
	start(t, c)
	e := r.waitKind("error", 1, bwait)
	if !errors.Is(e.err, context.DeadlineExceeded) || !strings.Contains(e.err.Error(), "no handshake within 200ms") {
		t.Errorf("OnError = %v, want the dial timeout", e.err)
	}
	r.waitKind("reconnecting", 1, bwait)
	begun := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(begun); took > 100*time.Millisecond {
		t.Errorf("Close during a dial took %s", took)
	}
	if n := len(r.of("open")); n != 0 {
		t.Errorf("%d connection(s) opened", n)
	}
}

// A callback that would wait for the client's own work fails fast, as
// natively: the goroutine ids behind ErrInCallback work in WebAssembly.
func TestBrowserFlushInACallbackFailsFast(t *testing.T) {
	srv := newCtlSrv(t)
	flushed := make(chan error, 1)
	var c *Client
	c, err := New(srv.url, browserBackoff(), OnOpen(func(OpenEvent) { flushed <- c.Flush(context.Background()) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	start(t, c)
	select {
	case err := <-flushed:
		if !errors.Is(err, ErrInCallback) {
			t.Errorf("Flush in OnOpen: %v, want ErrInCallback", err)
		}
	case <-time.After(bwait):
		t.Fatal("Flush in OnOpen blocked")
	}
}

func TestBrowserCloseSends1000AndTheServerSeesIt(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff())
	start(t, c)
	r.waitKind("open", 1, bwait)
	begun := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close took %s", time.Since(begun).Round(time.Millisecond))
	if s := c.State(); s != StateClosed {
		t.Errorf("State after Close = %s, want CLOSED", s)
	}
	if e := r.waitKind("close", 1, bwait).close; e.Code != websocket.StatusNormalClosure || e.Reconnect || e.Err != nil {
		t.Errorf("OnClose = %+v, want 1000, no reconnect, no error", e)
	}
	st := srv.waitState("connection 1's close frame", func(st serverState) bool { _, ok := st.end(1); return ok })
	if e, _ := st.end(1); e.Code != 1000 {
		t.Errorf("the server saw connection 1 end with %+v, want a 1000 close frame", e)
	}
}

func TestBrowserCloseWithSendsItsCode(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff())
	start(t, c)
	r.waitKind("open", 1, bwait)
	if err := c.CloseWith(context.Background(), 4001, "bye"); err != nil {
		t.Fatalf("CloseWith: %v", err)
	}
	st := srv.waitState("connection 1's close frame", func(st serverState) bool { _, ok := st.end(1); return ok })
	if e, _ := st.end(1); e.Code != 4001 || e.Reason != "bye" {
		t.Errorf("the server saw %+v, want 4001 \"bye\"", e)
	}
}

func TestBrowserReconnectsWithBackoffAfterDrops(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff())
	start(t, c)
	r.waitKind("open", 1, bwait)
	srv.do("drop")
	r.waitKind("open", 2, bwait)
	srv.do("drop")
	r.waitKind("open", 3, bwait)

	if e := r.waitKind("close", 1, bwait).close; e.Code != websocket.StatusAbnormalClosure || !e.Reconnect || e.Err == nil {
		t.Errorf("first OnClose = %+v, want 1006 with an error, reconnecting", e)
	}
	if len(r.of("error")) < 2 {
		t.Errorf("want an OnError per lost connection; events: %s", r.summary())
	}
	b := r.of("backoff")
	if len(b) != 2 {
		t.Fatalf("want 2 OnBackoff; events: %s", r.summary())
	}
	// The backoff was not reset (the connections lived less than the
	// stable-after time): 50 ms, then 100 ms.
	for i, want := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond} {
		if e := b[i].rec; e.Delay != want || e.DelaySource != DelayBackoff || e.BackoffAttempt != i+1 {
			t.Errorf("OnBackoff %d = %+v, want %s from the backoff, its attempt %d", i+1, e, want, i+1)
		}
	}
	for i, e := range r.of("reconnecting") {
		if e.rec.Delay < b[i].rec.Delay {
			t.Errorf("OnReconnecting %d after %s, want the full %s", i+1, e.rec.Delay, b[i].rec.Delay)
		}
	}
}

// The browser has no protocol ping: the application heartbeat replaces a
// connection whose server stopped reading (TCP open, no pong) within its
// interval + timeout.
func TestBrowserAppHeartbeatReplacesASilentConnection(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff(), appHeartbeat())
	start(t, c)
	r.waitKind("open", 1, bwait)
	waitUntil(t, "a first application pong", bwait, func() bool { return c.Stats().LastRTT > 0 })
	srv.do("stopreading")
	stopped := time.Now()
	closed := r.waitKind("close", 1, bwait)
	took := closed.at.Sub(stopped)
	t.Logf("the heartbeat dropped the silent connection %s after the server stopped reading", took.Round(time.Millisecond))
	if limit := hbInterval + hbTimeout + 300*time.Millisecond; took > limit { // slack for a loaded machine
		t.Errorf("dropped after %s, want within interval + timeout (%s)", took, limit)
	}
	if e := closed.close; !errors.Is(e.Err, ErrHeartbeatTimeout) || !e.Reconnect {
		t.Errorf("OnClose = %+v, want ErrHeartbeatTimeout, reconnecting", e)
	}
	srv.do("resumereading") // it stays on for new connections too
	r.waitKind("open", 2, bwait)
	send(t, c, "after")
	r.wait("the echo on connection 2", bwait, func(e rec) bool { return e.kind == "message" && string(e.msg.Data) == "after" })
	// The server, reading again, finds the client's close frame on
	// connection 1: the browser did close it.
	st := srv.waitState("connection 1's close frame", func(st serverState) bool { _, ok := st.end(1); return ok })
	if e, _ := st.end(1); e.Code != 1000 || e.Reason != "heartbeat timeout" {
		t.Errorf("the server saw connection 1 end with %+v, want 1000 \"heartbeat timeout\"", e)
	}
}

// A connection the heartbeat declares dead is really closed, with 1000 (a
// page may not send 1001 or 1006), while the server still reads.
func TestBrowserHeartbeatClosesTheDeadConnection(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff(), appHeartbeat())
	start(t, c)
	r.waitKind("open", 1, bwait)
	srv.do("silence")
	r.waitKind("close", 1, bwait)
	st := srv.waitState("connection 1's close frame", func(st serverState) bool { _, ok := st.end(1); return ok })
	if e, _ := st.end(1); e.Code != 1000 || e.Reason != "heartbeat timeout" {
		t.Errorf("the server saw connection 1 end with %+v, want 1000 \"heartbeat timeout\"", e)
	}
	srv.do("speak")
	r.waitKind("open", 2, bwait)
}

// What is sent while the client is down waits in the queue (BufferedAmount
// counts it, as natively) and arrives in order after the reconnect.
func TestBrowserQueuesWhileDownAndDeliversInOrder(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff())
	start(t, c)
	r.waitKind("open", 1, bwait)
	srv.do("refuse", "status=503")
	srv.do("drop")
	r.waitKind("close", 1, bwait)
	r.wait("a refused dial", bwait, func(e rec) bool { return e.kind == "error" && strings.Contains(e.err.Error(), "dial") })
	if s := c.State(); s != StateConnecting {
		t.Errorf("State while down = %s, want CONNECTING", s)
	}
	msgs := []string{"one", "two", "three"}
	send(t, c, msgs...)
	if n, want := c.BufferedAmount(), len("one")+len("two")+len("three"); n != want {
		t.Errorf("BufferedAmount while down = %d, want %d", n, want)
	}
	if s := c.Stats(); s.Queued != 3 {
		t.Errorf("Stats().Queued while down = %d, want 3", s.Queued)
	}
	srv.do("accept")
	r.waitKind("open", 2, bwait)
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := texts(r.waitMessages(3, bwait)); !slices.Equal(got, msgs) {
		t.Errorf("echoed %q, want %q", got, msgs)
	}
	st := srv.state()
	if len(st.Received) < 2 || !slices.Equal(st.Received[1], msgs) {
		t.Errorf("the server received %q, want %q on connection 2", st.Received, msgs)
	}
	waitUntil(t, "BufferedAmount 0", bwait, func() bool { return c.BufferedAmount() == 0 })
	if s := c.State(); s != StateOpen {
		t.Errorf("State = %s, want OPEN", s)
	}
}

// A browser reports a refused upgrade as an error and a 1006 close, without
// the status: the default policy cannot tell a 403 from a 503, so it
// retries with backoff; the client neither stops nor opens until the server
// accepts.
func TestBrowserRefusedUpgradeIsRetried(t *testing.T) {
	srv := newCtlSrv(t)
	srv.do("refuse", "status=403")
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff())
	start(t, c)
	r.waitKind("reconnecting", 2, bwait)
	errs := r.of("error")
	var he *HandshakeError
	if len(errs) < 2 || errors.As(errs[0].err, &he) || !strings.Contains(errs[0].err.Error(), "does not tell a page why") {
		t.Errorf("want dial errors saying the browser does not tell why, no *HandshakeError; events: %s", r.summary())
	}
	if c.Err() != nil || c.State() != StateConnecting {
		t.Errorf("Err = %v, State = %s: want nil, CONNECTING (still retrying)", c.Err(), c.State())
	}
	if st := srv.state(); st.Requests < 2 || st.Accepted != 0 {
		t.Errorf("the server saw %+v, want 2 upgrade requests or more, none accepted", st)
	}
	srv.do("accept")
	r.waitKind("open", 1, bwait)
}

// Close codes still decide: 1008 stops the client, 4000 does not.
func TestBrowserServerCloseCodesDecide(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff())
	start(t, c)
	r.waitKind("open", 1, bwait)
	srv.do("closeall", "code=4000", "reason=again")
	r.waitKind("open", 2, bwait)
	if e := r.waitKind("close", 1, bwait).close; e.Code != 4000 || e.Reason != "again" || !e.Reconnect {
		t.Errorf("OnClose 1 = %+v, want 4000 \"again\", reconnecting", e)
	}
	srv.do("closeall", "code=1008", "reason=go away")
	select {
	case <-c.Done():
	case <-time.After(bwait):
		t.Fatalf("the client did not stop after 1008; events: %s", r.summary())
	}
	if websocket.CloseStatus(c.Err()) != websocket.StatusPolicyViolation {
		t.Errorf("Err = %v, want the server's 1008", c.Err())
	}
	if e := r.waitKind("close", 2, bwait).close; e.Code != 1008 || e.Reconnect {
		t.Errorf("OnClose 2 = %+v, want 1008, no reconnect", e)
	}
}

func TestBrowserOptionRules(t *testing.T) {
	const u = "ws://127.0.0.1:1"
	for name, opt := range map[string]Option{
		"WithHeader":    WithHeader(http.Header{"Authorization": {"Bearer x"}}),
		"WithHeartbeat": WithHeartbeat(time.Second, time.Second),
	} {
		if _, err := New(u, opt); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("New with %s: %v, want an error matching errors.ErrUnsupported", name, err)
		}
	}
	for name, opt := range map[string]Option{
		"WithHeartbeat(0, 0)":  WithHeartbeat(0, 0),
		"an empty WithHeader":  WithHeader(nil),
		"WithAppHeartbeat":     appHeartbeat(),
		"WithDialOptions":      WithDialOptions(&websocket.DialOptions{Subprotocols: []string{"chat"}}),
		"WithWriteTimeout (1)": WithWriteTimeout(time.Second),
	} {
		if _, err := New(u, opt); err != nil {
			t.Errorf("New with %s: %v", name, err)
		}
	}
	c, err := New(u)
	if err != nil {
		t.Fatal(err)
	}
	if c.opts.heartbeatInterval != 0 {
		t.Errorf("the default heartbeat interval is %s in the browser, want 0 (off)", c.opts.heartbeatInterval)
	}
	if err := c.Send(context.Background(), Text, []byte{0xff, 'x'}); err == nil {
		t.Error("Send accepted a Text message that is not UTF-8")
	}
	if err := c.Send(context.Background(), Binary, []byte{0xff, 'x'}); err != nil {
		t.Errorf("Send(Binary): %v", err)
	}
	bad := WithAppHeartbeat(time.Second, time.Second, Message{Type: Text, Data: []byte{0xff}}, func(Message) bool { return false })
	if _, err := New(u, bad); err == nil {
		t.Error("New accepted an application ping that is not UTF-8 text")
	}
	if err := c.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("Close with the Binary message queued: %v, want it abandoned (ErrClosed)", err)
	}
}

// WithDialOptions offers its subprotocols; the server's choice is the
// connection's.
func TestBrowserSubprotocol(t *testing.T) {
	srv := newCtlSrv(t, "chat.v2")
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff(), WithDialOptions(&websocket.DialOptions{Subprotocols: []string{"chat.v1", "chat.v2"}}))
	start(t, c)
	if e := r.waitKind("open", 1, bwait).open; e.Subprotocol != "chat.v2" || c.Subprotocol() != "chat.v2" {
		t.Errorf("OpenEvent.Subprotocol %q, Subprotocol() %q, want chat.v2", e.Subprotocol, c.Subprotocol())
	}
}

// The dial hook's URL works (a token in the query string is the browser's
// way); headers from it fail the dial, which is retried.
func TestBrowserDialHook(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	withHeader := true
	c := r.newClient("ws://127.0.0.1:1/unused", browserBackoff(),
		WithDialHook(func(ctx context.Context, attempt int) (string, http.Header, error) {
			if withHeader {
				withHeader = false
				return srv.url + "/?token=t1", http.Header{"Authorization": {"Bearer t1"}}, nil
			}
			return srv.url + "/?token=t2", nil, nil
		}))
	start(t, c)
	r.waitKind("open", 1, bwait)
	if errs := r.of("error"); len(errs) != 1 || !errors.Is(errs[0].err, errors.ErrUnsupported) {
		t.Errorf("want one OnError matching errors.ErrUnsupported for the hook's headers; events: %s", r.summary())
	}
}

// Without an application heartbeat nothing in the browser can confirm
// delivery: what was written on a lost connection is reported
// ErrUnconfirmed, even what the server did receive.
func TestBrowserWrittenOnALostConnectionIsUnconfirmed(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff())
	start(t, c)
	r.waitKind("open", 1, bwait)
	send(t, c, "a", "b")
	r.waitMessages(2, bwait) // they arrived, but nothing says so to the client
	srv.do("drop")
	r.waitKind("open", 2, bwait)
	drops := r.of("drop")
	if len(drops) != 2 || !errors.Is(drops[0].err, ErrUnconfirmed) || string(drops[0].msg.Data) != "a" || string(drops[1].msg.Data) != "b" {
		t.Errorf("want a and b dropped with ErrUnconfirmed; events: %s", r.summary())
	}
}

// With an application heartbeat, a pong confirms what was written before
// its ping: nothing is reported when the connection is lost afterwards.
func TestBrowserAppPongConfirmsDelivery(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff(), appHeartbeat())
	start(t, c)
	r.waitKind("open", 1, bwait)
	send(t, c, "a", "b")
	r.waitMessages(2, bwait)
	waitUntil(t, "a pong confirming a and b", bwait, func() bool { n, _, _ := c.unconfirmed.pending(); return n == 0 })
	srv.do("drop")
	r.waitKind("open", 2, bwait)
	if drops := r.of("drop"); len(drops) != 0 {
		t.Errorf("want no drop; events: %s", r.summary())
	}
}

// Without an application heartbeat the unconfirmed log is a window: writing
// never waits for a confirmation that cannot come, and what leaves the
// window is reported ErrUnconfirmed at once.
func TestBrowserUnconfirmedWindow(t *testing.T) {
	_, r, c := writeThroughAWindowOfTwo(t)
	drops := r.of("drop")
	if len(drops) != 2 || string(drops[0].msg.Data) != "m1" || string(drops[1].msg.Data) != "m2" || !errors.Is(drops[1].err, ErrUnconfirmed) {
		t.Errorf("want m1 and m2 reported ErrUnconfirmed as m3 and m4 were written; events: %s", r.summary())
	}
	if c.State() != StateOpen {
		t.Errorf("State = %s, want OPEN", c.State())
	}
}

// writeThroughAWindowOfTwo starts a client without an application
// heartbeat whose unconfirmed window holds two messages (the queue's
// limit), writes m1 to m4 one at a time, and waits for their echoes.
func writeThroughAWindowOfTwo(t *testing.T, opts ...Option) (*ctlSrv, *recorder, *Client) {
	t.Helper()
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, append([]Option{browserBackoff(), WithQueue(2, 1<<20, OverflowReject)}, opts...)...)
	start(t, c)
	r.waitKind("open", 1, bwait)
	for _, m := range []string{"m1", "m2", "m3", "m4"} {
		send(t, c, m)
		if err := c.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	r.waitMessages(4, bwait)
	return srv, r, c
}

// With WithResend and no application heartbeat, what leaves the window on
// the live connection is reported at once and never resent; what the
// window holds when the connection is lost is resent on the next one.
func TestBrowserResendOnlyALostConnectionsLeftovers(t *testing.T) {
	srv, r, c := writeThroughAWindowOfTwo(t, WithResend(3))
	srv.do("drop")
	r.waitKind("open", 2, bwait)
	got := texts(r.waitMessages(6, bwait))
	if !slices.Equal(got, []string{"m1", "m2", "m3", "m4", "m3", "m4"}) {
		t.Errorf("echoes %v, want m3 and m4 resent after m1..m4; events: %s", got, r.summary())
	}
	drops := r.of("drop")
	if len(drops) != 2 || string(drops[0].msg.Data) != "m1" || string(drops[1].msg.Data) != "m2" || drops[1].err != ErrUnconfirmed {
		t.Errorf("want m1 and m2 reported ErrUnconfirmed at once; events: %s", r.summary())
	}
	if st := c.Stats(); st.Resent != 2 {
		t.Errorf("Stats.Resent = %d, want 2", st.Resent)
	}
}

// A message over the read limit ends the connection (OnClose 1009), closed
// with 1000 "message too big", and the client reconnects.
func TestBrowserReadLimit(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff(), WithReadLimit(8))
	start(t, c)
	r.waitKind("open", 1, bwait)
	send(t, c, "0123456789abcdef")
	if e := r.waitKind("close", 1, bwait).close; e.Code != websocket.StatusMessageTooBig || !e.Reconnect {
		t.Errorf("OnClose = %+v, want 1009, reconnecting", e)
	}
	st := srv.waitState("connection 1's close frame", func(st serverState) bool { _, ok := st.end(1); return ok })
	if e, _ := st.end(1); e.Code != 1000 || e.Reason != "message too big" {
		t.Errorf("the server saw %+v, want 1000 \"message too big\"", e)
	}
	r.waitKind("open", 2, bwait)
}

func TestBrowserReconnectClosesWith1000(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff())
	start(t, c)
	r.waitKind("open", 1, bwait)
	if err := c.Reconnect(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 2, bwait)
	if e := r.waitKind("close", 1, bwait).close; e.Code != 1000 || !errors.Is(e.Err, ErrReconnectRequested) {
		t.Errorf("OnClose = %+v, want 1000, ErrReconnectRequested", e)
	}
	st := srv.waitState("connection 1's close frame", func(st serverState) bool { _, ok := st.end(1); return ok })
	if e, _ := st.end(1); e.Code != 1000 {
		t.Errorf("the server saw %+v, want 1000", e)
	}
}

// Close is bounded even when the server does not answer the close frame:
// Chromium would wait 60 s for it.
func TestBrowserCloseIsBoundedWhenTheServerStopsReading(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := r.newClient(srv.url, browserBackoff())
	start(t, c)
	r.waitKind("open", 1, bwait)
	srv.do("stopreading")
	begun := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(begun); took > closeHandshakeTimeout+500*time.Millisecond {
		t.Errorf("Close took %s, want about the close handshake bound (%s)", took, closeHandshakeTimeout)
	}
	srv.do("resumereading")
}
