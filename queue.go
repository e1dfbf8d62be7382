package resilientws

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"
)

// queued is one message accepted by Send.
type queued struct {
	msg     Message
	seq     uint64
	expires time.Time     // zero: never
	buf     *bytes.Buffer // the pooled buffer behind msg.Data, if any
	writes  int           // how many times it was written on a connection (WithResend)
	once    bool          // sent WithoutQueue: never written again on a later connection
}

// flushWaiter is a Flush call waiting for every message up to seq to leave
// the queue.
type flushWaiter struct {
	seq  uint64
	err  error         // the first drop reason among its messages
	done chan struct{} // closed when they have all left
}

// sendQueue is the bounded FIFO between Send and the supervisor, which
// writes it. Messages leave
// it only by being written (pop) or dropped (a rule the user chose), and
// every drop is handed to the drop function.
//
// The messages at the head that the supervisor's batch is writing are in
// flight: they no longer count against the limits (they count in
// BufferedAmount) and are never evicted by OverflowDropOldest. Safe for
// concurrent use.
type sendQueue struct {
	maxMsgs  int
	maxBytes int
	overflow Overflow

	mu       sync.Mutex   // guards every field below
	items    fifo[queued] // oldest first
	bytes    int          // of the queued messages, those in flight excluded
	nextSeq  uint64
	inFlight int   // the first inFlight items are being written: they no longer count against the limits
	flight   int   // their bytes
	closed   error // non-nil once the queue refuses new messages
	room     room  // senders waiting for room
	waiters  []*flushWaiter
	ttls     int       // queued messages with an expiry
	earliest time.Time // no queued message expires before it (a lower bound)

	ready   chan struct{}        // capacity 1: wakes the supervisor (see wakeSupervisor)
	drop    func(Message, error) // reports a message that left unwritten; called with q.mu held, must not block
	canWait func() error         // nil if Send may wait for room on this goroutine
}

func newSendQueue(maxMsgs, maxBytes int, overflow Overflow, drop func(Message, error)) *sendQueue {
	return &sendQueue{
		drop:     drop,
		maxMsgs:  maxMsgs,
		maxBytes: maxBytes,
		overflow: overflow,
		ready:    make(chan struct{}, 1),
	}
}

// push queues it (whose message's Data the queue now owns), to expire at
// it.expires unless that is zero; the queue numbers it. Messages evicted to
// make room, or expired, are reported through q.drop.
func (q *sendQueue) push(ctx context.Context, it queued) error {
	m, expires := it.msg, it.expires
	if len(m.Data) > q.maxBytes {
		return newFailure(fmt.Sprintf("message of %d bytes is larger than the send queue's %d-byte limit", len(m.Data), q.maxBytes), ErrMessageTooLarge, ErrQueueFull)
	}
	mayWait := false // canWait has said yes
	for {
		q.mu.Lock()
		q.expireLocked()
		if q.closed != nil {
			err := q.closed
			q.mu.Unlock()
			return err
		}
		if q.fitsLocked(len(m.Data)) {
			q.nextSeq++
			it.seq = q.nextSeq
			q.items.push(it)
			if !expires.IsZero() {
				q.ttls++
				if q.earliest.IsZero() || expires.Before(q.earliest) {
					q.earliest = expires
				}
			}
			q.bytes += len(m.Data)
			q.mu.Unlock()
			q.wakeSupervisor()
			return nil
		}
		switch q.overflow {
		case OverflowDropOldest:
			evicted := false
			for {
				first := q.firstLocked()
				if first >= q.items.len() || q.fitsLocked(len(m.Data)) {
					break
				}
				q.drop(q.removeLocked(first, ErrQueueFull).msg, ErrQueueFull)
				evicted = true
			}
			// Loop: room was made, unless only messages in flight are
			// left, in which case we wait for them like OverflowBlock.
			if evicted {
				q.mu.Unlock()
				continue
			}
			fallthrough
		case OverflowBlock:
			if !mayWait {
				// Checked once, outside the lock (it reads the goroutine's
				// stack); then look at the queue again.
				q.mu.Unlock()
				if err := q.canWait(); err != nil {
					return newFailure(describe(ErrQueueFull)+": Send would wait for room, and nothing can make any while it waits: "+describe(err), ErrQueueFull, err)
				}
				mayWait = true
				continue
			}
			room := q.room.wait()
			var expiry *time.Timer // expiry is lazy: a message that expires makes room
			var expired <-chan time.Time
			if next, ok := q.nextExpiryLocked(); ok {
				expiry = time.NewTimer(time.Until(next))
				expired = expiry.C
			}
			q.mu.Unlock()
			select {
			case <-room:
			case <-expired:
			case <-ctx.Done():
			}
			if expiry != nil {
				expiry.Stop()
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("resilientws: waiting for room in the send queue: %w", err)
			}
		default:
			n, bytes := q.countedLocked()
			q.mu.Unlock()
			return fmt.Errorf("%w (%d messages, %d bytes queued)", ErrQueueFull, n, bytes)
		}
	}
}

// requeue puts messages written on a connection that ended unconfirmed
// back at the head of the queue, in their order, to be written again first.
// They were all sent before anything still queued (their seqs are lower).
// They are put back even past the limits, which they count against again:
// until the queue is back within them, OverflowReject refuses new messages,
// OverflowBlock makes Send wait, and OverflowDropOldest evicts the oldest,
// these first. Those whose TTL has run out are dropped with ErrExpired
// instead. The caller owns no other lock.
func (q *sendQueue) requeue(items []queued) {
	if len(items) == 0 {
		return
	}
	q.mu.Lock()
	q.items.pushFront(items)
	for _, it := range items {
		q.bytes += len(it.msg.Data)
		if !it.expires.IsZero() {
			q.ttls++
			if q.earliest.IsZero() || it.expires.Before(q.earliest) {
				q.earliest = it.expires
			}
		}
	}
	q.expireLocked()
	q.mu.Unlock()
	q.wakeSupervisor()
}

// countedLocked returns the messages and bytes that count against the
// limits: those queued, not those in flight. Once a message is handed
// to the socket the peer may have read it (and answered) before the write
// returns, so it must not hold up a sender that keeps within the limits.
// q.mu must be held.
func (q *sendQueue) countedLocked() (n, bytes int) {
	return q.items.len() - q.firstLocked(), q.bytes
}

// firstLocked returns the index of the oldest message that is not in
// flight. Eviction, expiry and the limits skip the messages in flight. q.mu
// must be held.
func (q *sendQueue) firstLocked() int {
	return q.inFlight
}

// fitsLocked reports whether a message of size bytes fits within the
// limits. q.mu must be held.
func (q *sendQueue) fitsLocked(size int) bool {
	n, bytes := q.countedLocked()
	return n < q.maxMsgs && bytes+size <= q.maxBytes
}

// removeLocked takes the i-th oldest message out of the queue (never one
// in flight), reporting reason to the flush waiters that cover it. q.mu
// must be held.
func (q *sendQueue) removeLocked(i int, reason error) queued {
	it := q.items.removeAt(i)
	q.bytes -= len(it.msg.Data)
	if !it.expires.IsZero() {
		q.ttls--
	}
	q.left(it.seq, reason)
	return it
}

// expire drops, through q.drop, every queued message whose TTL has run out
// (not those in flight).
func (q *sendQueue) expire() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireLocked()
}

// expireLocked removes every queued message whose TTL has run out (not
// those in flight), wherever it sits, and reports each through q.drop, oldest
// first. Reporting under q.mu orders every drop before a later close, so
// none can arrive after the client's last event. q.mu must be held.
func (q *sendQueue) expireLocked() {
	now := time.Now()
	if q.ttls == 0 || now.Before(q.earliest) {
		return
	}
	q.earliest = time.Time{}
	expired := q.items.removeFunc(q.firstLocked(), func(it *queued) bool {
		e := it.expires
		if e.IsZero() {
			return false
		}
		if !now.Before(e) {
			return true
		}
		if q.earliest.IsZero() || e.Before(q.earliest) {
			q.earliest = e
		}
		return false
	})
	for _, it := range expired {
		q.bytes -= len(it.msg.Data)
		q.ttls--
	}
	for _, it := range expired {
		q.left(it.seq, ErrExpired)
		q.drop(it.msg, ErrExpired)
	}
}

// nextExpiry returns the earliest expiry among the queued messages that
// may still expire: not those in flight, which are being written.
func (q *sendQueue) nextExpiry() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.nextExpiryLocked()
}

// nextExpiryLocked is nextExpiry with q.mu held.
func (q *sendQueue) nextExpiryLocked() (time.Time, bool) {
	var next time.Time
	if q.ttls == 0 {
		return next, false
	}
	for i := q.firstLocked(); i < q.items.len(); i++ {
		if it := q.items.at(i); !it.expires.IsZero() && (next.IsZero() || it.expires.Before(next)) {
			next = it.expires
		}
	}
	return next, !next.IsZero()
}

// left updates the flush waiters after message seq left the queue, written
// (reason nil) or dropped. q.mu must be held.
func (q *sendQueue) left(seq uint64, reason error) {
	q.freed()
	oldest := q.nextSeq + 1
	if q.items.len() > 0 {
		oldest = q.items.at(0).seq
	}
	keep := q.waiters[:0]
	for _, w := range q.waiters {
		if reason != nil && seq <= w.seq && w.err == nil {
			w.err = reason
		}
		if oldest > w.seq {
			close(w.done)
			continue
		}
		keep = append(keep, w)
	}
	for i := len(keep); i < len(q.waiters); i++ {
		q.waiters[i] = nil
	}
	q.waiters = keep
}

// freed wakes the senders waiting for room. q.mu must be held.
func (q *sendQueue) freed() {
	q.room.free()
}

// wakeSupervisor wakes the supervisor, which waits on q.ready: for a
// message to write (push, requeue), and for every other reason an idle
// supervisor has to wake (Reconnect, Shutdown, a pong that made room in the
// unconfirmed log, another batch to write). Wake-ups coalesce; the
// supervisor checks for Shutdown and Reconnect before it writes.
func (q *sendQueue) wakeSupervisor() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// peek returns the oldest message not yet in flight and marks it in flight;
// ok is false when there is none. Expired messages are dropped first.
func (q *sendQueue) peek() (m Message, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireLocked()
	if q.items.len() <= q.inFlight {
		return Message{}, false
	}
	m = q.items.at(q.inFlight).msg
	q.inFlight++
	q.flight += len(m.Data)
	q.bytes -= len(m.Data)
	q.freed() // it no longer counts: a blocked sender may fit now
	return m, true
}

// settle ends the write of the oldest message in flight: written removes
// it and returns it. Otherwise it and every later one in flight stay at the
// head for the next connection.
func (q *sendQueue) settle(written bool) queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !written {
		q.bytes += q.flight // they count again, possibly past the limits
		q.inFlight, q.flight = 0, 0
		q.earliest = time.Time{} // expiry skipped them: look at them again
		q.freed()                // OverflowDropOldest may evict them now
		return queued{}
	}
	it := q.items.pop()
	q.inFlight--
	q.flight -= len(it.msg.Data)
	if !it.expires.IsZero() {
		q.ttls--
	}
	q.left(it.seq, nil)
	return it
}

// flushWait registers a waiter for everything queued now; nil when the queue
// is empty.
func (q *sendQueue) flushWait() *flushWaiter {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireLocked()
	if q.items.len() == 0 {
		return nil
	}
	w := &flushWaiter{seq: q.nextSeq, done: make(chan struct{})}
	q.waiters = append(q.waiters, w)
	return w
}

// forget removes a waiter whose Flush gave up.
func (q *sendQueue) forget(w *flushWaiter) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			return
		}
	}
}

// waiterErr reads a finished waiter's result.
func (q *sendQueue) waiterErr(w *flushWaiter) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return w.err
}

// close refuses new messages with err and removes everything still queued:
// what has expired is reported through q.drop with ErrExpired, the rest is
// returned (each reported to the flush waiters with err), for the caller to
// drop with its reason.
func (q *sendQueue) close(err error) []queued {
	q.mu.Lock()
	if q.closed == nil {
		q.closed = err
	}
	q.bytes += q.flight
	q.inFlight, q.flight = 0, 0
	q.expireLocked()
	var out []queued
	for q.items.len() > 0 {
		it := q.items.pop()
		q.bytes -= len(it.msg.Data)
		out = append(out, it)
		q.left(it.seq, err)
	}
	q.items.release()
	q.ttls, q.earliest = 0, time.Time{}
	q.mu.Unlock()
	return out
}

// refuse makes later pushes fail with err without touching what is queued.
func (q *sendQueue) refuse(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed == nil {
		q.closed = err
	}
	q.freed() // wake blocked senders so they see err
}

// snapshot returns the number of messages and bytes queued, those in
// flight included, expiring first: one lock for both (buffered and length
// are its halves).
func (q *sendQueue) snapshot() (n, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireLocked()
	return q.items.len(), q.bytes + q.flight
}

// buffered returns the bytes queued, those in flight included.
func (q *sendQueue) buffered() int {
	_, bytes := q.snapshot()
	return bytes
}

// length returns the number of messages queued, those in flight included.
func (q *sendQueue) length() int {
	n, _ := q.snapshot()
	return n
}
