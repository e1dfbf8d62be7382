//go:build !js

package resilientws

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/resilientws/resilientws/resilientwstest"
)

// writesConn records each Write it gets.
type writesConn struct {
	net.Conn
	writes [][]byte
}

func (w *writesConn) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// A held connection passes writes through, except between hold and
// release, when it keeps them and then writes them out in one call (or one
// per poolMax bytes), in order.
func TestHeldConnCoalescesWrites(t *testing.T) {
	w := &writesConn{}
	h := wrapHeld(w).(*heldConn)
	chunk := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

	h.Write(chunk('a', 10))
	if len(w.writes) != 1 {
		t.Fatalf("not holding: %d writes, want 1", len(w.writes))
	}
	h.hold()
	var want []byte
	for i := range 5 {
		p := chunk(byte('b'+i), 4096)
		want = append(want, p...)
		if n, err := h.Write(p); n != len(p) || err != nil {
			t.Fatalf("held write = %d, %v", n, err)
		}
	}
	if len(w.writes) != 1 {
		t.Fatalf("holding: %d writes reached the connection, want none", len(w.writes)-1)
	}
	if n, err := h.release(); err != nil || n != len(want) {
		t.Fatalf("release = %d, %v; want %d, nil", n, err, len(want))
	}
	if len(w.writes) != 2 || !bytes.Equal(w.writes[1], want) {
		t.Fatalf("release: %d writes, want 1 with everything held", len(w.writes)-1)
	}
	if _, err := h.release(); err != nil || len(w.writes) != 2 {
		t.Fatalf("a second release wrote again (%v)", err)
	}

	// Past poolMax, what is held goes out first.
	h.hold()
	for range poolMax/4096 + 1 {
		h.Write(chunk('x', 4096))
	}
	h.release()
	if len(w.writes) != 4 || len(w.writes[2]) != poolMax || len(w.writes[3]) != 4096 {
		t.Fatalf("past poolMax: writes of %d and %d bytes", len(w.writes[2]), len(w.writes[len(w.writes)-1]))
	}
	h.Write(chunk('z', 1))
	if len(w.writes) != 5 {
		t.Fatal("after release, writes do not pass through")
	}
}

// Large messages of distinct content, written with their TCP writes held,
// arrive intact and in order, over ws:// and wss://, while fast heartbeat
// pings (written by another goroutine, between or while messages are held)
// keep their pongs coming.
func TestHeldWritesKeepLargeMessagesIntact(t *testing.T) {
	plain, secure := newServer(t), newServer(t, resilientwstest.WithTLS())
	roots := x509.NewCertPool()
	roots.AddCert(secure.Certificate())
	for _, tc := range []struct {
		name string
		srv  *resilientwstest.Server
		opts []Option
	}{
		{"ws", plain, nil},
		{"wss", secure, []Option{WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 120
			payload := func(i int) []byte {
				return bytes.Repeat([]byte(fmt.Sprintf("%06d", i)), 600+i*97%12000) // 3.6-75 KiB
			}
			r := newRecorder(t)
			c := r.startClient(tc.srv.URL(), append([]Option{fastBackoff(), WithHeartbeat(time.Millisecond, time.Second),
				WithQueue(16, 4<<20, OverflowBlock)}, tc.opts...)...)
			r.waitKind("open", 1, wait)
			if cn := c.current.Load(); cn == nil || cn.held == nil {
				t.Fatal("the connection cannot hold its writes")
			}
			for i := range n {
				if err := c.Send(context.Background(), Binary, payload(i)); err != nil {
					t.Fatal(err)
				}
			}
			got := r.waitMessages(n, wait)
			for i, m := range got {
				if !bytes.Equal(m.msg.Data, payload(i)) {
					t.Fatalf("echo %d (%d bytes) corrupted or out of order", i, len(payload(i)))
				}
			}
			if st := c.Stats(); st.Connects != 1 || st.LastRTT == 0 {
				t.Fatalf("stats %+v: want one connection and heartbeat round trips", st)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// shortConn takes only the first n bytes of the write that needs more, then
// fails it and every later one.
type shortConn struct {
	net.Conn
	n      int
	writes int
}

var errCut = errors.New("cut")

func (c *shortConn) Write(p []byte) (int, error) {
	c.writes++
	if c.n < 0 {
		return 0, errCut
	}
	if len(p) > c.n {
		n := c.n
		c.n = -1
		return n, errCut
	}
	c.n -= len(p)
	return len(p), nil
}

// release reports how many of the held bytes the socket took, and the first
// error; once a write has failed, the held writes after it fail too, so the
// count stays exact. sentMessages counts the messages before the first the
// socket certainly cut, even when another goroutine's frame (a pong, say)
// came right after one of them.
func TestHeldConnCountsWhatTheSocketTook(t *testing.T) {
	h := wrapHeld(&shortConn{n: 250}).(*heldConn)
	h.hold()
	for i := range 3 {
		h.beginMessage(100)
		if _, err := h.Write(make([]byte, 100)); err != nil {
			t.Fatalf("held write %d: %v", i, err)
		}
	}
	n, err := h.release()
	if n != 250 || !errors.Is(err, errCut) {
		t.Fatalf("release = %d, %v; want 250, the socket's error", n, err)
	}
	if sent := h.sentMessages(n); sent != 2 {
		t.Fatalf("sentMessages(250) = %d, want the 2 messages of 100 bytes within it", sent)
	}

	// A 6-byte frame of another goroutine lands after the first message,
	// and the socket takes the message but not that frame.
	h = wrapHeld(&shortConn{n: 100}).(*heldConn)
	h.hold()
	h.beginMessage(100)
	h.Write(make([]byte, 100))
	h.Write(make([]byte, 6))
	h.beginMessage(100)
	h.Write(make([]byte, 100))
	if n, _ := h.release(); h.sentMessages(n) != 1 {
		t.Fatalf("sentMessages(%d) = %d: a message the socket took whole, followed by a cut control frame, counts as sent", n, h.sentMessages(n))
	}
	if h.sentMessages(99) != 0 {
		t.Fatal("a message cut one byte short counts as sent")
	}

	sc := &shortConn{n: poolMax + 10}
	h = wrapHeld(sc).(*heldConn)
	h.hold()
	for range poolMax / 4096 {
		h.Write(make([]byte, 4096))
	}
	h.Write(make([]byte, 4096)) // past poolMax: the first poolMax bytes go out
	if _, err := h.Write(make([]byte, 4096)); err != nil {
		t.Fatalf("a held write after a full flush: %v", err)
	}
	sc.n = 0 // the socket fails from now on
	if _, err := h.Write(make([]byte, poolMax)); !errors.Is(err, errCut) {
		t.Fatalf("a write whose flush failed = %v", err)
	}
	if _, err := h.Write(make([]byte, 1)); !errors.Is(err, errCut) {
		t.Fatalf("a held write after a failed flush = %v, want the same error", err)
	}
	if n, err := h.release(); n != poolMax || !errors.Is(err, errCut) {
		t.Fatalf("release = %d, %v; want %d, the socket's error", n, err, poolMax)
	}
}

// tapConn records the client's writes to the server and can cut one: the
// first write of at least cutAt bytes goes through only up to keep bytes,
// then the connection is closed and the write fails.
type tapConn struct {
	net.Conn
	tap *tap
}

type tap struct {
	mu     sync.Mutex
	writes [][]byte
	cutAt  int
	keep   int
	cut    atomic.Bool
}

func (c *tapConn) Write(p []byte) (int, error) {
	t := c.tap
	t.mu.Lock()
	t.writes = append(t.writes, bytes.Clone(p))
	t.mu.Unlock()
	if t.cutAt > 0 && len(p) >= t.cutAt && t.cut.CompareAndSwap(false, true) {
		n, _ := c.Conn.Write(p[:t.keep])
		c.Conn.Close()
		return n, errCut
	}
	return c.Conn.Write(p)
}

// frames returns the writes after the opening handshake's.
func (t *tap) frames() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out [][]byte
	for _, w := range t.writes {
		if !strings.HasPrefix(string(w), "GET ") {
			out = append(out, w)
		}
	}
	return out
}

func (t *tap) option() Option {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &tapConn{Conn: c, tap: t}, nil
	}
	return WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dial}}})
}

// Messages queued while no connection is open go out, once one opens, in
// one system call per batch instead of one each.
func TestQueuedSmallMessagesGoOutInOneWrite(t *testing.T) {
	srv := newServer(t)
	tp := &tap{}
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0), tp.option())
	const n, size = 20, 64
	for i := range n {
		if err := c.SendText(context.Background(), fmt.Sprintf("%0*d", size, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, srv, "every message", func() bool { return len(srv.Messages()) == n })
	frames := tp.frames()
	if len(frames) == 0 || len(frames[0]) != n*(size+6) {
		sizes := make([]int, len(frames))
		for i, f := range frames {
			sizes[i] = len(f)
		}
		t.Fatalf("writes after the handshake: %v bytes; want the %d frames (%d bytes) in the first", sizes, n, n*(size+6))
	}
}

// When the socket takes only part of a batch, the messages it took whole
// count as written (here: unconfirmed when the connection dies, so
// reported), and the one it cut and those after it stay queued and go out
// on the next connection: none is lost, none is written twice.
func TestBatchSettlesOnlyWhatTheSocketTookWhole(t *testing.T) {
	srv := newServer(t)
	const n, size, frame = 10, 100, 100 + 6
	tp := &tap{cutAt: n * frame, keep: 3*frame + frame/2}
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0), tp.option())
	msg := func(i int) string { return fmt.Sprintf("%0*d", size, i) }
	for i := range n {
		if err := c.SendText(context.Background(), msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitServer(t, srv, "the second connection's messages", func() bool {
		got := srv.Received()
		return len(got) == 2 && len(got[1]) == n-3
	})
	r.waitKind("drop", 3, wait)
	if !tp.cut.Load() {
		t.Fatal("no write carried the whole batch")
	}
	got := srv.Received()
	// The first connection's server side may lose the tail of what reached
	// it (the reset discards what it had not read yet): those messages are
	// the ones reported.
	first := serverText(got[0])
	if len(first) > 3 {
		t.Fatalf("connection 1 got %d messages, want at most the 3 the socket took whole", len(first))
	}
	for i, m := range first {
		if m != msg(i) {
			t.Fatalf("connection 1 got %q as message %d, want %q", m, i, msg(i))
		}
	}
	var want []string
	for i := 3; i < n; i++ {
		want = append(want, msg(i))
	}
	if g := serverText(got[1]); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Fatalf("connection 2 got %v, want %v", g, want)
	}
	drops := r.of("drop")
	if len(drops) != 3 {
		t.Fatalf("%d drops, want the 3 messages written on the lost connection", len(drops))
	}
	for i, d := range drops {
		if string(d.msg.Data) != msg(i) || !errors.Is(d.err, ErrUnconfirmed) {
			t.Fatalf("drop %d: %q, %v; want %q with ErrUnconfirmed", i, d.msg.Data, d.err, msg(i))
		}
	}
	// Each message counts once, when the socket took it (settled just
	// after the server may have read it).
	waitUntil(t, "Stats.MessagesSent = 10", wait, func() bool { return c.Stats().MessagesSent == n })
}
