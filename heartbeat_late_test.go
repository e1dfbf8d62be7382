package resilientws

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// idleSocket is a socket that does nothing, for tests of the connection's
// own logic.
type idleSocket struct{}

func (idleSocket) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	<-ctx.Done()
	return 0, nil, ctx.Err()
}
func (idleSocket) Write(context.Context, MessageType, []byte) error { return nil }
func (idleSocket) Close(websocket.StatusCode, string) error         { return nil }
func (idleSocket) CloseNow() error                                  { return nil }
func (idleSocket) Ping(context.Context) error                       { return nil }
func (idleSocket) Subprotocol() string                              { return "" }
func (idleSocket) SetReadLimit(int64)                               {}

// An application heartbeat deadline that fires long after it was due (a
// frozen or throttled page, a machine that slept) gives no verdict: the
// pong may be among the events not run yet. The peer gets one more
// timeout, and a deadline on time then decides.
func TestHeartbeatLateDeadlineIsNoVerdict(t *testing.T) {
	const timeout = 100 * time.Millisecond
	cn := &connection{dead: make(chan struct{}), ws: idleSocket{}}
	h := &heartbeat{interval: time.Minute, timeout: timeout, cn: cn,
		app: &appBeat{ticker: time.NewTicker(time.Minute), deadline: time.NewTimer(time.Hour)}}
	defer h.stop()
	h.app.awaiting = true
	h.app.due = time.Now().Add(-time.Second) // it fires a second late
	h.late()
	if cn.isDead() {
		t.Fatalf("a deadline a second late declared the peer dead: %v", cn.cause)
	}
	if !h.app.awaiting || h.expired() == nil {
		t.Fatal("the pong is no longer awaited after a late deadline")
	}
	if left := time.Until(h.app.due); left < timeout/2 || left > timeout {
		t.Errorf("the new deadline is due in %s, want one timeout (%s) from now", left, timeout)
	}

	h.app.due = time.Now() // this time it fires on time
	h.late()
	if !cn.isDead() || !errors.Is(cn.cause, ErrHeartbeatTimeout) {
		t.Fatalf("a deadline on time after the extension: dead %v, cause %v; want ErrHeartbeatTimeout", cn.isDead(), cn.cause)
	}
}

// A deadline on time decides at once, as before.
func TestHeartbeatDeadlineOnTimeDecides(t *testing.T) {
	cn := &connection{dead: make(chan struct{}), ws: idleSocket{}}
	h := &heartbeat{interval: time.Minute, timeout: 100 * time.Millisecond, cn: cn,
		app: &appBeat{ticker: time.NewTicker(time.Minute), deadline: time.NewTimer(time.Hour)}}
	defer h.stop()
	h.app.awaiting = true
	h.app.due = time.Now().Add(-10 * time.Millisecond)
	h.late()
	if !errors.Is(cn.cause, ErrHeartbeatTimeout) {
		t.Fatalf("cause %v, want ErrHeartbeatTimeout", cn.cause)
	}
}
