// Package resilientws is a WebSocket client that heals itself, for Go
// services that consume long-lived feeds (market data, notifications, chat,
// telemetry). It reconnects with backoff after any close or error you did
// not ask for, notices dead peers with a heartbeat, queues what you send
// while the link is down, and reports every message it could not deliver.
//
// It also runs in a web page, compiled to WebAssembly: see In the browser.
//
// Start with New, which checks the URL and the options and does no I/O, then
// Start (or Run, which blocks until the client stops); stop it with Close,
// Shutdown or CloseWith (a close code and reason of your own). A client
// cannot be restarted. Every option states its default;
// the numeric ones are the exported Default* constants. The sections below
// are the rules to know when calling the API.
//
// The package is built on github.com/coder/websocket (the protocol) and
// github.com/cenkalti/backoff/v4 (the delays). The subpackage
// resilientwstest holds a misbehaving test server and a fault proxy for
// testing code built on it.
//
// # Callbacks
//
// OnOpen, OnMessage, OnClose, OnError, OnBackoff, OnReconnecting, OnDrop,
// OnDial and OnHeartbeat run on one event goroutine, one at a time, in the
// order the events happened, and never while a library lock is held, so
// they need no locks of their own. Handlers are fixed at New. Each On*
// option sets the one handler of its event; instrumentation adds its own
// next to them with WithObserver, and they run after the On* handler, in
// the order the options were given.
//
// For each connection the order is OnOpen, its OnMessages, then exactly one
// OnClose; a connection that never opened gets neither. Between
// connections, OnBackoff comes as a wait starts, with the attempt number (1
// for the first retry), the wait, what set it (ReconnectEvent.DelaySource)
// and its cause; OnReconnecting comes when the wait is over, just before the
// next dial, with the wait that really passed (Reconnect may cut it short).
// Each dial gives OnDial with its outcome, before the OnOpen or the
// OnError it leads to; each heartbeat round trip gives OnHeartbeat, between
// its connection's OnOpen and OnClose. A connection lost without a close
// frame gives OnError, then OnClose with code 1006. A close frame from the server gives OnClose only, with its code
// and reason. A failed dial gives OnError. The OnClose at Close has code
// 1000 (CloseWith's code and reason after CloseWith), Err nil and Reconnect
// false.
//
// A callback may call the client. Send queues as anywhere else; Close and
// Shutdown stop the client and return without waiting for the event
// goroutine, which ends once the callback returns. What would wait for the
// client's own work fails fast instead of deadlocking: Flush returns
// ErrInCallback, and a Send that would wait for room (OverflowBlock, or
// OnDrop's flow control) returns an error matching both ErrQueueFull and
// ErrInCallback. The dial hook, the reconnect policy and the backoff run on
// the supervisor goroutine; they may call Close too. WithAppHeartbeat's
// isPong runs on the reader goroutine and must not call the client.
//
// A panic in a callback, the reconnect policy or the backoff is recovered
// and reported through OnError as a *PanicError, and the client goes on.
//
// A callback that blocks holds up every callback after it. Received messages
// wait for OnMessage in a bounded backlog (256 messages or 4 MiB); past it
// the reader stops reading, so a slow OnMessage becomes backpressure on the
// server through TCP instead of unbounded memory, and it is never taken for
// a dead peer. A connection that fails meanwhile is still replaced at once,
// and what it had read is delivered, in order, when OnMessage gets to it.
// Hand slow work (database writes, HTTP calls) to a goroutine of your own.
//
// # Delivery and OnDrop
//
// Every message Send accepts is either read by the server, as a later pong or
// the close handshake confirms, or reported through OnDrop with the reason.
// Nothing is lost silently.
//
// Send copies the message into the send queue and returns: a nil error means
// queued, not delivered. Messages are written in Send order, one connection
// at a time, and queued ones survive reconnects; what OnOpen writes with
// OpenEvent.Send goes out before them. The supervisor writes what is queued
// in batches of up to 64 messages, each batch in one system call where the
// connection allows it; a message counts as written once the socket may have
// taken it whole. A message whose write fails stays at the head of the
// queue, with those after it, and is written again on the next connection. The
// queue's limits (WithQueue) count only the messages not yet handed to a
// socket. When it is full, Send returns ErrQueueFull (OverflowReject, the
// default), evicts the oldest queued message but never one being written
// (OverflowDropOldest), or waits for room until its ctx ends (OverflowBlock).
// A message larger than the byte limit is refused with ErrMessageTooLarge.
// Per message, WithTTL drops it if it is still queued when its time to live
// has passed, and WithoutQueue makes Send fail with ErrNotConnected unless a
// connection is OPEN.
//
// Written is not delivered: WebSocket has no acknowledgements. But a pong,
// or the server's answer to our close frame, comes after the server has read
// everything written before the ping. So the client keeps each written
// message in a bounded unconfirmed log until a ping sent after it is
// answered, and sends confirmation pings of its own when the queue runs dry
// or the log fills up; writing pauses while the log is full. If the
// connection ends first, the messages still unconfirmed are reported with
// ErrUnconfirmed: they may or may not have arrived. (A page has no pings:
// see In the browser.)
//
// At-least-once: WithResend(max) writes such messages again instead, on the
// next connection, up to max more times:
//
//   - Order: they go out on the next connection before every message queued
//     after them, in their original order, after what OnOpen writes with
//     OpenEvent.Send. So each connection carries an increasing run of the
//     Send order, and the first arrivals across connections are exactly the
//     Send order. Nothing is reordered within a connection.
//   - Limit: only a message written max+1 times without confirmation is
//     reported, once, with an error matching ErrUnconfirmed that says how
//     many times it was written.
//   - Queue: they go back to the head of the send queue and count against
//     its limits again, even past them (they were accepted once and are not
//     refused now): until the queue is back within its limits, OverflowReject
//     refuses new messages with ErrQueueFull, OverflowBlock makes Send wait,
//     and OverflowDropOldest evicts the oldest queued messages, these first,
//     reporting them with ErrQueueFull.
//   - TTL: one whose WithTTL has passed is dropped with ErrExpired instead;
//     one sent WithoutQueue is never written again, and is reported.
//   - Close: Close, Shutdown and CloseWith drain them with the rest of the
//     queue, and the close handshake confirms them. What is unconfirmed
//     when the last connection ends (the client stops on a permanent failure,
//     or Close finds no connection open) is reported with ErrUnconfirmed:
//     there is no next connection.
//   - Only a dead connection's leftovers are resent: in the browser without
//     an application heartbeat, a message pushed out of the unconfirmed
//     window on a live connection is reported at once, never resent.
//
// Resending cannot know whether the first write arrived, so the server may
// get a message more than once (Stats.Resent counts the resends): about half
// to three quarters of the unconfirmed window per lost connection. With
// WithResend that window defaults to DefaultResendWindowMessages and
// DefaultResendWindowBytes instead of the queue's limits; WithUnconfirmedWindow
// trades fewer duplicates against less in flight. The
// library never rewrites a payload: to process each message once, put an id
// of your own in it (a sequence number, a UUID) and have the server ignore
// ids it has seen (ExampleWithResend).
//
// The reasons OnDrop gets:
//
//   - ErrQueueFull: evicted by OverflowDropOldest.
//   - ErrExpired: its WithTTL ran out while it was queued. An expired message
//     is never written; expired messages are reported oldest first.
//   - ErrUnconfirmed: written, but its connection ended before a pong or
//     the close handshake confirmed it (with WithResend: max+1 times, or
//     no connection followed).
//   - ErrClosed: abandoned by Close or Shutdown; or an error wrapping both
//     ErrClosed and the cause, when the client stopped for good.
//
// OnDrop gets the message's own data, which it may keep. The reports waiting
// for OnDrop are bounded like the queue: while they hold the queue's limits,
// Send waits for OnDrop to take some, within its ctx, whatever the overflow
// rule, and where waiting cannot help (before Start; in a callback, the dial
// hook, the reconnect policy or the backoff, also matching ErrInCallback) it
// fails at once with an error matching ErrQueueFull. Without OnDrop, drops
// are only counted (Stats).
//
// Flush waits until everything queued before it has been written, and
// returns an error wrapping the reason if any of it was dropped instead.
// With WithResend, a message put back for resending before Flush returns is
// waited for again, until it is written on a later connection; Flush does
// not wait for confirmations. A clean Close confirms everything written,
// through the close handshake.
//
// For one lost connection the callbacks come in this order: OnError (why it
// was lost, when no clean close frame came), OnDrop for the messages it left
// unconfirmed, then its OnClose. After the last OnClose (Reconnect false),
// OnDrop reports what was still queued.
//
// The server sees a message twice only if a write reported an error after
// the message had gone out, if WithResend wrote it again, or if you send
// again what OnDrop reported.
// "Read by the server" means read by its WebSocket layer: if you need
// "processed by the application", add acknowledgements to your protocol.
//
// # Reconnect decisions
//
// The first dial happens at Start. After a failed dial or a lost connection
// the reconnect policy (WithReconnectPolicy) decides whether to try again. It
// never sees the user's own Close. DefaultReconnectPolicy stops on what will
// not heal by itself: a handshake answered with a 4xx status other than 408
// and 429 (a wrong URL, a bad token) or with a 2xx or 3xx status (a web page,
// not a WebSocket endpoint), a server certificate that fails verification,
// and close codes 1002, 1003, 1007, 1008, 1009 and 1010 from the server. It
// retries everything else: 408, 429, 5xx and any other non-101 status, every
// other close code (1000, 1001, 1011, 1012, 1013, 4000-4999...), network,
// other TLS and timeout errors, heartbeat and write timeouts, and a local
// read-limit overflow.
//
// A certificate stops the client, as a 401 does, because it does not heal by
// waiting, unlike a refused port or a 503: an unknown authority, a wrong host
// name, an expiry or a missing subjectAltName waits for someone to trust the
// CA, reissue or renew the certificate, and retrying would only repeat the
// same error every 30 s where it is easily missed. The error says what is
// wrong and how to fix it, and errors.As finds the crypto/x509 error in it
// (x509.UnknownAuthorityError, x509.HostnameError,
// x509.CertificateInvalidError). One exception is retried: a certificate not
// valid yet, which a clock behind explains (a device that has not synced it
// yet). A reconnect policy of your own can retry the others, say while a
// certificate is being renewed.
//
// A stop ends the client: the last OnClose has Reconnect false, what is
// queued is reported through OnDrop, Done is closed, and Err and Run return
// the cause: a *HandshakeError, or an error on which websocket.CloseStatus
// gives the server's close code.
//
// When it retries, the wait is the backoff's next delay (WithBackoff), but
// never less than the handshake's Retry-After (seconds or an HTTP date,
// capped at 10 minutes), and never less than TryAgainLaterDelay after a
// close with 1013 (Try Again Later). DefaultBackoff starts at 1 s and doubles
// up to 30 s, each delay drawn within ±50 % and clamped to 30 s, and it never
// gives up. The backoff is reset only when a connection ends after staying
// open at least WithStableAfter, so a server that accepts and drops at once
// cannot cause a tight loop. A backoff that returns backoff.Stop ends the
// client with an error wrapping ErrBackoffStopped and the last cause.
//
// Reconnect replaces the live connection at once (its OnClose has code 1000
// and Err ErrReconnectRequested, with no OnError), or cuts a wait between
// connections short: either way the next dial comes without waiting. The dial
// hook (WithDialHook) runs before every dial, to refresh a token or rotate
// endpoints; its errors are reported through OnError and retried like a
// failed dial.
//
// # Heartbeat
//
// Each connection sends a protocol ping every interval (outside the
// browser, which has none: see In the browser); a connection that
// gets no pong at all within the timeout of a ping is dropped at once,
// without a close handshake, and reported through OnError with
// ErrHeartbeatTimeout and OnClose with code 1006, and the client reconnects.
// A dead peer or a half-open link is so noticed within about interval +
// timeout (DefaultHeartbeatInterval + DefaultHeartbeatTimeout: 35 s).
// WithHeartbeat sets both; WithHeartbeat(0, 0) turns the heartbeat off.
//
// Any WebSocket server answers protocol pings, with no code of its own. Any
// pong proves the peer alive, as RFC 6455 allows: the answer to this ping,
// the answer to a later ping only, or a pong the peer sent on its own. But a
// pong confirms delivery only of what was written before the ping it
// answers: if the unconfirmed log is full and the confirmation pings go
// unanswered, the connection is replaced, with the heartbeat on or off. An
// OnPongReceived set through WithDialOptions still sees every pong.
//
// For a server that expects an application message such as
// {"request":"ping"}, WithAppHeartbeat writes that message every interval
// and declares the connection dead unless a reply that isPong accepts
// arrives within the timeout; those replies never reach OnMessage.
// WithAnyMessageAsPong makes any message received count as proof of life.
// A deadline of WithAppHeartbeat that fires more than half a timeout late
// (a machine that slept, a throttled page) gives the peer one more timeout
// instead of a verdict.
//
// A slow OnMessage is never taken for a dead peer: the reader goes on
// reading pongs while OnMessage works, and a pong that is late because the
// reader waited for OnMessage does not count. Pings from the server are
// answered however idle the client is. OnHeartbeat gets every round trip;
// Stats gives the last and the smoothed one.
//
// # Shutdown
//
// Close is Shutdown with a context of DefaultDrainTimeout; cancelling Run's
// ctx calls Close, and Run then returns nil. Shutdown stops the client for
// good:
//
//   - It stops reconnecting at once, ending a wait or a dial in progress.
//   - If a connection is open, it writes what is queued while its ctx allows,
//     then closes with code 1000 (CloseWith: the code and reason it is
//     given, which the final OnClose carries too). The close handshake is
//     bounded, so a dead
//     or stalled peer cannot hold Shutdown for long after its ctx ends. If no
//     connection is open, nothing is written.
//   - What is still queued is reported through OnDrop with ErrClosed.
//   - It returns once every goroutine has exited and every callback has run,
//     so nothing fires after it, with nil or an error wrapping ErrClosed
//     that says how many queued messages were abandoned.
//
// Later calls return nil. Send and Start then return ErrClosed, and a Send
// or a Flush that was waiting returns an error wrapping ErrClosed. Called
// from a callback, Shutdown stops everything else and returns without
// waiting for the event goroutine. Messages the server sends once Close has
// begun may not reach OnMessage.
//
// # In the browser
//
// Built with GOOS=js GOARCH=wasm, the client runs in a web page on the
// browser's own WebSocket (coder/websocket provides the types), with the same
// API. What a page cannot do, the client does not pretend to do:
//
//   - No protocol pings: a page can neither send a ping nor see a pong. The
//     heartbeat is off by default, and WithHeartbeat with a non-zero
//     interval is an error matching errors.ErrUnsupported. WithAppHeartbeat
//     notices a dead peer; without it the client still reconnects on every
//     close or error the browser reports, but a silent peer goes unnoticed.
//   - Delivery: an application pong confirms what was written before its
//     ping, which assumes the server answers pings in order, after reading
//     what came before them; the heartbeat's ping also goes out early when
//     the unconfirmed log is half full. Without an application heartbeat
//     nothing can confirm: what was written on a connection that is lost is
//     reported with ErrUnconfirmed, and so, at once, is a message pushed out
//     of the unconfirmed log (the queue's limits) by newer ones; writing
//     never waits for a confirmation. A clean Close still confirms all.
//   - No handshake status and no headers: a refused upgrade is a failed dial
//     without a *HandshakeError, so a 4xx cannot stop the client and
//     Retry-After goes unseen: DefaultReconnectPolicy retries with backoff.
//     Close codes still decide. WithHeader is an error matching
//     errors.ErrUnsupported, and so is a dial whose WithDialHook returns
//     headers (reported through OnError, and retried); the hook's URL works,
//     and a token in its query string is the browser's way. WithDialOptions
//     takes the subprotocols.
//   - Closing: a page closes only with 1000 or 3000-4999, as CloseWith
//     allows everywhere. A connection the client drops (heartbeat timeout,
//     read limit) is closed with 1000 and the cause as the reason, such as
//     "heartbeat timeout", without waiting for the answer; Close, CloseWith
//     and Reconnect wait for it about a second at most (Chromium waits a
//     minute for a server that stopped reading).
//   - Writing waits while the page's socket holds more than the send
//     queue's byte limit (WithQueue) not yet sent: its bufferedAmount,
//     which has no event and is checked every few milliseconds. A server
//     that stops reading so fills the queue, Send meets its limits and
//     overflow rule as natively, the write timeout bounds the wait, and
//     memory stays within twice the byte limit and the message being
//     written. BufferedAmount counts
//     the socket's bufferedAmount too. Reading cannot be paused: behind a
//     slow OnMessage, messages wait in memory instead of pushing back on the
//     server. The read limit applies from the first message.
//   - The page's lifecycle: while it runs, the client listens to the
//     window's online and pageshow events and the document's
//     visibilitychange and resume events, and removes every listener when
//     it stops. On online, on visibilitychange to visible, on pageshow with
//     persisted (back from the back/forward cache) and on resume (after a
//     freeze): waiting between connections, it dials at once, as Reconnect
//     does; with a connection open, it sends the application heartbeat's
//     ping at once, so a socket that died meanwhile is replaced within the
//     heartbeat timeout, not the interval, and a connection that ends
//     within a second (plus that timeout) of such an event is redialed at
//     once too. Without WithAppHeartbeat there is nothing to probe with:
//     call Reconnect from a listener of your own if a network change should
//     replace the connection.
//   - Offline: while navigator.onLine is false, a wait between connections
//     that ends does not dial: it goes on until the online event, or until
//     the backoff's maximum delay (DefaultBackoffMax for a backoff other
//     than a backoff.ExponentialBackOff) has passed since the wait began,
//     in case the browser never says online. Only online cuts that wait.
//     OnBackoff announces the backoff's delay, OnReconnecting the wait that
//     passed. (A server on localhost works offline: the client then still
//     dials at the maximum delay.)
//   - Hidden and frozen pages: Go's timers run on the page's setTimeout,
//     which browsers throttle. Measured in headless Chromium, a hidden page
//     (its window minimized) runs timers about once a second: a 10 ms ticker
//     ticked 4 or 5 times in 2.7 s, a 50 ms backoff wait lasted a second.
//     After 5 minutes hidden, chained timers get one wake-up a minute
//     (Chrome's intensive throttling; measured: a chained 10 ms timer ran
//     60 times a minute for 5 minutes, then once a minute). A frozen page
//     (DevTools' Page.setWebLifecycleState) runs nothing, its timers fire
//     at resume, and Chromium closes its WebSockets as it freezes it: the
//     server sees 1001, the page a 1006 at resume, and the client redials
//     at once. So the heartbeat pings at
//     most as often as the page wakes; its pongs, network events, are not
//     held up, and a deadline that fires more than half a timeout late
//     gives the peer one more timeout instead of a verdict: a late timer
//     never makes a live peer look dead. While the page stays hidden, a
//     dead peer is still noticed, a few wake-ups late (a minute apiece under
//     intensive throttling); one that died while the page was frozen or
//     hidden is noticed within the timeout once it is visible again (the
//     probe above).
//     Backoff waits last until the next wake-up. A TTL (WithTTL) is
//     judged by the clock whenever the queue is looked at: an expired
//     message is never written, but its OnDrop may come late.
//   - A Text message must be valid UTF-8, since the browser sends it from a
//     JavaScript string: Send refuses any other.
//
// The example in examples/browser serves a page that runs the client
// against a misbehaving server.
//
// # Failure modes
//
// How each kind of failure is noticed and what the client does, with the
// default options:
//
//   - TCP reset, or TCP closed without a close frame: the read fails at
//     once; OnError, OnClose with 1006, reconnect with backoff, and the
//     messages not yet confirmed are reported with ErrUnconfirmed.
//   - A close frame from the server: OnClose with its code and reason; the
//     reconnect policy decides (see Reconnect decisions).
//   - A blackhole, a half-open link, a hung peer, or a server that stops
//     answering pings: no pong, so ErrHeartbeatTimeout within about 35 s;
//     the socket is dropped, OnClose with 1006, reconnect.
//   - A server that stops reading while TCP stays open: a write that outlasts
//     the write timeout (DefaultWriteTimeout) fails the connection with
//     ErrWriteTimeout and the message stays queued, or the heartbeat notices
//     first; reconnect.
//   - Connection refused, a redirect loop, a TLS server dialled with ws://
//     or a plain one with wss:// (the error suggests the other scheme): the
//     dial fails at once; OnError, retry with backoff.
//   - A certificate that does not verify: OnError says what is wrong and
//     how to fix it, and the client stops (see Reconnect decisions). To
//     trust a certificate, pass an HTTP client with its TLS configuration
//     through WithDialOptions.
//   - TCP accepted but the handshake never answered: the dial timeout
//     (DefaultDialTimeout) ends the dial; OnError, retry.
//   - Any answer to the upgrade other than 101: a *HandshakeError with the
//     status, Retry-After and the start of the body, through OnError; the
//     policy decides. A 2xx or 3xx, a web page where a WebSocket endpoint
//     was expected, stops the client with an error that says so.
//   - Invalid frames, or a close frame with an invalid code: OnError names
//     the violation, OnClose with 1006, reconnect.
//   - A message over the read limit (WithReadLimit): OnError, OnClose with
//     1009, reconnect.
//   - A slow or blocked OnMessage: backpressure on the reader, never a
//     heartbeat timeout.
//   - Close during an outage: it returns promptly, and what is queued is
//     reported with ErrClosed.
package resilientws
