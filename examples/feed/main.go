//go:build !js

// Command feed consumes a JSON ticker feed with resilientws. It decodes each
// tick with OnJSON, subscribes again in OnOpen on every connection (the
// server streams only to subscribed connections, and a new connection starts
// with none), and keeps the application heartbeat of the JavaScript
// webSocketClass: {"request":"ping"} every 2 s, answered by
// {"response":"pong"} within 1 s.
//
// By default it runs against an embedded feed server on 127.0.0.1 that
// misbehaves every few seconds, in turn: it drops every connection without a
// close frame, goes silent (no ticks, no pongs: the heartbeat notices), and
// closes with 1012 (Service Restart). Watch the client reconnect, subscribe
// again and count the updates it missed meanwhile: the feed does not replay.
//
//	go run ./examples/feed                   # until Ctrl-C
//	go run ./examples/feed -duration 15s     # stops by itself
//	go run ./examples/feed -url ws://127.0.0.1:8080/feed -symbols BTC-USD
//
// With -url, the server must speak the same protocol: it streams
// {"symbol":"BTC-USD","price":43012.5,"seq":17} after
// {"op":"subscribe","symbols":["BTC-USD"]}, and answers {"request":"ping"}
// with {"response":"pong"}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"

	"github.com/resilientws/resilientws"
)

// Tick is one price update of the feed.
type Tick struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	Seq    uint64  `json:"seq"` // per symbol, counting every update the server made
}

// subscribe is the request the server needs on each new connection.
type subscribe struct {
	Op      string   `json:"op"`
	Symbols []string `json:"symbols"`
}

// The application heartbeat of the original JavaScript class.
var (
	pingMsg = resilientws.Message{Type: resilientws.Text, Data: []byte(`{"request":"ping"}`)}
	pongMsg = []byte(`{"response":"pong"}`)
)

// isPong runs on the client's reader for every message received: it must be
// fast. Ticks are rejected by the cheap test before any JSON decoding.
func isPong(m resilientws.Message) bool {
	if len(m.Data) > 64 || !strings.Contains(string(m.Data), `"response"`) {
		return false
	}
	var v struct {
		Response string `json:"response"`
	}
	return json.Unmarshal(m.Data, &v) == nil && v.Response == "pong"
}

func main() {
	url := flag.String("url", "", "feed URL (default: an embedded feed server on 127.0.0.1)")
	symbols := flag.String("symbols", "BTC-USD,ETH-USD", "comma-separated symbols to subscribe to")
	duration := flag.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	chaos := flag.Duration("chaos", 3*time.Second, "embedded server: misbehave this often (0: never)")
	flag.Parse()
	log.SetOutput(os.Stdout)
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if err := run(*url, strings.Split(*symbols, ","), *duration, *chaos); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func run(url string, symbols []string, duration, chaos time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}

	var srv *feedServer
	if url == "" {
		var err error
		if srv, err = startFeedServer(); err != nil {
			return err
		}
		defer srv.close()
		url = srv.url
		log.Printf("SERVER: feed listening on %s, misbehaving every %s", url, chaos)
	} else {
		chaos = 0
	}
	sub, err := json.Marshal(subscribe{Op: "subscribe", Symbols: symbols})
	if err != nil {
		return err
	}

	// Callbacks run one at a time on the event goroutine: this state needs no
	// lock. It is read after Close, which returns once every callback has run.
	var (
		ticks, missed int
		lastSeq       = map[string]uint64{}
	)
	client, err := resilientws.New(url,
		resilientws.WithAppHeartbeat(2*time.Second, time.Second, pingMsg, isPong),
		resilientws.WithBackoff(func() backoff.BackOff {
			return backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(200*time.Millisecond),
				backoff.WithMaxInterval(3*time.Second),
				backoff.WithMaxElapsedTime(0), // never give up
			)
		}),
		// Connections here live a few seconds: reset the backoff after 2 s of
		// uptime (default 10 s) so that each outage starts again at 200 ms.
		resilientws.WithStableAfter(2*time.Second),
		resilientws.OnOpen(func(e resilientws.OpenEvent) {
			// A new connection has no subscription: send it first, ahead of
			// anything queued. Bounded by the write timeout.
			if err := e.Send(ctx, resilientws.Text, sub); err != nil {
				// The connection died already; the next OnOpen subscribes again.
				log.Printf("OnOpen: connection %d: subscribing failed: %v", e.Connection, err)
				return
			}
			log.Printf("OnOpen: connection %d: subscribed with %s", e.Connection, sub)
		}),
		resilientws.OnJSON(func(t Tick) {
			ticks++
			gap := ""
			if last, ok := lastSeq[t.Symbol]; ok && t.Seq > last+1 {
				n := int(t.Seq - last - 1)
				missed += n
				gap = fmt.Sprintf("  (%d update(s) missed)", n)
			}
			lastSeq[t.Symbol] = t.Seq
			log.Printf("tick %-8s %10.2f  #%d%s", t.Symbol, t.Price, t.Seq, gap)
		}),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			log.Printf("OnClose: code %d (%s), reason %q, reconnect %t: %v", e.Code, e.Code, e.Reason, e.Reconnect, e.Err)
		}),
		resilientws.OnReconnecting(func(e resilientws.ReconnectEvent) {
			log.Printf("OnReconnecting: attempt %d after %s", e.Attempt, e.Delay.Round(time.Millisecond))
		}),
		// Failed dials, lost connections, heartbeat timeouts and, from
		// OnJSON, messages that are not a Tick (*resilientws.DecodeError).
		resilientws.OnError(func(err error) {
			if errors.Is(err, resilientws.ErrHeartbeatTimeout) {
				log.Printf("OnError: heartbeat: no pong in time, dropping the connection: %v", err)
				return
			}
			log.Printf("OnError: %v", err)
		}),
	)
	if err != nil {
		return err
	}
	if err := client.Start(); err != nil {
		return err
	}

	statsTick := time.NewTicker(5 * time.Second)
	defer statsTick.Stop()
	var chaosTick <-chan time.Time
	if chaos > 0 {
		t := time.NewTicker(chaos)
		defer t.Stop()
		chaosTick = t.C
	}
	mode := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-client.Done(): // only if the client gave up for good
			return fmt.Errorf("client stopped: %w", client.Err())
		case <-chaosTick:
			srv.misbehave(mode)
			mode = (mode + 1) % 3
		case <-statsTick.C:
			s := client.Stats()
			log.Printf("stats: %s, connects %d, heartbeat RTT %s (smoothed %s), received %d, dial failures %d",
				s.State, s.Connects, s.LastRTT.Round(time.Microsecond), s.SmoothedRTT.Round(time.Microsecond),
				s.MessagesReceived, s.DialFailures)
		}
	}

	log.Printf("stopping: closing the client")
	if err := client.Close(); err != nil {
		log.Printf("Close: %v", err)
	}
	s := client.Stats()
	log.Printf("done: %d connection(s), %d tick(s), %d update(s) missed, heartbeat RTT %s",
		s.Connects, ticks, missed, s.SmoothedRTT.Round(time.Microsecond))
	return nil
}

// feedServer is the embedded feed: a market that moves every second, streamed
// to each connection once it has subscribed, plus the ping/pong heartbeat.
type feedServer struct {
	url  string
	http *http.Server
	mkt  *market

	mu     sync.Mutex // guards conns, nextID, closed; orders every wg.Add before wg.Wait
	conns  map[int]*feedConn
	nextID int
	closed bool
	wg     sync.WaitGroup // Serve, the market, each handler and each close
}

// feedConn is one client connection of the feed server.
type feedConn struct {
	id      int
	ws      *websocket.Conn
	silent  atomic.Bool              // ignore pings and stop streaming
	symbols atomic.Pointer[[]string] // nil until subscribed
}

func startFeedServer() (*feedServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &feedServer{
		url:   "ws://" + ln.Addr().String() + "/feed",
		mkt:   newMarket(),
		conns: map[int]*feedConn{},
	}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("SERVER: serve: %v", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.mkt.run()
	}()
	return s, nil
}

func (s *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.nextID++
	fc := &feedConn{id: s.nextID}
	s.mu.Unlock()
	defer s.wg.Done()

	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		log.Printf("SERVER: accept: %v", err)
		return
	}
	defer ws.CloseNow() //nolint:errcheck // it may already be closed: nothing to do
	fc.ws = ws
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.conns[fc.id] = fc
	s.mu.Unlock()
	defer func() { s.mu.Lock(); delete(s.conns, fc.id); s.mu.Unlock() }()

	ctx, cancel := context.WithCancel(r.Context())
	var streamer sync.WaitGroup
	streamer.Go(func() { s.stream(ctx, fc) })
	s.read(ctx, fc) // until the connection ends
	cancel()
	streamer.Wait()
}

// read handles what the client sends: subscriptions and pings.
func (s *feedServer) read(ctx context.Context, fc *feedConn) {
	for {
		_, data, err := fc.ws.Read(ctx)
		if err != nil {
			return
		}
		var req struct {
			Op      string   `json:"op"`
			Symbols []string `json:"symbols"`
			Request string   `json:"request"`
		}
		if err := json.Unmarshal(data, &req); err != nil {
			log.Printf("SERVER: conn %d: ignoring %q: %v", fc.id, data, err)
			continue
		}
		switch {
		case req.Request == "ping":
			if fc.silent.Load() {
				log.Printf("SERVER: conn %d: %s ignored (silent)", fc.id, data)
				continue
			}
			if err := fc.ws.Write(ctx, websocket.MessageText, pongMsg); err != nil {
				return
			}
			log.Printf("SERVER: conn %d: %s -> %s", fc.id, data, pongMsg)
		case req.Op == "subscribe":
			known := slices.DeleteFunc(slices.Clone(req.Symbols), func(sym string) bool { return !s.mkt.has(sym) })
			fc.symbols.Store(&known)
			log.Printf("SERVER: conn %d: subscribed to %v", fc.id, known)
		default:
			log.Printf("SERVER: conn %d: ignoring %s", fc.id, data)
		}
	}
}

// stream writes a tick per subscribed symbol at every market move.
func (s *feedServer) stream(ctx context.Context, fc *feedConn) {
	for {
		moved := s.mkt.next()
		select {
		case <-ctx.Done():
			return
		case <-moved:
		}
		syms := fc.symbols.Load()
		if syms == nil || fc.silent.Load() {
			continue
		}
		for _, sym := range *syms {
			data, err := json.Marshal(s.mkt.tick(sym))
			if err != nil {
				log.Printf("SERVER: %v", err)
				return
			}
			if err := fc.ws.Write(ctx, websocket.MessageText, data); err != nil {
				return
			}
		}
	}
}

// misbehave applies one of the three faults to every live connection.
func (s *feedServer) misbehave(mode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	ids := make([]int, 0, len(s.conns))
	for id := range s.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	switch mode {
	case 0:
		log.Printf("SERVER: dropping connection(s) %v without a close frame", ids)
		for _, fc := range s.conns {
			_ = fc.ws.CloseNow() // an abrupt drop; an error means it was already gone
		}
	case 1:
		log.Printf("SERVER: going silent on connection(s) %v: no ticks, no pongs", ids)
		for _, fc := range s.conns {
			fc.silent.Store(true)
		}
	default:
		log.Printf("SERVER: closing connection(s) %v with 1012 (Service Restart)", ids)
		for _, fc := range s.conns {
			s.wg.Add(1)
			go func() { // the close handshake waits for the client's answer
				defer s.wg.Done()
				_ = fc.ws.Close(websocket.StatusServiceRestart, "restarting") // an error means it was already gone
			}()
		}
	}
}

// close stops the server and waits for every goroutine: http.Server.Close
// neither closes nor waits for hijacked (WebSocket) connections.
func (s *feedServer) close() {
	s.mu.Lock()
	s.closed = true
	for _, fc := range s.conns {
		_ = fc.ws.CloseNow()
	}
	s.mu.Unlock()
	s.mkt.stop()
	if err := s.http.Close(); err != nil {
		log.Printf("SERVER: close: %v", err)
	}
	s.wg.Wait()
}

// market holds a random walk of prices, moved every second.
type market struct {
	mu     sync.Mutex // guards prices, seq, moved
	prices map[string]float64
	seq    uint64
	moved  chan struct{} // closed and replaced at every move
	done   chan struct{}
}

func newMarket() *market {
	return &market{
		prices: map[string]float64{"BTC-USD": 43000, "ETH-USD": 2300, "SOL-USD": 98},
		moved:  make(chan struct{}),
		done:   make(chan struct{}),
	}
}

func (m *market) has(sym string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.prices[sym]
	return ok
}

// next returns a channel closed at the next move.
func (m *market) next() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.moved
}

func (m *market) tick(sym string) Tick {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Tick{Symbol: sym, Price: m.prices[sym], Seq: m.seq}
}

func (m *market) run() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
		}
		m.mu.Lock()
		for sym, p := range m.prices {
			m.prices[sym] = math.Round(p*(1+rand.NormFloat64()*0.001)*100) / 100
		}
		m.seq++
		close(m.moved)
		m.moved = make(chan struct{})
		m.mu.Unlock()
	}
}

func (m *market) stop() { close(m.done) }
