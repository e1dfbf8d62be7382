package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/resilientws/resilientws"
)

// report prints Markdown tables and collects the targets.
type report struct {
	w       io.Writer
	targets []targetRow
}

type targetRow struct {
	name, want, got string
	met             bool
}

func (r *report) printf(format string, args ...any) { fmt.Fprintf(r.w, format, args...) }

func (r *report) target(name, want, got string, met bool) {
	r.targets = append(r.targets, targetRow{name, want, got, met})
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func minMax(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	return slices.Min(xs), slices.Max(xs)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if i := strings.IndexByte(l, ':'); i >= 0 {
				return strings.TrimSpace(l[i+1:])
			}
		}
	}
	return "unknown"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func (r *report) header(cfg config, fdLimit uint64, smoke bool, rev string) {
	mode := "full"
	if smoke {
		mode = "smoke (one brief pass; figures are not meaningful)"
	}
	host, _ := os.Hostname()
	r.printf("# resilientws benchmark (%s)\n\n", mode)
	r.printf("- %s, %s/%s, %d CPUs (%s), GOMAXPROCS=%d, fd limit %d, host %s\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), runtime.GOMAXPROCS(0), fdLimit, host)
	r.printf("- library %s; load average at start %s\n", rev, loadAvg())
	r.printf("- clients: tcp = length-prefixed frames; coder = Write/Read(context.Background()); coder+buf = Reader into a reused buffer; resilientws = Send + OnMessage, default options (heartbeat 30 s / 5 s) but OverflowBlock; rws+otel = resilientws with the resilientwsotel instrumentation; gorilla = WriteMessage/ReadMessage; gws = WriteMessage/OnMessage; one in-process coder echo server\n")
	r.printf("- %s; echo: %d rounds, each measurement capped at %s and %d messages (%d round trips for ping-pong), window %d\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), cfg.rounds, cfg.dur, cfg.maxMsgs, cfg.maxPP, window)
}

// perRound returns f of each round where both the variant and the baseline
// succeeded.
func perRound(rs, base []echoResult, f func(v, b echoResult) float64) []float64 {
	var out []float64
	for i := range rs {
		if rs[i].msgs == 0 || (base != nil && base[i].msgs == 0) {
			continue
		}
		var b echoResult
		if base != nil {
			b = base[i]
		}
		out = append(out, f(rs[i], b))
	}
	return out
}

func us(d float64) string { return fmt.Sprintf("%.1f", d/1e3) }

func (r *report) echo(res map[string]map[string][]echoResult, cfg config) {
	rate := func(v, _ echoResult) float64 { return v.rate }
	r.printf("\n## Pipelined echo throughput (%d in flight)\n\n", window)
	r.printf("Messages per second, median of the rounds (min–max); ×TCP and ×coder are medians of per-round ratios; allocs and bytes are per message, whole process (client and in-process server).\n\n")
	r.printf("| Client | 64 B msg/s | min–max | ×TCP | ×coder | allocs | B | 16 KiB msg/s | min–max | ×TCP | ×coder | allocs | B |\n")
	r.printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, v := range variants {
		r.printf("| %s ", v.name)
		for _, w := range []string{"pipelined 64 B", "pipelined 16 KiB"} {
			rs := res[w][v.name]
			rates := perRound(rs, nil, rate)
			lo, hi := minMax(rates)
			xTCP := median(perRound(rs, res[w]["tcp"], func(v, b echoResult) float64 { return v.rate / b.rate }))
			xCoder := median(perRound(rs, res[w][baseline], func(v, b echoResult) float64 { return v.rate / b.rate }))
			allocs := median(perRound(rs, nil, func(v, _ echoResult) float64 { return v.allocs }))
			bytes := median(perRound(rs, nil, func(v, _ echoResult) float64 { return v.bytes }))
			r.printf("| %.0f | %.0f–%.0f | %.2f | %.2f | %.1f | %.0f ", median(rates), lo, hi, xTCP, xCoder, allocs, bytes)
		}
		r.printf("|\n")
	}

	r.printf("\n## Ping-pong latency (one message in flight)\n\n")
	r.printf("µs, median over rounds of each round's p50 and p99 (first 5 %% dropped); Δp50 is the median of per-round differences with coder, p99× the median of per-round ratios.\n\n")
	r.printf("| Client | 64 B p50 | p99 | p50 min–max | Δp50 vs coder | p99 ×coder | 16 KiB p50 | p99 | Δp50 vs coder | p99 ×coder |\n")
	r.printf("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, v := range variants {
		r.printf("| %s ", v.name)
		for i, w := range []string{"ping-pong 64 B", "ping-pong 16 KiB"} {
			rs := res[w][v.name]
			base := res[w][baseline]
			p50 := perRound(rs, nil, func(v, _ echoResult) float64 { return float64(v.p50) })
			p99 := perRound(rs, nil, func(v, _ echoResult) float64 { return float64(v.p99) })
			d50 := median(perRound(rs, base, func(v, b echoResult) float64 { return float64(v.p50 - b.p50) }))
			x99 := median(perRound(rs, base, func(v, b echoResult) float64 { return float64(v.p99) / float64(b.p99) }))
			if i == 0 {
				lo, hi := minMax(p50)
				r.printf("| %s | %s | %s–%s | %+.1f | %.2f ", us(median(p50)), us(median(p99)), us(lo), us(hi), d50/1e3, x99)
			} else {
				r.printf("| %s | %s | %+.1f | %.2f ", us(median(p50)), us(median(p99)), d50/1e3, x99)
			}
		}
		r.printf("|\n")
	}

	const cbw = "callback ping-pong 64 B"
	if _, ok := res[cbw]; ok {
		r.printf("\n## Ping-pong latency, answered from the receive callback, 64 B\n\n")
		r.printf("Each next message is sent from the client's receive callback (the raw clients: from their reader goroutine, as in the ping-pong above), so the callback clients skip the harness's hop (callback → channel → waiting goroutine). µs, as above.\n\n")
		r.printf("| Client | p50 | p99 | p50 min–max | Δp50 vs coder | p99 ×coder | allocs |\n")
		r.printf("|---|---|---|---|---|---|---|\n")
		for _, v := range variants {
			rs, base := res[cbw][v.name], res[cbw][baseline]
			p50 := perRound(rs, nil, func(v, _ echoResult) float64 { return float64(v.p50) })
			p99 := perRound(rs, nil, func(v, _ echoResult) float64 { return float64(v.p99) })
			d50 := median(perRound(rs, base, func(v, b echoResult) float64 { return float64(v.p50 - b.p50) }))
			x99 := median(perRound(rs, base, func(v, b echoResult) float64 { return float64(v.p99) / float64(b.p99) }))
			allocs := median(perRound(rs, nil, func(v, _ echoResult) float64 { return v.allocs }))
			lo, hi := minMax(p50)
			r.printf("| %s | %s | %s | %s–%s | %+.1f | %.2f | %.1f |\n", v.name, us(median(p50)), us(median(p99)), us(lo), us(hi), d50/1e3, x99, allocs)
		}
	}

	r.instrumentationCost(res)

	if len(res) < 5 {
		return // targets need every workload
	}
	// Targets.
	lib := "resilientws"
	ratio := func(w string) float64 {
		return median(perRound(res[w][lib], res[w][baseline], func(v, b echoResult) float64 { return v.rate / b.rate }))
	}
	x64, x16 := ratio("pipelined 64 B"), ratio("pipelined 16 KiB")
	r.target("throughput 64 B vs raw coder", "≥ 0.95×", fmt.Sprintf("%.3f×", x64), x64 >= 0.95)
	r.target("throughput 16 KiB vs raw coder Read", "≥ 1.5×", fmt.Sprintf("%.3f×", x16), x16 >= 1.5)
	pp := "ping-pong 64 B"
	d50 := median(perRound(res[pp][lib], res[pp][baseline], func(v, b echoResult) float64 { return float64(v.p50 - b.p50) }))
	x99 := median(perRound(res[pp][lib], res[pp][baseline], func(v, b echoResult) float64 { return float64(v.p99) / float64(b.p99) }))
	r.target("p50 latency 64 B", "≤ raw coder + 10 µs", fmt.Sprintf("%+.1f µs", d50/1e3), d50 <= 10e3)
	r.target("p99 latency 64 B", "≤ 1.5× raw coder", fmt.Sprintf("%.3f×", x99), x99 <= 1.5)
	cx99 := median(perRound(res[cbw][lib], res[cbw][baseline], func(v, b echoResult) float64 { return float64(v.p99) / float64(b.p99) }))
	r.target("p99 latency 64 B, answered from the callback", "≤ 1.5× raw coder", fmt.Sprintf("%.3f×", cx99), cx99 <= 1.5)
	for _, w := range []string{"pipelined 64 B", "pipelined 16 KiB"} {
		da := median(perRound(res[w][lib], res[w][baseline], func(v, b echoResult) float64 { return v.allocs - b.allocs }))
		r.target("allocs per echoed message, "+strings.TrimPrefix(w, "pipelined "), "≤ raw coder + 2 (send + receive; per path: go test -bench)", fmt.Sprintf("%+.1f", da), da <= 2)
	}
}

// instrumentationCost compares rws+otel with resilientws, the same client
// without the instrumentation, round by round.
func (r *report) instrumentationCost(res map[string]map[string][]echoResult) {
	const with, without = "rws+otel", "resilientws"
	printed := false
	for _, w := range []string{"pipelined 64 B", "pipelined 16 KiB"} {
		ratios := perRound(res[w][with], res[w][without], func(v, b echoResult) float64 { return v.rate / b.rate })
		if len(ratios) == 0 {
			continue
		}
		if !printed {
			r.printf("\n## Cost of the OpenTelemetry instrumentation\n\n")
			r.printf("rws+otel (resilientwsotel on an SDK MeterProvider, collected every %s) against resilientws, the same client without it: median of per-round throughput ratios (min–max).\n\n", otelCollectEvery)
			r.printf("| Workload | ×resilientws | min–max | rounds |\n|---|---|---|---|\n")
			printed = true
		}
		lo, hi := minMax(ratios)
		r.printf("| %s | %.3f | %.3f–%.3f | %d |\n", w, median(ratios), lo, hi, len(ratios))
	}
}

func kib(b float64) string { return fmt.Sprintf("%.1f", b/1024) }

func (r *report) idle(sizes []int, res map[int]map[string][]idleResult, cpu []idleResult, cpuNames []string) {
	r.printf("\n## Idle connected clients (server in a child process)\n\n")
	r.printf("Per client, medians over rounds: HeapInuse and StackInuse deltas after two GCs, RSS delta, goroutines. ×ref is heap+stack against coder+reader at the same N.\n\n")
	r.printf("| Client | N | rounds | heap KiB | stack KiB | heap+stack KiB | ×ref | RSS KiB | goroutines | connect all |\n")
	r.printf("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		ref := 0.0
		if rs := res[n]["coder+reader"]; len(rs) > 0 {
			ref = median(idleField(rs, func(x idleResult) float64 { return x.heap + x.stack }))
		}
		for _, v := range idleVariants {
			rs := res[n][v.name]
			if len(rs) == 0 {
				continue
			}
			heap := median(idleField(rs, func(x idleResult) float64 { return x.heap }))
			stack := median(idleField(rs, func(x idleResult) float64 { return x.stack }))
			hs := median(idleField(rs, func(x idleResult) float64 { return x.heap + x.stack }))
			rssv := median(idleField(rs, func(x idleResult) float64 { return x.rss }))
			g := median(idleField(rs, func(x idleResult) float64 { return x.goroutines }))
			con := median(idleField(rs, func(x idleResult) float64 { return float64(x.connect) }))
			xref := "–"
			if ref > 0 {
				xref = fmt.Sprintf("%.2f", hs/ref)
			}
			r.printf("| %s | %d | %d | %s | %s | %s | %s | %s | %.2f | %s |\n", v.name, n, len(rs), kib(heap), kib(stack), kib(hs), xref, kib(rssv), g, time.Duration(con).Round(time.Millisecond))
			if v.name == "resilientws" {
				r.target(fmt.Sprintf("idle goroutines per client, N=%d", n), "≤ 3", fmt.Sprintf("%.2f", g), g <= 3.05)
				r.target(fmt.Sprintf("idle heap+stack per client, N=%d", n), "≤ 24 KiB", kib(hs)+" KiB", hs <= 24*1024)
			}
		}
	}
	if len(cpu) > 0 {
		r.printf("\n### CPU of idle clients (getrusage over a window, heartbeat every %s, pong timeout %s)\n\n", pingEvery, pongTimeout)
		r.printf("| Client | N | window | pings the server received | client CPU, %% of one core | client CPU per ping | server child CPU, %% of one core |\n")
		r.printf("|---|---|---|---|---|---|---|\n")
		for i, c := range cpu {
			per := "–"
			if c.pings > 0 {
				per = fmt.Sprintf("%.1f µs", c.cpuPct/100*c.cpuWindow.Seconds()/float64(c.pings)*1e6)
			}
			r.printf("| %s | %d | %s | %d | %.3f | %s | %.3f |\n", cpuNames[i], c.n, c.cpuWindow.Round(time.Millisecond), c.pings, c.cpuPct, per, c.srvCPUPct)
			if cpuNames[i] == "resilientws" && pingEvery == resilientws.DefaultHeartbeatInterval {
				r.target(fmt.Sprintf("CPU of %d idle clients", c.n), "< 2 % of one core (at 10,000)", fmt.Sprintf("%.3f %%", c.cpuPct), c.cpuPct < 2)
			}
		}
	}
}

func idleField(rs []idleResult, f func(idleResult) float64) []float64 {
	out := make([]float64, len(rs))
	for i, x := range rs {
		out[i] = f(x)
	}
	return out
}

func (r *report) storm(n int, downs []time.Duration, res map[time.Duration][]stormResult) {
	r.printf("\n## Reconnect storm (%d library clients, default backoff; server child killed with SIGKILL and restarted on the same port)\n\n", n)
	r.printf("Medians over rounds (min–max). Dials are TCP dial attempts after the kill, refused ones included; mean is dials per 100 ms between the first and the last dial; wave 1 is the first N dials (every client's first retry; later retries wait at least 1.5 s more).\n\n")
	r.printf("| Server down | rounds | all OPEN again after | min–max | dials | failed | first–last dial | peak per 100 ms | mean per 100 ms | peak/mean | max peak/mean | wave 1 mean | peak/wave 1 mean |\n")
	r.printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, d := range downs {
		rs := res[d]
		if len(rs) == 0 {
			continue
		}
		f := func(g func(stormResult) float64) []float64 {
			out := make([]float64, len(rs))
			for i, x := range rs {
				out[i] = g(x)
			}
			return out
		}
		back := f(func(x stormResult) float64 { return float64(x.allBack) })
		lo, hi := minMax(back)
		ratio := f(func(x stormResult) float64 { return float64(x.peak) / x.mean })
		_, rhi := minMax(ratio)
		downMed := time.Duration(median(f(func(x stormResult) float64 { return float64(x.down) })))
		w1 := f(func(x stormResult) float64 { return float64(x.peak) / x.wave1Mean })
		r.printf("| %s | %d | %s | %s–%s | %.0f | %.0f | %s–%s | %.0f | %.1f | %.2f | %.2f | %.1f | %.2f |\n",
			downMed.Round(time.Millisecond), len(rs),
			time.Duration(median(back)).Round(time.Millisecond),
			time.Duration(lo).Round(time.Millisecond), time.Duration(hi).Round(time.Millisecond),
			median(f(func(x stormResult) float64 { return float64(x.dials) })),
			median(f(func(x stormResult) float64 { return float64(x.failed) })),
			time.Duration(median(f(func(x stormResult) float64 { return float64(x.firstDial) }))).Round(time.Millisecond),
			time.Duration(median(f(func(x stormResult) float64 { return float64(x.lastDial) }))).Round(time.Millisecond),
			median(f(func(x stormResult) float64 { return float64(x.peak) })),
			median(f(func(x stormResult) float64 { return x.mean })),
			median(ratio), rhi,
			median(f(func(x stormResult) float64 { return x.wave1Mean })), median(w1))
		r.target(fmt.Sprintf("storm peak/mean dials per 100 ms, down %s", downMed.Round(time.Millisecond)), "≤ 2", fmt.Sprintf("%.2f (max %.2f)", median(ratio), rhi), rhi <= 2)
		r.target(fmt.Sprintf("storm all back, down %s", downMed.Round(time.Millisecond)), "≤ backoff cap + 1 s = 31 s", time.Duration(hi).Round(time.Millisecond).String()+" (max)", time.Duration(hi) <= 31*time.Second)
	}
}

func (r *report) printTargets() {
	if len(r.targets) == 0 {
		return
	}
	r.printf("\n## Targets of issue 5 (resilientws, this run)\n\n")
	r.printf("| Target | Wanted | Measured | Met |\n|---|---|---|---|\n")
	for _, t := range r.targets {
		m := "no"
		if t.met {
			m = "yes"
		}
		r.printf("| %s | %s | %s | %s |\n", t.name, t.want, t.got, m)
	}
}
