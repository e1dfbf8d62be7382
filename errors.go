package resilientws

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
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
//
// By default a 4xx status other than 408 and 429 stops the client (a wrong
// URL or a bad token will not fix itself); 408, 429, 5xx and any other
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
}

// Error implements error.
func (e *HandshakeError) Error() string {
	msg := fmt.Sprintf("resilientws: handshake rejected: server answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
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
