//go:build !js

// Package soak_test is the chaos soak of resilientws: many clients send
// numbered streams through fault proxies to test servers while faults are
// injected at random, then every message is accounted for.
//
//	go test -race -count=1 -v ./soak/                                  # about a minute
//	go test -race -short -v ./soak/                                    # about 20 s
//	RESILIENTWS_SOAK_SEED=42 RESILIENTWS_SOAK_DURATION=3m go test -race -v -timeout 10m ./soak/
//
// Two phases, one test each: TestChaosSoak with the default delivery (a
// message whose connection ends unconfirmed is reported with
// ErrUnconfirmed), then TestChaosSoakResend with WithResend (at least once:
// every message accepted must reach a server).
//
// The seed is printed at the start; the same seed gives the same fault
// schedule.
package soak_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/resilientws/resilientws"
	"github.com/resilientws/resilientws/resilientwstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// config is one soak's parameters.
type config struct {
	phase     string // for the summary
	resend    int    // WithResend(resend); 0: the default delivery
	seed      int64
	duration  time.Duration // of the fault phase
	clients   int
	servers   int
	sendEvery time.Duration
	// Every heavyEvery-th client is heavy (0: none): it pads its messages
	// with heavyPad bytes, its sockets have a send buffer of heavySndBuf
	// bytes, and its heartbeat timeout is heavyHeartbeatTimeout, longer than
	// the write timeout, so that on a stalled or throttled link its writes
	// block mid-message and the write timeout, not the heartbeat, cuts them.
	heavyEvery            int
	heavyPad, heavySndBuf int
	heavyHeartbeatTimeout time.Duration

	heartbeat, heartbeatTimeout time.Duration
	backoffInitial, backoffMax  time.Duration
	backoffMultiplier, jitter   float64
	stableAfter                 time.Duration
	dialTimeout, writeTimeout   time.Duration
}

// The fault phases' lengths: the default delivery's phase and WithResend's
// share what was one 45 s soak, so that the whole takes as long.
const (
	defaultSeed           = 20251122
	defaultDuration       = 30 * time.Second
	defaultResendDuration = 15 * time.Second
	shortDuration         = 8 * time.Second
	shortResendDuration   = 4 * time.Second
)

// soakResend is WithResend's max in the resend phase: large enough that no
// message exhausts it, so that OnDrop reports nothing.
const soakResend = 1000

// loadConfig returns the configuration of a phase: the default delivery, or
// WithResend(soakResend) if resend. RESILIENTWS_SOAK_DURATION sets the
// length of both phases' faults.
func loadConfig(t *testing.T, resend bool) config {
	cfg := config{
		phase:                 "default delivery",
		seed:                  defaultSeed,
		duration:              defaultDuration,
		clients:               50,
		servers:               3,
		sendEvery:             50 * time.Millisecond,
		heavyEvery:            10,
		heavyPad:              32 << 10,
		heavySndBuf:           8 << 10,
		heavyHeartbeatTimeout: time.Second,
		heartbeat:             50 * time.Millisecond,
		heartbeatTimeout:      100 * time.Millisecond,
		backoffInitial:        10 * time.Millisecond,
		backoffMax:            200 * time.Millisecond,
		backoffMultiplier:     2,
		jitter:                0.5,
		stableAfter:           250 * time.Millisecond,
		dialTimeout:           500 * time.Millisecond,
		writeTimeout:          500 * time.Millisecond,
	}
	if testing.Short() {
		cfg.duration = shortDuration
	}
	if resend {
		cfg.phase = fmt.Sprintf("at least once, WithResend(%d)", soakResend)
		cfg.resend = soakResend
		cfg.duration = defaultResendDuration
		if testing.Short() {
			cfg.duration = shortResendDuration
		}
	}
	if v := os.Getenv("RESILIENTWS_SOAK_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("RESILIENTWS_SOAK_SEED=%q: %v", v, err)
		}
		cfg.seed = n
	}
	if v := os.Getenv("RESILIENTWS_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("RESILIENTWS_SOAK_DURATION=%q: want a positive Go duration such as 3m", v)
		}
		cfg.duration = d
	}
	if v := os.Getenv("RESILIENTWS_SOAK_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 99 {
			t.Fatalf("RESILIENTWS_SOAK_CLIENTS=%q: want 1 to 99", v)
		}
		cfg.clients = n
	}
	return cfg
}

// pad returns the padding of client id's messages: heavy clients fill the
// socket buffers of a throttled or stalled link, so that some writes are
// cut mid-message.
func (cfg config) pad(id int) int {
	if cfg.heavy(id) {
		return cfg.heavyPad
	}
	return 0
}

func (cfg config) heavy(id int) bool {
	return cfg.heavyEvery > 0 && id%cfg.heavyEvery == cfg.heavyEvery-1
}

func (cfg config) newBackoff() backoff.BackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(cfg.backoffInitial),
		backoff.WithRandomizationFactor(cfg.jitter),
		backoff.WithMultiplier(cfg.backoffMultiplier),
		backoff.WithMaxInterval(cfg.backoffMax),
		backoff.WithMaxElapsedTime(0),
	)
}

// delayFloor is the least wait the backoff allows before retry number
// attempt (1 for the first): attempt counts the waits since the last open,
// and the backoff is reset at most at an open, so at least attempt-1
// intervals have grown since its reset.
func (cfg config) delayFloor(attempt int) time.Duration {
	interval := float64(cfg.backoffInitial)
	for i := 1; i < attempt && interval < float64(cfg.backoffMax); i++ {
		interval *= cfg.backoffMultiplier
	}
	interval = min(interval, float64(cfg.backoffMax))
	return time.Duration(interval * (1 - cfg.jitter))
}

// TestChaosSoak is the soak with the default delivery: every message is
// received or reported through OnDrop.
func TestChaosSoak(t *testing.T) { soak(t, loadConfig(t, false)) }

// TestChaosSoakResend is the soak with WithResend: every message is
// received, at least once, and OnDrop reports nothing.
func TestChaosSoakResend(t *testing.T) { soak(t, loadConfig(t, true)) }

func soak(t *testing.T, cfg config) {
	t.Logf("chaos soak, %s: seed %d (RESILIENTWS_SOAK_SEED replays it), faults for %s (RESILIENTWS_SOAK_DURATION), %d clients, %d servers",
		cfg.phase, cfg.seed, cfg.duration, cfg.clients, cfg.servers)

	baseGoroutines, baseHeap := resourceBaseline()
	res := runSoak(t, cfg)

	// Everything is closed and runSoak's state is unreachable: goroutines
	// and heap must come back to their baseline.
	goroutines, ok := waitGoroutines(baseGoroutines, 10*time.Second)
	if !ok {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("goroutines: %d after Close, baseline %d; stacks:\n%s", goroutines, baseGoroutines, b.String())
	}
	heap, ok := waitHeap(baseHeap+heapMargin, 5*time.Second)
	if !ok {
		t.Errorf("heap in use %.1f MiB after Close, baseline %.1f MiB: more than the %d MiB margin",
			mib(heap), mib(baseHeap), heapMargin>>20)
	}
	res.resources = fmt.Sprintf("goroutines %d -> %d (baseline -> after Close); heap in use %.1f MiB -> %.1f MiB",
		baseGoroutines, goroutines, mib(baseHeap), mib(heap))
	// The light clients' heartbeat (50 ms / 100 ms) must catch a peer that
	// stops answering, and a stalled link, well within the faults' spans:
	// a few may end just before the verdict, but not more (a regression
	// once let writes excuse every late pong, and 173 went unnoticed).
	ridden := 0
	for _, c := range res.clients {
		if !c.heavy {
			ridden += c.ridden["server-no-pongs"] + c.ridden["proxy-stall"]
		}
	}
	if limit := 10 * int(1+cfg.duration/(45*time.Second)); ridden > limit {
		t.Errorf("light clients rode out %d no-pong and stall faults without noticing (limit %d): the heartbeat misses dead peers", ridden, limit)
	}
	summary := res.summary()
	t.Log("\n" + summary)
	// CI runs go test without -v, which hides t.Log: it asks for the
	// summaries in a file too, each phase's appended.
	if path := os.Getenv("RESILIENTWS_SOAK_SUMMARY"); path != "" {
		if err := appendFile(path, summary+"\n"); err != nil {
			t.Errorf("writing the summary: %v", err)
		}
	}
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if err2 := f.Close(); err == nil {
		err = err2
	}
	return err
}

// heapMargin is how far above its baseline the heap may be after the soak.
const heapMargin = 8 << 20

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

func resourceBaseline() (goroutines int, heap uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapInuse
}

// waitGoroutines polls until at most base goroutines run, or d passes.
func waitGoroutines(base int, d time.Duration) (int, bool) {
	deadline := time.Now().Add(d)
	for i := 0; ; i++ {
		n := runtime.NumGoroutine()
		if n <= base {
			return n, true
		}
		if time.Now().After(deadline) || i > 10000 {
			return n, false
		}
		time.Sleep(5 * time.Millisecond) // polling, not synchronisation
	}
}

// waitHeap collects garbage until the heap in use is at most limit, or d
// passes.
func waitHeap(limit uint64, d time.Duration) (uint64, bool) {
	deadline := time.Now().Add(d)
	for i := 0; ; i++ {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse <= limit {
			return ms.HeapInuse, true
		}
		if time.Now().After(deadline) || i > 1000 {
			return ms.HeapInuse, false
		}
		time.Sleep(20 * time.Millisecond) // polling, not synchronisation
	}
}

// soakClient is one client with its instruments.
type soakClient struct {
	id    int
	c     *resilientws.Client
	log   *clientLog
	tap   *tap
	proxy *resilientwstest.Proxy

	// Written by the sender goroutine, read after it has ended.
	accepted uint32 // seqs 1..accepted were accepted by Send
	rejected int    // Send calls refused with ErrQueueFull (retried with the same seq)
	sendErr  error  // an unexpected Send error, which ended the sender

	finalStats resilientws.Stats // after Close
	closeErr   error
	flushErr   error
	unnoticed  *pendingKill // a kill fault still unnoticed after the settle
	acceptedTC int          // TCP connections the proxy accepted
	closeStart time.Time    // when the final Close began

	tailMissing bool // the servers never got what the current connection carried
}

// runSoak runs the whole soak and returns its results. Every resource it
// creates is closed before it returns.
func runSoak(t *testing.T, cfg config) *result {
	res := &result{cfg: cfg}
	slog := newServerLog(cfg.clients)
	servers := make([]*resilientwstest.Server, cfg.servers)
	for i := range servers {
		servers[i] = resilientwstest.NewServer(resilientwstest.WithHandler(slog.handler(i)))
	}
	proxies := make([]*resilientwstest.Proxy, 0, cfg.clients)
	clients := make([]*soakClient, 0, cfg.clients)
	closed := false
	closeAll := func() {
		if closed {
			return
		}
		closed = true
		var wg sync.WaitGroup
		for _, sc := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sc.closeErr = sc.c.Close()
			}()
		}
		wg.Wait()
		for _, p := range proxies {
			p.Close()
		}
		for _, s := range servers {
			s.Close()
		}
	}
	defer closeAll() // on t.Fatal too

	for i := range cfg.clients {
		p, err := resilientwstest.NewProxy(servers[i%cfg.servers].Addr())
		if err != nil {
			t.Fatalf("proxy %d: %v", i, err)
		}
		proxies = append(proxies, p)
		sc := &soakClient{id: i, log: newClientLog(i, i%cfg.servers, cfg.heavy(i)), tap: &tap{}, proxy: p}
		hbTimeout := cfg.heartbeatTimeout
		if cfg.heavy(i) {
			sc.tap.sndBuf = cfg.heavySndBuf
			hbTimeout = cfg.heavyHeartbeatTimeout
		}
		opts := append(sc.log.options(),
			resilientws.WithResend(cfg.resend),
			resilientws.WithHeartbeat(cfg.heartbeat, hbTimeout),
			resilientws.WithBackoff(cfg.newBackoff),
			resilientws.WithStableAfter(cfg.stableAfter),
			resilientws.WithDialTimeout(cfg.dialTimeout),
			resilientws.WithWriteTimeout(cfg.writeTimeout),
			resilientws.WithDialOptions(&websocket.DialOptions{HTTPClient: sc.tap.httpClient()}),
		)
		c, err := resilientws.New(p.URL(fmt.Sprintf("/soak/%d", i)), opts...)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		sc.c = c
		clients = append(clients, sc)
	}
	for _, sc := range clients {
		if err := sc.c.Start(); err != nil {
			t.Fatalf("client %d: Start: %v", sc.id, err)
		}
	}
	if d, err := waitAllOpen(clients, 20*time.Second); err != nil {
		t.Fatalf("before the faults: %v", err)
	} else {
		res.initialOpen = d
	}

	// The fault phase: every client sends its numbered stream at a steady
	// pace while the scheduler injects faults.
	sched := newScheduler(cfg.seed, proxies, servers, clientLogs(clients))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	faultsEnd := time.Now().Add(cfg.duration)
	var senders sync.WaitGroup
	for _, sc := range clients {
		senders.Add(1)
		go func() {
			defer senders.Done()
			sc.send(ctx, cfg.sendEvery, faultsEnd, cfg.pad(sc.id))
		}()
	}
	sched.run(ctx, cfg.duration) // returns once every fault is undone
	cancel()
	senders.Wait()
	res.faultsStopped = time.Now()

	// Settle: every client must be OPEN again.
	if d, err := waitAllOpen(clients, 30*time.Second); err != nil {
		t.Errorf("after the faults stopped: %v", err)
	} else {
		res.settle = d
	}
	for _, sc := range clients {
		sc.unnoticed = sc.log.unnoticed()
	}

	// Flush: everything accepted has been written.
	flushStart := time.Now()
	var flushes sync.WaitGroup
	for _, sc := range clients {
		flushes.Add(1)
		go func() {
			defer flushes.Done()
			fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer fcancel()
			sc.flushErr = sc.c.Flush(fctx)
		}()
	}
	flushes.Wait()
	res.flush = time.Since(flushStart)
	for _, sc := range clients {
		if sc.flushErr != nil {
			t.Errorf("client %d: Flush: %v (%s, %+v)", sc.id, sc.flushErr, sc.c.State(), sc.c.Stats())
		}
	}

	// The servers have received what each client wrote on its current
	// connection, and every other connection has ended server-side, so
	// nothing more can arrive. (The last messages written on a connection
	// killed by the last faults may be lost in flight: what the servers
	// have is checked below.)
	recvStart := time.Now()
	if err := poll(20*time.Second, func() error {
		for _, sc := range clients {
			want := sc.tap.lastWritten()
			if got := slog.last[sc.id].Load(); got < want {
				return fmt.Errorf("client %d: the servers have seq %d, the client wrote up to %d on its current connection", sc.id, got, want)
			}
		}
		if n := slog.live(); n != len(clients) {
			return fmt.Errorf("%d server-side connections live, want one per client (%d)", n, len(clients))
		}
		return nil
	}); err != nil {
		t.Errorf("waiting for the servers to receive everything: %v", err)
		for _, sc := range clients {
			if got := slog.last[sc.id].Load(); got < sc.tap.lastWritten() {
				sc.tailMissing = true
			}
		}
	}
	res.receive = time.Since(recvStart)

	// Still (or again) all OPEN: a heartbeat on a loaded machine may have
	// dropped a healthy link since the settle, which is no failure as long
	// as the client comes back.
	if _, err := waitAllOpen(clients, 20*time.Second); err != nil {
		t.Errorf("before Close: %v", err)
	}
	for _, sc := range clients {
		sc.acceptedTC = sc.proxy.Accepted()
		sc.closeStart = time.Now()
	}
	closeStart := time.Now()
	closeAll()
	res.close = time.Since(closeStart)
	for _, sc := range clients {
		if sc.closeErr != nil {
			t.Errorf("client %d: Close: %v", sc.id, sc.closeErr)
		}
		if err := sc.c.Err(); err != nil {
			t.Errorf("client %d: Err after Close: %v", sc.id, err)
		}
		sc.finalStats = sc.c.Stats()
	}

	// The accounts.
	res.faultNames, res.faultCounts, res.faultKills = sched.summary()
	for _, e := range sched.errors {
		t.Errorf("fault scheduler: %s", e)
	}
	all := slog.snapshot()
	byClient := make([][]serverConn, cfg.clients)
	for _, c := range all {
		switch {
		case c.client < 0 && len(c.seqs) == 0 && c.mixed == 0 && c.garbled == 0:
			res.emptyServerConns++
		case c.client < 0 || c.mixed > 0:
			t.Errorf("server %d connection %d: %d messages of another client, %d unparsable", c.server, c.number, c.mixed, c.garbled)
		default:
			if c.garbled > 0 {
				// Its other messages count: they were read in full.
				t.Logf("server %d connection %d (client %d): %d message(s) garbled by the test server (CloseAll's Close reads beside the handler's Read)",
					c.server, c.number, c.client, c.garbled)
			}
			if c.server != c.client%cfg.servers {
				t.Errorf("server %d connection %d carries client %d, which is behind server %d", c.server, c.number, c.client, c.client%cfg.servers)
			}
			byClient[c.client] = append(byClient[c.client], c)
		}
	}
	failed := false
	for _, sc := range clients {
		cr := checkClient(cfg, sc, byClient[sc.id], sched.start)
		res.clients = append(res.clients, cr)
		for _, e := range cr.errors {
			t.Errorf("client %d: %s", sc.id, e)
			failed = true
		}
		if len(cr.notes) > 0 || (len(cr.errors) > 0 && len(sched.perClient[sc.id]) > 0) {
			t.Logf("client %d: %s\n  its faults: %s", sc.id, strings.Join(cr.notes, "\n  "), strings.Join(sched.perClient[sc.id], "; "))
		}
	}
	if failed || t.Failed() {
		t.Logf("last faults (seed %d):\n%s", cfg.seed, sched.lastFaults(60))
	}
	return res
}

func clientLogs(clients []*soakClient) []*clientLog {
	out := make([]*clientLog, len(clients))
	for i, sc := range clients {
		out[i] = sc.log
	}
	return out
}

// send sends the numbered stream "c07:1", "c07:2"... every interval until
// until or ctx ends. A Send refused because the queue is full is retried
// with the same number at the next tick, so the accepted numbers are 1..n
// with no gap. Bounded by until and by a tick count.
func (sc *soakClient) send(ctx context.Context, every time.Duration, until time.Time, pad int) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	maxTicks := int(time.Until(until)/every) + 2
	seq := uint32(1)
	for range maxTicks {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if time.Now().After(until) {
			return
		}
		err := sc.c.Send(ctx, resilientws.Text, payload(sc.id, seq, pad))
		switch {
		case err == nil:
			sc.accepted = seq
			seq++
		case errors.Is(err, resilientws.ErrQueueFull):
			sc.rejected++
		case ctx.Err() != nil:
			return
		default:
			sc.sendErr = err
			return
		}
	}
}

// waitAllOpen polls every client's State until all are OPEN at once, and
// returns how long that took. A client that has stopped for good fails at
// once.
func waitAllOpen(clients []*soakClient, d time.Duration) (time.Duration, error) {
	start := time.Now()
	err := poll(d, func() error {
		for _, sc := range clients {
			switch st := sc.c.State(); st {
			case resilientws.StateOpen:
			case resilientws.StateClosed, resilientws.StateClosing:
				return permanentError{fmt.Errorf("client %d is %s: %v", sc.id, st, sc.c.Err())}
			default:
				return fmt.Errorf("client %d is %s", sc.id, st)
			}
		}
		return nil
	})
	return time.Since(start), err
}

type permanentError struct{ error }

// poll calls cond every few milliseconds until it returns nil, it returns a
// permanentError, or d passes; it returns cond's last error.
func poll(d time.Duration, cond func() error) error {
	deadline := time.Now().Add(d)
	var err error
	for i := 0; i < 100000; i++ {
		if err = cond(); err == nil {
			return nil
		}
		var pe permanentError
		if errors.As(err, &pe) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling, not synchronisation
	}
	return fmt.Errorf("after %s: %w", d, err)
}
