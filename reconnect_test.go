//go:build !js

package resilientws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

func closeErr(code websocket.StatusCode) error {
	return fmt.Errorf("wrapped: %w", websocket.CloseError{Code: code, Reason: "r"})
}

func TestReconnectDefaultPolicy(t *testing.T) {
	cases := []struct {
		name  string
		cause error
		want  bool
	}{
		{"EOF", io.EOF, true},
		{"reset", syscall.ECONNRESET, true},
		{"refused", syscall.ECONNREFUSED, true},
		{"heartbeat", ErrHeartbeatTimeout, true},
		{"write timeout", ErrWriteTimeout, true},
		{"local too big", fmt.Errorf("x: %w", websocket.ErrMessageTooBig), true},
		{"400", &HandshakeError{StatusCode: 400}, false},
		{"401", &HandshakeError{StatusCode: 401}, false},
		{"403", &HandshakeError{StatusCode: 403}, false},
		{"404", &HandshakeError{StatusCode: 404}, false},
		{"408", &HandshakeError{StatusCode: 408}, true},
		{"429", &HandshakeError{StatusCode: 429}, true},
		{"200", &HandshakeError{StatusCode: 200}, false},
		{"204", &HandshakeError{StatusCode: 204}, false},
		{"301", &HandshakeError{StatusCode: 301}, false},
		{"304", &HandshakeError{StatusCode: 304}, false},
		{"500", &HandshakeError{StatusCode: 500}, true},
		{"503", &HandshakeError{StatusCode: 503}, true},
	}
	for _, code := range []websocket.StatusCode{1000, 1001, 1005, 1006, 1011, 1012, 1013, 4000, 4500, 4999} {
		cases = append(cases, struct {
			name  string
			cause error
			want  bool
		}{fmt.Sprint(int(code)), closeErr(code), true})
	}
	for _, code := range []websocket.StatusCode{1002, 1003, 1007, 1008, 1009, 1010} {
		cases = append(cases, struct {
			name  string
			cause error
			want  bool
		}{fmt.Sprint(int(code)), closeErr(code), false})
	}
	for _, tc := range cases {
		if got := DefaultReconnectPolicy(tc.cause); got != tc.want {
			t.Errorf("%s: DefaultReconnectPolicy = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestReconnectDefaultBackoffNeverStopsAndStaysUnderTheCap(t *testing.T) {
	r := newReconnector(DefaultBackoff())
	var first time.Duration
	for i := range 10000 {
		d, src, err := r.next(io.EOF)
		if err != nil || src != DelayBackoff || r.drawn != i+1 {
			t.Fatalf("call %d: %v from %s, %d drawn", i, err, src, r.drawn)
		}
		if i == 0 {
			first = d
		}
		if d <= 0 || d > DefaultBackoffMax {
			t.Fatalf("call %d: delay %s outside (0, %s]", i, d, DefaultBackoffMax)
		}
	}
	if first < DefaultBackoffInitial/2 || first > DefaultBackoffInitial*3/2 {
		t.Fatalf("first delay %s, want 1s ±50%%", first)
	}
	// Elapsed time is not what stops backoff/v4's default: check that ours
	// survives a long outage too, with a clock 20 minutes ahead.
	eb := DefaultBackoff().(*backoff.ExponentialBackOff)
	eb.Clock = fakeClock{time.Now().Add(20 * time.Minute)}
	if eb.NextBackOff() == backoff.Stop {
		t.Fatal("default backoff gives up after a long outage")
	}
	r.reset()
	if d, _, _ := r.next(io.EOF); d > DefaultBackoffInitial*3/2 || r.drawn != 1 {
		t.Fatalf("after reset the delay is %s, %d drawn", d, r.drawn)
	}
}

type fakeClock struct{ t time.Time }

func (c fakeClock) Now() time.Time { return c.t }

func TestReconnectDelayFloors(t *testing.T) {
	r := newReconnector(backoff.NewConstantBackOff(time.Millisecond))
	cases := []struct {
		cause error
		want  time.Duration
		src   DelaySource
	}{
		{io.EOF, time.Millisecond, DelayBackoff},
		{closeErr(websocket.StatusTryAgainLater), TryAgainLaterDelay, DelayTryAgainLater},
		{&HandshakeError{StatusCode: 503, RetryAfter: 7 * time.Second}, 7 * time.Second, DelayRetryAfter},
		{&HandshakeError{StatusCode: 429}, time.Millisecond, DelayBackoff},
	}
	for _, tc := range cases {
		if d, src, err := r.next(tc.cause); err != nil || d != tc.want || src != tc.src {
			t.Errorf("next(%v) = %s from %s, %v; want %s from %s", tc.cause, d, src, err, tc.want, tc.src)
		}
	}
	// A floor shorter than the backoff's delay does not set it.
	long := newReconnector(backoff.NewConstantBackOff(time.Minute))
	if d, src, _ := long.next(closeErr(websocket.StatusTryAgainLater)); d != time.Minute || src != DelayBackoff {
		t.Errorf("1013 after a 1m backoff delay: %s from %s", d, src)
	}
	stop := newReconnector(&backoff.StopBackOff{})
	if _, _, err := stop.next(io.EOF); !errors.Is(err, ErrBackoffStopped) {
		t.Fatalf("StopBackOff: %v", err)
	}
}

func TestReconnectParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-5":                            0,
		"7":                             7 * time.Second,
		" 30 ":                          30 * time.Second,
		"abc":                           0,
		"99999999999999999999":          0,
		"99999999":                      maxRetryAfter,
		"Thu, 01 Jan 2026 12:00:10 GMT": 10 * time.Second,
		"Thu, 01 Jan 2026 11:00:00 GMT": 0,
		"Fri, 02 Jan 2026 12:00:00 GMT": maxRetryAfter,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestReconnectRetryAfterSetsTheLeastWait(t *testing.T) {
	srv := newServer(t)
	srv.Refuse(http.StatusServiceUnavailable, "1")
	r := newRecorder(t)
	r.startClient(srv.URL(), fastBackoff())
	e := r.waitKind("error", 1, wait)
	var he *HandshakeError
	if !errors.As(e.err, &he) || he.StatusCode != 503 || he.RetryAfter != time.Second {
		t.Fatalf("error %v, want 503 with RetryAfter 1s", e.err)
	}
	srv.Accept()
	rc := r.waitKind("reconnecting", 1, wait)
	if rc.rec.Delay != time.Second || rc.rec.Attempt != 1 || rc.at.Sub(e.at) < 900*time.Millisecond {
		t.Fatalf("reconnecting %+v after %s, want a 1s wait", rc.rec, rc.at.Sub(e.at))
	}
	r.waitKind("open", 1, wait)
}

func TestReconnectOnServerCloseCodes(t *testing.T) {
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
			srv := newServer(t)
			srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
				if c.Number() == 1 {
					c.Close(tc.code, "bye")
					return
				}
				c.Echo(ctx)
			})
			r := newRecorder(t)
			c := r.startClient(srv.URL(), fastBackoff())
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

// TestReconnectPolicyNeverSeesTheUsersClose checks that the reconnect policy is asked
// about a lost connection, and not about the user's own Close.
func TestReconnectPolicyNeverSeesTheUsersClose(t *testing.T) {
	srv := newServer(t)
	var mu sync.Mutex
	var asked []error
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(), WithReconnectPolicy(func(cause error) bool {
		mu.Lock()
		asked = append(asked, cause)
		mu.Unlock()
		return true
	}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	srv.DropAll()
	r.waitKind("open", 2, wait)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 {
		t.Fatalf("the policy was asked %d times (%v), want once, for the drop", len(asked), asked)
	}
}

type panickyBackoff struct{}

func (panickyBackoff) NextBackOff() time.Duration { panic("backoff boom") }
func (panickyBackoff) Reset()                     {}

func TestReconnectPanickingPolicyAndBackoffAreReported(t *testing.T) {
	srv := newServer(t)
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

// logBuffer collects a client's log lines; the supervisor writes, the test
// reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// The backoff keeps growing across connections that do not last
// WithStableAfter, while Attempt starts over at each open: the events and
// the logs say so.
func TestReconnectFlappingServerCannotCauseATightLoop(t *testing.T) {
	srv := newServer(t)
	srv.SetHandler(func(context.Context, *resilientwstest.Conn) {}) // accept, then drop at once
	r := newRecorder(t)
	var logs logBuffer
	c := r.newClient(srv.URL(), WithLogger(logs.logger()), WithBackoff(func() backoff.BackOff {
		return backoff.NewExponentialBackOff(backoff.WithInitialInterval(10*time.Millisecond),
			backoff.WithRandomizationFactor(0), backoff.WithMultiplier(2), backoff.WithMaxElapsedTime(0))
	}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("reconnecting", 5, wait)
	c.Close()
	var delays []time.Duration
	for i, e := range r.of("reconnecting")[:5] {
		if e.rec.Attempt != 1 || e.rec.BackoffAttempt != i+1 || e.rec.DelaySource != DelayBackoff {
			t.Fatalf("reconnecting %+v after an open, want attempt 1, backoff attempt %d, from the backoff", e.rec, i+1)
		}
		delays = append(delays, e.rec.Delay)
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("delays %v, want %v: the backoff was reset by connections that did not last", delays, want)
		}
	}
	for _, e := range r.of("close") {
		if e.close.Uptime <= 0 || e.close.Uptime >= DefaultStableAfter {
			t.Fatalf("close %+v: want an uptime under the stable-after time", e.close)
		}
	}
	if want := "backoff attempt 5, not reset: the last connection lived "; !strings.Contains(logs.String(), want) ||
		!strings.Contains(logs.String(), " < 10s stable-after)") {
		t.Fatalf("the logs do not say why the delay grows (%q):\n%s", want, logs.String())
	}
}

func TestReconnectBackoffResetAfterAStableConnection(t *testing.T) {
	srv := newServer(t)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		if c.Number() <= 3 {
			return // drop at once
		}
		c.Echo(ctx)
	})
	r := newRecorder(t)
	c := r.newClient(srv.URL(), WithStableAfter(0), WithBackoff(func() backoff.BackOff {
		return backoff.NewExponentialBackOff(backoff.WithInitialInterval(10*time.Millisecond),
			backoff.WithRandomizationFactor(0), backoff.WithMultiplier(2), backoff.WithMaxElapsedTime(0))
	}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 4, wait)
	for _, e := range r.of("reconnecting") {
		if e.rec.Delay != 10*time.Millisecond || e.rec.BackoffAttempt != 1 || e.rec.Attempt != 1 {
			t.Fatalf("reconnecting %+v after a connection that counted as stable, want the initial 10ms, attempt 1, backoff attempt 1", e.rec)
		}
	}
}

func TestReconnectBackoffStopEndsTheClient(t *testing.T) {
	srv := newServer(t)
	srv.Refuse(http.StatusServiceUnavailable, "")
	r := newRecorder(t)
	c := r.newClient(srv.URL(), WithBackoff(func() backoff.BackOff { return backoff.WithMaxRetries(backoff.NewConstantBackOff(time.Millisecond), 2) }))
	if err := c.Run(context.Background()); !errors.Is(err, ErrBackoffStopped) {
		t.Fatalf("Run = %v, want ErrBackoffStopped", err)
	}
	var he *HandshakeError
	if !errors.Is(c.Err(), ErrBackoffStopped) || !errors.As(c.Err(), &he) {
		t.Fatalf("Err() = %v, want ErrBackoffStopped carrying the last cause", c.Err())
	}
	if rs := r.of("reconnecting"); len(rs) != 2 || rs[0].rec.Attempt != 1 || rs[1].rec.Attempt != 2 {
		t.Fatalf("reconnecting events %v, want attempts 1 and 2", rs)
	}
}

func TestReconnectReplacesALiveConnectionAndCutsAWait(t *testing.T) {
	srv := newServer(t)
	r := newRecorder(t)
	c := r.startClient(srv.URL(), WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }))
	r.waitKind("open", 1, wait)
	if err := c.Reconnect(); err != nil {
		t.Fatal(err)
	}
	cl := r.waitKind("close", 1, wait).close
	if cl.Code != websocket.StatusNormalClosure || !cl.Reconnect || !errors.Is(cl.Err, ErrReconnectRequested) {
		t.Fatalf("close event %+v", cl)
	}
	rc := r.waitKind("reconnecting", 1, wait).rec
	if rc.Delay != 0 || !errors.Is(rc.Err, ErrReconnectRequested) {
		t.Fatalf("reconnecting %+v, want no delay", rc)
	}
	r.waitKind("open", 2, wait)
	if len(r.of("error")) != 0 {
		t.Fatalf("a requested reconnect was reported as an error: %v", r.of("error"))
	}

	// Cut an hour-long backoff wait short.
	srv.DropAll()
	r.waitKind("close", 2, wait)
	if err := c.Reconnect(); err != nil {
		t.Fatal(err)
	}
	if rc := r.waitKind("reconnecting", 2, wait).rec; rc.Delay >= time.Hour {
		t.Fatalf("reconnecting %+v: the wait was not cut short", rc)
	}
	r.waitKind("open", 3, wait)
	c.Close()
	if err := c.Reconnect(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reconnect after Close = %v", err)
	}
}

// reconnectOnMessage starts a recorded client on url whose OnMessage, after
// recording, calls Reconnect for the messages when accepts (all if nil),
// then runs after (if not nil).
func reconnectOnMessage(r *recorder, url string, when func(Message) bool, after func()) *Client {
	var c *Client
	c = r.newClient(url, fastBackoff(), OnMessage(func(m Message) {
		r.add(rec{kind: "message", msg: m})
		if when != nil && !when(m) {
			return
		}
		if err := c.Reconnect(); err != nil {
			r.add(rec{kind: "error", err: fmt.Errorf("Reconnect: %w", err)})
		}
		if after != nil {
			after()
		}
	}))
	return c
}

// A Reconnect that meets the server's stopping close must not hide it: the
// server sends a message and closes with 1008 at once, and OnMessage of that
// message calls Reconnect, so the request and the close reach the supervisor
// together (in either order, hence the rounds). The stop wins: Err carries
// the 1008 and there is no second dial.
func TestReconnectDoesNotHideAStoppingClose(t *testing.T) {
	for round := range 20 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			srv := newServer(t)
			srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
				if c.Write(ctx, Text, []byte("bye")) == nil {
					c.Close(websocket.StatusPolicyViolation, "banned")
				}
			})
			r := newRecorder(t)
			c := reconnectOnMessage(r, srv.URL(), nil, nil)
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			end := r.wait("the final close or a reconnect", wait, func(e rec) bool {
				return e.kind == "reconnecting" || e.kind == "close" && !e.close.Reconnect
			})
			if end.kind == "reconnecting" {
				t.Fatalf("the client reconnected after the server's 1008: %s", r.summary())
			}
			if end.close.Code != websocket.StatusPolicyViolation {
				t.Fatalf("final close %+v, want the server's 1008", end.close)
			}
			<-c.Done()
			if websocket.CloseStatus(c.Err()) != websocket.StatusPolicyViolation || srv.Accepted() != 1 {
				t.Fatalf("Err() = %v after %d connection(s), want the 1008 after one", c.Err(), srv.Accepted())
			}
		})
	}
}

// The same, when our close handshake reads the server's close frame instead
// of the reader: OnMessage blocks, the backlog fills, and the reader waits
// for room while Reconnect's close reads the frames behind it.
func TestReconnectDoesNotHideAStoppingCloseBehindABacklog(t *testing.T) {
	serverDone := make(chan struct{})
	srv := newServer(t)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		if c.Number() > 1 {
			return
		}
		defer close(serverDone)
		for i := range maxPendingMessages + 10 {
			if c.Write(ctx, Text, []byte(fmt.Sprint(i))) != nil {
				return
			}
		}
		c.Close(websocket.StatusPolicyViolation, "banned") // returns once our close came
	})
	r := newRecorder(t)
	c := reconnectOnMessage(r, srv.URL(), func(m Message) bool { return string(m.Data) == "0" }, func() {
		select {
		case <-serverDone:
		case <-time.After(wait):
			r.add(rec{kind: "error", err: errors.New("the server's close never finished")})
		}
	})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	end := r.wait("the final close or a reconnect", wait, func(e rec) bool {
		return e.kind == "reconnecting" || e.kind == "close" && !e.close.Reconnect
	})
	if end.kind == "reconnecting" {
		t.Fatalf("the client reconnected after the server's 1008: %s", r.summary())
	}
	<-c.Done()
	if websocket.CloseStatus(c.Err()) != websocket.StatusPolicyViolation || srv.Accepted() != 1 {
		t.Fatalf("Err() = %v after %d connection(s), want the 1008 after one; events: %s", c.Err(), srv.Accepted(), r.summary())
	}
}

// The same race with a close the policy retries: the server's close is
// reported (whichever came first), and the Reconnect still cuts the wait
// its 1013 asks for.
func TestReconnectMeetingARetriedCloseStillDialsAtOnce(t *testing.T) {
	for round := range 10 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			srv := newServer(t)
			srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
				if c.Number() > 1 {
					c.Echo(ctx)
				} else if c.Write(ctx, Text, []byte("bye")) == nil {
					c.Close(websocket.StatusTryAgainLater, "busy")
				}
			})
			r := newRecorder(t)
			c := reconnectOnMessage(r, srv.URL(), nil, nil)
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			e := r.waitKind("reconnecting", 1, wait).rec
			cl := r.waitKind("close", 1, wait).close
			if e.Delay >= TryAgainLaterDelay || e.DelaySource != DelayNone || cl.Code != websocket.StatusTryAgainLater {
				t.Fatalf("close %+v then reconnecting %+v: want the 1013, then a wait cut short", cl, e)
			}
			r.waitKind("open", 2, wait)
		})
	}
}

// OnBackoff announces each wait with what set it, as the logs do: the
// Retry-After or the 1013 floor when longer than the backoff's delay, the
// backoff otherwise, nothing for a Reconnect.
func TestReconnectEventSaysWhatSetTheDelay(t *testing.T) {
	closeWith := func(code websocket.StatusCode) func(*resilientwstest.Server) {
		return func(srv *resilientwstest.Server) {
			srv.SetHandler(func(_ context.Context, c *resilientwstest.Conn) { c.Close(code, "") })
		}
	}
	refuse := func(srv *resilientwstest.Server) { srv.Refuse(http.StatusServiceUnavailable, "1") }
	constant := func(d time.Duration) Option {
		return WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(d) })
	}
	cases := []struct {
		name    string
		server  func(*resilientwstest.Server)
		backoff Option
		delay   time.Duration
		src     DelaySource
		drawn   int
		words   string // in the log line
	}{
		{"retry-after", refuse, fastBackoff(), time.Second, DelayRetryAfter, 1, `set_by="the server's Retry-After"`},
		{"backoff over retry-after", refuse, constant(2 * time.Second), 2 * time.Second, DelayBackoff, 1, `set_by="the backoff"`},
		{"1013", closeWith(websocket.StatusTryAgainLater), fastBackoff(), TryAgainLaterDelay, DelayTryAgainLater, 1,
			`set_by="the server's 1013 (try again later) close"`},
		{"backoff", closeWith(websocket.StatusGoingAway), constant(time.Hour), time.Hour, DelayBackoff, 1, `set_by="the backoff"`},
		{"reconnect", func(*resilientwstest.Server) {}, fastBackoff(), 0, DelayNone, 0, `set_by="Reconnect was called"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			tc.server(srv)
			r := newRecorder(t)
			var logs logBuffer
			c := r.startClient(srv.URL(), tc.backoff, WithLogger(logs.logger()))
			if tc.src == DelayNone {
				r.waitKind("open", 1, wait)
				if err := c.Reconnect(); err != nil {
					t.Fatal(err)
				}
			}
			e := r.waitKind("backoff", 1, wait).rec
			c.Close() // no need to wait it out
			if e.Attempt != 1 || e.BackoffAttempt != tc.drawn || e.Delay != tc.delay || e.DelaySource != tc.src || e.Err == nil {
				t.Fatalf("OnBackoff %+v, want attempt 1, backoff attempt %d, %s from %s", e, tc.drawn, tc.delay, tc.src)
			}
			if !strings.Contains(logs.String(), tc.words) {
				t.Fatalf("the logs lack %s:\n%s", tc.words, logs.String())
			}
		})
	}
}

// OnBackoff announces the wait as it starts; a Reconnect during it cuts it
// short, and OnReconnecting then tells the wait that happened.
func TestOnBackoffThenReconnectCutsTheWait(t *testing.T) {
	srv := newServer(t)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		if c.Number() == 1 {
			c.Close(websocket.StatusTryAgainLater, "busy")
			return
		}
		c.Echo(ctx)
	})
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff())
	announced := r.waitKind("backoff", 1, wait)
	if e := announced.rec; e.Delay != TryAgainLaterDelay || e.DelaySource != DelayTryAgainLater ||
		websocket.CloseStatus(e.Err) != websocket.StatusTryAgainLater {
		t.Fatalf("OnBackoff %+v, want the 1013's %s", e, TryAgainLaterDelay)
	}
	// Let some of the wait pass, so that the wait reported can be checked.
	const before = 50 * time.Millisecond
	<-time.After(before)
	if err := c.Reconnect(); err != nil {
		t.Fatal(err)
	}
	done := r.waitKind("reconnecting", 1, wait)
	e := done.rec
	if e.DelaySource != DelayNone || e.Attempt != 1 || e.BackoffAttempt != 1 || websocket.CloseStatus(e.Err) != websocket.StatusTryAgainLater {
		t.Fatalf("OnReconnecting %+v, want attempt 1 cut short by Reconnect", e)
	}
	// The wait ended before OnReconnecting ran; it started about when
	// OnBackoff ran (a little before: the event goroutine may have to start).
	if e.Delay < before || e.Delay > done.at.Sub(announced.at)+25*time.Millisecond {
		t.Fatalf("OnReconnecting says %s; the Reconnect came %s or more after OnBackoff, OnReconnecting %s after it",
			e.Delay, before, done.at.Sub(announced.at))
	}
	r.waitKind("open", 2, wait)
}

// DelaySource names itself, in text and in JSON, as State does.
func TestReconnectDelaySourceNames(t *testing.T) {
	for s, want := range map[DelaySource]string{DelayNone: "none", DelayBackoff: "backoff", DelayRetryAfter: "retry-after", DelayTryAgainLater: "try-again-later", 9: "DelaySource(9)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
	b, err := json.Marshal(ReconnectEvent{Attempt: 1, DelaySource: DelayRetryAfter})
	if err != nil || !strings.Contains(string(b), `"DelaySource":"retry-after"`) {
		t.Fatalf("json.Marshal = %s, %v", b, err)
	}
}
