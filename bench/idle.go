package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/resilientws/resilientws"
)

// idleConn is one idle connected client.
type idleConn interface{ close() }

type idleVariant struct {
	name string
	dial func(url string) (idleConn, error)
}

// idleVariants: the library with its defaults (heartbeat 30 s / 5 s) and
// the raw shapes a user would otherwise write.
var idleVariants = []idleVariant{
	{"coder+reader", dialIdleCoder(false)},
	{"coder+reader+pinger", dialIdleCoder(true)},
	{"resilientws", dialIdleRWS},
	{"gorilla+reader", dialIdleGorilla},
	{"gws", dialIdleGWS},
}

// Heartbeat of the idle clients, the library's defaults unless
// -idle-heartbeat changes pingEvery (to profile the heartbeat path).
var (
	pingEvery   = resilientws.DefaultHeartbeatInterval
	pongTimeout = resilientws.DefaultHeartbeatTimeout
)

type coderIdle struct {
	c    *websocket.Conn
	stop chan struct{}
	wg   sync.WaitGroup
}

// dialIdleCoder: a coder conn with a Read loop goroutine and, with pinger, a
// heartbeat goroutine (ticker, Ping with a timeout, CloseNow on failure).
func dialIdleCoder(pinger bool) func(string) (idleConn, error) {
	return func(url string) (idleConn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		defer cancel()
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			return nil, err
		}
		ci := &coderIdle{c: c, stop: make(chan struct{})}
		ci.wg.Add(1)
		go func() {
			defer ci.wg.Done()
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					_ = c.CloseNow()
					return
				}
			}
		}()
		if pinger {
			ci.wg.Add(1)
			go func() {
				defer ci.wg.Done()
				t := time.NewTicker(pingEvery)
				defer t.Stop()
				for {
					select {
					case <-ci.stop:
						return
					case <-t.C:
						pctx, cancel := context.WithTimeout(context.Background(), pongTimeout)
						err := c.Ping(pctx)
						cancel()
						if err != nil {
							_ = c.CloseNow()
							return
						}
					}
				}
			}()
		}
		return ci, nil
	}
}

func (ci *coderIdle) close() {
	close(ci.stop)
	_ = ci.c.CloseNow()
	ci.wg.Wait()
}

type rwsIdle struct{ c *resilientws.Client }

func dialIdleRWS(url string) (idleConn, error) {
	opened := make(chan struct{})
	var once sync.Once
	opts := []resilientws.Option{
		resilientws.OnOpen(func(resilientws.OpenEvent) { once.Do(func() { close(opened) }) }),
		resilientws.OnMessage(func(resilientws.Message) {}),
	}
	if pingEvery != resilientws.DefaultHeartbeatInterval {
		opts = append(opts, resilientws.WithHeartbeat(pingEvery, pongTimeout))
	}
	c, err := resilientws.New(url, opts...)
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	select {
	case <-opened:
		return rwsIdle{c}, nil
	case <-time.After(dialTimeout):
		_ = c.Close()
		return nil, fmt.Errorf("resilientws: not open after %s", dialTimeout)
	}
}

func (r rwsIdle) close() { _ = r.c.Close() }

type gorillaIdle struct {
	c    *gorilla.Conn
	done chan struct{}
}

func dialIdleGorilla(url string) (idleConn, error) {
	d := gorilla.Dialer{HandshakeTimeout: dialTimeout}
	c, _, err := d.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	g := &gorillaIdle{c: c, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return g, nil
}

func (g *gorillaIdle) close() { _ = g.c.Close(); <-g.done }

type gwsIdle struct {
	c    *gws.Conn
	done chan struct{}
}

func dialIdleGWS(url string) (idleConn, error) {
	done := make(chan struct{})
	c, _, err := gws.NewClient(&gwsHandler{onMsg: func(int) {}, done: done}, &gws.ClientOption{
		Addr:             url,
		HandshakeTimeout: dialTimeout,
	})
	if err != nil {
		return nil, err
	}
	go c.ReadLoop()
	return &gwsIdle{c: c, done: done}, nil
}

func (g *gwsIdle) close() { _ = g.c.NetConn().Close(); <-g.done }

// idleResult is one idle measurement: per-client deltas.
type idleResult struct {
	n          int
	heap       float64 // HeapInuse per client, bytes
	stack      float64 // StackInuse per client, bytes
	rss        float64 // RSS per client, bytes
	goroutines float64
	connect    time.Duration // time to connect all
	cpuPct     float64       // client process CPU, % of one core (-1: not measured)
	srvCPUPct  float64       // server child CPU, % of one core
	cpuWindow  time.Duration
	pings      int64 // ping frames the server received in the window
}

func gc2() {
	runtime.GC()
	runtime.GC()
}

func memNow() (heap, stack uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

// rss returns the resident set of this process, in bytes.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// cpuSelf returns the user+system CPU time used by this process.
func cpuSelf() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuOf returns the user+system CPU time used by process pid
// (/proc/pid/stat, in clock ticks of 10 ms).
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// connectAll connects n clients of v with a few dials in parallel.
func connectAll(v idleVariant, url string, n int) ([]idleConn, error) {
	conns := make([]idleConn, n)
	const workers = 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := v.dial(url)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		closeAll(conns)
		return nil, fmt.Errorf("%s: %w", v.name, firstErr)
	}
	return conns, nil
}

// closeAll closes the clients, a few at a time.
func closeAll(conns []idleConn) {
	var wg sync.WaitGroup
	next := make(chan idleConn)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				c.close()
			}
		}()
	}
	for _, c := range conns {
		if c != nil {
			next <- c
		}
	}
	close(next)
	wg.Wait()
}

// idleOnce connects n idle clients of v to the server child, measures the
// memory and goroutines they add and, if cpuWindow > 0, the CPU they use
// over that window. With profDir set it writes a heap profile (cpuWindow 0)
// or a CPU profile over the window.
func idleOnce(v idleVariant, srv *child, n int, cpuWindow time.Duration, profDir string) (idleResult, error) {
	url := "ws://" + srv.addr + "/echo"
	gc2()
	time.Sleep(100 * time.Millisecond)
	gc2()
	h0, s0 := memNow()
	r0 := rss()
	g0 := runtime.NumGoroutine()
	t0 := time.Now()
	conns, err := connectAll(v, url, n)
	if err != nil {
		return idleResult{}, err
	}
	defer closeAll(conns)
	connect := time.Since(t0)
	time.Sleep(200 * time.Millisecond) // let every goroutine park
	gc2()
	h1, s1 := memNow()
	r1 := rss()
	g1 := runtime.NumGoroutine()
	res := idleResult{
		n:          n,
		heap:       (float64(h1) - float64(h0)) / float64(n),
		stack:      (float64(s1) - float64(s0)) / float64(n),
		rss:        (float64(r1) - float64(r0)) / float64(n),
		goroutines: float64(g1-g0) / float64(n),
		connect:    connect,
		cpuPct:     -1,
		srvCPUPct:  -1,
	}
	if profDir != "" && cpuWindow == 0 {
		if err := writeProfile(filepath.Join(profDir, fmt.Sprintf("idle-heap-%s-%d.pprof", v.name, n)), "heap"); err != nil {
			return res, err
		}
	}
	if cpuWindow > 0 {
		var stopProf func()
		if profDir != "" {
			f, err := os.Create(filepath.Join(profDir, fmt.Sprintf("idle-cpu-%s-%d.pprof", v.name, n)))
			if err != nil {
				return res, err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				f.Close()
				return res, err
			}
			stopProf = func() { pprof.StopCPUProfile(); f.Close() }
		}
		p0, _ := srv.pings()
		c0, sc0, w0 := cpuSelf(), cpuOf(srv.pid()), time.Now()
		time.Sleep(cpuWindow)
		c1, sc1, w1 := cpuSelf(), cpuOf(srv.pid()), time.Now()
		p1, _ := srv.pings()
		res.pings = int64(p1) - int64(p0)
		if stopProf != nil {
			stopProf()
		}
		wall := w1.Sub(w0)
		res.cpuWindow = wall
		res.cpuPct = 100 * float64(c1-c0) / float64(wall)
		res.srvCPUPct = 100 * float64(sc1-sc0) / float64(wall)
	}
	return res, nil
}

func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup(name).WriteTo(f, 0)
}

// raiseFDLimit raises the soft limit on open files to the hard limit and
// returns the new soft limit.
func raiseFDLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}
