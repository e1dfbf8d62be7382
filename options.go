package resilientws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
)

// Defaults. Each is documented on the option that changes it.
const (
	// DefaultHeartbeatInterval is how often a ping is sent (WithHeartbeat).
	// In the browser the heartbeat is off by default: see WithHeartbeat.
	DefaultHeartbeatInterval = 30 * time.Second
	// DefaultHeartbeatTimeout is how long a pong may take (WithHeartbeat).
	DefaultHeartbeatTimeout = 5 * time.Second
	// DefaultDialTimeout bounds one dial, handshake included (WithDialTimeout).
	DefaultDialTimeout = 10 * time.Second
	// DefaultReadLimit is the largest message accepted (WithReadLimit).
	DefaultReadLimit = 1 << 20
	// DefaultWriteTimeout bounds one write (WithWriteTimeout).
	DefaultWriteTimeout = 10 * time.Second
	// DefaultStableAfter is how long a connection must stay open before the
	// backoff is reset (WithStableAfter).
	DefaultStableAfter = 10 * time.Second
	// DefaultDrainTimeout is how long Close lets the queue drain before it
	// abandons what is left.
	DefaultDrainTimeout = 3 * time.Second
	// DefaultQueueMessages is the send queue's message limit (WithQueue).
	DefaultQueueMessages = 1024
	// DefaultQueueBytes is the send queue's byte limit (WithQueue).
	DefaultQueueBytes = 1 << 20
	// DefaultResendWindowMessages and DefaultResendWindowBytes bound the
	// unconfirmed window (WithUnconfirmedWindow) when WithResend is on,
	// unless the queue's limits are smaller: what a lost connection can
	// cost in duplicates.
	DefaultResendWindowMessages = 256
	// DefaultResendWindowBytes: see DefaultResendWindowMessages.
	DefaultResendWindowBytes = 256 << 10
	// DefaultResend is how many more times a message written on a connection
	// that ended before confirming it is written on the next ones
	// (WithResend): none, so such a message is reported with ErrUnconfirmed.
	DefaultResend = 0
	// DefaultBackoffInitial is the default backoff's first delay, before jitter.
	DefaultBackoffInitial = time.Second
	// DefaultBackoffMax caps the default backoff's delays, jitter included.
	DefaultBackoffMax = 30 * time.Second
	// DefaultBackoffMultiplier is the default backoff's growth factor.
	DefaultBackoffMultiplier = 2.0
	// DefaultBackoffJitter is the default backoff's randomization factor: each
	// delay is drawn uniformly within ±50 % of the current interval.
	DefaultBackoffJitter = 0.5
	// TryAgainLaterDelay is the least wait after the server closed with 1013
	// (Try Again Later), applied to every backoff policy.
	TryAgainLaterDelay = 30 * time.Second

	// closeHandshakeTimeout bounds the close handshake at shutdown; after it
	// the socket is simply closed.
	closeHandshakeTimeout = time.Second
	// maxRetryAfter caps a server's Retry-After so that a hostile or broken
	// value cannot park the client for days.
	maxRetryAfter = 10 * time.Minute
)

// Overflow says what Send does when the send queue is full.
type Overflow int

const (
	// OverflowReject makes Send return ErrQueueFull. The default.
	OverflowReject Overflow = iota
	// OverflowDropOldest evicts the oldest queued message (never the one being
	// written) and reports it through OnDrop with ErrQueueFull. Memory stays
	// bounded: without OnDrop an evicted message is only counted (Stats);
	// with OnDrop, Send waits while the reports not yet taken by OnDrop
	// exceed the queue's limits (see OnDrop).
	OverflowDropOldest
	// OverflowBlock makes Send wait for room until its ctx ends.
	OverflowBlock
)

// String returns the constant's name.
func (o Overflow) String() string {
	switch o {
	case OverflowReject:
		return "OverflowReject"
	case OverflowDropOldest:
		return "OverflowDropOldest"
	case OverflowBlock:
		return "OverflowBlock"
	}
	return fmt.Sprintf("Overflow(%d)", int(o))
}

// Option configures a Client. Options are applied by New, in order, over the
// defaults; New reports the first invalid one.
type Option interface {
	apply(*options) error
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error {
	if f == nil {
		return errors.New("nil option")
	}
	return f(o)
}

// options holds a client's whole configuration, fixed at New.
type options struct {
	onOpen         func(OpenEvent)
	onMessage      func(Message)
	onClose        func(CloseEvent)
	onError        func(error)
	onReconnecting func(ReconnectEvent)
	onBackoff      func(ReconnectEvent)
	onDrop         func(Message, error)
	onHeartbeat    func(HeartbeatEvent)
	onDial         func(DialEvent)
	report         func(error) // OnError from the event goroutine, panic-guarded (set by New)

	// Observers (observe.go): the attach functions of WithObserver, called
	// at the end of New, which fills observers and the want flags (an
	// event is posted only if a handler waits for it).
	attach                               []func(*Client, string) (Observer, error)
	observers                            []Observer
	wantBackoff, wantDial, wantHeartbeat bool

	heartbeatInterval time.Duration
	heartbeatTimeout  time.Duration
	appPing           *Message           // application heartbeat when non-nil
	isPong            func(Message) bool // with appPing
	anyMessageAlive   bool               // any inbound message proves liveness
	pooledMessages    bool               // OnMessage's Data is reused after it returns

	dialHook func(ctx context.Context, attempt int) (string, http.Header, error)

	newBackoff  func() backoff.BackOff
	policy      func(error) bool
	stableAfter time.Duration

	queueMessages int
	queueBytes    int
	overflow      Overflow
	resend        int // more writes allowed for an unconfirmed message (WithResend)
	windowMsgs    int // the unconfirmed window (WithUnconfirmedWindow); 0: the default
	windowBytes   int

	header       http.Header
	dialOptions  *websocket.DialOptions
	dialTimeout  time.Duration
	readLimit    int64
	writeTimeout time.Duration
	logger       *slog.Logger
}

func defaultOptions() options {
	o := options{
		heartbeatInterval: DefaultHeartbeatInterval,
		heartbeatTimeout:  DefaultHeartbeatTimeout,
		newBackoff:        DefaultBackoff,
		policy:            DefaultReconnectPolicy,
		stableAfter:       DefaultStableAfter,
		queueMessages:     DefaultQueueMessages,
		queueBytes:        DefaultQueueBytes,
		overflow:          OverflowReject,
		dialTimeout:       DefaultDialTimeout,
		readLimit:         DefaultReadLimit,
		writeTimeout:      DefaultWriteTimeout,
	}
	if inBrowser {
		o.heartbeatInterval = 0 // a page cannot send protocol pings: see WithHeartbeat
	}
	return o
}

// errNilFunc is wrapped by the error New returns for a nil function option.
var errNilFunc = errors.New("nil function")

// nilFunc is the option standing for a nil function passed to name: New
// rejects it.
func nilFunc(name string) Option {
	return optionFunc(func(*options) error { return fmt.Errorf("%s: %w", name, errNilFunc) })
}

// OnOpen sets the function called each time a connection opens, before any
// OnMessage of that connection and before the send queue is flushed on it:
// what it writes with OpenEvent.Send (authentication, resubscription) goes
// out first. It runs on the event goroutine.
func OnOpen(f func(OpenEvent)) Option {
	if f == nil {
		return nilFunc("OnOpen")
	}
	return optionFunc(func(o *options) error { o.onOpen = f; return nil })
}

// OnMessage sets the function called for each message received, in order, on
// the event goroutine. It owns Message.Data (unless WithPooledMessages). A
// slow OnMessage applies
// backpressure to the reader but is never taken for a dead peer.
func OnMessage(f func(Message)) Option {
	if f == nil {
		return nilFunc("OnMessage")
	}
	return optionFunc(func(o *options) error { o.onMessage = f; return nil })
}

// OnClose sets the function called exactly once for every connection that
// opened, after its last OnMessage, including the final one at Close (with
// Reconnect false). It runs on the event goroutine.
func OnClose(f func(CloseEvent)) Option {
	if f == nil {
		return nilFunc("OnClose")
	}
	return optionFunc(func(o *options) error { o.onClose = f; return nil })
}

// OnError sets the function that receives every failed dial, every
// connection lost without a close frame, heartbeat and write timeouts, a
// local read-limit overflow and every callback panic (as *PanicError). A
// clean close frame from the server is reported through OnClose only. It runs
// on the event goroutine. A dial error names the URL with the values of its
// query and its password replaced, so that tokens carried there stay out of
// logs.
func OnError(f func(error)) Option {
	if f == nil {
		return nilFunc("OnError")
	}
	return optionFunc(func(o *options) error { o.onError = f; return nil })
}

// OnReconnecting sets the function called when a wait between connections is
// over, just before the next dial, with the wait that happened: shorter than
// OnBackoff announced if Reconnect cut it short (DelaySource is then
// DelayNone). It runs on the event goroutine.
func OnReconnecting(f func(ReconnectEvent)) Option {
	if f == nil {
		return nilFunc("OnReconnecting")
	}
	return optionFunc(func(o *options) error { o.onReconnecting = f; return nil })
}

// OnBackoff sets the function called when the client starts waiting before
// its next dial, after the OnError or OnClose that caused the wait, with the
// wait about to start, what set it and the cause. Every OnBackoff is
// followed by one OnReconnecting when the wait is over, unless the client
// stops meanwhile. When Reconnect replaces an open connection, the wait is
// 0 (DelayNone). It runs on the event goroutine.
func OnBackoff(f func(ReconnectEvent)) Option {
	if f == nil {
		return nilFunc("OnBackoff")
	}
	return optionFunc(func(o *options) error { o.onBackoff = f; return nil })
}

// OnDrop sets the function that receives every message accepted by Send
// that will not be, or may not have been, delivered, with the reason:
// ErrQueueFull (OverflowDropOldest), ErrExpired (WithTTL), ErrUnconfirmed
// (written, but the connection ended before the peer confirmed it) or
// ErrClosed (shutdown, or the client stopped for good). It runs on the event
// goroutine, and m is the message's own data, which it may keep.
//
// Flow control: the reports waiting for OnDrop hold their messages, so they
// are bounded like the send queue. While they hold the queue's message limit,
// or its byte limit with the new message added, Send waits for OnDrop to take
// some, within its ctx, whatever the overflow rule. Where waiting cannot help
// it fails at once with an error matching ErrQueueFull: before Start (no
// callback runs yet), and inside a callback, the dial hook, the reconnect
// policy or the backoff (also matching ErrInCallback). So
// a slow OnDrop slows the senders down instead of growing memory. Without
// OnDrop nothing is kept for it.
func OnDrop(f func(Message, error)) Option {
	if f == nil {
		return nilFunc("OnDrop")
	}
	return optionFunc(func(o *options) error { o.onDrop = f; return nil })
}

// WithHeartbeat sets the protocol ping interval and the time a pong may
// take. A connection that gets no pong at all within the timeout of a ping is
// dropped at once and reported with ErrHeartbeatTimeout. Any pong proves the
// peer alive, as RFC 6455 §5.5.3 allows: the answer to this ping, the answer
// to a later ping only (a peer may answer just the latest of several), or a
// pong the peer sent on its own. A pong confirms delivery (see OnDrop) only
// of what was written before the ping it answers. An interval of 0 turns the
// heartbeat off; a negative
// value is an error, and so is a timeout of 0 while the heartbeat is on. It
// replaces an earlier WithAppHeartbeat. Defaults to DefaultHeartbeatInterval
// and DefaultHeartbeatTimeout.
//
// In the browser (GOOS=js) a page can neither send a protocol ping nor see
// a pong: the heartbeat is off by default, WithHeartbeat(0, 0) is allowed,
// and any other interval is an error wrapping errors.ErrUnsupported. Use
// WithAppHeartbeat there.
func WithHeartbeat(interval, timeout time.Duration) Option {
	return optionFunc(func(o *options) error {
		if interval < 0 || timeout < 0 {
			return fmt.Errorf("WithHeartbeat: negative duration (interval %s, timeout %s)", interval, timeout)
		}
		if inBrowser && interval > 0 {
			return fmt.Errorf("WithHeartbeat: a page cannot send protocol pings (use WithAppHeartbeat in the browser): %w", errors.ErrUnsupported)
		}
		if interval > 0 && timeout == 0 {
			return errors.New("WithHeartbeat: timeout must be positive when the heartbeat is on")
		}
		o.heartbeatInterval, o.heartbeatTimeout = interval, timeout
		o.appPing, o.isPong = nil, nil
		return nil
	})
}

// WithAppHeartbeat replaces the protocol heartbeat with an application one,
// for servers that expect a message such as {"request":"ping"}: every
// interval the client writes ping (ahead of the send queue), and the
// connection is declared dead (ErrHeartbeatTimeout) unless a reply that
// isPong accepts arrives within timeout. Replies isPong accepts are not
// delivered to OnMessage. isPong runs on the reader goroutine, for every
// message received: it must be fast and must not call the client. The
// detection bound is interval + timeout, and a slow OnMessage is never taken
// for a dead peer. interval and timeout must be positive. Defaults to the
// protocol heartbeat (WithHeartbeat). In the browser, which has no protocol
// ping, it is the only heartbeat, and its replies are what confirms delivery
// (see the package documentation's In the browser); ping must then be
// Binary or valid UTF-8.
func WithAppHeartbeat(interval, timeout time.Duration, ping Message, isPong func(Message) bool) Option {
	if isPong == nil {
		return nilFunc("WithAppHeartbeat")
	}
	return optionFunc(func(o *options) error {
		if interval <= 0 || timeout <= 0 {
			return fmt.Errorf("WithAppHeartbeat: interval and timeout must be positive (interval %s, timeout %s)", interval, timeout)
		}
		if err := checkMessage(ping.Type, ping.Data); err != nil {
			return fmt.Errorf("WithAppHeartbeat: ping: %s", strings.TrimPrefix(err.Error(), prefix))
		}
		p := Message{Type: ping.Type, Data: bytes.Clone(ping.Data)}
		o.heartbeatInterval, o.heartbeatTimeout = interval, timeout
		o.appPing, o.isPong = &p, isPong
		return nil
	})
}

// WithAnyMessageAsPong makes any message received count as proof of life
// for the heartbeat (protocol or application): a pong that is late while
// other messages keep arriving does not kill the connection. Defaults to
// off: only a pong counts.
func WithAnyMessageAsPong() Option {
	return optionFunc(func(o *options) error {
		o.anyMessageAlive = true
		return nil
	})
}

// WithPooledMessages makes the client read each message into a pooled
// buffer and reuse it once OnMessage returns, instead of handing OnMessage a
// fresh copy: Message.Data is then valid only until OnMessage returns (copy
// what you keep). It saves an allocation and a copy per message, which
// matters for large messages at high rates. Defaults to off: OnMessage owns
// Data.
func WithPooledMessages() Option {
	return optionFunc(func(o *options) error {
		o.pooledMessages = true
		return nil
	})
}

// WithDialHook sets a function called before every dial, on the supervisor
// goroutine (it may call Close; Flush and a Send that would wait fail fast
// there with ErrInCallback), with the number of
// dials since the last successful open (0 for the first dial at Start, then
// as ReconnectEvent.Attempt). It returns the URL to dial ("" keeps the URL
// given to New) and the handshake headers (nil keeps those of WithHeader and
// DialOptions; non-nil replaces them all), so an
// expired token can be refreshed and a list of endpoints rotated. An error
// from the hook is reported through OnError and retried with backoff; ctx
// ends when the dial timeout passes or the client is closed. Defaults to
// none. In the browser, where a page cannot set handshake headers, a
// non-empty header fails the dial with an error matching
// errors.ErrUnsupported; the URL works (put a token in its query string).
func WithDialHook(f func(ctx context.Context, attempt int) (url string, header http.Header, err error)) Option {
	if f == nil {
		return nilFunc("WithDialHook")
	}
	return optionFunc(func(o *options) error { o.dialHook = f; return nil })
}

// WithBackoff sets the factory of the reconnect delay policy. It is called
// once per client, by New: BackOff values are stateful and not safe to share.
// A policy that returns backoff.Stop ends the client with ErrBackoffStopped.
// Defaults to DefaultBackoff.
func WithBackoff(f func() backoff.BackOff) Option {
	if f == nil {
		return nilFunc("WithBackoff")
	}
	return optionFunc(func(o *options) error { o.newBackoff = f; return nil })
}

// WithReconnectPolicy sets the function that decides, for each failed dial or
// lost connection, whether to try again (true) or stop the client with that
// cause (false). It never sees the user's own Close. Defaults to
// DefaultReconnectPolicy.
func WithReconnectPolicy(f func(cause error) bool) Option {
	if f == nil {
		return nilFunc("WithReconnectPolicy")
	}
	return optionFunc(func(o *options) error { o.policy = f; return nil })
}

// WithStableAfter sets how long a connection must stay open before the
// backoff is reset, so that a server that accepts and drops at once cannot
// cause a tight loop. Defaults to DefaultStableAfter.
func WithStableAfter(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		if d < 0 {
			return fmt.Errorf("WithStableAfter: negative duration %s", d)
		}
		o.stableAfter = d
		return nil
	})
}

// WithQueue sets the send queue's limits, in messages and in bytes (both must
// be positive), and what Send does when it is full. The limits count the
// messages not yet handed to a socket: those being written no longer
// count, so a sender that never has more than the limits outstanding (sent
// and not yet answered by the server) never finds the queue full on a
// healthy connection. Written messages awaiting the peer's confirmation are
// held apart, within the same limits unless WithResend or
// WithUnconfirmedWindow says otherwise (see OnDrop). Defaults to
// DefaultQueueMessages, DefaultQueueBytes and OverflowReject.
func WithQueue(maxMessages, maxBytes int, overflow Overflow) Option {
	return optionFunc(func(o *options) error {
		if maxMessages <= 0 || maxBytes <= 0 {
			return fmt.Errorf("WithQueue: limits must be positive (messages %d, bytes %d)", maxMessages, maxBytes)
		}
		if overflow < OverflowReject || overflow > OverflowBlock {
			return fmt.Errorf("WithQueue: unknown overflow rule %d", int(overflow))
		}
		o.queueMessages, o.queueBytes, o.overflow = maxMessages, maxBytes, overflow
		return nil
	})
}

// WithResend makes delivery at-least-once: a message written on a
// connection that then ended before the peer confirmed it (see OnDrop) is
// written again on the next connection, up to max more times. Only once it
// has been written max+1 times without confirmation is it reported through
// OnDrop, once, with an error matching ErrUnconfirmed that says how many
// times it was written. A max of 0 turns resending off; a negative max is
// an error. Defaults to DefaultResend.
//
// A resent message may have arrived the first time: the server may get it
// more than once, and can tell only by an id of the application's own in
// the payload, which the library never rewrites. The rules (order, queue
// limits, WithTTL, Close, Flush) are in the package doc's Delivery section.
func WithResend(max int) Option {
	return optionFunc(func(o *options) error {
		if max < 0 {
			return fmt.Errorf("WithResend: negative count %d (0 turns resending off)", max)
		}
		o.resend = max
		return nil
	})
}

// WithUnconfirmedWindow bounds the unconfirmed window: the messages written
// on the current connection that no pong or close handshake has confirmed
// yet (see OnDrop), in messages and in bytes (both must be positive).
// Writing pauses while the window is full, until a pong confirms what it
// holds.
//
// The window is what one lost connection can cost: reports with
// ErrUnconfirmed, or with WithResend, duplicates at the server (about half
// to three quarters of the window per lost connection). It is also the most
// a connection keeps in flight, so a link with a large bandwidth-delay
// product needs a larger one to keep its throughput. bench/BENCHMARKS.md
// has the figures.
//
// Defaults to the queue's limits (WithQueue) without WithResend, and with
// it to DefaultResendWindowMessages and DefaultResendWindowBytes, or the
// queue's limits if they are smaller.
func WithUnconfirmedWindow(maxMessages, maxBytes int) Option {
	return optionFunc(func(o *options) error {
		if maxMessages <= 0 || maxBytes <= 0 {
			return fmt.Errorf("WithUnconfirmedWindow: limits must be positive (messages %d, bytes %d)", maxMessages, maxBytes)
		}
		o.windowMsgs, o.windowBytes = maxMessages, maxBytes
		return nil
	})
}

// window returns the unconfirmed window's limits (see
// WithUnconfirmedWindow).
func (o *options) window() (msgs, bytes int) {
	switch {
	case o.windowMsgs > 0:
		return o.windowMsgs, o.windowBytes
	case o.resend > 0:
		return min(DefaultResendWindowMessages, o.queueMessages), min(DefaultResendWindowBytes, o.queueBytes)
	}
	return o.queueMessages, o.queueBytes
}

// WithHeader adds headers to every handshake request (for example
// Authorization). They take precedence over DialOptions.HTTPHeader. Defaults
// to none. In the browser (GOOS=js), where a page cannot set handshake
// headers, a non-empty h is an error wrapping errors.ErrUnsupported: pass
// a token in the URL's query string instead.
func WithHeader(h http.Header) Option {
	return optionFunc(func(o *options) error {
		if inBrowser && len(h) > 0 {
			return fmt.Errorf("WithHeader: a page cannot set handshake headers (pass a token in the URL's query string): %w", errors.ErrUnsupported)
		}
		o.header = h.Clone()
		return nil
	})
}

// WithDialOptions sets the coder/websocket dial options (subprotocols, HTTP
// client, compression...). They are copied, never modified. Defaults to none.
// In the browser, coder/websocket's DialOptions has the subprotocols only,
// and the rest of this documentation does not apply.
//
// The HTTP client's transport, if it is an *http.Transport, is used through
// a copy without keep-alives (made when New is called) that records each
// TCP connection, so that Close can always cut a hanging close handshake.
// Clients without an HTTP client, or whose HTTP client's Transport is nil
// or http.DefaultTransport, share one such copy of http.DefaultTransport,
// made by the first New in the process: set the default transport's fields
// before that, or pass a transport of your own. A transport that is not an
// *http.Transport (a tracing wrapper, say) is used as is: the TCP
// connection cannot be recorded, and a close handshake with a dead peer then
// takes coder/websocket's own bound (up to about 10 s) instead of a second.
//
// Proxies: the default transport finds its proxy with
// http.ProxyFromEnvironment, from HTTP_PROXY (for ws://), HTTPS_PROXY (for
// wss://) and NO_PROXY, or their lower-case forms. A wss:// connection is
// tunnelled with CONNECT; for ws:// the upgrade request itself goes to the
// proxy, which some proxies do not pass on, so prefer wss:// behind one.
// net/http reads these variables once per process, at its first use, and
// never proxies localhost or loopback addresses. A transport of your own
// uses its own Proxy field, where nil means no proxy: set it to
// http.ProxyFromEnvironment, or to http.ProxyURL for a fixed proxy.
//
// Certificates: wss:// checks the server's certificate against the
// system's roots, which crypto/x509 loads once per process. On Unix
// systems other than macOS, SSL_CERT_FILE and SSL_CERT_DIR replace the
// system's certificate file and directories, so a private CA can be
// trusted without code. Otherwise set the transport's TLSClientConfig:
// RootCAs for a private CA, Certificates for a client certificate (mutual
// TLS), as the examples show.
func WithDialOptions(d *websocket.DialOptions) Option {
	return optionFunc(func(o *options) error {
		if d == nil {
			return errors.New("WithDialOptions: nil *websocket.DialOptions")
		}
		cp := *d
		o.dialOptions = &cp
		return nil
	})
}

// WithDialTimeout bounds each dial, TCP connect, TLS and handshake included.
// It must be positive. Defaults to DefaultDialTimeout.
func WithDialTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("WithDialTimeout: must be positive, got %s", d)
		}
		o.dialTimeout = d
		return nil
	})
}

// WithReadLimit sets the largest message, in bytes, the client accepts. A
// larger one is reported through OnError, and the connection is replaced
// (CloseEvent.Code 1009). It must be positive. Defaults to DefaultReadLimit.
func WithReadLimit(n int64) Option {
	return optionFunc(func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("WithReadLimit: must be positive, got %d", n)
		}
		o.readLimit = n
		return nil
	})
}

// WithWriteTimeout bounds each write: a write that cannot finish in time
// marks the connection dead (ErrWriteTimeout) and the message is written
// again after the reconnect. It must be positive. Defaults to
// DefaultWriteTimeout. In the browser a write waits while the page's socket
// holds more than the queue's byte limit unsent, and the write timeout
// bounds that wait.
func WithWriteTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("WithWriteTimeout: must be positive, got %s", d)
		}
		o.writeTimeout = d
		return nil
	})
}

// WithLogger makes the client log state changes at Info and detail at Debug
// (each wait before a dial, with what set it, among them).
// Defaults to no logging at all.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return errors.New("WithLogger: nil *slog.Logger")
		}
		o.logger = l
		return nil
	})
}

// OnJSON sets OnMessage to a handler that decodes each message as JSON into
// a T and calls f with it. A message that does not decode is reported
// through OnError as a *DecodeError and skipped; the connection is kept
// (unlike coder/websocket's wsjson.Read, which closes it).
func OnJSON[T any](f func(T)) Option {
	if f == nil {
		return nilFunc("OnJSON")
	}
	return optionFunc(func(o *options) error {
		o.onMessage = func(m Message) {
			var v T
			if err := json.Unmarshal(m.Data, &v); err != nil {
				o.report(&DecodeError{Message: m, Err: err})
				return
			}
			f(v)
		}
		return nil
	})
}
