package resilientws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestDialHookFreshHeadersAndEndpoints(t *testing.T) {
	good := newServer(t)
	var auth []string
	good.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		if c.Number() == 1 {
			return // drop the first connection: the second dial must carry a fresh token
		}
		c.Echo(ctx)
	})
	bad := newServer(t)
	bad.Refuse(http.StatusServiceUnavailable, "")
	var attempts []int
	hook := func(ctx context.Context, attempt int) (string, http.Header, error) {
		attempts = append(attempts, attempt)
		if len(attempts) == 1 {
			return "", nil, errors.New("token service down")
		}
		if len(attempts) == 2 {
			return bad.URL(), nil, nil // a dead endpoint: rotate to the next
		}
		tok := "token-" + strconv.Itoa(len(attempts))
		auth = append(auth, tok)
		return good.URL(), http.Header{"Authorization": {tok}}, nil
	}
	r := newRecorder(t)
	c := r.newClient("ws://127.0.0.1:1/unused", fastBackoff(), WithDialHook(hook))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 2, wait)
	c.Close()
	errs := r.of("error")
	if len(errs) < 2 || !bytes.Contains([]byte(errs[0].err.Error()), []byte("dial hook: token service down")) {
		t.Fatalf("errors %v", errs)
	}
	var he *HandshakeError
	if !errors.As(errs[1].err, &he) || he.StatusCode != 503 {
		t.Fatalf("second error %v, want the 503 of the dead endpoint", errs[1].err)
	}
	if want := []int{0, 1, 2, 1}; fmt.Sprint(attempts) != fmt.Sprint(want) {
		t.Fatalf("hook attempts %v, want %v", attempts, want)
	}
	if fmt.Sprint(auth) != "[token-3 token-4]" {
		t.Fatalf("tokens %v", auth)
	}
}

type tick struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
}

func TestJSON(t *testing.T) {
	srv := newServer(t)
	var got []tick
	var errs []error
	done := make(chan struct{})
	c, err := New(srv.URL(), fastBackoff(),
		OnJSON(func(v tick) {
			if got = append(got, v); len(got) == 2 {
				close(done)
			}
		}),
		OnError(func(err error) { errs = append(errs, err) }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	c.SendJSON(context.Background(), tick{"ABC", 1.5})
	c.SendText(context.Background(), "not json")
	c.SendJSON(context.Background(), tick{"XYZ", 2})
	if err := c.SendJSON(context.Background(), func() {}); err == nil {
		t.Fatal("SendJSON encoded a func")
	}
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("JSON messages not delivered")
	}
	c.Close()
	var de *DecodeError
	if len(errs) != 1 || !errors.As(errs[0], &de) || string(de.Message.Data) != "not json" {
		t.Fatalf("errors %v, want one DecodeError", errs)
	}
	var syn *json.SyntaxError
	if !errors.As(errs[0], &syn) {
		t.Fatalf("DecodeError does not unwrap to the json error: %v", errs[0])
	}
	if got[0] != (tick{"ABC", 1.5}) || got[1] != (tick{"XYZ", 2}) || c.Stats().Connects != 1 {
		t.Fatalf("got %v, connects %d", got, c.Stats().Connects)
	}
}

func TestStatsUptimeAndSmoothedRTT(t *testing.T) {
	srv := newServer(t)
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(5*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st := c.Stats(); st.Uptime != 0 || st.State != StateConnecting {
		t.Fatalf("stats before Start %+v", st)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "RTT samples", wait, func() bool { return c.Stats().SmoothedRTT > 0 && c.Stats().Uptime > 0 })
	c.Close()
	if st := c.Stats(); st.Uptime != 0 || st.State != StateClosed {
		t.Fatalf("stats after Close %+v", st)
	}
}
