package resilientwsotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/resilientws/resilientws"
)

// totals are the counters of Stats the observable instruments report.
type totals struct {
	set                                     attribute.Set
	reconnects, sent, received, resent      int64
	bytesSent, bytesReceived                int64
	queueFull, expired, unconfirmed, closed int64
	queued, buffered                        int64 // gauges: live clients only
}

func (t *totals) add(st resilientws.Stats) {
	t.reconnects += int64(st.Reconnects)
	t.sent += int64(st.MessagesSent)
	t.received += int64(st.MessagesReceived)
	t.resent += int64(st.Resent)
	t.bytesSent += int64(st.BytesSent)
	t.bytesReceived += int64(st.BytesReceived)
	t.queueFull += int64(st.DroppedQueueFull)
	t.expired += int64(st.DroppedExpired)
	t.unconfirmed += int64(st.DroppedUnconfirmed)
	t.closed += int64(st.DroppedClosed)
}

func (t *totals) addCounters(o *totals) {
	t.reconnects += o.reconnects
	t.sent += o.sent
	t.received += o.received
	t.resent += o.resent
	t.bytesSent += o.bytesSent
	t.bytesReceived += o.bytesReceived
	t.queueFull += o.queueFull
	t.expired += o.expired
	t.unconfirmed += o.unconfirmed
	t.closed += o.closed
}

// observe is the callback of the observable instruments: it reads Stats of
// every client and reports the sums by attribute set. The counters of a
// client that has stopped are read one last time and kept, so that the
// series stay monotonic after it is gone.
func (m *instruments) observe(_ context.Context, o metric.Observer) error {
	sums := map[attribute.Distinct]*totals{}
	m.mu.Lock()
	for d, r := range m.retired {
		t := &totals{set: r.set}
		t.addCounters(r)
		sums[d] = t
	}
	for in := range m.clients {
		stopped := false
		select {
		case <-in.c.Done():
			stopped = true // its counters are final: Done waits for every event
		default:
		}
		st := in.c.Stats()
		d := in.set.Equivalent()
		t := sums[d]
		if t == nil {
			t = &totals{set: in.set}
			sums[d] = t
		}
		t.add(st)
		if stopped {
			r := m.retired[d]
			if r == nil {
				r = &totals{set: in.set}
				m.retired[d] = r
			}
			r.add(st)
			delete(m.clients, in)
			continue
		}
		t.queued += int64(st.Queued)
		t.buffered += int64(st.BufferedAmount)
	}
	m.mu.Unlock()

	for _, t := range sums {
		opt := metric.WithAttributeSet(t.set)
		o.ObserveInt64(m.reconnects, t.reconnects, opt)
		o.ObserveInt64(m.sent, t.sent, opt)
		o.ObserveInt64(m.received, t.received, opt)
		o.ObserveInt64(m.resent, t.resent, opt)
		o.ObserveInt64(m.io, t.bytesSent, withExtra(t.set, DirectionKey.String("transmit")))
		o.ObserveInt64(m.io, t.bytesReceived, withExtra(t.set, DirectionKey.String("receive")))
		o.ObserveInt64(m.dropped, t.queueFull, withExtra(t.set, ReasonKey.String(ReasonQueueFull)))
		o.ObserveInt64(m.dropped, t.expired, withExtra(t.set, ReasonKey.String(ReasonExpired)))
		o.ObserveInt64(m.dropped, t.unconfirmed, withExtra(t.set, ReasonKey.String(ReasonUnconfirmed)))
		o.ObserveInt64(m.dropped, t.closed, withExtra(t.set, ReasonKey.String(ReasonClosed)))
		o.ObserveInt64(m.queueMsgs, t.queued, opt)
		o.ObserveInt64(m.queueBytes, t.buffered, opt)
	}
	return nil
}

// withExtra is set with kv added.
func withExtra(set attribute.Set, kv attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(append(set.ToSlice(), kv)...)
}
