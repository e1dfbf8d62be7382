//go:build !js

package resilientws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"

	"github.com/resilientws/resilientws"
)

// optServer starts an httptest server that runs handle for every request
// (handle upgrades with websocket.Accept, or answers plain HTTP). Its stop
// function closes the server and waits for the handlers, which end when
// their client closes: httptest.Server.Close does not wait for hijacked
// connections.
func optServer(handle http.HandlerFunc) (url string, stop func()) {
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1) // before the upgrade, so before the client can Close
		defer wg.Done()
		handle(w, r)
	}))
	return srv.URL, func() {
		srv.Close()
		wg.Wait()
	}
}

// optEcho echoes every message until the client closes the connection.
func optEcho(ctx context.Context, c *websocket.Conn) {
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return // the client closed
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

// optAwaitClose reads (and discards) until the client closes the connection.
func optAwaitClose(ctx context.Context, c *websocket.Conn) {
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
	}
}

// optFastRetry makes the examples retry at once instead of after the
// default 1 s.
func optFastRetry() resilientws.Option {
	return resilientws.WithBackoff(func() backoff.BackOff {
		return backoff.NewConstantBackOff(10 * time.Millisecond)
	})
}

// Servers written for the browser often expect an application heartbeat:
// the JavaScript webSocketClass sends {"request":"ping"} and waits for a
// reply, since a browser cannot send protocol pings. Here the server answers
// the first ping of its first connection, then plays dead: the client
// notices within interval + timeout and reconnects. The pong never reaches
// OnMessage.
func ExampleWithAppHeartbeat() {
	ping := resilientws.Message{Type: resilientws.Text, Data: []byte(`{"request":"ping"}`)}
	isPong := func(m resilientws.Message) bool { // runs on the reader: keep it fast
		var v struct {
			Response string `json:"response"`
		}
		return json.Unmarshal(m.Data, &v) == nil && v.Response == "pong"
	}

	var conns atomic.Int32
	url, stop := optServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			fmt.Println("server: accept:", err)
			return
		}
		defer c.CloseNow() //nolint:errcheck // the connection is over either way
		playDead := conns.Add(1) == 1
		for pings := 0; ; {
			_, data, err := c.Read(r.Context())
			if err != nil {
				return // the client closed, or dropped the connection
			}
			if string(data) != `{"request":"ping"}` {
				continue
			}
			if pings++; playDead && pings > 1 {
				continue // no answer: the client's heartbeat must notice
			}
			if err := c.Write(r.Context(), websocket.MessageText, []byte(`{"response":"pong"}`)); err != nil {
				return
			}
			if playDead {
				note := `the server answered {"request":"ping"} with {"response":"pong"}`
				if err := c.Write(r.Context(), websocket.MessageText, []byte(note)); err != nil {
					return
				}
			}
		}
	})
	defer stop()

	second := make(chan struct{})
	c, err := resilientws.New(url,
		resilientws.WithAppHeartbeat(50*time.Millisecond, 500*time.Millisecond, ping, isPong),
		optFastRetry(),
		resilientws.OnOpen(func(e resilientws.OpenEvent) {
			fmt.Println("open: connection", e.Connection)
			if e.Connection == 2 {
				close(second)
			}
		}),
		resilientws.OnMessage(func(m resilientws.Message) { fmt.Println("message:", string(m.Data)) }),
		resilientws.OnError(func(err error) {
			fmt.Println("error: heartbeat timeout:", errors.Is(err, resilientws.ErrHeartbeatTimeout))
		}),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			fmt.Println("close:", e.Code, "reconnect:", e.Reconnect)
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	<-second
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// open: connection 1
	// message: the server answered {"request":"ping"} with {"response":"pong"}
	// error: heartbeat timeout: true
	// close: StatusAbnormalClosure reconnect: true
	// open: connection 2
	// close: StatusNormalClosure reconnect: false
}

// A dial hook runs before every dial, so each attempt can carry a fresh
// token. This server accepts only the most recently issued token, answers
// the first handshake with 503, and expires the token of the first
// connection (close code 4001). It reports the token and the dial attempt it
// saw; the attempt counts dials since the last open, as
// ReconnectEvent.Attempt does.
func ExampleWithDialHook() {
	var (
		mu     sync.Mutex
		issued int
		valid  string // the only token the server accepts
	)
	issue := func() string {
		mu.Lock()
		defer mu.Unlock()
		issued++
		valid = fmt.Sprintf("token-%d", issued)
		return valid
	}
	isValid := func(token string) bool {
		mu.Lock()
		defer mu.Unlock()
		return token != "" && token == valid
	}

	var dials atomic.Int32
	url, stop := optServer(func(w http.ResponseWriter, r *http.Request) {
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !isValid(token) {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		seen := fmt.Sprintf("%s (dial attempt %s)", token, r.Header.Get("X-Dial-Attempt"))
		if dials.Add(1) == 1 {
			http.Error(w, seen+": warming up", http.StatusServiceUnavailable)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			fmt.Println("server: accept:", err)
			return
		}
		defer c.CloseNow() //nolint:errcheck // the connection is over either way
		if err := c.Write(r.Context(), websocket.MessageText, []byte("welcome, "+seen)); err != nil {
			return
		}
		if token == "token-2" {
			if err := c.Close(4001, "token expired"); err != nil {
				fmt.Println("server: close:", err)
			}
			return
		}
		optAwaitClose(r.Context(), c)
	})
	defer stop()

	second := make(chan struct{})
	c, err := resilientws.New(url,
		resilientws.WithDialHook(func(ctx context.Context, attempt int) (string, http.Header, error) {
			// A real hook would ask an identity provider, bounded by ctx.
			h := http.Header{}
			h.Set("Authorization", "Bearer "+issue())
			h.Set("X-Dial-Attempt", fmt.Sprint(attempt))
			return "", h, nil // "": keep the URL given to New
		}),
		optFastRetry(),
		resilientws.OnError(func(err error) {
			var he *resilientws.HandshakeError
			if errors.As(err, &he) {
				fmt.Printf("error: %d %s\n", he.StatusCode, strings.TrimSpace(string(he.Body)))
				return
			}
			fmt.Println("error:", err)
		}),
		resilientws.OnReconnecting(func(e resilientws.ReconnectEvent) { fmt.Println("reconnecting: attempt", e.Attempt) }),
		resilientws.OnOpen(func(e resilientws.OpenEvent) { fmt.Println("open: connection", e.Connection) }),
		resilientws.OnMessage(func(m resilientws.Message) {
			fmt.Println("message:", string(m.Data))
			if strings.HasPrefix(string(m.Data), "welcome, token-3") {
				close(second)
			}
		}),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			fmt.Printf("close: %d %q, reconnect: %t\n", e.Code, e.Reason, e.Reconnect)
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	<-second
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// error: 503 token-1 (dial attempt 0): warming up
	// reconnecting: attempt 1
	// open: connection 1
	// message: welcome, token-2 (dial attempt 1)
	// close: 4001 "token expired", reconnect: true
	// reconnecting: attempt 1
	// open: connection 2
	// message: welcome, token-3 (dial attempt 1)
	// close: 1000 "", reconnect: false
}

// OnJSON decodes each message into a T. A message that does not decode is
// reported through OnError as a *DecodeError and skipped: the connection
// stays up (unlike wsjson.Read, which closes it).
func ExampleOnJSON() {
	type Tick struct {
		Symbol string  `json:"symbol"`
		Price  float64 `json:"price"`
	}
	url, stop := optServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			fmt.Println("server: accept:", err)
			return
		}
		defer c.CloseNow() //nolint:errcheck // the connection is over either way
		// Stream only once the client has subscribed.
		if _, _, err := c.Read(r.Context()); err != nil {
			return
		}
		for _, m := range []string{
			`{"symbol":"BTC","price":42000.5}`,
			`not json`,
			`{"symbol":"ETH","price":2500.25}`,
		} {
			if err := c.Write(r.Context(), websocket.MessageText, []byte(m)); err != nil {
				return
			}
		}
		optAwaitClose(r.Context(), c)
	})
	defer stop()

	done := make(chan struct{})
	c, err := resilientws.New(url,
		resilientws.OnJSON(func(t Tick) {
			fmt.Printf("%s %.2f\n", t.Symbol, t.Price)
			if t.Symbol == "ETH" {
				close(done)
			}
		}),
		resilientws.OnError(func(err error) {
			var de *resilientws.DecodeError
			if errors.As(err, &de) {
				fmt.Printf("skipped %q: not a Tick\n", de.Message.Data)
				return
			}
			fmt.Println("error:", err)
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	sub := map[string]any{"op": "subscribe", "symbols": []string{"BTC", "ETH"}}
	if err := c.SendJSON(context.Background(), sub); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	<-done
	fmt.Println("state:", c.State(), "- connections opened:", c.Stats().Connects)
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// BTC 42000.50
	// skipped "not json": not a Tick
	// ETH 2500.25
	// state: OPEN - connections opened: 1
}

// With OverflowDropOldest a full queue keeps the newest messages, for feeds
// where only the latest values matter. Each message evicted is reported
// through OnDrop with ErrQueueFull.
func ExampleWithQueue() {
	url, stop := optServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			fmt.Println("server: accept:", err)
			return
		}
		defer c.CloseNow() //nolint:errcheck // the connection is over either way
		optEcho(r.Context(), c)
	})
	defer stop()

	echoed := make(chan string)
	c, err := resilientws.New(url,
		resilientws.WithQueue(2, 1<<10, resilientws.OverflowDropOldest),
		resilientws.OnDrop(func(m resilientws.Message, err error) {
			fmt.Printf("dropped %s (queue full: %t)\n", m.Data, errors.Is(err, resilientws.ErrQueueFull))
		}),
		resilientws.OnMessage(func(m resilientws.Message) { echoed <- string(m.Data) }),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Not started yet, as while disconnected: four position updates meet a
	// queue of two.
	for i := 1; i <= 4; i++ {
		if err := c.SendText(context.Background(), fmt.Sprintf("position %d", i)); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("queued:", c.Stats().Queued)
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		fmt.Println("echo:", <-echoed)
	}
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	fmt.Println("dropped in all:", c.Stats().DroppedQueueFull)
	// Output:
	// queued: 2
	// dropped position 1 (queue full: true)
	// dropped position 2 (queue full: true)
	// echo: position 3
	// echo: position 4
	// dropped in all: 2
}

// Reconnect cuts a backoff wait short (call it when the network comes back)
// and replaces a live connection (call it after a network change). Here the
// server first answers 503 with Retry-After: 600, which would keep the
// client waiting ten minutes.
func ExampleClient_Reconnect() {
	var dials atomic.Int32
	url, stop := optServer(func(w http.ResponseWriter, r *http.Request) {
		if dials.Add(1) == 1 {
			w.Header().Set("Retry-After", "600")
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			fmt.Println("server: accept:", err)
			return
		}
		defer c.CloseNow() //nolint:errcheck // the connection is over either way
		optAwaitClose(r.Context(), c)
	})
	defer stop()

	failed := make(chan struct{}, 1)
	opened := make(chan int, 1)
	c, err := resilientws.New(url,
		resilientws.OnError(func(err error) {
			fmt.Println("error:", err)
			select {
			case failed <- struct{}{}:
			default:
			}
		}),
		resilientws.OnBackoff(func(e resilientws.ReconnectEvent) {
			fmt.Printf("backoff: attempt %d in %s, set by %s\n", e.Attempt, e.Delay, e.DelaySource)
		}),
		resilientws.OnReconnecting(func(e resilientws.ReconnectEvent) {
			fmt.Printf("reconnecting: attempt %d, requested: %t, waited under a minute: %t, set by %s\n",
				e.Attempt, errors.Is(e.Err, resilientws.ErrReconnectRequested), e.Delay < time.Minute, e.DelaySource)
		}),
		resilientws.OnOpen(func(e resilientws.OpenEvent) {
			fmt.Println("open: connection", e.Connection)
			opened <- e.Connection
		}),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			fmt.Printf("close: %d, requested: %t, reconnect: %t\n",
				e.Code, errors.Is(e.Err, resilientws.ErrReconnectRequested), e.Reconnect)
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	// The client now waits out Retry-After, unless told to dial now.
	<-failed
	if err := c.Reconnect(); err != nil {
		fmt.Println(err)
		return
	}
	<-opened
	if err := c.Reconnect(); err != nil { // replace the live connection
		fmt.Println(err)
		return
	}
	<-opened
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// error: resilientws: handshake rejected: server answered 503 Service Unavailable (retry after 10m0s)
	// backoff: attempt 1 in 10m0s, set by retry-after
	// reconnecting: attempt 1, requested: false, waited under a minute: true, set by none
	// open: connection 1
	// close: 1000, requested: true, reconnect: true
	// backoff: attempt 1 in 0s, set by none
	// reconnecting: attempt 1, requested: true, waited under a minute: true, set by none
	// open: connection 2
	// close: 1000, requested: false, reconnect: false
}

// A message that is useless late, such as a typing notification, gets a
// time to live: if it is still queued when the TTL has passed, it is dropped
// through OnDrop with ErrExpired instead of being written. Here the server
// is down (503) for the first dial; the notification expires during the
// 100 ms wait before the next one, while the chat line, with a longer TTL,
// goes out once connected.
func ExampleWithTTL() {
	var dials atomic.Int32
	url, stop := optServer(func(w http.ResponseWriter, r *http.Request) {
		if dials.Add(1) == 1 {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			fmt.Println("server: accept:", err)
			return
		}
		defer c.CloseNow() //nolint:errcheck // the connection is over either way
		optEcho(r.Context(), c)
	})
	defer stop()

	echoed := make(chan string)
	c, err := resilientws.New(url,
		resilientws.WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(100 * time.Millisecond) }),
		resilientws.OnError(func(err error) { fmt.Println("error:", err) }),
		resilientws.OnDrop(func(m resilientws.Message, err error) {
			fmt.Printf("dropped %q, expired: %t\n", m.Data, errors.Is(err, resilientws.ErrExpired))
		}),
		resilientws.OnMessage(func(m resilientws.Message) { echoed <- string(m.Data) }),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := c.SendText(ctx, "alice is typing", resilientws.WithTTL(50*time.Millisecond)); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.SendText(ctx, "hello", resilientws.WithTTL(30*time.Second)); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("echo:", <-echoed)
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// error: resilientws: handshake rejected: server answered 503 Service Unavailable
	// dropped "alice is typing", expired: true
	// echo: hello
}

// WithoutQueue makes Send fail fast with ErrNotConnected unless a
// connection is OPEN, for messages that are pointless once late.
func ExampleWithoutQueue() {
	url, stop := optServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			fmt.Println("server: accept:", err)
			return
		}
		defer c.CloseNow() //nolint:errcheck // the connection is over either way
		optEcho(r.Context(), c)
	})
	defer stop()

	opened := make(chan struct{})
	echoed := make(chan string)
	c, err := resilientws.New(url,
		resilientws.OnOpen(func(resilientws.OpenEvent) { close(opened) }),
		resilientws.OnMessage(func(m resilientws.Message) { echoed <- string(m.Data) }),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	err = c.SendText(ctx, "alice is typing", resilientws.WithoutQueue())
	fmt.Println("before Start:", errors.Is(err, resilientws.ErrNotConnected))
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	<-opened
	if err := c.SendText(ctx, "alice is typing", resilientws.WithoutQueue()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("once open, echo:", <-echoed)
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// before Start: true
	// once open, echo: alice is typing
}

// ExampleWithResend shows at-least-once delivery turned into exactly-once
// processing: the client resends what a lost connection left unconfirmed,
// and the server, which drops the connection after every third message it
// processes, ignores the ids it has already seen.
func ExampleWithResend() {
	var (
		mu        sync.Mutex
		seen      = map[string]bool{}
		processed []string
		allDone   = make(chan struct{})
	)
	const total = 10
	url, stop := optServer(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			fmt.Println("server: accept:", err)
			return
		}
		defer c.CloseNow() //nolint:errcheck // the kill: no close frame
		for n := 0; n < 3; {
			_, data, err := c.Read(r.Context())
			if err != nil {
				return
			}
			id, body, _ := strings.Cut(string(data), " ")
			mu.Lock()
			if !seen[id] { // a resent message that had arrived: ignored
				seen[id] = true
				processed = append(processed, body)
				n++
				if len(processed) == total {
					close(allDone)
				}
			}
			mu.Unlock()
		}
	})
	defer stop()

	c, err := resilientws.New(url,
		resilientws.WithResend(5),
		resilientws.WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Millisecond) }),
		resilientws.OnDrop(func(m resilientws.Message, err error) { fmt.Printf("dropped %q: %v\n", m.Data, err) }),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	for i := 1; i <= total; i++ {
		// The id is the application's own: the library never rewrites the payload.
		if err := c.SendText(context.Background(), fmt.Sprintf("id-%d message-%d", i, i)); err != nil {
			fmt.Println(err)
			return
		}
	}
	<-allDone
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Println(strings.Join(processed, " "))
	// Output:
	// message-1 message-2 message-3 message-4 message-5 message-6 message-7 message-8 message-9 message-10
}
