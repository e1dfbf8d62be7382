//go:build !js

package resilientws

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"
)

// Write coalescing. coder/websocket writes a client's frames through a
// 4 KiB bufio.Writer, masking the payload in place, and flushes it at the
// end of every message: a 64 B message costs one write system call, and a
// 16 KiB one five (bench/BENCHMARKS.md). While the supervisor writes a batch
// of queued messages (writeQueued), the TCP connection under it holds what
// it is given and writes it out when the batch is written: one system call
// per batch (per poolMax bytes). It counts the bytes the socket accepted,
// so that the supervisor settles as written only the messages that reached
// the socket whole. Under TLS it holds the records, so the gain is the same.

// heldConn is the TCP connection under a dial (see recordRaw). It passes
// writes through, except between hold and release.
type heldConn struct {
	net.Conn

	mu       sync.Mutex    // guards the fields below, and orders every write to Conn
	holding  bool          // between hold and release
	held     *bytes.Buffer // what was written while holding and not written out yet (pooled)
	total    int           // bytes given since hold
	accepted int           // bytes of those the socket took
	ends     []int         // where each message written since hold ends in the held stream (endMessage)
	err      error         // the first failed write since hold: later ones fail too
}

// wrapHeld returns c wrapped for coalescing; a TLS connection dialed by
// DialTLSContext is returned as it is (net/http reads its state).
func wrapHeld(c net.Conn) net.Conn {
	if _, ok := c.(*tls.Conn); ok {
		return c
	}
	return &heldConn{Conn: c}
}

// held returns the connection under the dial, if it can hold its writes.
func (r *rawConn) held() *heldConn {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h, _ := r.c.(*heldConn)
	return h
}

// Write writes p, or keeps it for release while holding.
func (h *heldConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.holding {
		return h.Conn.Write(p)
	}
	if h.err != nil {
		return 0, h.err
	}
	if h.held == nil {
		h.held = getBuf()
	} else if h.held.Len()+len(p) > poolMax {
		if err := h.writeHeldLocked(); err != nil {
			return 0, err
		}
	}
	h.total += len(p)
	return h.held.Write(p)
}

// hold makes the writes wait until release. Only the supervisor calls it,
// for one batch at a time.
func (h *heldConn) hold() {
	h.mu.Lock()
	h.holding = true
	h.total, h.accepted, h.err = 0, 0, nil
	h.ends = h.ends[:0]
	h.mu.Unlock()
}

// endMessage records that a message has been written whole since hold: it
// ends where the bytes given so far end.
func (h *heldConn) endMessage() {
	h.mu.Lock()
	h.ends = append(h.ends, h.total)
	h.mu.Unlock()
}

// wholeMessages returns how many of the messages recorded by endMessage
// lie whole within the first accepted bytes given since hold.
func (h *heldConn) wholeMessages(accepted int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for n < len(h.ends) && h.ends[n] <= accepted {
		n++
	}
	return n
}

// release writes out what is held, and lets writes through again. It
// returns how many of the bytes given since hold the socket took, and the
// first error.
func (h *heldConn) release() (accepted int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holding = false
	if h.held != nil {
		if h.err == nil {
			_ = h.writeHeldLocked() // recorded in h.err
		}
		putBuf(h.held)
		h.held = nil
	}
	return h.accepted, h.err
}

// writeHeldLocked writes out what is held. h.mu must be held.
func (h *heldConn) writeHeldLocked() error {
	n, err := h.Conn.Write(h.held.Bytes())
	h.accepted += n
	h.held.Reset()
	if err != nil {
		h.err = err
	}
	return err
}
