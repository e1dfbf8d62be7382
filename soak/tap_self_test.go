//go:build !js

package soak_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/resilientws/resilientws"
	"github.com/resilientws/resilientws/resilientwstest"
)

// TestWireTap checks the soak's own instruments on a healthy link: the wire
// tap decodes exactly what the server receives, small and large messages
// (7-bit and 16-bit frame lengths) alike, queued before the connection or
// sent on it.
func TestWireTap(t *testing.T) {
	sl := newServerLog(2)
	srv := resilientwstest.NewServer(resilientwstest.WithHandler(sl.handler(0)))
	defer srv.Close()
	tp := &tap{}
	c, err := resilientws.New(srv.URL(), resilientws.WithDialOptions(&websocket.DialOptions{HTTPClient: tp.httpClient()}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var want []uint32
	send := func(seq uint32, pad int) {
		if err := c.Send(ctx, resilientws.Text, payload(1, seq, pad)); err != nil {
			t.Fatal(err)
		}
		want = append(want, seq)
	}
	for i := uint32(1); i <= 5; i++ {
		send(i, int(i%2)*70000) // queued before Start
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for i := uint32(6); i <= 10; i++ {
		send(i, int(i%3)*200)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := poll(10*time.Second, func() error {
		if got := sl.last[1].Load(); got < 10 {
			return context.DeadlineExceeded
		}
		return nil
	}); err != nil {
		t.Fatalf("the server did not receive all 10 messages: %v", err)
	}
	taps, dials, bad := tp.snapshot()
	conns := sl.snapshot()
	if len(taps) != 1 || len(dials) != 1 || bad != 0 || len(conns) != 1 {
		t.Fatalf("%d tapped connections, %d dials, %d undecodable, %d server connections; want 1, 1, 0, 1", len(taps), len(dials), bad, len(conns))
	}
	if !slices.Equal(taps[0].seqs, want) || !slices.Equal(conns[0].seqs, want) || taps[0].partial {
		t.Fatalf("tap %v (partial %t), server %v; want %v", taps[0].seqs, taps[0].partial, conns[0].seqs, want)
	}
	if id, seq, ok := parsePayload(payload(7, 42, 3)); !ok || id != 7 || seq != 42 {
		t.Fatalf("parsePayload(payload(7, 42, 3)) = %d, %d, %t", id, seq, ok)
	}
}
