package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/resilientws/resilientws"
)

// client is one connection of one variant. Dialed with an onMsg function,
// the client calls it (from its own reader goroutine or its library's
// callback) with the size of every message received, and recv must not be
// used. Dialed without, the caller receives with recv.
type client interface {
	send(p []byte) error
	recv() (int, error)
	close()
}

// addrs are the servers of one run.
type addrs struct {
	ws   string // host:port of the coder echo server
	tcp  string // host:port of the TCP echo server
	path string // the WebSocket endpoint; "" is /echo
}

// url is the WebSocket URL of the endpoint.
func (a addrs) url() string {
	if a.path == "" {
		return "ws://" + a.ws + "/echo"
	}
	return "ws://" + a.ws + a.path
}

type variant struct {
	name string
	dial func(a addrs, onMsg func(int)) (client, error)
}

// variants are the clients compared, in their base order.
var variants = []variant{
	{"tcp", dialTCP},
	{"coder", dialCoder(false)},
	{"coder+buf", dialCoder(true)},
	{"resilientws", dialRWS},
	{"rws+pooled", func(a addrs, onMsg func(int)) (client, error) {
		return dialRWSWith(a, onMsg, resilientws.WithPooledMessages())
	}},
	{"rws+otel", dialRWSOtel},
	{"gorilla", dialGorilla},
	{"gws", dialGWS},
}

const baseline = "coder"

const dialTimeout = 10 * time.Second

var errClosed = errors.New("closed")

// readLoop calls onMsg with every message recv returns, until an error.
func readLoop(recv func() (int, error), onMsg func(int)) {
	for {
		n, err := recv()
		if err != nil {
			return
		}
		onMsg(n)
	}
}

// ---- raw TCP, length-prefixed frames ----

type tcpClient struct {
	c     net.Conn
	br    *bufio.Reader
	frame []byte
	rbuf  []byte
}

func dialTCP(a addrs, onMsg func(int)) (client, error) {
	c, err := net.DialTimeout("tcp", a.tcp, dialTimeout)
	if err != nil {
		return nil, err
	}
	t := &tcpClient{c: c, br: bufio.NewReaderSize(c, 64<<10), frame: make([]byte, 4+64), rbuf: make([]byte, 64)}
	if onMsg != nil {
		go readLoop(t.recv, onMsg)
	}
	return t, nil
}

func (t *tcpClient) send(p []byte) error {
	if cap(t.frame) < 4+len(p) {
		t.frame = make([]byte, 4+len(p))
	}
	f := t.frame[:4+len(p)]
	binary.BigEndian.PutUint32(f, uint32(len(p)))
	copy(f[4:], p)
	_, err := t.c.Write(f)
	return err
}

func (t *tcpClient) recv() (int, error) {
	var h [4]byte
	if _, err := io.ReadFull(t.br, h[:]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint32(h[:]))
	if cap(t.rbuf) < n {
		t.rbuf = make([]byte, n)
	}
	if _, err := io.ReadFull(t.br, t.rbuf[:n]); err != nil {
		return 0, err
	}
	return n, nil
}

func (t *tcpClient) close() { _ = t.c.Close() }

// ---- raw coder/websocket ----

type coderClient struct {
	c   *websocket.Conn
	buf []byte // Reader into a reused buffer when non-nil
}

func dialCoderConn(a addrs) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, a.url(), nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	return c, nil
}

func dialCoder(reuse bool) func(addrs, func(int)) (client, error) {
	return func(a addrs, onMsg func(int)) (client, error) {
		c, err := dialCoderConn(a)
		if err != nil {
			return nil, err
		}
		cc := &coderClient{c: c}
		if reuse {
			cc.buf = make([]byte, 32<<10)
		}
		if onMsg != nil {
			go readLoop(cc.recv, onMsg)
		}
		return cc, nil
	}
}

func (cc *coderClient) send(p []byte) error {
	return cc.c.Write(context.Background(), websocket.MessageBinary, p)
}

func (cc *coderClient) recv() (int, error) {
	if cc.buf == nil {
		_, data, err := cc.c.Read(context.Background())
		return len(data), err
	}
	_, r, err := cc.c.Reader(context.Background())
	if err != nil {
		return 0, err
	}
	return readInto(r, &cc.buf)
}

func (cc *coderClient) close() { _ = cc.c.CloseNow() }

// ---- resilientws: Send + OnMessage, default options (heartbeat on) ----

type rwsClient struct {
	c  *resilientws.Client
	in chan int // OnMessage -> recv, when dialed without onMsg
}

func dialRWS(a addrs, onMsg func(int)) (client, error) { return dialRWSWith(a, onMsg) }

// dialRWSWith is dialRWS with extra options (rws+pooled adds
// WithPooledMessages: OnMessage's Data is reused after it returns).
func dialRWSWith(a addrs, onMsg func(int), extra ...resilientws.Option) (client, error) {
	rc := &rwsClient{}
	if onMsg == nil {
		rc.in = make(chan int, 64)
		onMsg = func(n int) { rc.in <- n }
	}
	opened := make(chan struct{})
	var once sync.Once
	c, err := resilientws.New(a.url(), append([]resilientws.Option{
		resilientws.OnOpen(func(resilientws.OpenEvent) { once.Do(func() { close(opened) }) }),
		resilientws.OnMessage(func(m resilientws.Message) { onMsg(len(m.Data)) }),
		// The default limits, but Send waits for room instead of failing:
		// the library can deliver an echo to OnMessage before its writer has
		// taken the message out of the queue, so 64 × 16 KiB in flight can
		// briefly exceed the default 1 MiB with OverflowReject.
		resilientws.WithQueue(resilientws.DefaultQueueMessages, resilientws.DefaultQueueBytes, resilientws.OverflowBlock),
	}, extra...)...)
	if err != nil {
		return nil, err
	}
	rc.c = c
	if err := c.Start(); err != nil {
		return nil, err
	}
	select {
	case <-opened:
		return rc, nil
	case <-time.After(dialTimeout):
		_ = c.Close()
		return nil, fmt.Errorf("resilientws: not open after %s", dialTimeout)
	}
}

func (rc *rwsClient) send(p []byte) error {
	return rc.c.Send(context.Background(), resilientws.Binary, p)
}

func (rc *rwsClient) recv() (int, error) {
	select {
	case n := <-rc.in:
		return n, nil
	case <-rc.c.Done():
		return 0, errClosed
	}
}

func (rc *rwsClient) close() { _ = rc.c.Close() }

// ---- gorilla/websocket: WriteMessage / ReadMessage ----

type gorillaClient struct{ c *gorilla.Conn }

func dialGorilla(a addrs, onMsg func(int)) (client, error) {
	d := gorilla.Dialer{HandshakeTimeout: dialTimeout}
	c, _, err := d.Dial(a.url(), nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	g := &gorillaClient{c: c}
	if onMsg != nil {
		go readLoop(g.recv, onMsg)
	}
	return g, nil
}

func (g *gorillaClient) send(p []byte) error { return g.c.WriteMessage(gorilla.BinaryMessage, p) }

func (g *gorillaClient) recv() (int, error) {
	_, data, err := g.c.ReadMessage()
	return len(data), err
}

func (g *gorillaClient) close() { _ = g.c.Close() }

// ---- lxzan/gws: WriteMessage / OnMessage ----

type gwsClient struct {
	c    *gws.Conn
	in   chan int
	done chan struct{}
}

type gwsHandler struct {
	gws.BuiltinEventHandler
	onMsg func(int)
	done  chan struct{}
}

func (h *gwsHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	h.onMsg(m.Data.Len())
	_ = m.Close()
}

func (h *gwsHandler) OnClose(*gws.Conn, error) { close(h.done) }

func dialGWS(a addrs, onMsg func(int)) (client, error) {
	g := &gwsClient{done: make(chan struct{})}
	if onMsg == nil {
		g.in = make(chan int, 64)
		onMsg = func(n int) { g.in <- n }
	}
	c, _, err := gws.NewClient(&gwsHandler{onMsg: onMsg, done: g.done}, &gws.ClientOption{
		Addr:               a.url(),
		HandshakeTimeout:   dialTimeout,
		ReadMaxPayloadSize: 1 << 20,
	})
	if err != nil {
		return nil, err
	}
	g.c = c
	go c.ReadLoop()
	return g, nil
}

func (g *gwsClient) send(p []byte) error { return g.c.WriteMessage(gws.OpcodeBinary, p) }

func (g *gwsClient) recv() (int, error) {
	select {
	case n := <-g.in:
		return n, nil
	case <-g.done:
		return 0, errClosed
	}
}

func (g *gwsClient) close() {
	_ = g.c.NetConn().Close()
	<-g.done
}
