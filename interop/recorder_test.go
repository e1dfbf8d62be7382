//go:build !js

package interop_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/resilientws/resilientws"
)

// event is one callback the client made.
type event struct {
	kind  string // open, message, close, error, reconnecting, drop
	at    time.Time
	open  resilientws.OpenEvent
	msg   resilientws.Message
	close resilientws.CloseEvent
	rec   resilientws.ReconnectEvent
	err   error
}

func (e event) String() string {
	switch e.kind {
	case "open":
		return fmt.Sprintf("open %d", e.open.Connection)
	case "message":
		return fmt.Sprintf("message %v %d bytes", e.msg.Type, len(e.msg.Data))
	case "close":
		return fmt.Sprintf("close %d %q reconnect=%t err=%v", e.close.Code, e.close.Reason, e.close.Reconnect, e.close.Err)
	case "reconnecting":
		return fmt.Sprintf("reconnecting attempt=%d delay=%s err=%v", e.rec.Attempt, e.rec.Delay, e.rec.Err)
	default:
		return fmt.Sprintf("%s %v", e.kind, e.err)
	}
}

// recorder records every callback of a client, in order.
type recorder struct {
	t       *testing.T
	mu      sync.Mutex
	events  []event
	changed chan struct{} // closed and replaced on every new event
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, changed: make(chan struct{})}
}

func (r *recorder) add(e event) {
	e.at = time.Now()
	r.mu.Lock()
	r.events = append(r.events, e)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// options returns the callbacks that feed the recorder.
func (r *recorder) options() []resilientws.Option {
	return []resilientws.Option{
		resilientws.OnOpen(func(e resilientws.OpenEvent) { r.add(event{kind: "open", open: e}) }),
		resilientws.OnMessage(func(m resilientws.Message) { r.add(event{kind: "message", msg: m}) }),
		resilientws.OnClose(func(e resilientws.CloseEvent) { r.add(event{kind: "close", close: e}) }),
		resilientws.OnError(func(err error) { r.add(event{kind: "error", err: err}) }),
		resilientws.OnReconnecting(func(e resilientws.ReconnectEvent) { r.add(event{kind: "reconnecting", rec: e}) }),
		resilientws.OnDrop(func(m resilientws.Message, err error) { r.add(event{kind: "drop", msg: m, err: err}) }),
	}
}

// of returns the events of kind recorded so far.
func (r *recorder) of(kind string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.events {
		if e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// waitKind waits for the n-th event of kind (n from 1) and returns it.
func (r *recorder) waitKind(kind string, n int) event {
	r.t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ch := r.changed
		seen := 0
		for _, e := range r.events {
			if e.kind == kind {
				seen++
				if seen == n {
					r.mu.Unlock()
					return e
				}
			}
		}
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			r.t.Fatalf("no %s event #%d within %s; events so far:\n%s", kind, n, wait, r)
		}
	}
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	return b.String()
}

// fastBackoff retries every few milliseconds, so that tests do not wait.
func fastBackoff() resilientws.Option {
	return resilientws.WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Millisecond) })
}

// startClient starts a client with the recorder's callbacks, fast retries and
// opts, and closes it at the end of the test.
func (r *recorder) startClient(url string, opts ...resilientws.Option) *resilientws.Client {
	r.t.Helper()
	all := append(r.options(), fastBackoff())
	c, err := resilientws.New(url, append(all, opts...)...)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}
