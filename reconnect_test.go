package resilientws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
		{"200", &HandshakeError{StatusCode: 200}, true},
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
		d, err := r.next(io.EOF)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
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
	if d, _ := r.next(io.EOF); d > DefaultBackoffInitial*3/2 {
		t.Fatalf("after reset the delay is %s", d)
	}
}

type fakeClock struct{ t time.Time }

func (c fakeClock) Now() time.Time { return c.t }

func TestReconnectDelayFloors(t *testing.T) {
	r := newReconnector(backoff.NewConstantBackOff(time.Millisecond))
	cases := []struct {
		cause error
		want  time.Duration
	}{
		{io.EOF, time.Millisecond},
		{closeErr(websocket.StatusTryAgainLater), TryAgainLaterDelay},
		{&HandshakeError{StatusCode: 503, RetryAfter: 7 * time.Second}, 7 * time.Second},
		{&HandshakeError{StatusCode: 429}, time.Millisecond},
	}
	for _, tc := range cases {
		if d, err := r.next(tc.cause); err != nil || d != tc.want {
			t.Errorf("next(%v) = %s, %v; want %s", tc.cause, d, err, tc.want)
		}
	}
	stop := newReconnector(&backoff.StopBackOff{})
	if _, err := stop.next(io.EOF); !errors.Is(err, ErrBackoffStopped) {
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
	c := r.newClient(srv.URL(), fastBackoff())
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
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
			c := r.newClient(srv.URL(), fastBackoff())
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
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

func TestReconnectFlappingServerCannotCauseATightLoop(t *testing.T) {
	srv := newServer(t)
	srv.SetHandler(func(context.Context, *resilientwstest.Conn) {}) // accept, then drop at once
	r := newRecorder(t)
	c := r.newClient(srv.URL(), WithBackoff(func() backoff.BackOff {
		return backoff.NewExponentialBackOff(backoff.WithInitialInterval(10*time.Millisecond),
			backoff.WithRandomizationFactor(0), backoff.WithMultiplier(2), backoff.WithMaxElapsedTime(0))
	}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("reconnecting", 5, wait)
	c.Close()
	var delays []time.Duration
	for _, e := range r.of("reconnecting")[:5] {
		if e.rec.Attempt != 1 {
			t.Fatalf("attempt %d after an open, want 1", e.rec.Attempt)
		}
		delays = append(delays, e.rec.Delay)
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("delays %v, want %v: the backoff was reset by connections that did not last", delays, want)
		}
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
		if e.rec.Delay != 10*time.Millisecond {
			t.Fatalf("delay %s after a connection that counted as stable, want the initial 10ms", e.rec.Delay)
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
	c := r.newClient(srv.URL(), WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
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
