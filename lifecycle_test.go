//go:build !js

package resilientws

// The page events' handling is shared code: these tests drive it natively,
// under the race detector, which the browser lacks, by calling pageNudge
// as the browser's listeners do (lifecycle_js.go). The browser suite
// dispatches the real events.

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// thirtySeconds is a backoff that always waits 30 s.
func thirtySeconds() Option {
	return WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(30 * time.Second) })
}

func TestPageEventCutsTheWait(t *testing.T) {
	srv := newServer(t)
	r := newRecorder(t)
	r.startClient(srv.URL(), thirtySeconds())
	r.waitKind("open", 1, wait)
	srv.DropAll()
	r.waitKind("backoff", 1, wait)
	r.client.pageNudge(pageVisible)
	if e := r.waitKind("reconnecting", 1, wait).rec; e.DelaySource != DelayNone || e.Delay >= time.Second {
		t.Errorf("OnReconnecting = %+v, want the wait cut at once (DelayNone)", e)
	}
	r.waitKind("open", 2, wait)
}

func TestPageEventProbesTheOpenConnection(t *testing.T) {
	var answering atomic.Bool
	answering.Store(true)
	srv := appPingServer(t, &answering)
	r := newRecorder(t)
	const timeout = 200 * time.Millisecond
	c := r.startClient(srv.URL(), thirtySeconds(), WithAppHeartbeat(time.Minute, timeout, appPing, isAppPong))
	r.waitKind("open", 1, wait)

	// A live server: the probe's pong, and the connection stays.
	c.pageNudge(pageResume)
	waitUntil(t, "the probe's pong", wait, func() bool { return c.Stats().LastRTT > 0 })

	// A silent one: replaced within the heartbeat timeout, and the next
	// dial comes at once although the backoff says 30 s.
	answering.Store(false)
	nudged := time.Now()
	c.pageNudge(pageOnline)
	closed := r.waitKind("close", 1, wait)
	if took := closed.at.Sub(nudged); took > timeout+time.Second || !errors.Is(closed.close.Err, ErrHeartbeatTimeout) {
		t.Errorf("closed %s after the event with %v, want ErrHeartbeatTimeout within about %s", took, closed.close.Err, timeout)
	}
	answering.Store(true)
	if took := r.waitKind("open", 2, wait).at.Sub(closed.at); took > time.Second {
		t.Errorf("the next connection opened %s after the close, want at once", took)
	}
}

// Page events racing with Send, Reconnect and Close, under -race.
func TestPageEventsRaceWithTheClient(t *testing.T) {
	srv := newServer(t)
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithAppHeartbeat(10*time.Millisecond, time.Second, appPing, isAppPong))
	r.waitKind("open", 1, wait)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			c.pageNudge(pageEvent(1 + i%4))
		}
	}()
	for range 50 {
		_ = c.SendText(context.Background(), "x")
	}
	_ = c.Reconnect()
	<-done
	_ = c.Close() // what matters is no race, no panic, no leak (goleak)
}
