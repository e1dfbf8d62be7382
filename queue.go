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
// The head message is in flight while it is being written: it counts in
// bytes and is never evicted by OverflowDropOldest. Safe for concurrent use.
type sendQueue struct {
	maxMsgs  int
	maxBytes int
	overflow Overflow

	mu       sync.Mutex // guards every field below
	items    []queued   // items[head:] are queued, oldest first
	head     int
	bytes    int
	nextSeq  uint64
	inFlight bool          // items[head] is being written
	closed   error         // non-nil once the queue refuses new messages
	room     chan struct{} // made when a sender waits for room, closed (and cleared) when room frees up
	waiters  []*flushWaiter
	ttls     int // queued messages with an expiry

	ready   chan struct{}        // capacity 1: wakes the supervisor (something to write, Reconnect or Shutdown)
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

// push queues m (whose Data the queue now owns), to expire at expires
// unless that is zero. Messages evicted to make room, or expired, are
// reported through q.drop.
func (q *sendQueue) push(ctx context.Context, m Message, buf *bytes.Buffer, expires time.Time) error {
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
		n := len(q.items) - q.head
		if n < q.maxMsgs && q.bytes+len(m.Data) <= q.maxBytes {
			q.nextSeq++
			q.items = append(q.items, queued{msg: m, seq: q.nextSeq, expires: expires, buf: buf})
			if !expires.IsZero() {
				q.ttls++
			}
			q.bytes += len(m.Data)
			q.mu.Unlock()
			q.signal()
			return nil
		}
		switch q.overflow {
		case OverflowDropOldest:
			evicted := false
			for {
				first := q.head
				if q.inFlight {
					first++
				}
				n = len(q.items) - q.head
				if first >= len(q.items) || (n < q.maxMsgs && q.bytes+len(m.Data) <= q.maxBytes) {
					break
				}
				q.drop(q.removeLocked(first, ErrQueueFull).msg, ErrQueueFull)
				evicted = true
			}
			// Loop: room was made, unless only the in-flight message is left,
			// in which case we wait for it like OverflowBlock.
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
			if q.room == nil {
				q.room = make(chan struct{})
			}
			room := q.room
			q.mu.Unlock()
			select {
			case <-room:
			case <-ctx.Done():
				return fmt.Errorf("resilientws: waiting for room in the send queue: %w", ctx.Err())
			}
		default:
			bytes := q.bytes
			q.mu.Unlock()
			return fmt.Errorf("%w (%d messages, %d bytes queued)", ErrQueueFull, n, bytes)
		}
	}
}

// removeLocked takes items[i] out of the queue, reporting reason to the
// flush waiters that cover it. q.mu must be held.
func (q *sendQueue) removeLocked(i int, reason error) queued {
	it := q.items[i]
	switch i {
	case q.head: // the oldest: advance
		q.items[i] = queued{}
		q.head++
	case q.head + 1: // the oldest after the one in flight: move that one up
		q.items[i] = q.items[q.head]
		q.items[q.head] = queued{}
		q.head++
	default:
		copy(q.items[i:], q.items[i+1:])
		q.items[len(q.items)-1] = queued{}
		q.items = q.items[:len(q.items)-1]
	}
	q.bytes -= len(it.msg.Data)
	if !it.expires.IsZero() {
		q.ttls--
	}
	if !q.inFlight {
		q.compactLocked()
	}
	q.left(it.seq, reason)
	return it
}

// expire drops, through q.drop, every queued message whose TTL has run out
// (not the one in flight).
func (q *sendQueue) expire() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireLocked()
}

// expireLocked removes the expired messages and reports them through
// q.drop, oldest first. Reporting under q.mu orders every drop before a
// later close, so none can arrive after the client's last event. q.mu must
// be held.
func (q *sendQueue) expireLocked() {
	if q.ttls == 0 {
		return
	}
	first := q.head
	if q.inFlight {
		first++
	}
	now := time.Now()
	var expired []Message
	for i := len(q.items) - 1; i >= first; i-- {
		if e := q.items[i].expires; !e.IsZero() && !now.Before(e) {
			expired = append(expired, q.removeLocked(i, ErrExpired).msg)
		}
	}
	for i := len(expired) - 1; i >= 0; i-- {
		q.drop(expired[i], ErrExpired)
	}
}

// nextExpiry returns the earliest expiry among queued messages.
func (q *sendQueue) nextExpiry() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var next time.Time
	if q.ttls == 0 {
		return next, false
	}
	for _, it := range q.items[q.head:] {
		if !it.expires.IsZero() && (next.IsZero() || it.expires.Before(next)) {
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
	if q.head < len(q.items) {
		oldest = q.items[q.head].seq
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
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}

// signal wakes the supervisor; signals coalesce, and the supervisor checks
// for Shutdown and Reconnect before it writes.
func (q *sendQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// peek returns the oldest message and marks it in flight; ok is false when
// the queue is empty. Expired messages are dropped first.
func (q *sendQueue) peek() (m Message, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireLocked()
	if q.head == len(q.items) {
		return Message{}, false
	}
	q.inFlight = true
	return q.items[q.head].msg, true
}

// settle ends the write of the in-flight message: written removes it and
// returns it, otherwise it stays at the head for the next connection.
func (q *sendQueue) settle(written bool) queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inFlight = false
	if !written {
		q.freed() // OverflowDropOldest may evict it now
		return queued{}
	}
	it := q.items[q.head]
	q.items[q.head] = queued{}
	q.head++
	q.bytes -= len(it.msg.Data)
	if !it.expires.IsZero() {
		q.ttls--
	}
	q.compactLocked()
	q.left(it.seq, nil)
	return it
}

// compactLocked reclaims the slots before head. q.mu must be held.
func (q *sendQueue) compactLocked() {
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	} else if q.head > 64 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
}

// flushWait registers a waiter for everything queued now; nil when the queue
// is empty.
func (q *sendQueue) flushWait() *flushWaiter {
	q.expire()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
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
func (q *sendQueue) close(err error) []Message {
	q.mu.Lock()
	if q.closed == nil {
		q.closed = err
	}
	q.inFlight = false
	q.expireLocked()
	var out []Message
	for q.head < len(q.items) {
		it := q.items[q.head]
		q.items[q.head] = queued{}
		q.head++
		q.bytes -= len(it.msg.Data)
		out = append(out, it.msg)
		q.left(it.seq, err)
	}
	q.items, q.head, q.ttls = nil, 0, 0
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

// snapshot returns the number of messages and bytes queued, expiring first.
func (q *sendQueue) snapshot() (n, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireLocked()
	return len(q.items) - q.head, q.bytes
}

// buffered returns the bytes queued, the in-flight message included.
func (q *sendQueue) buffered() int {
	q.expire()
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// length returns the number of messages queued.
func (q *sendQueue) length() int {
	q.expire()
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}
