package resilientws

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

type eventKind uint8

const (
	evOpen eventKind = iota
	evMessage
	evClose
	evError
	evReconnecting
	evDrop
	evBackoff
	evHeartbeat
	evDial
)

// event is one callback to run. Only the fields of its kind are set.
type event struct {
	kind  eventKind
	msg   Message
	err   error
	open  OpenEvent
	close CloseEvent
	rec   ReconnectEvent
	beat  HeartbeatEvent
	dial  DialEvent
	buf   *bytes.Buffer // evMessage with WithPooledMessages: back to the pool after OnMessage
}

// Limits on received messages waiting for OnMessage; past them the reader
// waits (backpressure), and the heartbeat does not count that against the
// peer.
const (
	maxPendingMessages = 256
	maxPendingBytes    = 4 << 20
)

// dispatcherLinger is how long the event goroutine waits for more events
// before it exits; the next event starts another. An idle client so keeps
// no event goroutine. It is short because every goroutine alive at once
// leaves its g (and often its stack) to the process for good, while a new
// goroutine per sparse event is cheap (bench/BENCHMARKS.md has the figures).
const dispatcherLinger = 20 * time.Millisecond

// maxDispatcherLinger bounds the adaptive linger: an event that comes less
// than this after an event goroutine exited doubles the next one's linger,
// up to this, so a steady sparse feed (a message every 50-100 ms, say)
// keeps its event goroutine instead of starting one per message (a
// goroutine, its id read from the stack, a timer, and a wake-up at each
// linger's end). Any other launch starts over from dispatcherLinger, so an
// idle client still keeps no event goroutine.
const maxDispatcherLinger = 250 * time.Millisecond

// dispatcher runs every callback on one goroutine at a time, in order, with
// no library lock held. Lifecycle events are never refused; received
// messages are bounded by maxPendingMessages and maxPendingBytes. The event
// goroutine runs only while there are events (and dispatcherLinger after);
// on a dense stream it polls briefly before it parks (spinner).
//
// Owner: the Client. Stop signal: stop(). Join point: done (the last event
// goroutine closes it once stopped and drained).
type dispatcher struct {
	opts *options

	mu        sync.Mutex // guards queue, head, msgs, msgBytes, drops, dropBytes, stopping, space, dropRoom, enabled, running, linger, exitedAt
	enabled   bool       // start was called: events may run
	running   bool       // an event goroutine is running
	queue     fifo[event]
	msgs      int
	msgBytes  int
	drops     int // evDrop events queued, and their bytes: Send waits while they exceed the queue's limits
	dropBytes int
	stopping  bool
	space     room        // the reader waiting for message room
	dropRoom  room        // senders waiting for drop reports to be taken
	anyDrops  atomic.Bool // drops > 0: lets Send skip the lock when no report waits

	wake  chan struct{}   // capacity 1: something was queued or stop was called; set while an event goroutine runs
	after <-chan struct{} // the supervisor's end, awaited before done closes
	done  chan struct{}   // closed when the event goroutine has ended
	gid   atomic.Uint64   // the event goroutine's id, to detect calls from callbacks

	// linger is the running event goroutine's linger, exitedAt when the
	// last one exited after its linger (see maxDispatcherLinger).
	linger   time.Duration
	exitedAt time.Time
}

func newDispatcher(o *options, after <-chan struct{}) *dispatcher {
	return &dispatcher{
		opts:  o,
		after: after,
		done:  make(chan struct{}),
	}
}

// start lets events run (those posted before wait for it).
func (d *dispatcher) start() {
	d.mu.Lock()
	d.enabled = true
	if d.queue.len() > 0 || d.stopping {
		d.launchLocked()
	}
	d.mu.Unlock()
}

// launchLocked starts an event goroutine unless one runs; else it wakes it.
// d.mu must be held.
func (d *dispatcher) launchLocked() {
	if !d.enabled {
		return
	}
	if d.running {
		select {
		case d.wake <- struct{}{}:
		default:
		}
		return
	}
	d.running = true
	d.wake = make(chan struct{}, 1)
	d.linger = nextLinger(d.linger, d.exitedAt, time.Now())
	go d.run(d.wake, d.linger)
}

// nextLinger returns the linger of an event goroutine started at now, when
// the last one lingered prev and exited at exitedAt (zero: none did).
func nextLinger(prev time.Duration, exitedAt, now time.Time) time.Duration {
	if exitedAt.IsZero() || now.Sub(exitedAt) >= maxDispatcherLinger {
		return dispatcherLinger
	}
	return min(max(2*prev, dispatcherLinger), maxDispatcherLinger)
}

// post queues a lifecycle event or a drop report. It never blocks.
func (d *dispatcher) post(ev event) {
	d.mu.Lock()
	if ev.kind == evDrop {
		d.drops++
		d.dropBytes += len(ev.msg.Data)
		d.anyDrops.Store(true)
	}
	d.queue.push(ev)
	d.launchLocked()
	d.mu.Unlock()
}

// postMessage queues a received message, waiting while too many are pending.
// It increments stalls when it starts and when it stops waiting (so an odd
// value means "stalled now"), and returns false if cancel closed first.
//
// If dead closes first (the connection is gone: the reader must return so
// that the supervisor can replace it), the message is queued past the
// limits: at most one such message per connection, and it is still
// delivered, before the connection's OnClose.
func (d *dispatcher) postMessage(m Message, buf *bytes.Buffer, cancel, dead <-chan struct{}, stalls *atomic.Uint64) bool {
	for over := false; ; {
		d.mu.Lock()
		if over || d.msgs == 0 || (d.msgs < maxPendingMessages && d.msgBytes+len(m.Data) <= maxPendingBytes) {
			d.queue.push(event{kind: evMessage, msg: m, buf: buf})
			d.msgs++
			d.msgBytes += len(m.Data)
			d.launchLocked()
			d.mu.Unlock()
			return true
		}
		space := d.space.wait()
		d.mu.Unlock()
		stalls.Add(1) // odd: stalled
		select {
		case <-space:
			stalls.Add(1)
		case <-cancel:
			stalls.Add(1)
			return false
		case <-dead:
			stalls.Add(1)
			over = true
		}
	}
}

// awaitDropRoom is the flow control that bounds the drop reports waiting
// for OnDrop: while they hold maxMsgs messages, or more than maxBytes with a
// message of size added, it waits for the event goroutine to take some,
// until ctx ends or stop closes (the client is closing: the caller then
// finds it closed). Where waiting cannot help it fails at once: before Start
// (no event runs yet), and where canWait says no (a callback, or the
// supervisor running the dial hook, the policy or the backoff, which a
// callback may be waiting for).
func (d *dispatcher) awaitDropRoom(ctx context.Context, size, maxMsgs, maxBytes int, canWait func() error, stop <-chan struct{}) error {
	if !d.anyDrops.Load() {
		return nil
	}
	checked := false // canWait has said yes
	for {
		d.mu.Lock()
		if d.drops == 0 || (d.drops < maxMsgs && d.dropBytes+size <= maxBytes) {
			d.mu.Unlock()
			return nil
		}
		waiting := fmt.Sprintf("%d dropped messages (%d bytes) wait for OnDrop", d.drops, d.dropBytes)
		if !d.enabled {
			d.mu.Unlock()
			return newFailure(describe(ErrQueueFull)+": "+waiting+", which runs only after Start", ErrQueueFull)
		}
		if !checked {
			d.mu.Unlock()
			if err := canWait(); err != nil {
				return newFailure(describe(ErrQueueFull)+": "+waiting+", which cannot run while this call waits: "+describe(err), ErrQueueFull, err)
			}
			checked = true
			continue
		}
		room := d.dropRoom.wait()
		d.mu.Unlock()
		select {
		case <-room:
		case <-stop:
			return nil // the queue refuses the message with ErrClosed
		case <-ctx.Done():
			return newFailure("waiting while "+waiting+": "+describe(ctx.Err()), ctx.Err())
		}
	}
}

// stop makes the event goroutine exit, and done close, once every queued
// event has run.
func (d *dispatcher) stop() {
	d.mu.Lock()
	d.stopping = true
	d.launchLocked()
	d.mu.Unlock()
}

func (d *dispatcher) run(wake <-chan struct{}, lingerFor time.Duration) {
	d.gid.Store(goroutineID())
	var linger *time.Timer
	spin := newSpinner()
	for {
		d.mu.Lock()
		if d.queue.len() == 0 {
			if d.stopping {
				d.mu.Unlock()
				if linger != nil {
					linger.Stop()
				}
				<-d.after // nothing posts after stop; wait for the supervisor to return
				close(d.done)
				return
			}
			d.mu.Unlock()
			if spin.poll(wake) {
				continue
			}
			if linger == nil {
				linger = time.NewTimer(lingerFor)
			} else {
				linger.Reset(lingerFor)
			}
			parked := time.Now()
			select {
			case <-wake:
				linger.Stop()
				spin.woke(time.Since(parked))
				continue
			case <-linger.C:
			}
			d.mu.Lock()
			if d.queue.len() == 0 && !d.stopping {
				d.gid.Store(0) // before running is cleared: a new goroutine sets its own
				d.running = false
				d.exitedAt = time.Now()
				d.queue.release() // an idle client keeps neither the queue's slice
				d.wake = nil      // nor the wake channel
				d.mu.Unlock()
				return
			}
			d.mu.Unlock()
			continue
		}
		ev := d.queue.pop()
		switch ev.kind {
		case evMessage:
			d.msgs--
			d.msgBytes -= len(ev.msg.Data)
			d.space.free()
		case evDrop:
			d.drops--
			d.dropBytes -= len(ev.msg.Data)
			d.anyDrops.Store(d.drops > 0)
			d.dropRoom.free()
		}
		d.mu.Unlock()
		d.deliver(ev)
	}
}

func (d *dispatcher) deliver(ev event) {
	o := d.opts
	switch ev.kind {
	case evOpen:
		if o.onOpen != nil {
			d.guard("OnOpen", func() { o.onOpen(ev.open) })
		}
		observe(d, "Observer.OnOpen", ev.open, func(ob *Observer) func(OpenEvent) { return ob.OnOpen })
		close(ev.open.conn.gate) // the queue may flow
	case evMessage:
		if o.onMessage != nil {
			d.guard("OnMessage", func() { o.onMessage(ev.msg) })
		}
		putBuf(ev.buf)
	case evClose:
		if o.onClose != nil {
			d.guard("OnClose", func() { o.onClose(ev.close) })
		}
		observe(d, "Observer.OnClose", ev.close, func(ob *Observer) func(CloseEvent) { return ob.OnClose })
	case evError:
		d.reportError(ev.err)
	case evReconnecting:
		if o.onReconnecting != nil {
			d.guard("OnReconnecting", func() { o.onReconnecting(ev.rec) })
		}
		observe(d, "Observer.OnReconnecting", ev.rec, func(ob *Observer) func(ReconnectEvent) { return ob.OnReconnecting })
	case evBackoff:
		if o.onBackoff != nil {
			d.guard("OnBackoff", func() { o.onBackoff(ev.rec) })
		}
		observe(d, "Observer.OnBackoff", ev.rec, func(ob *Observer) func(ReconnectEvent) { return ob.OnBackoff })
	case evDrop:
		if o.onDrop != nil {
			d.guard("OnDrop", func() { o.onDrop(ev.msg, ev.err) })
		}
	case evHeartbeat:
		if o.onHeartbeat != nil {
			d.guard("OnHeartbeat", func() { o.onHeartbeat(ev.beat) })
		}
		observe(d, "Observer.OnHeartbeat", ev.beat, func(ob *Observer) func(HeartbeatEvent) { return ob.OnHeartbeat })
	case evDial:
		if o.onDial != nil {
			d.guard("OnDial", func() { o.onDial(ev.dial) })
		}
		observe(d, "Observer.OnDial", ev.dial, func(ob *Observer) func(DialEvent) { return ob.OnDial })
	}
}

// reportError delivers err to OnError, then to the observers' OnError; only
// the event goroutine calls it.
func (d *dispatcher) reportError(err error) {
	if d.opts.onError != nil {
		d.guard("OnError", func() { d.opts.onError(err) })
	}
	observe(d, "OnError", err, func(ob *Observer) func(error) { return ob.OnError })
}

// guard runs f, turning a panic into an OnError report (a panic in an
// OnError, the user's or an observer's, is dropped, to avoid a loop).
func (d *dispatcher) guard(name string, f func()) {
	defer func() {
		if v := recover(); v != nil && name != "OnError" {
			d.reportError(&PanicError{Callback: name, Value: v})
		}
	}()
	f()
}
