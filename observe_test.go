//go:build !js

package resilientws

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// callLog records, in order, which handler saw which event.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(format string, args ...any) {
	l.mu.Lock()
	l.calls = append(l.calls, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *callLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

// loggingObserver returns handlers that log each event under name.
func loggingObserver(l *callLog, name string) Observer {
	return Observer{
		OnOpen:         func(e OpenEvent) { l.add("%s open %d", name, e.Connection) },
		OnClose:        func(e CloseEvent) { l.add("%s close %d", name, e.Connection) },
		OnError:        func(error) { l.add("%s error", name) },
		OnBackoff:      func(e ReconnectEvent) { l.add("%s backoff %d", name, e.Attempt) },
		OnReconnecting: func(e ReconnectEvent) { l.add("%s reconnecting %d", name, e.Attempt) },
		OnDial:         func(e DialEvent) { l.add("%s dial %d", name, e.Attempt) },
		OnHeartbeat:    func(e HeartbeatEvent) { l.add("%s heartbeat %d", name, e.Connection) },
	}
}

// The user's handler of each event runs first, then every observer's, in
// the order of the options, whatever the order of the options among the
// On* ones; each event's handlers run before the next event's.
func TestObserversRunAfterTheUserHandlers(t *testing.T) {
	srv := newServer(t)
	srv.Refuse(http.StatusServiceUnavailable, "")
	var l callLog
	user := loggingObserver(&l, "user")
	attached := 0
	observer := func(name string) Option {
		return WithObserver(func(*Client, string) (Observer, error) {
			attached++
			return loggingObserver(&l, name), nil
		})
	}
	dialed := make(chan DialEvent, 16)
	beats := make(chan struct{}, 1)
	c, err := New(srv.URL(),
		observer("first"),
		OnOpen(user.OnOpen), OnClose(user.OnClose), OnError(user.OnError),
		OnBackoff(user.OnBackoff), OnReconnecting(user.OnReconnecting),
		OnDial(func(e DialEvent) { user.OnDial(e); dialed <- e }),
		OnHeartbeat(func(e HeartbeatEvent) {
			user.OnHeartbeat(e)
			select {
			case beats <- struct{}{}:
			default:
			}
		}),
		observer("second"),
		fastBackoff(), WithHeartbeat(10*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if attached != 2 {
		t.Fatalf("New called %d attach functions, want 2", attached)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-dialed:
		if e.Err == nil {
			t.Fatalf("first dial succeeded against a refusing server: %+v", e)
		}
	case <-time.After(wait):
		t.Fatal("no OnDial")
	}
	srv.Accept()
	select {
	case <-beats:
	case <-time.After(wait):
		t.Fatal("no OnHeartbeat")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	calls := l.all()
	if len(calls)%3 != 0 {
		t.Fatalf("%d calls, not three per event:\n%s", len(calls), strings.Join(calls, "\n"))
	}
	kinds := map[string]bool{}
	for i := 0; i < len(calls); i += 3 {
		ev, _ := strings.CutPrefix(calls[i], "user ")
		want := []string{"user " + ev, "first " + ev, "second " + ev}
		if calls[i] != want[0] || calls[i+1] != want[1] || calls[i+2] != want[2] {
			t.Fatalf("calls %d-%d = %q, want %q\nall:\n%s", i, i+2, calls[i:i+3], want, strings.Join(calls, "\n"))
		}
		kinds[strings.Fields(ev)[0]] = true
	}
	for _, k := range []string{"dial", "error", "backoff", "reconnecting", "open", "heartbeat", "close"} {
		if !kinds[k] {
			t.Errorf("no %s event seen by every handler:\n%s", k, strings.Join(calls, "\n"))
		}
	}
}

// An observer needs no On* handler of the user's: its events are posted
// for it alone.
func TestObserverAlone(t *testing.T) {
	srv := newServer(t)
	var l callLog
	c, err := New(srv.URL(), WithObserver(func(*Client, string) (Observer, error) {
		return loggingObserver(&l, "obs"), nil
	}), WithHeartbeat(10*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a heartbeat round trip", wait, func() bool { return c.Stats().LastRTT > 0 })
	srv.DropAll()
	waitUntil(t, "a reconnect", wait, func() bool { return c.Stats().Reconnects == 1 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	calls := strings.Join(l.all(), "\n")
	for _, want := range []string{"obs dial 0", "obs open 1", "obs heartbeat 1", "obs error", "obs close 1", "obs backoff 1", "obs reconnecting 1", "obs dial 1", "obs open 2", "obs close 2"} {
		if !strings.Contains(calls+"\n", want+"\n") {
			t.Errorf("the observer missed %q; it saw:\n%s", want, calls)
		}
	}
}

// attach gets the client being made and the URL given to New; its error
// fails New; a nil attach is refused.
func TestWithObserverAttach(t *testing.T) {
	const url = "ws://127.0.0.1:1/feed?token=secret"
	var got *Client
	var gotURL string
	c, err := New(url, WithObserver(func(c *Client, u string) (Observer, error) {
		got, gotURL = c, u
		if st := c.Stats(); st.State != StateConnecting || st.Connects != 0 {
			return Observer{}, fmt.Errorf("stats of a new client: %+v", st)
		}
		return Observer{}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got != c || gotURL != url {
		t.Errorf("attach got (%p, %q), want (%p, %q)", got, gotURL, c, url)
	}
	_ = c.Close()

	// A failing attach fails New, and the client an earlier observer kept
	// is closed, so that the observer can tell it is gone.
	boom := errors.New("boom")
	var kept *Client
	_, err = New(url,
		WithObserver(func(c *Client, _ string) (Observer, error) { kept = c; return Observer{}, nil }),
		WithObserver(func(*Client, string) (Observer, error) { return Observer{}, boom }))
	if !errors.Is(err, boom) {
		t.Errorf("New with a failing attach: %v, want an error wrapping %v", err, boom)
	}
	select {
	case <-kept.Done():
	case <-time.After(wait):
		t.Error("the client New gave up on is not done")
	}
	if _, err := New(url, WithObserver(nil)); !errors.Is(err, errNilFunc) {
		t.Errorf("New with a nil attach: %v, want an error wrapping errNilFunc", err)
	}
	for _, opt := range []Option{OnHeartbeat(nil), OnDial(nil)} {
		if _, err := New(url, opt); !errors.Is(err, errNilFunc) {
			t.Errorf("New with a nil handler: %v, want an error wrapping errNilFunc", err)
		}
	}
}

// A panic in an observer is reported to the user's OnError and to the
// observers' OnError as a *PanicError, and the handlers after it still run.
func TestObserverPanic(t *testing.T) {
	srv := newServer(t)
	var l callLog
	var mu sync.Mutex
	var panics []*PanicError
	notePanic := func(err error) {
		var pe *PanicError
		if errors.As(err, &pe) {
			mu.Lock()
			panics = append(panics, pe)
			mu.Unlock()
		}
	}
	opened := make(chan struct{})
	c, err := New(srv.URL(),
		OnError(notePanic),
		WithObserver(func(*Client, string) (Observer, error) {
			return Observer{OnOpen: func(OpenEvent) { panic("observer bug") }, OnError: func(err error) { l.add("observer error") }}, nil
		}),
		WithObserver(func(*Client, string) (Observer, error) {
			return Observer{OnOpen: func(OpenEvent) { l.add("second open"); close(opened) }}, nil
		}),
		WithHeartbeat(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-opened:
	case <-time.After(wait):
		t.Fatal("the second observer's OnOpen did not run")
	}
	_ = c.Close()
	if len(panics) != 1 || panics[0].Callback != "Observer.OnOpen" || panics[0].Value != "observer bug" {
		t.Errorf("OnError got panics %+v, want one from Observer.OnOpen", panics)
	}
	if calls := l.all(); len(calls) != 2 || calls[0] != "observer error" || calls[1] != "second open" {
		t.Errorf("calls %q, want the observer's OnError, then the second observer's OnOpen", calls)
	}
}

// OnHeartbeat gets every round trip, protocol or application, on the
// connection it was measured on, and the last one is what Stats says.
func TestOnHeartbeat(t *testing.T) {
	for _, app := range []bool{false, true} {
		t.Run(fmt.Sprintf("app=%v", app), func(t *testing.T) {
			srv := newServer(t)
			hb := WithHeartbeat(10*time.Millisecond, time.Second)
			if app {
				hb = WithAppHeartbeat(10*time.Millisecond, time.Second, Message{Type: Text, Data: []byte("ping")},
					func(m Message) bool { return string(m.Data) == "ping" }) // the echo server answers with it
			}
			var mu sync.Mutex
			var beats []HeartbeatEvent
			c, err := New(srv.URL(), hb, fastBackoff(), OnHeartbeat(func(e HeartbeatEvent) {
				mu.Lock()
				beats = append(beats, e)
				mu.Unlock()
			}))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			count := func(conn int) int {
				mu.Lock()
				defer mu.Unlock()
				n := 0
				for _, b := range beats {
					if b.Connection == conn {
						n++
					}
				}
				return n
			}
			waitUntil(t, "3 round trips on connection 1", wait, func() bool { return count(1) >= 3 })
			srv.DropAll()
			waitUntil(t, "3 round trips on connection 2", wait, func() bool { return count(2) >= 3 })
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			st := c.Stats()
			last := beats[len(beats)-1]
			if last.RTT <= 0 || last.RTT != st.LastRTT || last.SmoothedRTT != st.SmoothedRTT {
				t.Errorf("last event %+v; Stats has LastRTT %s, SmoothedRTT %s", last, st.LastRTT, st.SmoothedRTT)
			}
			for i := 1; i < len(beats); i++ {
				if beats[i].Connection < beats[i-1].Connection {
					t.Errorf("event %d on connection %d after one on %d", i, beats[i].Connection, beats[i-1].Connection)
				}
			}
		})
	}
}

// OnDial reports every attempt, before the OnOpen or the OnError it leads
// to, and Stats counts the same attempts.
func TestOnDial(t *testing.T) {
	srv := newServer(t)
	srv.Refuse(http.StatusServiceUnavailable, "")
	var l callLog
	var mu sync.Mutex
	var dials []DialEvent
	failed := make(chan struct{}, 16)
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(0, 0),
		OnOpen(func(e OpenEvent) { l.add("open %d", e.Connection) }),
		OnError(func(error) { l.add("error") }),
		OnDial(func(e DialEvent) {
			mu.Lock()
			dials = append(dials, e)
			mu.Unlock()
			l.add("dial %d %d %v", e.Attempt, e.Connection, e.Err != nil)
			if e.Err != nil {
				select {
				case failed <- struct{}{}:
				default:
				}
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-failed:
		case <-time.After(wait):
			t.Fatal("no failed dial reported")
		}
	}
	srv.Accept()
	waitUntil(t, "an open", wait, func() bool { return c.Stats().Connects == 1 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	var fails, opens uint64
	for i, d := range dials {
		switch {
		case d.Err != nil:
			fails++
			var he *HandshakeError
			if !errors.As(d.Err, &he) || he.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("dial %d: Err %v, want a *HandshakeError with 503", i, d.Err)
			}
			if d.Attempt != i || d.Connection != 0 {
				t.Errorf("failed dial %d: %+v", i, d)
			}
		default:
			opens++
			if d.Attempt != i || d.Connection != 1 {
				t.Errorf("successful dial %d: %+v, want attempt %d, connection 1", i, d, i)
			}
		}
	}
	if fails != st.DialFailures || opens != st.Connects || opens != 1 {
		t.Errorf("OnDial saw %d failures and %d opens; Stats: %d and %d", fails, opens, st.DialFailures, st.Connects)
	}
	// Each dial's event comes just before what it leads to.
	calls := l.all()
	for i, call := range calls {
		if !strings.HasPrefix(call, "dial ") {
			continue
		}
		next := "error"
		if strings.HasSuffix(call, "false") {
			next = "open 1"
		}
		if i+1 >= len(calls) || calls[i+1] != next {
			t.Errorf("%q not followed by %q:\n%s", call, next, strings.Join(calls, "\n"))
		}
	}
}
