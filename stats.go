package resilientws

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a client's counters, from Client.Stats.
type Stats struct {
	// Connects counts connections that opened.
	Connects uint64
	// Reconnects counts connections that opened after the first.
	Reconnects uint64
	// DialFailures counts dials that failed.
	DialFailures uint64
	// MessagesSent and BytesSent count messages written to a socket.
	MessagesSent, BytesSent uint64
	// MessagesReceived and BytesReceived count messages read from a socket.
	MessagesReceived, BytesReceived uint64
	// Dropped counts messages accepted by Send and then dropped (OnDrop).
	Dropped uint64
	// Queued is the number of messages in the send queue now.
	Queued int
	// BufferedAmount is the number of bytes in the send queue now.
	BufferedAmount int
	// LastRTT is the round trip of the last heartbeat ping, 0 before the
	// first.
	LastRTT time.Duration
}

// counters are the live, atomically updated fields behind Stats.
type counters struct {
	connects, reconnects, dialFailures atomic.Uint64
	messagesSent, bytesSent            atomic.Uint64
	messagesReceived, bytesReceived    atomic.Uint64
	dropped                            atomic.Uint64
	lastRTT                            atomic.Int64
}

func (s *counters) setRTT(d time.Duration) { s.lastRTT.Store(int64(d)) }

// Stats returns a snapshot of the client's counters. Safe to call at any
// time, from any goroutine.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		Connects:         s.connects.Load(),
		Reconnects:       s.reconnects.Load(),
		DialFailures:     s.dialFailures.Load(),
		MessagesSent:     s.messagesSent.Load(),
		BytesSent:        s.bytesSent.Load(),
		MessagesReceived: s.messagesReceived.Load(),
		BytesReceived:    s.bytesReceived.Load(),
		Dropped:          s.dropped.Load(),
		Queued:           c.queue.length(),
		BufferedAmount:   c.queue.buffered(),
		LastRTT:          time.Duration(s.lastRTT.Load()),
	}
}
