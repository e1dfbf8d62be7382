//go:build !js

package resilientws

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
)

func TestOptionsNewRejectsBadInput(t *testing.T) {
	const ok = "ws://127.0.0.1:1/feed"
	var nilOpt Option
	var typedNil optionFunc
	cases := []struct {
		name string
		url  string
		opts []Option
		want string // a piece of the error message
	}{
		{"empty url", "", nil, "missing scheme"},
		{"no scheme", "127.0.0.1:80/x", nil, "invalid URL"},
		{"ftp scheme", "ftp://example.com", nil, `scheme "ftp"`},
		{"no host", "ws:///path", nil, "missing host"},
		{"malformed", "ws://[::1", nil, "invalid URL"},
		{"nil option", ok, []Option{nilOpt}, "option 0 is nil"},
		{"typed nil option", ok, []Option{typedNil}, "nil option"},
		{"nil OnOpen", ok, []Option{OnOpen(nil)}, "OnOpen: nil function"},
		{"nil OnMessage", ok, []Option{OnMessage(nil)}, "OnMessage: nil function"},
		{"nil OnClose", ok, []Option{OnClose(nil)}, "OnClose: nil function"},
		{"nil OnError", ok, []Option{OnError(nil)}, "OnError: nil function"},
		{"nil OnReconnecting", ok, []Option{OnReconnecting(nil)}, "OnReconnecting: nil function"},
		{"nil OnBackoff", ok, []Option{OnBackoff(nil)}, "OnBackoff: nil function"},
		{"nil OnDrop", ok, []Option{OnDrop(nil)}, "OnDrop: nil function"},
		{"nil WithBackoff", ok, []Option{WithBackoff(nil)}, "WithBackoff: nil function"},
		{"backoff factory returns nil", ok, []Option{WithBackoff(func() backoff.BackOff { return nil })}, "returned a nil BackOff"},
		{"nil WithReconnectPolicy", ok, []Option{WithReconnectPolicy(nil)}, "WithReconnectPolicy: nil function"},
		{"negative heartbeat interval", ok, []Option{WithHeartbeat(-time.Second, time.Second)}, "negative"},
		{"negative heartbeat timeout", ok, []Option{WithHeartbeat(time.Second, -time.Second)}, "negative"},
		{"zero heartbeat timeout", ok, []Option{WithHeartbeat(time.Second, 0)}, "timeout must be positive"},
		{"zero queue messages", ok, []Option{WithQueue(0, 10, OverflowReject)}, "must be positive"},
		{"negative queue bytes", ok, []Option{WithQueue(10, -1, OverflowReject)}, "must be positive"},
		{"unknown overflow", ok, []Option{WithQueue(10, 10, Overflow(7))}, "unknown overflow"},
		{"negative stable", ok, []Option{WithStableAfter(-time.Second)}, "negative"},
		{"zero dial timeout", ok, []Option{WithDialTimeout(0)}, "WithDialTimeout"},
		{"negative dial timeout", ok, []Option{WithDialTimeout(-time.Second)}, "WithDialTimeout"},
		{"zero read limit", ok, []Option{WithReadLimit(0)}, "WithReadLimit"},
		{"negative write timeout", ok, []Option{WithWriteTimeout(-1)}, "WithWriteTimeout"},
		{"nil dial options", ok, []Option{WithDialOptions(nil)}, "WithDialOptions"},
		{"nil logger", ok, []Option{WithLogger(nil)}, "WithLogger"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.url, tc.opts...)
			if err == nil || c != nil {
				t.Fatalf("New = %v, %v; want an error", c, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
	if _, err := New(ok, OnOpen(nil)); !errors.Is(err, errNilFunc) {
		t.Fatalf("nil function error %v does not wrap errNilFunc", err)
	}
}

func TestOptionsNewAcceptsValidInput(t *testing.T) {
	for _, u := range []string{"ws://h/x", "wss://h:443/x?q=1", "http://127.0.0.1:8080", "HTTPS://h"} {
		if _, err := New(u); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	c, err := New("ws://h/", WithHeartbeat(0, 0), WithQueue(1, 1, OverflowBlock), WithStableAfter(0),
		WithHeader(http.Header{"Authorization": {"Bearer x"}}), WithDialOptions(&websocket.DialOptions{Subprotocols: []string{"v1"}}),
		WithDialTimeout(time.Second), WithReadLimit(1), WithWriteTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c.State() != StateConnecting || c.opts.heartbeatInterval != 0 {
		t.Fatalf("state %s, heartbeat %s", c.State(), c.opts.heartbeatInterval)
	}
	if got := c.dialOpts.HTTPHeader.Get("Authorization"); got != "Bearer x" {
		t.Fatalf("Authorization header %q", got)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := defaultOptions()
	if o.heartbeatInterval != 30*time.Second || o.heartbeatTimeout != 5*time.Second ||
		o.dialTimeout != 10*time.Second || o.readLimit != 1<<20 || o.writeTimeout != 10*time.Second ||
		o.stableAfter != 10*time.Second || o.queueMessages != 1024 || o.queueBytes != 1<<20 ||
		o.overflow != OverflowReject || DefaultDrainTimeout != 3*time.Second {
		t.Fatalf("defaults changed: %+v", o)
	}
}

func TestOptionsLoggerOnlyWhenGiven(t *testing.T) {
	srv := newServer(t)
	var buf safeBuffer
	c, err := New(srv.URL(), fastBackoff(), WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "OPEN", wait, func() bool { return c.State() == StateOpen })
	c.Close()
	out := buf.String()
	for _, want := range []string{"resilientws: starting", "to=OPEN", "to=CLOSED"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// safeBuffer is a bytes.Buffer safe for concurrent writes.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
