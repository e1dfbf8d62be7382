package resilientws

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// heartbeat is the liveness check of one connection. Every interval it
// sends a ping, a protocol ping or the application's ping message, and the
// connection is declared dead if no pong comes back within the timeout.
//
// Protocol pings run off the supervisor: a timer of the connection's own
// (time.AfterFunc) fires on a goroutine of its own, which sends the ping,
// waits for the pong (coder/websocket's Ping blocks until then), applies the
// verdict and re-arms the timer, so an idle client's supervisor never wakes
// for its heartbeat. stop ends the timer and joins a ping in progress.
// Application pings are run by the supervisor goroutine, through tick,
// pong, expired and late (that state needs no lock).
//
// The reader processes pongs (protocol pongs inside coder/websocket,
// application pongs through isPong) however slow OnMessage is, so a late
// pong means the peer or the link is dead, unless the reader itself was held
// up waiting for OnMessage (cn.stalls), in which case the verdict is skipped:
// a slow handler is never taken for a dead peer.
type heartbeat struct {
	interval, timeout time.Duration
	anyMessage        bool // any inbound message proves liveness
	cn                *connection

	// Protocol mode.
	timer   *time.Timer    // runs beat
	mu      sync.Mutex     // guards stopped, and orders beats.Add before beats.Wait
	stopped bool           // stop was called: beat neither runs nor re-arms
	beats   sync.WaitGroup // a beat in progress

	app *appBeat // application mode; nil for protocol pings
}

// appBeat is the state of an application heartbeat: the ping message and
// the ping awaiting its pong.
type appBeat struct {
	ping     Message
	ticker   *time.Ticker
	awaiting bool
	sentAt   time.Time
	due      time.Time   // when the deadline was set to fire
	extended bool        // the deadline fired late and was given one more timeout
	at       liveness    // the connection when it was sent
	written  uint64      // the unconfirmed log's mark when it was sent
	deadline *time.Timer // fires when the pong is late
}

// liveness is what excuses a late pong: counters of the connection taken
// when the ping was sent.
type liveness struct {
	stalls  uint64 // cn.stalls
	inbound uint64 // cn.inbound
}

func livenessOf(cn *connection) liveness {
	return liveness{stalls: cn.stalls.Load(), inbound: cn.inbound.Load()}
}

// startHeartbeat starts the heartbeat of cn; it returns nil when the
// heartbeat is off.
func startHeartbeat(o *options, cn *connection) *heartbeat {
	if o.heartbeatInterval <= 0 {
		return nil
	}
	h := &heartbeat{
		interval:   o.heartbeatInterval,
		timeout:    o.heartbeatTimeout,
		anyMessage: o.anyMessageAlive,
		cn:         cn,
	}
	if o.appPing != nil {
		h.app = &appBeat{ping: *o.appPing, ticker: time.NewTicker(o.heartbeatInterval), deadline: time.NewTimer(time.Hour)}
		h.app.deadline.Stop()
		return h
	}
	h.mu.Lock() // a beat reads h.timer under h.mu: it may fire before the assignment
	h.timer = time.AfterFunc(h.interval, h.beat)
	h.mu.Unlock()
	return h
}

// tick returns the channel of application ping times; nil (never ready)
// when off or in protocol mode.
func (h *heartbeat) tick() <-chan time.Time {
	if h == nil || h.app == nil {
		return nil
	}
	return h.app.ticker.C
}

// expired returns the channel that fires when an application pong is late;
// nil when none is awaited.
func (h *heartbeat) expired() <-chan time.Time {
	if h == nil || h.app == nil || !h.app.awaiting {
		return nil
	}
	return h.app.deadline.C
}

// stop stops the timers and joins a protocol ping in progress: call it
// after the connection is closed, which ends the ping.
func (h *heartbeat) stop() {
	if h == nil {
		return
	}
	if h.app != nil {
		h.app.ticker.Stop()
		h.app.deadline.Stop()
		return
	}
	h.mu.Lock()
	h.stopped = true
	h.timer.Stop()
	h.mu.Unlock()
	h.beats.Wait()
}

// beat sends one protocol ping and waits for its pong, on the timer's
// goroutine, then re-arms the timer if the pong came or the delay is
// excused, and the heartbeat was not stopped; after any other failure the
// connection is dead or closing, and the next one has its own heartbeat.
// Beats never overlap: the timer is re-armed only at the end of one.
func (h *heartbeat) beat() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	h.beats.Add(1)
	h.mu.Unlock()
	defer h.beats.Done()

	cn := h.cn
	at, written := livenessOf(cn), cn.c.unconfirmed.mark()
	pongs := cn.c.pongs.Load()
	sent := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	err := cn.ws.Ping(ctx)
	cancel()
	switch {
	case err == nil:
		cn.c.heartbeatRTT(cn, time.Since(sent))
		h.confirm(written)
	case cn.isDead():
		return
	case !errors.Is(err, context.DeadlineExceeded):
		// The socket failed. The reader would notice too, but it may be
		// held up by OnMessage: do not wait for it (a close frame it read
		// still wins, in connection.stop).
		cn.fail(newFailure("heartbeat ping failed: "+describe(err), err))
		return
	case cn.c.pongs.Load() != pongs:
		// Not the pong to this ping, but a pong since: the peer is alive.
		// It may answer only the latest of several pings (a confirmation
		// ping went out after this one), or send pongs of its own (a
		// unidirectional heartbeat): RFC 6455 allows both.
	case !h.excused(at):
		cn.fail(fmt.Errorf("%w within %s", ErrHeartbeatTimeout, h.timeout))
		return
	}
	h.mu.Lock()
	if !h.stopped {
		h.timer.Reset(h.interval)
	}
	h.mu.Unlock()
}

// confirm confirms what was written before a ping that got its pong, and
// wakes the writer if that made room in a full log.
func (h *heartbeat) confirm(written uint64) {
	if h.cn.c.unconfirmed.confirm(written) {
		h.cn.c.queue.wakeSupervisor()
	}
}

// excused reports whether a ping sent at at that got no pong in time is not
// the peer's fault: the reader was held up by OnMessage, a long write held
// the frame lock the ping needed, or (with anyMessage) other messages
// arrived.
func (h *heartbeat) excused(at liveness) bool {
	cn := h.cn
	if now := cn.stalls.Load(); now != at.stalls || now%2 == 1 {
		return true
	}
	if cn.writes.Load()%2 == 1 {
		// A batch still being written holds the frame lock the ping
		// needs, or holds the ping itself until the batch goes out: a
		// stuck write is the write timeout's business. (Writes that came
		// and went meanwhile excuse nothing: the ping got its turn.)
		return true
	}
	return h.anyMessage && cn.inbound.Load() != at.inbound
}

// ping writes the application ping, unless one is still awaited. The
// supervisor runs it at each tick.
func (h *heartbeat) ping() {
	a, cn := h.app, h.cn
	if a.awaiting {
		return // its own deadline decides
	}
	a.at, a.written = livenessOf(cn), cn.c.unconfirmed.mark()
	a.sentAt = time.Now()
	if err := cn.writeNow(context.Background(), "writing the heartbeat ping", a.ping.Type, a.ping.Data); err != nil {
		cn.fail(err) // a no-op if the socket was closed first
		return
	}
	a.awaiting, a.extended = true, false
	a.due = time.Now().Add(h.timeout)
	a.deadline.Reset(h.timeout)
}

// probe sends the application ping now, unless one is awaited, and starts
// the interval over: a page event (lifecycle_js.go) asks whether the
// connection survived. Without an application heartbeat there is nothing
// to probe with.
func (h *heartbeat) probe() {
	if h == nil || h.app == nil {
		return
	}
	h.app.ticker.Reset(h.interval)
	h.ping()
}

// pong records an application pong received at t.
func (h *heartbeat) pong(t time.Time) {
	if h == nil || h.app == nil || !h.app.awaiting {
		return
	}
	a := h.app
	a.awaiting = false
	a.deadline.Stop()
	h.cn.c.heartbeatRTT(h.cn, t.Sub(a.sentAt))
	h.confirm(a.written) // the server answered after reading all of it
}

// late handles an application pong that did not come in time.
//
// A deadline that fires more than half a timeout after it was due tells
// that timers were held up: a throttled or frozen page, a machine that
// slept. The pong may be among the events the page has not run yet, so the
// verdict waits one more timeout, measured from now, when the page is
// awake: a late timer never makes a live peer look dead.
func (h *heartbeat) late() {
	if a := h.app; !a.extended && time.Since(a.due) > h.timeout/2 {
		a.extended = true
		a.due = time.Now().Add(h.timeout)
		a.deadline.Reset(h.timeout)
		return
	}
	h.app.awaiting = false
	if h.excused(h.app.at) {
		return // try again at the next tick
	}
	h.cn.fail(fmt.Errorf("%w within %s", ErrHeartbeatTimeout, h.timeout))
}
