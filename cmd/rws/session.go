//go:build !js

package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"

	"github.com/resilientws/resilientws"
)

// Demo-mode settings, used unless the matching flag is given.
const (
	demoPingInterval = 2 * time.Second
	demoPingTimeout  = time.Second
	// demoStableAfter lets the backoff start over after each misbehaviour,
	// which come a few seconds apart (the library's default is 10s).
	demoStableAfter = 3 * time.Second
)

// session is one run of rws: the client, its callbacks and what they
// share with the main loop.
type session struct {
	cfg    *config
	out    *messagePrinter
	log    *statusPrinter
	client *resilientws.Client // set before Start, so callbacks may use it
	demo   bool
	// endOnEOF: the end of input ends the session (after -linger), as
	// neither -count, -duration, -no-stdin nor the demo keeps it going.
	endOnEOF bool

	stableAfter time.Duration // the client's WithStableAfter

	// Event goroutine only.
	received   int           // messages printed
	tlsHinted  bool          // the -cacert/-k hint was printed
	lastUptime time.Duration // how long the last connection stayed open
	resentSeen uint64        // Stats().Resent when last reported

	opened     chan struct{} // closed at the first OnOpen
	counted    chan struct{} // closed once -count messages have been printed
	failed     chan struct{} // closed by fail
	failOnce   sync.Once
	failErr    error // set once, before failed closes
	openedOnce sync.Once

	mu      sync.Mutex // guards lastErr
	lastErr error      // the last error reported through OnError

	inputEnded  atomic.Bool  // set by the main loop at the end of input, if endOnEOF
	serverEnded atomic.Bool  // the policy did not replace a connection that ended after inputEnded
	lastRecv    atomic.Int64 // when the last message was printed, in Unix nanoseconds
}

func newSession(cfg *config, out *messagePrinter, log *statusPrinter, demo bool) *session {
	s := &session{
		cfg:         cfg,
		out:         out,
		log:         log,
		demo:        demo,
		endOnEOF:    cfg.count == 0 && cfg.duration == 0 && !cfg.noStdin && !demo,
		stableAfter: resilientws.DefaultStableAfter,
		opened:      make(chan struct{}),
		counted:     make(chan struct{}),
		failed:      make(chan struct{}),
	}
	if demo {
		s.stableAfter = demoStableAfter
	}
	return s
}

// fail ends the session with err (the first one wins), from any goroutine.
func (s *session) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		close(s.failed)
	})
}

// lastError returns the last error reported through OnError.
func (s *session) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// options turns the flags into client options.
func (s *session) options() []resilientws.Option {
	cfg := s.cfg
	opts := []resilientws.Option{
		resilientws.OnOpen(s.onOpen),
		resilientws.OnMessage(s.onMessage),
		resilientws.OnClose(s.onClose),
		resilientws.OnError(s.onError),
		resilientws.OnBackoff(s.onBackoff),
		resilientws.OnReconnecting(s.onReconnecting),
		resilientws.OnDrop(s.onDrop),
		resilientws.OnHeartbeat(s.onHeartbeat),
		// Backpressure for stdin: a full queue makes the reader wait.
		resilientws.WithQueue(cfg.queue, resilientws.DefaultQueueBytes, resilientws.OverflowBlock),
		resilientws.WithReadLimit(cfg.readLimit),
	}
	if s.endOnEOF {
		opts = append(opts, resilientws.WithReconnectPolicy(s.reconnectPolicy))
	}
	if cfg.resend {
		opts = append(opts, resilientws.WithResend(1))
	}
	interval, timeout := cfg.pingInterval, cfg.pingTimeout
	if cfg.set["app-ping"] {
		ping := resilientws.Message{Type: resilientws.Text, Data: []byte(cfg.appPing)}
		opts = append(opts, resilientws.WithAppHeartbeat(interval, timeout, ping, pongMatcher(cfg.appPong, cfg.appPongContains)))
	} else {
		opts = append(opts, resilientws.WithHeartbeat(interval, timeout))
	}
	if cfg.set["backoff-min"] || cfg.set["backoff-max"] {
		lo, hi := cfg.backoffMin, cfg.backoffMax
		opts = append(opts, resilientws.WithBackoff(func() backoff.BackOff {
			return backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(lo),
				backoff.WithMaxInterval(hi),
				backoff.WithRandomizationFactor(0.5),
				backoff.WithMultiplier(2),
				backoff.WithMaxElapsedTime(0), // never give up
			)
		}))
	}
	if len(cfg.header) > 0 {
		opts = append(opts, resilientws.WithHeader(cfg.header))
	}
	if len(cfg.subprotocols) > 0 || cfg.host != "" || cfg.tlsConfig != nil {
		d := &websocket.DialOptions{
			Subprotocols: cfg.subprotocols,
			Host:         cfg.host,
		}
		if cfg.tlsConfig != nil {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = cfg.tlsConfig
			d.HTTPClient = &http.Client{Transport: tr}
		}
		opts = append(opts, resilientws.WithDialOptions(d))
	}
	if s.stableAfter != resilientws.DefaultStableAfter {
		opts = append(opts, resilientws.WithStableAfter(s.stableAfter))
	}
	return opts
}

// reconnectPolicy is resilientws.DefaultReconnectPolicy until the end of
// input. Then, once a connection has opened and nothing is left to write, a
// connection that ends is the server closing the session: rws does not
// replace it, and stops (exit 0 if the default policy would have gone on).
func (s *session) reconnectPolicy(cause error) bool {
	retry := resilientws.DefaultReconnectPolicy(cause)
	if !retry || !s.inputEnded.Load() {
		return retry
	}
	if st := s.client.Stats(); st.Connects == 0 || st.Queued > 0 {
		return true // lines still to write: reconnect for them
	}
	s.serverEnded.Store(true)
	return false
}

// pongMatcher returns the application heartbeat's pong test: the message
// equals reply, or contains it when contains is set.
func pongMatcher(reply string, contains bool) func(resilientws.Message) bool {
	r := []byte(reply)
	if contains {
		return func(m resilientws.Message) bool { return bytes.Contains(m.Data, r) }
	}
	return func(m resilientws.Message) bool { return bytes.Equal(m.Data, r) }
}

func (s *session) onOpen(e resilientws.OpenEvent) {
	s.openedOnce.Do(func() { close(s.opened) })
	msg := fmt.Sprintf("connection %d", e.Connection)
	if e.Subprotocol != "" {
		msg += ", subprotocol " + e.Subprotocol
	}
	if q := s.client.Stats().Queued; q > 0 {
		msg += fmt.Sprintf(", %d queued message(s) go out now", q)
	}
	s.log.event(tagOpen, "%s", msg)
}

func (s *session) onMessage(m resilientws.Message) {
	if s.cfg.count > 0 && s.received >= s.cfg.count {
		return // rws is closing: print exactly -count messages
	}
	if err := s.out.print(m); err != nil {
		s.fail(fmt.Errorf("writing to stdout: %w", err))
		return
	}
	s.lastRecv.Store(time.Now().UnixNano())
	s.received++
	if s.received == s.cfg.count {
		close(s.counted)
	}
}

func (s *session) onClose(e resilientws.CloseEvent) {
	s.lastUptime = e.Uptime
	if n := s.client.Stats().Resent; n > s.resentSeen {
		s.log.warn(tagResend, "connection %d wrote %d line(s) again that the connection before had written but the server had not confirmed (it may have got them twice)",
			e.Connection, n-s.resentSeen)
		s.resentSeen = n
	}
	msg := fmt.Sprintf("connection %d closed: %s", e.Connection, describeCode(e.Code))
	if e.Reason != "" {
		msg += fmt.Sprintf(" %q", e.Reason)
	}
	switch {
	case e.Reconnect:
		s.log.event(tagConnecting, "%s; reconnecting", msg)
	case e.Err != nil && s.serverEnded.Load():
		s.log.event(tagClosed, "%s; not reconnecting: the input is over", msg)
	case e.Err != nil:
		s.log.event(tagClosed, "%s; not reconnecting", msg)
	default:
		s.log.event(tagClosed, "%s", msg)
	}
}

// onHeartbeat prints a heartbeat round trip. It runs on the event
// goroutine, as OnOpen and OnClose do, so each round trip is printed
// between its connection's OPEN and close lines.
func (s *session) onHeartbeat(e resilientws.HeartbeatEvent) {
	s.log.event(tagHeartbeat, "connection %d: RTT %s (smoothed %s)", e.Connection, fmtDuration(e.RTT), fmtDuration(e.SmoothedRTT))
}

func (s *session) onError(err error) {
	s.mu.Lock()
	s.lastErr = err
	s.mu.Unlock()
	s.log.event(tagError, "%v", err)
	// The library's error says what is wrong with a certificate and how to
	// fix it on the server; rws adds its own way around it, once.
	var (
		unknownCA x509.UnknownAuthorityError
		verify    *tls.CertificateVerificationError
	)
	switch {
	case s.tlsHinted:
	case errors.As(err, &unknownCA):
		s.tlsHinted = true
		s.log.event(tagError, "-cacert FILE trusts its CA, -k trusts anything")
	case errors.As(err, &verify):
		s.tlsHinted = true
		s.log.event(tagError, "-k skips the verification, for a test: anyone on the path could then read and change the session")
	}
}

// onBackoff says, as a wait starts, how long it is and why.
func (s *session) onBackoff(e resilientws.ReconnectEvent) {
	s.log.event(tagReconnect, "attempt %d in %s%s", e.Attempt, fmtDuration(e.Delay), describeWait(e, s.lastUptime, s.stableAfter, true))
}

// onReconnecting says, as the wait ends, that the dial starts.
func (s *session) onReconnecting(e resilientws.ReconnectEvent) {
	s.log.event(tagReconnect, "attempt %d after %s%s", e.Attempt, fmtDuration(e.Delay), describeWait(e, s.lastUptime, s.stableAfter, false))
}

// describeWait says what set a reconnect wait, to follow its length; with
// detail, it adds why the backoff is where it is. lastUptime is how long the
// last connection lived, stableAfter the time that resets the backoff.
func describeWait(e resilientws.ReconnectEvent, lastUptime, stableAfter time.Duration, detail bool) string {
	switch e.DelaySource {
	case resilientws.DelayRetryAfter:
		return ": the server's Retry-After"
	case resilientws.DelayTryAgainLater:
		return ": the server's close " + describeCode(websocket.StatusTryAgainLater)
	case resilientws.DelayNone:
		if errors.Is(e.Err, resilientws.ErrReconnectRequested) {
			return ": reconnect requested"
		}
		return ": the wait was cut short"
	}
	why := " from the backoff"
	if !detail {
		return why
	}
	var notes []string
	if e.BackoffAttempt > e.Attempt && lastUptime < stableAfter {
		notes = append(notes, fmt.Sprintf("backoff attempt %d, not reset: the last connection lived %s < %s stable-after",
			e.BackoffAttempt, fmtDuration(lastUptime), stableAfter))
	}
	var he *resilientws.HandshakeError
	if errors.As(e.Err, &he) && he.RetryAfter > 0 {
		notes = append(notes, fmt.Sprintf("longer than the server's Retry-After %s", he.RetryAfter))
	}
	if websocket.CloseStatus(e.Err) == websocket.StatusTryAgainLater {
		notes = append(notes, fmt.Sprintf("longer than the %s a 1013 close asks for", resilientws.TryAgainLaterDelay))
	}
	if len(notes) > 0 {
		why += " (" + strings.Join(notes, "; ") + ")"
	}
	return why
}

// onDrop reports a message that will not be, or may not have been,
// delivered. With -resend, a line written just before its connection was
// lost has already been written again once (WithResend(1)) when it is
// reported unconfirmed.
func (s *session) onDrop(m resilientws.Message, reason error) {
	s.log.warn(tagDropped, "%s: %v", describeMessage(m), reason)
}

// describeFailure explains the permanent cause that stopped the client.
func describeFailure(err error) string {
	var he *resilientws.HandshakeError
	if errors.As(err, &he) {
		msg := fmt.Sprintf("the server refused the WebSocket upgrade: HTTP %d %s", he.StatusCode, http.StatusText(he.StatusCode))
		if he.StatusCode >= 200 && he.StatusCode < 400 {
			msg = fmt.Sprintf("not a WebSocket endpoint: the server answered the upgrade with HTTP %d %s", he.StatusCode, http.StatusText(he.StatusCode))
		}
		if body := firstLine(he.Body); body != "" {
			msg += fmt.Sprintf(": %q", body)
		}
		return msg + "; not retrying"
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		msg := "the server closed the connection with " + describeCode(ce.Code)
		if ce.Reason != "" {
			msg += fmt.Sprintf(" %q", ce.Reason)
		}
		return msg + "; not reconnecting"
	}
	return err.Error()
}

// firstLine returns the first non-empty line of b, at most 200 bytes.
func firstLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = bytes.TrimSpace(b[:i])
	}
	if len(b) > 200 {
		b = append(b[:200:200], "..."...)
	}
	return string(b)
}
