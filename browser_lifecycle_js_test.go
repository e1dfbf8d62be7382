//go:build js && wasm

package resilientws

// The browser suite: the page's lifecycle (online, offline, visibility,
// back/forward cache, freeze, a hidden page's throttled timers). A headless
// page never changes network or visibility by itself: the tests dispatch
// the events from the page, and override navigator.onLine and
// document.visibilityState where the client reads them; DevTools, through
// the control API, freezes the page and minimizes its window.

import (
	"errors"
	"fmt"
	"net/http"
	"syscall/js"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"
)

// jsEval runs JavaScript in the page.
func jsEval(t testing.TB, code string) js.Value {
	t.Helper()
	var v js.Value
	if err := jsCall(func() { v = js.Global().Call("eval", code) }); err != nil {
		t.Fatalf("eval %q: %v", code, err)
	}
	return v
}

// fire dispatches a plain event named name on window or document.
func fire(t testing.TB, target, name string) {
	t.Helper()
	jsEval(t, fmt.Sprintf("%s.dispatchEvent(new Event(%q))", target, name))
}

// setOnline makes navigator.onLine say on (false), or the browser's own
// again (true), for the test.
func setOnline(t testing.TB, on bool) {
	t.Helper()
	if on {
		jsEval(t, "delete navigator.onLine")
		return
	}
	jsEval(t, "Object.defineProperty(navigator, 'onLine', {get: () => false, configurable: true})")
	t.Cleanup(func() { jsEval(t, "delete navigator.onLine") })
}

// setVisibility makes document.visibilityState say state for the test.
func setVisibility(t testing.TB, state string) {
	t.Helper()
	jsEval(t, fmt.Sprintf("Object.defineProperty(document, 'visibilityState', {get: () => %q, configurable: true})", state))
	t.Cleanup(func() { jsEval(t, "delete document.visibilityState") })
}

// slowBackoff waits initial, then twice as long each time up to max,
// without jitter.
func slowBackoff(initial, max time.Duration) Option {
	return WithBackoff(func() backoff.BackOff {
		return backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(initial),
			backoff.WithRandomizationFactor(0),
			backoff.WithMultiplier(2),
			backoff.WithMaxInterval(max),
			backoff.WithMaxElapsedTime(0))
	})
}

// quiet fails the test if cond holds at any check during d: for what must
// not happen (a dial the client should not make).
func quiet(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(end) {
		if cond() {
			t.Fatalf("%s", what)
		}
		<-tick.C
	}
}

// minuteHeartbeat is the browser tests' application heartbeat with a
// minute's interval: only a page event's probe sends a ping within a test.
func minuteHeartbeat(timeout time.Duration) Option {
	return WithAppHeartbeat(time.Minute, timeout, Message{Type: Text, Data: []byte(pingText)},
		func(m Message) bool { return string(m.Data) == pongText })
}

// openOn starts a client on srv and returns once it is OPEN.
func openOn(t testing.TB, r *recorder, srv *ctlSrv, opts ...Option) *Client {
	t.Helper()
	c := r.newClient(srv.url, opts...)
	start(t, c)
	r.waitKind("open", 1, bwait)
	return c
}

// lostAndWaiting opens a client on srv, drops its connection and returns
// once the client waits before its next dial (OnBackoff).
func lostAndWaiting(t testing.TB, r *recorder, srv *ctlSrv, opts ...Option) *Client {
	t.Helper()
	c := openOn(t, r, srv, opts...)
	srv.do("drop")
	r.waitKind("backoff", 1, bwait)
	return c
}

// The window's online event cuts the wait: the next dial comes at once,
// although the backoff says 30 s.
func TestBrowserOnlineWhileWaitingDialsAtOnce(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	lostAndWaiting(t, r, srv, slowBackoff(30*time.Second, 30*time.Second))
	if d := r.of("backoff")[0].rec.Delay; d != 30*time.Second {
		t.Fatalf("OnBackoff's delay = %s, want 30s", d)
	}
	fired := time.Now()
	fire(t, "window", "online")
	open := r.waitKind("open", 2, bwait)
	took := open.at.Sub(fired)
	t.Logf("online to the next open: %s", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the next connection opened %s after online, want within a second", took)
	}
	if e := r.waitKind("reconnecting", 1, bwait).rec; e.DelaySource != DelayNone || e.Delay >= 30*time.Second {
		t.Errorf("OnReconnecting = %+v, want the wait cut short (DelayNone)", e)
	}
}

// The online event while OPEN probes the connection with the application
// heartbeat's ping: a dead one (a silent server here) is replaced within
// the heartbeat timeout, although the interval is a minute, and the next
// dial comes at once, although the backoff says 30 s.
func TestBrowserOnlineWhileOpenProbes(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := newCtlSrv(t)
	r := newRecorder(t)
	openOn(t, r, srv, slowBackoff(30*time.Second, 30*time.Second), minuteHeartbeat(timeout))
	srv.do("silence")
	fired := time.Now()
	fire(t, "window", "online")
	closed := r.waitKind("close", 1, bwait)
	took := closed.at.Sub(fired)
	t.Logf("online to the dead connection's close: %s", took.Round(time.Millisecond))
	if took > timeout+500*time.Millisecond { // slack for a loaded machine
		t.Errorf("closed %s after online, want within the heartbeat timeout (%s)", took, timeout)
	}
	if e := closed.close; !errors.Is(e.Err, ErrHeartbeatTimeout) || !e.Reconnect {
		t.Errorf("OnClose = %+v, want ErrHeartbeatTimeout, reconnecting", e)
	}
	srv.do("speak")
	// The probe's verdict came soon after online: the wait after it is
	// cut as online would have cut it, although the backoff says 30 s.
	if took := r.waitKind("open", 2, bwait).at.Sub(closed.at); took > time.Second {
		t.Errorf("the next connection opened %s after the close, want within a second", took)
	}
}

// While navigator.onLine is false, a wait that ends does not dial: the
// client waits for online (a visibility change does not cut that wait),
// then dials at once.
func TestBrowserOfflineThenOnline(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := openOn(t, r, srv, slowBackoff(50*time.Millisecond, 30*time.Second))
	setOnline(t, false)
	fire(t, "window", "offline")
	srv.do("drop")
	r.waitKind("backoff", 1, bwait)
	requests := srv.state().Requests
	dialed := func() bool { return len(r.of("reconnecting")) > 0 || srv.state().Requests != requests }
	quiet(t, "the client dialed while the browser said offline", 500*time.Millisecond, dialed)
	fire(t, "document", "visibilitychange")
	quiet(t, "a visibility change cut the offline wait", 300*time.Millisecond, dialed)
	if s := c.State(); s != StateConnecting {
		t.Errorf("State while offline = %s, want CONNECTING", s)
	}

	setOnline(t, true)
	fired := time.Now()
	fire(t, "window", "online")
	open := r.waitKind("open", 2, bwait)
	t.Logf("online to the next open: %s", open.at.Sub(fired).Round(time.Millisecond))
	if took := open.at.Sub(fired); took > time.Second {
		t.Errorf("the next connection opened %s after online, want within a second", took)
	}
	if n := len(r.of("reconnecting")); n != 1 {
		t.Errorf("%d dials while offline and after, want 1; events: %s", n, r.summary())
	}
}

// A browser that says offline and never fires online is trusted up to the
// backoff's maximum delay: then the client dials.
func TestBrowserOfflineWaitsAtMostTheMaximumDelay(t *testing.T) {
	const max = 400 * time.Millisecond
	srv := newCtlSrv(t)
	r := newRecorder(t)
	setOnline(t, false)
	lostAndWaiting(t, r, srv, slowBackoff(50*time.Millisecond, max))
	e := r.waitKind("reconnecting", 1, bwait).rec
	t.Logf("offline: OnBackoff said %s, the wait lasted %s", r.of("backoff")[0].rec.Delay, e.Delay.Round(time.Millisecond))
	if e.Delay < max {
		t.Errorf("the offline wait lasted %s, want the backoff's maximum (%s)", e.Delay, max)
	}
	r.waitKind("open", 2, bwait) // the server was up all along (a local server works offline)
}

// Visible again while OPEN: a heartbeat ping goes out at once (its pong
// sets the round trip), not at the next interval a minute later. A change
// to hidden does nothing.
func TestBrowserVisibleWhileOpenPingsAtOnce(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := openOn(t, r, srv, browserBackoff(), minuteHeartbeat(bwait))
	setVisibility(t, "hidden")
	fire(t, "document", "visibilitychange")
	quiet(t, "a ping went out when the page was hidden", 300*time.Millisecond, func() bool { return c.Stats().LastRTT > 0 })
	setVisibility(t, "visible")
	fire(t, "document", "visibilitychange")
	waitUntil(t, "the pong to a ping sent at once", time.Second, func() bool { return c.Stats().LastRTT > 0 })
	if n := len(r.of("open")); n != 1 || c.State() != StateOpen {
		t.Errorf("the connection did not stay: events %s", r.summary())
	}
}

// pageshow with persisted (back from the back/forward cache) dials at once
// when waiting; a pageshow without it (a first load) does nothing.
func TestBrowserPageshowPersisted(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	lostAndWaiting(t, r, srv, slowBackoff(30*time.Second, 30*time.Second))
	jsEval(t, "window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: false}))")
	quiet(t, "pageshow without persisted cut the wait", 300*time.Millisecond, func() bool { return len(r.of("reconnecting")) > 0 })
	fired := time.Now()
	jsEval(t, "window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))")
	if took := r.waitKind("open", 2, bwait).at.Sub(fired); took > time.Second {
		t.Errorf("the next connection opened %s after pageshow, want within a second", took)
	}
}

// The document's resume event (after a freeze) probes an open connection.
func TestBrowserResumeWhileOpenPingsAtOnce(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := openOn(t, r, srv, browserBackoff(), minuteHeartbeat(bwait))
	fire(t, "document", "resume")
	waitUntil(t, "the pong to a ping sent at once", time.Second, func() bool { return c.Stats().LastRTT > 0 })
}

// A page frozen through DevTools (Page.setWebLifecycleState, which works in
// headless Chromium) runs no timer and no event while frozen: a timer due
// meanwhile fires at resume. Chromium also closes the page's WebSockets as
// it freezes it: the server gets 1001 (going away) at once, the page a
// 1006 close event at resume. The document's resume event comes with it
// (and, as the control API makes the page visible again, a
// visibilitychange), so the client dials at once, although its backoff
// says 30 s.
func TestBrowserFreezeAndResume(t *testing.T) {
	const freezeMS = 600
	srv := newCtlSrv(t)
	r := newRecorder(t)
	openOn(t, r, srv, slowBackoff(30*time.Second, 30*time.Second))

	due := time.Now().Add(freezeMS / 2 * time.Millisecond)
	fired := make(chan time.Time, 1)
	timer := time.AfterFunc(time.Until(due), func() { fired <- time.Now() })
	defer timer.Stop()
	begun := time.Now()
	ctl(t, http.MethodPost, fmt.Sprintf("/ctl/freeze?ms=%d", freezeMS), nil)
	back := time.Now()
	select {
	case at := <-fired:
		t.Logf("frozen for %d ms: the DevTools call took %s; a timer due %s into it fired %s late, %s after the call returned",
			freezeMS, back.Sub(begun).Round(time.Millisecond), due.Sub(begun).Round(time.Millisecond),
			at.Sub(due).Round(time.Millisecond), at.Sub(back).Round(time.Millisecond))
		if at.Sub(due) < freezeMS/4*time.Millisecond {
			t.Errorf("the timer fired %s late: was the page frozen?", at.Sub(due))
		}
	case <-time.After(bwait):
		t.Fatal("a timer due during the freeze never fired")
	}
	closed := r.waitKind("close", 1, bwait)
	open := r.waitKind("open", 2, bwait)
	t.Logf("after the freeze: OnClose %d %s after the call returned, the next open %s after it",
		closed.close.Code, closed.at.Sub(back).Round(time.Millisecond), open.at.Sub(back).Round(time.Millisecond))
	if took := open.at.Sub(back); took > time.Second {
		t.Errorf("the next connection opened %s after the page was resumed, want within a second (the backoff says 30 s)", took)
	}
	st := srv.waitState("connection 1's end", func(st serverState) bool { _, ok := st.end(1); return ok })
	if e, _ := st.end(1); e.Code != int(websocket.StatusGoingAway) {
		t.Logf("the server saw connection 1 end with %+v; Chromium used to close a frozen page's socket with 1001", e)
	}
	// The control API made the page visible again (a page made active
	// stays hidden and throttled): the tests after this one need it.
	waitUntil(t, "the page visible", bwait, func() bool {
		return js.Global().Get("document").Get("visibilityState").String() == "visible"
	})
}

// Every listener the client adds to the page is removed when it stops.
func TestBrowserPageListenersRemovedAtClose(t *testing.T) {
	jsEval(t, `(() => {
		const p = EventTarget.prototype;
		window.__rwsCount = {};
		window.__rwsAdd = p.addEventListener;
		window.__rwsRemove = p.removeEventListener;
		p.addEventListener = function (type, fn, o) { window.__rwsCount[type] = (window.__rwsCount[type] || 0) + 1; return window.__rwsAdd.call(this, type, fn, o); };
		p.removeEventListener = function (type, fn, o) { window.__rwsCount[type] = (window.__rwsCount[type] || 0) - 1; return window.__rwsRemove.call(this, type, fn, o); };
	})()`)
	t.Cleanup(func() {
		jsEval(t, `EventTarget.prototype.addEventListener = window.__rwsAdd; EventTarget.prototype.removeEventListener = window.__rwsRemove`)
	})
	counts := func() map[string]int {
		m := map[string]int{}
		for _, name := range []string{"online", "visibilitychange", "pageshow", "resume"} {
			m[name] = jsEval(t, fmt.Sprintf("window.__rwsCount[%q] || 0", name)).Int()
		}
		return m
	}
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := openOn(t, r, srv, browserBackoff())
	for name, n := range counts() {
		if n != 1 {
			t.Errorf("%d %s listener(s) while running, want 1", n, name)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for name, n := range counts() {
		if n != 0 {
			t.Errorf("%d %s listener(s) left after Close, want 0", n, name)
		}
	}
	fire(t, "window", "online") // no released function is called
}

// A hidden page (its window minimized through DevTools, which headless
// Chromium honours: document.visibilityState turns hidden) runs its
// chained timers about once a second, and Go's timers are chained
// setTimeouts: the test measures a 10 ms ticker and a 50 ms backoff wait.
// Network events are not throttled, so the application heartbeat (100 ms
// interval, 150 ms timeout) pings about once a second and never takes the
// live server for dead; restoring the window fires a real visibilitychange
// to visible.
func TestBrowserHiddenPage(t *testing.T) {
	srv := newCtlSrv(t)
	r := newRecorder(t)
	c := openOn(t, r, srv, browserBackoff(),
		WithAppHeartbeat(100*time.Millisecond, 150*time.Millisecond, Message{Type: Text, Data: []byte(pingText)},
			func(m Message) bool { return string(m.Data) == pongText }))
	visibility := func() string { return js.Global().Get("document").Get("visibilityState").String() }
	ctl(t, http.MethodPost, "/ctl/window?state=minimized", nil)
	t.Cleanup(func() { ctl(t, http.MethodPost, "/ctl/window?state=normal", nil) })
	waitUntil(t, "the page hidden", bwait, func() bool { return visibility() == "hidden" })

	tk := time.NewTicker(10 * time.Millisecond)
	begun, ticks := time.Now(), 0
	for time.Since(begun) < 2*time.Second {
		<-tk.C
		ticks++
	}
	tk.Stop()
	t.Logf("hidden: a 10 ms ticker ticked %d times in %s", ticks, time.Since(begun).Round(time.Millisecond))
	if ticks > 20 {
		t.Logf("the page's timers were not throttled (%d ticks): is this browser throttling hidden pages?", ticks)
	}

	srv.do("drop")
	reconnecting, backoffEv := r.waitKind("reconnecting", 1, bwait), r.of("backoff")[0]
	t.Logf("hidden: a %s backoff wait lasted %s; OnReconnecting says %s", backoffEv.rec.Delay,
		reconnecting.at.Sub(backoffEv.at).Round(time.Millisecond), reconnecting.rec.Delay.Round(time.Millisecond))
	if lasted := reconnecting.at.Sub(backoffEv.at); reconnecting.rec.Delay < lasted/2 {
		t.Errorf("OnReconnecting says the wait lasted %s, but it lasted %s", reconnecting.rec.Delay, lasted)
	}
	r.waitKind("open", 2, bwait)
	if n := len(r.of("close")); n != 1 {
		t.Errorf("%d connections closed while hidden, want only the dropped one: %s", n, r.summary())
	}
	for _, e := range r.of("close") {
		if errors.Is(e.close.Err, ErrHeartbeatTimeout) {
			t.Errorf("the heartbeat took the live server for dead while the page was hidden: %v", e.close.Err)
		}
	}

	// Restoring the window fires a real visibilitychange, the one the
	// client listens to (TestBrowserVisibleWhileOpenPingsAtOnce).
	jsEval(t, "window.__rwsVisible = 0; document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') window.__rwsVisible++ }, {once: true})")
	ctl(t, http.MethodPost, "/ctl/window?state=normal", nil)
	waitUntil(t, "the page visible", bwait, func() bool { return visibility() == "visible" })
	waitUntil(t, "a visibilitychange to visible", bwait, func() bool { return jsEval(t, "window.__rwsVisible").Int() == 1 })
	if c.State() != StateOpen {
		t.Errorf("State = %s, want OPEN", c.State())
	}
}
