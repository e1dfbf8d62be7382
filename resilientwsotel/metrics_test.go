package resilientwsotel_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/resilientws/resilientws"
	"github.com/resilientws/resilientws/resilientwsotel"
	"github.com/resilientws/resilientws/resilientwstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds how long a broken test waits for an event.
const wait = 10 * time.Second

// collect reads every metric from reader.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != resilientwsotel.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// byKey sums an integer instrument's points by the value of key ("" for
// all of them), and checks every point's server attributes.
func byKey(t *testing.T, ms map[string]metricdata.Metrics, name string, key attribute.Key, wantAttrs attribute.Set) map[string]int64 {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	var points []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		points = d.DataPoints
	case metricdata.Gauge[int64]:
		points = d.DataPoints
	default:
		t.Fatalf("%s: unexpected data %T", name, m.Data)
	}
	out := map[string]int64{}
	for _, p := range points {
		checkAttrs(t, name, p.Attributes, wantAttrs)
		v, _ := p.Attributes.Value(key)
		out[v.Emit()] += p.Value
	}
	return out
}

// histogram returns a histogram's count and sum by the value of key.
func histogram(t *testing.T, ms map[string]metricdata.Metrics, name string, key attribute.Key, wantAttrs attribute.Set) (map[string]uint64, map[string]float64) {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s: unexpected data %T", name, m.Data)
	}
	counts, sums := map[string]uint64{}, map[string]float64{}
	for _, p := range h.DataPoints {
		checkAttrs(t, name, p.Attributes, wantAttrs)
		v, _ := p.Attributes.Value(key)
		counts[v.Emit()] += p.Count
		sums[v.Emit()] += p.Sum
	}
	return counts, sums
}

// checkAttrs checks that got holds every attribute of want.
func checkAttrs(t *testing.T, name string, got, want attribute.Set) {
	t.Helper()
	for _, kv := range want.ToSlice() {
		if v, ok := got.Value(kv.Key); !ok || v != kv.Value {
			t.Errorf("%s: attributes %v lack %s=%s", name, got.ToSlice(), kv.Key, kv.Value.Emit())
		}
	}
	for _, kv := range got.ToSlice() {
		if s := kv.Value.Emit(); kv.Key == "url.full" || len(s) > 40 {
			t.Errorf("%s: unbounded attribute %s=%q", name, kv.Key, s)
		}
	}
}

// observed is what the user's own handlers saw, next to the instrumentation.
type observed struct {
	mu       sync.Mutex
	opens    int
	closes   map[string]int // by close code
	uptime   float64        // seconds, summed
	dials    int
	failures map[string]int // by error.type
	beats    int
	rtt      float64 // seconds, summed
	drops    map[string]int
	received int

	opened, failed, beat, echoed, errored chan struct{}
}

func newObserved() *observed {
	return &observed{
		closes: map[string]int{}, failures: map[string]int{}, drops: map[string]int{},
		opened: make(chan struct{}, 100), failed: make(chan struct{}, 100), beat: make(chan struct{}, 1),
		echoed: make(chan struct{}, 100), errored: make(chan struct{}, 100),
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (o *observed) options() []resilientws.Option {
	return []resilientws.Option{
		resilientws.OnOpen(func(resilientws.OpenEvent) {
			o.mu.Lock()
			o.opens++
			o.mu.Unlock()
			signal(o.opened)
		}),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			o.mu.Lock()
			o.closes[strconv.Itoa(int(e.Code))]++
			o.uptime += e.Uptime.Seconds()
			o.mu.Unlock()
		}),
		resilientws.OnDial(func(e resilientws.DialEvent) {
			o.mu.Lock()
			o.dials++
			if e.Err != nil {
				o.failures[resilientwsotel.ErrorType(e.Err)]++
			}
			o.mu.Unlock()
			if e.Err != nil {
				signal(o.failed)
			}
		}),
		resilientws.OnHeartbeat(func(e resilientws.HeartbeatEvent) {
			o.mu.Lock()
			o.beats++
			o.rtt += e.RTT.Seconds()
			o.mu.Unlock()
			signal(o.beat)
		}),
		resilientws.OnDrop(func(_ resilientws.Message, err error) {
			reason := resilientwsotel.ReasonClosed
			switch {
			case errors.Is(err, resilientws.ErrQueueFull):
				reason = resilientwsotel.ReasonQueueFull
			case errors.Is(err, resilientws.ErrExpired):
				reason = resilientwsotel.ReasonExpired
			case errors.Is(err, resilientws.ErrUnconfirmed):
				reason = resilientwsotel.ReasonUnconfirmed
			}
			o.mu.Lock()
			o.drops[reason]++
			o.mu.Unlock()
		}),
		resilientws.OnMessage(func(resilientws.Message) {
			o.mu.Lock()
			o.received++
			o.mu.Unlock()
			signal(o.echoed)
		}),
		resilientws.OnError(func(err error) {
			if errors.Is(err, resilientws.ErrHeartbeatTimeout) {
				signal(o.errored)
			}
		}),
	}
}

func await(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// waitUntil polls cond every millisecond until it holds, for a counter no
// event announces; it fails the test after wait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// drain empties a signal channel, so that the next await waits for a new
// event.
func drain(ch chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// After a scripted run of faults (a kill, refused upgrades, a silent peer,
// messages that expire and messages abandoned at Close), every instrument
// equals what the user's own handlers saw and what Stats says; and the
// user's handlers all ran next to the instrumentation.
func TestMetricsAgreeWithStatsAfterFaults(t *testing.T) {
	srv := resilientwstest.NewServer()
	defer srv.Close()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	// The URL carries a path and a token: neither may become an attribute.
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	wantAttrs := attribute.NewSet(
		attribute.String("server.address", "127.0.0.1"),
		attribute.Int("server.port", port),
		attribute.String("feed", "test"),
	)
	o := newObserved()
	opts := append(o.options(),
		resilientwsotel.Instrument(resilientwsotel.WithMeterProvider(provider), resilientwsotel.WithAttributes(attribute.String("feed", "test"))),
		resilientws.WithHeartbeat(20*time.Millisecond, 200*time.Millisecond),
		resilientws.WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(5 * time.Millisecond) }),
	)
	c, err := resilientws.New(srv.URL()+"/feed?token=secret", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Connection 1: three echoes and a heartbeat.
	await(t, o.opened, "the first open")
	if active := byKey(t, collect(t, reader), resilientwsotel.ActiveConnections, "", wantAttrs)[""]; active != 1 {
		t.Errorf("connections.active = %d while open, want 1", active)
	}
	for i := range 3 {
		if err := c.SendText(ctx, fmt.Sprintf("message %d", i)); err != nil {
			t.Fatal(err)
		}
		await(t, o.echoed, "an echo")
	}
	await(t, o.beat, "a heartbeat round trip")

	// A kill: connection 2.
	srv.DropAll()
	await(t, o.opened, "the reopen after a kill")

	// Refused upgrades, while messages wait: some expire, the rest wait.
	srv.Refuse(http.StatusServiceUnavailable, "")
	srv.DropAll()
	await(t, o.failed, "a refused dial")
	for i := range 2 {
		if err := c.SendText(ctx, fmt.Sprintf("short-lived %d", i), resilientws.WithTTL(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the TTL messages to expire", func() bool { return c.Stats().DroppedExpired == 2 }) // Stats expires what is due
	if err := c.SendText(ctx, "waits"); err != nil {
		t.Fatal(err)
	}
	ms := collect(t, reader)
	st := c.Stats()
	if q := byKey(t, ms, resilientwsotel.QueueMessages, "", wantAttrs)[""]; q != int64(st.Queued) || q != 1 {
		t.Errorf("queue.messages = %d while refused; Stats.Queued = %d; want 1", q, st.Queued)
	}
	if b := byKey(t, ms, resilientwsotel.QueueBytes, "", wantAttrs)[""]; b != int64(st.BufferedAmount) || b != int64(len("waits")) {
		t.Errorf("queue.bytes = %d; Stats.BufferedAmount = %d", b, st.BufferedAmount)
	}
	if active := byKey(t, ms, resilientwsotel.ActiveConnections, "", wantAttrs)[""]; active != 0 {
		t.Errorf("connections.active = %d while refused, want 0", active)
	}
	drain(o.opened)
	srv.Accept()
	await(t, o.opened, "the open after the refusals")
	await(t, o.echoed, "the queued message's echo")

	// A silent peer: the heartbeat replaces it.
	drain(o.beat)
	srv.StopPongs()
	await(t, o.errored, "a heartbeat timeout")
	srv.ResumePongs()
	await(t, o.opened, "the open after the silent peer")
	await(t, o.beat, "a heartbeat round trip on the new connection")

	// Messages abandoned at Close: refused again, two wait, Close drops them.
	srv.Refuse(http.StatusServiceUnavailable, "")
	drain(o.failed)
	srv.DropAll()
	await(t, o.failed, "a refused dial")
	for i := range 2 {
		if err := c.SendText(ctx, fmt.Sprintf("abandoned %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); !errors.Is(err, resilientws.ErrClosed) {
		t.Fatalf("Close: %v, want the abandoned messages reported", err)
	}

	// Everything is delivered: every instrument equals Stats and what the
	// handlers saw.
	st = c.Stats()
	ms = collect(t, reader)
	o.mu.Lock()
	defer o.mu.Unlock()
	checkInt := func(name string, got, stats int64, seen int) {
		t.Helper()
		if got != stats || (seen >= 0 && got != int64(seen)) {
			t.Errorf("%s = %d; Stats %d; handlers saw %d", name, got, stats, seen)
		}
	}
	checkInt(resilientwsotel.ActiveConnections, byKey(t, ms, resilientwsotel.ActiveConnections, "", wantAttrs)[""], 0, o.opens-sumInts(o.closes))
	attempts := byKey(t, ms, resilientwsotel.ConnectionAttempts, resilientwsotel.ErrorTypeKey, wantAttrs)
	checkInt("attempts (all)", sumInt64(attempts), int64(st.Connects+st.DialFailures), o.dials)
	checkInt("attempts (ok)", attempts[""], int64(st.Connects), o.opens)
	checkInt("attempts (503)", attempts["503"], int64(st.DialFailures), o.failures["503"])
	if len(attempts) != 2 {
		t.Errorf("attempts by error.type: %v, want ok and 503 only", attempts)
	}
	checkInt(resilientwsotel.Reconnects, byKey(t, ms, resilientwsotel.Reconnects, "", wantAttrs)[""], int64(st.Reconnects), o.opens-1)
	checkInt(resilientwsotel.MessagesSent, byKey(t, ms, resilientwsotel.MessagesSent, "", wantAttrs)[""], int64(st.MessagesSent), -1)
	checkInt(resilientwsotel.MessagesReceived, byKey(t, ms, resilientwsotel.MessagesReceived, "", wantAttrs)[""], int64(st.MessagesReceived), o.received)
	io := byKey(t, ms, resilientwsotel.IO, resilientwsotel.DirectionKey, wantAttrs)
	checkInt("io transmit", io["transmit"], int64(st.BytesSent), -1)
	checkInt("io receive", io["receive"], int64(st.BytesReceived), -1)
	dropped := byKey(t, ms, resilientwsotel.MessagesDropped, resilientwsotel.ReasonKey, wantAttrs)
	checkInt("dropped queue_full", dropped["queue_full"], int64(st.DroppedQueueFull), o.drops["queue_full"])
	checkInt("dropped expired", dropped["expired"], int64(st.DroppedExpired), o.drops["expired"])
	checkInt("dropped unconfirmed", dropped["unconfirmed"], int64(st.DroppedUnconfirmed), o.drops["unconfirmed"])
	checkInt("dropped closed", dropped["closed"], int64(st.DroppedClosed), o.drops["closed"])
	if dropped["expired"] != 2 || dropped["closed"] != 2 {
		t.Errorf("dropped %v, want 2 expired and 2 closed", dropped)
	}
	checkInt(resilientwsotel.QueueMessages, byKey(t, ms, resilientwsotel.QueueMessages, "", wantAttrs)[""], int64(st.Queued), 0)
	checkInt(resilientwsotel.QueueBytes, byKey(t, ms, resilientwsotel.QueueBytes, "", wantAttrs)[""], int64(st.BufferedAmount), 0)

	counts, sums := histogram(t, ms, resilientwsotel.ConnectionDuration, resilientwsotel.CloseCodeKey, wantAttrs)
	for code, n := range o.closes {
		if counts[code] != uint64(n) {
			t.Errorf("connection.duration count for code %s = %d, handlers saw %d (all: %v)", code, counts[code], n, counts)
		}
	}
	if len(counts) != len(o.closes) || counts["1006"] < 3 {
		t.Errorf("connection.duration counts %v, handlers saw %v; want three 1006 at least (the kill, the silent peer, the drops before refusals)", counts, o.closes)
	}
	if total := sumFloats(sums); math.Abs(total-o.uptime) > 1e-6 {
		t.Errorf("connection.duration sum %g, handlers saw %g", total, o.uptime)
	}
	rttCounts, rttSums := histogram(t, ms, resilientwsotel.HeartbeatRTT, "", wantAttrs)
	if rttCounts[""] != uint64(o.beats) || o.beats < 2 || math.Abs(rttSums[""]-o.rtt) > 1e-6 {
		t.Errorf("heartbeat.rtt count %d sum %g; handlers saw %d, %g", rttCounts[""], rttSums[""], o.beats, o.rtt)
	}
	checkInt(resilientwsotel.MessagesResent, byKey(t, ms, resilientwsotel.MessagesResent, "", wantAttrs)[""], int64(st.Resent), 0)
	if len(ms) != 12 {
		t.Errorf("%d instruments reported, want 12", len(ms))
	}
}

func sumInts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sumInt64(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func sumFloats(m map[string]float64) float64 {
	var n float64
	for _, v := range m {
		n += v
	}
	return n
}

// Clients instrumented on one MeterProvider add up into one series, and a
// client that stops keeps its counts in it.
func TestSharedMetricsAddUp(t *testing.T) {
	srv := resilientwstest.NewServer()
	defer srv.Close()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	var clients []*resilientws.Client
	for range 2 {
		got := make(chan struct{}, 1)
		c, err := resilientws.New(srv.URL(), resilientwsotel.Instrument(resilientwsotel.WithMeterProvider(provider)), resilientws.WithHeartbeat(0, 0),
			resilientws.OnMessage(func(resilientws.Message) { signal(got) }))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if err := c.SendText(context.Background(), "hello"); err != nil {
			t.Fatal(err)
		}
		await(t, got, "an echo")
		// The echo may come back before the writer has counted the write.
		waitUntil(t, "the write to be counted", func() bool { return c.Stats().MessagesSent == 1 })
		clients = append(clients, c)
	}
	sent := func() int64 {
		return byKey(t, collect(t, reader), resilientwsotel.MessagesSent, "", attribute.NewSet())[""]
	}
	if n := sent(); n != 2 {
		t.Errorf("messages.sent = %d for two clients, want 2", n)
	}
	if err := clients[0].Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first collection retires the stopped client, the second reads what it kept
		if n := sent(); n != 2 {
			t.Errorf("messages.sent = %d once a client stopped, want 2", n)
		}
	}
}

func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&resilientws.HandshakeError{StatusCode: 503}, "503"},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), "timeout"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "connection_refused"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "connection_reset"},
		{&net.DNSError{Err: "no such host", Name: "nowhere.invalid"}, "dns"},
		{fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), "tls"},
		{fmt.Errorf("handshake: %w", io.EOF), "eof"},
		{errors.New("something"), resilientwsotel.OtherErrorType},
	} {
		if got := resilientwsotel.ErrorType(tc.err); got != tc.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
