//go:build !js

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

// tickEvery is how often the feed sends a tick on each connection.
const tickEvery = 500 * time.Millisecond

// step is one misbehaviour of the feed, at a fraction of its cycle.
type step struct {
	at   float64 // of the cycle
	what string
	do   func(*feed)
}

// schedule is the feed's cycle. The browser tells the page nothing about a
// refused upgrade (no status, no Retry-After): the client sees a failed
// dial, and retries with backoff.
var schedule = []step{
	{0.2, "drops every connection abruptly (no close frame)", func(f *feed) { f.srv.DropAll() }},
	{0.4, "closes every connection with 1012 (service restart), then refuses upgrades with 503", func(f *feed) {
		f.srv.Refuse(503, "1")
		f.srv.CloseAll(websocket.StatusServiceRestart, "restarting")
	}},
	{0.55, "accepts connections again", func(f *feed) { f.srv.Accept() }},
	{0.7, "goes silent on the open connections: no tick, no pong, no echo, TCP left open", func(f *feed) {
		f.silentUpTo.Store(int64(f.srv.Accepted()))
	}},
	{0.9, "speaks again", func(f *feed) { f.silentUpTo.Store(0) }},
}

// feed is the demo's misbehaving feed server: the resilientws test kit's
// server with a handler of its own and a scheduler goroutine.
//
// Owner: newDemo. Stop signal and join point: close, which stops the
// scheduler and closes the server (which closes every connection and waits
// for every handler).
type feed struct {
	srv        *resilientwstest.Server
	cycle      time.Duration
	start      time.Time
	logf       func(string, ...any)
	silentUpTo atomic.Int64 // connections numbered up to this one are silent

	firstOnce sync.Once
	first     chan struct{} // closed by the first connection: the cycles start
	stop      chan struct{}
	wg        sync.WaitGroup // the scheduler
}

// tick is the feed's message; an echo carries what the page sent.
type tick struct {
	Type  string  `json:"type"` // "tick" or "echo"
	Conn  int     `json:"conn"`
	Seq   int64   `json:"seq,omitempty"`
	Price float64 `json:"price,omitempty"`
	Text  string  `json:"text,omitempty"`
}

func startFeed(cycle time.Duration, logf func(string, ...any)) *feed {
	f := &feed{cycle: cycle, start: time.Now(), logf: logf, first: make(chan struct{}), stop: make(chan struct{})}
	f.srv = resilientwstest.NewServer(
		// The page comes from another port of 127.0.0.1.
		resilientwstest.WithAcceptOptions(&websocket.AcceptOptions{OriginPatterns: []string{"127.0.0.1:*", "localhost:*"}}),
		resilientwstest.WithHandler(f.serve))
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.misbehave()
	}()
	return f
}

func (f *feed) url() string { return f.srv.URL() + "/feed" }

func (f *feed) close() {
	close(f.stop)
	f.wg.Wait()
	f.srv.Close()
}

// scheduleText describes the cycle, one step a line.
func (f *feed) scheduleText(indent string) string {
	var b strings.Builder
	for i, st := range schedule {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s%5.1fs: %s", indent, (time.Duration(st.at * float64(f.cycle))).Seconds(), st.what)
	}
	return b.String()
}

// misbehave runs the schedule, cycle after cycle, from the first
// connection (the page has loaded) until close.
func (f *feed) misbehave() {
	select {
	case <-f.first:
	case <-f.stop:
		return
	}
	begin := time.Now()
	for cycle := 0; ; cycle++ {
		for _, st := range schedule {
			at := begin.Add(time.Duration(cycle)*f.cycle + time.Duration(st.at*float64(f.cycle)))
			t := time.NewTimer(time.Until(at))
			select {
			case <-f.stop:
				t.Stop()
				return
			case <-t.C:
			}
			f.logf("FEED: %s", st.what)
			st.do(f)
		}
	}
}

func (f *feed) silent(c *resilientwstest.Conn) bool { return int64(c.Number()) <= f.silentUpTo.Load() }

// serve runs one connection: ticks on a goroutine of its own (joined
// before serve returns), echoes and pongs on this one.
func (f *feed) serve(ctx context.Context, c *resilientwstest.Conn) {
	f.logf("FEED: connection %d open", c.Number())
	f.firstOnce.Do(func() { close(f.first) })
	ctx, cancel := context.WithCancel(ctx)
	var ticker sync.WaitGroup
	ticker.Go(func() { f.tick(ctx, c) })
	defer ticker.Wait()
	defer cancel()
	for {
		typ, data, err := c.Conn.Read(ctx) // not c.Read: the kit would keep every message
		if err != nil {
			f.logf("FEED: connection %d ended: %v", c.Number(), err)
			return
		}
		if f.silent(c) {
			continue
		}
		if string(data) == `{"request":"ping"}` {
			data = []byte(`{"response":"pong"}`)
		} else if data, err = json.Marshal(tick{Type: "echo", Conn: c.Number(), Text: string(data)}); err != nil {
			return
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

// tick sends a tick every tickEvery until ctx ends, unless silent. Its
// sequence number counts ticks since the feed started, so those missed
// during an outage show as a gap.
func (f *feed) tick(ctx context.Context, c *resilientwstest.Conn) {
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		}
		if f.silent(c) {
			continue
		}
		seq := int64(now.Sub(f.start) / tickEvery)
		price := 100 + 5*math.Sin(float64(seq)/25) + math.Sin(float64(seq)*1.7)/4
		data, err := json.Marshal(tick{Type: "tick", Conn: c.Number(), Seq: seq, Price: math.Round(price*100) / 100})
		if err != nil {
			return
		}
		if err := c.Write(ctx, websocket.MessageText, data); err != nil {
			return
		}
	}
}
