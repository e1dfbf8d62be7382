package resilientws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Sentinel errors. Test for them with errors.Is: the library wraps them with
// detail.
var (
	// ErrClosed is returned by Send and Start once the client has been
	// closed, and is the reason given to OnDrop (and to a waiting Flush) for
	// messages abandoned at shutdown. After a permanent failure, Send returns
	// an error wrapping both ErrClosed and the cause.
	ErrClosed = errors.New("resilientws: client closed")

	// ErrQueueFull is returned by Send when the send queue is full and the
	// overflow rule is OverflowReject, and is the reason given to OnDrop for
	// messages evicted by OverflowDropOldest.
	ErrQueueFull = errors.New("resilientws: send queue full")

	// ErrMessageTooLarge is returned by Send for a single message larger than
	// the queue's byte limit. Such an error also matches ErrQueueFull.
	ErrMessageTooLarge = errors.New("resilientws: message larger than the send queue's byte limit")

	// ErrHeartbeatTimeout reports a connection declared dead because no pong
	// came back within the heartbeat timeout.
	ErrHeartbeatTimeout = errors.New("resilientws: heartbeat timeout: no pong from the peer")

	// ErrWriteTimeout reports a connection declared dead because a write did
	// not finish within the write timeout.
	ErrWriteTimeout = errors.New("resilientws: write timeout")

	// ErrBackoffStopped ends the client when the backoff policy returns
	// backoff.Stop.
	ErrBackoffStopped = errors.New("resilientws: backoff policy stopped reconnecting")

	// ErrStarted is returned by Start when the client was already started.
	ErrStarted = errors.New("resilientws: client already started")

	// ErrNotConnected is returned by Send with WithoutQueue when no
	// connection is OPEN.
	ErrNotConnected = errors.New("resilientws: not connected")

	// ErrExpired is the reason given to OnDrop for a message whose WithTTL ran
	// out before it could be written.
	ErrExpired = errors.New("resilientws: message expired before it was written")

	// ErrUnconfirmed is the reason given to OnDrop for a message that was
	// written, but whose connection ended before the peer confirmed reading
	// it (a pong or the answer to our close frame, which come after it): it
	// may or may not have arrived. Send it again if duplicates are harmless.
	// In the browser without an application heartbeat, nothing can confirm,
	// and a message pushed out of the unconfirmed log by newer ones is
	// reported with it too (see the package documentation).
	ErrUnconfirmed = errors.New("resilientws: written, but the connection was lost before the peer confirmed it")

	// ErrReconnectRequested is the CloseEvent.Err of a connection replaced by
	// Reconnect, and the ReconnectEvent.Err of the dial that follows.
	ErrReconnectRequested = errors.New("resilientws: reconnect requested")

	// ErrInCallback is returned by Flush, and matched (with ErrQueueFull) by
	// a Send that would wait for room, when called from a callback, the dial
	// hook, the reconnect policy or the backoff, where waiting would
	// deadlock.
	ErrInCallback = errors.New("resilientws: called from inside a callback")
)

// ErrInvalidClose is wrapped by the error CloseWith returns for a close code
// other than 1000 and 3000-4999, or a reason longer than 123 bytes or not
// valid UTF-8; the error says which.
var ErrInvalidClose = errors.New("resilientws: invalid close code or reason")

// HandshakeError reports a non-101 answer to the WebSocket upgrade request.
// There is none in the browser, which hides the answer from the page.
//
// By default a 4xx status other than 408 and 429 stops the client (a wrong
// URL or a bad token will not fix itself), and so does a 2xx or 3xx status
// (the address is not a WebSocket endpoint); 408, 429, 5xx and any other
// non-101 status are retried, no sooner than RetryAfter.
type HandshakeError struct {
	// StatusCode is the HTTP status the server answered with.
	StatusCode int
	// RetryAfter is the parsed Retry-After header, zero when absent or invalid.
	RetryAfter time.Duration
	// Header holds the response headers (for example WWW-Authenticate).
	Header http.Header
	// Body holds at most the first 1024 bytes of the response body.
	Body []byte
	// Err is the error returned by the dialer.
	Err error

	redirectedTo string // the redacted URL that answered, after a redirect
	hint         string // how to fix the dial, from handshakeHint
}

// Error implements error.
func (e *HandshakeError) Error() string {
	msg := fmt.Sprintf("resilientws: handshake rejected: server answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.redirectedTo != "" {
		msg += " after a redirect to " + e.redirectedTo
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	if e.StatusCode >= 200 && e.StatusCode < 400 {
		msg += ": the address is not a WebSocket endpoint"
	}
	if e.hint != "" {
		msg += ": " + e.hint
	}
	return msg
}

// Unwrap returns the underlying dial error.
func (e *HandshakeError) Unwrap() error { return e.Err }

// PanicError reports a panic recovered from a user callback. The client goes
// on after it.
type PanicError struct {
	// Callback names the option whose function panicked, such as "OnMessage".
	Callback string
	// Value is the value passed to panic.
	Value any
}

// Error implements error.
func (e *PanicError) Error() string {
	return fmt.Sprintf("resilientws: %s callback panicked: %v", e.Callback, e.Value)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// prefix begins every error text of the package, once.
const prefix = "resilientws: "

// failure is an error written for people: its text states what happened in
// plain words, with one prefix, and Unwrap keeps every cause reachable for
// errors.Is, errors.As and websocket.CloseStatus.
type failure struct {
	text   string
	causes []error
}

// newFailure returns an error reading prefix+text that wraps causes.
func newFailure(text string, causes ...error) error {
	return &failure{text: prefix + text, causes: causes}
}

// Error implements error.
func (e *failure) Error() string { return e.text }

// Unwrap returns the causes.
func (e *failure) Unwrap() []error { return e.causes }

// describe says in plain words what err means, for the text of an error
// that wraps it: our own errors without their prefix, a close frame by its
// code's name, common socket errors by what happened, and anything else
// without coder/websocket's "failed to ..." layers.
func describe(err error) string {
	var (
		ce  websocket.CloseError
		dns *net.DNSError
	)
	switch {
	case err == nil:
		return "no error"
	case strings.HasPrefix(err.Error(), prefix):
		return strings.TrimPrefix(err.Error(), prefix)
	case errors.As(err, &ce):
		return "the server closed the connection with " + closeText(ce)
	case errors.Is(err, websocket.ErrMessageTooBig):
		return "a message from the server was larger than the read limit"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed TCP without a close frame (unexpected EOF)"
	case errors.Is(err, io.EOF):
		return "the server closed TCP without a close frame (EOF)"
	case errors.Is(err, net.ErrClosed):
		return "the socket was already closed (net.ErrClosed)"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "a socket deadline passed (i/o timeout)"
	case errors.Is(err, context.DeadlineExceeded):
		return "the deadline passed (context deadline exceeded)"
	case errors.Is(err, context.Canceled):
		return "the context was cancelled (context canceled)"
	case errors.As(err, &dns):
		return dns.Error()
	}
	for _, e := range errnoWords {
		if errors.Is(err, e.errno) {
			return e.words
		}
	}
	return strings.TrimPrefix(peel(err).Error(), prefix)
}

// describeDial is describe for a dial, where an EOF means no handshake
// answer rather than no close frame.
func describeDial(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the server closed TCP before answering the handshake (EOF)"
	}
	return describe(err)
}

// errnoWord describes in plain words a socket error a connection commonly
// ends with. The list, errnoWords, is in errno.go: Plan 9 has no errnos.
type errnoWord struct {
	errno error
	words string
}

// peel drops the layers that only say what failed from the front of err:
// coder/websocket's one-phrase "failed to ...: " wrappers and the *url.Error
// of the handshake request.
func peel(err error) error {
	for {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
			continue
		}
		inner := errors.Unwrap(err)
		if inner == nil {
			return err
		}
		outer, ok := strings.CutSuffix(err.Error(), ": "+inner.Error())
		if !ok || !strings.HasPrefix(outer, "failed to ") || strings.Contains(outer, ": ") {
			return err
		}
		err = inner
	}
}

// closeText describes a close frame: its code, the code's name if it has
// one, and its reason, quoted, if not empty.
func closeText(ce websocket.CloseError) string {
	s := strconv.Itoa(int(ce.Code))
	if name := closeCodeName(ce.Code); name != "" {
		s += " (" + name + ")"
	}
	if ce.Reason != "" {
		s += " " + strconv.Quote(ce.Reason)
	}
	return s
}

// closeCodeName returns the name of a close code defined by RFC 6455 or
// registered with IANA, "" for any other.
func closeCodeName(code websocket.StatusCode) string {
	switch code {
	case websocket.StatusNormalClosure:
		return "normal closure"
	case websocket.StatusGoingAway:
		return "going away"
	case websocket.StatusProtocolError:
		return "protocol error"
	case websocket.StatusUnsupportedData:
		return "unsupported data"
	case websocket.StatusNoStatusRcvd:
		return "no status"
	case websocket.StatusAbnormalClosure:
		return "abnormal closure"
	case websocket.StatusInvalidFramePayloadData:
		return "invalid frame payload data"
	case websocket.StatusPolicyViolation:
		return "policy violation"
	case websocket.StatusMessageTooBig:
		return "message too big"
	case websocket.StatusMandatoryExtension:
		return "mandatory extension"
	case websocket.StatusInternalError:
		return "internal error"
	case websocket.StatusServiceRestart:
		return "service restart"
	case websocket.StatusTryAgainLater:
		return "try again later"
	case websocket.StatusBadGateway:
		return "bad gateway"
	case websocket.StatusTLSHandshake:
		return "TLS handshake"
	}
	return ""
}

// parseRetryAfter reads a Retry-After header value: delta-seconds or an
// HTTP-date relative to now. It returns 0 for an empty, invalid, negative or
// past value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// DecodeError reports a message that OnJSON could not decode. The
// connection goes on.
type DecodeError struct {
	// Message is the message that failed to decode.
	Message Message
	// Err is the error from encoding/json.
	Err error
}

// Error implements error.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("resilientws: cannot decode a %d-byte message as JSON: %v", len(e.Message.Data), e.Err)
}

// Unwrap returns the encoding/json error.
func (e *DecodeError) Unwrap() error { return e.Err }
