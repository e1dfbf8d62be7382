package resilientws

import (
	"errors"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a client's counters, from Client.Stats. Counters
// start at zero at New and only grow; Queued, BufferedAmount, State and
// Uptime describe the moment of the call.
type Stats struct {
	// State is the connection state.
	State State
	// Connects counts connections that opened.
	Connects uint64
	// Reconnects counts connections that opened after the first.
	Reconnects uint64
	// DialFailures counts dials that failed (dial hook errors included).
	DialFailures uint64
	// Uptime is how long the current connection has been open, 0 when none
	// is.
	Uptime time.Duration
	// MessagesSent and BytesSent count messages written to a socket,
	// OpenEvent.Send and application heartbeat pings included.
	MessagesSent, BytesSent uint64
	// MessagesReceived and BytesReceived count messages read from a socket,
	// application heartbeat pongs included.
	MessagesReceived, BytesReceived uint64
	// Dropped counts messages accepted by Send and then dropped (OnDrop):
	// the sum of the four counters below.
	Dropped uint64
	// DroppedQueueFull counts messages evicted by OverflowDropOldest.
	DroppedQueueFull uint64
	// DroppedExpired counts messages whose WithTTL ran out.
	DroppedExpired uint64
	// DroppedUnconfirmed counts messages written on a connection that ended
	// before the peer confirmed them (ErrUnconfirmed): they may have arrived.
	DroppedUnconfirmed uint64
	// DroppedClosed counts messages abandoned by Close, Shutdown or a
	// permanent failure.
	DroppedClosed uint64
	// Resent counts messages written again on a later connection because
	// the one they had been written on ended before the peer confirmed them
	// (WithResend): a message written three times counts twice. They count
	// in MessagesSent too.
	Resent uint64
	// Queued is the number of messages in the send queue.
	Queued int
	// BufferedAmount is the number of bytes in the send queue.
	BufferedAmount int
	// LastRTT is the round trip of the last heartbeat ping, 0 before the
	// first. It keeps its value while disconnected.
	LastRTT time.Duration
	// SmoothedRTT is an exponentially weighted moving average of the
	// heartbeat round trips (weight 1/8 per sample, as TCP's SRTT).
	SmoothedRTT time.Duration
}

// counters are the live, atomically updated fields behind Stats.
type counters struct {
	connects, reconnects, dialFailures         atomic.Uint64
	messagesSent, bytesSent                    atomic.Uint64
	messagesReceived, bytesReceived            atomic.Uint64
	droppedFull, droppedExpired, droppedClosed atomic.Uint64
	droppedUnconfirmed, resent                 atomic.Uint64
	lastRTT, smoothedRTT                       atomic.Int64
	openedAt                                   atomic.Int64 // UnixNano; 0 when not open
}

// setRTT records a heartbeat round trip. Only the heartbeat calls it, one
// ping at a time (on the supervisor in application mode, on the ping timer
// in protocol mode).
func (s *counters) setRTT(d time.Duration) {
	s.lastRTT.Store(int64(d))
	srtt := s.smoothedRTT.Load()
	if srtt == 0 {
		srtt = int64(d)
	} else {
		srtt += (int64(d) - srtt) / 8
	}
	s.smoothedRTT.Store(srtt)
}

// sent counts one message of size bytes written to a socket (queued or not).
func (s *counters) sent(size int) {
	s.messagesSent.Add(1)
	s.bytesSent.Add(uint64(size))
}

// countDrop counts one dropped message by reason.
func (s *counters) countDrop(reason error) {
	switch {
	case errors.Is(reason, ErrQueueFull):
		s.droppedFull.Add(1)
	case errors.Is(reason, ErrExpired):
		s.droppedExpired.Add(1)
	case errors.Is(reason, ErrUnconfirmed):
		s.droppedUnconfirmed.Add(1)
	default:
		s.droppedClosed.Add(1)
	}
}

// Stats returns a snapshot of the client's counters. Safe to call at any
// time, from any goroutine.
func (c *Client) Stats() Stats {
	s := &c.stats
	// The queue first: its expiry pass counts what it drops, so the drop
	// counters read after it include every message it no longer counts.
	queued, buffered := c.queue.snapshot()
	st := Stats{
		Queued:             queued,
		BufferedAmount:     buffered,
		State:              c.State(),
		Connects:           s.connects.Load(),
		Reconnects:         s.reconnects.Load(),
		DialFailures:       s.dialFailures.Load(),
		MessagesSent:       s.messagesSent.Load(),
		BytesSent:          s.bytesSent.Load(),
		MessagesReceived:   s.messagesReceived.Load(),
		BytesReceived:      s.bytesReceived.Load(),
		DroppedQueueFull:   s.droppedFull.Load(),
		DroppedExpired:     s.droppedExpired.Load(),
		DroppedClosed:      s.droppedClosed.Load(),
		DroppedUnconfirmed: s.droppedUnconfirmed.Load(),
		Resent:             s.resent.Load(),
		LastRTT:            time.Duration(s.lastRTT.Load()),
		SmoothedRTT:        time.Duration(s.smoothedRTT.Load()),
	}
	st.Dropped = st.DroppedQueueFull + st.DroppedExpired + st.DroppedClosed + st.DroppedUnconfirmed
	if at := s.openedAt.Load(); at != 0 {
		st.Uptime = time.Since(time.Unix(0, at))
	}
	return st
}
