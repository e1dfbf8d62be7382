//go:build !js

// Command metrics publishes a resilientws client's Stats through the
// standard library's expvar, so that they appear at /debug/vars next to the
// runtime's memstats, as JSON any metrics agent can scrape. The library does
// not import expvar: the few lines of publish below are all it takes.
//
// It serves /debug/vars on 127.0.0.1 (-addr; a free port by default) and
// prints the URL, then runs an embedded echo server that drops every
// connection every 4 s, and a client that sends a message every 250 ms, so
// that the counters move: connects, reconnects, messages and bytes each way,
// heartbeat RTT.
//
//	go run ./examples/metrics                                  # until Ctrl-C
//	go run ./examples/metrics -addr 127.0.0.1:8123 -duration 30s
//	curl -s http://127.0.0.1:8123/debug/vars                   # in another terminal
//
// /debug/vars also shows the command line and memory statistics: serve it
// on a loopback or otherwise private address only.
package main

import (
	"context"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"

	"github.com/resilientws/resilientws"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to serve /debug/vars on")
	duration := flag.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	flag.Parse()
	log.SetOutput(os.Stdout)
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if err := run(*addr, *duration); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

// statsVar is how Stats appear in /debug/vars: stable snake_case names,
// durations in seconds, the state by name.
type statsVar struct {
	State              string  `json:"state"`
	Connects           uint64  `json:"connects"`
	Reconnects         uint64  `json:"reconnects"`
	DialFailures       uint64  `json:"dial_failures"`
	UptimeSeconds      float64 `json:"uptime_seconds"`
	MessagesSent       uint64  `json:"messages_sent"`
	BytesSent          uint64  `json:"bytes_sent"`
	MessagesReceived   uint64  `json:"messages_received"`
	BytesReceived      uint64  `json:"bytes_received"`
	Dropped            uint64  `json:"dropped"`
	DroppedQueueFull   uint64  `json:"dropped_queue_full"`
	DroppedExpired     uint64  `json:"dropped_expired"`
	DroppedClosed      uint64  `json:"dropped_closed"`
	Queued             int     `json:"queued"`
	BufferedBytes      int     `json:"buffered_bytes"`
	LastRTTSeconds     float64 `json:"last_rtt_seconds"`
	SmoothedRTTSeconds float64 `json:"smoothed_rtt_seconds"`
}

// publish makes c's Stats a /debug/vars variable named name. expvar.Func is
// called at every request, so the values are always current. Publish panics
// if the name is taken: call it once per client.
func publish(name string, c *resilientws.Client) {
	expvar.Publish(name, expvar.Func(func() any {
		s := c.Stats()
		return statsVar{
			State:              s.State.String(),
			Connects:           s.Connects,
			Reconnects:         s.Reconnects,
			DialFailures:       s.DialFailures,
			UptimeSeconds:      s.Uptime.Seconds(),
			MessagesSent:       s.MessagesSent,
			BytesSent:          s.BytesSent,
			MessagesReceived:   s.MessagesReceived,
			BytesReceived:      s.BytesReceived,
			Dropped:            s.Dropped,
			DroppedQueueFull:   s.DroppedQueueFull,
			DroppedExpired:     s.DroppedExpired,
			DroppedClosed:      s.DroppedClosed,
			Queued:             s.Queued,
			BufferedBytes:      s.BufferedAmount,
			LastRTTSeconds:     s.LastRTT.Seconds(),
			SmoothedRTTSeconds: s.SmoothedRTT.Seconds(),
		}
	}))
}

func run(addr string, duration time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}

	echo, err := startEchoServer()
	if err != nil {
		return err
	}
	defer echo.close()

	client, err := resilientws.New(echo.url,
		resilientws.WithHeartbeat(time.Second, time.Second), // for last_rtt_seconds
		resilientws.WithBackoff(func() backoff.BackOff {
			return backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(200*time.Millisecond),
				backoff.WithMaxInterval(3*time.Second),
				backoff.WithMaxElapsedTime(0), // never give up
			)
		}),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			log.Printf("OnClose: %s, reconnect %t", e.Code, e.Reconnect)
		}),
		resilientws.OnOpen(func(e resilientws.OpenEvent) { log.Printf("OnOpen: connection %d", e.Connection) }),
		// Echoes are only counted, in Stats. Errors are counted there too
		// (dial failures, reconnects); log them for the terminal.
		resilientws.OnError(func(err error) { log.Printf("OnError: %v", err) }),
	)
	if err != nil {
		return err
	}
	publish("resilientws", client)

	// /debug/vars on its own mux and listener: importing expvar also
	// registers it on http.DefaultServeMux, which this program never serves.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /debug/vars", expvar.Handler())
	vars := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	var serving sync.WaitGroup
	serving.Go(func() {
		if err := vars.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("serve /debug/vars: %v", err)
		}
	})
	defer func() {
		if err := vars.Close(); err != nil {
			log.Printf("close /debug/vars: %v", err)
		}
		serving.Wait()
	}()
	log.Printf("metrics at http://%s/debug/vars (the client's are under \"resilientws\")", ln.Addr())

	if err := client.Start(); err != nil {
		return err
	}
	send := time.NewTicker(250 * time.Millisecond)
	drop := time.NewTicker(4 * time.Second)
	report := time.NewTicker(2 * time.Second)
	defer func() { send.Stop(); drop.Stop(); report.Stop() }()
	n := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-client.Done(): // only if the client gave up for good
			return fmt.Errorf("client stopped: %w", client.Err())
		case <-send.C:
			n++
			if err := client.SendText(ctx, fmt.Sprintf("message %d", n)); err != nil {
				log.Printf("SendText: %v", err)
			}
		case <-drop.C:
			log.Printf("SERVER: dropped %d connection(s)", echo.dropAll())
		case <-report.C:
			s := client.Stats()
			log.Printf("stats: %s, connects %d, sent %d, received %d, RTT %s",
				s.State, s.Connects, s.MessagesSent, s.MessagesReceived, s.LastRTT.Round(time.Microsecond))
		}
	}
	if err := client.Close(); err != nil {
		log.Printf("Close: %v", err)
	}
	log.Printf("final /debug/vars \"resilientws\": %s", expvar.Get("resilientws"))
	return nil
}

// echoServer is an echo WebSocket server that can drop every connection.
type echoServer struct {
	url  string
	http *http.Server

	mu     sync.Mutex // guards conns, closed; orders every wg.Add before wg.Wait
	conns  map[*websocket.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // Serve and each handler
}

func startEchoServer() (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &echoServer{url: "ws://" + ln.Addr().String(), conns: map[*websocket.Conn]struct{}{}}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	s.wg.Go(func() {
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("SERVER: serve: %v", err)
		}
	})
	return s, nil
}

func (s *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		log.Printf("SERVER: accept: %v", err)
		return
	}
	defer c.CloseNow() //nolint:errcheck // it may already be closed: nothing to do
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() { s.mu.Lock(); delete(s.conns, c); s.mu.Unlock() }()
	for {
		typ, data, err := c.Read(r.Context())
		if err != nil {
			return
		}
		if err := c.Write(r.Context(), typ, data); err != nil {
			return
		}
	}
}

// dropAll drops every live connection without a close frame and returns how
// many there were.
func (s *echoServer) dropAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.CloseNow() // an abrupt drop; an error means it was already gone
	}
	return len(s.conns)
}

// close stops the server and waits for its handlers: http.Server.Close
// neither closes nor waits for hijacked (WebSocket) connections.
func (s *echoServer) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.dropAll()
	if err := s.http.Close(); err != nil {
		log.Printf("SERVER: close: %v", err)
	}
	s.wg.Wait()
}
