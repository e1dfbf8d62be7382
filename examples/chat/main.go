//go:build !js

// Command chat is a terminal chat over resilientws: each line read from stdin
// is sent as a text message, and every message from the server is printed on
// stdout; connection news goes to stderr, prefixed with "--".
//
// By default it starts an embedded broadcast server on 127.0.0.1 and prints
// its URL: run a second chat with -url in another terminal to talk to the
// first. The chat name travels in an X-Chat-Name header on every handshake.
//
// Lines typed while the link is down are queued with a time to live
// (WithTTL, -ttl, 30 s by default): if the link comes back in time they go
// out in order, otherwise they are dropped and reported as not delivered
// instead of showing up late. The drop is reported the next time the queue is
// looked at: another line typed, /stats, or the link coming back.
//
// Commands, not sent as chat:
//
//	/who        ask the server who is online; sent WithoutQueue, so it fails
//	            at once while disconnected instead of answering late
//	/outage 5s  (embedded server only) drop every connection and refuse new
//	            ones for 5 s, to see the reconnect and the TTL at work
//	/stats      print the client's counters
//	/quit       leave, as does the end of stdin (queued lines are flushed first)
//
// Run it with:
//
//	go run ./examples/chat                              # until /quit, Ctrl-C or end of input
//	go run ./examples/chat -url ws://127.0.0.1:PORT/ -name bob
//	go run ./examples/chat -duration 1m -ttl 5s
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"

	"github.com/resilientws/resilientws"
)

func main() {
	url := flag.String("url", "", "chat server URL (default: an embedded broadcast server on 127.0.0.1)")
	name := flag.String("name", "alice", "your name in the chat")
	ttl := flag.Duration("ttl", 30*time.Second, "drop a line still unsent after this long")
	duration := flag.Duration("duration", 0, "stop after this long (0: until /quit, Ctrl-C or end of input)")
	flag.Parse()
	log.SetOutput(os.Stderr)
	log.SetFlags(log.Ltime)
	log.SetPrefix("-- ")
	if *ttl <= 0 {
		log.Printf("-ttl must be positive")
		os.Exit(2)
	}
	if err := run(*url, *name, *ttl, *duration); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func run(url, name string, ttl, duration time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}

	var srv *chatServer
	if url == "" {
		var err error
		if srv, err = startChatServer(); err != nil {
			return err
		}
		defer srv.close()
		url = srv.url
		log.Printf("chat server listening on %s; join from another terminal with:", url)
		log.Printf("   go run ./examples/chat -url %s -name bob", url)
	}

	var client *resilientws.Client // set before Start, so callbacks may use it
	client, err := resilientws.New(url,
		resilientws.WithHeader(http.Header{"X-Chat-Name": {name}}),
		resilientws.WithBackoff(func() backoff.BackOff {
			return backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(500*time.Millisecond),
				backoff.WithMaxInterval(5*time.Second),
				backoff.WithMaxElapsedTime(0), // never give up
			)
		}),
		resilientws.OnOpen(func(e resilientws.OpenEvent) {
			if n := client.Stats().Queued; n > 0 {
				log.Printf("connected (connection %d): %d line(s) queued while offline", e.Connection, n)
				return
			}
			log.Printf("connected (connection %d)", e.Connection)
		}),
		resilientws.OnMessage(func(m resilientws.Message) { fmt.Println(string(m.Data)) }),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			if e.Reconnect {
				log.Printf("disconnected (%s): lines you type now wait up to %s", e.Code, ttl)
			}
		}),
		resilientws.OnReconnecting(func(e resilientws.ReconnectEvent) {
			log.Printf("reconnecting (attempt %d)...", e.Attempt)
		}),
		resilientws.OnError(func(err error) { log.Printf("%v", err) }),
		resilientws.OnDrop(func(m resilientws.Message, err error) {
			switch {
			case errors.Is(err, resilientws.ErrExpired):
				log.Printf("not delivered, offline for more than %s: %q", ttl, m.Data)
			default:
				log.Printf("not delivered: %q: %v", m.Data, err)
			}
		}),
	)
	if err != nil {
		return err
	}
	if err := client.Start(); err != nil {
		return err
	}

	// The stdin reader is never joined: a read from a terminal cannot be
	// interrupted, and the process ends with run.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		if err := sc.Err(); err != nil {
			log.Printf("stdin: %v", err)
		}
	}()

	eof := false
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-client.Done(): // only if the client gave up for good
			return fmt.Errorf("client stopped: %w", client.Err())
		case line, ok := <-lines:
			if !ok {
				eof = true
				break loop
			}
			if !command(ctx, client, srv, strings.TrimSpace(line), ttl) {
				eof = true
				break loop
			}
		}
	}

	if eof { // leaving on purpose: let the queued lines go out first
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := client.Flush(fctx); err != nil {
			log.Printf("leaving with unsent lines: %v", err)
		}
		cancel()
	}
	if err := client.Close(); err != nil {
		log.Printf("Close: %v", err)
	}
	s := client.Stats()
	log.Printf("bye: %d line(s) sent, %d received, %d not delivered, %d connection(s)",
		s.MessagesSent, s.MessagesReceived, s.Dropped, s.Connects)
	return nil
}

// command handles one input line; it returns false for /quit.
func command(ctx context.Context, client *resilientws.Client, srv *chatServer, line string, ttl time.Duration) bool {
	switch {
	case line == "":
	case line == "/quit":
		return false
	case line == "/who":
		// An answer would be stale if the question waited for a reconnect.
		err := client.SendText(ctx, "/who", resilientws.WithoutQueue())
		if errors.Is(err, resilientws.ErrNotConnected) {
			log.Printf("/who: not connected, try again in a moment")
		} else if err != nil {
			log.Printf("/who: %v", err)
		}
	case strings.HasPrefix(line, "/outage"):
		d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(line, "/outage")))
		switch {
		case srv == nil:
			log.Printf("/outage works with the embedded server only")
		case err != nil || d <= 0:
			log.Printf("usage: /outage 5s")
		default:
			srv.outage(d)
		}
	case line == "/stats":
		s := client.Stats()
		log.Printf("stats: %s, connects %d, sent %d, received %d, queued %d (%d bytes), dropped %d (%d expired)",
			s.State, s.Connects, s.MessagesSent, s.MessagesReceived, s.Queued, s.BufferedAmount, s.Dropped, s.DroppedExpired)
	case strings.HasPrefix(line, "/"):
		log.Printf("commands: /who, /outage 5s, /stats, /quit")
	default:
		if err := client.SendText(ctx, line, resilientws.WithTTL(ttl)); err != nil {
			log.Printf("not sent: %v", err)
		} else if st := client.State(); st != resilientws.StateOpen {
			log.Printf("offline (%s): queued, goes out on reconnect if within %s", st, ttl)
		}
	}
	return true
}

// chatServer is the embedded broadcast server: every message is sent to
// everyone, the sender included; "/who" is answered to the sender only.
type chatServer struct {
	url  string
	http *http.Server

	mu        sync.Mutex // guards members, nextID, downUntil, closed; orders every wg.Add before wg.Wait
	members   map[*member]struct{}
	nextID    int
	downUntil time.Time // refuse upgrades until then
	closed    bool
	wg        sync.WaitGroup // Serve and each handler
}

// member is one connection; its writer drains out.
type member struct {
	name string
	ws   *websocket.Conn
	out  chan string // closed by nobody: the writer stops on ctx
}

func startChatServer() (*chatServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &chatServer{url: "ws://" + ln.Addr().String() + "/", members: map[*member]struct{}{}}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Printf("server: serve: %v", err)
		}
	}()
	return s, nil
}

func (s *chatServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed || time.Now().Before(s.downUntil) {
		s.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "chat server unavailable", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.nextID++
	name := r.Header.Get("X-Chat-Name")
	if name == "" {
		name = fmt.Sprintf("guest-%d", s.nextID)
	}
	s.mu.Unlock()
	defer s.wg.Done()

	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		log.Printf("server: accept: %v", err)
		return
	}
	defer ws.CloseNow() //nolint:errcheck // it may already be closed: nothing to do
	m := &member{name: name, ws: ws, out: make(chan string, 64)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.members[m] = struct{}{}
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(r.Context())
	var writer sync.WaitGroup
	writer.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case text := <-m.out:
				if err := ws.Write(ctx, websocket.MessageText, []byte(text)); err != nil {
					return
				}
			}
		}
	})
	s.broadcast("* " + name + " joined")
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			break
		}
		if string(data) == "/who" {
			s.send(m, "* online: "+strings.Join(s.names(), ", "))
			continue
		}
		s.broadcast(name + ": " + string(data))
	}
	s.mu.Lock()
	delete(s.members, m)
	s.mu.Unlock()
	cancel()
	writer.Wait()
	s.broadcast("* " + name + " left")
}

// send queues text for m; a member too slow to keep up is disconnected.
func (s *chatServer) send(m *member, text string) {
	select {
	case m.out <- text:
	default:
		_ = m.ws.CloseNow() // too slow: drop it; an error means it was already gone
	}
}

func (s *chatServer) broadcast(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for m := range s.members {
		s.send(m, text)
	}
}

func (s *chatServer) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for m := range s.members {
		names = append(names, m.name)
	}
	slices.Sort(names)
	return names
}

// outage drops every connection without a close frame and refuses new ones
// (503, Retry-After: 1) for d.
func (s *chatServer) outage(d time.Duration) {
	s.mu.Lock()
	s.downUntil = time.Now().Add(d)
	n := len(s.members)
	for m := range s.members {
		_ = m.ws.CloseNow() // an abrupt drop; an error means it was already gone
	}
	s.mu.Unlock()
	log.Printf("server: outage: dropped %d connection(s), refusing new ones for %s", n, d)
}

// close stops the server and waits for its handlers: http.Server.Close
// neither closes nor waits for hijacked (WebSocket) connections.
func (s *chatServer) close() {
	s.mu.Lock()
	s.closed = true
	for m := range s.members {
		_ = m.ws.CloseNow()
	}
	s.mu.Unlock()
	if err := s.http.Close(); err != nil {
		log.Printf("server: close: %v", err)
	}
	s.wg.Wait()
}
