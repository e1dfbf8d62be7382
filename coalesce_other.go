//go:build !js

package resilientws

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"

	"github.com/coder/websocket"
)

// Write coalescing. coder/websocket writes a client's frames through a
// 4 KiB bufio.Writer, masking the payload in place, and flushes it at the
// end of every message: a 64 B message costs one write system call, and a
// 16 KiB one five (bench/BENCHMARKS.md). While the supervisor writes a batch
// of queued messages (writeQueued), the TCP connection under it holds what
// it is given and writes it out when the batch is written: one system call
// per batch (per poolMax bytes). It counts the bytes the socket accepted,
// so that the supervisor settles as written the messages that may have
// reached the socket whole, and no other. Under TLS it holds the records,
// so the gain is the same.

// heldConn is the TCP connection under a dial (see recordRaw). It passes
// writes through, except between hold and release.
type heldConn struct {
	net.Conn

	mu       sync.Mutex    // guards the fields below, and orders every write to Conn
	holding  bool          // between hold and release
	held     *bytes.Buffer // what was written while holding and not written out yet (pooled)
	total    int           // bytes given since hold
	accepted int           // bytes of those the socket took
	msgs     []heldMessage // the messages begun since hold (beginMessage)
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
	h.msgs = h.msgs[:0]
	h.mu.Unlock()
}

// heldMessage is where a message's write began in the held stream, and the
// fewest bytes its frame takes.
type heldMessage struct{ start, min int }

// beginMessage records that the holder is about to write a message whose
// frame takes at least min bytes.
func (h *heldConn) beginMessage(min int) {
	h.mu.Lock()
	h.msgs = append(h.msgs, heldMessage{h.total, min})
	h.mu.Unlock()
}

// sentMessages returns how many of the messages begun since hold may have
// reached the socket whole when it took only the first accepted bytes: the
// messages before the first that the socket certainly cut (it took fewer
// than min bytes past its start). Where a message ends is not known: a
// ping or a pong written by another goroutine can come right after it, so
// a message cut in its last header bytes counts as sent, which errs toward
// a report (ErrUnconfirmed) and never toward writing it twice.
func (h *heldConn) sentMessages(accepted int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for n < len(h.msgs) && accepted >= h.msgs[n].start+h.msgs[n].min {
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

// minFrame returns the fewest bytes the frame of a message of size bytes
// takes on the wire: the payload, its header and the client's mask key; a
// compressed message, at least a header and a mask key. A batch cut before
// that many bytes past where the message began certainly lost it.
func (cn *connection) minFrame(size int) int {
	if o := cn.c.opts.dialOptions; o != nil && o.CompressionMode != websocket.CompressionDisabled {
		return 2 + 4
	}
	switch {
	case size <= 125:
		return size + 2 + 4
	case size <= 65535:
		return size + 4 + 4
	}
	return size + 10 + 4
}
