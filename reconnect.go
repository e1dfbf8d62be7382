package resilientws

import (
	"errors"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
)

// DefaultBackoff returns the default reconnect delay policy: exponential from
// DefaultBackoffInitial, times DefaultBackoffMultiplier per attempt, with
// ±50 % jitter, capped at DefaultBackoffMax (jitter included, the client
// clamps), and never giving up: unlike backoff/v4's own default, it has no
// 15-minute MaxElapsedTime.
//
// The delays before jitter run 1 s, 2 s, 4 s, 8 s, 16 s, 30 s, 30 s...
func DefaultBackoff() backoff.BackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(DefaultBackoffInitial),
		backoff.WithRandomizationFactor(DefaultBackoffJitter),
		backoff.WithMultiplier(DefaultBackoffMultiplier),
		backoff.WithMaxInterval(DefaultBackoffMax),
		backoff.WithMaxElapsedTime(0),
	)
}

// DefaultReconnectPolicy is the default answer to "try again after this?":
//
//   - a handshake answered with a 4xx status other than 408 and 429 stops the
//     client (a wrong URL or a bad token will not fix itself); 408, 429, 5xx
//     and any other non-101 status are retried;
//   - close codes 1002, 1003, 1007, 1008, 1009 and 1010 from the server stop
//     the client; every other code (1000, 1001, 1005, 1011, 1012, 1013,
//     4000-4999...) is retried;
//   - network, TLS and timeout errors, heartbeat and write timeouts and a
//     local read-limit overflow are retried.
func DefaultReconnectPolicy(cause error) bool {
	var he *HandshakeError
	if errors.As(cause, &he) {
		code := he.StatusCode
		if code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
			return false
		}
		return true
	}
	switch websocket.CloseStatus(cause) {
	case websocket.StatusProtocolError, websocket.StatusUnsupportedData,
		websocket.StatusInvalidFramePayloadData, websocket.StatusPolicyViolation,
		websocket.StatusMessageTooBig, websocket.StatusMandatoryExtension:
		return false
	}
	return true
}

// reconnector owns the backoff policy. Only the supervisor goroutine uses it
// (BackOff values are not safe for concurrent use).
type reconnector struct {
	b     backoff.BackOff
	limit time.Duration // clamp for the policy's values; 0 = none
}

func newReconnector(b backoff.BackOff) *reconnector {
	r := &reconnector{b: b}
	if eb, ok := b.(*backoff.ExponentialBackOff); ok {
		// backoff/v4 caps the interval before adding jitter: clamp after.
		r.limit = eb.MaxInterval
	}
	return r
}

// reset starts the delays over, after a connection proved stable.
func (r *reconnector) reset() { r.b.Reset() }

// next returns the wait before the next dial after cause, or
// ErrBackoffStopped.
func (r *reconnector) next(cause error) (time.Duration, error) {
	d := r.b.NextBackOff()
	if d == backoff.Stop {
		return 0, ErrBackoffStopped
	}
	if d < 0 {
		d = 0
	}
	if r.limit > 0 && d > r.limit {
		d = r.limit
	}
	return max(d, delayFloor(cause)), nil
}

// delayFloor is the least wait a cause imposes: a handshake's Retry-After, or
// TryAgainLaterDelay after a 1013 close.
func delayFloor(cause error) time.Duration {
	var he *HandshakeError
	if errors.As(cause, &he) {
		return he.RetryAfter
	}
	if websocket.CloseStatus(cause) == websocket.StatusTryAgainLater {
		return TryAgainLaterDelay
	}
	return 0
}
