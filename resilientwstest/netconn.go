//go:build !js

package resilientwstest

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// tcpConn is one TCP connection accepted by a Server. The Server tracks it
// from accept to close, because http.Server forgets hijacked connections.
//
// Once the handler marks it upgraded, its Read obeys the Server's
// StopReading (bytes stay in the kernel until ResumeReading) and StopPongs
// (ping frames from the client are removed from the byte stream, so the
// WebSocket library above never sees them and never answers).
type tcpConn struct {
	net.Conn
	s *Server

	upgraded  atomic.Bool
	closeOnce sync.Once
	closed    chan struct{} // closed by Close

	filter frameFilter // used by Read only: one reader at a time
}

// Read reads from the connection, holding and filtering bytes once the
// connection is upgraded. The upgraded flag is checked again after the read
// returns: http.Server's background read, started before the handler marked
// the connection, may return the first byte of the first frame.
func (c *tcpConn) Read(p []byte) (int, error) {
	for {
		if c.upgraded.Load() {
			if err := c.waitReadable(); err != nil {
				return 0, err
			}
		}
		n, err := c.Conn.Read(p)
		if n > 0 && c.upgraded.Load() {
			// Bytes read just before a StopReading are held too.
			if werr := c.waitReadable(); werr != nil {
				return 0, werr
			}
			n = len(c.filter.filter(p[:n], c.s.noPongs.Load()))
			if n == 0 && err == nil {
				continue // everything read was a dropped ping: do not return 0, nil
			}
		}
		return n, err
	}
}

// waitReadable blocks while the Server is told not to read, and returns
// net.ErrClosed if the connection is closed meanwhile.
func (c *tcpConn) waitReadable() error {
	for {
		resume := c.s.readGate()
		if resume == nil {
			return nil
		}
		select {
		case <-resume:
		case <-c.closed:
			return net.ErrClosed
		}
	}
}

// Close closes the connection and forgets it.
func (c *tcpConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
		c.s.forget(c)
	})
	return err
}

// raw returns the TCP connection: under TLS, the one beneath it.
func (c *tcpConn) raw() net.Conn {
	if tc, ok := c.Conn.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c.Conn
}

// reset closes the connection with an immediate TCP reset (SO_LINGER 0),
// without a TLS close_notify.
func (c *tcpConn) reset() {
	if tc, ok := c.raw().(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.shut()
}

// shut closes the TCP connection at once (under TLS, without waiting to
// write a close_notify to a peer that may not read it) and forgets it.
func (c *tcpConn) shut() {
	_ = c.raw().Close()
	_ = c.Close()
}

// frameFilter follows the WebSocket frames a client sends and removes the
// ping frames (header and payload) while told to. Client frames are always
// masked, but the filter does not rely on it. The decision to drop is taken
// at the first byte of each frame, which holds the opcode, so nothing needs
// to be buffered.
type frameFilter struct {
	hdr       [14]byte // the current frame's header so far
	hdrLen    int
	hdrSize   int    // the header's full size, known from its second byte
	payload   uint64 // payload bytes left in the current frame
	inPayload bool
	drop      bool // the current frame is being dropped
}

const opPing = 0x9

// filter removes dropped frames from b in place and returns what is kept.
// dropPings applies to the frames that start in b.
func (f *frameFilter) filter(b []byte, dropPings bool) []byte {
	out := b[:0]
	for i := 0; i < len(b); {
		if f.inPayload {
			n := len(b) - i
			if uint64(n) > f.payload {
				n = int(f.payload)
			}
			if !f.drop {
				out = append(out, b[i:i+n]...) // len(out) <= i: copy moves down
			}
			i += n
			f.payload -= uint64(n)
			if f.payload == 0 {
				f.inPayload, f.hdrLen = false, 0
			}
			continue
		}
		c := b[i]
		i++
		if f.hdrLen == 0 {
			f.drop = dropPings && c&0x0f == opPing
		}
		f.hdr[f.hdrLen] = c
		f.hdrLen++
		if !f.drop {
			out = append(out, c)
		}
		if f.hdrLen == 2 {
			f.hdrSize = 2
			if c&0x80 != 0 {
				f.hdrSize += 4 // masking key
			}
			switch c & 0x7f {
			case 126:
				f.hdrSize += 2
			case 127:
				f.hdrSize += 8
			}
		}
		if f.hdrLen >= 2 && f.hdrLen == f.hdrSize {
			f.payload = f.payloadLen()
			f.inPayload = f.payload > 0
			if !f.inPayload {
				f.hdrLen = 0
			}
		}
	}
	return out
}

// payloadLen decodes the payload length of the complete header in f.hdr.
func (f *frameFilter) payloadLen() uint64 {
	switch l := f.hdr[1] & 0x7f; l {
	case 126:
		return uint64(f.hdr[2])<<8 | uint64(f.hdr[3])
	case 127:
		var n uint64
		for _, b := range f.hdr[2:10] {
			n = n<<8 | uint64(b)
		}
		return n
	default:
		return uint64(l)
	}
}
