package resilientws

import (
	"context"
	"fmt"
	"time"
)

// heartbeat is the liveness check of one connection, run by the supervisor:
// every interval it sends a protocol ping and waits for the pong at most the
// timeout. The reader processes pongs, so a late pong means the peer or the
// link is dead, unless the reader itself was held up by a slow OnMessage, in
// which case the verdict is skipped: a slow handler is never taken for a dead
// peer.
type heartbeat struct {
	interval, timeout time.Duration
	ticker            *time.Ticker
}

// newHeartbeat returns nil when the heartbeat is off.
func newHeartbeat(interval, timeout time.Duration) *heartbeat {
	if interval <= 0 {
		return nil
	}
	return &heartbeat{interval: interval, timeout: timeout, ticker: time.NewTicker(interval)}
}

// tick returns the channel of ping times; nil (never ready) when off.
func (h *heartbeat) tick() <-chan time.Time {
	if h == nil {
		return nil
	}
	return h.ticker.C
}

func (h *heartbeat) stop() {
	if h != nil {
		h.ticker.Stop()
	}
}

// ping sends one ping on cn and waits for its pong, or for stop to be
// cancelled. A late pong fails the connection with ErrHeartbeatTimeout.
func (h *heartbeat) ping(stop context.Context, cn *connection) {
	ctx, cancel := context.WithTimeout(stop, h.timeout)
	defer cancel()
	before := cn.stalls.Load()
	start := time.Now()
	err := cn.ws.Ping(ctx)
	if err == nil {
		cn.c.stats.setRTT(time.Since(start))
		return
	}
	if stop.Err() != nil || cn.isDead() {
		return // shutting down, or the reader already knows why
	}
	if after := cn.stalls.Load(); after != before || after%2 == 1 {
		return // the reader was waiting for OnMessage: not the peer's fault
	}
	cn.fail(fmt.Errorf("%w within %s", ErrHeartbeatTimeout, h.timeout))
}
