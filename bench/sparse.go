package main

// Sparse feed: many clients, each receiving one small message every 50 to
// 100 ms, longer than the library's event goroutine lingers (so each
// message may find no event goroutine running), against a dense feed of the
// same total rate (fewer clients, one message every 5 to 10 ms, within the
// linger). The server is a child process: this process's CPU is the
// clients'. Reported: client CPU per message received.

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

var (
	sparseWindow  = flag.Duration("sparse-window", 5*time.Second, "CPU window of each sparse-feed measurement")
	sparseRounds  = flag.Int("sparse-rounds", 3, "rounds of the sparse-feed measurement")
	sparseN       = flag.Int("sparse-n", 200, "clients of the sparse feed (the dense feed has a tenth of them)")
	sparseClients = flag.String("sparse-clients", "coder,resilientws", "comma-separated clients of the sparse-feed measurement")
)

// feed is one feed shape: clients × one message every [min, max).
type feed struct {
	name     string
	clients  int
	min, max time.Duration
}

func sparseFeeds(n int) []feed {
	return []feed{
		{"sparse (50–100 ms)", n, 50 * time.Millisecond, 100 * time.Millisecond},
		{"dense (5–10 ms)", max(n/10, 1), 5 * time.Millisecond, 10 * time.Millisecond},
	}
}

// trickleLoop is the /trickle endpoint: it waits for a text message
// "N SIZE MIN_US MAX_US", then writes N binary messages of SIZE bytes, each
// after a random wait in [MIN_US, MAX_US) microseconds, and repeats.
func trickleLoop(c *websocket.Conn) {
	buf := make([]byte, 1024)
	for {
		_, n, err := readMsg(c, &buf)
		if err != nil {
			return
		}
		var count, size, lo, hi int
		if _, err := fmt.Sscan(string(buf[:n]), &count, &size, &lo, &hi); err != nil || hi <= lo {
			return
		}
		payload := make([]byte, size)
		t := time.NewTimer(time.Hour)
		for i := 0; i < count; i++ {
			t.Reset(time.Duration(lo+rand.IntN(hi-lo)) * time.Microsecond)
			<-t.C
			if err := c.Write(context.Background(), websocket.MessageBinary, payload); err != nil {
				return
			}
		}
	}
}

// sparseResult is one measurement: CPU per message received.
type sparseResult struct {
	msgs  int64
	cpu   time.Duration
	perUS float64 // µs of client CPU per message
}

// sparseOnce connects f.clients of v to the trickle endpoint, starts their
// feeds, and measures this process's CPU over window.
func sparseOnce(v variant, a addrs, f feed, window time.Duration) (sparseResult, error) {
	a.path = "/trickle"
	var got atomic.Int64
	cs := make([]client, 0, f.clients)
	defer func() {
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Add(1)
			go func() { defer wg.Done(); c.close() }()
		}
		wg.Wait()
	}()
	for range f.clients {
		c, err := v.dial(a, func(int) { got.Add(1) })
		if err != nil {
			return sparseResult{}, fmt.Errorf("%s: dial: %w", v.name, err)
		}
		cs = append(cs, c)
	}
	count := int(2*window/f.min) + 10 // more than the window needs
	req := fmt.Appendf(nil, "%d 64 %d %d", count, f.min.Microseconds(), f.max.Microseconds())
	for _, c := range cs {
		if err := c.send(req); err != nil {
			return sparseResult{}, fmt.Errorf("%s: request: %w", v.name, err)
		}
	}
	time.Sleep(f.max + 200*time.Millisecond) // every feed running
	m0, c0 := got.Load(), cpuSelf()
	time.Sleep(window)
	m1, c1 := got.Load(), cpuSelf()
	r := sparseResult{msgs: m1 - m0, cpu: c1 - c0}
	if r.msgs == 0 {
		return r, fmt.Errorf("%s: %s: no message in %s", v.name, f.name, window)
	}
	r.perUS = float64(r.cpu.Microseconds()) / float64(r.msgs)
	return r, nil
}

// runSparse measures the sparse and the dense feed for each client, in
// rotating order, against a server child.
func runSparse(cfg config, rep *report) bool {
	srv, err := startChild("127.0.0.1:0", false)
	if err != nil {
		fatalf("server child: %v", err)
	}
	defer srv.stop()
	a := addrs{ws: srv.addr}
	window, rounds, n := *sparseWindow, *sparseRounds, *sparseN
	if cfg.smoke {
		window, rounds, n = 500*time.Millisecond, 1, 20
	}
	var vs []variant
	for _, name := range strings.Split(*sparseClients, ",") {
		for _, v := range variants {
			if v.name == strings.TrimSpace(name) {
				vs = append(vs, v)
			}
		}
	}
	feeds := sparseFeeds(n)
	res := map[string]map[string][]sparseResult{} // feed -> variant -> rounds
	for _, f := range feeds {
		res[f.name] = map[string][]sparseResult{}
	}
	ok := true
	for r := 0; r < rounds; r++ {
		for _, f := range feeds {
			for _, v := range rotate(vs, r) {
				sr, err := sparseOnce(v, a, f, window)
				if err != nil {
					progress("sparse round %d: %v", r+1, err)
					ok = false
					continue
				}
				res[f.name][v.name] = append(res[f.name][v.name], sr)
			}
		}
		progress("sparse round %d/%d done", r+1, rounds)
	}
	rep.printf("\n## Sparse feed: client CPU per message (server in a child process)\n\n")
	rep.printf("Each client receives one 64 B message after a random wait: sparse, %d clients every 50–100 ms (longer than the event goroutine's linger); dense, %d clients every 5–10 ms (about the same total rate). µs of this process's CPU (getrusage) per message received, median of %d rounds of %s (min–max).\n\n", feeds[0].clients, feeds[1].clients, rounds, window)
	rep.printf("| Client | sparse µs/msg | min–max | msgs/s | dense µs/msg | min–max | msgs/s | sparse/dense |\n|---|---|---|---|---|---|---|---|\n")
	for _, v := range vs {
		rep.printf("| %s ", v.name)
		var meds []float64
		for _, f := range feeds {
			rs := res[f.name][v.name]
			per := make([]float64, len(rs))
			rate := make([]float64, len(rs))
			for i, x := range rs {
				per[i], rate[i] = x.perUS, float64(x.msgs)/window.Seconds()
			}
			lo, hi := minMax(per)
			meds = append(meds, median(per))
			rep.printf("| %.1f | %.1f–%.1f | %.0f ", median(per), lo, hi, median(rate))
		}
		ratio := 0.0
		if meds[1] > 0 {
			ratio = meds[0] / meds[1]
		}
		rep.printf("| %.2f |\n", ratio)
	}
	return ok
}
