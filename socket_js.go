//go:build js && wasm

package resilientws

// The browser's WebSocket.
//
// In the browser the client drives the page's own WebSocket object through
// syscall/js and keeps coder/websocket for its types only (MessageType,
// StatusCode, CloseError, DialOptions). coder/websocket's js build is not
// used for the connection: its Close waits for the browser's close event
// without a bound (Chromium waits 60 s for a peer that stopped reading),
// its CloseNow (1001) and the close it makes when a Read's ctx ends (1008)
// use codes a page may not send, so the browser refuses them and the socket
// stays open, and its Read errors lose the server's close code, which the
// reconnect policy needs.
//
// What the browser imposes, and what this file does about it:
//   - No protocol pings: a page can neither send a ping nor see a pong. Ping
//     fails; the options keep the client from calling it (see WithHeartbeat).
//   - A page closes only with 1000 or 3000-4999, and always with a close
//     frame. dropSocket closes with 1000 and the cause as the reason and lets
//     the socket go at once: the browser finishes the handshake on its own
//     (or gives up after its own timeout) while the client reconnects.
//   - A refused upgrade is an error event and a 1006 close: the page learns
//     no status and no header.
//   - send never blocks: what the browser has not sent yet is the socket's
//     bufferedAmount, counted by Client.BufferedAmount, and it grows without
//     bound when the server stops reading. Write waits instead while the
//     socket holds more than the send queue's byte limit unsent (waitRoom),
//     checking bufferedAmount, which has no event, every few milliseconds;
//     the write timeout bounds the wait, as it bounds a blocked TCP write
//     natively, and the queue's limits and overflow rule meet Send.
//   - Nothing can pause the browser's reading: what arrives waits in the
//     socket's inbox, unbounded, until the reader takes it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/coder/websocket"
)

// In the browser a socket (socket.go) is the page's WebSocket.
var _ socket = (*browserSocket)(nil)

// inBrowser is true when the client runs in a browser (GOOS=js).
const inBrowser = true

// dropSocket ends ws for a connection declared dead with cause: a close
// frame with 1000 (a page can send no 1001 and no 1006) and the cause as
// reason, not waited for.
func dropSocket(ws socket, cause error) {
	if s, ok := ws.(*browserSocket); ok {
		s.drop(dropReason(cause))
		return
	}
	_ = ws.CloseNow()
}

// dropReason is the close reason that tells the server why the client
// dropped the connection.
func dropReason(cause error) string {
	switch {
	case errors.Is(cause, ErrHeartbeatTimeout):
		return "heartbeat timeout"
	case errors.Is(cause, ErrWriteTimeout):
		return "write timeout"
	case errors.Is(cause, websocket.ErrMessageTooBig):
		return "message too big"
	}
	return ""
}

// errNoPing is what Ping returns in the browser.
var errNoPing = fmt.Errorf("resilientws: a page cannot send a protocol ping: %w", errors.ErrUnsupported)

// browserSocket is one browser WebSocket. Its event handlers run on the
// page's event loop and must not block: they fill the inbox and signal.
type browserSocket struct {
	v         js.Value
	funcs     [3]js.Func // onopen, onmessage, onclose
	limit     atomic.Int64
	maxUnsent int // Write waits while bufferedAmount would pass it; 0: never

	opened chan struct{} // closed by onopen
	ended  chan struct{} // closed by end: the close event came, or the client let the socket go
	ready  chan struct{} // capacity 1: a message, or the end, for Reader

	mu      sync.Mutex // guards the fields below
	inbox   fifo[inMessage]
	closing bool  // close was called on the browser's socket
	done    bool  // ended is closed
	err     error // why it ended, as Reader returns it
}

// inMessage is a message the browser delivered.
type inMessage struct {
	typ  MessageType
	data []byte
	size int // > the read limit: data was dropped
}

var (
	jsWebSocket  = js.Global().Get("WebSocket")
	jsUint8Array = js.Global().Get("Uint8Array")
)

// browserDial is what a browser socket is opened with.
type browserDial struct {
	protocols []string // offered subprotocols
	readLimit int64    // the read limit, from the first message on
	maxUnsent int      // see browserSocket.maxUnsent
}

// dialBrowser opens a browser WebSocket to url (ws or wss) and waits for it
// to open, ctx to end, or the browser to give up.
func dialBrowser(ctx context.Context, url string, d browserDial) (*browserSocket, error) {
	s := &browserSocket{
		maxUnsent: d.maxUnsent,
		opened:    make(chan struct{}),
		ended:     make(chan struct{}),
		ready:     make(chan struct{}, 1),
	}
	s.limit.Store(d.readLimit) // before any handler is set: the first message is judged by it
	protos := make([]any, len(d.protocols))
	for i, p := range d.protocols {
		protos[i] = p
	}
	if err := jsCall(func() { s.v = jsWebSocket.New(url, protos) }); err != nil {
		return nil, err // a URL or subprotocol the browser refuses, or a page it forbids (mixed content)
	}
	s.v.Set("binaryType", "arraybuffer")
	s.funcs = [3]js.Func{
		js.FuncOf(func(js.Value, []js.Value) any { close(s.opened); return nil }),
		js.FuncOf(func(_ js.Value, args []js.Value) any { s.received(args[0].Get("data")); return nil }),
		js.FuncOf(func(_ js.Value, args []js.Value) any { s.closed(args[0]); return nil }),
	}
	s.v.Set("onopen", s.funcs[0])
	s.v.Set("onmessage", s.funcs[1])
	s.v.Set("onclose", s.funcs[2])

	select {
	case <-s.opened:
		return s, nil
	case <-s.ended:
		select {
		case <-s.opened: // it opened, then closed: Reader will say so
			return s, nil
		default:
		}
		return nil, errNotOpened
	case <-ctx.Done():
		s.drop("")
		return nil, ctx.Err()
	}
}

// errNotOpened is the error of a dial the browser gave up.
var errNotOpened = errors.New("the browser could not open the connection, and does not tell a page why " +
	"(refused, an HTTP status other than 101, a TLS or network failure)")

// received is the message handler.
func (s *browserSocket) received(data js.Value) {
	var m inMessage
	if data.Type() == js.TypeString {
		m.typ, m.data = Text, []byte(data.String())
	} else { // an ArrayBuffer (binaryType)
		u8 := jsUint8Array.New(data)
		m.typ, m.data = Binary, make([]byte, u8.Length())
		js.CopyBytesToGo(m.data, u8)
	}
	if limit := s.limit.Load(); int64(len(m.data)) > limit {
		m.data, m.size = nil, len(m.data)
	}
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.inbox.push(m)
	s.mu.Unlock()
	s.signal()
}

// closed is the close handler.
func (s *browserSocket) closed(e js.Value) {
	code, reason := websocket.StatusCode(e.Get("code").Int()), e.Get("reason").String()
	if e.Get("wasClean").Bool() {
		s.end(websocket.CloseError{Code: code, Reason: reason}, false)
		return
	}
	s.end(newFailure(fmt.Sprintf("the browser reported an abnormal closure (%d), without a close frame from the server", int(code))), false)
}

func (s *browserSocket) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// end marks the socket ended with err, once, and detaches the handlers: the
// browser calls none of them again. drop forgets the messages not read yet.
func (s *browserSocket) end(err error, drop bool) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.done, s.err = true, err
	if drop {
		s.inbox.release()
	}
	s.mu.Unlock()
	for _, name := range [...]string{"onopen", "onmessage", "onclose"} {
		s.v.Set(name, js.Null())
	}
	for _, f := range s.funcs {
		f.Release() // allowed while it runs: end may be called from onclose
	}
	close(s.ended)
	s.signal()
}

// Reader returns the next message, or why the socket ended: a close frame
// from the server (a websocket.CloseError), an abnormal closure, or the
// client's own close (net.ErrClosed). The messages
// received before the server's close come first.
func (s *browserSocket) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	for {
		s.mu.Lock()
		if s.inbox.len() > 0 {
			m := s.inbox.pop()
			s.mu.Unlock()
			if m.data == nil && m.size > 0 {
				return 0, nil, fmt.Errorf("%w: a %d-byte message, read limited at %d bytes", websocket.ErrMessageTooBig, m.size, s.limit.Load())
			}
			return m.typ, bytes.NewReader(m.data), nil
		}
		if s.done {
			err := s.err
			s.mu.Unlock()
			return 0, nil, err
		}
		s.mu.Unlock()
		select {
		case <-s.ready:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
}

// errSocketClosed is what a socket the client closed answers.
var errSocketClosed = newFailure("the socket was already closed", net.ErrClosed)

// Write hands one message to the browser, which sends it when it can, once
// waitRoom allows.
func (s *browserSocket) Write(ctx context.Context, typ MessageType, p []byte) error {
	if err := s.waitRoom(ctx, len(p)); err != nil {
		return err
	}
	err := jsCall(func() {
		if typ == Text {
			s.v.Call("send", string(p))
			return
		}
		u8 := jsUint8Array.New(len(p))
		js.CopyBytesToJS(u8, p)
		s.v.Call("send", u8)
	})
	if err != nil {
		return newFailure("the browser refused to send the message: "+err.Error(), err)
	}
	return nil
}

// Polling bounds of waitRoom: the browser has no event for bufferedAmount.
const (
	roomPollMin = time.Millisecond
	roomPollMax = 50 * time.Millisecond
)

// waitRoom waits until the socket is open and not closing and holds at
// most maxUnsent bytes, n more included (an empty socket takes any
// message), or until ctx ends.
func (s *browserSocket) waitRoom(ctx context.Context, n int) error {
	var (
		t     *time.Timer
		every = roomPollMin
	)
	for {
		s.mu.Lock()
		gone := s.done || s.closing
		s.mu.Unlock()
		if gone {
			return errSocketClosed
		}
		b := s.unsent()
		if s.maxUnsent <= 0 || b == 0 || b+n <= s.maxUnsent {
			return nil
		}
		if t == nil {
			t = time.NewTimer(every)
			defer t.Stop()
		} else {
			t.Reset(every)
		}
		every = min(2*every, roomPollMax)
		select {
		case <-t.C:
		case <-s.ended:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close starts the close handshake with code and reason and waits for the
// browser's close event, or for CloseNow. It returns nil when the server
// answered with the same code, as coder/websocket's Close does.
func (s *browserSocket) Close(code websocket.StatusCode, reason string) error {
	if err := s.close(code, reason); err != nil {
		return err
	}
	<-s.ended
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if websocket.CloseStatus(err) == code {
		return nil
	}
	return err
}

// CloseNow lets the socket go at once: a close frame with 1000 if none was
// sent, not waited for.
func (s *browserSocket) CloseNow() error {
	s.drop("")
	return nil
}

// drop is CloseNow with a reason.
func (s *browserSocket) drop(reason string) {
	_ = s.close(websocket.StatusNormalClosure, reason) // an error: it was closing or closed already
	s.end(fmt.Errorf("closed by the client: %w", net.ErrClosed), true)
}

// close calls the browser socket's close, once.
func (s *browserSocket) close(code websocket.StatusCode, reason string) error {
	s.mu.Lock()
	if s.done || s.closing {
		s.mu.Unlock()
		return errSocketClosed
	}
	s.closing = true
	s.mu.Unlock()
	if err := jsCall(func() { s.v.Call("close", int(code), reason) }); err != nil {
		return newFailure("the browser refused to close the socket: "+err.Error(), err)
	}
	return nil
}

// Ping fails: a page cannot send protocol pings.
func (s *browserSocket) Ping(context.Context) error { return errNoPing }

// Subprotocol returns the subprotocol the server chose, "" if none.
func (s *browserSocket) Subprotocol() string { return s.v.Get("protocol").String() }

// SetReadLimit sets the largest message Reader returns.
func (s *browserSocket) SetReadLimit(n int64) { s.limit.Store(n) }

// unsent returns the bytes handed to the browser and not sent yet: its
// bufferedAmount.
func unsent(ws socket) int {
	if s, ok := ws.(*browserSocket); ok {
		return s.unsent()
	}
	return 0
}

// unsent is the socket's bufferedAmount.
func (s *browserSocket) unsent() int { return s.v.Get("bufferedAmount").Int() }

// jsCall runs f, turning a JavaScript exception into an error.
func jsCall(f func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			jsErr, ok := v.(js.Error)
			if !ok {
				panic(v)
			}
			err = jsErr
		}
	}()
	f()
	return nil
}
