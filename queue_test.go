//go:build !js

package resilientws

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
)

// An unstarted client's queue: nothing writes it, so its limits are easy to
// observe.

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
		return c.queue.room.waiting()
	})
	c.Close()
	if err := <-blocked; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Send after Close = %v", err)
	}
}

func TestQueueBlockResumesWhenWritten(t *testing.T) {
	srv := newTestServer(t)
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
	if got := serverText(srv.WaitReceived(20, wait)); !equal(got, numbered(20)) {
		t.Fatalf("server got %v", got)
	}
}

func TestFlushReportsDrops(t *testing.T) {
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

func TestOpenEventSendGoesAheadOfTheQueue(t *testing.T) {
	srv := newTestServer(t)
	var sendErr error
	c, err := New(srv.URL(), fastBackoff(), OnOpen(func(e OpenEvent) {
		sendErr = e.Send(context.Background(), Text, []byte("auth "+strconv.Itoa(e.Connection)))
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SendText(context.Background(), "queued 1")
	c.SendText(context.Background(), "queued 2")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	got := serverText(srv.WaitReceived(3, wait))
	if want := []string{"auth 1", "queued 1", "queued 2"}; !equal(got, want) {
		t.Fatalf("server got %v, want %v", got, want)
	}
	if err := c.Close(); err != nil || sendErr != nil {
		t.Fatalf("Close %v, OpenEvent.Send %v", err, sendErr)
	}
}

func TestShutdownDrainsTheQueueThenCloses1000(t *testing.T) {
	srv := newTestServer(t)
	closed := make(chan websocket.StatusCode, 1)
	srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				closed <- websocket.CloseStatus(err)
				return
			}
			srv.record(Message{Type: Text, Data: data})
		}
	})
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	for i := range 200 {
		c.SendText(context.Background(), strconv.Itoa(i))
	}
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := serverText(srv.Received()); !equal(got, numbered(200)) {
		t.Fatalf("server got %d messages before the close", len(got))
	}
	if code := <-closed; code != websocket.StatusNormalClosure {
		t.Fatalf("server saw close %d, want 1000", code)
	}
}

func TestCloseOnAStalledLinkAbandonsAndReports(t *testing.T) {
	srv := newTestServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	c := r.newClient(p.URL("/"), fastBackoff(), WithHeartbeat(0, 0), WithQueue(10, 64<<20, OverflowReject))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	p.Stall()
	big := make([]byte, 8<<20) // more than the socket buffers hold
	for range 3 {
		if err := c.Send(context.Background(), Binary, big); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Shutdown(ctx)
	took := time.Since(start)
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("Shutdown = %v, want abandoned messages", err)
	}
	if took > 5*time.Second {
		t.Fatalf("Shutdown took %s on a stalled link", took)
	}
	drops := r.of("drop")
	if len(drops) == 0 || !errors.Is(drops[0].err, ErrClosed) {
		t.Fatalf("drops %v", drops)
	}
	if cl := r.of("close"); len(cl) != 1 || cl[0].close.Reconnect {
		t.Fatalf("close events %v", cl)
	}
	t.Logf("Shutdown on a stalled link took %s, abandoned %d", took, len(drops))
}

func TestDropOldestNeverDropsTheMessageBeingWritten(t *testing.T) {
	srv := newTestServer(t)
	p := newFaultProxy(t, srv.Addr())
	r := newRecorder(t)
	c := r.newClient(p.URL("/"), fastBackoff(), WithHeartbeat(0, 0), WithQueue(1, 32<<20, OverflowDropOldest))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	p.Stall()
	big := make([]byte, 16<<20) // stuck in the write: more than the socket buffers hold
	c.Send(context.Background(), Binary, big)
	waitUntil(t, "the big message in flight", wait, func() bool {
		c.queue.mu.Lock()
		defer c.queue.mu.Unlock()
		return c.queue.inFlight
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

// Expired messages never reach the socket, however many expire together and
// wherever they sit; each is reported once, oldest first, and Stats stops
// counting them as soon as any call notices.
func TestTTLExpiredMessagesAreNeverWrittenAndReportedInOrder(t *testing.T) {
	srv := newTestServer(t)
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
	if got := serverText(srv.WaitReceived(1, wait)); !equal(got, []string{"C"}) {
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
	if got := serverText(srv.Received()); !equal(got, []string{"C"}) {
		t.Fatalf("server got %v, want only C", got)
	}
}

func TestTTLStatsNeverCountAnExpiredMessage(t *testing.T) {
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
}

// One Stats snapshot is consistent with itself: a message is either queued
// or counted as dropped, never neither, whichever moment the snapshot hits.
func TestTTLStatsSnapshotIsConsistent(t *testing.T) {
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

// A sender that never has more than the queue's limits outstanding (sent
// and not yet answered by the server) never gets ErrQueueFull on a healthy
// connection: a message handed to the socket no longer counts.
func TestQueueLimitsCountOnlyWhatIsNotYetWritten(t *testing.T) {
	srv := newTestServer(t)
	srv.SetHandler(func(ctx context.Context, c *websocket.Conn, _ int) {
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
	case <-time.After(wait):
		t.Fatal("Send in a callback never failed")
	}
}
