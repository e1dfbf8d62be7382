package resilientws

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// heartbeat is the liveness check of one connection, run by the supervisor
// goroutine (its state needs no lock). Every interval it sends a ping, a
// protocol ping or the application's ping message, and the connection is
// declared dead if no pong comes back within the timeout.
//
// The reader processes pongs (protocol pongs inside coder/websocket,
// application pongs through isPong) however slow OnMessage is, so a late
// pong means the peer or the link is dead, unless the reader itself was held
// up waiting for OnMessage (cn.stalls), in which case the verdict is skipped:
// a slow handler is never taken for a dead peer.
type heartbeat struct {
	interval, timeout time.Duration
	app               *Message // application ping; nil for protocol pings
	anyMessage        bool     // any inbound message proves liveness
	ticker            *time.Ticker

	// The ping awaiting its pong.
	awaiting bool
	sentAt   time.Time
	stalls   uint64       // cn.stalls when it was sent
	inbound  uint64       // cn.inbound when it was sent
	written  uint64       // the unconfirmed log's mark when it was sent
	deadline *time.Timer  // application mode: fires when the pong is late
	results  chan pingEnd // protocol mode: the ping goroutine's result
}

// pingEnd is how a protocol ping ended.
type pingEnd struct {
	err error
	rtt time.Duration
}

// newHeartbeat returns nil when the heartbeat is off.
func newHeartbeat(o *options) *heartbeat {
	if o.heartbeatInterval <= 0 {
		return nil
	}
	h := &heartbeat{
		interval:   o.heartbeatInterval,
		timeout:    o.heartbeatTimeout,
		app:        o.appPing,
		anyMessage: o.anyMessageAlive,
		ticker:     time.NewTicker(o.heartbeatInterval),
	}
	if h.app != nil {
		h.deadline = time.NewTimer(time.Hour)
		h.deadline.Stop()
	}
	return h
}

// tick returns the channel of ping times; nil (never ready) when off.
func (h *heartbeat) tick() <-chan time.Time {
	if h == nil {
		return nil
	}
	return h.ticker.C
}

// expired returns the channel that fires when an application pong is late;
// nil when none is awaited.
func (h *heartbeat) expired() <-chan time.Time {
	if h == nil || !h.awaiting || h.deadline == nil {
		return nil
	}
	return h.deadline.C
}

// pinged returns the channel of protocol ping results; nil when none is
// running.
func (h *heartbeat) pinged() <-chan pingEnd {
	if h == nil || !h.awaiting || h.app != nil {
		return nil
	}
	return h.results
}

// stop stops the timers and joins the ping goroutine, if one runs: call it
// after the connection is closed, which ends the ping.
func (h *heartbeat) stop() {
	if h == nil {
		return
	}
	h.ticker.Stop()
	if h.deadline != nil {
		h.deadline.Stop()
	}
	if h.results != nil && h.awaiting {
		<-h.results
		h.awaiting = false
	}
}

// excused reports whether a ping that got no pong in time is not the
// peer's fault: the reader was held up by OnMessage, a long write held the
// frame lock the ping needed, or (with anyMessage) other messages arrived.
func (h *heartbeat) excused(cn *connection) bool {
	if now := cn.stalls.Load(); now != h.stalls || now%2 == 1 {
		return true
	}
	if cn.writes.Load()%2 == 1 {
		// A write still running holds the frame lock the ping needs: a
		// stuck write is the write timeout's business. (Writes that came
		// and went meanwhile excuse nothing: the ping got its turn.)
		return true
	}
	return h.anyMessage && cn.inbound.Load() != h.inbound
}

// ping sends one ping on cn, unless one is still awaited. A protocol ping
// runs on a short-lived goroutine, owned by the supervisor and joined
// through results (coder/websocket's Ping blocks until the pong); an
// application ping is written here. Either way the pong is awaited through
// the supervisor's select: pinged, pongs, expired.
func (h *heartbeat) ping(cn *connection) {
	if h.awaiting {
		return // its own deadline decides
	}
	h.stalls, h.inbound = cn.stalls.Load(), cn.inbound.Load()
	h.written = cn.c.unconfirmed.mark()
	h.sentAt = time.Now()
	if h.app == nil {
		h.awaiting = true
		if h.results == nil {
			h.results = make(chan pingEnd, 1) // on first use: a short-lived connection may never ping
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
			defer cancel()
			err := cn.ws.Ping(ctx)
			h.results <- pingEnd{err: err, rtt: time.Since(h.sentAt)}
		}()
		return
	}
	if err := cn.writeDirect(context.Background(), h.app.Type, h.app.Data); err != nil {
		cn.fail(fmt.Errorf("resilientws: writing the heartbeat ping: %w", err)) // a no-op if the socket was closed first
		return
	}
	h.awaiting = true
	h.deadline.Reset(h.timeout)
}

// done handles the end of a protocol ping.
func (h *heartbeat) done(cn *connection, r pingEnd) {
	h.awaiting = false
	if r.err == nil {
		cn.c.stats.setRTT(r.rtt)
		cn.c.unconfirmed.confirm(h.written) // the pong came after all of it
		return
	}
	if !errors.Is(r.err, context.DeadlineExceeded) || cn.isDead() || h.excused(cn) {
		return // the socket closed (the reader knows why), or not the peer's fault
	}
	cn.fail(fmt.Errorf("%w within %s", ErrHeartbeatTimeout, h.timeout))
}

// pong records an application pong received at t.
func (h *heartbeat) pong(cn *connection, t time.Time) {
	if h == nil || !h.awaiting || h.app == nil {
		return
	}
	h.awaiting = false
	h.deadline.Stop()
	cn.c.stats.setRTT(t.Sub(h.sentAt))
	cn.c.unconfirmed.confirm(h.written) // the server answered after reading all of it
}

// late handles an application pong that did not come in time.
func (h *heartbeat) late(cn *connection) {
	h.awaiting = false
	if h.excused(cn) {
		return // try again at the next tick
	}
	cn.fail(fmt.Errorf("%w within %s", ErrHeartbeatTimeout, h.timeout))
}
