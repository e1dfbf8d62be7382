//go:build !js

package soak_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/resilientws/resilientws"
	"github.com/resilientws/resilientws/resilientwstest"
)

// payload is the message client id sends as number seq: "c07:123", and
// for a heavy client "c09:123:" followed by pad bytes.
func payload(id int, seq uint32, pad int) []byte {
	b := fmt.Appendf(nil, "c%02d:%d", id, seq)
	if pad > 0 {
		b = append(b, ':')
		b = append(b, bytes.Repeat([]byte{'x'}, pad)...)
	}
	return b
}

// parsePayload is the inverse of payload.
func parsePayload(b []byte) (id int, seq uint32, ok bool) {
	if len(b) < 4 || b[0] != 'c' {
		return 0, 0, false
	}
	for i := 1; i < len(b); i++ {
		if b[i] != ':' {
			continue
		}
		end := i + 1 + bytes.IndexByte(b[i+1:], ':')
		if end == i {
			end = len(b)
		}
		n, err1 := strconv.Atoi(string(b[1:i]))
		s, err2 := strconv.ParseUint(string(b[i+1:end]), 10, 32)
		if err1 != nil || err2 != nil || s == 0 {
			return 0, 0, false
		}
		return n, uint32(s), true
	}
	return 0, 0, false
}

// serverConn is what one server-side connection received, in order.
type serverConn struct {
	server, number int
	client         int // from the first message; -1 before it
	seqs           []uint32
	mixed          int // messages of another client
	// garbled counts messages that did not parse. The test kit's
	// Server.CloseAll runs coder/websocket's Close, which reads beside the
	// handler's Read: a message torn between the two comes out garbled (a
	// test-server artifact; the client saw a server that read it).
	garbled int
	ended   bool
}

// serverLog records what every server received, per connection. The soak's
// handler reads through the embedded coder/websocket Conn, so the Server's
// own (unbounded, copied-on-read) log stays empty and this compact one is
// the record.
type serverLog struct {
	mu    sync.Mutex
	conns []*serverConn

	last  []atomic.Uint32 // per client: highest seq received
	total atomic.Int64    // messages received, duplicates included
}

func newServerLog(clients int) *serverLog {
	return &serverLog{last: make([]atomic.Uint32, clients)}
}

// handler returns the Handler of server srv: read, record, never answer.
func (l *serverLog) handler(srv int) resilientwstest.Handler {
	return func(ctx context.Context, c *resilientwstest.Conn) {
		sc := &serverConn{server: srv, number: c.Number(), client: -1}
		l.mu.Lock()
		l.conns = append(l.conns, sc)
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			sc.ended = true
			l.mu.Unlock()
		}()
		// Bounded: every iteration reads a message or ends the loop, the
		// connection ends at the latest when the Server is closed, and no
		// soak sends this many messages.
		for range maxReads {
			_, data, err := c.Conn.Read(ctx)
			if err != nil {
				return
			}
			id, seq, ok := parsePayload(data)
			l.mu.Lock()
			if sc.client < 0 && ok && id >= 0 && id < len(l.last) {
				sc.client = id
			}
			if !ok {
				sc.garbled++
				l.mu.Unlock()
				continue
			}
			if id != sc.client {
				sc.mixed++
				l.mu.Unlock()
				continue
			}
			sc.seqs = append(sc.seqs, seq)
			l.mu.Unlock()
			l.total.Add(1)
			for {
				old := l.last[id].Load()
				if seq <= old || l.last[id].CompareAndSwap(old, seq) {
					break
				}
			}
		}
	}
}

const maxReads = 1 << 26

// live counts the connections whose handler still runs.
func (l *serverLog) live() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.conns {
		if !c.ended {
			n++
		}
	}
	return n
}

// snapshot returns copies of every connection's record.
func (l *serverLog) snapshot() []serverConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]serverConn, len(l.conns))
	for i, c := range l.conns {
		out[i] = *c
		out[i].seqs = append([]uint32(nil), c.seqs...)
	}
	return out
}

// detection is one measured time from a fault that killed a client's live
// connection to the first callback that told the client so.
type detection struct {
	kind      string
	d         time.Duration
	heartbeat bool // the callback's error was ErrHeartbeatTimeout
}

// pendingKill is a fault that hit a client's open connection and has not
// been noticed yet.
type pendingKill struct {
	id   int // fault number
	kind string
	at   time.Time
}

// reconnect is one OnReconnecting event.
type reconnect struct {
	at         time.Time
	attempt    int
	delay      time.Duration
	retryAfter time.Duration // from a *HandshakeError cause, 0 if none
}

// dropReason is why OnDrop reported a message.
type dropReason int

const (
	dropNone        dropReason = iota
	dropUnconfirmed            // ErrUnconfirmed: written, the link died before a pong confirmed it
	dropQueueFull              // ErrQueueFull
	dropExpired                // ErrExpired
	dropClosed                 // ErrClosed: Close, Shutdown, or a permanent failure
	dropOther
)

func (r dropReason) String() string {
	return [...]string{"none", "unconfirmed", "queue-full", "expired", "closed", "other"}[r]
}

func classifyDrop(err error) dropReason {
	switch {
	case errors.Is(err, resilientws.ErrUnconfirmed):
		return dropUnconfirmed
	case errors.Is(err, resilientws.ErrQueueFull):
		return dropQueueFull
	case errors.Is(err, resilientws.ErrExpired):
		return dropExpired
	case errors.Is(err, resilientws.ErrClosed):
		return dropClosed
	}
	return dropOther
}

// droppedMsg is one OnDrop report.
type droppedMsg struct {
	seq    uint32
	reason dropReason
}

// clientLog records one client's events. Its callbacks run on the client's
// event goroutine; the fault scheduler reads and marks it from its own.
type clientLog struct {
	id     int
	server int
	heavy  bool

	mu          sync.Mutex
	open        bool // between OnOpen and OnClose
	opens       int
	pending     *pendingKill
	detections  []detection
	ridden      map[string]int // kills undone (stall, no pongs) before the client noticed, by kind
	reconnects  []reconnect
	dropped     []droppedMsg
	dropReasons map[string]int
	closeCodes  map[websocket.StatusCode]int
	hbTimeouts  int
	wTimeouts   int
	connErrors  int // other connection-level errors (reset, EOF)
	dialErrors  int
	panics      int
	finalClose  int // OnClose with Reconnect false
}

func newClientLog(id, server int, heavy bool) *clientLog {
	return &clientLog{
		id:          id,
		server:      server,
		heavy:       heavy,
		dropReasons: map[string]int{},
		closeCodes:  map[websocket.StatusCode]int{},
		ridden:      map[string]int{},
	}
}

// options returns the callbacks that feed the log.
func (l *clientLog) options() []resilientws.Option {
	return []resilientws.Option{
		resilientws.OnOpen(func(e resilientws.OpenEvent) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.open = true
			l.opens++
			l.pending = nil // a kill meant for an older connection
		}),
		resilientws.OnError(func(err error) {
			now := time.Now()
			l.mu.Lock()
			defer l.mu.Unlock()
			var pe *resilientws.PanicError
			switch {
			case errors.As(err, &pe):
				l.panics++
				return
			case !l.open:
				l.dialErrors++
				return
			case errors.Is(err, resilientws.ErrHeartbeatTimeout):
				l.hbTimeouts++
			case errors.Is(err, resilientws.ErrWriteTimeout):
				l.wTimeouts++
			default:
				l.connErrors++
			}
			l.detect(now, errors.Is(err, resilientws.ErrHeartbeatTimeout))
		}),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			now := time.Now()
			l.mu.Lock()
			defer l.mu.Unlock()
			l.closeCodes[e.Code]++
			if !e.Reconnect {
				l.finalClose++
			}
			if e.Err != nil {
				l.detect(now, errors.Is(e.Err, resilientws.ErrHeartbeatTimeout))
			}
			l.open = false
			l.pending = nil
		}),
		resilientws.OnReconnecting(func(e resilientws.ReconnectEvent) {
			r := reconnect{at: time.Now(), attempt: e.Attempt, delay: e.Delay}
			var he *resilientws.HandshakeError
			if errors.As(e.Err, &he) {
				r.retryAfter = he.RetryAfter
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			l.reconnects = append(l.reconnects, r)
		}),
		resilientws.OnDrop(func(m resilientws.Message, err error) {
			_, seq, ok := parsePayload(m.Data)
			l.mu.Lock()
			defer l.mu.Unlock()
			if ok {
				l.dropped = append(l.dropped, droppedMsg{seq: seq, reason: classifyDrop(err)})
			}
			l.dropReasons[err.Error()]++
		}),
	}
}

// detect turns the pending kill, if any, into a detection. l.mu is held.
func (l *clientLog) detect(now time.Time, heartbeat bool) {
	if l.pending == nil {
		return
	}
	l.detections = append(l.detections, detection{kind: l.pending.kind, d: now.Sub(l.pending.at), heartbeat: heartbeat})
	l.pending = nil
}

// markKill records that fault id, of kind, hit the client at at; it counts
// only if a connection is open (as the callbacks know it) and no earlier
// kill is still unnoticed. It reports whether it counted.
func (l *clientLog) markKill(id int, kind string, at time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.open || l.pending != nil {
		return false
	}
	l.pending = &pendingKill{id: id, kind: kind, at: at}
	return true
}

// clearKill forgets fault id if it is still unnoticed when the fault is
// undone: the connection rode it out. count is false when the fault was cut
// short by the end of the fault phase.
func (l *clientLog) clearKill(id int, count bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending != nil && l.pending.id == id {
		if count {
			l.ridden[l.pending.kind]++
		}
		l.pending = nil
	}
}

// clientSnapshot is a copy of a clientLog, for the checks.
type clientSnapshot struct {
	id, server                        int
	opens                             int
	detections                        []detection
	ridden                            map[string]int
	reconnects                        []reconnect
	dropped                           []droppedMsg
	dropReasons                       map[string]int
	closeCodes                        map[websocket.StatusCode]int
	hbTimeouts, wTimeouts, connErrors int
	dialErrors, panics, finalClose    int
}

func (l *clientLog) snapshot() clientSnapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := clientSnapshot{
		id: l.id, server: l.server, opens: l.opens,
		detections:  append([]detection(nil), l.detections...),
		ridden:      map[string]int{},
		reconnects:  append([]reconnect(nil), l.reconnects...),
		dropped:     append([]droppedMsg(nil), l.dropped...),
		dropReasons: map[string]int{},
		closeCodes:  map[websocket.StatusCode]int{},
		hbTimeouts:  l.hbTimeouts, wTimeouts: l.wTimeouts, connErrors: l.connErrors,
		dialErrors: l.dialErrors, panics: l.panics, finalClose: l.finalClose,
	}
	for k, v := range l.dropReasons {
		s.dropReasons[k] = v
	}
	for k, v := range l.closeCodes {
		s.closeCodes[k] = v
	}
	for k, v := range l.ridden {
		s.ridden[k] = v
	}
	return s
}

// unnoticed returns the kill still pending, if any: the connection it hit
// is still open and the client never noticed.
func (l *clientLog) unnoticed() *pendingKill {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == nil {
		return nil
	}
	p := *l.pending
	return &p
}
