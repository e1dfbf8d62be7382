package resilientws

import (
	"testing"
	"time"
)

// The event goroutine polls before parking only after a short park, and
// stops polling after an empty poll or a long park; with one P, never.
func TestSpinnerPollsOnlyOnADenseStream(t *testing.T) {
	wake := make(chan struct{}, 1)
	s := spinner{limit: 1}
	wake <- struct{}{}
	if s.poll(wake) {
		t.Fatal("polled before any short park")
	}
	<-wake

	s.woke(spinBudget / 2)
	wake <- struct{}{}
	if !s.poll(wake) {
		t.Fatal("a short park did not turn polling on")
	}
	if len(wake) != 0 {
		t.Fatal("poll left the wake-up in the channel")
	}
	if s.poll(wake) {
		t.Fatal("an empty poll reported an event")
	}
	if s.on {
		t.Fatal("an empty poll left polling on")
	}

	s.woke(spinBudget / 2)
	s.woke(time.Millisecond)
	if s.on {
		t.Fatal("a long park left polling on")
	}

	one := spinner{limit: 0}
	one.woke(0)
	if one.on {
		t.Fatal("polling with one P")
	}

	// With as many others polling as the limit allows, it parks at once,
	// and polls again next time.
	s.woke(spinBudget / 2)
	polling.Add(1)
	wake <- struct{}{}
	got := s.poll(wake)
	polling.Add(-1)
	if got || !s.on || len(wake) != 1 {
		t.Fatalf("poll with the limit reached = %v (on %v, wake-ups left %d): want false, still on, the wake-up left", got, s.on, len(wake))
	}
	s.limit = 1 << 20 // other tests' event goroutines may poll meanwhile
	if !s.poll(wake) {
		t.Fatal("no poll once the others stopped")
	}
}
