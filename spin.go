package resilientws

import (
	"runtime"
	"sync/atomic"
	"time"
)

// spinBudget is how long the event goroutine polls for its next event
// before it parks, when its last park was at most this long (a dense
// stream of events, such as a busy feed). An event that comes while it
// polls is taken without the reader having to wake a parked goroutine, a
// futex call on Linux that costs the reader more than the poll costs the
// event goroutine (bench/BENCHMARKS.md, server push 64 B). A poll that
// comes up empty makes the next wait park at once, until a short park
// turns polling on again, so a sparse or idle client never polls. At most
// GOMAXPROCS-1 event goroutines of the process poll at once, so that
// readers (and everything else) keep a P: with one P none polls.
const spinBudget = 10 * time.Microsecond

// polling counts the event goroutines of the process polling now.
var polling atomic.Int32

// spinner decides whether the event goroutine polls before it parks. Only
// the event goroutine uses it.
type spinner struct {
	limit int32 // GOMAXPROCS-1 when the goroutine started: the most that poll at once
	on    bool  // the last park was short: poll before the next one
}

func newSpinner() spinner {
	return spinner{limit: int32(runtime.GOMAXPROCS(0) - 1)}
}

// poll polls wake for up to spinBudget when polling is on, and reports
// whether it got a wake-up (which it consumes). An empty poll turns
// polling off; when too many others poll, it does not poll this time.
func (s *spinner) poll(wake <-chan struct{}) bool {
	if !s.on {
		return false
	}
	if polling.Add(1) > s.limit {
		polling.Add(-1)
		return false
	}
	defer polling.Add(-1)
	deadline := time.Now().Add(spinBudget)
	for i := 1; ; i++ {
		if len(wake) > 0 {
			<-wake // only the event goroutine receives: it cannot block
			return true
		}
		if i%128 == 0 && time.Now().After(deadline) {
			s.on = false
			return false
		}
	}
}

// woke records a park that an event ended after parked.
func (s *spinner) woke(parked time.Duration) {
	s.on = s.limit > 0 && parked <= spinBudget
}
