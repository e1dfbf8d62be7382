package resilientws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// MessageType is the type of a WebSocket message: Text or Binary.
type MessageType = websocket.MessageType

// Message types.
const (
	// Text is a UTF-8 text message.
	Text = websocket.MessageText
	// Binary is a binary message.
	Binary = websocket.MessageBinary
)

// State is a client's connection state. Its values are those of the browser
// WebSocket's readyState.
type State int32

// States.
const (
	// StateConnecting: dialing, or waiting between connections.
	StateConnecting State = 0
	// StateOpen: a connection is up.
	StateOpen State = 1
	// StateClosing: Close or Shutdown is draining the queue and closing.
	StateClosing State = 2
	// StateClosed: the client has stopped for good.
	StateClosed State = 3
)

// String returns the state's name, as in "OPEN".
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "CONNECTING"
	case StateOpen:
		return "OPEN"
	case StateClosing:
		return "CLOSING"
	case StateClosed:
		return "CLOSED"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// MarshalText encodes the state as its name, so that Stats encodes well as
// JSON (for expvar, for example).
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Client is a WebSocket connection that heals itself: it reconnects with
// exponential backoff after any close or error the user did not ask for,
// detects dead peers with a heartbeat, and queues what is sent while the link
// is down.
//
// Create one with New, start it with Start or Run, stop it with Close or
// Shutdown. A Client cannot be restarted.
//
// Concurrency: every method is safe for concurrent use, including from inside
// callbacks, where the methods that would wait for the client's own work
// (Flush, a Send that would wait for room) fail fast with ErrInCallback and
// Close returns without waiting for the event goroutine. One supervisor
// goroutine owns the connection: it dials (through a short-lived goroutine
// it joins), writes the send queue, answers Reconnect and Shutdown and waits
// between connections; per connection it starts one reader (the only
// goroutine that reads the socket) and the heartbeat, and joins both before
// it dials again. Protocol pings run on the heartbeat's timer goroutine, a
// stuck write is cut by a watchdog timer, and confirmation pings run on
// short-lived goroutines the supervisor joins, so an idle client has two
// goroutines: the supervisor and the reader. Callbacks run on one event
// goroutine (started when there are events, gone after a short idle time),
// one at a time, in order, never while a library lock is held, so they need
// no locks of their own; a callback that blocks holds up the callbacks after
// it (and, past a bounded backlog, the reading of messages, which is never
// taken for a dead peer).
type Client struct {
	url      string
	opts     options
	dialOpts websocket.DialOptions
	rc       *reconnector // used by the supervisor only
	queue    *sendQueue
	disp     *dispatcher
	stats    counters
	state    atomic.Int32

	stop        context.Context // cancelled by Shutdown (which also cancels the dial through dialCancel and signals the queue)
	stopCancel  context.CancelFunc
	supDone     chan struct{}                      // closed when the supervisor has returned
	supGID      atomic.Uint64                      // the supervisor goroutine's id (it runs the dial hook and the policy)
	reconnect   atomic.Bool                        // Reconnect was called (and queue.ready signalled)
	dialCancel  atomic.Pointer[context.CancelFunc] // ends the dial in progress, for Shutdown
	unconfirmed *unconfirmedLog                    // messages written and not yet confirmed
	current     atomic.Pointer[connection]         // the open connection, for Shutdown to cut
	pongs       atomic.Uint64                      // protocol pongs received, solicited or not: any proves the peer alive

	mu           sync.Mutex // guards the fields below
	started      bool
	closing      bool            // Close or Shutdown was called
	stopped      bool            // the client has stopped for good
	drain        context.Context // Shutdown's ctx: bounds the drain
	fromCallback bool            // Shutdown was called on the event goroutine
	err          error           // the permanent cause, nil after Close
	abandoned    int             // messages dropped by the user's Close

	// What Shutdown closes the connection with: CloseWith's code and
	// reason, else 1000 and none.
	closeCode   websocket.StatusCode
	closeReason string
}

// New checks the URL (ws, wss, http or https) and every option, and returns a
// client that is not started: it starts nothing and dials nothing. Messages
// sent before Start are queued.
func New(url string, opts ...Option) (*Client, error) {
	if err := checkURL(url); err != nil {
		return nil, err
	}
	// Options are applied in place: OnJSON's handler keeps a pointer to them.
	c := &Client{
		url:     url,
		opts:    defaultOptions(),
		supDone: make(chan struct{}),
	}
	o := &c.opts
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("resilientws: option %d is nil", i)
		}
		if err := opt.apply(o); err != nil {
			return nil, fmt.Errorf("resilientws: %w", err)
		}
	}
	b := o.newBackoff()
	if b == nil {
		return nil, errors.New("resilientws: WithBackoff: the factory returned a nil BackOff")
	}
	c.rc = newReconnector(b)
	c.queue = newSendQueue(o.queueMessages, o.queueBytes, o.overflow, c.dropped)
	c.queue.canWait = func() error {
		if c.onOwnGoroutine() {
			return ErrInCallback
		}
		return nil
	}
	c.unconfirmed = &unconfirmedLog{maxMsgs: o.queueMessages, maxBytes: o.queueBytes}
	c.dialOpts = dialOptions(&c.opts, &c.pongs)
	c.disp = newDispatcher(&c.opts, c.supDone)
	c.opts.report = c.disp.reportError
	c.stop, c.stopCancel = context.WithCancel(context.Background())
	return c, nil
}

// Start starts the client and returns at once: it connects in the
// background, retrying as the backoff allows. It returns ErrStarted if the
// client was started before and ErrClosed if it was closed.
func (c *Client) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return ErrClosed
	}
	if c.started {
		return ErrStarted
	}
	c.started = true
	c.disp.start()
	go c.supervise()
	return nil
}

// Run starts the client and blocks until it stops. Cancelling ctx closes
// the client (as Close does); Run then returns nil. Otherwise it returns the
// permanent cause that stopped the client (see Err), or Start's error.
func (c *Client) Run(ctx context.Context) error {
	if err := c.Start(); err != nil {
		return err
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		_ = c.Close()
	}
	return c.Err()
}

// Close is Shutdown with DefaultDrainTimeout to write what is queued.
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultDrainTimeout)
	defer cancel()
	return c.Shutdown(ctx)
}

// Shutdown stops the client for good: it stops reconnecting at once, writes
// what is queued while ctx allows if a connection is open, closes it with
// 1000 (the close handshake is bounded to about a second), drops whatever is
// still queued through OnDrop with ErrClosed, and waits for every goroutine
// and every event. It then returns nil, or an error wrapping ErrClosed that
// says how many messages were abandoned.
//
// Called from inside a callback, it cannot wait for the event goroutine that
// runs it: it stops everything else and returns, and the event goroutine
// ends once the callback returns. Later calls wait likewise and return nil.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.shutdown(ctx, websocket.StatusNormalClosure, "")
}

// CloseWith is Shutdown, closing the open connection with code and reason
// instead of 1000 and no reason: the server's close frame carries exactly
// them, and so does the final OnClose (with a nil Err). Use it to tell the
// server why the client leaves, as the browser's close(code, reason) does.
//
// code must be 1000 (StatusNormalClosure) or in 3000-4999 (3000-3999 are
// registered with IANA, 4000-4999 are free for applications); the other
// codes are the protocol's own. reason must be valid UTF-8 of at most 123
// bytes (what fits in a close frame). Otherwise CloseWith returns an error
// wrapping ErrInvalidClose and does nothing else: the client goes on.
//
// Only the first of Close, Shutdown and CloseWith chooses the code; later
// calls wait for the client to stop and return nil, as with Shutdown. When
// no connection is open (before Start, while dialing, or between
// connections) there is no close frame to carry code and reason: the
// client stops, no OnClose follows (the last one, if any, was for the
// connection that had already ended, with Reconnect true) and CloseWith
// returns as Shutdown does: nil, or the abandoned messages. The rules for
// calls from inside a callback are Shutdown's.
func (c *Client) CloseWith(ctx context.Context, code websocket.StatusCode, reason string) error {
	if err := checkClose(code, reason); err != nil {
		return err
	}
	return c.shutdown(ctx, code, reason)
}

// checkClose checks CloseWith's code and reason.
func checkClose(code websocket.StatusCode, reason string) error {
	if code != websocket.StatusNormalClosure && (code < 3000 || code > 4999) {
		return fmt.Errorf("%w: code %d is neither 1000 nor in 3000-4999", ErrInvalidClose, code)
	}
	if len(reason) > maxCloseReason {
		return fmt.Errorf("%w: the reason is %d bytes long, more than %d", ErrInvalidClose, len(reason), maxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return fmt.Errorf("%w: the reason is not valid UTF-8", ErrInvalidClose)
	}
	return nil
}

// maxCloseReason is the longest close reason, in bytes: a control frame's
// payload is at most 125 bytes, two of them the code.
const maxCloseReason = 123

// shutdown is Shutdown, closing an open connection with code and reason.
func (c *Client) shutdown(ctx context.Context, code websocket.StatusCode, reason string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	inCallback := c.disp.inCallback()
	onSupervisor := !inCallback && c.onOwnGoroutine()
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		if !inCallback && !onSupervisor {
			<-c.Done()
		}
		return nil
	}
	c.closing = true
	c.drain, c.fromCallback = ctx, inCallback
	c.closeCode, c.closeReason = code, reason
	started := c.started
	c.mu.Unlock()

	c.toState(StateClosing)
	c.queue.refuse(ErrClosed)
	c.stopCancel()
	if cancel := c.dialCancel.Load(); cancel != nil {
		(*cancel)() // the dial checks stop after publishing it: one of the two ends it
	}
	c.queue.signal() // the supervisor of an open connection waits on the queue's signal
	if !started {
		c.disp.start()
		c.finish(nil, nil)
		close(c.supDone)
	}
	if onSupervisor {
		return nil // the dial hook, the policy or the backoff called it: the supervisor stops when it returns
	}
	c.awaitSupervisor(ctx)
	if !inCallback {
		<-c.Done()
	}
	c.mu.Lock()
	n := c.abandoned
	c.mu.Unlock()
	if n > 0 {
		return newFailure(fmt.Sprintf("%d queued message(s) abandoned: %s", n, describe(ErrClosed)), ErrClosed)
	}
	return nil
}

// awaitSupervisor waits for the supervisor to end. If ctx ends first, a
// write still running on the open connection gets closeHandshakeTimeout to
// finish, then the connection is dropped.
func (c *Client) awaitSupervisor(ctx context.Context) {
	select {
	case <-c.supDone:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(closeHandshakeTimeout)
	defer t.Stop()
	select {
	case <-c.supDone:
		return
	case <-t.C:
	}
	if cn := c.current.Load(); cn != nil {
		cn.fail(newFailure("shutdown: a write outlived the drain time: "+describe(ErrClosed), ErrClosed))
	}
	<-c.supDone
}

// State returns the connection state.
func (c *Client) State() State { return State(c.state.Load()) }

// Subprotocol returns the subprotocol the server chose for the open
// connection (see websocket.DialOptions.Subprotocols), or "" when it chose
// none or no connection is open: before the first open, while
// reconnecting, and once the connection has ended. Each connection's
// choice is also in its OpenEvent.
func (c *Client) Subprotocol() string {
	if cn := c.current.Load(); cn != nil && !cn.isDead() {
		return cn.subprotocol
	}
	return ""
}

// BufferedAmount returns the number of bytes queued and not yet written, the
// message being written included (the browser's bufferedAmount).
func (c *Client) BufferedAmount() int { return c.queue.buffered() }

// Done returns a channel closed once the client has stopped for good and
// every event has been delivered.
func (c *Client) Done() <-chan struct{} { return c.disp.done }

// Err returns why the client stopped: nil while it runs and after Close,
// otherwise the permanent cause: a *HandshakeError, an error carrying the
// server's close status (websocket.CloseStatus works on it), an error
// wrapping ErrBackoffStopped, or what the reconnect policy refused.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// onOwnGoroutine reports whether the caller runs on the event goroutine (a
// callback) or the supervisor (the dial hook, the reconnect policy, the
// backoff): there, waiting for the client's own work would deadlock.
func (c *Client) onOwnGoroutine() bool {
	if c.disp.inCallback() {
		return true
	}
	id := c.supGID.Load()
	return id != 0 && id == goroutineID()
}

// toState moves to s. Once closing, only StateClosed may follow.
func (c *Client) toState(s State) {
	for {
		old := State(c.state.Load())
		if old == s || old == StateClosed || (old == StateClosing && s != StateClosed) {
			return
		}
		if c.state.CompareAndSwap(int32(old), int32(s)) {
			c.logf(slog.LevelInfo, "resilientws: state", "from", old.String(), "to", s.String())
			return
		}
	}
}

// logf logs through the user's logger, if any.
func (c *Client) logf(level slog.Level, msg string, args ...any) {
	if c.opts.logger != nil {
		c.opts.logger.Log(context.Background(), level, msg, args...)
	}
}

// connEnd is how a connection ended.
type connEnd struct {
	user      bool       // the user's Close or Shutdown ended it
	requested bool       // Reconnect replaced it
	cause     error      // otherwise, why
	abnormal  bool       // no clean close frame from the server: report via OnError
	event     CloseEvent // for OnClose
}

// supervise is the supervisor goroutine: it dials, runs each connection to
// its end, and waits between connections, until the user stops it or the
// reconnect policy gives up.
func (c *Client) supervise() {
	c.supGID.Store(goroutineID())
	c.logf(slog.LevelInfo, "resilientws: starting", "url", c.url)
	defer close(c.supDone)
	var (
		attempt    int           // dials since the last open
		conns      int           // connections opened
		lastUptime time.Duration // how long the last connection stayed open
	)
	for {
		var (
			cause     error
			closeEv   *CloseEvent
			delay     time.Duration
			src       DelaySource
			drawn     int  // the backoff's delays since its last reset
			requested bool // by Reconnect: no policy, no backoff
		)
		c.takeReconnect() // a request made before this dial is served by it
		ws, raw, err := c.dial(c.stop, attempt)
		switch {
		case err != nil && c.stop.Err() != nil:
			c.finish(nil, nil)
			return
		case err != nil:
			c.stats.dialFailures.Add(1)
			c.logf(slog.LevelDebug, "resilientws: dial failed", "attempt", attempt, "err", err)
			c.postError(err)
			cause = err
		default:
			conns++
			attempt = 0
			end := c.runConnection(newConnection(c, ws, raw, conns))
			if end.user {
				c.finish(nil, &end.event)
				return
			}
			if end.abnormal {
				c.postError(end.cause)
			}
			cause, closeEv, requested = end.cause, &end.event, end.requested
			lastUptime = end.event.Uptime
		}
		if !requested {
			if !c.retry(cause) {
				c.finish(permanent(cause), closeEv)
				return
			}
			if delay, src, err = c.nextDelay(cause); err != nil {
				c.finish(newFailure(describe(cause)+"; "+describe(err), cause, err), closeEv)
				return
			}
			drawn = c.rc.drawn
		}
		c.toState(StateConnecting)
		if closeEv != nil {
			closeEv.Reconnect = true
			c.disp.post(event{kind: evClose, close: *closeEv})
		}
		rec := ReconnectEvent{Attempt: attempt + 1, BackoffAttempt: drawn, Delay: delay, DelaySource: src, Err: cause}
		if c.opts.onBackoff != nil {
			c.disp.post(event{kind: evBackoff, rec: rec})
		}
		c.logf(slog.LevelDebug, "resilientws: waiting before the next dial", "attempt", rec.Attempt,
			"backoff_attempt", drawn, "delay", delay, "set_by", explainDelay(rec, lastUptime, c.opts.stableAfter), "cause", cause)
		waited, cut, ok := c.sleep(delay)
		if !ok || c.stop.Err() != nil {
			c.finish(nil, nil)
			return
		}
		if cut {
			c.logf(slog.LevelDebug, "resilientws: Reconnect cut the wait short", "waited", waited, "planned", delay)
			rec.DelaySource = DelayNone
		}
		attempt++
		rec.Delay = waited
		c.disp.post(event{kind: evReconnecting, rec: rec})
	}
}

// sleep waits d, or less if Reconnect is called (cut is then true); ok is
// false if the client was stopped meanwhile. It returns the time actually
// waited.
func (c *Client) sleep(d time.Duration) (waited time.Duration, cut, ok bool) {
	start := time.Now()
	if d <= 0 {
		return 0, false, c.stop.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return d, false, true
		case <-c.queue.ready: // a Send (its message waits for the next connection) or Reconnect
			if c.reconnect.Swap(false) {
				return time.Since(start), true, true
			}
		case <-c.stop.Done():
			return time.Since(start), false, false
		}
	}
}

// takeReconnect discards a pending Reconnect request.
func (c *Client) takeReconnect() {
	c.reconnect.Store(false)
}

// retry asks the reconnect policy; a panic in it is reported and counts as
// "try again".
func (c *Client) retry(cause error) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			c.postError(&PanicError{Callback: "WithReconnectPolicy", Value: v})
			ok = true
		}
	}()
	return c.opts.policy(cause)
}

// nextDelay asks the backoff for the next wait; a panic in a user backoff is
// reported and gives DefaultBackoffMax, so a broken policy cannot cause a
// tight loop.
func (c *Client) nextDelay(cause error) (d time.Duration, src DelaySource, err error) {
	defer func() {
		if v := recover(); v != nil {
			c.postError(&PanicError{Callback: "WithBackoff", Value: v})
			d, src = withFloor(DefaultBackoffMax, cause)
			err = nil
		}
	}()
	return c.rc.next(cause)
}

// resetBackoff resets the backoff; a panic in a user backoff is reported.
func (c *Client) resetBackoff() {
	defer func() {
		if v := recover(); v != nil {
			c.postError(&PanicError{Callback: "WithBackoff", Value: v})
		}
	}()
	c.rc.reset()
}

// permanent wraps the cause that made the policy give up, for Err.
func permanent(cause error) error {
	var he *HandshakeError
	if errors.As(cause, &he) {
		return cause
	}
	return newFailure(describe(cause)+"; not reconnecting", cause)
}

func (c *Client) postError(err error) {
	c.disp.post(event{kind: evError, err: err})
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
	confirm := newConfirmer(c.unconfirmed, &c.opts)
	cf := &confirm
	gate := cn.gate // until OnOpen has returned
	requested, answered := false, false
loop:
	for {
		select {
		case <-cn.dead:
			break loop
		case <-gate:
			gate = nil
			c.writeQueued(cn, cf)
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
			if gate == nil {
				c.writeQueued(cn, cf)
			}
		case err := <-cf.done():
			again, unanswered := cf.finish(err)
			if again {
				c.askConfirm(cn, cf, true)
			}
			c.queue.signal() // writing may have paused on a full log
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
		case t := <-cn.pongs:
			hb.pong(t)
		case <-hb.expired():
			hb.late()
		}
	}
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
	if answered {
		c.unconfirmed.confirm(math.MaxUint64) // the peer answered our close: it read everything
	}
	for _, m := range c.unconfirmed.take() {
		c.dropped(m, ErrUnconfirmed)
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
	return end
}

// rearmReconnect makes a Reconnect request the supervisor took pending
// again, for the wait after the connection's end.
func (c *Client) rearmReconnect() {
	c.reconnect.Store(true)
	c.queue.signal()
}

// endedByServer reports whether cause is a close frame the server sent of
// its own accord, not in answer to our 1000: its code is neither 1000 nor
// 1005 (an empty close frame).
func endedByServer(cause error) bool {
	switch websocket.CloseStatus(cause) {
	case -1, websocket.StatusNormalClosure, websocket.StatusNoStatusRcvd:
		return false
	}
	return true
}

// writeQueued writes a batch of the queue on cn, asks for another turn if
// more may remain, and for a confirmation ping when one is due.
func (c *Client) writeQueued(cn *connection, cf *confirmer) {
	if cn.writeQueued(c.opts.writeTimeout) {
		c.queue.signal()
	}
	c.askConfirm(cn, cf, false)
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

// drainAndClose writes what is queued while Shutdown's ctx allows, then
// closes cn with Shutdown's code and reason (1000 and none, unless
// CloseWith); it reports whether the peer answered the close.
// opened tells whether OnOpen has returned; if not, it waits for it, unless
// Shutdown was called from a callback (which may be that very OnOpen).
func (c *Client) drainAndClose(cn *connection, cf *confirmer, opened bool) bool {
	c.mu.Lock()
	ctx, fromCallback := c.drain, c.fromCallback
	code, reason := c.closeCode, c.closeReason
	c.mu.Unlock()
	if !opened && !fromCallback {
		select {
		case <-cn.gate:
		case <-cn.dead:
		case <-ctx.Done():
		}
	}
	for ctx.Err() == nil && !cn.isDead() {
		// A write stuck past the ctx's deadline is cut after a grace period.
		limit := c.opts.writeTimeout
		if dl, ok := ctx.Deadline(); ok {
			limit = min(limit, max(time.Until(dl), 0)+closeHandshakeTimeout)
		}
		if cn.writeQueued(limit) {
			continue
		}
		if _, _, full := c.unconfirmed.pending(); !full || c.queue.length() == 0 {
			break // written, or dead
		}
		// The log is full: wait for a pong to make room.
		cf.want(cn, true)
		select {
		case err := <-cf.done():
			cf.finish(err)
		case <-cn.dead:
		case <-ctx.Done():
		}
	}
	if cn.isDead() {
		return false
	}
	return cn.closeGracefully(code, reason)
}

// userCloseEvent is the close event of a connection the user's Close,
// Shutdown or CloseWith ended: their code and reason, no error.
func (c *Client) userCloseEvent() CloseEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CloseEvent{Code: c.closeCode, Reason: c.closeReason}
}

// classify turns a dead connection's cause into its close event.
func classify(id int, cause error) connEnd {
	var ce websocket.CloseError
	if errors.As(cause, &ce) {
		err := newFailure(fmt.Sprintf("connection %d closed by the server with %s", id, closeText(ce)), cause)
		return connEnd{cause: err, event: CloseEvent{Code: ce.Code, Reason: ce.Reason, Err: err}}
	}
	err := newFailure(fmt.Sprintf("connection %d lost: %s", id, describe(cause)), cause)
	code := websocket.StatusAbnormalClosure
	if errors.Is(cause, websocket.ErrMessageTooBig) {
		code = websocket.StatusMessageTooBig
	}
	return connEnd{cause: err, abnormal: true, event: CloseEvent{Code: code, Err: err}}
}

// finish stops the client for good with err (nil for the user's Close): it
// posts the last OnClose (closeEv, if a connection was open), drops what is
// queued, and lets the event goroutine end once all that is delivered.
func (c *Client) finish(err error, closeEv *CloseEvent) {
	c.mu.Lock()
	c.err = err
	c.stopped = true
	c.mu.Unlock()
	c.toState(StateClosed)
	c.logf(slog.LevelInfo, "resilientws: stopped", "err", err)
	if closeEv != nil {
		closeEv.Reconnect = false
		c.disp.post(event{kind: evClose, close: *closeEv})
	}
	reason := ErrClosed
	if err != nil {
		reason = newFailure(describe(ErrClosed)+": "+describe(err), ErrClosed, err)
	}
	left := c.queue.close(reason)
	for _, m := range left {
		c.dropped(m, reason)
	}
	if err == nil {
		c.mu.Lock()
		c.abandoned = len(left)
		c.mu.Unlock()
	}
	c.stopCancel()
	c.disp.stop()
}
