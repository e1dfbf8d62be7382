//go:build !js

package resilientws

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// pongMode is how a pingPeer answers pings; each is allowed by RFC 6455
// §5.5.2-5.5.3.
type pongMode int

const (
	// pongLatest answers, after a delay, only the most recent of the pings
	// received meanwhile.
	pongLatest pongMode = iota
	// pongUnsolicited answers no ping but sends an empty pong every delay (a
	// unidirectional heartbeat).
	pongUnsolicited
)

// pingPeer is a WebSocket server written from the RFC, byte by byte, so that
// it can answer pings as coder/websocket never would. It counts the data
// messages and the pings it receives, and answers a close frame.
type pingPeer struct {
	url      string
	messages atomic.Int64
	pings    atomic.Int64
}

func newPingPeer(t *testing.T, mode pongMode, delay time.Duration) *pingPeer {
	p := &pingPeer{}
	p.url = hostileServer(t, func(w http.ResponseWriter, r *http.Request, track func(interface{ Close() error })) {
		key := r.Header.Get("Sec-WebSocket-Key")
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		track(conn)
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
		brw.WriteString("Sec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n")
		if brw.Flush() != nil {
			return
		}
		p.serve(conn, brw.Reader, mode, delay)
	})
	return p
}

// serve reads the client's frames until the connection ends.
func (p *pingPeer) serve(conn net.Conn, r *bufio.Reader, mode pongMode, delay time.Duration) {
	var (
		wmu    sync.Mutex
		mu     sync.Mutex // guards latest and timer
		latest []byte
		timer  *time.Timer
		wg     sync.WaitGroup
		done   = make(chan struct{})
	)
	write := func(op byte, payload []byte) {
		wmu.Lock()
		defer wmu.Unlock()
		conn.Write(append([]byte{0x80 | op, byte(len(payload))}, payload...))
	}
	defer func() {
		close(done)
		mu.Lock()
		if timer != nil && timer.Stop() {
			wg.Done()
		}
		mu.Unlock()
		wg.Wait()
	}()
	if mode == pongUnsolicited {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(delay)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					write(0xA, nil)
				}
			}
		}()
	}
	for {
		op, fin, payload, err := readClientFrame(r)
		if err != nil {
			return
		}
		switch op {
		case 0x0, 0x1, 0x2:
			if fin {
				p.messages.Add(1)
			}
		case 0x9:
			p.pings.Add(1)
			if mode != pongLatest {
				continue
			}
			mu.Lock()
			latest = payload
			if timer == nil {
				wg.Add(1)
				timer = time.AfterFunc(delay, func() {
					defer wg.Done()
					mu.Lock()
					pong := latest
					timer = nil
					mu.Unlock()
					write(0xA, pong)
				})
			}
			mu.Unlock()
		case 0x8:
			write(0x8, payload[:min(len(payload), 2)])
			return
		}
	}
}

// readClientFrame reads one masked client frame and unmasks its payload.
func readClientFrame(r *bufio.Reader) (op byte, fin bool, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, false, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		_, err = io.ReadFull(r, ext[:])
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		_, err = io.ReadFull(r, ext[:])
		n = binary.BigEndian.Uint64(ext[:])
	}
	var mask [4]byte
	if err == nil && h[1]&0x80 != 0 {
		_, err = io.ReadFull(r, mask[:])
	}
	if err != nil {
		return 0, false, nil, err
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return 0, false, nil, err
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return h[0] & 0x0f, h[0]&0x80 != 0, payload, nil
}

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
	srv := newTestServer(t)
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
