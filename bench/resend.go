package main

// The at-least-once workload (issue 15): what WithResend costs in duplicates
// per killed connection, and in throughput, by the size of the unconfirmed
// window, which shares the send queue's limits (WithQueue).
//
// resendClients library clients send numbered messages of 8 to 2,000 bytes
// (random sizes; the first 8 bytes are the client's number and the message's
// sequence number) as fast as the queue lets them (OverflowBlock), with
// WithResend(resendMax), to an in-process resilientwstest.Server that
// counts every id it reads in full. Connections are killed about every
// resendKillEvery, alternately with a TCP reset and a close frame (1001).
// After the timed phase the senders stop, every client is flushed and
// closed (the close handshake confirms the rest), and the server's counts
// give: first arrivals during the timed phase (the rate), duplicates, and
// messages accepted by Send that never arrived (missing: must be 0).

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
	"github.com/resilientws/resilientws"
	"github.com/resilientws/resilientws/resilientwstest"
)

const (
	resendClients = 6
	resendMax     = 1000 // WithResend(resendMax): large, so nothing should exhaust it
	resendMinSize = 8
	resendMaxSize = 2000
	// unlimited stands for the limit a row does not set.
	resendUnlimitedMsgs  = 1 << 20
	resendUnlimitedBytes = 1 << 30
)

// resendWindow is one setting of the queue's limits, which bound the
// unconfirmed log too.
type resendWindow struct {
	name        string
	msgs, bytes int
}

var resendWindows = []resendWindow{
	{"16 msgs", 16, resendUnlimitedBytes},
	{"64 msgs", 64, resendUnlimitedBytes},
	{"256 msgs", 256, resendUnlimitedBytes},
	{"16 KiB", resendUnlimitedMsgs, 16 << 10},
	{"64 KiB", resendUnlimitedMsgs, 64 << 10},
	{"256 KiB", resendUnlimitedMsgs, 256 << 10},
	{"default (1024 msgs, 1 MiB)", resilientws.DefaultQueueMessages, resilientws.DefaultQueueBytes},
}

// resendPath is how the clients reach the server.
type resendPath struct {
	name    string
	latency time.Duration // each way, through a resilientwstest.Proxy; 0: direct
}

var resendPaths = []resendPath{
	{"loopback", 0},
	{"proxy, 5 ms each way", 5 * time.Millisecond},
}

// resendResult is one measurement of one window on one path.
type resendResult struct {
	dur        time.Duration // of the timed phase
	accepted   int           // messages Send accepted
	first      int           // first arrivals during the timed phase
	unique     int           // ids received at least once, in the end
	dups       int           // extra copies received
	missing    int           // accepted, never received, never reported
	dropped    int           // OnDrop reports
	dropReason map[string]int
	kills      int    // kill events
	lost       int    // upgraded connections that ended before the final Close
	resent     uint64 // Stats.Resent, all clients
	sendErrs   int    // Send errors other than the end of the timed phase
	failed     string // why the measurement is not valid, if it is not
}

func (r resendResult) rate() float64 { return float64(r.first) / r.dur.Seconds() }

func (r resendResult) dupsPerKill() float64 {
	if r.lost == 0 {
		return 0
	}
	return float64(r.dups) / float64(r.lost)
}

func (r resendResult) dupPct() float64 {
	if r.unique == 0 {
		return 0
	}
	return 100 * float64(r.dups) / float64(r.unique)
}

// idCounts counts, per client, how often the server read each sequence
// number in full.
type idCounts struct {
	mu     sync.Mutex
	counts [resendClients][]uint8
	first  atomic.Int64 // first arrivals
	total  atomic.Int64
}

func (ic *idCounts) add(client, seq uint32) {
	ic.total.Add(1)
	if client >= resendClients {
		return
	}
	ic.mu.Lock()
	c := ic.counts[client]
	for int(seq) >= len(c) {
		c = append(c, make([]uint8, max(len(c), 1024))...)
	}
	ic.counts[client] = c
	if c[seq] < 255 {
		c[seq]++
	}
	n := c[seq]
	ic.mu.Unlock()
	if n == 1 {
		ic.first.Add(1)
	}
}

func (ic *idCounts) count(client, seq uint32) int {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if c := ic.counts[client]; int(seq) < len(c) {
		return int(c[seq])
	}
	return 0
}

// handler reads every message through the embedded coder connection (so the
// test server's own log stays empty) and counts the ids of those read in
// full.
func (ic *idCounts) handler(ctx context.Context, c *resilientwstest.Conn) {
	var hdr [8]byte
	for {
		_, r, err := c.Conn.Reader(ctx)
		if err != nil {
			return
		}
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return // cut short: not read in full
		}
		ic.add(binary.BigEndian.Uint32(hdr[:4]), binary.BigEndian.Uint32(hdr[4:]))
	}
}

// resendOnce measures one window on one path for dur, with kills about every
// killEvery (0: none).
func resendOnce(w resendWindow, p resendPath, dur, killEvery time.Duration, seed int64) resendResult {
	res := resendResult{dur: dur, dropReason: map[string]int{}}
	ic := &idCounts{}
	srv := resilientwstest.NewServer(resilientwstest.WithHandler(ic.handler))
	defer srv.Close()
	url := srv.URL() + "/resend"
	var prx *resilientwstest.Proxy
	if p.latency > 0 {
		var err error
		if prx, err = resilientwstest.NewProxy(srv.Addr()); err != nil {
			res.failed = err.Error()
			return res
		}
		defer prx.Close()
		prx.Latency(p.latency)
		url = prx.URL("/resend")
	}

	var dropMu sync.Mutex
	clients := make([]*resilientws.Client, resendClients)
	for i := range clients {
		c, err := resilientws.New(url,
			resilientws.WithQueue(w.msgs, w.bytes, resilientws.OverflowBlock),
			resilientws.WithResend(resendMax),
			resilientws.WithBackoff(func() backoff.BackOff {
				return backoff.NewExponentialBackOff(
					backoff.WithInitialInterval(5*time.Millisecond),
					backoff.WithMaxInterval(50*time.Millisecond),
					backoff.WithMaxElapsedTime(0))
			}),
			resilientws.OnDrop(func(_ resilientws.Message, err error) {
				dropMu.Lock()
				res.dropped++
				res.dropReason[err.Error()]++
				dropMu.Unlock()
			}),
		)
		if err != nil {
			res.failed = err.Error()
			return res
		}
		if err := c.Start(); err != nil {
			res.failed = err.Error()
			return res
		}
		clients[i] = c
	}
	closeAll := func() {
		var wg sync.WaitGroup
		for _, c := range clients {
			if c != nil {
				wg.Add(1)
				go func() { defer wg.Done(); _ = c.Close() }()
			}
		}
		wg.Wait()
	}
	defer closeAll()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := srv.WaitFor(wctx, func() bool { return srv.Live() == resendClients })
	wcancel()
	if err != nil {
		res.failed = fmt.Sprintf("%d of %d clients connected", srv.Live(), resendClients)
		return res
	}

	// The timed phase: senders as fast as the queue lets them, and the killer.
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	accepted := make([]uint32, resendClients)
	sendErrs := make([]int, resendClients)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(i)))
			buf := make([]byte, resendMaxSize)
			for seq := uint32(1); ; seq++ {
				m := buf[:resendMinSize+rng.Intn(resendMaxSize-resendMinSize+1)]
				binary.BigEndian.PutUint32(m[:4], uint32(i))
				binary.BigEndian.PutUint32(m[4:8], seq)
				err := c.Send(ctx, resilientws.Binary, m)
				switch {
				case err == nil:
					accepted[i] = seq
					continue
				case ctx.Err() == nil:
					sendErrs[i]++
				}
				return
			}
		}()
	}
	start := time.Now()
	if killEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for k := 0; ; k++ {
				t := time.NewTimer(killEvery/2 + time.Duration(rng.Int63n(int64(killEvery)+1)))
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				switch {
				case k%2 == 1:
					srv.CloseAll(websocket.StatusGoingAway, "bench kill")
				case prx != nil:
					prx.ResetAll()
				default:
					srv.DropAll()
				}
				res.kills++
			}
		}()
	}
	<-ctx.Done()
	res.dur = time.Since(start)
	res.first = int(ic.first.Load())
	wg.Wait()

	// Drain: Flush, then Close (its handshake confirms what is left).
	for i, c := range clients {
		fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := c.Flush(fctx)
		fcancel()
		if err != nil && res.failed == "" {
			res.failed = fmt.Sprintf("client %d: Flush: %v", i, err)
		}
	}
	res.lost = srv.Accepted() - resendClients
	closeAll()
	for _, c := range clients {
		res.resent += c.Stats().Resent
	}
	srv.Close() // every handler has returned: the counts are final

	dropMu.Lock()
	defer dropMu.Unlock()
	for i := range clients {
		res.accepted += int(accepted[i])
		res.sendErrs += sendErrs[i]
		for seq := uint32(1); seq <= accepted[i]; seq++ {
			switch n := ic.count(uint32(i), seq); n {
			case 0:
				res.missing++
			default:
				res.unique++
				res.dups += n - 1
			}
		}
	}
	// A message reported through OnDrop is not missing: it is accounted for.
	res.missing = max(res.missing-res.dropped, 0)
	return res
}

// runResend measures every window on every path, rounds times, in a
// rotating order.
func runResend(cfg config, rep *report) bool {
	type key struct{ p, w int }
	res := map[key][]resendResult{}
	calm := map[key][]resendResult{} // the same without kills: what the window alone costs
	ok := true
	var order []key
	for p := range resendPaths {
		for w := range resendWindows {
			order = append(order, key{p, w})
		}
	}
	for r := 0; r < cfg.resendRounds; r++ {
		t := time.Now()
		for _, k := range rotate(order, r) {
			rr := resendOnce(resendWindows[k.w], resendPaths[k.p], cfg.resendDur, cfg.resendKill, int64(r*1000+k.p*100+k.w))
			if rr.failed != "" {
				progress("resend %s %s: %s", resendPaths[k.p].name, resendWindows[k.w].name, rr.failed)
				ok = false
			}
			if rr.missing > 0 || rr.sendErrs > 0 {
				progress("resend %s %s: %d missing, %d Send errors", resendPaths[k.p].name, resendWindows[k.w].name, rr.missing, rr.sendErrs)
				ok = false
			}
			res[k] = append(res[k], rr)
			if cfg.resendCalm > 0 {
				cr := resendOnce(resendWindows[k.w], resendPaths[k.p], cfg.resendCalm, 0, int64(r*1000+k.p*100+k.w))
				if cr.failed != "" || cr.missing > 0 || cr.sendErrs > 0 || cr.dups > 0 || cr.dropped > 0 {
					progress("resend %s %s without kills: %s; %d missing, %d Send errors, %d duplicates, %d OnDrop",
						resendPaths[k.p].name, resendWindows[k.w].name, cr.failed, cr.missing, cr.sendErrs, cr.dups, cr.dropped)
					ok = false
				}
				calm[k] = append(calm[k], cr)
			}
		}
		progress("resend round %d/%d done in %s", r+1, cfg.resendRounds, time.Since(t).Round(time.Millisecond))
	}
	rep.printf("\n## At-least-once: duplicates per killed connection (WithResend(%d))\n\n", resendMax)
	rep.printf("%d clients send %d–%d-byte messages as fast as OverflowBlock lets them for %s per measurement; connections killed every %s–%s (alternately a TCP reset and a 1001 close frame); %d rounds, medians (min–max of duplicates per lost connection); missing and OnDrop are totals over the rounds. Without kills: the same for %s, no kill.\n\n",
		resendClients, resendMinSize, resendMaxSize, cfg.resendDur, cfg.resendKill/2, cfg.resendKill*3/2, cfg.resendRounds, cfg.resendCalm)
	rep.printf("| Path | Window (WithQueue) | delivered msg/s | without kills | lost conns | resent | duplicates | dups per lost conn | min–max | dup %% | missing | OnDrop |\n")
	rep.printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for p := range resendPaths {
		for w := range resendWindows {
			rs := res[key{p, w}]
			f := func(g func(resendResult) float64) []float64 {
				var out []float64
				for _, r := range rs {
					if r.failed == "" {
						out = append(out, g(r))
					}
				}
				return out
			}
			dpk := f(resendResult.dupsPerKill)
			lo, hi := minMax(dpk)
			missing, dropped := 0, 0
			for _, r := range append(rs, calm[key{p, w}]...) {
				missing += r.missing
				dropped += r.dropped
			}
			var calmRates []float64
			for _, r := range calm[key{p, w}] {
				if r.failed == "" {
					calmRates = append(calmRates, r.rate())
				}
			}
			rep.printf("| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | **%.1f** | %.1f–%.1f | %.2f | %d | %d |\n",
				resendPaths[p].name, resendWindows[w].name,
				median(f(resendResult.rate)), median(calmRates),
				median(f(func(r resendResult) float64 { return float64(r.lost) })),
				median(f(func(r resendResult) float64 { return float64(r.resent) })),
				median(f(func(r resendResult) float64 { return float64(r.dups) })),
				median(dpk), lo, hi,
				median(f(resendResult.dupPct)),
				missing, dropped)
		}
	}
	reasons := map[string]int{}
	for _, rs := range res {
		for _, r := range rs {
			for k, v := range r.dropReason {
				reasons[k] += v
			}
		}
	}
	for k, v := range reasons {
		rep.printf("\nOnDrop: %d × %q\n", v, k)
	}
	return ok
}
