package resilientws

import (
	"context"
	"net/http"
	"testing"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestSubprotocolFollowsTheOpenConnection(t *testing.T) {
	srv := resilientwstest.NewServer(resilientwstest.WithAcceptOptions(&websocket.AcceptOptions{
		Subprotocols: []string{"chat.v2"},
	}))
	t.Cleanup(srv.Close)
	r := newRecorder(t)
	var inOpen, inClose []string // Subprotocol() seen from inside the callbacks
	c := r.newClient(srv.URL(), fastBackoff(),
		WithDialOptions(&websocket.DialOptions{Subprotocols: []string{"chat.v1", "chat.v2"}}),
		OnOpen(func(e OpenEvent) {
			inOpen = append(inOpen, r.client.Subprotocol())
			r.add(rec{kind: "open", open: e})
		}),
		OnClose(func(e CloseEvent) {
			inClose = append(inClose, r.client.Subprotocol())
			r.add(rec{kind: "close", close: e})
		}),
	)
	if got := c.Subprotocol(); got != "" {
		t.Fatalf("Subprotocol before Start = %q, want \"\"", got)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if e := r.waitKind("open", 1, wait); e.open.Subprotocol != "chat.v2" {
		t.Fatalf("OpenEvent.Subprotocol = %q, want chat.v2", e.open.Subprotocol)
	}
	if got := c.Subprotocol(); got != "chat.v2" {
		t.Fatalf("Subprotocol while open = %q, want chat.v2", got)
	}

	srv.Refuse(http.StatusServiceUnavailable, "") // keep the client between connections
	srv.DropAll()
	r.waitKind("close", 1, wait)
	if got := c.Subprotocol(); got != "" {
		t.Fatalf("Subprotocol after the server dropped the connection = %q, want \"\"", got)
	}

	srv.Accept()
	r.waitKind("open", 2, wait)
	if got := c.Subprotocol(); got != "chat.v2" {
		t.Fatalf("Subprotocol once reconnected = %q, want chat.v2", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := c.Subprotocol(); got != "" {
		t.Fatalf("Subprotocol after Close = %q, want \"\"", got)
	}
	// The callbacks ran on the event goroutine, which has ended: no race.
	if !equal(inOpen, []string{"chat.v2", "chat.v2"}) || !equal(inClose, []string{"", ""}) {
		t.Fatalf("Subprotocol inside OnOpen %q and OnClose %q, want chat.v2 and \"\" each time", inOpen, inClose)
	}
}

func TestSubprotocolIsEmptyWhenTheServerChoosesNone(t *testing.T) {
	srv := resilientwstest.NewServer() // accepts no subprotocol
	t.Cleanup(srv.Close)
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(),
		WithDialOptions(&websocket.DialOptions{Subprotocols: []string{"chat.v2"}}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	if got := c.Subprotocol(); got != "" || c.State() != StateOpen {
		t.Fatalf("Subprotocol = %q in %s, want \"\" in OPEN", got, c.State())
	}
	if err := c.SendText(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	r.waitMessages(1, wait)
}
