//go:build !js

package resilientws

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync"
)

// Write coalescing. coder/websocket writes a client's frames through a
// 4 KiB bufio.Writer, masking the payload in place, so a 16 KiB message
// reaches the socket in five write system calls: three quarters of the
// 16 KiB send path's CPU (bench/BENCHMARKS.md). While the supervisor writes
// a large queued message, the TCP connection under it holds what it is
// given, and writes it out at once when the message is written: one system
// call per message (per poolMax bytes). Under TLS it holds the records, so
// the gain is the same.

// coalesceMin is the smallest message worth holding: smaller ones reach the
// socket in one write anyway (coder/websocket's 4 KiB buffer, less the
// longest client frame header).
const coalesceMin = 4096 - 14

// heldConn is the TCP connection under a dial (see recordRaw). It passes
// writes through, except between hold and release.
type heldConn struct {
	net.Conn

	mu      sync.Mutex    // guards the fields below, and orders every write to Conn
	holding bool          // between hold and release
	held    *bytes.Buffer // what was written while holding (pooled)
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
	if h.held == nil {
		h.held = getBuf()
	} else if h.held.Len()+len(p) > poolMax {
		if err := h.writeHeldLocked(); err != nil {
			return 0, err
		}
	}
	return h.held.Write(p)
}

// hold makes the writes wait until release. Only the supervisor calls it,
// for one message at a time.
func (h *heldConn) hold() {
	h.mu.Lock()
	h.holding = true
	h.mu.Unlock()
}

// release writes out what was held, and lets writes through again.
func (h *heldConn) release() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holding = false
	if h.held == nil {
		return nil
	}
	err := h.writeHeldLocked()
	putBuf(h.held)
	h.held = nil
	return err
}

// writeHeldLocked writes out what is held. h.mu must be held.
func (h *heldConn) writeHeldLocked() error {
	_, err := h.Conn.Write(h.held.Bytes())
	h.held.Reset()
	return err
}
