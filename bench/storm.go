package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/resilientws/resilientws"
)

// stormResult is one reconnect storm.
type stormResult struct {
	n         int
	down      time.Duration // how long the server stayed down
	allBack   time.Duration // from the kill until every client was OPEN again
	dials     int           // dial attempts after the kill
	failed    int           // of which refused or failed
	peak      int           // most dials in any 100 ms window
	mean      float64       // mean dials per 100 ms, first to last dial
	wave1Mean float64       // mean dials per 100 ms over the first n dials (every client's first retry)
	firstDial time.Duration // from the kill
	lastDial  time.Duration
}

// dialLog records the start time of every TCP dial of every client.
type dialLog struct {
	mu     sync.Mutex
	on     bool
	times  []time.Time
	failed int
}

func (l *dialLog) transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		now := time.Now()
		c, err := d.DialContext(ctx, network, addr)
		l.mu.Lock()
		if l.on {
			l.times = append(l.times, now)
			if err != nil {
				l.failed++
			}
		}
		l.mu.Unlock()
		return c, err
	}
	return tr
}

func (l *dialLog) start() {
	l.mu.Lock()
	l.on, l.times, l.failed = true, nil, 0
	l.mu.Unlock()
}

func (l *dialLog) stop() ([]time.Time, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = false
	return l.times, l.failed
}

// stormClient is a library client with the default options; opens counts
// its connections and lastOpen is when the latest one opened.
type stormClient struct {
	c        *resilientws.Client
	opens    atomic.Int32
	lastOpen atomic.Int64 // UnixNano
}

// storm connects n library clients to a server child, kills the child
// (SIGKILL), starts a new one on the same address after down, and measures
// how the clients come back.
func storm(n int, down time.Duration, maxWait time.Duration) (stormResult, error) {
	srv, err := startChild("127.0.0.1:0", false)
	if err != nil {
		return stormResult{}, err
	}
	defer func() { srv.stop() }()
	url := "ws://" + srv.addr + "/echo"
	log := &dialLog{}
	hc := &http.Client{Transport: log.transport()}

	clients := make([]*stormClient, n)
	var allOpen sync.WaitGroup
	allOpen.Add(n)
	for i := range clients {
		sc := &stormClient{}
		c, err := resilientws.New(url,
			resilientws.WithDialOptions(&websocket.DialOptions{HTTPClient: hc}),
			resilientws.OnOpen(func(resilientws.OpenEvent) {
				sc.lastOpen.Store(time.Now().UnixNano())
				if sc.opens.Add(1) == 1 {
					allOpen.Done()
				}
			}),
		)
		if err != nil {
			return stormResult{}, err
		}
		sc.c = c
		clients[i] = sc
	}
	defer func() {
		var wg sync.WaitGroup
		next := make(chan *stormClient)
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for sc := range next {
					_ = sc.c.Close()
				}
			}()
		}
		for _, sc := range clients {
			next <- sc
		}
		close(next)
		wg.Wait()
	}()
	// Start them at a bounded pace so the first connect is no storm itself.
	for i, sc := range clients {
		if err := sc.c.Start(); err != nil {
			return stormResult{}, err
		}
		if i%100 == 99 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !waitGroupTimeout(&allOpen, 60*time.Second) {
		return stormResult{}, fmt.Errorf("storm: not all %d clients open after 60 s", n)
	}
	time.Sleep(500 * time.Millisecond)

	log.start()
	kill := time.Now()
	srv.kill()
	if down > 0 {
		time.Sleep(down)
	}
	srv2, err := startChild(srv.addr, false)
	if err != nil {
		log.stop()
		return stormResult{}, fmt.Errorf("storm: restart on %s: %w", srv.addr, err)
	}
	srv = srv2
	restarted := time.Since(kill)

	deadline := time.Now().Add(maxWait)
	for {
		back := 0
		for _, sc := range clients {
			if sc.opens.Load() >= 2 {
				back++
			}
		}
		if back == n {
			break
		}
		if time.Now().After(deadline) {
			log.stop()
			return stormResult{}, fmt.Errorf("storm: %d of %d clients back after %s", back, n, maxWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	times, failed := log.stop()
	res := stormResult{n: n, down: restarted, dials: len(times), failed: failed}
	var last int64
	for _, sc := range clients {
		last = max(last, sc.lastOpen.Load())
	}
	res.allBack = time.Unix(0, last).Sub(kill)
	if len(times) > 0 {
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		res.firstDial = times[0].Sub(kill)
		res.lastDial = times[len(times)-1].Sub(kill)
		res.peak = peakWindow(times, 100*time.Millisecond)
		span := times[len(times)-1].Sub(times[0])
		res.mean = per100ms(len(times), span)
		if len(times) >= n {
			res.wave1Mean = per100ms(n, times[n-1].Sub(times[0]))
		}
	}
	return res, nil
}

// per100ms returns n events over span as a rate per 100 ms (span at least
// 100 ms).
func per100ms(n int, span time.Duration) float64 {
	span = max(span, 100*time.Millisecond)
	return float64(n) / (float64(span) / float64(100*time.Millisecond))
}

// peakWindow returns the largest number of sorted times within any window
// of length w.
func peakWindow(times []time.Time, w time.Duration) int {
	peak, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		peak = max(peak, i-j+1)
	}
	return peak
}

func waitGroupTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
