package resilientws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// connection is one open WebSocket. Its reader goroutine is the only
// caller of Reader; the supervisor goroutine writes the send queue on it
// (each write under the watchdog, a timer that fails the connection when a
// write takes too long). The supervisor starts the reader and the heartbeat
// and joins both (stop, heartbeat.stop) before it dials again.
type connection struct {
	c   *Client
	ws  *websocket.Conn
	raw *rawConn
	id  int

	dead     chan struct{} // closed by the first fail
	failOnce sync.Once
	cause    error // written once by fail, before dead closes
	readErr  error // the reader's last error, read once it has exited
	closeErr error // closeGracefully's error when it carries the peer's close frame (supervisor only)

	stalls  atomic.Uint64  // odd while the reader waits for OnMessage room
	writes  atomic.Uint64  // odd while the supervisor writes a queued message
	inbound atomic.Uint64  // messages read, for the heartbeat's liveness rule
	pongs   chan time.Time // application pongs, for the supervisor (capacity 1; nil without WithAppHeartbeat or isPong)

	gate chan struct{} // closed once OnOpen has returned: the queue may flow

	watchdog *time.Timer    // fires fail(ErrWriteTimeout) on a stuck write; made by the first write
	wdRun    sync.WaitGroup // 1 while the watchdog is armed or running
	wdLimit  time.Duration  // the limit it was armed with (the write timeout, or less while draining)

	reader      sync.WaitGroup // the reader goroutine
	openedAt    time.Time
	subprotocol string
}

func newConnection(c *Client, ws *websocket.Conn, raw *rawConn, id int) *connection {
	cn := &connection{
		c:           c,
		ws:          ws,
		raw:         raw,
		id:          id,
		dead:        make(chan struct{}),
		gate:        make(chan struct{}),
		openedAt:    time.Now(),
		subprotocol: ws.Subprotocol(),
	}
	if c.opts.isPong != nil {
		cn.pongs = make(chan time.Time, 1)
	}
	return cn
}

// fail declares the connection dead with cause (the first cause wins) and
// drops it at once, without a close handshake.
func (cn *connection) fail(cause error) {
	first := false
	cn.failOnce.Do(func() {
		cn.cause = cause
		close(cn.dead)
		first = true
	})
	if first {
		_ = cn.ws.CloseNow()
	}
}

// isDead reports whether fail was called.
func (cn *connection) isDead() bool {
	select {
	case <-cn.dead:
		return true
	default:
		return false
	}
}

// start runs the reader.
func (cn *connection) start() {
	cn.reader.Add(1)
	go func() {
		defer cn.reader.Done()
		cn.readLoop()
	}()
}

// readLoop is the only reader of cn.ws. It hands each message to the event
// goroutine and keeps reading, so pongs are processed however slow OnMessage
// is, until too many messages are pending.
func (cn *connection) readLoop() {
	c := cn.c
	var scratch bytes.Buffer
	for {
		typ, data, buf, err := cn.read(&scratch)
		if err != nil {
			cn.readErr = err
			if errors.Is(err, websocket.ErrMessageTooBig) {
				err = newFailure(fmt.Sprintf("a message from the server was larger than the %d-byte read limit", c.opts.readLimit), err)
			}
			cn.fail(err)
			return
		}
		c.stats.messagesReceived.Add(1)
		c.stats.bytesReceived.Add(uint64(len(data)))
		cn.inbound.Add(1)
		if c.opts.isPong != nil && cn.isPong(Message{Type: typ, Data: data}) {
			putBuf(buf)
			select {
			case cn.pongs <- time.Now():
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
// buffer, returned too, which goes back to the pool after OnMessage.
// The read context is never cancelled: the connection is stopped by closing
// it, because an expiring read context kills a coder/websocket Conn.
func (cn *connection) read(scratch *bytes.Buffer) (MessageType, []byte, *bytes.Buffer, error) {
	typ, r, err := cn.ws.Reader(context.Background())
	if err != nil {
		return 0, nil, nil, err
	}
	if cn.c.opts.pooledMessages {
		buf := getBuf()
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

// writeBatch is how many queued messages writeQueued writes before it lets
// the supervisor look at its other duties.
const writeBatch = 64

// writeQueued writes queued messages in order, up to writeBatch, each bounded
// by limit, and records them in the unconfirmed log. It stops early when the
// log is full. It reports whether the queue may still hold messages that it
// could write now. A message whose write fails stays queued for the next
// connection.
func (cn *connection) writeQueued(limit time.Duration) (more bool) {
	q, log := cn.c.queue, cn.c.unconfirmed
	for range writeBatch {
		if cn.isDead() {
			return false
		}
		if _, _, full := log.pending(); full {
			return false
		}
		m, ok := q.peek()
		if !ok {
			return false
		}
		err := cn.write(m, limit)
		it := q.settle(err == nil)
		if err != nil {
			cn.fail(err)
			return false
		}
		log.add(it)
	}
	return true
}

// write writes one queued message under the watchdog, which fails the
// connection if the write takes longer than limit.
func (cn *connection) write(m Message, limit time.Duration) error {
	cn.writes.Add(1) // odd: writing
	defer cn.writes.Add(1)
	cn.wdRun.Add(1)
	cn.wdLimit = limit
	if cn.watchdog == nil {
		cn.watchdog = time.AfterFunc(limit, cn.writeTimedOut)
	} else {
		cn.watchdog.Reset(limit)
	}
	err := cn.ws.Write(context.Background(), m.Type, m.Data)
	if !cn.watchdog.Stop() {
		cn.wdRun.Wait() // it has failed the connection
		return cn.cause
	}
	cn.wdRun.Done()
	if err != nil {
		return err
	}
	cn.c.stats.messagesSent.Add(1)
	cn.c.stats.bytesSent.Add(uint64(len(m.Data)))
	return nil
}

// writeTimedOut is the watchdog's function.
func (cn *connection) writeTimedOut() {
	defer cn.wdRun.Done()
	cn.fail(fmt.Errorf("%w: a write took longer than %s", ErrWriteTimeout, cn.wdLimit))
}

// writeDirect writes for OpenEvent.Send, bounded by ctx and the write
// timeout. A write cut short mid-frame kills the connection.
func (cn *connection) writeDirect(ctx context.Context, typ MessageType, data []byte) error {
	return cn.writeNow(ctx, "OpenEvent.Send", typ, data)
}

// writeNow is writeDirect; what names the write in its errors.
func (cn *connection) writeNow(ctx context.Context, what string, typ MessageType, data []byte) error {
	if err := ctx.Err(); err != nil {
		return newFailure(what+": "+describe(err), err) // before writing: a write cut short kills the connection
	}
	if cn.isDead() {
		return newFailure(fmt.Sprintf("%s: connection %d is gone", what, cn.id), ErrNotConnected)
	}
	wctx, cancel := context.WithTimeout(ctx, cn.c.opts.writeTimeout)
	defer cancel()
	if err := cn.ws.Write(wctx, typ, data); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			text := fmt.Sprintf("write timeout: %s took longer than %s", what, cn.c.opts.writeTimeout)
			if ctx.Err() != nil {
				text = fmt.Sprintf("write timeout: %s outlived its context's deadline", what)
			}
			cn.fail(newFailure(text, ErrWriteTimeout, err))
		}
		return newFailure(what+": "+describe(err), err)
	}
	cn.c.stats.messagesSent.Add(1)
	cn.c.stats.bytesSent.Add(uint64(len(data)))
	return nil
}

var errConnGone = errors.New("connection closed")

// closeGracefully sends a close frame with code and reason and waits for
// the peer's answer at most closeHandshakeTimeout; then the socket is simply
// closed. It reports whether the peer answered: it then has read everything
// written before.
func (cn *connection) closeGracefully(code websocket.StatusCode, reason string) (answered bool) {
	fired := make(chan struct{})
	t := time.AfterFunc(closeHandshakeTimeout, func() {
		defer close(fired)
		if !cn.raw.close() {
			_ = cn.ws.CloseNow()
		}
	})
	err := cn.ws.Close(code, reason)
	if !t.Stop() {
		<-fired
		return false
	}
	if websocket.CloseStatus(err) != -1 {
		cn.closeErr = err // the peer's close frame was not 1000, and Close read it, not the reader
	}
	return err == nil
}

// stop closes the socket, if still open, and joins the reader. Pings need no
// context of the connection's: closing the socket ends them.
// A close frame the reader (or closeGracefully) got wins over the first
// recorded cause: a write or a ping that failed because the server closed
// must not hide its code.
func (cn *connection) stop() {
	cn.fail(errConnGone)
	cn.reader.Wait()
	if websocket.CloseStatus(cn.cause) != -1 {
		return
	}
	switch {
	case websocket.CloseStatus(cn.readErr) != -1:
		cn.cause = cn.readErr
	case cn.closeErr != nil:
		cn.cause = cn.closeErr
	}
}
