//go:build !js

package resilientws

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The fuzz targets run their seed corpus (f.Add and testdata/fuzz) as
// ordinary tests; `go test -fuzz FuzzX` explores further.

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "7", "-1", " 30 ", "1e3", "99999999999999999999", "Thu, 01 Jan 2026 12:00:10 GMT",
		"Thursday, 01-Jan-26 12:00:10 GMT", "Thu Jan  1 12:00:10 2026", "garbage", "\x00", "+5"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %s, outside [0, %s]", v, d, maxRetryAfter)
		}
	})
}

func FuzzNew(f *testing.F) {
	f.Add("ws://127.0.0.1:8080/feed", int64(30e9), int64(5e9), 1024, 1<<20, 0, int64(10e9), int64(1<<20))
	f.Add("wss://h/", int64(0), int64(0), 1, 1, 2, int64(1), int64(1))
	f.Add("ftp://x", int64(-1), int64(1), 0, 0, 9, int64(0), int64(-1))
	f.Add("ws://[::1", int64(1), int64(-1), -5, 3, 1, int64(-5), int64(0))
	f.Add("", int64(1), int64(0), 1, 1, 0, int64(1), int64(1))
	f.Fuzz(func(t *testing.T, url string, interval, timeout int64, qm, qb, overflow int, dial, limit int64) {
		c, err := New(url,
			WithHeartbeat(time.Duration(interval), time.Duration(timeout)),
			WithQueue(qm, qb, Overflow(overflow)),
			WithDialTimeout(time.Duration(dial)),
			WithReadLimit(limit))
		if err != nil {
			if c != nil {
				t.Fatal("New returned a client with an error")
			}
			if !strings.HasPrefix(err.Error(), "resilientws: ") {
				t.Fatalf("error %q does not say where it comes from", err)
			}
			return
		}
		// Accepted: every value must be valid.
		if interval < 0 || timeout < 0 || (interval > 0 && timeout == 0) || qm <= 0 || qb <= 0 ||
			overflow < 0 || overflow > int(OverflowBlock) || dial <= 0 || limit <= 0 {
			t.Fatalf("New accepted invalid values: %d %d %d %d %d %d %d", interval, timeout, qm, qb, overflow, dial, limit)
		}
		if c.State() != StateConnecting {
			t.Fatalf("new client in state %s", c.State())
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close of an unstarted client: %v", err)
		}
	})
}

func FuzzReconnectDecision(f *testing.F) {
	for _, code := range []int{1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015, 2999, 3000, 4000, 4999, 5000, -1, 0, 65535} {
		f.Add(code, "reason", 0)
	}
	for _, status := range []int{100, 200, 204, 301, 399, 400, 401, 403, 404, 408, 426, 429, 500, 502, 503, 599, 0, 999} {
		f.Add(0, "", status)
	}
	stop := map[websocket.StatusCode]bool{1002: true, 1003: true, 1007: true, 1008: true, 1009: true, 1010: true}
	f.Fuzz(func(t *testing.T, code int, reason string, status int) {
		var cause error
		if status != 0 {
			cause = &HandshakeError{StatusCode: status}
			want := !(status >= 400 && status < 500 && status != 408 && status != 429 || status >= 200 && status < 400)
			if got := DefaultReconnectPolicy(cause); got != want {
				t.Fatalf("status %d: retry = %v, want %v", status, got, want)
			}
			return
		}
		sc := websocket.StatusCode(code)
		cause = fmt.Errorf("read: %w", websocket.CloseError{Code: sc, Reason: reason})
		if got := DefaultReconnectPolicy(cause); got == stop[sc] {
			t.Fatalf("close %d: retry = %v", code, got)
		}
		ev := classify(1, cause)
		if ev.event.Code != sc || ev.event.Reason != reason || ev.abnormal {
			t.Fatalf("close %d %q classified as %+v", code, reason, ev.event)
		}
		if websocket.CloseStatus(permanent(ev.cause)) != sc {
			t.Fatal("the permanent error lost the close status")
		}
		floor, src := delayFloor(ev.cause)
		if (sc == websocket.StatusTryAgainLater) != (floor == TryAgainLaterDelay) || (floor != 0 && floor != TryAgainLaterDelay) ||
			(floor == 0) != (src == DelayNone) {
			t.Fatalf("close %d: floor %s from %s", code, floor, src)
		}
		if !errors.Is(ev.event.Err, ev.cause) {
			t.Fatal("CloseEvent.Err is not the cause")
		}
	})
}
