//go:build !js

package resilientws

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestWriteTimeoutMarksTheConnectionDeadAndKeepsTheMessage(t *testing.T) {
	srv := newServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	c := r.newClient(p.URL("/"), fastBackoff(), WithHeartbeat(0, 0), WithWriteTimeout(2*time.Second),
		WithQueue(10, 32<<20, OverflowReject))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	p.Stall()
	big := bytes.Repeat([]byte("x"), 8<<20) // more than the socket buffers hold
	if err := c.Send(context.Background(), Binary, big); err != nil {
		t.Fatal(err)
	}
	e := r.wait("a write timeout", wait, func(e rec) bool { return e.kind == "error" && errors.Is(e.err, ErrWriteTimeout) })
	_ = e
	cl := r.waitKind("close", 1, wait).close
	if cl.Code != websocket.StatusAbnormalClosure || !cl.Reconnect || !errors.Is(cl.Err, ErrWriteTimeout) {
		t.Fatalf("close event %+v", cl)
	}
	p.Pass()
	r.waitKind("open", 2, wait)
	// The message stayed queued and is written whole on the new connection.
	waitServer(t, srv, "the big message", func() bool {
		for _, m := range srv.Messages() {
			if len(m.Data) == len(big) {
				return true
			}
		}
		return false
	})
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}
