// Command bench compares resilientws with raw TCP, raw coder/websocket,
// gorilla/websocket and lxzan/gws on loopback, in one run of interleaved
// rounds, and prints medians and ratios as Markdown tables.
//
//	go run .            # the full run (about 12 minutes)
//	go run . -smoke     # every workload once, briefly (CI)
//	go run . -phases resend   # only WithResend's duplicates per killed connection
//
// See BENCHMARKS.md for the method and the results.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// defaultMemProfileRate is the heap sampling rate to restore before the
// idle CPU measurement.
var defaultMemProfileRate = runtime.MemProfileRate

type config struct {
	rounds     int
	dur        time.Duration
	maxMsgs    int
	maxPP      int
	phases     map[string]bool
	idleN      []int
	idleRounds int
	idleCPU    time.Duration
	stormN     int
	stormDown  []time.Duration
	stormRnds  int
	profDir    string

	resendRounds int
	resendDur    time.Duration
	resendKill   time.Duration
	resendCalm   time.Duration
	smoke        bool
}

func main() {
	var (
		smoke     = flag.Bool("smoke", false, "run every workload once, very briefly (CI): overrides the other flags")
		rounds    = flag.Int("rounds", 10, "interleaved rounds of the echo workloads")
		dur       = flag.Duration("dur", 800*time.Millisecond, "cap on one echo measurement")
		maxMsgs   = flag.Int("max", 3_000_000, "cap on messages in one pipelined measurement")
		maxPP     = flag.Int("maxpp", 200_000, "cap on round trips in one ping-pong measurement")
		echoOnly  = flag.String("echo-only", "", "run only the echo workloads whose name contains this (e.g. \"16 KiB\")")
		cpuProf   = flag.String("cpuprofile", "", "write a CPU profile of the whole run (client and in-process servers) to this file")
		clients   = flag.String("clients", "", "comma-separated echo clients to run besides coder, the baseline (default: all)")
		phases    = flag.String("phases", "echo,push,sparse,idle,storm,resend", "comma-separated phases to run: echo, push, sparse, idle, storm, resend")
		idleN     = flag.String("idle-n", "1000,10000", "idle client counts (capped by the file-descriptor limit)")
		idleRnds  = flag.Int("idle-rounds", 3, "rounds of the idle memory measurement")
		idleCPU   = flag.Duration("idle-cpu", 65*time.Second, "window over which the CPU of the largest idle set is measured (0: skip)")
		idleHB    = flag.Duration("idle-heartbeat", pingEvery, "heartbeat interval of the idle clients (change it only to profile the heartbeat)")
		stormN    = flag.Int("storm-n", 1000, "clients in the reconnect storm")
		stormDown = flag.String("storm-down", "0s,3s", "server down times in the reconnect storm")
		stormRnds = flag.Int("storm-rounds", 5, "rounds of each reconnect storm")
		resendRnd = flag.Int("resend-rounds", 3, "rounds of the at-least-once (WithResend) measurement")
		resendDur = flag.Duration("resend-dur", 2*time.Second, "timed phase of one at-least-once measurement")
		resendKil = flag.Duration("resend-kill", 100*time.Millisecond, "mean time between connection kills in the at-least-once measurement (0: none)")
		resendClm = flag.Duration("resend-calm", time.Second, "timed phase of the same measurement without kills, for the throughput the window alone allows (0: skip)")
		profDir   = flag.String("profile-dir", "", "write heap and CPU profiles of the idle library clients here (exact heap sampling: run with -phases idle)")
		mdOut     = flag.String("o", "", "also write the report to this file")
		libRev    = flag.String("lib-rev", "", "the library revision to print (default: git describe of ..)")
		serve     = flag.Bool("serve", false, "internal: run as the server child")
		serveAddr = flag.String("serve-addr", "127.0.0.1:0", "internal: the server child's address")
	)
	flag.Parse()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fatalf("cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatalf("cpuprofile: %v", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if *idleHB <= 0 {
		fatalf("bad -idle-heartbeat %s", *idleHB)
	}
	pingEvery = *idleHB
	if *serve {
		raiseFDLimit()
		serveChild(*serveAddr, 30*time.Minute)
		return
	}
	cfg := config{
		rounds:     *rounds,
		dur:        *dur,
		maxMsgs:    *maxMsgs,
		maxPP:      *maxPP,
		phases:     map[string]bool{},
		idleRounds: *idleRnds,
		idleCPU:    *idleCPU,
		stormN:     *stormN,
		stormRnds:  *stormRnds,
		profDir:    *profDir,

		resendRounds: *resendRnd,
		resendDur:    *resendDur,
		resendKill:   *resendKil,
		resendCalm:   *resendClm,
	}
	for _, p := range strings.Split(*phases, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.phases[p] = true
		}
	}
	for _, s := range strings.Split(*idleN, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatalf("bad -idle-n %q", *idleN)
		}
		cfg.idleN = append(cfg.idleN, n)
	}
	for _, s := range strings.Split(*stormDown, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			fatalf("bad -storm-down %q", *stormDown)
		}
		cfg.stormDown = append(cfg.stormDown, d)
	}
	if *clients != "" {
		keep := map[string]bool{baseline: true}
		for _, n := range strings.Split(*clients, ",") {
			keep[strings.TrimSpace(n)] = true
		}
		var vs []variant
		for _, v := range variants {
			if keep[v.name] {
				vs = append(vs, v)
			}
		}
		variants = vs
	}
	if *echoOnly != "" {
		var ws []echoWorkload
		for _, w := range echoWorkloads {
			if strings.Contains(w.name, *echoOnly) {
				ws = append(ws, w)
			}
		}
		echoWorkloads = ws
	}
	if *smoke {
		cfg = config{
			rounds:     1,
			dur:        60 * time.Millisecond,
			maxMsgs:    20_000,
			maxPP:      2_000,
			phases:     map[string]bool{"echo": true, "push": true, "sparse": true, "idle": true, "storm": true, "resend": true},
			idleN:      []int{50},
			idleRounds: 1,
			idleCPU:    500 * time.Millisecond,
			stormN:     50,
			stormDown:  []time.Duration{0},
			stormRnds:  1,
			profDir:    cfg.profDir,
			smoke:      true,

			resendRounds: 1,
			resendDur:    150 * time.Millisecond,
			resendKill:   50 * time.Millisecond,
			resendCalm:   50 * time.Millisecond,
		}
		// The smallest and the default window: enough to exercise the code.
		resendWindows = []resendWindow{resendWindows[0], resendWindows[len(resendWindows)-1]}
	}
	if cfg.profDir != "" {
		// Exact heap profiles of the idle clients; slows the echo phase.
		defaultMemProfileRate = runtime.MemProfileRate
		runtime.MemProfileRate = 1
		if err := os.MkdirAll(cfg.profDir, 0o755); err != nil {
			fatalf("%v", err)
		}
	}

	var out io.Writer = os.Stdout
	if *mdOut != "" {
		f, err := os.Create(*mdOut)
		if err != nil {
			fatalf("%v", err)
		}
		defer f.Close()
		out = io.MultiWriter(os.Stdout, f)
	}
	start := time.Now()
	fdLimit := raiseFDLimit()
	rep := &report{w: out}
	rep.header(cfg, fdLimit, *smoke, libRevision(*libRev))
	ok := true
	if cfg.phases["echo"] {
		ok = runEcho(cfg, rep) && ok
	}
	if cfg.phases["push"] {
		ok = runPush(cfg, rep) && ok
	}
	if cfg.phases["sparse"] {
		ok = runSparse(cfg, rep) && ok
	}
	if cfg.phases["idle"] {
		ok = runIdle(cfg, rep, fdLimit) && ok
	}
	if cfg.phases["storm"] {
		ok = runStorm(cfg, rep) && ok
	}
	if cfg.phases["resend"] {
		ok = runResend(cfg, rep) && ok
	}
	rep.printTargets()
	fmt.Fprintf(out, "\nTotal run time: %s; load average at the end %s.\n", time.Since(start).Round(time.Second), loadAvg())
	if !ok {
		fmt.Fprintln(os.Stderr, "bench: some measurements failed (see above)")
		os.Exit(1)
	}
}

// libRevision describes the library the binary was built with: rev if set,
// else git describe of the parent directory (the replace target).
func libRevision(rev string) string {
	if rev != "" {
		return rev
	}
	out, err := exec.Command("git", "-C", "..", "describe", "--always", "--dirty", "--exclude", "*").Output()
	if err != nil {
		return "unknown (no git)"
	}
	return strings.TrimSpace(string(out))
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(2)
}

// progress prints a line on stderr, so stdout stays the report.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "# "+format+"\n", args...)
}

// rotate returns xs starting at index r mod len(xs).
func rotate[T any](xs []T, r int) []T {
	k := r % len(xs)
	return append(append([]T(nil), xs[k:]...), xs[:k]...)
}

type echoWorkload struct {
	name     string
	size     int
	pp       bool // ping-pong; otherwise pipelined
	callback bool // ping-pong answered from the receive callback
}

var echoWorkloads = []echoWorkload{
	{"pipelined 64 B", 64, false, false},
	{"pipelined 16 KiB", 16 << 10, false, false},
	{"ping-pong 64 B", 64, true, false},
	{"ping-pong 16 KiB", 16 << 10, true, false},
	{"callback ping-pong 64 B", 64, true, true},
}

// runEcho runs the echo workloads: rounds × workloads × variants in a
// rotating order, a fresh connection per measurement.
func runEcho(cfg config, rep *report) bool {
	ws, err := startWSServer("127.0.0.1:0")
	if err != nil {
		fatalf("ws server: %v", err)
	}
	defer ws.close()
	ts, err := startTCPServer()
	if err != nil {
		fatalf("tcp server: %v", err)
	}
	defer ts.close()
	a := addrs{ws: ws.addr(), tcp: ts.addr()}
	res := map[string]map[string][]echoResult{} // workload -> variant -> per round (zero value: failed)
	for _, w := range echoWorkloads {
		res[w.name] = map[string][]echoResult{}
		for _, v := range variants {
			res[w.name][v.name] = make([]echoResult, cfg.rounds)
		}
	}
	ok := true
	for r := 0; r < cfg.rounds; r++ {
		t := time.Now()
		for _, w := range echoWorkloads {
			for _, v := range rotate(variants, r) {
				var (
					er  echoResult
					err error
				)
				if w.callback {
					er, err = callbackPingPong(v, a, w.size, cfg.dur, cfg.maxPP)
				} else if w.pp {
					er, err = pingPong(v, a, w.size, cfg.dur, cfg.maxPP)
				} else {
					er, err = pipelined(v, a, w.size, cfg.dur, cfg.maxMsgs)
				}
				if err != nil {
					progress("round %d %s: %v", r+1, w.name, err)
					ok = false
					continue
				}
				res[w.name][v.name][r] = er
			}
		}
		progress("echo round %d/%d done in %s", r+1, cfg.rounds, time.Since(t).Round(time.Millisecond))
	}
	rep.echo(res, cfg)
	return ok
}

func runIdle(cfg config, rep *report, fdLimit uint64) bool {
	srv, err := startChild("127.0.0.1:0", false)
	if err != nil {
		fatalf("server child: %v", err)
	}
	defer srv.stop()
	ok := true
	var sizes []int
	for _, n := range cfg.idleN {
		if lim := int(fdLimit) - 500; n > lim {
			progress("idle: %d clients do not fit under the fd limit %d: using %d", n, fdLimit, lim)
			n = lim
		}
		sizes = append(sizes, n)
	}
	res := map[int]map[string][]idleResult{}
	for _, n := range sizes {
		res[n] = map[string][]idleResult{}
		vs := idleVariants
		rounds := cfg.idleRounds
		if n > 2000 { // the large set: the library and its hand-written equivalent
			vs = []idleVariant{idleVariants[1], idleVariants[2]}
		}
		for r := 0; r < rounds; r++ {
			for _, v := range rotate(vs, r) {
				prof := ""
				if r == 0 {
					prof = cfg.profDir
				}
				ir, err := idleOnce(v, srv, n, 0, prof)
				if err != nil {
					progress("idle %d %s: %v", n, v.name, err)
					ok = false
					continue
				}
				res[n][v.name] = append(res[n][v.name], ir)
			}
			progress("idle %d round %d/%d done", n, r+1, rounds)
		}
	}
	// CPU of the largest set, library and hand-written equivalent.
	var cpu []idleResult
	var cpuNames []string
	if cfg.idleCPU > 0 {
		runtime.MemProfileRate = defaultMemProfileRate // exact heap sampling would cost CPU
		n := sizes[len(sizes)-1]
		for _, v := range []idleVariant{idleVariants[2], idleVariants[1]} {
			prof := ""
			if v.name == "resilientws" {
				prof = cfg.profDir
			}
			progress("idle CPU: %d %s clients for %s", n, v.name, cfg.idleCPU)
			ir, err := idleOnce(v, srv, n, cfg.idleCPU, prof)
			if err != nil {
				progress("idle CPU %d %s: %v", n, v.name, err)
				ok = false
				continue
			}
			cpu = append(cpu, ir)
			cpuNames = append(cpuNames, v.name)
		}
	}
	rep.idle(sizes, res, cpu, cpuNames)
	return ok
}

func runStorm(cfg config, rep *report) bool {
	ok := true
	res := map[time.Duration][]stormResult{}
	for _, down := range cfg.stormDown {
		for r := 0; r < cfg.stormRnds; r++ {
			sr, err := storm(cfg.stormN, down, 2*time.Minute)
			if err != nil {
				progress("storm %d down %s: %v", cfg.stormN, down, err)
				ok = false
				continue
			}
			res[down] = append(res[down], sr)
			progress("storm down %s round %d/%d: all back in %s", down, r+1, cfg.stormRnds, sr.allBack.Round(time.Millisecond))
		}
	}
	rep.storm(cfg.stormN, cfg.stormDown, res)
	return ok
}
