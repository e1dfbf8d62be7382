package resilientws

import (
	"testing"
	"time"
)

// The event goroutine's linger doubles, up to maxDispatcherLinger, when an
// event comes soon after the last event goroutine exited (a steady sparse
// feed), and starts over from dispatcherLinger otherwise (an idle client).
func TestDispatcherLingerAdapts(t *testing.T) {
	now := time.Now()
	linger := time.Duration(0)
	for i, s := range []struct {
		exitedAgo time.Duration // 0: none exited before
		want      time.Duration
	}{
		{0, dispatcherLinger},
		{10 * time.Millisecond, 2 * dispatcherLinger},
		{80 * time.Millisecond, 4 * dispatcherLinger},
		{10 * time.Millisecond, 8 * dispatcherLinger},
		{10 * time.Millisecond, maxDispatcherLinger},
		{maxDispatcherLinger - time.Millisecond, maxDispatcherLinger},
		{maxDispatcherLinger, dispatcherLinger},
		{10 * time.Millisecond, 2 * dispatcherLinger},
	} {
		var exitedAt time.Time
		if s.exitedAgo > 0 {
			exitedAt = now.Add(-s.exitedAgo)
		}
		if linger = nextLinger(linger, exitedAt, now); linger != s.want {
			t.Fatalf("step %d (last exit %s ago): linger %s, want %s", i, s.exitedAgo, linger, s.want)
		}
	}
}
