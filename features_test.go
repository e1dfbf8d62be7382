package resilientws

import (
	"testing"
	"time"
)

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
