package resilientws

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitUntil polls cond every millisecond until it holds, for conditions no
// event announces (a counter, a state); it fails the test after timeout.
func waitUntil(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// rec is one callback the recorder saw.
type rec struct {
	kind  string // open, message, close, error, backoff, reconnecting, drop
	open  OpenEvent
	msg   Message
	close CloseEvent
	rec   ReconnectEvent
	err   error
	state State // State() as seen inside the callback
	at    time.Time
}

func (r rec) String() string {
	switch r.kind {
	case "open":
		return fmt.Sprintf("open(%d)", r.open.Connection)
	case "message":
		return fmt.Sprintf("message(%s)", r.msg.Data)
	case "close":
		return fmt.Sprintf("close(%d,reconnect=%v)", r.close.Code, r.close.Reconnect)
	case "reconnecting":
		return fmt.Sprintf("reconnecting(%d)", r.rec.Attempt)
	case "backoff":
		return fmt.Sprintf("backoff(%d)", r.rec.Attempt)
	case "drop":
		return fmt.Sprintf("drop(%s)", r.msg.Data)
	}
	return fmt.Sprintf("%s(%v)", r.kind, r.err)
}

// recorder records every callback of a client, in order, and lets the test
// wait for one. Callbacks run on the client's event goroutine; the test
// goroutine reads under mu.
type recorder struct {
	t       testing.TB
	client  *Client
	mu      sync.Mutex
	events  []rec
	changed chan struct{}
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, changed: make(chan struct{})}
}

func (r *recorder) add(e rec) {
	if r.client != nil {
		e.state = r.client.State()
	}
	e.at = time.Now()
	r.mu.Lock()
	r.events = append(r.events, e)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// options returns the On* options that feed the recorder.
func (r *recorder) options() []Option {
	return []Option{
		OnOpen(func(e OpenEvent) { r.add(rec{kind: "open", open: e}) }),
		OnMessage(func(m Message) { r.add(rec{kind: "message", msg: m}) }),
		OnClose(func(e CloseEvent) { r.add(rec{kind: "close", close: e}) }),
		OnError(func(err error) { r.add(rec{kind: "error", err: err}) }),
		OnReconnecting(func(e ReconnectEvent) { r.add(rec{kind: "reconnecting", rec: e}) }),
		OnBackoff(func(e ReconnectEvent) { r.add(rec{kind: "backoff", rec: e}) }),
		OnDrop(func(m Message, err error) { r.add(rec{kind: "drop", msg: m, err: err}) }),
	}
}

// newClient builds a client on url with the recorder's options first.
func (r *recorder) newClient(url string, opts ...Option) *Client {
	r.t.Helper()
	c, err := New(url, append(r.options(), opts...)...)
	if err != nil {
		r.t.Fatalf("New: %v", err)
	}
	r.client = c
	r.t.Cleanup(func() {
		_ = c.Close()
		r.checkOrder()
	})
	return c
}

// startClient is newClient followed by Start, which must succeed.
func (r *recorder) startClient(url string, opts ...Option) *Client {
	r.t.Helper()
	c := r.newClient(url, opts...)
	if err := c.Start(); err != nil {
		r.t.Fatalf("Start: %v", err)
	}
	return c
}

// checkOrder checks the event order every client promises, once it has
// stopped: connections numbered 1, 2, ... in order; each OnOpen followed by
// its OnMessages and exactly one OnClose of the same number (none for a
// connection that never opened, and no message outside a connection);
// OnBackoff and OnReconnecting never while a connection is open, each
// OnReconnecting after one OnBackoff of the same attempt.
func (r *recorder) checkOrder() {
	r.t.Helper()
	open := 0      // the open connection's number, 0 if none
	last := 0      // the last number that opened
	announced := 0 // the attempt of an OnBackoff not yet followed by OnReconnecting
	for i, e := range r.all() {
		bad := ""
		switch e.kind {
		case "open":
			if open != 0 || e.open.Connection != last+1 {
				bad = fmt.Sprintf("open %d while %d is open, after %d", e.open.Connection, open, last)
			}
			open, last = e.open.Connection, e.open.Connection
		case "message":
			if open == 0 {
				bad = "a message outside a connection"
			}
		case "close":
			if e.close.Connection != open || open == 0 {
				bad = fmt.Sprintf("close of %d while %d is open", e.close.Connection, open)
			}
			open = 0
		case "backoff":
			switch {
			case open != 0:
				bad = fmt.Sprintf("backoff while %d is open", open)
			case announced != 0:
				bad = fmt.Sprintf("backoff(%d) while backoff(%d) waits for its reconnecting", e.rec.Attempt, announced)
			}
			announced = e.rec.Attempt
		case "reconnecting":
			switch {
			case open != 0:
				bad = fmt.Sprintf("reconnecting while %d is open", open)
			case announced != e.rec.Attempt:
				bad = fmt.Sprintf("reconnecting(%d) after backoff(%d)", e.rec.Attempt, announced)
			}
			announced = 0
		}
		if bad != "" {
			r.t.Errorf("event %d out of order: %s\nevents: %s", i, bad, r.summary())
			return
		}
	}
	if open != 0 {
		r.t.Errorf("connection %d never got its OnClose\nevents: %s", open, r.summary())
	}
}

func (r *recorder) all() []rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rec(nil), r.events...)
}

func (r *recorder) of(kind string) []rec {
	var out []rec
	for _, e := range r.all() {
		if e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// wait waits until pred holds for some recorded event and returns it.
func (r *recorder) wait(what string, timeout time.Duration, pred func(rec) bool) rec {
	r.t.Helper()
	return r.waitAll(what, timeout, func(events []rec) (rec, bool) {
		for _, e := range events {
			if pred(e) {
				return e, true
			}
		}
		return rec{}, false
	})
}

// waitAll waits until find, given every event so far, finds one.
func (r *recorder) waitAll(what string, timeout time.Duration, find func([]rec) (rec, bool)) rec {
	r.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		e, ok := find(r.events)
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return e
		}
		select {
		case <-ch:
		case <-deadline.C:
			r.t.Fatalf("timed out after %s waiting for %s; events: %s", timeout, what, r.summary())
		}
	}
}

// waitKind waits for the n-th event (1-based) of a kind.
func (r *recorder) waitKind(kind string, n int, timeout time.Duration) rec {
	r.t.Helper()
	return r.waitAll(fmt.Sprintf("%s #%d", kind, n), timeout, func(events []rec) (rec, bool) {
		seen := 0
		for _, e := range events {
			if e.kind == kind {
				seen++
				if seen == n {
					return e, true
				}
			}
		}
		return rec{}, false
	})
}

// waitMessages waits until n messages have been received.
func (r *recorder) waitMessages(n int, timeout time.Duration) []rec {
	r.t.Helper()
	r.waitKind("message", n, timeout)
	return r.of("message")
}

func (r *recorder) summary() string {
	var b strings.Builder
	for i, e := range r.all() {
		if i > 0 {
			b.WriteString(" ")
		}
		if i >= 60 {
			b.WriteString("...")
			break
		}
		b.WriteString(e.String())
	}
	return b.String()
}
