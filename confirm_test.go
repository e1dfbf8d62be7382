//go:build !js

package resilientws

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestConfirmReportsUnconfirmedMessagesWhenTheLinkDies(t *testing.T) {
	srv := newServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	c := r.startClient(p.URL("/"), fastBackoff(), WithHeartbeat(20*time.Millisecond, 50*time.Millisecond))
	r.waitKind("open", 1, wait)
	c.SendText(context.Background(), "confirmed")
	waitReceived(t, srv, 1)
	waitUntil(t, "the pong that confirms it", wait, func() bool { n, _, _ := c.unconfirmed.pending(); return n == 0 && c.unconfirmed.mark() > 0 })
	p.Blackhole() // written from now on, the bytes vanish
	for i := range 5 {
		c.SendText(context.Background(), "lost "+strconv.Itoa(i))
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v (the messages were written)", err)
	}
	r.waitKind("close", 1, wait)
	var lost []string
	for _, d := range r.of("drop") {
		if !errors.Is(d.err, ErrUnconfirmed) {
			t.Fatalf("drop %v, want ErrUnconfirmed", d)
		}
		lost = append(lost, string(d.msg.Data))
	}
	if fmt.Sprint(lost) != "[lost 0 lost 1 lost 2 lost 3 lost 4]" {
		t.Fatalf("reported %v", lost)
	}
	if got := serverText(srv.Messages()); !equal(got, []string{"confirmed"}) {
		t.Fatalf("server got %v", got)
	}
	if st := c.Stats(); st.DroppedUnconfirmed != 5 {
		t.Fatalf("stats %+v", st)
	}
	p.Pass()
}

func TestConfirmCleanCloseConfirmsEverything(t *testing.T) {
	srv := newServer(t)
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0))
	r.waitKind("open", 1, wait)
	for i := range 100 {
		c.SendText(context.Background(), strconv.Itoa(i))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if drops := r.of("drop"); len(drops) != 0 {
		t.Fatalf("drops after a clean close: %v", drops)
	}
	if got := serverText(srv.Messages()); !equal(got, numbered(100)) {
		t.Fatalf("server got %d messages", len(got))
	}
}

func TestConfirmLogBoundsWhatIsInFlight(t *testing.T) {
	srv := newServer(t)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		for { // reads and records, but strips pings from view: coder answers them only while reading
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	})
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(0, 0), WithQueue(8, 1<<20, OverflowBlock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := c.unconfirmed.pending(); n > 8 {
			t.Fatalf("%d unconfirmed messages, limit 8", n)
		}
	}
	if got := serverText(waitReceived(t, srv, 200)); !equal(got, numbered(200)) {
		t.Fatalf("server got %v", got)
	}
}

func TestConfirmLostPingDoesNotStallTheQueue(t *testing.T) {
	srv := newServer(t)
	// A long interval keeps the heartbeat out of the way; its timeout bounds
	// each confirmation ping.
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(time.Hour, 100*time.Millisecond), WithQueue(4, 1<<20, OverflowBlock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "OPEN", wait, func() bool { return c.State() == StateOpen })
	srv.StopPongs() // the next ping goes unanswered
	c.SendText(context.Background(), "1")
	waitUntil(t, "a confirmation ping out", wait, func() bool { return c.unconfirmed.mark() == 1 })
	srv.ResumePongs()
	for range 7 { // the log (4 messages) fills, and writing pauses until a pong
		if err := c.SendText(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v: the queue stalled on a healthy connection", err)
	}
	waitUntil(t, "everything confirmed", wait, func() bool { n, _, _ := c.unconfirmed.pending(); return n == 0 })
	if c.Stats().Connects != 1 {
		t.Fatal("the connection was replaced")
	}
}

func TestConfirmNoPongsWithTheHeartbeatOffReplacesTheConnection(t *testing.T) {
	srv := newServer(t)
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(0, 0), WithQueue(2, 1<<20, OverflowBlock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Start()
	waitUntil(t, "OPEN", wait, func() bool { return c.State() == StateOpen })
	srv.StopPongs()
	// With no pong, the log (2 messages) fills; after confirmTimeout the
	// connection is replaced instead of stalling for good.
	for i := range 3 {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if testing.Short() {
		t.Skip("waits confirmTimeout (5 s)")
	}
	waitUntil(t, "a second connection", 2*confirmTimeout, func() bool { return c.Stats().Connects >= 2 })
}
