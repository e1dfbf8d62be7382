//go:build !js

package resilientws

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// testServer is an in-process WebSocket server that echoes by default,
// records what it receives, and can be told to refuse upgrades or to close
// or drop its connections. Unlike httptest.Server alone, it tracks the
// hijacked connections, so Close ends every handler.
type testServer struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex // guards the fields below
	conns      map[*websocket.Conn]struct{}
	received   []Message
	changed    chan struct{} // closed and replaced when received or conns change
	status     int           // refuse upgrades with this status when non-zero
	retryAfter string
	handler    func(ctx context.Context, c *websocket.Conn, n int) // replaces echo when set
	accepted   int
	upgrading  int // upgrades answered or being answered, not yet in conns

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newTestServer(t testing.TB) *testServer {
	s := &testServer{t: t, conns: map[*websocket.Conn]struct{}{}, changed: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) URL() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") }

// Addr is the listener's host:port, for a fault proxy.
func (s *testServer) Addr() string { return s.srv.Listener.Addr().String() }

func (s *testServer) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *testServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	status, retryAfter, handler := s.status, s.retryAfter, s.handler
	s.mu.Unlock()
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	s.mu.Lock()
	s.upgrading++
	s.mu.Unlock()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.mu.Lock()
		s.upgrading--
		s.notifyLocked()
		s.mu.Unlock()
		return
	}
	c.SetReadLimit(-1)
	s.mu.Lock()
	s.upgrading--
	if s.ctx.Err() != nil {
		s.notifyLocked()
		s.mu.Unlock()
		c.CloseNow()
		return
	}
	s.wg.Add(1)
	s.conns[c] = struct{}{}
	s.accepted++
	n := s.accepted
	s.notifyLocked()
	s.mu.Unlock()
	defer func() {
		c.CloseNow()
		s.mu.Lock()
		delete(s.conns, c)
		s.notifyLocked()
		s.mu.Unlock()
		s.wg.Done()
	}()
	if handler != nil {
		handler(s.ctx, c, n)
		return
	}
	s.echo(s.ctx, c)
}

// echo records and echoes every message until the connection ends.
func (s *testServer) echo(ctx context.Context, c *websocket.Conn) {
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		s.record(Message{Type: typ, Data: data})
		if err := c.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

// record notes a received message.
func (s *testServer) record(m Message) {
	s.mu.Lock()
	s.received = append(s.received, m)
	s.notifyLocked()
	s.mu.Unlock()
}

// SetHandler replaces echo for the connections accepted from now on. The
// handler gets the server's ctx and the connection's number (1 for the
// first).
func (s *testServer) SetHandler(h func(ctx context.Context, c *websocket.Conn, n int)) {
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
}

// Refuse answers upgrades with status (0: accept again) and Retry-After.
func (s *testServer) Refuse(status int, retryAfter string) {
	s.mu.Lock()
	s.status, s.retryAfter = status, retryAfter
	s.mu.Unlock()
}

// CloseAll closes every live connection with code and reason, once the
// upgrades in progress are registered (as DropAll).
func (s *testServer) CloseAll(code websocket.StatusCode, reason string) {
	s.WaitFor("upgrades in progress to be registered", wait, func(s *testServer) bool { return s.upgrading == 0 })
	for _, c := range s.live() {
		go c.Close(code, reason) // the handler's Read sees the echo and returns
	}
}

// DropAll drops every live connection without a close frame, those whose
// upgrade was answered but not yet registered included (a client may see
// its connection open before the server's handler has it).
func (s *testServer) DropAll() {
	s.WaitFor("upgrades in progress to be registered", wait, func(s *testServer) bool { return s.upgrading == 0 })
	for _, c := range s.live() {
		c.CloseNow()
	}
}

func (s *testServer) live() []*websocket.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*websocket.Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Accepted returns the number of upgrades accepted so far.
func (s *testServer) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Received returns a copy of every message received so far.
func (s *testServer) Received() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.received...)
}

// WaitFor waits until cond holds (checked under the server's lock on every
// change) or fails the test after timeout.
func (s *testServer) WaitFor(what string, timeout time.Duration, cond func(s *testServer) bool) {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := cond(s)
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			s.t.Fatalf("timed out after %s waiting for the server: %s", timeout, what)
		}
	}
}

// WaitReceived waits until n messages have been received.
func (s *testServer) WaitReceived(n int, timeout time.Duration) []Message {
	s.t.Helper()
	s.WaitFor(strconv.Itoa(n)+" messages received", timeout, func(s *testServer) bool { return len(s.received) >= n })
	return s.Received()
}

// Close drops every connection, ends every handler and stops the server.
func (s *testServer) Close() {
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
	s.DropAll()
	s.wg.Wait()
	s.srv.Close()
}
