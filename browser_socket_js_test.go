//go:build js && wasm

package resilientws

// The browser suite: the page's socket keeps the socket contract
// (socket.go) with typed errors, none of which depends on coder/websocket's
// wording.

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

func dialTestSocket(t *testing.T, url string) *browserSocket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bwait)
	defer cancel()
	s, err := dialBrowser(ctx, url, browserDial{readLimit: DefaultReadLimit, maxUnsent: DefaultQueueBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.CloseNow() })
	return s
}

func TestBrowserSocketContract(t *testing.T) {
	srv := newCtlSrv(t)

	// The server's close frame: a websocket.CloseError, as it is.
	s := dialTestSocket(t, srv.url)
	srv.do("closeall", "code=4000", "reason=bye")
	_, _, err := s.Reader(context.Background())
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "bye" {
		t.Errorf("Reader after the server's close: %v, want a websocket.CloseError 4000 \"bye\"", err)
	}

	// A socket the client closed: net.ErrClosed, in words of our own.
	s = dialTestSocket(t, srv.url)
	_ = s.CloseNow()
	for name, err := range map[string]error{
		"Write":  s.Write(context.Background(), Text, []byte("x")),
		"Close":  s.Close(websocket.StatusNormalClosure, ""),
		"Reader": func() error { _, _, err := s.Reader(context.Background()); return err }(),
	} {
		if !errors.Is(err, net.ErrClosed) || strings.HasPrefix(describe(err), "failed to") {
			t.Errorf("%s on a closed socket: %v (described %q), want net.ErrClosed, described without coder's wording", name, err, describe(err))
		}
	}

	// Close answered with the same code: nil.
	s = dialTestSocket(t, srv.url)
	if err := s.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("Close answered with 1000: %v, want nil", err)
	}
}
