package resilientws

import (
	"errors"
	"fmt"
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
	drawn int           // delays drawn since the last reset: ReconnectEvent.BackoffAttempt
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
func (r *reconnector) reset() {
	r.drawn = 0
	r.b.Reset()
}

// next returns the wait before the next dial after cause and what set it,
// or ErrBackoffStopped.
func (r *reconnector) next(cause error) (time.Duration, DelaySource, error) {
	r.drawn++
	d := r.b.NextBackOff()
	if d == backoff.Stop {
		return 0, DelayNone, ErrBackoffStopped
	}
	if d < 0 {
		d = 0
	}
	if r.limit > 0 && d > r.limit {
		d = r.limit
	}
	d, src := withFloor(d, cause)
	return d, src, nil
}

// withFloor returns the wait after cause given the backoff's delay d: d, or
// the floor cause imposes when that is longer.
func withFloor(d time.Duration, cause error) (time.Duration, DelaySource) {
	if floor, src := delayFloor(cause); floor > d {
		return floor, src
	}
	return d, DelayBackoff
}

// delayFloor is the least wait a cause imposes, and its source: a
// handshake's Retry-After, or TryAgainLaterDelay after a 1013 close.
func delayFloor(cause error) (time.Duration, DelaySource) {
	var he *HandshakeError
	if errors.As(cause, &he) {
		return he.RetryAfter, DelayRetryAfter
	}
	if websocket.CloseStatus(cause) == websocket.StatusTryAgainLater {
		return TryAgainLaterDelay, DelayTryAgainLater
	}
	return 0, DelayNone
}

// explainDelay says in words what set e's delay, for the logs. lastUptime
// is how long the last connection stayed open, stableAfter the
// WithStableAfter time.
func explainDelay(e ReconnectEvent, lastUptime, stableAfter time.Duration) string {
	switch e.DelaySource {
	case DelayRetryAfter:
		return "the server's Retry-After"
	case DelayTryAgainLater:
		return "the server's 1013 (try again later) close"
	case DelayNone:
		return "Reconnect was called"
	}
	why := "the backoff"
	if e.BackoffAttempt > e.Attempt && lastUptime < stableAfter {
		why += fmt.Sprintf(" (backoff attempt %d, not reset: the last connection lived %s < %s stable-after)",
			e.BackoffAttempt, lastUptime.Round(time.Millisecond), stableAfter)
	}
	return why
}
