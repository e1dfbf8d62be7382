//go:build !js

package resilientws

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestQueueRejectWhenFull(t *testing.T) {
	r := newRecorder(t)
	c := r.newClient("ws://127.0.0.1:1/", WithQueue(3, 100, OverflowReject))
	for i := range 3 {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SendText(context.Background(), "3"); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Send on a full queue = %v, want ErrQueueFull", err)
	}
	if err := c.Send(context.Background(), Binary, make([]byte, 101)); !errors.Is(err, ErrMessageTooLarge) || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Send of a message over the byte limit = %v", err)
	}
	if err := c.Send(context.Background(), MessageType(9), nil); err == nil {
		t.Fatal("Send accepted an invalid message type")
	}
	if c.BufferedAmount() != 3 {
		t.Fatalf("BufferedAmount = %d", c.BufferedAmount())
	}
	// Close before Start: everything queued is reported, then Done closes.
	err := c.Close()
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "3 queued message(s) abandoned") {
		t.Fatalf("Close = %v, want 3 abandoned", err)
	}
	drops := r.of("drop")
	if len(drops) != 3 || string(drops[0].msg.Data) != "0" || !errors.Is(drops[2].err, ErrClosed) {
		t.Fatalf("drops %v", drops)
	}
	if c.Stats().Dropped != 3 || c.State() != StateClosed {
		t.Fatalf("stats %+v state %s", c.Stats(), c.State())
	}
}

func TestQueueDropOldest(t *testing.T) {
	r := newRecorder(t)
	c := r.newClient("ws://127.0.0.1:1/", WithQueue(3, 6, OverflowDropOldest))
	for _, s := range []string{"a", "b", "c", "d", "eeee"} {
		if err := c.SendText(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	// "d" evicted "a" (3 messages at most); "eeee" evicted "b" (6 bytes at
	// most: c, d and eeee fit).
	if got := c.BufferedAmount(); got != 6 {
		t.Fatalf("BufferedAmount = %d, want 6", got)
	}
	c.Close()
	var got []string
	for _, d := range r.of("drop") {
		got = append(got, string(d.msg.Data)+":"+map[bool]string{true: "full", false: "closed"}[errors.Is(d.err, ErrQueueFull)])
	}
	if want := "a:full b:full c:closed d:closed eeee:closed"; strings.Join(got, " ") != want {
		t.Fatalf("drops %v, want %s", got, want)
	}
}

func TestQueueBlockWaitsForRoomUntilCtx(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		c, err := New("ws://127.0.0.1:1/", WithQueue(1, 10, OverflowBlock))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SendText(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := c.SendText(ctx, "b"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("blocked Send = %v, want the ctx's deadline", err)
		}
		// Close wakes a blocked sender with ErrClosed.
		blocked := make(chan error, 1)
		go func() { blocked <- c.SendText(context.Background(), "c") }()
		waitUntil(t, "the sender to wait for room", wait, func() bool {
			c.queue.mu.Lock()
			defer c.queue.mu.Unlock()
			return c.queue.room.ch != nil
		})
		c.Close()
		if err := <-blocked; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Send after Close = %v", err)
		}
	})
}

func TestQueueFlushReportsDrops(t *testing.T) {
	c, err := New("ws://127.0.0.1:1/", fastBackoff())
	if err != nil {
		t.Fatal(err)
	}
	c.SendText(context.Background(), "x")
	res := make(chan error, 1)
	go func() { res <- c.Flush(context.Background()) }()
	waitUntil(t, "Flush to wait", wait, func() bool {
		c.queue.mu.Lock()
		defer c.queue.mu.Unlock()
		return len(c.queue.waiters) == 1
	})
	c.Close()
	if err := <-res; !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush = %v, want an error wrapping ErrClosed", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush with an empty queue = %v", err)
	}
}

func TestQueueFlushReportsAnExpiredMessage(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		c, err := New("ws://127.0.0.1:1/", fastBackoff())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SendText(context.Background(), "x", WithTTL(10*time.Millisecond))
		if err := c.Flush(context.Background()); !errors.Is(err, ErrExpired) {
			t.Fatalf("Flush = %v, want the expiry reported", err)
		}
	})
}

func TestQueueWithoutQueueAfterCloseIsErrClosed(t *testing.T) {
	c, _ := New("ws://127.0.0.1:1/")
	c.Close()
	if err := c.SendText(context.Background(), "x", WithoutQueue()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send = %v, want ErrClosed", err)
	}
}

func TestQueueTTLStatsNeverCountAnExpiredMessage(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := newRecorder(t)
		c := r.newClient("ws://127.0.0.1:1/")
		for _, s := range []string{"A", "B"} {
			if err := c.SendText(context.Background(), s, WithTTL(10*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.SendText(context.Background(), "C"); err != nil {
			t.Fatal(err)
		}
		expiry := time.Now().Add(10 * time.Millisecond)
		waitUntil(t, "the TTLs to pass", wait, func() bool { return time.Now().After(expiry) })
		st := c.Stats()
		if st.Queued != 1 || st.BufferedAmount != 1 || st.DroppedExpired != 2 || st.Dropped != 2 {
			t.Fatalf("after both TTLs: Queued=%d BufferedAmount=%d DroppedExpired=%d Dropped=%d, want 1, 1, 2, 2",
				st.Queued, st.BufferedAmount, st.DroppedExpired, st.Dropped)
		}
		if n := c.BufferedAmount(); n != 1 {
			t.Fatalf("BufferedAmount = %d, want 1", n)
		}
		c.Close()
		var got []string
		for _, d := range r.of("drop") {
			got = append(got, string(d.msg.Data)+":"+map[bool]string{true: "expired", false: "closed"}[errors.Is(d.err, ErrExpired)])
		}
		if want := "A:expired B:expired C:closed"; strings.Join(got, " ") != want {
			t.Fatalf("drops %v, want %s", got, want)
		}
	})
}

// One Stats snapshot is consistent with itself: a message is either queued
// or counted as dropped, never neither, whichever moment the snapshot hits.
func TestQueueTTLStatsSnapshotIsConsistent(t *testing.T) {
	c, err := New("ws://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 200
	for i := range n {
		if err := c.SendText(context.Background(), strconv.Itoa(i), WithTTL(time.Duration(1+i%20)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	for {
		st := c.Stats()
		if st.Queued+int(st.DroppedExpired) != n {
			t.Fatalf("snapshot: Queued=%d + DroppedExpired=%d != %d sent", st.Queued, st.DroppedExpired, n)
		}
		if st.Queued == 0 {
			return
		}
	}
}

func TestQueueTTLExpiresWhileNothingIsWritten(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := newRecorder(t)
		c := r.newClient("ws://127.0.0.1:1/", fastBackoff())
		if err := c.SendText(context.Background(), "soon stale", WithTTL(20*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if err := c.SendText(context.Background(), "kept"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		// Flush covers both: it ends on the ctx, but the TTL drop happens first.
		if err := c.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Flush = %v", err)
		}
		if st := c.Stats(); st.Queued != 1 || st.BufferedAmount != 4 || st.DroppedExpired != 1 {
			t.Fatalf("stats %+v: the expired message still counts", st)
		}
		if err := c.Close(); err == nil || !strings.Contains(err.Error(), "1 queued message(s) abandoned") {
			t.Fatalf("Close = %v", err)
		}
		var reasons []string
		for _, d := range r.of("drop") {
			reasons = append(reasons, string(d.msg.Data)+":"+map[bool]string{true: "expired", false: "closed"}[errors.Is(d.err, ErrExpired)])
		}
		if fmt.Sprint(reasons) != "[soon stale:expired kept:closed]" {
			t.Fatalf("drops %v", reasons)
		}
	})
}

// A started client's queue: written in order, across reconnects, within
// its limits.

func TestQueueBlockResumesWhenWritten(t *testing.T) {
	srv := newServer(t)
	c, err := New(srv.URL(), WithQueue(1, 10, OverflowBlock), fastBackoff())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := serverText(waitReceived(t, srv, 20)); !equal(got, numbered(20)) {
		t.Fatalf("server got %v", got)
	}
}

func TestQueueSendBeforeStartArrivesInOrder(t *testing.T) {
	srv := newServer(t)
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	for i := range 100 {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.BufferedAmount(); got != 190 {
		t.Fatalf("BufferedAmount before Start = %d, want 190", got)
	}
	if c.State() != StateConnecting {
		t.Fatalf("state before Start = %s", c.State())
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if c.BufferedAmount() != 0 {
		t.Fatalf("BufferedAmount after Flush = %d", c.BufferedAmount())
	}
	got := serverText(waitReceived(t, srv, 100))
	if !equal(got, numbered(100)) {
		t.Fatalf("server received %v", got)
	}
}

func TestQueueSurvivesAnOutageAndDeliversOnceInOrder(t *testing.T) {
	srv := newServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	c := r.startClient(p.URL("/"), fastBackoff(), WithHeartbeat(0, 0))
	r.waitKind("open", 1, wait)
	for i := range 10 {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitReceived(t, srv, 10)
	waitUntil(t, "the pong that confirms them", wait, func() bool { n, _, _ := c.unconfirmed.pending(); return n == 0 && c.unconfirmed.mark() > 0 })

	p.Refuse()   // new dials are refused...
	p.ResetAll() // ...and live connections drop
	r.waitKind("close", 1, wait)
	r.waitKind("error", 2, wait) // the lost connection, then at least one refused dial
	if c.State() != StateConnecting {
		t.Fatalf("state during the outage = %s", c.State())
	}
	for i := 10; i < 50; i++ {
		if err := c.SendText(context.Background(), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if c.Stats().Queued != 40 {
		t.Fatalf("queued during the outage = %d, want 40", c.Stats().Queued)
	}
	if err := p.Recover(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 2, wait)
	got := serverText(waitReceived(t, srv, 50))
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !equal(got, numbered(50)) {
		t.Fatalf("server received %v, want 0..49 once each, in order", got)
	}
	if st := c.Stats(); st.Connects != 2 || st.Reconnects != 1 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	cl := r.of("close")[0].close
	if !cl.Reconnect || cl.Code != websocket.StatusAbnormalClosure || cl.Err == nil {
		t.Fatalf("close event %+v, want 1006 with reconnect", cl)
	}
}

func TestQueueBlockingSendFromACallbackFailsFast(t *testing.T) {
	srv := newServer(t)
	res := make(chan error, 1)
	var c *Client
	c, err := New(srv.URL(), fastBackoff(), WithQueue(1, 1<<20, OverflowBlock),
		OnOpen(func(OpenEvent) {
			// The queue drains only after OnOpen returns: waiting here would
			// never end.
			c.SendText(context.Background(), "a")
			res <- c.SendText(context.Background(), "b")
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Start()
	select {
	case err := <-res:
		if !errors.Is(err, ErrQueueFull) || !errors.Is(err, ErrInCallback) {
			t.Fatalf("Send = %v, want ErrQueueFull and ErrInCallback", err)
		}
	case <-time.After(wait):
		t.Fatal("Send blocked inside a callback")
	}
}

func TestQueueSendTTLAndWithoutQueue(t *testing.T) {
	srv := newServer(t)
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	if err := c.SendText(context.Background(), "now or never", WithoutQueue()); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("WithoutQueue before Start = %v", err)
	}
	if err := c.SendText(context.Background(), "stale", WithTTL(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendText(context.Background(), "fresh", WithTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendText(context.Background(), "x", WithTTL(-1)); err == nil {
		t.Fatal("a negative TTL was accepted")
	}
	if err := c.SendText(context.Background(), "x", nil); err == nil {
		t.Fatal("a nil send option was accepted")
	}
	expiry := time.Now().Add(time.Millisecond)
	waitUntil(t, "the TTL to pass", wait, func() bool { return time.Now().After(expiry) })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := serverText(waitReceived(t, srv, 1)); !equal(got, []string{"fresh"}) {
		t.Fatalf("server got %v", got)
	}
	d := r.waitKind("drop", 1, wait)
	if string(d.msg.Data) != "stale" || !errors.Is(d.err, ErrExpired) {
		t.Fatalf("drop %v", d)
	}
	if err := c.SendText(context.Background(), "live", WithoutQueue()); err != nil {
		t.Fatalf("WithoutQueue while OPEN = %v", err)
	}
	waitReceived(t, srv, 2)
	if st := c.Stats(); st.DroppedExpired != 1 || st.Dropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Expired messages never reach the socket, however many expire together and
// wherever they sit; each is reported once, oldest first, and Stats stops
// counting them as soon as any call notices.
func TestQueueTTLExpiredMessagesAreNeverWrittenAndReportedInOrder(t *testing.T) {
	srv := newServer(t)
	release := make(chan struct{})
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(), WithDialHook(func(ctx context.Context, attempt int) (string, http.Header, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return "", nil, nil
	}))
	for _, s := range []string{"A", "B"} {
		if err := c.SendText(context.Background(), s, WithTTL(20*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SendText(context.Background(), "C"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	expiry := time.Now().Add(20 * time.Millisecond)
	waitUntil(t, "the TTLs to pass", wait, func() bool { return time.Now().After(expiry) })
	close(release)
	if got := serverText(waitReceived(t, srv, 1)); !equal(got, []string{"C"}) {
		t.Fatalf("server got %v, want only C", got)
	}
	r.waitKind("drop", 2, wait)
	var got []string
	for _, d := range r.of("drop") {
		if !errors.Is(d.err, ErrExpired) {
			t.Fatalf("drop of %q: %v, want ErrExpired", d.msg.Data, d.err)
		}
		got = append(got, string(d.msg.Data))
	}
	if !equal(got, []string{"A", "B"}) {
		t.Fatalf("expired drops %v, want [A B]", got)
	}
	if got := serverText(srv.Messages()); !equal(got, []string{"C"}) {
		t.Fatalf("server got %v, want only C", got)
	}
}

func TestQueueDropOldestNeverDropsTheMessageBeingWritten(t *testing.T) {
	srv := newServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	c := r.startClient(p.URL("/"), fastBackoff(), WithHeartbeat(0, 0), WithQueue(1, 32<<20, OverflowDropOldest))
	r.waitKind("open", 1, wait)
	p.Stall()
	big := make([]byte, 16<<20) // stuck in the write: more than the socket buffers hold
	c.Send(context.Background(), Binary, big)
	waitUntil(t, "the big message in flight", wait, func() bool {
		c.queue.mu.Lock()
		defer c.queue.mu.Unlock()
		return c.queue.inFlight > 0
	})
	c.SendText(context.Background(), "a") // fits: the message in flight does not count
	c.SendText(context.Background(), "b") // evicts "a", not the message in flight
	if got := c.BufferedAmount(); got != len(big)+1 {
		t.Fatalf("BufferedAmount = %d, want the in-flight message plus one byte", got)
	}
	drops := r.waitKind("drop", 1, wait)
	if string(drops.msg.Data) != "a" || !errors.Is(drops.err, ErrQueueFull) {
		t.Fatalf("dropped %q (%v), want \"a\"", drops.msg.Data, drops.err)
	}
	p.Pass()
}

// A sender that never has more than the queue's limits outstanding (sent
// and not yet answered by the server) never gets ErrQueueFull on a healthy
// connection: a message handed to the socket no longer counts.
func TestQueueLimitsCountOnlyWhatIsNotYetWritten(t *testing.T) {
	srv := newServer(t)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		for { // a short answer to each message, as soon as it is read
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
			if err := c.Write(ctx, websocket.MessageText, []byte("ok")); err != nil {
				return
			}
		}
	})
	const (
		window = 64
		size   = 1 << 10
		total  = 10000
	)
	answers := make(chan struct{}, total)
	c, err := New(srv.URL(), fastBackoff(), WithQueue(DefaultQueueMessages, window*size, OverflowReject),
		OnMessage(func(Message) { answers <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, size)
	for sent := 0; sent < total; sent++ {
		if sent >= window {
			select {
			case <-answers:
			case <-time.After(wait):
				t.Fatalf("no answer after %d messages", sent)
			}
		}
		if err := c.Send(context.Background(), Binary, payload); err != nil {
			t.Fatalf("Send %d with at most %d outstanding: %v", sent, window, err)
		}
	}
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// dropOldestLoad is many more 4 KiB messages than the default queue (1 MiB)
// holds.
const (
	dropOldestSize  = 4 << 10
	dropOldestSends = 20000
	heapBound       = 8 << 20 // well under dropOldestSends*dropOldestSize (80 MB)
)

// Without OnDrop, nothing is kept for it: the evicted messages are only
// counted, before and after Start.
func TestQueueDropOldestWithoutOnDropKeepsNothing(t *testing.T) {
	c, err := New("ws://127.0.0.1:1/", WithQueue(DefaultQueueMessages, DefaultQueueBytes, OverflowDropOldest))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, dropOldestSize)
	before := liveHeap()
	for range dropOldestSends {
		if err := c.Send(context.Background(), Binary, payload); err != nil {
			t.Fatal(err)
		}
	}
	grew := int64(liveHeap()) - int64(before)
	if grew > heapBound {
		t.Fatalf("live heap grew by %d bytes for a %d-byte queue", grew, DefaultQueueBytes)
	}
	t.Logf("live heap grew by %d bytes", grew)
	queued := DefaultQueueBytes / dropOldestSize
	if st := c.Stats(); st.Queued != queued || st.DroppedQueueFull != uint64(dropOldestSends-queued) {
		t.Fatalf("Queued=%d DroppedQueueFull=%d, want %d and %d", st.Queued, st.DroppedQueueFull, queued, dropOldestSends-queued)
	}
}

// With OnDrop, every evicted message is reported with its own data, so the
// reports waiting for OnDrop are bounded by flow control: before Start,
// where no report can be taken, Send fails once they exceed the queue's
// limits.
func TestQueueDropOldestBeforeStartRefusesPastTheReportBound(t *testing.T) {
	r := newRecorder(t)
	c := r.newClient("ws://127.0.0.1:1/", WithQueue(DefaultQueueMessages, DefaultQueueBytes, OverflowDropOldest),
		WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }))
	before := liveHeap()
	sent := 0
	var sendErr error
	for ; sent < dropOldestSends; sent++ {
		payload := binary.BigEndian.AppendUint32(make([]byte, 0, dropOldestSize), uint32(sent))
		if sendErr = c.Send(context.Background(), Binary, payload[:dropOldestSize]); sendErr != nil {
			break
		}
	}
	if !errors.Is(sendErr, ErrQueueFull) || !strings.Contains(sendErr.Error(), "Start") {
		t.Fatalf("after %d sends: %v, want ErrQueueFull saying why (before Start)", sent, sendErr)
	}
	grew := int64(liveHeap()) - int64(before)
	if grew > heapBound {
		t.Fatalf("live heap grew by %d bytes for a %d-byte queue", grew, DefaultQueueBytes)
	}
	t.Logf("live heap grew by %d bytes", grew)
	if limit := 2*DefaultQueueBytes/dropOldestSize + 1; sent > limit {
		t.Fatalf("%d sends accepted before Start, want at most %d", sent, limit)
	}
	// Once started, the reports flow and every message is accounted for,
	// each reported once with its own data, in Send order.
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	drops := r.of("drop")
	if len(drops) != sent {
		t.Fatalf("%d drops reported for %d messages sent", len(drops), sent)
	}
	for i, d := range drops {
		if n := binary.BigEndian.Uint32(d.msg.Data); n != uint32(i) {
			t.Fatalf("drop %d carries message %d", i, n)
		}
	}
}

// After Start, a slow OnDrop makes Send wait (within its ctx) rather than
// let the reports pile up.
func TestQueueDropOldestSlowOnDropMakesSendWait(t *testing.T) {
	release := make(chan struct{})
	var reported atomic.Int64
	c, err := New("ws://127.0.0.1:1/", WithQueue(DefaultQueueMessages, DefaultQueueBytes, OverflowDropOldest),
		WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }),
		OnDrop(func(Message, error) {
			<-release
			reported.Add(1)
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, dropOldestSize)
	before := liveHeap()
	sent := 0
	for ; sent < dropOldestSends; sent++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := c.Send(ctx, Binary, payload)
		cancel()
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send %d: %v, want it to wait until its ctx ends", sent, err)
			}
			break
		}
	}
	grew := int64(liveHeap()) - int64(before)
	if grew > heapBound {
		t.Fatalf("live heap grew by %d bytes for a %d-byte queue", grew, DefaultQueueBytes)
	}
	t.Logf("live heap grew by %d bytes", grew)
	if limit := 2*DefaultQueueBytes/dropOldestSize + 1; sent > limit {
		t.Fatalf("%d sends accepted while OnDrop was blocked, want at most %d", sent, limit)
	}
	close(release)
	c.Close()
	if got := reported.Load(); got != int64(sent) {
		t.Fatalf("%d drops reported for %d messages sent", got, sent)
	}
}

// Inside a callback, where the reports cannot be taken while it waits, a
// Send past the bound fails at once.
func TestQueueDropOldestInCallbackFailsFast(t *testing.T) {
	got := make(chan error, 1)
	var c *Client
	c, err := New("ws://127.0.0.1:1/", WithQueue(2, 100, OverflowDropOldest),
		WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }),
		OnError(func(error) {
			for {
				if err := c.SendText(context.Background(), "x"); err != nil {
					got <- err
					return
				}
			}
		}),
		OnDrop(func(Message, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil { // the dial fails: OnError runs
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, ErrQueueFull) || !errors.Is(err, ErrInCallback) {
			t.Fatalf("Send in a callback past the report bound: %v, want ErrQueueFull and ErrInCallback", err)
		}
		if n := strings.Count(err.Error(), "resilientws:"); n != 1 {
			t.Fatalf("%q has %d prefixes, want 1", err, n)
		}
	case <-time.After(wait):
		t.Fatal("Send in a callback never failed")
	}
}

// The dial hook runs on the supervisor, which a callback may be waiting
// for (OnDrop calling Close): a Send there past the report bound fails fast
// too, instead of waiting for OnDrop.
func TestQueueDropOldestInTheDialHookFailsFast(t *testing.T) {
	release := make(chan struct{})
	got := make(chan error, 1)
	var once sync.Once
	var c *Client
	c, err := New("ws://127.0.0.1:1/", WithQueue(2, 100, OverflowDropOldest),
		WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }),
		WithDialHook(func(context.Context, int) (string, http.Header, error) {
			once.Do(func() {
				for {
					if err := c.SendText(context.Background(), "x"); err != nil {
						got <- err
						return
					}
				}
			})
			return "", nil, nil
		}),
		OnDrop(func(Message, error) { <-release }))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-got:
	case <-time.After(wait):
		close(release)
		t.Fatal("Send in the dial hook waited for OnDrop")
	}
	close(release)
	c.Close()
	if !errors.Is(err, ErrQueueFull) || !errors.Is(err, ErrInCallback) {
		t.Fatalf("Send in the dial hook past the report bound: %v, want ErrQueueFull and ErrInCallback", err)
	}
}

// A Send waiting for room (OverflowBlock) gets the room of a message that
// expires meanwhile, though nothing else touches the queue.
func TestQueueBlockedSendGetsTheRoomOfAnExpiredMessage(t *testing.T) {
	c, err := New("ws://127.0.0.1:1/", WithQueue(1, 1<<20, OverflowBlock))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendText(context.Background(), "stale soon", WithTTL(20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.SendText(ctx, "next"); err != nil {
		t.Fatalf("blocked Send = %v, want the expired message's room", err)
	}
	if st := c.Stats(); st.DroppedExpired != 1 || st.Queued != 1 {
		t.Fatalf("Stats %+v, want one expired and one queued", st)
	}
}

// The message being written cannot expire any more: it sets no expiry that
// Flush would wake for (in vain, again and again, until the write ends).
func TestQueueNextExpirySkipsTheMessageInFlight(t *testing.T) {
	q := newSendQueue(4, 1<<20, OverflowReject, func(Message, error) {})
	if err := q.push(context.Background(), queued{msg: Message{Type: Text, Data: []byte("a")}, expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := q.nextExpiry(); !ok {
		t.Fatal("a queued message with a TTL has no expiry")
	}
	if _, ok := q.peek(); !ok {
		t.Fatal("peek found nothing")
	}
	if next, ok := q.nextExpiry(); ok {
		t.Fatalf("the message in flight still sets an expiry (%s)", next)
	}
}
