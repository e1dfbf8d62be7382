package resilientws

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// connection is one open WebSocket. Its reader goroutine is the only
// caller of Reader; the supervisor goroutine writes the send queue on it
// (each write under the watchdog, a timer that fails the connection when a
// write takes too long). The supervisor starts the reader and the heartbeat
// and joins both (stop, heartbeat.stop) before it dials again.
type connection struct {
	c    *Client
	ws   socket
	raw  *rawConn
	held *heldConn // raw's connection, which can hold the writes of a batch; nil if none
	id   int

	dead     chan struct{} // closed by the first fail
	failOnce sync.Once
	cause    error // written by the first fail, before dead closes; stop may then put a close frame in its place, once the reader is joined
	readErr  error // the reader's last error, read once it has exited
	closeErr error // closeGracefully's error when it carries the server's own close frame (supervisor only)

	stalls   atomic.Uint64  // odd while the reader waits for OnMessage room
	writes   atomic.Uint64  // odd while the supervisor writes a batch of queued messages
	inbound  atomic.Uint64  // messages read, for the heartbeat's liveness rule
	appPongs chan time.Time // application pongs, for the supervisor (capacity 1; nil without WithAppHeartbeat or isPong)

	gate chan struct{} // closed once OnOpen has returned: the queue may flow

	watchdog *time.Timer    // fires fail(ErrWriteTimeout) on a stuck write; made by the first write
	wdRun    sync.WaitGroup // 1 while the watchdog is armed or running
	wdLimit  time.Duration  // the limit it was armed with (the write timeout, or less while draining)

	reader      sync.WaitGroup // the reader goroutine
	openedAt    time.Time
	subprotocol string
}

func newConnection(c *Client, ws socket, raw *rawConn, id int) *connection {
	cn := &connection{
		c:           c,
		ws:          ws,
		raw:         raw,
		held:        raw.held(),
		id:          id,
		dead:        make(chan struct{}),
		gate:        make(chan struct{}),
		openedAt:    time.Now(),
		subprotocol: ws.Subprotocol(),
	}
	if c.opts.isPong != nil {
		cn.appPongs = make(chan time.Time, 1)
	}
	return cn
}

// fail declares the connection dead with cause (the first cause wins) and
// drops it at once, without a close handshake (in the browser, which allows
// no other way, with a close frame it does not wait for: see dropSocket).
func (cn *connection) fail(cause error) {
	first := false
	cn.failOnce.Do(func() {
		cn.cause = cause
		close(cn.dead)
		first = true
	})
	if first {
		dropSocket(cn.ws, cause)
	}
}

// isDead reports whether fail was called.
func (cn *connection) isDead() bool {
	select {
	case <-cn.dead:
		return true
	default:
		return false
	}
}

// start runs the reader.
func (cn *connection) start() {
	cn.reader.Add(1)
	go func() {
		defer cn.reader.Done()
		cn.readLoop()
	}()
}

// stop closes the socket, if still open, and joins the reader. Pings need no
// context of the connection's: closing the socket ends them.
// A close frame the reader (or closeGracefully) got wins over the first
// recorded cause: a write or a ping that failed because the server closed
// must not hide its code.
func (cn *connection) stop() {
	cn.fail(errConnGone)
	cn.reader.Wait()
	if websocket.CloseStatus(cn.cause) != -1 {
		return
	}
	switch {
	case websocket.CloseStatus(cn.readErr) != -1:
		cn.cause = cn.readErr
	case cn.closeErr != nil:
		cn.cause = cn.closeErr
	}
}

// runConnection runs one open connection until it dies, the user stops the
// client or asks for a reconnect, then joins its goroutines. The supervisor
// writes the send queue itself, once OnOpen has returned (the gate).
func (c *Client) runConnection(cn *connection) connEnd {
	c.stats.connects.Add(1)
	if cn.id > 1 {
		c.stats.reconnects.Add(1)
	}
	c.stats.openedAt.Store(cn.openedAt.UnixNano())
	c.current.Store(cn)
	defer c.current.Store(nil)
	c.toState(StateOpen)
	c.disp.post(event{kind: evOpen, open: OpenEvent{Connection: cn.id, Subprotocol: cn.subprotocol, conn: cn}})
	cn.start()
	hb := startHeartbeat(&c.opts, cn)
	confirm := newConfirmer(c.unconfirmed, &c.opts, hb)
	cf := &confirm
	gate := cn.gate // until OnOpen has returned
	requested, answered := false, false
	var page pageProbe // in the browser: the last page event seen
loop:
	for {
		select {
		case <-cn.dead:
			break loop
		case <-gate:
			gate = nil
			c.writeTurn(cn, cf)
		case <-c.queue.ready:
			// Messages to write, or Shutdown, or Reconnect: they signal
			// the queue too, so that an idle supervisor waits on two
			// channels only.
			if c.stop.Err() != nil {
				answered = c.drainAndClose(cn, cf, gate == nil)
				break loop
			}
			if c.reconnect.Swap(false) {
				if cn.isDead() {
					// It ended first: that end is reported as it is, and
					// the request cuts the wait after it.
					c.rearmReconnect()
				} else {
					requested = true
					answered = cn.closeGracefully(websocket.StatusNormalClosure, "")
				}
				break loop
			}
			if e := c.takeNudge(); e != pageNone {
				page.seen(e)
				hb.probe() // the page came back, or the network: is the socket still alive?
			}
			if gate == nil {
				c.writeTurn(cn, cf)
			}
		case err := <-cf.done():
			again, unanswered := cf.finish(err)
			if again {
				c.askConfirm(cn, cf, true)
			}
			c.queue.wakeSupervisor() // writing may have paused on a full log
			if unanswered >= cf.tolerance {
				if _, _, full := c.unconfirmed.pending(); full && cn.stalls.Load()%2 == 0 {
					// Writing waits for a confirmation that does not come.
					// The heartbeat would replace a silent peer, but not one
					// that answers no ping and sends pongs of its own.
					cn.fail(newFailure(fmt.Sprintf("heartbeat timeout: no pong to %d delivery confirmation ping(s) within %s each", unanswered, cf.timeout), ErrHeartbeatTimeout))
				}
			}
		case <-cf.due():
			cf.armed = false
			cf.send(cn)
		case <-hb.tick():
			hb.ping()
		case t := <-cn.appPongs:
			hb.pong(t)
		case <-hb.expired():
			hb.late()
		}
	}
	page.rearm(c, hb)
	cn.stop()
	hb.stop()
	cf.stop()
	c.stats.openedAt.Store(0)
	if requested && endedByServer(cn.cause) {
		// The server's own close crossed ours: it is reported, and can
		// stop the client, as if it had come alone; it answered nothing;
		// the request cuts the wait after it.
		requested, answered = false, false
		c.rearmReconnect()
	}
	uptime := time.Since(cn.openedAt)
	if uptime >= c.opts.stableAfter {
		c.resetBackoff()
	}
	var end connEnd
	switch {
	case c.stop.Err() != nil:
		end = connEnd{user: true, event: c.userCloseEvent()}
	case requested:
		end = connEnd{requested: true, cause: ErrReconnectRequested,
			event: CloseEvent{Code: websocket.StatusNormalClosure, Err: ErrReconnectRequested}}
	default:
		end = classify(cn.id, cn.cause)
	}
	end.event.Connection = cn.id
	end.event.Uptime = uptime
	end.unconfirmed = c.unconfirmed.end(answered)
	return end
}
