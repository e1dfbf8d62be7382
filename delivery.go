package resilientws

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Delivery: the story of a message, from the send queue to its
// confirmation. This file tells it; the others call it.
//
//  1. Send puts the message in the send queue (queue.go), which bounds it.
//  2. Once a connection is open and OnOpen has returned, the supervisor
//     writes the queue in order, in batches (writeTurn, writeQueued): peek
//     marks each message of the batch in flight, the writes run under the
//     watchdog (write.go) into the held connection (coalesce_other.go),
//     which writes the batch out at once, and settle takes out of the queue
//     each message the socket took, and leaves the first it did not, and
//     those after it, at the head for the next connection.
//  3. A written message goes into the unconfirmed log. WebSocket has no
//     acknowledgements, and a successful write only means the bytes reached
//     the local socket: a message written just before a link dies may never
//     arrive. But a pong, or the peer's answer to our close frame, comes
//     after the peer has read everything written before the ping (TCP and
//     WebSocket keep order). So the message stays in the log until a ping
//     sent after it is answered (the confirmer, below), or the close
//     handshake is (close.go): it is then delivered, and forgotten.
//  4. If the connection ends first, what the log still holds is settled
//     once the supervisor knows whether another connection follows
//     (settleUnconfirmed): with WithResend, and another connection to come,
//     each message goes back to the head of the queue, in order, to be
//     written again first (step 2), until it has been written max+1 times;
//     otherwise, or then, it is reported through OnDrop with ErrUnconfirmed
//     (it may or may not have arrived), never lost silently.
//
// The log is bounded by the unconfirmed window (WithUnconfirmedWindow: the
// queue's limits by default, smaller with WithResend, since the window is
// what a lost connection costs in duplicates): when it is full, writing
// pauses until a pong confirms it. A confirmation
// ping goes out when the log is half full, and when the queue runs dry with
// messages unconfirmed (then at most every confirmEvery).
//
// In the browser a page has no protocol pings. With WithAppHeartbeat, the
// application pong confirms what was written before its ping (assuming the
// server answers pings in order, after reading what came before them); the
// heartbeat's ping goes out early when the log is half full. Without it,
// nothing can confirm: the log keeps the last messages written, within its
// limits, writing never pauses on it, and a message pushed out by newer ones
// is reported with ErrUnconfirmed at once, never resent on the connection
// that is still live; the rest is settled as above when the connection ends
// (unless the close handshake confirms them).

// writeBatch is how many queued messages writeQueued writes before it lets
// the supervisor look at its other duties.
const writeBatch = 64

// confirmEvery is the least time between two confirmation pings sent because
// the queue ran dry (a half-full log does not wait).
const confirmEvery = 10 * time.Millisecond

// confirmTimeout bounds the wait for a confirmation ping's pong when the
// heartbeat is off (else its timeout does). A peer may
// answer only the latest of several pings (RFC 6455 allows it), or a
// middlebox may lose one: after this, another ping is sent. Whether the peer
// is alive is the heartbeat's business, but writing stops while the log is
// full: confirmation pings that get no pong then replace the connection, one
// with the heartbeat off, two in a row with it on (see confirmer.tolerance).
const confirmTimeout = 5 * time.Second

// unconfirmedLog holds the messages written on the current connection that
// no pong has confirmed yet. Safe for concurrent use.
type unconfirmedLog struct {
	maxMsgs, maxBytes int
	window            bool // nothing can confirm (the browser without an app heartbeat): add evicts the oldest

	mu        sync.Mutex   // guards the fields below
	items     fifo[queued] // oldest first
	bytes     int
	last      uint64 // seq of the last message written
	confirmed uint64 // every message up to this seq is confirmed
}

// add records a message just written. In window mode it returns the
// oldest messages it pushed out to stay within its limits (it keeps the one
// just written).
func (l *unconfirmedLog) add(it queued) (evicted []Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items.push(it)
	l.bytes += len(it.msg.Data)
	l.last = it.seq
	for l.window && l.items.len() > 1 && (l.items.len() > l.maxMsgs || l.bytes > l.maxBytes) {
		old := l.items.pop()
		l.bytes -= len(old.msg.Data)
		evicted = append(evicted, old.msg)
	}
	return evicted
}

// mark returns the seq of the last message written: a pong to a ping sent
// now confirms everything up to it.
func (l *unconfirmedLog) mark() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// confirm forgets every message up to seq. It reports whether the log was
// full before: writing, paused, may go on.
func (l *unconfirmedLog) confirm(seq uint64) (wasFull bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	wasFull = l.items.len() >= l.maxMsgs || l.bytes >= l.maxBytes
	l.confirmed = max(l.confirmed, min(seq, l.last)) // seq may be MaxUint64: "all"
	for l.items.len() > 0 && l.items.at(0).seq <= seq {
		it := l.items.pop()
		l.bytes -= len(it.msg.Data)
		putBuf(it.buf) // delivered: nobody holds it any more
	}
	return wasFull
}

// confirmedUpTo returns the seq up to which every message is confirmed.
func (l *unconfirmedLog) confirmedUpTo() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.confirmed
}

// end is called once a connection is over: if the peer answered our close
// frame (answered) it has read everything written, which is confirmed;
// end returns what is left unconfirmed, oldest first, for
// settleUnconfirmed, and empties the log for the next connection.
func (l *unconfirmedLog) end(answered bool) []queued {
	if answered {
		l.confirm(math.MaxUint64)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []queued
	for i := range l.items.len() {
		out = append(out, *l.items.at(i))
	}
	l.items.reset()
	l.bytes = 0
	return out
}

// fullWith reports whether the log would be full with n more messages of
// size bytes in all (never in window mode).
func (l *unconfirmedLog) fullWith(n, size int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.window && (l.items.len()+n >= l.maxMsgs || l.bytes+size >= l.maxBytes)
}

// pending returns the number of unconfirmed messages, and whether the log
// is at least half full, and full (never in window mode: writing does not
// wait for what cannot come).
func (l *unconfirmedLog) pending() (n int, half, full bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = l.items.len()
	full = !l.window && (n >= l.maxMsgs || l.bytes >= l.maxBytes)
	half = full || 2*n >= l.maxMsgs || 2*l.bytes >= l.maxBytes
	return n, half, full
}

// writeTurn is one turn of the supervisor at the send queue: it writes a
// batch of it on cn (cn.writeQueued), asks for another turn if more may
// remain, and for a confirmation ping when one is due.
func (c *Client) writeTurn(cn *connection, cf *confirmer) {
	if cn.writeQueued(c.opts.writeTimeout) {
		c.queue.wakeSupervisor()
	}
	c.askConfirm(cn, cf, false)
}

// writeQueued writes queued messages in order, up to writeBatch, each
// bounded by limit, and records them in the unconfirmed log. It stops early
// when the log would be full. It reports whether the queue may still hold
// messages that it could write now.
//
// Where the connection can hold its writes (coalesce_other.go), the batch
// reaches the socket in one system call at its end, and only then are its
// messages settled: those before the first that the socket certainly cut
// are written (heldConn.sentMessages); that one is a failed write, and it
// stays queued for the next connection with those after it, which never
// reached the socket.
func (cn *connection) writeQueued(limit time.Duration) (more bool) {
	if cn.isDead() || cn.c.unconfirmed.fullWith(0, 0) {
		return false
	}
	m, ok := cn.c.queue.peek()
	if !ok {
		return false
	}
	return cn.writeBatchFrom(m, limit)
}

// writeBatchFrom is writeQueued once the first message, m, is in flight. It is
// apart so that an idle supervisor's turn at an empty queue stays shallow:
// a deeper one doubled the stack the supervisor keeps while it waits
// (bench/BENCHMARKS.md, idle clients).
func (cn *connection) writeBatchFrom(m Message, limit time.Duration) (more bool) {
	c := cn.c
	q, log := c.queue, c.unconfirmed
	h := cn.held
	cn.writes.Add(1) // odd: writing
	defer cn.writes.Add(1)
	if h != nil {
		h.hold()
	}
	n, size := 0, 0 // messages in flight, and their bytes
	var err error
	more = true
	for {
		n++
		size += len(m.Data)
		if h != nil {
			h.beginMessage(cn.minFrame(len(m.Data)))
		}
		if err = cn.write(m, limit); err != nil {
			break
		}
		if n == writeBatch {
			break
		}
		if cn.isDead() || log.fullWith(n, size) {
			more = false
			break
		}
		var ok bool
		if m, ok = q.peek(); !ok {
			more = false
			break
		}
	}
	written := n
	if err != nil {
		written = n - 1
	}
	if h != nil {
		accepted := 0
		rerr := cn.watched(limit, func() (err error) {
			accepted, err = h.release()
			return err
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			written = min(written, h.sentMessages(accepted))
		}
	}
	for range written {
		it := q.settle(true)
		it.writes++
		if it.writes > 1 {
			c.stats.resent.Add(1)
		}
		c.stats.sent(len(it.msg.Data))
		for _, old := range log.add(it) {
			c.dropped(old, ErrUnconfirmed)
		}
	}
	if written < n {
		q.settle(false) // the rest stays at the head
	}
	if err != nil {
		cn.fail(err)
		return false
	}
	return more
}

// settleUnconfirmed settles what a connection that ended left unconfirmed,
// oldest first: with WithResend, when another connection follows (next),
// each message that has been written at most max times goes back to the
// head of the send queue, unless it was sent WithoutQueue; every other one
// is reported through OnDrop with ErrUnconfirmed. Call it after the connection's OnError, if any, and
// before its OnClose.
func (c *Client) settleUnconfirmed(left []queued, next bool) {
	keep := left[:0]
	for _, it := range left {
		switch {
		case it.once && c.opts.resend > 0:
			c.dropped(it.msg, errUnconfirmedOnce)
		case next && it.writes <= c.opts.resend:
			keep = append(keep, it)
		default:
			c.dropped(it.msg, c.unconfirmedErr(it.writes, next))
		}
	}
	c.queue.requeue(keep)
}

// errUnconfirmedOnce is the reason given to OnDrop for a message sent
// WithoutQueue whose connection ended unconfirmed: WithResend leaves it.
var errUnconfirmedOnce = newFailure("written, but the connection was lost before the peer confirmed it; not written again: it was sent WithoutQueue", ErrUnconfirmed)

// unconfirmedErr is the reason given to OnDrop for a message written writes
// times, the last time on a connection that ended unconfirmed: after its
// resends (next: another connection follows), or for want of another
// connection. Without WithResend it is ErrUnconfirmed itself.
func (c *Client) unconfirmedErr(writes int, next bool) error {
	switch {
	case c.opts.resend == 0:
		return ErrUnconfirmed
	case next:
		return newFailure(fmt.Sprintf("written %d times (WithResend(%d)), each time on a connection lost before the peer confirmed it; not sent again",
			writes, c.opts.resend), ErrUnconfirmed)
	case writes == 1:
		return newFailure("written once, but the connection was lost before the peer confirmed it, and the client stopped before writing it again", ErrUnconfirmed)
	}
	return newFailure(fmt.Sprintf("written %d times, but each connection was lost before the peer confirmed it, and the client stopped before writing it again", writes), ErrUnconfirmed)
}

// confirmer sends the protocol pings that confirm delivery, one at a time,
// for the supervisor goroutine (its state needs no lock). Each ping runs on
// a short-lived goroutine joined through results. Its timer and channel are
// made on first use: a connection that writes nothing costs no more.
type confirmer struct {
	log     *unconfirmedLog
	timeout time.Duration // for each ping's pong
	pending bool          // a ping is out
	seq     uint64        // what its pong confirms
	lastAt  time.Time     // when the last one was sent
	again   bool          // sent or not, another is wanted after it
	timer   *time.Timer   // rate limit for pings wanted because the queue ran dry
	armed   bool          // timer is set
	results chan error    // the ping goroutine's result
	misses  int           // pings in a row that got no pong in time
	// tolerance is how many pings in a row may go unanswered while the log
	// is full before the connection is replaced: 1 with the heartbeat off
	// (nothing else would), 2 with it on (a middlebox may lose one ping).
	tolerance int
	hb        *heartbeat // the connection's; in the browser its application pings confirm
}

// newConfirmer returns a confirmer whose pings wait for their pong at most
// the heartbeat timeout, or confirmTimeout when the heartbeat is off.
func newConfirmer(log *unconfirmedLog, o *options, hb *heartbeat) confirmer {
	if o.heartbeatInterval > 0 {
		return confirmer{log: log, timeout: o.heartbeatTimeout, tolerance: 2, hb: hb}
	}
	return confirmer{log: log, timeout: confirmTimeout, tolerance: 1, hb: hb}
}

// done returns the channel of the running ping's result; nil when none runs.
func (cf *confirmer) done() <-chan error {
	if !cf.pending {
		return nil
	}
	return cf.results
}

// due returns the rate-limit timer's channel; nil when it is not set.
func (cf *confirmer) due() <-chan time.Time {
	if !cf.armed {
		return nil
	}
	return cf.timer.C
}

// want asks for a confirmation ping: at once if urgent (the log is half
// full), else within confirmEvery of the previous one. In the browser,
// which has no protocol pings, only an urgent one is sent, as the
// application heartbeat's next ping, if there is one and none is awaited.
func (cf *confirmer) want(cn *connection, urgent bool) {
	if inBrowser {
		if urgent && cf.hb != nil && cf.hb.app != nil {
			cf.hb.ping()
		}
		return
	}
	if cf.pending {
		cf.again = true
		return
	}
	if wait := confirmEvery - time.Since(cf.lastAt); !urgent && wait > 0 {
		if !cf.armed {
			if cf.timer == nil {
				cf.timer = time.NewTimer(wait)
			} else {
				cf.timer.Reset(wait)
			}
			cf.armed = true
		}
		return
	}
	cf.send(cn)
}

// send starts a confirmation ping.
func (cf *confirmer) send(cn *connection) {
	if cf.armed {
		cf.timer.Stop()
		cf.armed = false
	}
	cf.pending, cf.again = true, false
	cf.seq = cf.log.mark()
	cf.lastAt = time.Now()
	if cf.results == nil {
		cf.results = make(chan error, 1)
	}
	go confirmPing(cn.ws, cf.timeout, cf.results) // not a closure over cf, which so stays on the supervisor's stack
}

// confirmPing sends one confirmation ping and reports how it ended.
func confirmPing(ws socket, timeout time.Duration, results chan<- error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	results <- ws.Ping(ctx)
}

// finish handles the ping's result: a pong confirms what was written before
// it. A ping whose own pong did not come is answered all the same if another
// pong (the heartbeat's, or the answer to a later ping: RFC 6455 lets a peer
// answer only the latest of several pings) has confirmed as much meanwhile.
// It reports whether another ping is wanted (one was asked for meanwhile, or
// this one went unanswered), and how many pings in a row went unanswered
// within the timeout.
func (cf *confirmer) finish(err error) (again bool, unanswered int) {
	cf.pending = false
	switch {
	case err == nil:
		cf.log.confirm(cf.seq)
	case cf.log.confirmedUpTo() >= cf.seq:
		err = nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		cf.misses++
	} else if err == nil {
		cf.misses = 0
	}
	return cf.again || err != nil, cf.misses
}

// stop stops the timer and joins the ping goroutine, if one runs: call it
// after the connection is closed, which ends the ping.
func (cf *confirmer) stop() {
	if cf.timer != nil {
		cf.timer.Stop()
	}
	cf.armed = false
	if cf.pending {
		<-cf.results
		cf.pending = false
	}
}

// askConfirm asks for a confirmation ping when messages are unconfirmed and
// the log is half full, the queue has run dry, or retry says a ping just
// went unanswered.
func (c *Client) askConfirm(cn *connection, cf *confirmer, retry bool) {
	n, half, _ := c.unconfirmed.pending()
	if n == 0 || cn.isDead() || c.stop.Err() != nil {
		return
	}
	if half || retry || c.queue.length() == 0 {
		cf.want(cn, half)
	}
}
