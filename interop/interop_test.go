//go:build !js

package interop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws"
)

// roundTrip sends one message and waits for the peer's echo.
func roundTrip(t *testing.T, r *recorder, c *resilientws.Client, typ resilientws.MessageType, data []byte) {
	t.Helper()
	n := len(r.of("message"))
	if err := c.Send(context.Background(), typ, data); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := r.waitKind("message", n+1).msg
	if m.Type != typ || !bytes.Equal(m.Data, data) {
		t.Fatalf("echo: got %v %d bytes, want %v %d bytes", m.Type, len(m.Data), typ, len(data))
	}
}

// noErrors fails the test if the client reported an error.
func noErrors(t *testing.T, r *recorder) {
	t.Helper()
	if errs := r.of("error"); len(errs) > 0 {
		t.Fatalf("unexpected OnError: %v; events:\n%s", errs[0].err, r)
	}
}

func TestEchoTextAndBinary(t *testing.T) {
	forEachPeer(t, func(t *testing.T, p *peer) {
		r := newRecorder(t)
		c := r.startClient(p.URL())
		r.waitKind("open", 1)
		roundTrip(t, r, c, resilientws.Text, []byte("hello, wörld ✓"))
		bin := make([]byte, 256<<10)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range bin {
			bin[i] = byte(rng.Uint32())
		}
		roundTrip(t, r, c, resilientws.Binary, bin)
		roundTrip(t, r, c, resilientws.Binary, []byte{0})
		roundTrip(t, r, c, resilientws.Text, []byte(""))
		if s := p.control(t, "stats"); s.Messages != 4 || s.Accepted != 1 {
			t.Fatalf("the peer saw %d messages on %d connections, want 4 on 1", s.Messages, s.Accepted)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if cl := r.waitKind("close", 1).close; cl.Code != websocket.StatusNormalClosure || cl.Reconnect || cl.Err != nil {
			t.Fatalf("close event at Close: %+v", cl)
		}
		p.waitLive(t, 0) // the peer saw the close
		noErrors(t, r)
	})
}

func TestServerCloseCodes(t *testing.T) {
	cases := []struct {
		code      websocket.StatusCode
		reconnect bool
	}{
		{websocket.StatusNormalClosure, true},
		{websocket.StatusGoingAway, true},
		{websocket.StatusPolicyViolation, false},
		{websocket.StatusInternalError, true},
		{4000, true},
	}
	forEachPeer(t, func(t *testing.T, p *peer) {
		for _, tc := range cases {
			t.Run(fmt.Sprint(int(tc.code)), func(t *testing.T) {
				r := newRecorder(t)
				c := r.startClient(p.URL())
				r.waitKind("open", 1)
				roundTrip(t, r, c, resilientws.Text, []byte("before"))
				reason := fmt.Sprintf("bye %d", tc.code)
				p.control(t, fmt.Sprintf("close?code=%d&reason=%s", tc.code, url.QueryEscape(reason)))

				cl := r.waitKind("close", 1).close
				if cl.Code != tc.code || cl.Reason != reason || cl.Reconnect != tc.reconnect ||
					websocket.CloseStatus(cl.Err) != tc.code {
					t.Fatalf("close event %+v, want code %d reason %q reconnect %t", cl, tc.code, reason, tc.reconnect)
				}
				if tc.reconnect {
					r.waitKind("open", 2)
					roundTrip(t, r, c, resilientws.Text, []byte("after"))
				} else {
					select {
					case <-c.Done():
					case <-time.After(wait):
						t.Fatalf("the client did not stop after %d; events:\n%s", tc.code, r)
					}
					if got := websocket.CloseStatus(c.Err()); got != tc.code {
						t.Fatalf("Err() = %v (close status %d), want %d", c.Err(), got, tc.code)
					}
					if c.State() != resilientws.StateClosed || len(r.of("open")) != 1 {
						t.Fatalf("state %s, %d opens; events:\n%s", c.State(), len(r.of("open")), r)
					}
				}
				noErrors(t, r) // a clean close frame gives OnClose only
				_ = c.Close()
				p.waitLive(t, 0)
			})
		}
	})
}

func TestAbruptKills(t *testing.T) {
	for _, k := range []struct {
		how   string
		cause error
	}{
		{"rst", syscall.ECONNRESET},
		{"fin", io.EOF},
	} {
		t.Run(k.how, func(t *testing.T) {
			forEachPeer(t, func(t *testing.T, p *peer) {
				r := newRecorder(t)
				c := r.startClient(p.URL())
				r.waitKind("open", 1)
				roundTrip(t, r, c, resilientws.Text, []byte("before"))
				p.control(t, "kill?how="+k.how)

				e := r.waitKind("error", 1)
				cl := r.waitKind("close", 1)
				if !errors.Is(e.err, k.cause) {
					t.Errorf("OnError got %v, want an error wrapping %v", e.err, k.cause)
				}
				if cl.close.Code != websocket.StatusAbnormalClosure || !cl.close.Reconnect || !errors.Is(cl.close.Err, k.cause) {
					t.Errorf("close event %+v, want 1006 with reconnect, caused by %v", cl.close, k.cause)
				}
				if cl.at.Before(e.at) {
					t.Errorf("OnClose came before OnError")
				}
				r.waitKind("open", 2)
				roundTrip(t, r, c, resilientws.Text, []byte("after"))
			})
		})
	}
}

func TestRefusalWithRetryAfter(t *testing.T) {
	forEachPeer(t, func(t *testing.T, p *peer) {
		p.control(t, "refuse?status=503&retry_after=1")
		r := newRecorder(t)
		c := r.startClient(p.URL())

		e := r.waitKind("error", 1)
		var he *resilientws.HandshakeError
		if !errors.As(e.err, &he) || he.StatusCode != 503 || he.RetryAfter != time.Second {
			t.Fatalf("OnError got %v, want a HandshakeError 503 with RetryAfter 1s", e.err)
		}
		p.control(t, "accept")
		rec := r.waitKind("reconnecting", 1)
		if rec.rec.Delay < time.Second || !errors.As(rec.rec.Err, &he) {
			t.Fatalf("reconnecting event %+v, want a delay of at least Retry-After (1s)", rec.rec)
		}
		open := r.waitKind("open", 1)
		// The events are timed on the event goroutine, some time after the
		// supervisor's decisions: allow for that lag on a loaded machine.
		if gap := open.at.Sub(e.at); gap < 500*time.Millisecond {
			t.Fatalf("reconnected %s after the refusal, want about 1s", gap)
		}
		if n := len(r.of("error")); n != 1 || c.Stats().DialFailures != 1 {
			t.Fatalf("%d errors, %d failed dials: the client did not wait for Retry-After", n, c.Stats().DialFailures)
		}
		roundTrip(t, r, c, resilientws.Text, []byte("in"))
	})
}

func TestPeerThatStopsAnsweringPings(t *testing.T) {
	const (
		interval = 100 * time.Millisecond
		timeout  = 100 * time.Millisecond
		// slack covers the control request, and scheduling on a loaded
		// 2-core machine under -race; the measured time is logged.
		slack = 400 * time.Millisecond
	)
	forEachPeer(t, func(t *testing.T, p *peer) {
		r := newRecorder(t)
		c := r.startClient(p.URL(), resilientws.WithHeartbeat(interval, timeout))
		r.waitKind("open", 1)
		roundTrip(t, r, c, resilientws.Text, []byte("before"))

		start := time.Now()
		p.control(t, "pongs?on=0")
		e := r.waitKind("error", 1)
		if !errors.Is(e.err, resilientws.ErrHeartbeatTimeout) {
			t.Fatalf("OnError got %v, want ErrHeartbeatTimeout", e.err)
		}
		took := e.at.Sub(start)
		t.Logf("%s: dead peer detected in %s (interval %s + timeout %s)", p.name, took, interval, timeout)
		if took > interval+timeout+slack {
			t.Errorf("detection took %s, want at most interval+timeout (%s) plus %s", took, interval+timeout, slack)
		}
		p.control(t, "pongs?on=1")
		cl := r.waitKind("close", 1).close
		if cl.Code != websocket.StatusAbnormalClosure || !cl.Reconnect || !errors.Is(cl.Err, resilientws.ErrHeartbeatTimeout) {
			t.Fatalf("close event %+v, want 1006 with reconnect, caused by ErrHeartbeatTimeout", cl)
		}
		r.waitKind("open", 2)
		roundTrip(t, r, c, resilientws.Text, []byte("after"))
	})
}

func TestServerPingsAnsweredWhileIdle(t *testing.T) {
	forEachPeer(t, func(t *testing.T, p *peer) {
		r := newRecorder(t)
		c := r.startClient(p.URL(), resilientws.WithHeartbeat(0, 0)) // no traffic from the client at all
		r.waitKind("open", 1)
		p.waitLive(t, 1)
		p.control(t, "ping?every_ms=20")
		s := p.control(t, fmt.Sprintf("wait?pongs=10&timeout_ms=%d", wait.Milliseconds()))
		p.control(t, "ping?every_ms=0")
		if s.PongsReceived < 10 {
			t.Fatalf("the peer got %d pongs, want 10", s.PongsReceived)
		}
		if st := c.Stats(); st.Connects != 1 || st.MessagesSent != 0 || c.State() != resilientws.StateOpen {
			t.Fatalf("stats %+v, state %s: want one idle connection, still open", st, c.State())
		}
		noErrors(t, r)
	})
}
