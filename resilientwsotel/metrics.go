package resilientwsotel

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/resilientws/resilientws"
)

// ScopeName is the instrumentation scope of the meter the instruments come
// from.
const ScopeName = "github.com/resilientws/resilientws/resilientwsotel"

// Instrument names. The Prometheus exporter turns the dots into
// underscores and adds the unit and _total: see the package documentation.
const (
	ActiveConnections  = "resilientws.client.connections.active"
	ConnectionAttempts = "resilientws.client.connection.attempts"
	Reconnects         = "resilientws.client.reconnects"
	ConnectionDuration = "resilientws.client.connection.duration"
	MessagesSent       = "resilientws.client.messages.sent"
	MessagesReceived   = "resilientws.client.messages.received"
	MessagesDropped    = "resilientws.client.messages.dropped"
	MessagesResent     = "resilientws.client.messages.resent"
	QueueMessages      = "resilientws.client.queue.messages"
	QueueBytes         = "resilientws.client.queue.bytes"
	HeartbeatRTT       = "resilientws.client.heartbeat.rtt"
	IO                 = "resilientws.client.io"
)

// Histogram bucket boundaries, in seconds.
var (
	// durationBuckets are those of ConnectionDuration: from 10 ms (a
	// server that drops at once) to 4 hours.
	durationBuckets = []float64{0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400}
	// rttBuckets are those of HeartbeatRTT: from 100 µs (loopback) to 10 s.
	rttBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// Option configures Instrument.
type Option func(*config)

type config struct {
	provider metric.MeterProvider
	attrs    []attribute.KeyValue
}

// WithMeterProvider sets the MeterProvider the instruments are made from.
// Defaults to the global one (otel.GetMeterProvider), which records
// nothing until one is set.
func WithMeterProvider(p metric.MeterProvider) Option {
	return func(c *config) { c.provider = p }
}

// WithAttributes adds attributes to every measurement, after server.address
// and server.port (so they may replace them). Keep them bounded: a
// service name, a feed, a region; never a message, an id or a token.
// Defaults to none.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, attrs...) }
}

// instruments are the instruments of one MeterProvider, shared by every
// client instrumented on it, and the clients whose Stats its callback reads.
// Clients with the same attributes add up into the same series.
type instruments struct {
	active     metric.Int64UpDownCounter
	attempts   metric.Int64Counter
	duration   metric.Float64Histogram
	rtt        metric.Float64Histogram
	reconnects metric.Int64ObservableCounter
	sent       metric.Int64ObservableCounter
	received   metric.Int64ObservableCounter
	dropped    metric.Int64ObservableCounter
	resent     metric.Int64ObservableCounter
	io         metric.Int64ObservableCounter
	queueMsgs  metric.Int64ObservableGauge
	queueBytes metric.Int64ObservableGauge

	mu      sync.Mutex                     // guards clients and retired
	clients map[*instrumented]bool         // the clients not known to have stopped
	retired map[attribute.Distinct]*totals // the final counters of stopped clients, by attribute set
}

// instrumented is one client and the attributes of its series.
type instrumented struct {
	c   *resilientws.Client
	set attribute.Set
	opt metric.MeasurementOption // set, for the synchronous instruments
}

// shared holds the instruments of each MeterProvider, made at its first
// Instrument and kept for the process's life: one callback per provider,
// however many clients come and go.
var (
	sharedMu sync.Mutex // guards shared, and makes each provider's instruments once
	shared   = map[metric.MeterProvider]*instruments{}
)

// Instrument returns the option that records the metrics of a client: pass
// it to resilientws.New. It adds an observer (resilientws.WithObserver), so
// the client's own On* handlers stay as they are. The instruments are made
// once per MeterProvider, at its first client, and shared by every client
// instrumented on it for the process's life (make one provider and keep
// it); resilientws.New fails if the provider refuses one of them.
func Instrument(opts ...Option) resilientws.Option {
	cfg := config{}
	for _, o := range opts {
		o(&cfg)
	}
	return resilientws.WithObserver(func(c *resilientws.Client, url string) (resilientws.Observer, error) {
		p := cfg.provider
		if p == nil {
			p = otel.GetMeterProvider()
		}
		m, err := instrumentsFor(p)
		if err != nil {
			return resilientws.Observer{}, err
		}
		return m.attach(c, append(serverAttributes(url), cfg.attrs...)), nil
	})
}

// instrumentsFor returns the instruments of p, made at its first use. A
// provider that cannot be a map key gets instruments of its own each time.
func instrumentsFor(p metric.MeterProvider) (*instruments, error) {
	if !reflect.TypeOf(p).Comparable() {
		return newInstruments(p)
	}
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if m := shared[p]; m != nil {
		return m, nil
	}
	m, err := newInstruments(p)
	if err != nil {
		return nil, err
	}
	shared[p] = m
	return m, nil
}

// newInstruments makes the instruments on p and registers their callback.
func newInstruments(p metric.MeterProvider) (*instruments, error) {
	meter := p.Meter(ScopeName)
	m := &instruments{
		clients: map[*instrumented]bool{},
		retired: map[attribute.Distinct]*totals{},
	}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	m.active, err = meter.Int64UpDownCounter(ActiveConnections, metric.WithUnit("{connection}"),
		metric.WithDescription("Connections open now."))
	check(err)
	m.attempts, err = meter.Int64Counter(ConnectionAttempts, metric.WithUnit("{attempt}"),
		metric.WithDescription("Connection attempts (dials), with error.type on those that failed."))
	check(err)
	m.duration, err = meter.Float64Histogram(ConnectionDuration, metric.WithUnit("s"),
		metric.WithDescription("How long connections stayed open, by close code."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	check(err)
	m.rtt, err = meter.Float64Histogram(HeartbeatRTT, metric.WithUnit("s"),
		metric.WithDescription("Heartbeat round trips: from a ping to its pong."),
		metric.WithExplicitBucketBoundaries(rttBuckets...))
	check(err)
	m.reconnects, err = meter.Int64ObservableCounter(Reconnects, metric.WithUnit("{reconnect}"),
		metric.WithDescription("Connections that opened after the first."))
	check(err)
	m.sent, err = meter.Int64ObservableCounter(MessagesSent, metric.WithUnit("{message}"),
		metric.WithDescription("Messages written to a socket."))
	check(err)
	m.received, err = meter.Int64ObservableCounter(MessagesReceived, metric.WithUnit("{message}"),
		metric.WithDescription("Messages read from a socket."))
	check(err)
	m.dropped, err = meter.Int64ObservableCounter(MessagesDropped, metric.WithUnit("{message}"),
		metric.WithDescription("Messages accepted by Send and then dropped (OnDrop), by reason."))
	check(err)
	m.resent, err = meter.Int64ObservableCounter(MessagesResent, metric.WithUnit("{message}"),
		metric.WithDescription("Messages written again on a later connection (resilientws.WithResend)."))
	check(err)
	m.io, err = meter.Int64ObservableCounter(IO, metric.WithUnit("By"),
		metric.WithDescription("Message bytes written and read, by network.io.direction."))
	check(err)
	m.queueMsgs, err = meter.Int64ObservableGauge(QueueMessages, metric.WithUnit("{message}"),
		metric.WithDescription("Messages in the send queue."))
	check(err)
	m.queueBytes, err = meter.Int64ObservableGauge(QueueBytes, metric.WithUnit("By"),
		metric.WithDescription("Bytes in the send queue."))
	check(err)
	if len(errs) > 0 {
		return nil, fmt.Errorf("resilientwsotel: %w", errors.Join(errs...))
	}
	_, err = meter.RegisterCallback(m.observe, m.reconnects, m.sent, m.received, m.dropped, m.resent, m.io, m.queueMsgs, m.queueBytes)
	if err != nil {
		return nil, fmt.Errorf("resilientwsotel: %w", err)
	}
	return m, nil
}

// attach starts observing c, whose series carry attrs.
func (m *instruments) attach(c *resilientws.Client, attrs []attribute.KeyValue) resilientws.Observer {
	set := attribute.NewSet(attrs...)
	in := &instrumented{c: c, set: set, opt: metric.WithAttributeSet(set)}
	m.mu.Lock()
	m.clients[in] = true
	m.mu.Unlock()
	return resilientws.Observer{
		OnOpen:      in.onOpen(m),
		OnClose:     in.onClose(m),
		OnDial:      in.onDial(m),
		OnHeartbeat: in.onHeartbeat(m),
	}
}

func (in *instrumented) onOpen(m *instruments) func(resilientws.OpenEvent) {
	return func(resilientws.OpenEvent) { m.active.Add(context.Background(), 1, in.opt) }
}

func (in *instrumented) onClose(m *instruments) func(resilientws.CloseEvent) {
	return func(e resilientws.CloseEvent) {
		ctx := context.Background()
		m.active.Add(ctx, -1, in.opt)
		attrs := append(in.set.ToSlice(), CloseCodeKey.Int(int(e.Code)))
		m.duration.Record(ctx, e.Uptime.Seconds(), metric.WithAttributes(attrs...))
	}
}

func (in *instrumented) onDial(m *instruments) func(resilientws.DialEvent) {
	return func(e resilientws.DialEvent) {
		if e.Err == nil {
			m.attempts.Add(context.Background(), 1, in.opt)
			return
		}
		attrs := append(in.set.ToSlice(), ErrorTypeKey.String(ErrorType(e.Err)))
		m.attempts.Add(context.Background(), 1, metric.WithAttributes(attrs...))
	}
}

func (in *instrumented) onHeartbeat(m *instruments) func(resilientws.HeartbeatEvent) {
	return func(e resilientws.HeartbeatEvent) {
		m.rtt.Record(context.Background(), e.RTT.Seconds(), in.opt)
	}
}
