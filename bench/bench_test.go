package main

// Allocations and time per message on the send path and on the receive path
// of one client, raw coder/websocket against resilientws. The server runs in
// a child process (this test binary re-executed), so allocs/op counts the
// client alone.
//
//	go test -run '^$' -bench . -benchmem -count 10
//	go test -run '^$' -bench 'Receive/resilientws/16384$' -benchtime 3s -cpuprofile cpu.out -memprofile mem.out

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/resilientws/resilientws"
)

var benchAddr string

func TestMain(m *testing.M) {
	if a := os.Getenv("RWSBENCH_SERVE"); a != "" {
		serveChild(a, 30*time.Minute)
		os.Exit(0)
	}
	ch, err := startChild("127.0.0.1:0", true)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server child:", err)
		os.Exit(2)
	}
	benchAddr = ch.addr
	code := m.Run()
	ch.stop()
	os.Exit(code)
}

var benchSizes = []int{64, 16 << 10}

// BenchmarkSend: one op is one message handed to the client and written to
// the socket (the server reads and discards). resilientws: Send, with
// OverflowBlock so a full queue waits instead of failing.
func BenchmarkSend(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("coder/%d", size), func(b *testing.B) { benchSendCoder(b, size) })
		b.Run(fmt.Sprintf("resilientws/%d", size), func(b *testing.B) { benchSendRWS(b, size) })
		b.Run(fmt.Sprintf("rws+otel/%d", size), func(b *testing.B) { benchSendRWS(b, size, instrumented()) })
	}
}

// BenchmarkReceive: one op is one message written by the server and
// delivered to the caller: coder Read, coder Reader into a reused buffer,
// resilientws OnMessage, by default and with WithPooledMessages.
func BenchmarkReceive(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("coder/%d", size), func(b *testing.B) { benchRecvCoder(b, size, false) })
		b.Run(fmt.Sprintf("coder+buf/%d", size), func(b *testing.B) { benchRecvCoder(b, size, true) })
		b.Run(fmt.Sprintf("resilientws/%d", size), func(b *testing.B) { benchRecvRWS(b, size) })
		b.Run(fmt.Sprintf("rws+otel/%d", size), func(b *testing.B) { benchRecvRWS(b, size, instrumented()) })
		b.Run(fmt.Sprintf("rws+pooled/%d", size), func(b *testing.B) { benchRecvRWS(b, size, resilientws.WithPooledMessages()) })
	}
}

func dialBench(b *testing.B, path string) *websocket.Conn {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+benchAddr+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	return c
}

// syncSink waits until the sink has read everything written before.
func syncSink(b *testing.B, c *websocket.Conn) {
	ctx := context.Background()
	if err := c.Write(ctx, websocket.MessageText, []byte("sync")); err != nil {
		b.Fatal(err)
	}
	if _, data, err := c.Read(ctx); err != nil || string(data) != "ok" {
		b.Fatalf("sync: %q, %v", data, err)
	}
}

func benchSendCoder(b *testing.B, size int) {
	c := dialBench(b, "/sink")
	defer c.CloseNow()
	p := make([]byte, size)
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Write(ctx, websocket.MessageBinary, p); err != nil {
			b.Fatal(err)
		}
	}
	syncSink(b, c)
	b.StopTimer()
}

// newBenchRWS starts a library client on path, with extra options (rws+otel:
// the OpenTelemetry instrumentation), and waits for it to open.
func newBenchRWS(b *testing.B, path string, onMsg func(resilientws.Message), extra ...resilientws.Option) *resilientws.Client {
	b.Helper()
	opened := make(chan struct{})
	var once sync.Once
	c, err := resilientws.New("ws://"+benchAddr+path, append([]resilientws.Option{
		resilientws.OnOpen(func(resilientws.OpenEvent) { once.Do(func() { close(opened) }) }),
		resilientws.OnMessage(onMsg),
		resilientws.WithQueue(resilientws.DefaultQueueMessages, resilientws.DefaultQueueBytes, resilientws.OverflowBlock),
	}, extra...)...)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(); err != nil {
		b.Fatal(err)
	}
	select {
	case <-opened:
	case <-time.After(dialTimeout):
		b.Fatal("not open")
	}
	return c
}

func benchSendRWS(b *testing.B, size int, extra ...resilientws.Option) {
	ok := make(chan struct{}, 1)
	c := newBenchRWS(b, "/sink", func(m resilientws.Message) {
		if string(m.Data) == "ok" {
			ok <- struct{}{}
		}
	}, extra...)
	defer c.Close()
	p := make([]byte, size)
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Send(ctx, resilientws.Binary, p); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.SendText(ctx, "sync"); err != nil {
		b.Fatal(err)
	}
	select {
	case <-ok:
	case <-time.After(time.Minute):
		b.Fatal("no sync answer")
	}
	b.StopTimer()
}

func benchRecvCoder(b *testing.B, size int, reuse bool) {
	c := dialBench(b, "/emit")
	defer c.CloseNow()
	ctx := context.Background()
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	if err := c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, "%d %d", b.N, size)); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		var n int
		if reuse {
			_, r, err := c.Reader(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if n, err = readInto(r, &buf); err != nil {
				b.Fatal(err)
			}
		} else {
			_, data, err := c.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n = len(data)
		}
		if n != size {
			b.Fatalf("got %d bytes, want %d", n, size)
		}
	}
	b.StopTimer()
}

func benchRecvRWS(b *testing.B, size int, extra ...resilientws.Option) {
	var (
		want = b.N
		got  int
		bad  int
		done = make(chan struct{})
	)
	c := newBenchRWS(b, "/emit", func(m resilientws.Message) {
		if len(m.Data) != size {
			bad++
		}
		got++
		if got == want {
			close(done)
		}
	}, extra...)
	defer c.Close()
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	if err := c.Send(ctx, resilientws.Text, fmt.Appendf(nil, "%d %d", want, size)); err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatal("messages missing")
	}
	b.StopTimer()
	if bad > 0 {
		b.Fatalf("%d messages of the wrong size", bad)
	}
}

// TestVariantsEcho checks that every variant of the harness echoes, in both
// modes, against the in-process servers.
func TestVariantsEcho(t *testing.T) {
	ws, err := startWSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.close()
	ts, err := startTCPServer()
	if err != nil {
		t.Fatal(err)
	}
	defer ts.close()
	a := addrs{ws: ws.addr(), tcp: ts.addr()}
	for _, v := range variants {
		for _, size := range benchSizes {
			if _, err := pingPong(v, a, size, 50*time.Millisecond, 100); err != nil {
				t.Errorf("ping-pong: %v", err)
			}
			r, err := pipelined(v, a, size, 50*time.Millisecond, 1000)
			if err != nil {
				t.Errorf("pipelined: %v", err)
			} else if r.msgs == 0 {
				t.Errorf("%s: pipelined: no message", v.name)
			}
		}
	}
}

func TestPeakWindow(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	for _, c := range []struct {
		times []time.Time
		want  int
	}{
		{at(), 0},
		{at(5), 1},
		{at(0, 99, 100, 150, 199, 200), 3},
		{at(0, 100, 200, 300), 1},
	} {
		if got := peakWindow(c.times, 100*time.Millisecond); got != c.want {
			t.Errorf("peakWindow(%v) = %d, want %d", c.times, got, c.want)
		}
	}
}
