//go:build !js

package soak_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
	"time"
)

// The wire tap sits between a client and its TCP socket (through the HTTP
// transport's DialContext, which the library keeps) and records, for every
// TCP connection the client dials, which messages the kernel accepted in
// full. It is the client-side ground truth the soak needs to tell the two
// ways a message can fail to reach the server apart:
//
//   - lost in flight: every byte of it was handed to the kernel on a
//     connection that then died (reset, blackhole, server close). WebSocket
//     has no acknowledgements, so this loss is documented and allowed; it is
//     counted.
//   - silently lost: it left the send queue without ever being written in
//     full and without an OnDrop. That is a library bug.
//
// It also tells which messages were written twice, on two connections, and
// so which server-side duplicates come from a write that failed mid-message.

// tapConn is one dialled TCP connection, with its record.
type tapConn struct {
	net.Conn
	rec *tapRecord
	// wmu makes each Write and the decoding of what it wrote one step:
	// otherwise the first frame, written as soon as the 101 arrives, can be
	// decoded before the end of the upgrade request whose Write has not
	// returned yet. Close does not take it: the library closes the socket
	// to cut a stuck Write.
	wmu sync.Mutex
}

func (c *tapConn) Close() error {
	c.rec.mu.Lock()
	if c.rec.closed.IsZero() {
		c.rec.closed = time.Now()
	}
	c.rec.mu.Unlock()
	return c.Conn.Close()
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, err := c.Conn.Write(p)
	c.rec.feed(p[:n])
	return n, err
}

// tapRecord is what the kernel accepted on one connection, decoded.
type tapRecord struct {
	mu       sync.Mutex
	httpDone bool   // the upgrade request has been written
	pending  []byte // bytes of an incomplete frame
	msg      []byte // payload of an unfinished fragmented message
	seqs     []uint32
	times    []time.Time // when each of seqs was accepted in full
	closed   time.Time   // when the client closed the connection
	bad      int         // data messages whose payload did not parse
}

// feed decodes b, the next bytes the kernel accepted: first the HTTP upgrade
// request, then masked client frames. Control frames are skipped.
func (r *tapRecord) feed(b []byte) {
	if len(b) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	r.pending = append(r.pending, b...)
	if !r.httpDone {
		i := bytes.Index(r.pending, []byte("\r\n\r\n"))
		if i < 0 {
			return
		}
		r.pending = append(r.pending[:0], r.pending[i+4:]...)
		r.httpDone = true
	}
	off := 0
	for {
		f, ok := nextFrame(r.pending[off:])
		if !ok {
			break
		}
		off += f.size
		if f.op >= 8 { // close, ping, pong
			continue
		}
		start := len(r.msg)
		r.msg = append(r.msg, f.payload...)
		if f.masked {
			for i := range f.payload {
				r.msg[start+i] ^= f.key[i%4]
			}
		}
		if !f.fin {
			continue
		}
		if _, seq, ok := parsePayload(r.msg); ok {
			r.seqs = append(r.seqs, seq)
			r.times = append(r.times, now)
		} else {
			r.bad++
		}
		r.msg = r.msg[:0]
	}
	r.pending = append(r.pending[:0], r.pending[off:]...)
}

// frame is one WebSocket frame as written on the wire.
type frame struct {
	fin, masked bool
	op          byte
	key         [4]byte
	payload     []byte // still masked
	size        int    // header and payload
}

// nextFrame decodes the frame at the start of buf; ok is false when buf does
// not hold a whole frame yet.
func nextFrame(buf []byte) (f frame, ok bool) {
	if len(buf) < 2 {
		return f, false
	}
	f.fin = buf[0]&0x80 != 0
	f.op = buf[0] & 0x0f
	f.masked = buf[1]&0x80 != 0
	n := uint64(buf[1] & 0x7f)
	hl := 2
	switch n {
	case 126:
		if len(buf) < 4 {
			return f, false
		}
		n, hl = uint64(binary.BigEndian.Uint16(buf[2:4])), 4
	case 127:
		if len(buf) < 10 {
			return f, false
		}
		n, hl = binary.BigEndian.Uint64(buf[2:10]), 10
	}
	if f.masked {
		if len(buf) < hl+4 {
			return f, false
		}
		copy(f.key[:], buf[hl:hl+4])
		hl += 4
	}
	if uint64(len(buf)-hl) < n {
		return f, false
	}
	f.payload = buf[hl : hl+int(n)]
	f.size = hl + int(n)
	return f, true
}

// snapshot returns the complete messages and whether a message was cut
// short: part of it reached the kernel, not all.
func (r *tapRecord) snapshot() (tc tappedConn, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return tappedConn{
		seqs:    append([]uint32(nil), r.seqs...),
		times:   append([]time.Time(nil), r.times...),
		closed:  r.closed,
		partial: r.httpDone && (len(r.pending) > 0 || len(r.msg) > 0),
	}, r.bad
}

// tap holds the records of one client's connections, in dial order (one
// supervisor dials them one at a time).
type tap struct {
	sndBuf int // if positive, the send buffer of every connection

	mu    sync.Mutex
	dials []time.Time // when each dial reached the transport, refused ones included
	conns []*tapRecord
}

// httpClient returns the HTTP client to give the library through
// WithDialOptions: a plain transport whose every connection is tapped. No
// proxy from the environment: the soak is loopback only. No keep-alives,
// like the library's own transport: net/http finishes a TCP dial whose
// handshake has given up (a dial timeout on a starved machine) and pools
// the connection, and the next handshake would take it without a dial,
// one dial fewer than the OnReconnecting events the checks compare with.
func (t *tap) httpClient() *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			t.mu.Lock()
			t.dials = append(t.dials, time.Now())
			t.mu.Unlock()
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if tc, ok := c.(*net.TCPConn); ok && t.sndBuf > 0 {
				_ = tc.SetWriteBuffer(t.sndBuf)
			}
			rec := &tapRecord{}
			t.mu.Lock()
			t.conns = append(t.conns, rec)
			t.mu.Unlock()
			return &tapConn{Conn: c, rec: rec}, nil
		},
	}}
}

// tappedConn is one tapped connection's decoded record.
type tappedConn struct {
	seqs    []uint32    // messages the kernel accepted in full, in order
	times   []time.Time // when
	closed  time.Time   // when the client closed it; zero if it did not
	partial bool        // a message was cut short at the end
}

func (t *tap) snapshot() (out []tappedConn, dials []time.Time, bad int) {
	t.mu.Lock()
	conns := append([]*tapRecord(nil), t.conns...)
	dials = append([]time.Time(nil), t.dials...)
	t.mu.Unlock()
	for _, r := range conns {
		tc, b := r.snapshot()
		out = append(out, tc)
		bad += b
	}
	return out, dials, bad
}

// lastWritten returns the last message written in full on the latest
// connection, 0 if none.
func (t *tap) lastWritten() uint32 {
	t.mu.Lock()
	var r *tapRecord
	if len(t.conns) > 0 {
		r = t.conns[len(t.conns)-1]
	}
	t.mu.Unlock()
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seqs) == 0 {
		return 0
	}
	return r.seqs[len(r.seqs)-1]
}
