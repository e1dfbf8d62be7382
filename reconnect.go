package resilientws

import (
	"errors"
	"fmt"
	"log/slog"
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
//     client (a wrong URL or a bad token will not fix itself), and so does a
//     2xx or 3xx answer (the address is a web page, not a WebSocket
//     endpoint); 408, 429, 5xx and any other non-101 status are retried;
//   - a server certificate that fails verification (an unknown authority, a
//     wrong host name, an expired certificate, one with no subjectAltName)
//     stops the client: waiting does not fix a certificate, someone must
//     trust its CA, reissue or renew it, and retrying would only repeat the
//     error every 30 s. A certificate not valid yet is retried: the clock
//     here may be behind, as on a device that has not synced it yet;
//   - close codes 1002, 1003, 1007, 1008, 1009 and 1010 from the server stop
//     the client; every other code (1000, 1001, 1005, 1011, 1012, 1013,
//     4000-4999...) is retried;
//   - network, other TLS and timeout errors, heartbeat and write timeouts
//     and a local read-limit overflow are retried.
//
// In the browser, which shows a page no handshake status and no
// certificate, a refused upgrade or a bad certificate is a failed dial,
// retried; close codes decide as above.
func DefaultReconnectPolicy(cause error) bool {
	var he *HandshakeError
	if errors.As(cause, &he) {
		code := he.StatusCode
		if code >= 200 && code < 400 {
			return false
		}
		if code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
			return false
		}
		return true
	}
	if badCertificate(cause) {
		return false
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

// connEnd is how a connection ended.
type connEnd struct {
	user      bool       // the user's Close or Shutdown ended it
	requested bool       // Reconnect replaced it
	cause     error      // otherwise, why
	abnormal  bool       // no clean close frame from the server: report via OnError
	event     CloseEvent // for OnClose
	// unconfirmed is what was written on it and not confirmed, oldest
	// first, for settleUnconfirmed once the next step is known.
	unconfirmed []queued
}

// supervise is the supervisor goroutine: it dials, runs each connection to
// its end, and waits between connections, until the user stops it or the
// reconnect policy gives up.
func (c *Client) supervise() {
	c.supGID.Store(goroutineID())
	c.logf(slog.LevelInfo, "resilientws: starting", "url", redactURL(c.url))
	defer close(c.supDone)
	page := c.watchPage() // in the browser: online, visibility, pageshow, resume
	defer page.stop()
	var (
		attempt    int           // dials since the last open
		conns      int           // connections opened
		lastUptime time.Duration // how long the last connection stayed open
	)
	for {
		var (
			cause     error
			closeEv   *CloseEvent
			left      []queued // the last connection's unconfirmed messages
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
			c.dialed(attempt, 0, err)
			c.logf(slog.LevelDebug, "resilientws: dial failed", "attempt", attempt, "err", err)
			c.postError(err)
			cause = err
		default:
			conns++
			c.dialed(attempt, conns, nil)
			attempt = 0
			end := c.runConnection(newConnection(c, ws, raw, conns))
			if end.user {
				c.settleUnconfirmed(end.unconfirmed, false)
				c.finish(nil, &end.event)
				return
			}
			if end.abnormal {
				c.postError(end.cause)
			}
			cause, closeEv, requested, left = end.cause, &end.event, end.requested, end.unconfirmed
			lastUptime = end.event.Uptime
		}
		if !requested {
			retry := c.retry(cause)
			if retry {
				delay, src, err = c.nextDelay(cause)
			}
			switch {
			case c.stop.Err() != nil:
				// The policy or the backoff called Close: the user's
				// stop wins over their answer, and nothing more is
				// announced.
				c.settleUnconfirmed(left, false)
				c.finish(nil, closeEv)
				return
			case !retry:
				c.settleUnconfirmed(left, false)
				c.finish(permanent(cause), closeEv)
				return
			case err != nil:
				c.settleUnconfirmed(left, false)
				c.finish(newFailure(describe(cause)+"; "+describe(err), cause, err), closeEv)
				return
			}
			drawn = c.rc.drawn
		}
		c.settleUnconfirmed(left, true)
		c.toState(StateConnecting)
		if closeEv != nil {
			closeEv.Reconnect = true
			c.disp.post(event{kind: evClose, close: *closeEv})
		}
		rec := ReconnectEvent{Attempt: attempt + 1, BackoffAttempt: drawn, Delay: delay, DelaySource: src, Err: cause}
		if c.opts.wantBackoff {
			c.disp.post(event{kind: evBackoff, rec: rec})
		}
		c.logf(slog.LevelDebug, "resilientws: waiting before the next dial", "attempt", rec.Attempt,
			"backoff_attempt", drawn, "delay", delay, "set_by", explainDelay(rec, lastUptime, c.opts.stableAfter), "cause", cause)
		waited, cutBy, ok := c.sleep(delay)
		if !ok || c.stop.Err() != nil {
			c.finish(nil, nil)
			return
		}
		if cutBy != "" {
			c.logf(slog.LevelDebug, "resilientws: "+cutBy+" cut the wait short", "waited", waited, "planned", delay)
			rec.DelaySource = DelayNone
		}
		attempt++
		rec.Delay = waited
		c.disp.post(event{kind: evReconnecting, rec: rec})
	}
}

// sleep waits d, or less if Reconnect is called or, in the browser, a page
// event asks for a dial now (cutBy then says which); ok is false if the
// client was stopped meanwhile. It returns the time actually waited.
//
// In the browser, a wait that ends while navigator.onLine is false goes on
// until the online event, or until the backoff's maximum delay has passed
// since the wait began (offlineWait): no dial is spent on a network the
// browser knows is down, and a browser that never fires online is not
// trusted for longer than that. Only online cuts such a wait.
func (c *Client) sleep(d time.Duration) (waited time.Duration, cutBy string, ok bool) {
	start := time.Now()
	if d <= 0 {
		return 0, "", c.stop.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	offline := false // the wait was stretched because the browser is offline
	for {
		select {
		case <-t.C:
			if !offline && pageOffline() {
				offline = true
				if rest := c.offlineWait() - time.Since(start); rest > 0 {
					c.logf(slog.LevelDebug, "resilientws: the browser is offline: waiting for its online event", "at_most", rest)
					t.Reset(rest)
					continue
				}
			}
			if offline || inBrowser {
				// A page's timers fire late when it is hidden or frozen:
				// report the wait that passed.
				return time.Since(start), "", true
			}
			return d, "", true
		case <-c.queue.ready: // a Send (its message waits for the next connection), Reconnect or a page event
			if c.reconnect.Swap(false) {
				return time.Since(start), "Reconnect", true
			}
			if e := c.takeNudge(); e == pageOnline || (e != pageNone && !pageOffline()) {
				return time.Since(start), "the page's " + e.String() + " event", true
			}
		case <-c.stop.Done():
			return time.Since(start), "", false
		}
	}
}

// offlineWait is how long a wait between connections lasts at most while
// the browser says it is offline: the backoff's maximum delay
// (DefaultBackoffMax for a backoff other than backoff.ExponentialBackOff).
func (c *Client) offlineWait() time.Duration {
	if c.rc.limit > 0 {
		return c.rc.limit
	}
	return DefaultBackoffMax
}

// takeReconnect discards a pending Reconnect request, and a page event: a
// dial serves both.
func (c *Client) takeReconnect() {
	c.reconnect.Store(false)
	c.takeNudge()
}

// Reconnect replaces the live connection now (closing it with 1000), or
// cuts a wait between connections short so the next dial happens at once:
// call it after a network change. A connection that the server closed (or
// that was lost) as Reconnect was called is reported as such, and a close
// code the reconnect policy refuses still stops the client. It returns at
// once, and ErrClosed once the client has been closed or has stopped for
// good.
func (c *Client) Reconnect() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.stopped {
		return ErrClosed
	}
	c.reconnect.Store(true) // one request pending is enough
	c.queue.wakeSupervisor()
	return nil
}

// rearmReconnect makes a Reconnect request the supervisor took pending
// again, for the wait after the connection's end.
func (c *Client) rearmReconnect() {
	c.reconnect.Store(true)
	c.queue.wakeSupervisor()
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
