//go:build !js

package resilientwstest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Message is one WebSocket message received by a Server.
type Message struct {
	// Type is websocket.MessageText or websocket.MessageBinary.
	Type websocket.MessageType
	// Data is the payload.
	Data []byte
}

// Handler serves one upgraded connection. ctx is done when the Server is
// closed. When the Handler returns, the Server closes the connection at once
// (CloseNow) if the Handler has not closed it.
type Handler func(ctx context.Context, c *Conn)

// ServerOption configures a Server; pass it to NewServer.
type ServerOption func(*serverConfig)

type serverConfig struct {
	handler   Handler
	accept    websocket.AcceptOptions
	readLimit int64
	tls       bool
}

// WithHandler makes the Server run h for each upgraded connection instead of
// echoing. Messages are recorded only when h reads them through Conn.Read
// (or Conn.Echo). Defaults to Echo.
func WithHandler(h Handler) ServerOption {
	return func(c *serverConfig) {
		if h != nil {
			c.handler = h
		}
	}
}

// WithAcceptOptions sets the coder/websocket options used to accept each
// upgrade (subprotocols, compression, origin checks). They are copied.
// Defaults to the zero AcceptOptions.
func WithAcceptOptions(o *websocket.AcceptOptions) ServerOption {
	return func(c *serverConfig) {
		if o != nil {
			c.accept = *o
		}
	}
}

// WithReadLimit sets the largest message the Server reads, in bytes; a
// larger one makes coder/websocket close the connection with 1009. A value
// of -1 removes the limit. Defaults to -1: the Server reads anything.
func WithReadLimit(n int64) ServerOption {
	return func(c *serverConfig) { c.readLimit = n }
}

// WithTLS makes the Server serve TLS: its URL is "wss://127.0.0.1:port".
// Its certificate, made by NewServer and self-signed, is valid for
// 127.0.0.1, ::1, localhost, example.com and *.example.com; Certificate
// returns it, for a client to trust. Only HTTP/1.1 is offered, as WebSocket
// needs. Defaults to plain TCP (ws://).
func WithTLS() ServerOption {
	return func(c *serverConfig) { c.tls = true }
}

// Echo is the default Handler: it records every message it reads and writes
// it back, until the connection ends.
func Echo(ctx context.Context, c *Conn) {
	_ = c.Echo(ctx)
}

// Conn is one upgraded connection, given to a Handler. It embeds the
// coder/websocket connection; its Read records what it returns in the
// Server's log of received messages.
type Conn struct {
	*websocket.Conn
	rec *connRecord
	srv *Server
}

// Number returns the connection's number: 1 for the first connection the
// Server upgraded, 2 for the second, and so on.
func (c *Conn) Number() int { return c.rec.n }

// Read reads one message, as websocket.Conn.Read does, and records it.
func (c *Conn) Read(ctx context.Context) (websocket.MessageType, []byte, error) {
	typ, data, err := c.Conn.Read(ctx)
	if err == nil {
		c.srv.record(c.rec, Message{Type: typ, Data: data})
	}
	return typ, data, err
}

// Echo records every message it reads and writes it back, until the
// connection or ctx ends, and returns the error that ended it.
func (c *Conn) Echo(ctx context.Context) error {
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return err
		}
	}
}

// connRecord is what a Server keeps of one upgraded connection. Its fields
// are guarded by Server.mu.
type connRecord struct {
	n        int
	ws       *websocket.Conn // nil until Accept returns
	closeReq *closeReq       // a CloseAll that came before Accept returned
	received []Message
	live     bool
}

type closeReq struct {
	code   websocket.StatusCode
	reason string
}

// hijackHook calls before just before the connection is hijacked, which is
// when net/http sends a 101 answer.
type hijackHook struct {
	http.ResponseWriter
	before func()
}

func (h *hijackHook) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("resilientwstest: the ResponseWriter cannot be hijacked")
	}
	h.before()
	return hj.Hijack()
}

// upgrade modes of a Server.
type upgradeMode int

const (
	modeAccept upgradeMode = iota
	modeRefuse
	modeHang
)

// Server is a WebSocket server on 127.0.0.1 for tests. It echoes by default
// and records what it receives; its methods make it misbehave on demand,
// from any goroutine, at any moment. Faults that are modes (Refuse, Hang,
// StopPongs, StopReading) apply to current and future connections until
// undone; the others (DropAll, CloseAll) act on the connections live at the
// time of the call.
//
// A Server must be closed with Close, which also waits for every goroutine
// it started.
type Server struct {
	cfg  serverConfig
	url  string
	addr string
	ln   net.Listener
	http *http.Server
	cert *x509.Certificate // nil without WithTLS

	ctx    context.Context // done at Close; given to handlers
	cancel context.CancelFunc

	noPongs atomic.Bool

	mu         sync.Mutex // guards the fields below
	closed     bool
	handler    Handler
	mode       upgradeMode
	status     int
	retryAfter string
	resume     chan struct{} // non-nil while StopReading: closed by ResumeReading
	tcp        map[*tcpConn]struct{}
	conns      []*connRecord // in upgrade order
	all        []Message     // every message, in the order recorded
	requests   int
	changed    chan struct{} // closed and replaced on every change a Wait can see

	wg        sync.WaitGroup // handlers, hung handshakes and CloseAll's closes
	serveDone chan struct{}
}

// NewServer starts a Server on 127.0.0.1 on a free port. It panics if it
// cannot listen (or, with WithTLS, make its certificate), as
// httptest.NewServer does.
func NewServer(opts ...ServerOption) *Server {
	cfg := serverConfig{handler: Echo, readLimit: -1}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	var (
		tlsCert tls.Certificate
		err     error
	)
	if cfg.tls {
		if tlsCert, err = selfSigned(); err != nil {
			panic(fmt.Sprintf("resilientwstest: failed to make a TLS certificate: %v", err))
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("resilientwstest: failed to listen on 127.0.0.1: %v", err))
	}
	s := &Server{
		cfg:       cfg,
		addr:      ln.Addr().String(),
		handler:   cfg.handler,
		tcp:       make(map[*tcpConn]struct{}),
		changed:   make(chan struct{}),
		serveDone: make(chan struct{}),
	}
	s.url = "ws://" + s.addr
	if cfg.tls {
		// The TLS layer sits under the tracking listener, so a tcpConn sees
		// plaintext frames (StopPongs, StopReading) and DropAll still
		// resets the TCP connection underneath.
		s.url = "wss://" + s.addr
		s.cert = tlsCert.Leaf
		ln = tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{tlsCert},
			NextProtos:   []string{"http/1.1"},
		})
	}
	s.ln = &listener{Listener: ln, s: s}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, tcpConnKey{}, c)
		},
	}
	go func() {
		defer close(s.serveDone)
		_ = s.http.Serve(s.ln)
	}()
	return s
}

// URL returns the Server's WebSocket URL, "ws://127.0.0.1:port" (with
// WithTLS, "wss://127.0.0.1:port"). Any path may be appended: the Server
// ignores it.
func (s *Server) URL() string { return s.url }

// Certificate returns the certificate of a Server started WithTLS, nil
// otherwise. A client trusts it by adding it to its root CAs:
//
//	roots := x509.NewCertPool()
//	roots.AddCert(srv.Certificate())
//	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
//	// then websocket.DialOptions{HTTPClient: hc}
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// Addr returns the Server's address, "127.0.0.1:port", for example to put a
// Proxy in front of it.
func (s *Server) Addr() string { return s.addr }

// SetHandler replaces the Handler for the connections upgraded from now on.
// A nil h restores Echo.
func (s *Server) SetHandler(h Handler) {
	if h == nil {
		h = Echo
	}
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
}

// DropAll drops every TCP connection at once with a TCP reset (SO_LINGER 0),
// without a close frame: upgraded connections, handshakes in progress or
// hung, and idle HTTP connections alike. The clients see "connection reset
// by peer".
func (s *Server) DropAll() {
	for _, c := range s.tcpConns() {
		c.reset()
	}
}

// CloseAll starts the closing handshake, with code and reason, on every live
// upgraded connection, and returns without waiting for it to finish.
func (s *Server) CloseAll(code websocket.StatusCode, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	for _, r := range s.conns {
		switch {
		case !r.live:
		case r.ws == nil: // upgrading: closed once Accept returns
			r.closeReq = &closeReq{code: code, reason: reason}
		default:
			s.closeLocked(r.ws, code, reason)
		}
	}
}

// closeLocked starts the closing handshake of ws in a goroutine. s.mu must
// be held, and s.closed false.
func (s *Server) closeLocked(ws *websocket.Conn, code websocket.StatusCode, reason string) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = ws.Close(code, reason) // the handler's Read sees the answer and returns
	}()
}

// Refuse makes the Server answer every upgrade request with status and, if
// retryAfter is not empty, a Retry-After header with that value (seconds or
// an HTTP date), until Accept. Live connections are not touched. status
// must be between 200 and 599 (200 makes a server that ignores the upgrade);
// Refuse panics otherwise.
func (s *Server) Refuse(status int, retryAfter string) {
	if status < 200 || status > 599 {
		panic(fmt.Sprintf("resilientwstest: Refuse: status %d is not between 200 and 599", status))
	}
	s.mu.Lock()
	s.mode, s.status, s.retryAfter = modeRefuse, status, retryAfter
	s.mu.Unlock()
}

// Hang makes the Server accept TCP connections and read their upgrade
// requests but never answer them, until Accept. A request that arrived while
// hanging stays unanswered until its client gives up, DropAll, or Close.
func (s *Server) Hang() {
	s.mu.Lock()
	s.mode = modeHang
	s.mu.Unlock()
}

// Accept undoes Refuse and Hang: upgrade requests are accepted again.
func (s *Server) Accept() {
	s.mu.Lock()
	s.mode = modeAccept
	s.mu.Unlock()
}

// StopPongs makes every upgraded connection, current and future, ignore the
// pings it receives until ResumePongs, while data keeps flowing both ways:
// the ping frames are removed from the incoming byte stream before the
// WebSocket library sees them, so it never answers. This is what a peer
// whose WebSocket stack is wedged, or a proxy that eats control frames,
// looks like to a heartbeat.
func (s *Server) StopPongs() { s.noPongs.Store(true) }

// ResumePongs undoes StopPongs for the pings that arrive from now on.
func (s *Server) ResumePongs() { s.noPongs.Store(false) }

// StopReading makes every upgraded connection, current and future, stop
// reading from its socket until ResumeReading. TCP stays open; bytes pile up
// in the kernel until the client's writes block, and pings go unanswered.
// Nothing is lost: ResumeReading delivers it all.
func (s *Server) StopReading() {
	s.mu.Lock()
	if s.resume == nil {
		s.resume = make(chan struct{})
	}
	s.mu.Unlock()
}

// ResumeReading undoes StopReading.
func (s *Server) ResumeReading() {
	s.mu.Lock()
	if s.resume != nil {
		close(s.resume)
		s.resume = nil
	}
	s.mu.Unlock()
}

// readGate returns nil when reading is allowed, otherwise a channel closed
// when it is allowed again.
func (s *Server) readGate() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resume == nil {
		return nil
	}
	return s.resume
}

// Requests returns the number of upgrade requests received so far, whatever
// the answer (upgraded, refused or left hanging).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Accepted returns the number of connections upgraded so far.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Live returns the number of upgraded connections whose handler is still
// running.
func (s *Server) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.conns {
		if r.live {
			n++
		}
	}
	return n
}

// Received returns a copy of the messages recorded so far, one slice per
// upgraded connection, in upgrade order: Received()[0] holds what connection
// 1 received.
func (s *Server) Received() [][]Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]Message, len(s.conns))
	for i, r := range s.conns {
		out[i] = append([]Message(nil), r.received...)
	}
	return out
}

// Messages returns a copy of every message recorded so far, on all
// connections, in the order they were recorded.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.all...)
}

// WaitFor waits until cond returns true or ctx ends, and returns ctx's error
// in the latter case. cond is called at once, then again after every change
// the Server sees (a request, an upgrade, a message, a connection's end); it
// runs without the Server's lock held, so it may call the Server's methods.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitMessages waits until at least n messages have been recorded in total
// and returns them all (see Messages), or returns ctx's error with what was
// recorded so far.
func (s *Server) WaitMessages(ctx context.Context, n int) ([]Message, error) {
	err := s.WaitFor(ctx, func() bool { return s.count() >= n })
	if err != nil {
		err = fmt.Errorf("resilientwstest: waiting for %d messages, got %d: %w", n, s.count(), err)
	}
	return s.Messages(), err
}

// WaitAccepted waits until at least n connections have been upgraded, or
// returns ctx's error.
func (s *Server) WaitAccepted(ctx context.Context, n int) error {
	if err := s.WaitFor(ctx, func() bool { return s.Accepted() >= n }); err != nil {
		return fmt.Errorf("resilientwstest: waiting for %d upgrades, got %d: %w", n, s.Accepted(), err)
	}
	return nil
}

func (s *Server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all)
}

// Close closes every connection (no close frame), stops the Server and waits
// for every goroutine it started, handlers included: a handler must return
// once its ctx is done or its connection is closed. Close is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.serveDone
		return
	}
	s.closed = true
	s.cancel()
	if s.resume != nil {
		close(s.resume) // let blocked reads see their closed connections
		s.resume = nil
	}
	s.mu.Unlock()
	_ = s.ln.Close()
	for _, c := range s.tcpConns() {
		c.shut()
	}
	s.wg.Wait()
	// Every connection is closed and every handler has returned: Shutdown
	// only waits for http.Server's own per-connection goroutines to finish.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
	}
	<-s.serveDone
}

// tcpConnKey is the request context key of the request's *tcpConn.
type tcpConnKey struct{}

// serveHTTP answers one upgrade request according to the current mode.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	s.requests++
	s.notifyLocked()
	mode, status, retryAfter, handler := s.mode, s.status, s.retryAfter, s.handler
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	switch mode {
	case modeRefuse:
		w.Header().Set("Connection", "close")
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, http.StatusText(status), status)
		return
	case modeHang:
		select {
		case <-r.Context().Done(): // the client gave up or the connection was dropped
		case <-s.ctx.Done():
		}
		return
	}

	tc, _ := r.Context().Value(tcpConnKey{}).(*tcpConn)
	if tc != nil {
		// A client sends no frame before the 101 answer, so every byte read
		// from now on is a WebSocket frame.
		tc.upgraded.Store(true)
	}
	// The connection is registered when coder/websocket hijacks it, just
	// before the 101 answer goes out, so a client that has seen its 101 is
	// counted, numbered and reached by CloseAll.
	var rec *connRecord
	hw := &hijackHook{ResponseWriter: w, before: func() {
		s.mu.Lock()
		rec = &connRecord{n: len(s.conns) + 1, live: true}
		s.conns = append(s.conns, rec)
		s.notifyLocked()
		s.mu.Unlock()
	}}
	ws, err := websocket.Accept(hw, r, &s.cfg.accept)
	if err != nil {
		if tc != nil {
			tc.upgraded.Store(false) // Accept answered with an HTTP error
		}
		if rec != nil {
			s.mu.Lock()
			rec.live = false
			s.notifyLocked()
			s.mu.Unlock()
		}
		return
	}
	ws.SetReadLimit(s.cfg.readLimit)
	s.mu.Lock()
	rec.ws = ws
	if pending := rec.closeReq; pending != nil && !s.closed {
		s.closeLocked(ws, pending.code, pending.reason)
	}
	s.mu.Unlock()
	defer func() {
		_ = ws.CloseNow()
		s.mu.Lock()
		rec.live = false
		s.notifyLocked()
		s.mu.Unlock()
	}()
	handler(s.ctx, &Conn{Conn: ws, rec: rec, srv: s})
}

func (s *Server) record(r *connRecord, m Message) {
	s.mu.Lock()
	r.received = append(r.received, m)
	s.all = append(s.all, m)
	s.notifyLocked()
	s.mu.Unlock()
}

// notifyLocked wakes every WaitFor. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) tcpConns() []*tcpConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*tcpConn, 0, len(s.tcp))
	for c := range s.tcp {
		out = append(out, c)
	}
	return out
}

func (s *Server) forget(c *tcpConn) {
	s.mu.Lock()
	delete(s.tcp, c)
	s.mu.Unlock()
}

// listener wraps each accepted connection in a tcpConn and tracks it.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &tcpConn{Conn: c, s: l.s, closed: make(chan struct{})}
	l.s.mu.Lock()
	if l.s.closed {
		l.s.mu.Unlock()
		_ = c.Close()
		return nil, net.ErrClosed
	}
	l.s.tcp[tc] = struct{}{}
	l.s.mu.Unlock()
	return tc, nil
}
