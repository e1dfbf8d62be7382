package resilientws

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
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

// waitUntil polls cond every millisecond until it holds, for conditions no
// event announces (a counter, a state); it fails the test after timeout.
func waitUntil(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
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

// rec is one callback the recorder saw.
type rec struct {
	kind  string // open, message, close, error, backoff, reconnecting, drop
	open  OpenEvent
	msg   Message
	close CloseEvent
	rec   ReconnectEvent
	err   error
	state State // State() as seen inside the callback
	at    time.Time
}

func (r rec) String() string {
	switch r.kind {
	case "open":
		return fmt.Sprintf("open(%d)", r.open.Connection)
	case "message":
		return fmt.Sprintf("message(%s)", r.msg.Data)
	case "close":
		return fmt.Sprintf("close(%d,reconnect=%v)", r.close.Code, r.close.Reconnect)
	case "reconnecting":
		return fmt.Sprintf("reconnecting(%d)", r.rec.Attempt)
	case "backoff":
		return fmt.Sprintf("backoff(%d)", r.rec.Attempt)
	case "drop":
		return fmt.Sprintf("drop(%s)", r.msg.Data)
	}
	return fmt.Sprintf("%s(%v)", r.kind, r.err)
}

// recorder records every callback of a client, in order, and lets the test
// wait for one. Callbacks run on the client's event goroutine; the test
// goroutine reads under mu.
type recorder struct {
	t       testing.TB
	client  *Client
	mu      sync.Mutex
	events  []rec
	changed chan struct{}
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, changed: make(chan struct{})}
}

func (r *recorder) add(e rec) {
	if r.client != nil {
		e.state = r.client.State()
	}
	e.at = time.Now()
	r.mu.Lock()
	r.events = append(r.events, e)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// options returns the On* options that feed the recorder.
func (r *recorder) options() []Option {
	return []Option{
		OnOpen(func(e OpenEvent) { r.add(rec{kind: "open", open: e}) }),
		OnMessage(func(m Message) { r.add(rec{kind: "message", msg: m}) }),
		OnClose(func(e CloseEvent) { r.add(rec{kind: "close", close: e}) }),
		OnError(func(err error) { r.add(rec{kind: "error", err: err}) }),
		OnReconnecting(func(e ReconnectEvent) { r.add(rec{kind: "reconnecting", rec: e}) }),
		OnBackoff(func(e ReconnectEvent) { r.add(rec{kind: "backoff", rec: e}) }),
		OnDrop(func(m Message, err error) { r.add(rec{kind: "drop", msg: m, err: err}) }),
	}
}

// newClient builds a client on url with the recorder's options first.
func (r *recorder) newClient(url string, opts ...Option) *Client {
	r.t.Helper()
	c, err := New(url, append(r.options(), opts...)...)
	if err != nil {
		r.t.Fatalf("New: %v", err)
	}
	r.client = c
	r.t.Cleanup(func() {
		_ = c.Close()
		r.checkOrder()
	})
	return c
}

// checkOrder checks the event order every client promises, once it has
// stopped: connections numbered 1, 2, ... in order; each OnOpen followed by
// its OnMessages and exactly one OnClose of the same number (none for a
// connection that never opened, and no message outside a connection);
// OnBackoff and OnReconnecting never while a connection is open, each
// OnReconnecting after one OnBackoff of the same attempt.
func (r *recorder) checkOrder() {
	r.t.Helper()
	open := 0      // the open connection's number, 0 if none
	last := 0      // the last number that opened
	announced := 0 // the attempt of an OnBackoff not yet followed by OnReconnecting
	for i, e := range r.all() {
		bad := ""
		switch e.kind {
		case "open":
			if open != 0 || e.open.Connection != last+1 {
				bad = fmt.Sprintf("open %d while %d is open, after %d", e.open.Connection, open, last)
			}
			open, last = e.open.Connection, e.open.Connection
		case "message":
			if open == 0 {
				bad = "a message outside a connection"
			}
		case "close":
			if e.close.Connection != open || open == 0 {
				bad = fmt.Sprintf("close of %d while %d is open", e.close.Connection, open)
			}
			open = 0
		case "backoff":
			switch {
			case open != 0:
				bad = fmt.Sprintf("backoff while %d is open", open)
			case announced != 0:
				bad = fmt.Sprintf("backoff(%d) while backoff(%d) waits for its reconnecting", e.rec.Attempt, announced)
			}
			announced = e.rec.Attempt
		case "reconnecting":
			switch {
			case open != 0:
				bad = fmt.Sprintf("reconnecting while %d is open", open)
			case announced != e.rec.Attempt:
				bad = fmt.Sprintf("reconnecting(%d) after backoff(%d)", e.rec.Attempt, announced)
			}
			announced = 0
		}
		if bad != "" {
			r.t.Errorf("event %d out of order: %s\nevents: %s", i, bad, r.summary())
			return
		}
	}
	if open != 0 {
		r.t.Errorf("connection %d never got its OnClose\nevents: %s", open, r.summary())
	}
}

func (r *recorder) all() []rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rec(nil), r.events...)
}

func (r *recorder) of(kind string) []rec {
	var out []rec
	for _, e := range r.all() {
		if e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// wait waits until pred holds for some recorded event and returns it.
func (r *recorder) wait(what string, timeout time.Duration, pred func(rec) bool) rec {
	r.t.Helper()
	return r.waitAll(what, timeout, func(events []rec) (rec, bool) {
		for _, e := range events {
			if pred(e) {
				return e, true
			}
		}
		return rec{}, false
	})
}

// waitAll waits until find, given every event so far, finds one.
func (r *recorder) waitAll(what string, timeout time.Duration, find func([]rec) (rec, bool)) rec {
	r.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		e, ok := find(r.events)
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return e
		}
		select {
		case <-ch:
		case <-deadline.C:
			r.t.Fatalf("timed out after %s waiting for %s; events: %s", timeout, what, r.summary())
		}
	}
}

// waitKind waits for the n-th event (1-based) of a kind.
func (r *recorder) waitKind(kind string, n int, timeout time.Duration) rec {
	r.t.Helper()
	return r.waitAll(fmt.Sprintf("%s #%d", kind, n), timeout, func(events []rec) (rec, bool) {
		seen := 0
		for _, e := range events {
			if e.kind == kind {
				seen++
				if seen == n {
					return e, true
				}
			}
		}
		return rec{}, false
	})
}

// waitMessages waits until n messages have been received.
func (r *recorder) waitMessages(n int, timeout time.Duration) []rec {
	r.t.Helper()
	r.waitKind("message", n, timeout)
	return r.of("message")
}

func (r *recorder) summary() string {
	var b strings.Builder
	for i, e := range r.all() {
		if i > 0 {
			b.WriteString(" ")
		}
		if i >= 60 {
			b.WriteString("...")
			break
		}
		b.WriteString(e.String())
	}
	return b.String()
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
