package resilientws

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// Message is one WebSocket message, received or queued.
type Message struct {
	// Type is Text or Binary.
	Type MessageType
	// Data is the payload. A received Message's Data belongs to the callback
	// that gets it, unless WithPooledMessages is set: then it is valid only
	// until OnMessage returns.
	Data []byte
}

// OpenEvent describes a connection that has just opened.
type OpenEvent struct {
	// Connection numbers the connections: 1 for the first, 2 after the first
	// reconnect, and so on.
	Connection int
	// Subprotocol is the subprotocol the server chose, "" if none.
	Subprotocol string

	conn *connection
}

// Send writes one message on this connection at once, ahead of the send
// queue, which is flushed only after OnOpen returns: use it to authenticate
// or resubscribe. It fails once this connection is gone (the message is not
// queued). The write is bounded by ctx and by the write timeout.
func (e OpenEvent) Send(ctx context.Context, typ MessageType, data []byte) error {
	if e.conn == nil {
		return newFailure("OpenEvent.Send: no connection: "+describe(ErrClosed), ErrClosed)
	}
	if err := checkMessage(typ, data); err != nil {
		return err
	}
	return e.conn.writeNow(ctx, "OpenEvent.Send", typ, data)
}

// CloseEvent describes the end of a connection that had opened.
type CloseEvent struct {
	// Connection is the number of the connection that ended, as in its
	// OpenEvent.
	Connection int
	// Code is the status from the peer's close frame, 1000 after the user's
	// own Close or Shutdown (CloseWith's code after CloseWith) or when
	// Reconnect replaced the connection (Err is then
	// ErrReconnectRequested), 1009 after a local read-limit overflow, and
	// 1006 (StatusAbnormalClosure) when no close frame came.
	Code websocket.StatusCode
	// Reason is the reason from the close frame, if any (CloseWith's after
	// CloseWith).
	Reason string
	// Err is why the connection ended; nil after the user's own Close.
	Err error
	// Reconnect tells whether the client will dial again.
	Reconnect bool
	// Uptime is how long the connection stayed open. The backoff is reset
	// when it is at least the WithStableAfter time.
	Uptime time.Duration
}

// ReconnectEvent describes a wait before the next dial: OnBackoff gets it
// as the wait starts, OnReconnecting once it is over, just before the dial.
type ReconnectEvent struct {
	// Attempt counts dials since the last successful open: 1 for the first
	// retry.
	Attempt int
	// BackoffAttempt counts the delays drawn from the backoff since it was
	// last reset (at New, and when a connection ends after staying open
	// WithStableAfter): 1 for the first. It grows across connections that
	// end sooner, while Attempt starts over at each open: a BackoffAttempt
	// larger than Attempt means the backoff was not reset. It is 0 when no
	// delay was drawn (Reconnect replaced an open connection).
	BackoffAttempt int
	// Delay is the wait: for OnBackoff the wait about to start, for
	// OnReconnecting the wait that happened (shorter if Reconnect cut it).
	Delay time.Duration
	// DelaySource tells what set Delay.
	DelaySource DelaySource
	// Err is what caused the wait: the failed dial or the lost connection,
	// or ErrReconnectRequested.
	Err error
}

// DelaySource tells what set the wait before a dial.
type DelaySource uint8

// Delay sources.
const (
	// DelayNone: no wait, or a wait cut short, because Reconnect was called
	// or, in the browser, a page event asked for a dial now (see the
	// package documentation's In the browser).
	DelayNone DelaySource = iota
	// DelayBackoff: the backoff's delay.
	DelayBackoff
	// DelayRetryAfter: the Retry-After of a refused handshake, which was
	// longer than the backoff's delay.
	DelayRetryAfter
	// DelayTryAgainLater: TryAgainLaterDelay after a 1013 (Try Again Later)
	// close, which was longer than the backoff's delay.
	DelayTryAgainLater
)

// String returns "none", "backoff", "retry-after" or "try-again-later".
func (s DelaySource) String() string {
	switch s {
	case DelayNone:
		return "none"
	case DelayBackoff:
		return "backoff"
	case DelayRetryAfter:
		return "retry-after"
	case DelayTryAgainLater:
		return "try-again-later"
	}
	return fmt.Sprintf("DelaySource(%d)", int(s))
}

// MarshalText encodes the source as its name, as State does, so that events
// encode well as JSON or in logs.
func (s DelaySource) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
