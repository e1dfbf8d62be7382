//go:build !js

package resilientws

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestDefaultTransportIsShared checks that clients dialing with the default
// HTTP client share one transport, and that a user's transport is cloned
// per client, never modified.
func TestDefaultTransportIsShared(t *testing.T) {
	a, err := New("ws://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New("ws://127.0.0.1:1/", WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{}}))
	if err != nil {
		t.Fatal(err)
	}
	shared := sharedTransport().tr
	if shared == nil || a.dialOpts.HTTPClient.Transport != shared || b.dialOpts.HTTPClient.Transport != shared {
		t.Fatalf("default clients do not share the transport: %p %p %p", shared, a.dialOpts.HTTPClient.Transport, b.dialOpts.HTTPClient.Transport)
	}
	if !shared.DisableKeepAlives {
		t.Fatal("the shared transport keeps idle connections: a dial could be handed to another client")
	}
	user := &http.Transport{}
	c, err := New("ws://127.0.0.1:1/", WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{Transport: user}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.dialOpts.HTTPClient.Transport; got == user || got == shared {
		t.Fatalf("a user's transport is used as is or shared: %p", got)
	}
	if user.DisableKeepAlives || user.DialContext != nil {
		t.Fatal("the user's transport was modified")
	}
}

// TestSharedTransportRecordsEachClientsOwnSocket dials many clients at once
// through the shared transport, some of them closed mid-dial, and checks
// that every open client recorded its own TCP connection (the one Shutdown
// cuts when a close handshake hangs), not another client's.
func TestSharedTransportRecordsEachClientsOwnSocket(t *testing.T) {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1) // before Accept: once hijacked, srv.Close no longer waits for the handler
		defer wg.Done()
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		// Tell the client which of its sockets the server sees.
		if err := ws.Write(ctx, websocket.MessageText, []byte(r.RemoteAddr)); err != nil {
			return
		}
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}))
	defer func() {
		cancel()
		srv.Close()
		wg.Wait()
	}()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	const n = 24
	type seen struct {
		c    *Client
		addr chan string
	}
	var clients []seen
	for i := range n {
		s := seen{addr: make(chan string, 1)}
		c, err := New(url, OnMessage(func(m Message) {
			select {
			case s.addr <- string(m.Data):
			default:
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		s.c = c
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			_ = c.Close() // mid-dial: its socket must not end up with another client
			continue
		}
		clients = append(clients, s)
	}
	for i, s := range clients {
		select {
		case remote := <-s.addr:
			cn := s.c.current.Load()
			if cn == nil {
				t.Fatalf("client %d: no open connection", i)
			}
			cn.raw.mu.Lock()
			raw := cn.raw.c
			cn.raw.mu.Unlock()
			if raw == nil {
				t.Fatalf("client %d: no TCP connection recorded", i)
			}
			if got := raw.LocalAddr().String(); got != remote {
				t.Errorf("client %d recorded socket %s, but its connection is %s", i, got, remote)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("client %d: no message", i)
		}
	}
	for _, s := range clients {
		if err := s.c.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestCloseEndsATCPDialThatHangs checks that Close ends a TCP dial stuck on
// a host that does not answer (net/http detaches dials from their request,
// so without the library's own link such a dial ran on for up to 30 s after
// Close).
func TestCloseEndsATCPDialThatHangs(t *testing.T) {
	started, ended := make(chan struct{}, 1), make(chan struct{})
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		started <- struct{}{}
		<-ctx.Done() // a SYN that nobody answers
		close(ended)
		return nil, ctx.Err()
	}}
	c, err := New("ws://192.0.2.1/", WithDialTimeout(time.Minute),
		WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("no dial")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(wait):
		t.Fatal("the TCP dial outlived Close")
	}
}
