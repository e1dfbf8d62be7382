package main

// Server push: the feed consumer's workload. The server writes, the client
// only reads. The server is a child process (this binary re-executed), so
// the CPU and the allocations of this process are the client's alone.

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
)

// pushBatch is how many messages the client asks the server for at a time;
// it keeps two batches asked for, so the server never waits for the client
// and stops within two batches once the measurement ends.
const pushBatch = 256

// pushSizes are the message sizes of the push workload.
var pushSizes = []int{64, 16 << 10}

// pushVariants are the clients of the push workload: every echo client but
// raw TCP.
func pushVariants() []variant {
	var vs []variant
	for _, v := range variants {
		if v.name != "tcp" {
			vs = append(vs, v)
		}
	}
	return vs
}

// pushOnce measures one variant on a fresh connection to the emit endpoint:
// messages of size bytes received per second, until maxDur or maxMsgs.
// The client asks for batches of pushBatch from its receive callback (or
// reader goroutine), one request per pushBatch messages received.
func pushOnce(v variant, a addrs, size int, maxDur time.Duration, maxMsgs int) (echoResult, error) {
	a.path = "/emit"
	var (
		c        client
		ready    = make(chan struct{})
		done     = make(chan struct{})
		got      int
		finished bool
		failed   error
		deadline time.Time
		m1, b1   uint64
		cpu1     time.Duration
		end      time.Time
		request  = fmt.Appendf(nil, "%d %d", pushBatch, size)
		sendMu   sync.Mutex // the harness's second request may still be in flight (gorilla forbids concurrent writes)
	)
	send := func() error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return c.send(request)
	}
	// onMsg runs on one goroutine at a time; the harness reads what it
	// wrote after done.
	onMsg := func(n int) {
		if finished {
			return
		}
		if got++; got == 1 {
			<-ready // c and deadline are set
		}
		switch {
		case n != size:
			failed = fmt.Errorf("message of %d bytes, want %d", n, size)
		case got >= maxMsgs || (got%pushBatch == 0 && time.Now().After(deadline)):
		default:
			if got%pushBatch == 0 {
				if failed = send(); failed == nil {
					return
				}
			} else {
				return
			}
		}
		end = time.Now()
		m1, b1 = memCounters()
		cpu1 = cpuSelf()
		finished = true
		close(done)
	}
	c, err := v.dial(a, onMsg)
	if err != nil {
		return echoResult{}, fmt.Errorf("%s: dial: %w", v.name, err)
	}
	defer c.close()

	runtime.GC()
	m0, b0 := memCounters()
	cpu0 := cpuSelf()
	start := time.Now()
	deadline = start.Add(maxDur)
	close(ready)
	for range 2 {
		if err := send(); err != nil {
			return echoResult{}, fmt.Errorf("%s: request: %w", v.name, err)
		}
	}
	select {
	case <-done:
	case <-time.After(maxDur + 15*time.Second):
		return echoResult{}, fmt.Errorf("%s: push %d B: messages missing after 15 s", v.name, size)
	}
	if failed != nil {
		return echoResult{}, fmt.Errorf("%s: push %d B: %w", v.name, size, failed)
	}
	elapsed := end.Sub(start)
	return echoResult{
		msgs:    got,
		elapsed: elapsed,
		rate:    float64(got) / elapsed.Seconds(),
		allocs:  float64(m1-m0) / float64(got),
		bytes:   float64(b1-b0) / float64(got),
		cpuUS:   float64((cpu1 - cpu0).Microseconds()) / float64(got),
	}, nil
}

// runPush runs the push workload: rounds × sizes × variants in a rotating
// order, a fresh connection per measurement, against a server child.
func runPush(cfg config, rep *report) bool {
	srv, err := startChild("127.0.0.1:0", false)
	if err != nil {
		fatalf("server child: %v", err)
	}
	defer srv.stop()
	a := addrs{ws: srv.addr}
	vs := pushVariants()
	res := map[int]map[string][]echoResult{} // size -> variant -> per round (zero value: failed)
	for _, size := range pushSizes {
		res[size] = map[string][]echoResult{}
		for _, v := range vs {
			res[size][v.name] = make([]echoResult, cfg.rounds)
		}
	}
	ok := true
	for r := 0; r < cfg.rounds; r++ {
		t := time.Now()
		for _, size := range pushSizes {
			for _, v := range rotate(vs, r) {
				pr, err := pushOnce(v, a, size, cfg.dur, cfg.maxMsgs)
				if err != nil {
					progress("push round %d: %v", r+1, err)
					ok = false
					continue
				}
				res[size][v.name][r] = pr
			}
		}
		progress("push round %d/%d done in %s", r+1, cfg.rounds, time.Since(t).Round(time.Millisecond))
	}
	rep.push(vs, res)
	return ok
}

// push prints the push table and its targets.
func (r *report) push(vs []variant, res map[int]map[string][]echoResult) {
	rate := func(v, _ echoResult) float64 { return v.rate }
	ratio := func(v, b echoResult) float64 { return v.rate / b.rate }
	r.printf("\n## Server push throughput (the server writes, the client only reads)\n\n")
	r.printf("Messages received per second, median of the rounds (min–max); ×coder (coder's Read) and ×buf (coder's Reader into a reused buffer) are medians of per-round ratios. The server is a child process: CPU (getrusage of this process, user + system), allocs and B per message are the client's alone. The client asks for %d messages at a time, two batches ahead.\n\n", pushBatch)
	var head, rule []string
	for _, size := range pushSizes {
		s := sizeName(size)
		head = append(head, s+" msg/s", "min–max", "×coder", "×buf", "CPU µs", "allocs", "B")
	}
	for range head {
		rule = append(rule, "---")
	}
	r.printf("| Client | %s |\n|---|%s|\n", strings.Join(head, " | "), strings.Join(rule, "|"))
	for _, v := range vs {
		r.printf("| %s ", v.name)
		for _, size := range pushSizes {
			rs := res[size][v.name]
			rates := perRound(rs, nil, rate)
			lo, hi := minMax(rates)
			xCoder := median(perRound(rs, res[size][baseline], ratio))
			xBuf := median(perRound(rs, res[size]["coder+buf"], ratio))
			allocs := median(perRound(rs, nil, func(v, _ echoResult) float64 { return v.allocs }))
			bytes := median(perRound(rs, nil, func(v, _ echoResult) float64 { return v.bytes }))
			cpu := median(perRound(rs, nil, func(v, _ echoResult) float64 { return v.cpuUS }))
			r.printf("| %.0f | %.0f–%.0f | %.2f | %.2f | %.1f | %.1f | %.0f ", median(rates), lo, hi, xCoder, xBuf, cpu, allocs, bytes)
		}
		r.printf("|\n")
	}
	x := func(size int, lib, base string) float64 {
		return median(perRound(res[size][lib], res[size][base], ratio))
	}
	if _, ok := res[64]["resilientws"]; !ok {
		return
	}
	for _, size := range pushSizes {
		s := sizeName(size)
		d := x(size, "resilientws", baseline)
		r.target("push "+s+", default vs coder Read", "≥ 0.95×", fmt.Sprintf("%.3f×", d), d >= 0.95)
		if _, ok := res[size]["rws+pooled"]; ok {
			p := x(size, "rws+pooled", "coder+buf")
			r.target("push "+s+", WithPooledMessages vs coder Reader + reused buffer", "≥ 0.90×", fmt.Sprintf("%.3f×", p), p >= 0.90)
		}
	}
}

// sizeName is "64 B" or "16 KiB".
func sizeName(size int) string {
	if size >= 1<<10 && size%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", size>>10)
	}
	return fmt.Sprintf("%d B", size)
}
