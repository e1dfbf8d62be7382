package resilientws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
)

// readLoop is the only reader of cn.ws. It hands each message to the event
// goroutine and keeps reading, so pongs are processed however slow OnMessage
// is, until too many messages are pending.
func (cn *connection) readLoop() {
	c := cn.c
	var scratch bytes.Buffer
	last := 0 // the size of the last message read
	for {
		typ, data, buf, err := cn.read(&scratch, last)
		if err != nil {
			cn.readErr = err
			if errors.Is(err, websocket.ErrMessageTooBig) {
				err = newFailure(fmt.Sprintf("a message from the server was larger than the %d-byte read limit", c.opts.readLimit), err)
			}
			cn.fail(err)
			return
		}
		last = len(data)
		c.stats.messagesReceived.Add(1)
		c.stats.bytesReceived.Add(uint64(len(data)))
		cn.inbound.Add(1)
		if c.opts.isPong != nil && cn.isPong(Message{Type: typ, Data: data}) {
			putBuf(buf)
			select {
			case cn.appPongs <- time.Now():
			default: // one pending pong is enough
			}
			continue
		}
		if c.opts.onMessage == nil {
			putBuf(buf)
			continue
		}
		// Wait for room; if the connection dies meanwhile, queue it anyway
		// (what was read is delivered) and go back to the dead socket, so
		// the supervisor can join the reader and reconnect however long
		// OnMessage blocks. Only the user's Close gives up on the message,
		// and then the reader goes on reading (pongs, the close handshake)
		// until the socket is closed.
		if !c.disp.postMessage(Message{Type: typ, Data: data}, buf, c.stop.Done(), cn.dead, &cn.stalls) {
			putBuf(buf)
		}
	}
}

// read reads one message. By default it reads through scratch, a buffer
// reused across messages, and returns a copy of exactly its size (the
// callback owns it): one allocation per message, where coder/websocket's
// Read grows a fresh buffer. With WithPooledMessages it reads into a pooled
// buffer, returned too, which goes back to the pool after OnMessage; the
// buffer is first given room for a message of the last one's size (last),
// so that it does not grow, copying, as it reads (the pool's buffers come
// from messages of every size, sent ones included).
// The read context is never cancelled: the connection is stopped by closing
// it, because an expiring read context kills a coder/websocket Conn.
func (cn *connection) read(scratch *bytes.Buffer, last int) (MessageType, []byte, *bytes.Buffer, error) {
	typ, r, err := cn.ws.Reader(context.Background())
	if err != nil {
		return 0, nil, nil, err
	}
	if cn.c.opts.pooledMessages {
		buf := getBuf()
		if last <= poolMax {
			buf.Grow(last + bytes.MinRead) // ReadFrom wants MinRead spare bytes to see the end
		}
		if _, err := buf.ReadFrom(r); err != nil {
			putBuf(buf)
			return 0, nil, nil, err
		}
		return typ, buf.Bytes(), buf, nil
	}
	scratch.Reset()
	if _, err := scratch.ReadFrom(r); err != nil {
		return 0, nil, nil, err
	}
	data := bytes.Clone(scratch.Bytes())
	if scratch.Cap() > maxScratch {
		*scratch = bytes.Buffer{} // do not keep a rare large message's buffer
	}
	return typ, data, nil, nil
}

// maxScratch is the largest read buffer a connection keeps between messages.
const maxScratch = 64 << 10

// isPong runs the user's isPong, turning a panic into an OnError report.
func (cn *connection) isPong(m Message) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			cn.c.postError(&PanicError{Callback: "WithAppHeartbeat isPong", Value: v})
			ok = false
		}
	}()
	return cn.c.opts.isPong(m)
}
