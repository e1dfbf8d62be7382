package resilientws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
)

// Goroutines and locks of one Client. Every goroutine has one owner, one
// stop signal and one join point, but for two that touch nothing of the
// client's once their work is done (the dial cutter, and an event goroutine
// that exits after its linger); no callback runs while a lock is held.
//
//	goroutine (function)            started by                    stop signal                               joined by
//	supervisor (supervise)          Start                         stop cancelled by Shutdown, or the        supDone (Shutdown, the last event
//	                                                              policy or the backoff giving up           goroutine)
//	dial (func in open)             the supervisor, per dial      the dial's ctx (dial timeout, dialCancel) the supervisor, on its result channel
//	dial cutter (AfterFunc in       each TCP dial of the          the client's dial ending                  none: it only calls the TCP dial's
//	  recordRaw)                    recording transport                                                     cancel func; the dialer's deferred stop
//	                                                                                                        keeps it from starting after the dial
//	reader (func in start:          runConnection, per            the socket closed (connection.fail)       connection.reader, in connection.stop
//	  readLoop)                     connection
//	heartbeat ping (beat)           startHeartbeat (AfterFunc),   heartbeat.stop; the socket closed ends    heartbeat.beats, in heartbeat.stop
//	                                re-armed by each beat         a ping in progress
//	confirmation ping (confirmPing) confirmer.send                its timeout, or the socket closed         confirmer.results, read by the supervisor
//	write watchdog (writeTimedOut)  connection.watched            Stop when the write returns               connection.wdRun, in connection.watched
//	                                (AfterFunc)
//	close cutter (func in           closeGracefully (AfterFunc)   Stop when the close handshake ends        its fired channel, in closeGracefully
//	  closeGracefully)
//	event goroutine (run)           dispatcher.launchLocked, on   its linger without events (adaptive:      after a linger, none: it clears running
//	                                an event while none runs      nextLinger), or dispatcher.stop once      under dispatcher.mu and returns, touching
//	                                                              drained                                   nothing after; after stop, dispatcher.done
//	                                                                                                        (Shutdown and Done wait for it)
//
// An idle open client runs two of them: the supervisor and the reader.
//
// In the browser (GOOS=js) the dial runs on the supervisor and nothing
// needs a dial cutter, a heartbeat ping or a confirmation ping goroutine:
// the page's socket (socket_js.go) starts none, and its event handlers run
// on the page's event loop, where they only fill its inbox and signal. So
// do the page's lifecycle listeners (lifecycle_js.go), which the supervisor
// adds as it starts and removes as it returns.
//
//	lock                  guards
//	Client.mu             started, closing, stopped, drain, fromCallback, err, abandoned, closeCode, closeReason
//	sendQueue.mu          the send queue, its accounting, its flush waiters and its room
//	unconfirmedLog.mu     the unconfirmed log
//	dispatcher.mu         the event queue, the message and drop report backlogs, their rooms, running/enabled/stopping
//	heartbeat.mu          stopped; orders beats.Add before beats.Wait
//	rawConn.mu            the TCP connection under a dial, and that dial's ctx
//	heldConn.mu           that TCP connection's held writes (coalesce_other.go); orders every write to it
//	browserSocket.mu      in the browser: a socket's inbox, and whether it is closing or ended
//
// Lock order: sendQueue.mu, then dispatcher.mu (a drop is posted under the
// queue's lock); Client.mu, then dispatcher.mu (Start lets events run). No
// other lock is taken while one is held. The rest of the shared state is
// atomic:
//
//	atomic                 what
//	Client.state           State
//	Client.supGID          the supervisor's goroutine id (onOwnGoroutine)
//	Client.reconnect       a Reconnect request, pending for the supervisor
//	Client.nudge           in the browser: a page event (online, visible...) pending for the supervisor
//	Client.dialCancel      ends the dial in progress, for Shutdown
//	Client.current         the open connection, for Shutdown and Subprotocol
//	Client.pongs           protocol pongs received (the heartbeat's liveness rule)
//	counters               every counter behind Stats
//	dispatcher.gid         the event goroutine's id (inCallback)
//	dispatcher.anyDrops    drop reports wait for OnDrop: Send skips the lock when none does
//	connection.stalls      odd while the reader waits for OnMessage room
//	connection.writes      odd while the supervisor writes a batch of queued messages
//	connection.inbound     messages read (the heartbeat's liveness rule)
//	polling                the event goroutines of the process polling now (spin.go)
//	browserSocket.limit    in the browser: a socket's read limit

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
// Create one with New, start it with Start or Run, stop it with Close,
// Shutdown or CloseWith. A Client cannot be restarted.
//
// Concurrency: every method is safe for concurrent use, including from
// inside callbacks. Callbacks run one at a time, in order, on one event
// goroutine, never while a library lock is held, so they need no locks of
// their own; a callback that blocks holds up the callbacks after it. Inside
// a callback, the methods that would wait for the client's own work (Flush,
// a Send that would wait for room) fail fast with ErrInCallback, and Close
// returns without waiting for the event goroutine. See the package
// documentation's Callbacks section.
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
	reconnect   atomic.Bool                        // Reconnect was called (and the supervisor woken)
	nudge       atomic.Int32                       // a pageEvent to act on (and the supervisor woken); in the browser only
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
// sent before Start are queued. A URL without a scheme ("127.0.0.1:9") is an
// error that names both candidates: New does not guess between ws:// and
// wss://.
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
	c.unconfirmed = &unconfirmedLog{window: inBrowser && o.appPing == nil}
	c.unconfirmed.maxMsgs, c.unconfirmed.maxBytes = o.window()
	c.dialOpts = dialOptions(&c.opts, &c.pongs)
	c.disp = newDispatcher(&c.opts, c.supDone)
	c.opts.report = c.disp.reportError
	c.stop, c.stopCancel = context.WithCancel(context.Background())
	if err := c.attachObservers(); err != nil {
		_ = c.Close() // an observer attached before may keep c: Done tells it c is gone
		return nil, fmt.Errorf("resilientws: WithObserver: %w", err)
	}
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
// batch being written included (the browser's bufferedAmount). In the
// browser, whose socket takes writes up to the queue's byte limit before
// sending them, it also counts what the open socket has been handed and not
// sent yet (its own bufferedAmount).
func (c *Client) BufferedAmount() int {
	n := c.queue.buffered()
	if inBrowser {
		if cn := c.current.Load(); cn != nil && !cn.isDead() {
			n += unsent(cn.ws)
		}
	}
	return n
}

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

func (c *Client) postError(err error) {
	c.disp.post(event{kind: evError, err: err})
}
