//go:build !js

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Demo server settings.
const (
	// demoTick is how often the feed sends a tick on each connection.
	demoTick = 200 * time.Millisecond
	// demoPeriod is the length of the misbehaviour cycle.
	demoPeriod = 30 * time.Second
	// demoRetryAfter is the Retry-After sent with each 503, in seconds.
	demoRetryAfter = 2
)

// demoStep is one misbehaviour of the demo server, at a fixed offset within
// each cycle.
type demoStep struct {
	at   time.Duration // from the start of the cycle
	what string        // for -h
	do   func(*demoServer)
}

// demoSchedule is the demo server's cycle. Each step says what it does on
// stderr before doing it.
var demoSchedule = []demoStep{
	{5 * time.Second, "drops every connection abruptly (no close frame)", (*demoServer).dropAll},
	{11 * time.Second, "closes every connection with 1012, then answers 503 (Retry-After: 2) for 3s", (*demoServer).restart},
	{14 * time.Second, "accepts connections again", (*demoServer).reopen},
	{20 * time.Second, "goes silent for 5s: no pong, no tick, no echo; TCP stays open", (*demoServer).silence},
	{25 * time.Second, "speaks again", (*demoServer).speak},
}

// demoScheduleText describes the cycle for -h, one step a line.
func demoScheduleText(indent string) string {
	var b strings.Builder
	for i, st := range demoSchedule {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%sat %2ds: %s", indent, int(st.at/time.Second), st.what)
	}
	return b.String()
}

// demoServer is the embedded feed server of the demo mode, on 127.0.0.1.
// Every connection gets a JSON tick every demoTick and an echo of what it
// sends; a scheduler goroutine misbehaves on demoSchedule.
//
// Owner: run. Stop signal and join point: close, which closes every
// connection (http.Server.Close neither closes nor waits for hijacked ones)
// and waits for Serve, the scheduler and every handler.
type demoServer struct {
	url   string
	log   *statusPrinter
	http  *http.Server
	start time.Time
	stop  chan struct{} // closed by close

	mu       sync.Mutex // guards the fields below; orders every wg.Add before wg.Wait
	closed   bool
	refusing bool // answer 503 instead of upgrading
	conns    map[*demoConn]struct{}
	nextID   int
	wg       sync.WaitGroup // Serve, the scheduler, handlers and close handshakes
}

// demoConn is one WebSocket connection of the demo server.
type demoConn struct {
	id     int
	ws     *websocket.Conn
	silent atomic.Bool // ignore everything: no pong, no tick, no echo
}

// demoTickMsg is the feed's message.
type demoTickMsg struct {
	Type   string  `json:"type"`
	Conn   int     `json:"conn"`
	Seq    int64   `json:"seq"`
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	Time   string  `json:"time"`
}

// startDemo starts the demo server on 127.0.0.1 and its scheduler.
func startDemo(logger *statusPrinter) (*demoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo server: %w", err)
	}
	s := &demoServer{
		url:   "ws://" + ln.Addr().String() + "/feed",
		log:   logger,
		start: time.Now(),
		stop:  make(chan struct{}),
		conns: map[*demoConn]struct{}{},
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.warn(tagServer, "serve: %v", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.misbehave()
	}()
	return s, nil
}

// close stops the server and waits for all its goroutines.
func (s *demoServer) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	live := s.liveLocked()
	s.mu.Unlock()
	close(s.stop)
	_ = s.http.Close() // the listener and the connections not upgraded
	for _, c := range live {
		_ = c.ws.CloseNow() // its handler then returns
	}
	s.wg.Wait()
}

// liveLocked lists the open connections. s.mu must be held.
func (s *demoServer) liveLocked() []*demoConn {
	live := make([]*demoConn, 0, len(s.conns))
	for c := range s.conns {
		live = append(live, c)
	}
	return live
}

func (s *demoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	case s.refusing:
		s.mu.Unlock()
		w.Header().Set("Retry-After", fmt.Sprint(demoRetryAfter))
		http.Error(w, "restarting, try again shortly", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.nextID++
	c := &demoConn{id: s.nextID}
	s.mu.Unlock()
	defer s.wg.Done()

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// A silent server does not answer pings: the client's heartbeat
		// has to notice.
		OnPingReceived: func(context.Context, []byte) bool { return !c.silent.Load() },
	})
	if err != nil {
		return // Accept has answered the request
	}
	defer ws.CloseNow() //nolint:errcheck // it may be closed already: nothing to do
	c.ws = ws
	if !s.register(c) {
		return
	}
	defer s.unregister(c)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.tick(ctx, c)
	}()
	s.echo(ctx, c)
	cancel()
	wg.Wait()
}

// register adds c to the live connections, unless the server is refusing
// or closed (c's handler must then return).
func (s *demoServer) register(c *demoConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.refusing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *demoServer) unregister(c *demoConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// echo reads c until it fails and sends each message back, unless silent.
func (s *demoServer) echo(ctx context.Context, c *demoConn) {
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		if c.silent.Load() {
			continue
		}
		if err := c.ws.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

// tick sends a JSON tick every demoTick until ctx ends, unless silent. The
// sequence number counts ticks since the server started, so the ticks
// missed during an outage show as a gap.
func (s *demoServer) tick(ctx context.Context, c *demoConn) {
	t := time.NewTicker(demoTick)
	defer t.Stop()
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		}
		if c.silent.Load() {
			continue
		}
		seq := int64(now.Sub(s.start) / demoTick)
		price := 100 + 5*math.Sin(float64(seq)/25) + math.Sin(float64(seq)*1.7)/4
		data, err := json.Marshal(demoTickMsg{
			Type:   "tick",
			Conn:   c.id,
			Seq:    seq,
			Symbol: "RWS",
			Price:  math.Round(price*100) / 100,
			Time:   now.Format("15:04:05.000"),
		})
		if err != nil {
			return // cannot happen: the struct always encodes
		}
		if err := c.ws.Write(ctx, websocket.MessageText, data); err != nil {
			return
		}
	}
}

// misbehave runs demoSchedule, cycle after cycle, until close.
func (s *demoServer) misbehave() {
	for cycle := 0; ; cycle++ {
		for _, st := range demoSchedule {
			at := s.start.Add(time.Duration(cycle)*demoPeriod + st.at)
			t := time.NewTimer(time.Until(at))
			select {
			case <-s.stop:
				t.Stop()
				return
			case <-t.C:
			}
			st.do(s)
		}
	}
}

// dropAll closes every connection at once, with no close frame, as a
// crashed server or a cut link would.
func (s *demoServer) dropAll() {
	s.mu.Lock()
	live := s.liveLocked()
	s.mu.Unlock()
	s.log.event(tagServer, "dropping all %d connection(s) abruptly, no close frame", len(live))
	for _, c := range live {
		_ = c.ws.CloseNow()
	}
}

// restart closes every connection with 1012 and refuses upgrades with 503
// until reopen.
func (s *demoServer) restart() {
	s.mu.Lock()
	s.refusing = true
	live := s.liveLocked()
	if !s.closed {
		s.wg.Add(len(live))
	} else {
		live = nil
	}
	s.mu.Unlock()
	s.log.event(tagServer, "restarting: closing %d connection(s) with 1012 (service restart), then answering 503 with Retry-After: %d for 3s",
		len(live), demoRetryAfter)
	for _, c := range live {
		go func() {
			defer s.wg.Done()
			_ = c.ws.Close(websocket.StatusServiceRestart, "restarting") // bounded by coder/websocket
		}()
	}
}

// reopen accepts upgrades again.
func (s *demoServer) reopen() {
	s.mu.Lock()
	s.refusing = false
	s.mu.Unlock()
	s.log.event(tagServer, "restarted: accepting connections again")
}

// silence makes every open connection silent until speak.
func (s *demoServer) silence() {
	s.mu.Lock()
	live := s.liveLocked()
	s.mu.Unlock()
	s.log.event(tagServer, "going silent on %d connection(s): no pong, no tick, no echo, TCP left open; the client's heartbeat should notice",
		len(live))
	for _, c := range live {
		c.silent.Store(true)
	}
}

// speak ends the silence of the connections still open.
func (s *demoServer) speak() {
	s.mu.Lock()
	live := s.liveLocked()
	s.mu.Unlock()
	n := 0
	for _, c := range live {
		if c.silent.Swap(false) {
			n++
		}
	}
	s.log.event(tagServer, "speaking again (%d silent connection(s) were still open)", n)
}
