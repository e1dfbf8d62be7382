//go:build !js

package resilientws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
)

// appPingServer answers {"request":"ping"} with {"response":"pong"} while
// answering is on, and echoes everything else.
func appPingServer(t *testing.T, answering *atomic.Bool) *testServer {
	srv := newTestServer(t)
	srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if string(data) == `{"request":"ping"}` {
				if answering.Load() {
					c.Write(ctx, websocket.MessageText, []byte(`{"response":"pong"}`))
				}
				continue
			}
			srv.record(Message{Type: typ, Data: data})
			c.Write(ctx, typ, data)
		}
	})
	return srv
}

func isAppPong(m Message) bool { return string(m.Data) == `{"response":"pong"}` }

var appPing = Message{Type: Text, Data: []byte(`{"request":"ping"}`)}

func TestAppHeartbeatFiltersPongsAndDetectsSilence(t *testing.T) {
	var answering atomic.Bool
	answering.Store(true)
	srv := appPingServer(t, &answering)
	r := newRecorder(t)
	const interval, timeout = 20 * time.Millisecond, 40 * time.Millisecond
	c := r.newClient(srv.URL(), fastBackoff(), WithAppHeartbeat(interval, timeout, appPing, isAppPong))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	waitUntil(t, "an app pong", wait, func() bool { return c.Stats().LastRTT > 0 })
	c.SendText(context.Background(), "data")
	r.waitMessages(1, wait)
	for _, m := range r.of("message") {
		if isAppPong(m.msg) {
			t.Fatal("an app pong reached OnMessage")
		}
	}
	answering.Store(false)
	start := time.Now()
	e := r.wait("a heartbeat timeout", wait, func(e rec) bool { return e.kind == "error" && errors.Is(e.err, ErrHeartbeatTimeout) })
	if d := e.at.Sub(start); d > 20*(interval+timeout) {
		t.Fatalf("silence detected after %s, bound %s", d, interval+timeout)
	}
	if cl := r.waitKind("close", 1, wait).close; cl.Code != websocket.StatusAbnormalClosure || !cl.Reconnect {
		t.Fatalf("close event %+v", cl)
	}
	answering.Store(true)
	r.waitKind("open", 2, wait)
}

func TestAppHeartbeatSlowHandlerIsNotADeadPeer(t *testing.T) {
	var answering atomic.Bool
	answering.Store(true)
	srv := appPingServer(t, &answering)
	const burst = 3 * maxPendingMessages
	srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
		go func() {
			for i := range burst {
				if c.Write(ctx, websocket.MessageText, []byte(strconv.Itoa(i))) != nil {
					return
				}
			}
		}()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if string(data) == `{"request":"ping"}` {
				c.Write(ctx, websocket.MessageText, []byte(`{"response":"pong"}`))
			}
		}
	})
	slowHandlerSurvives(t, srv.URL(), burst, WithAppHeartbeat(10*time.Millisecond, 20*time.Millisecond, appPing, isAppPong))
}

func TestAnyMessageAsPong(t *testing.T) {
	srv := newTestServer(t)
	p := newFaultProxy(t, srv.Addr())
	srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
		// A busy feed that never answers the app ping.
		for i := 0; ; i++ {
			if c.Write(ctx, websocket.MessageText, []byte(strconv.Itoa(i))) != nil {
				return
			}
			t := time.NewTimer(2 * time.Millisecond) // the feed's pace, not synchronisation
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	})
	r := newRecorder(t)
	c := r.newClient(p.URL("/"), fastBackoff(), WithAnyMessageAsPong(),
		WithAppHeartbeat(10*time.Millisecond, 20*time.Millisecond, appPing, isAppPong))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitMessages(100, wait)
	if errs := r.of("error"); len(errs) != 0 {
		t.Fatalf("a busy feed was taken for a dead one: %v", errs)
	}
	p.Blackhole() // now the feed goes silent too
	r.wait("a heartbeat timeout", wait, func(e rec) bool { return e.kind == "error" && errors.Is(e.err, ErrHeartbeatTimeout) })
	p.Pass()
}

func TestDialHookFreshHeadersAndEndpoints(t *testing.T) {
	good := newTestServer(t)
	var auth []string
	good.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
		if n == 1 {
			return // drop the first connection: the second dial must carry a fresh token
		}
		good.echo(ctx, c)
	})
	bad := newTestServer(t)
	bad.Refuse(http.StatusServiceUnavailable, "")
	var attempts []int
	hook := func(ctx context.Context, attempt int) (string, http.Header, error) {
		attempts = append(attempts, attempt)
		if len(attempts) == 1 {
			return "", nil, errors.New("token service down")
		}
		if len(attempts) == 2 {
			return bad.URL(), nil, nil // a dead endpoint: rotate to the next
		}
		tok := "token-" + strconv.Itoa(len(attempts))
		auth = append(auth, tok)
		return good.URL(), http.Header{"Authorization": {tok}}, nil
	}
	r := newRecorder(t)
	c := r.newClient("ws://127.0.0.1:1/unused", fastBackoff(), WithDialHook(hook))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 2, wait)
	c.Close()
	errs := r.of("error")
	if len(errs) < 2 || !bytes.Contains([]byte(errs[0].err.Error()), []byte("dial hook: token service down")) {
		t.Fatalf("errors %v", errs)
	}
	var he *HandshakeError
	if !errors.As(errs[1].err, &he) || he.StatusCode != 503 {
		t.Fatalf("second error %v, want the 503 of the dead endpoint", errs[1].err)
	}
	if want := []int{0, 1, 2, 1}; fmt.Sprint(attempts) != fmt.Sprint(want) {
		t.Fatalf("hook attempts %v, want %v", attempts, want)
	}
	if fmt.Sprint(auth) != "[token-3 token-4]" {
		t.Fatalf("tokens %v", auth)
	}
}

func TestReconnectReplacesALiveConnectionAndCutsAWait(t *testing.T) {
	srv := newTestServer(t)
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
	srv.WaitFor("connection 2 registered", wait, func(s *testServer) bool { return s.accepted == 2 && len(s.conns) == 1 })
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

func TestSendTTLAndWithoutQueue(t *testing.T) {
	srv := newTestServer(t)
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	if err := c.SendText(context.Background(), "now or never", WithoutQueue()); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("WithoutQueue before Start = %v", err)
	}
	if err := c.SendText(context.Background(), "stale", WithTTL(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendText(context.Background(), "fresh", WithTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendText(context.Background(), "x", WithTTL(-1)); err == nil {
		t.Fatal("a negative TTL was accepted")
	}
	if err := c.SendText(context.Background(), "x", nil); err == nil {
		t.Fatal("a nil send option was accepted")
	}
	expiry := time.Now().Add(time.Millisecond)
	waitUntil(t, "the TTL to pass", wait, func() bool { return time.Now().After(expiry) })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := serverText(srv.WaitReceived(1, wait)); !equal(got, []string{"fresh"}) {
		t.Fatalf("server got %v", got)
	}
	d := r.waitKind("drop", 1, wait)
	if string(d.msg.Data) != "stale" || !errors.Is(d.err, ErrExpired) {
		t.Fatalf("drop %v", d)
	}
	if err := c.SendText(context.Background(), "live", WithoutQueue()); err != nil {
		t.Fatalf("WithoutQueue while OPEN = %v", err)
	}
	srv.WaitReceived(2, wait)
	if st := c.Stats(); st.DroppedExpired != 1 || st.Dropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

type tick struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
}

func TestJSON(t *testing.T) {
	srv := newTestServer(t)
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

func TestStatsUptimeAndSmoothedRTT(t *testing.T) {
	srv := newTestServer(t)
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(5*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st := c.Stats(); st.Uptime != 0 || st.State != StateConnecting {
		t.Fatalf("stats before Start %+v", st)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "RTT samples", wait, func() bool { return c.Stats().SmoothedRTT > 0 && c.Stats().Uptime > 0 })
	c.Close()
	if st := c.Stats(); st.Uptime != 0 || st.State != StateClosed {
		t.Fatalf("stats after Close %+v", st)
	}
}

func TestTTLExpiresWhileNothingIsWritten(t *testing.T) {
	r := newRecorder(t)
	c := r.newClient("ws://127.0.0.1:1/", fastBackoff())
	if err := c.SendText(context.Background(), "soon stale", WithTTL(20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendText(context.Background(), "kept"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// Flush covers both: it ends on the ctx, but the TTL drop happens first.
	if err := c.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush = %v", err)
	}
	if st := c.Stats(); st.Queued != 1 || st.BufferedAmount != 4 || st.DroppedExpired != 1 {
		t.Fatalf("stats %+v: the expired message still counts", st)
	}
	if err := c.Close(); err == nil || !strings.Contains(err.Error(), "1 queued message(s) abandoned") {
		t.Fatalf("Close = %v", err)
	}
	var reasons []string
	for _, d := range r.of("drop") {
		reasons = append(reasons, string(d.msg.Data)+":"+map[bool]string{true: "expired", false: "closed"}[errors.Is(d.err, ErrExpired)])
	}
	if fmt.Sprint(reasons) != "[soon stale:expired kept:closed]" {
		t.Fatalf("drops %v", reasons)
	}
}

func TestFlushReportsAnExpiredMessage(t *testing.T) {
	c, err := New("ws://127.0.0.1:1/", fastBackoff())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SendText(context.Background(), "x", WithTTL(10*time.Millisecond))
	if err := c.Flush(context.Background()); !errors.Is(err, ErrExpired) {
		t.Fatalf("Flush = %v, want the expiry reported", err)
	}
}
