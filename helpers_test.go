//go:build !js

package resilientws

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/goleak"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait is the generous bound for events expected "soon": tests wait on
// events, never sleep, and this only limits how long a broken test hangs.
const wait = 10 * time.Second

// fastBackoff retries every few milliseconds.
func fastBackoff() Option {
	return WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(5 * time.Millisecond) })
}

func serverText(ms []resilientwstest.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Data)
	}
	return out
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// inBubble runs f in a testing/synctest bubble, where time is fake and
// moves only when every goroutine of the bubble is blocked, so a test of
// pure timer logic (an unstarted client's TTLs and waits: no network I/O,
// which would not count as blocked) runs at once and deterministically.
// The shared dial transport is made first, outside the bubble: made inside,
// it would belong to it.
func inBubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	sharedTransport()
	synctest.Test(t, f)
}

// newServer starts the test kit's server, closed at the end of the test.
func newServer(t testing.TB, opts ...resilientwstest.ServerOption) *resilientwstest.Server {
	t.Helper()
	s := resilientwstest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// waitServer waits until cond holds, checked at every change srv sees, or
// fails the test after wait.
func waitServer(t testing.TB, srv *resilientwstest.Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := srv.WaitFor(ctx, cond); err != nil {
		t.Fatalf("timed out after %s waiting for the server: %s", wait, what)
	}
}

// waitReceived waits until srv has received n messages in all, or fails
// the test after wait, and returns every message it received.
func waitReceived(t testing.TB, srv *resilientwstest.Server, n int) []resilientwstest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	msgs, err := srv.WaitMessages(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// newFaultProxy puts the test kit's fault proxy in front of upstream, closed
// at the end of the test.
func newFaultProxy(t testing.TB, upstream string) *resilientwstest.Proxy {
	t.Helper()
	p, err := resilientwstest.NewProxy(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// hostileServer serves h with httptest, tracking hijacked connections so
// that the cleanup closes them.
func hostileServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request, hijacked func(c interface{ Close() error }))) string {
	var (
		mu    sync.Mutex
		conns []interface{ Close() error }
	)
	track := func(c interface{ Close() error }) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, track) }))
	t.Cleanup(func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// acceptKey computes Sec-WebSocket-Accept for a hand-made handshake.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// rawServer is a WebSocket server written by hand: it completes the opening
// handshake, then hands the connection and its reader to serve, which speaks
// the protocol byte by byte, as coder/websocket never would.
func rawServer(t *testing.T, serve func(conn net.Conn, r *bufio.Reader)) string {
	return hostileServer(t, func(w http.ResponseWriter, r *http.Request, track func(interface{ Close() error })) {
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
		serve(conn, brw.Reader)
	})
}

// rawFrameServer sends frame as is after the handshake, and holds the
// connection until the client drops it.
func rawFrameServer(t *testing.T, frame []byte) string {
	return rawServer(t, func(conn net.Conn, r *bufio.Reader) {
		conn.Write(frame)
		r.ReadByte()
	})
}

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
	p.url = rawServer(t, func(conn net.Conn, r *bufio.Reader) { p.serve(conn, r, mode, delay) })
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

// closePeer is a raw WebSocket server that counts the data messages it
// reads, ignores pings, and answers a close frame with reply (a whole close
// frame, as sent): a peer that answers our close with another code, or with
// an empty close frame, as RFC 6455 allows.
func closePeer(t *testing.T, reply []byte) (url string, messages *atomic.Int64) {
	messages = new(atomic.Int64)
	url = rawServer(t, func(conn net.Conn, r *bufio.Reader) {
		for {
			op, fin, _, err := readClientFrame(r)
			if err != nil {
				return
			}
			switch op {
			case 0x0, 0x1, 0x2:
				if fin {
					messages.Add(1)
				}
			case 0x8:
				conn.Write(reply)
				return
			}
		}
	})
	return url, messages
}
