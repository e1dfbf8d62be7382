//go:build !js

package resilientws

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

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

// Resending (WithResend).

// readAll is a server handler that reads and records every message; coder
// answers pings while it reads, so what it read is confirmed.
func readAll(ctx context.Context, c *resilientwstest.Conn) {
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
	}
}

// readOneAndDrop is a server handler that reads one message, then drops the
// TCP connection without a close frame and without answering any ping: what
// it read is never confirmed.
func readOneAndDrop(ctx context.Context, c *resilientwstest.Conn) {
	_, _, _ = c.Read(ctx)
}

func TestResendNegativeIsAnError(t *testing.T) {
	if _, err := New("ws://127.0.0.1:1", WithResend(-1)); err == nil || !strings.Contains(err.Error(), "WithResend") {
		t.Fatalf("New(WithResend(-1)) = %v, want an error naming WithResend", err)
	}
}

// Under random kills (reset, 1001, 1011), every message arrives, none is
// reported, each connection carries an increasing run of the Send order, and
// the first arrivals across connections are exactly the Send order.
func TestResendKeepsTheSendOrderAcrossRandomKills(t *testing.T) {
	const n = 2000
	srv := newServer(t, resilientwstest.WithHandler(readAll))
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithResend(1000), WithHeartbeat(0, 0),
		WithQueue(64, 1<<20, OverflowBlock))
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	firsts := func() int { return len(firstArrivals(numeric(srv.Received()))) }
	for firsts() < n {
		target := len(srv.Messages()) + 20 + rng.IntN(200)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err := srv.WaitFor(ctx, func() bool { return len(srv.Messages()) >= target || firsts() == n })
		cancel()
		if err != nil {
			t.Fatalf("the server got %d messages (%d first arrivals), waiting for %d; stats %+v; events %s",
				len(srv.Messages()), firsts(), target, c.Stats(), r.summary())
		}
		if firsts() == n {
			break
		}
		switch kills++; rng.IntN(3) {
		case 0:
			srv.DropAll()
		case 1:
			srv.CloseAll(websocket.StatusGoingAway, "kill")
		default:
			srv.CloseAll(websocket.StatusInternalError, "kill")
		}
	}
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatalf("Send is stuck; stats %+v", c.Stats())
	}
	waitServer(t, srv, "every message", func() bool { return firsts() == n })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	received := numeric(srv.Received())
	for _, d := range r.of("drop") {
		// A kill just after the last first arrival leaves what it had
		// written unconfirmed, with no connection after Close: those must
		// be reported, and have arrived.
		if !errors.Is(d.err, ErrUnconfirmed) || !slices.Contains(firstArrivals(received), string(d.msg.Data)) {
			t.Fatalf("drop %v: %v", d, d.err)
		}
	}
	for i, conn := range received {
		last := -1
		for _, m := range conn {
			v, _ := strconv.Atoi(string(m.Data))
			if v <= last {
				t.Fatalf("connection %d got %d after %d", i+1, v, last)
			}
			last = v
		}
	}
	if got := firstArrivals(received); !equal(got, numbered(n)) {
		t.Fatalf("first arrivals are not the Send order: %v", got)
	}
	total := 0
	for _, conn := range received {
		total += len(conn)
	}
	if st := c.Stats(); st.Resent == 0 || st.MessagesSent < uint64(total) {
		t.Fatalf("%d kills: stats %+v, server got %d", kills, st, total)
	}
	t.Logf("%d kills, %d connections, %d duplicates", kills, len(received), total-n)
}

// numeric returns the messages that are numbers, per connection. The test
// server's CloseAll runs coder/websocket's Close, which reads beside the
// handler's Read: the last message that Read returns on a connection it
// closes can come out garbled (unmasked with the wrong key). The client
// sees the connection end unconfirmed, and resends it.
func numeric(conns [][]resilientwstest.Message) [][]resilientwstest.Message {
	out := make([][]resilientwstest.Message, len(conns))
	for i, conn := range conns {
		for _, m := range conn {
			if _, err := strconv.Atoi(string(m.Data)); err == nil {
				out[i] = append(out[i], m)
			}
		}
	}
	return out
}

// firstArrivals returns, across connections in order, each message text the
// first time it arrived.
func firstArrivals(conns [][]resilientwstest.Message) []string {
	seen := map[string]bool{}
	var out []string
	for _, conn := range conns {
		for _, m := range conn {
			if s := string(m.Data); !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// Against a server that reads one message and drops the connection without a
// close frame, a message is written exactly max+1 times, then reported once.
func TestResendGivesUpAfterMaxPlusOneWrites(t *testing.T) {
	srv := newServer(t, resilientwstest.WithHandler(readOneAndDrop))
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithResend(2), WithHeartbeat(0, 0))
	if err := c.SendText(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
	d := r.waitKind("drop", 1, wait)
	if !errors.Is(d.err, ErrUnconfirmed) || !strings.Contains(d.err.Error(), "written 3 times") {
		t.Fatalf("drop %v, want ErrUnconfirmed saying it was written 3 times", d.err)
	}
	r.waitKind("open", 4, wait) // the client goes on
	if got := serverText(srv.Messages()); !equal(got, []string{"m", "m", "m"}) {
		t.Fatalf("server got %v, want m three times", got)
	}
	if st := c.Stats(); st.Resent != 2 || st.DroppedUnconfirmed != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.of("drop")); n != 1 {
		t.Fatalf("%d drops, want 1", n)
	}
}

// Without WithResend nothing changes: an unconfirmed message is reported
// with ErrUnconfirmed itself and never written again.
func TestResendOffReportsAndNeverResends(t *testing.T) {
	srv := newServer(t, resilientwstest.WithHandler(readOneAndDrop))
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0))
	if err := c.SendText(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
	d := r.waitKind("drop", 1, wait)
	if d.err != ErrUnconfirmed {
		t.Fatalf("drop %v, want ErrUnconfirmed itself", d.err)
	}
	r.waitKind("open", 2, wait)
	if err := c.SendText(context.Background(), "n"); err != nil {
		t.Fatal(err)
	}
	if got := serverText(waitReceived(t, srv, 2)); !equal(got, []string{"m", "n"}) {
		t.Fatalf("server got %v, want m once, then n", got)
	}
	if st := c.Stats(); st.Resent != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// For one lost connection the events come in this order: OnError (why it
// was lost), OnDrop for what it left unconfirmed, OnClose.
func TestDeliveryLostConnectionEventOrder(t *testing.T) {
	srv := newServer(t, resilientwstest.WithHandler(readOneAndDrop))
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0))
	if err := c.SendText(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
	r.waitKind("close", 1, wait)
	var kinds []string
	for _, e := range r.all() {
		if e.kind == "error" || e.kind == "drop" || e.kind == "close" {
			kinds = append(kinds, e.kind)
		}
		if e.kind == "close" {
			break
		}
	}
	if fmt.Sprint(kinds) != "[error drop close]" {
		t.Fatalf("events %v, want [error drop close]", kinds)
	}
	_ = c.Close()
}

// A message whose TTL runs out while it waits to be resent is dropped with
// ErrExpired, not written again.
func TestResendDropsWhatExpiresWhileWaiting(t *testing.T) {
	srv := newServer(t, resilientwstest.WithHandler(readOneAndDrop))
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithResend(5), WithHeartbeat(0, 0))
	r.waitKind("open", 1, wait)
	srv.Refuse(http.StatusServiceUnavailable, "") // the next dials fail: the message waits
	if err := c.SendText(context.Background(), "m", WithTTL(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	r.waitKind("close", 1, wait) // m was read, not confirmed: it waits to be resent
	// Expiry is noticed when the queue is next looked at (here by Stats,
	// else by the next connection's first write).
	waitUntil(t, "m to expire", wait, func() bool { return c.Stats().DroppedExpired == 1 })
	d := r.waitKind("drop", 1, wait)
	if !errors.Is(d.err, ErrExpired) {
		t.Fatalf("drop %v, want ErrExpired", d.err)
	}
	srv.Accept()
	r.waitKind("open", 2, wait)
	if err := c.SendText(context.Background(), "n"); err != nil {
		t.Fatal(err)
	}
	if got := serverText(waitReceived(t, srv, 2)); !equal(got, []string{"m", "n"}) {
		t.Fatalf("server got %v, want m once, then n", got)
	}
	if st := c.Stats(); st.Resent != 0 || st.DroppedExpired != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Messages put back for resending count against the queue's limits again,
// even past them: each overflow mode then treats a new message as it treats
// one that finds the queue full.
func TestResendCountsAgainstTheQueueLimits(t *testing.T) {
	for _, overflow := range []Overflow{OverflowReject, OverflowDropOldest, OverflowBlock} {
		t.Run(overflow.String(), func(t *testing.T) {
			srv := newServer(t, resilientwstest.WithHandler(readAll))
			p := newFaultProxy(t, srv.Addr())
			r := newRecorder(t)
			c := r.startClient(p.URL("/"), fastBackoff(), WithResend(1), WithQueue(4, 1<<20, overflow),
				WithHeartbeat(20*time.Millisecond, 50*time.Millisecond), WithDialTimeout(200*time.Millisecond))
			r.waitKind("open", 1, wait)
			p.Blackhole() // written from now on, the bytes vanish; dials hang
			for i := range 4 {
				if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.waitKind("close", 1, wait) // the heartbeat notices; the four wait to be resent
			if st := c.Stats(); st.Queued != 4 {
				t.Fatalf("stats %+v, want the four queued again", st)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := c.SendText(ctx, "new")
			switch overflow {
			case OverflowReject:
				if !errors.Is(err, ErrQueueFull) {
					t.Fatalf("Send = %v, want ErrQueueFull", err)
				}
			case OverflowBlock:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Send = %v, want it to wait until its ctx ends", err)
				}
			case OverflowDropOldest:
				if err != nil {
					t.Fatal(err)
				}
				d := r.waitKind("drop", 1, wait)
				if string(d.msg.Data) != "0" || !errors.Is(d.err, ErrQueueFull) {
					t.Fatalf("drop %v, want the oldest resent message with ErrQueueFull", d)
				}
			}
			p.Pass()
			r.waitKind("open", 2, wait)
			if err := c.Flush(context.Background()); err != nil && overflow == OverflowDropOldest {
				t.Fatal(err)
			}
			want := []string{"0", "1", "2", "3"}
			if overflow == OverflowDropOldest {
				want = []string{"1", "2", "3", "new"}
			}
			waitServer(t, srv, "the resent messages", func() bool { return len(srv.Received()) == 2 && len(srv.Received()[1]) == len(want) })
			if got := serverText(srv.Received()[1]); !equal(got, want) {
				t.Fatalf("second connection got %v, want %v", got, want)
			}
		})
	}
}

// Close drains the queue, resent messages included, and the close handshake
// confirms them: nothing is reported.
func TestResendCloseDrainsResentMessages(t *testing.T) {
	srv := newServer(t, resilientwstest.WithHandler(readAll))
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	var c *Client
	c = r.newClient(p.URL("/"), fastBackoff(), WithResend(1),
		WithHeartbeat(20*time.Millisecond, 50*time.Millisecond), WithDialTimeout(200*time.Millisecond),
		OnOpen(func(e OpenEvent) {
			r.add(rec{kind: "open", open: e})
			if e.Connection == 2 {
				_ = c.Close() // from the callback: it drains, then closes, without waiting here
			}
		}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	p.Blackhole()
	for _, s := range []string{"a", "b", "c"} {
		if err := c.SendText(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	r.waitKind("close", 1, wait)
	p.Pass()
	awaitDone(t, c)
	if drops := r.of("drop"); len(drops) != 0 {
		t.Fatalf("drops: %v", drops)
	}
	received := srv.Received()
	if got := serverText(received[len(received)-1]); !equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("the last connection got %v", got)
	}
	if st := c.Stats(); st.Resent != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// What is unconfirmed when the client stops for good (here on a lost
// connection the policy will not retry) is reported, as there is no next
// connection, before the last OnClose.
func TestResendReportsWhatTheLastConnectionLeft(t *testing.T) {
	srv := newServer(t, resilientwstest.WithHandler(readOneAndDrop))
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithResend(3), WithHeartbeat(0, 0),
		WithReconnectPolicy(func(error) bool { return false }))
	if err := c.SendText(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
	awaitDone(t, c)
	drops := r.of("drop")
	if len(drops) != 1 || !errors.Is(drops[0].err, ErrUnconfirmed) || !strings.Contains(drops[0].err.Error(), "written once") {
		t.Fatalf("drops %v, want m reported unconfirmed, written once", drops)
	}
	var kinds []string
	for _, e := range r.all() {
		if e.kind == "drop" || e.kind == "close" {
			kinds = append(kinds, e.kind)
		}
	}
	if fmt.Sprint(kinds) != "[drop close]" {
		t.Fatalf("events %v, want the drop before the last close", kinds)
	}
}

// A drop report reads as one sentence with one prefix, whatever the cause
// chain behind it (here a 1008 that stops the client).
func TestDeliveryDropReportHasOnePrefix(t *testing.T) {
	srv := newServer(t, resilientwstest.WithHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		_ = c.Close(websocket.StatusPolicyViolation, "go away")
	}))
	for _, resend := range []int{0, 1} {
		r := newRecorder(t)
		c := r.newClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0), WithResend(resend))
		for _, s := range []string{"a", "b"} {
			if err := c.SendText(context.Background(), s); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		awaitDone(t, c)
		drops := r.of("drop")
		if len(drops) != 2 {
			t.Fatalf("WithResend(%d): drops %v, want a and b", resend, drops)
		}
		for _, d := range drops {
			if text := d.err.Error(); strings.Count(text, "resilientws:") != 1 || strings.Count(text, "1008") > 1 {
				t.Errorf("WithResend(%d): drop reason %q repeats itself", resend, text)
			}
			t.Logf("WithResend(%d): %s: %v", resend, d.msg.Data, d.err)
		}
	}
}

// A message sent WithoutQueue is useless late: WithResend never writes it
// again on a later connection, and reports it.
func TestResendLeavesWithoutQueueMessages(t *testing.T) {
	srv := newServer(t, resilientwstest.WithHandler(readOneAndDrop))
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithResend(3), WithHeartbeat(0, 0))
	r.waitKind("open", 1, wait)
	if err := c.SendText(context.Background(), "m", WithoutQueue()); err != nil {
		t.Fatal(err)
	}
	d := r.waitKind("drop", 1, wait)
	if !errors.Is(d.err, ErrUnconfirmed) || !strings.Contains(d.err.Error(), "WithoutQueue") {
		t.Fatalf("drop %v, want ErrUnconfirmed naming WithoutQueue", d.err)
	}
	r.waitKind("open", 2, wait)
	if err := c.SendText(context.Background(), "n"); err != nil {
		t.Fatal(err)
	}
	if got := serverText(waitReceived(t, srv, 2)); !equal(got, []string{"m", "n"}) {
		t.Fatalf("server got %v, want m once, then n", got)
	}
}

func TestUnconfirmedWindowDefaultsAndOption(t *testing.T) {
	for _, tc := range []struct {
		name             string
		opts             []Option
		wantMsgs, wantBy int
	}{
		{"default: the queue's limits", nil, DefaultQueueMessages, DefaultQueueBytes},
		{"WithResend", []Option{WithResend(1)}, DefaultResendWindowMessages, DefaultResendWindowBytes},
		{"WithResend, a smaller queue", []Option{WithResend(1), WithQueue(10, 1000, OverflowReject)}, 10, 1000},
		{"WithUnconfirmedWindow", []Option{WithResend(1), WithUnconfirmedWindow(16, 1<<14)}, 16, 1 << 14},
		{"WithUnconfirmedWindow alone", []Option{WithUnconfirmedWindow(2048, 1<<21)}, 2048, 1 << 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New("ws://127.0.0.1:1", tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if l := c.unconfirmed; l.maxMsgs != tc.wantMsgs || l.maxBytes != tc.wantBy {
				t.Fatalf("window %d messages, %d bytes; want %d, %d", l.maxMsgs, l.maxBytes, tc.wantMsgs, tc.wantBy)
			}
		})
	}
	for _, bad := range [][2]int{{0, 1}, {1, 0}, {-1, 5}} {
		if _, err := New("ws://127.0.0.1:1", WithUnconfirmedWindow(bad[0], bad[1])); err == nil || !strings.Contains(err.Error(), "WithUnconfirmedWindow") {
			t.Errorf("WithUnconfirmedWindow(%d, %d): New = %v, want an error naming it", bad[0], bad[1], err)
		}
	}
}

// The window bounds what is in flight, and so what a lost connection
// leaves to resend.
func TestUnconfirmedWindowBoundsWhatIsInFlight(t *testing.T) {
	srv := newServer(t, resilientwstest.WithHandler(readAll))
	srv.StopPongs() // nothing is confirmed: writing stops at the window
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithHeartbeat(0, 0), WithResend(1), WithUnconfirmedWindow(4, 1<<20))
	r.waitKind("open", 1, wait)
	for i := range 10 {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the window full", wait, func() bool { _, _, full := c.unconfirmed.pending(); return full })
	if n, _, _ := c.unconfirmed.pending(); n != 4 {
		t.Fatalf("%d unconfirmed, want the window's 4", n)
	}
	if st := c.Stats(); st.Queued != 6 {
		t.Fatalf("stats %+v, want 6 still queued", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Shutdown(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Shutdown = %v, want the 6 queued messages abandoned", err)
	}
}
