package main

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// window is the number of messages in flight in the pipelined workload.
const window = 64

// echoResult is one measurement of one variant on one fresh connection.
type echoResult struct {
	msgs     int
	elapsed  time.Duration
	rate     float64 // messages per second (pipelined)
	allocs   float64 // process-wide allocations per message
	bytes    float64 // process-wide bytes allocated per message
	p50, p99 time.Duration
	cpuUS    float64 // µs of this process's CPU per message (push: the client's alone)
}

// memCounters reads the process-wide allocation counters.
func memCounters() (mallocs, bytes uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs, ms.TotalAlloc
}

// pipelined echoes messages of size bytes with window in flight, until
// maxDur or maxMsgs, then waits for the last echoes. The rate is messages
// echoed per second, from the first send to the last echo.
func pipelined(v variant, a addrs, size int, maxDur time.Duration, maxMsgs int) (echoResult, error) {
	sem := make(chan struct{}, window)
	for i := 0; i < window; i++ {
		sem <- struct{}{}
	}
	c, err := v.dial(a, func(int) { sem <- struct{}{} })
	if err != nil {
		return echoResult{}, fmt.Errorf("%s: dial: %w", v.name, err)
	}
	defer c.close()
	stuck := make(chan struct{})
	wd := time.AfterFunc(maxDur+15*time.Second, func() { close(stuck) })
	defer wd.Stop()
	payload := make([]byte, size)

	runtime.GC()
	m0, b0 := memCounters()
	start := time.Now()
	deadline := start.Add(maxDur)
	sent := 0
	for sent < maxMsgs {
		if sent%window == 0 && time.Now().After(deadline) {
			break
		}
		select {
		case <-sem:
		case <-stuck:
			return echoResult{}, fmt.Errorf("%s: pipelined %d B: no echo for 15 s", v.name, size)
		}
		if err := c.send(payload); err != nil {
			return echoResult{}, fmt.Errorf("%s: send: %w", v.name, err)
		}
		sent++
	}
	for i := 0; i < window; i++ { // every token back: every echo received
		select {
		case <-sem:
		case <-stuck:
			return echoResult{}, fmt.Errorf("%s: pipelined %d B: echoes missing after 15 s", v.name, size)
		}
	}
	elapsed := time.Since(start)
	m1, b1 := memCounters()
	return echoResult{
		msgs:    sent,
		elapsed: elapsed,
		rate:    float64(sent) / elapsed.Seconds(),
		allocs:  float64(m1-m0) / float64(sent),
		bytes:   float64(b1-b0) / float64(sent),
	}, nil
}

// pingPong sends one message of size bytes and waits for its echo before
// the next, until maxDur or maxMsgs; the first 5 % are dropped as warm-up.
func pingPong(v variant, a addrs, size int, maxDur time.Duration, maxMsgs int) (echoResult, error) {
	c, err := v.dial(a, nil)
	if err != nil {
		return echoResult{}, fmt.Errorf("%s: dial: %w", v.name, err)
	}
	var timedOut atomic.Bool
	wd := time.AfterFunc(maxDur+15*time.Second, func() { timedOut.Store(true); c.close() })
	defer func() {
		if wd.Stop() {
			c.close()
		}
	}()
	payload := make([]byte, size)
	lat := make([]time.Duration, 0, maxMsgs)

	runtime.GC()
	m0, b0 := memCounters()
	start := time.Now()
	deadline := start.Add(maxDur)
	for len(lat) < maxMsgs {
		t0 := time.Now()
		if t0.After(deadline) {
			break
		}
		if err := c.send(payload); err != nil {
			return echoResult{}, fmt.Errorf("%s: send: %w", v.name, err)
		}
		n, err := c.recv()
		if err != nil {
			if timedOut.Load() {
				err = errors.New("no echo for 15 s")
			}
			return echoResult{}, fmt.Errorf("%s: ping-pong %d B: %w", v.name, size, err)
		}
		if n != size {
			return echoResult{}, fmt.Errorf("%s: echo of %d bytes, want %d", v.name, n, size)
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	m1, b1 := memCounters()
	return latencies(v, lat, elapsed, m1-m0, b1-b0)
}

// callbackPingPong is pingPong with each next message sent from the
// receive callback, the way a callback API answers (for the raw clients,
// from their reader goroutine, which then reads again: the same as
// pingPong). pingPong's waiting goroutine adds a hop to the callback
// clients (callback → channel → waiter) that this workload does not.
func callbackPingPong(v variant, a addrs, size int, maxDur time.Duration, maxMsgs int) (echoResult, error) {
	var (
		cp       atomic.Pointer[client]
		lat      = make([]time.Duration, 0, maxMsgs)
		t0       time.Time
		deadline time.Time
		failed   error
		done     = make(chan struct{})
		payload  = make([]byte, size)
		sendMu   sync.Mutex // the first send may still be returning when its echo arrives (gorilla forbids concurrent writes)
	)
	send := func() error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return (*cp.Load()).send(payload)
	}
	// onMsg runs on one goroutine at a time (the client's reader or its
	// callback goroutine); the test goroutine reads lat and failed after done.
	onMsg := func(n int) {
		lat = append(lat, time.Since(t0))
		switch {
		case n != size:
			failed = fmt.Errorf("echo of %d bytes, want %d", n, size)
		case len(lat) < maxMsgs && time.Now().Before(deadline):
			t0 = time.Now()
			if failed = send(); failed == nil {
				return
			}
		}
		close(done)
	}
	c, err := v.dial(a, onMsg)
	if err != nil {
		return echoResult{}, fmt.Errorf("%s: dial: %w", v.name, err)
	}
	defer c.close()
	cp.Store(&c)

	runtime.GC()
	m0, b0 := memCounters()
	start := time.Now()
	deadline = start.Add(maxDur)
	t0 = start
	if err := send(); err != nil {
		return echoResult{}, fmt.Errorf("%s: send: %w", v.name, err)
	}
	select {
	case <-done:
	case <-time.After(maxDur + 15*time.Second):
		return echoResult{}, fmt.Errorf("%s: callback ping-pong %d B: no echo for 15 s", v.name, size)
	}
	elapsed := time.Since(start)
	m1, b1 := memCounters()
	if failed != nil {
		return echoResult{}, fmt.Errorf("%s: callback ping-pong %d B: %w", v.name, size, failed)
	}
	return latencies(v, lat, elapsed, m1-m0, b1-b0)
}

// latencies summarises the round trips of a ping-pong: the first 5 % are
// dropped as warm-up, then p50 and p99; allocations are per round trip.
func latencies(v variant, lat []time.Duration, elapsed time.Duration, mallocs, bytes uint64) (echoResult, error) {
	msgs := len(lat)
	if msgs < 20 {
		return echoResult{}, fmt.Errorf("%s: only %d round trips", v.name, msgs)
	}
	lat = lat[msgs/20:]
	slices.Sort(lat)
	return echoResult{
		msgs:    msgs,
		elapsed: elapsed,
		rate:    float64(msgs) / elapsed.Seconds(),
		allocs:  float64(mallocs) / float64(msgs),
		bytes:   float64(bytes) / float64(msgs),
		p50:     lat[len(lat)*50/100],
		p99:     lat[len(lat)*99/100],
	}, nil
}
