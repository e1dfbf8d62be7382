package resilientws

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A peer that answers only the latest of several pending pings (RFC 6455
// §5.5.3), promptly, is alive, while a busy sender's confirmation pings and
// the heartbeat's overlap: one connection, no timeout, every message
// confirmed.
func TestHeartbeatPeerAnsweringOnlyTheLatestPingIsAlive(t *testing.T) {
	peer := newPingPeer(t, pongLatest, 20*time.Millisecond)
	r := newRecorder(t)
	c := r.newClient(peer.url, fastBackoff(), WithHeartbeat(100*time.Millisecond, 500*time.Millisecond))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	sent := 0
	tick := time.NewTicker(7 * time.Millisecond)
	defer tick.Stop()
	for peer.pings.Load() < 40 { // a few heartbeat intervals, with confirmation pings in between
		<-tick.C
		if err := c.SendText(context.Background(), "m"); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	waitUntil(t, "the peer to read every message", wait, func() bool { return peer.messages.Load() == int64(sent) })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.of("open")); n != 1 {
		t.Fatalf("%d connections, want 1: %s", n, r.summary())
	}
	for _, e := range r.of("error") {
		t.Errorf("error: %v", e.err)
	}
	for _, d := range r.of("drop") {
		t.Errorf("drop %q: %v", d.msg.Data, d.err)
	}
}

// A peer that answers no ping but sends pongs of its own (a unidirectional
// heartbeat, RFC 6455 §5.5.3) is alive; its pongs confirm nothing, so what
// was written is confirmed by the answer to the close frame.
func TestHeartbeatUnsolicitedPongsProveThePeerAlive(t *testing.T) {
	peer := newPingPeer(t, pongUnsolicited, 10*time.Millisecond)
	r := newRecorder(t)
	c := r.newClient(peer.url, fastBackoff(), WithHeartbeat(20*time.Millisecond, 60*time.Millisecond))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	for _, s := range []string{"a", "b", "c"} {
		if err := c.SendText(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "ten unanswered heartbeat pings", wait, func() bool { return peer.pings.Load() >= 10 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.of("open")); n != 1 {
		t.Fatalf("%d connections, want 1: %s", n, r.summary())
	}
	for _, e := range r.of("error") {
		t.Errorf("error: %v", e.err)
	}
	for _, d := range r.of("drop") {
		t.Errorf("drop %q: %v", d.msg.Data, d.err)
	}
	if peer.messages.Load() != 3 {
		t.Fatalf("peer read %d messages, want 3", peer.messages.Load())
	}
}

// Without pongs of any kind, the heartbeat still declares the peer dead.
func TestHeartbeatNoPongAtAllIsATimeout(t *testing.T) {
	peer := newPingPeer(t, pongUnsolicited, time.Hour)
	r := newRecorder(t)
	c := r.newClient(peer.url, fastBackoff(), WithHeartbeat(20*time.Millisecond, 60*time.Millisecond))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	e := r.waitKind("close", 1, wait)
	if !errors.Is(e.close.Err, ErrHeartbeatTimeout) {
		t.Fatalf("close: %v, want ErrHeartbeatTimeout", e.close.Err)
	}
}

// A user's OnPongReceived still sees every pong.
func TestHeartbeatKeepsTheUsersOnPongReceived(t *testing.T) {
	srv := newServer(t)
	var pongs atomic.Int64
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(), WithHeartbeat(10*time.Millisecond, time.Second),
		WithDialOptions(&websocket.DialOptions{OnPongReceived: func(context.Context, []byte) { pongs.Add(1) }}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the user's OnPongReceived to see pongs", wait, func() bool { return pongs.Load() >= 3 })
}

// Pongs of the peer's own confirm nothing: when the unconfirmed log is full
// and two confirmation pings in a row go unanswered, the connection is
// replaced rather than left stalled, and what it could not confirm is
// reported.
func TestHeartbeatUnsolicitedPongsDoNotConfirmAFullLog(t *testing.T) {
	peer := newPingPeer(t, pongUnsolicited, 5*time.Millisecond)
	r := newRecorder(t)
	c := r.newClient(peer.url, fastBackoff(), WithHeartbeat(time.Hour, 30*time.Millisecond), WithQueue(2, 1<<20, OverflowReject))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	for _, s := range []string{"a", "b"} {
		if err := c.SendText(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	e := r.waitKind("close", 1, wait)
	if !errors.Is(e.close.Err, ErrHeartbeatTimeout) {
		t.Fatalf("close: %v, want ErrHeartbeatTimeout", e.close.Err)
	}
	for _, d := range r.of("drop") {
		if !errors.Is(d.err, ErrUnconfirmed) {
			t.Fatalf("drop %q: %v, want ErrUnconfirmed", d.msg.Data, d.err)
		}
	}
}
