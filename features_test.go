package resilientws

import (
	"bytes"
	"context"
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
