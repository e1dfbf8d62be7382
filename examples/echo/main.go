//go:build !js

// Command echo shows resilientws riding out server restarts. It starts an
// echo WebSocket server on 127.0.0.1 and a client that sends a numbered
// message every 300 ms. Every 5 s the server "restarts": it drops every
// connection without a close frame and answers 503 (Retry-After: 1) for 2 s.
// Watch the client reconnect and the messages queued meanwhile come back.
//
//	go run ./examples/echo                # until Ctrl-C
//	go run ./examples/echo -duration 15s  # stops by itself
package main

import (
	"context"
	"errors"
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
	duration := flag.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	flag.Parse()
	log.SetOutput(os.Stdout)
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if err := run(*duration); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func run(duration time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	srv, err := startServer()
	if err != nil {
		return err
	}
	defer srv.close()
	log.Printf("echo server listening on %s", srv.url)

	var client *resilientws.Client // set before Start, so callbacks may use it
	client, err = resilientws.New(srv.url,
		resilientws.WithHeartbeat(2*time.Second, time.Second),
		resilientws.WithBackoff(func() backoff.BackOff {
			return backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(200*time.Millisecond),
				backoff.WithMaxInterval(3*time.Second),
				backoff.WithMaxElapsedTime(0), // never give up
			)
		}),
		// Connections here live ~3 s: reset the backoff after 2 s of uptime
		// (default 10 s) so that each outage starts again at 200 ms.
		resilientws.WithStableAfter(2*time.Second),
		resilientws.OnOpen(func(e resilientws.OpenEvent) {
			// OnOpen runs before the queue is flushed on the new connection.
			log.Printf("OnOpen: connection %d, %d queued message(s) go out now", e.Connection, client.Stats().Queued)
		}),
		resilientws.OnMessage(func(m resilientws.Message) { log.Printf("OnMessage: echo %q", m.Data) }),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			log.Printf("OnClose: code %d (%s), reason %q, reconnect %t", e.Code, e.Code, e.Reason, e.Reconnect)
		}),
		resilientws.OnReconnecting(func(e resilientws.ReconnectEvent) {
			log.Printf("OnReconnecting: attempt %d after %s (cause: %v)", e.Attempt, e.Delay.Round(time.Millisecond), e.Err)
		}),
		resilientws.OnError(func(err error) { log.Printf("OnError: %v", err) }),
		resilientws.OnDrop(func(m resilientws.Message, err error) { log.Printf("OnDrop: %q: %v", m.Data, err) }),
	)
	if err != nil {
		return err
	}
	if err := client.Start(); err != nil {
		return err
	}

	sendTick := time.NewTicker(300 * time.Millisecond)
	restartTick := time.NewTicker(5 * time.Second)
	statsTick := time.NewTicker(2 * time.Second)
	defer func() { sendTick.Stop(); restartTick.Stop(); statsTick.Stop() }()
	var up <-chan time.Time // fires when the restarting server comes back
	sent := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-client.Done(): // only if the client gave up for good (see Err)
			return fmt.Errorf("client stopped: %w", client.Err())
		case <-sendTick.C:
			sent++
			if err := client.SendText(ctx, fmt.Sprintf("msg %d", sent)); err != nil {
				log.Printf("SendText msg %d: %v", sent, err)
			} else if st := client.State(); st != resilientws.StateOpen {
				log.Printf("sent msg %d while %s: queue holds %d message(s), BufferedAmount %d bytes",
					sent, st, client.Stats().Queued, client.BufferedAmount())
			}
		case <-restartTick.C:
			log.Printf("SERVER: restarting: dropped %d connection(s), answering 503 for 2s", srv.setDown(true))
			up = time.After(2 * time.Second)
		case <-up:
			up = nil
			srv.setDown(false)
			log.Printf("SERVER: back up")
		case <-statsTick.C:
			s := client.Stats()
			log.Printf("stats: state %s, heartbeat RTT %s, connects %d, sent %d, received %d, queued %d",
				client.State(), s.LastRTT, s.Connects, s.MessagesSent, s.MessagesReceived, s.Queued)
		}
	}

	log.Printf("stopping: closing the client")
	// Close drains the queue for up to 3 s. Its only error says how many
	// messages were abandoned, each also reported through OnDrop.
	if err := client.Close(); err != nil {
		log.Printf("Close: %v", err)
	}
	// Echoes can fall short of sends: Close abandons what it cannot write,
	// a message or echo in flight when a link dies is lost, and an echo that
	// arrives while Close runs may never reach OnMessage (see "Shutdown" in
	// the package documentation).
	s := client.Stats()
	log.Printf("done: %d messages sent, %d written, %d echoes received, %d dropped",
		sent, s.MessagesSent, s.MessagesReceived, s.Dropped)
	return nil
}

// server is an echo WebSocket server that can drop every connection and
// refuse new ones for a while, as a restarting server does.
type server struct {
	url  string
	http *http.Server

	mu    sync.Mutex // guards down and conns; orders every wg.Add before wg.Wait
	down  bool       // answer 503 instead of upgrading
	conns map[*websocket.Conn]struct{}
	wg    sync.WaitGroup // Serve and each running handler
}

func startServer() (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{url: "ws://" + ln.Addr().String(), conns: map[*websocket.Conn]struct{}{}}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("SERVER: serve: %v", err)
		}
	}()
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.down {
		s.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "restarting", http.StatusServiceUnavailable)
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
	if s.down { // went down while upgrading
		s.mu.Unlock()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() { s.mu.Lock(); delete(s.conns, c); s.mu.Unlock() }()
	for { // echo until the connection is dropped or closed
		typ, data, err := c.Read(r.Context())
		if err != nil {
			return
		}
		if err := c.Write(r.Context(), typ, data); err != nil {
			return
		}
	}
}

// setDown sets whether the server refuses upgrades; going down also drops
// every live connection at once, with no close frame. It returns the number
// of connections dropped.
func (s *server) setDown(down bool) int {
	s.mu.Lock()
	s.down = down
	var live []*websocket.Conn
	if down {
		for c := range s.conns {
			live = append(live, c)
		}
	}
	s.mu.Unlock()
	for _, c := range live {
		_ = c.CloseNow() // an abrupt drop; an error means it was already gone
	}
	return len(live)
}

// close stops the server and waits for its handlers: http.Server.Close
// neither closes nor waits for hijacked (WebSocket) connections.
func (s *server) close() {
	s.setDown(true) // for good: nothing sets it back
	if err := s.http.Close(); err != nil {
		log.Printf("SERVER: close: %v", err)
	}
	s.wg.Wait()
}
