package resilientws

import "time"

// HeartbeatEvent describes one heartbeat round trip: a ping, protocol or
// application (WithAppHeartbeat), and its pong.
type HeartbeatEvent struct {
	// Connection is the number of the connection the ping went out on, as
	// in its OpenEvent.
	Connection int
	// RTT is the round trip: from the ping's write to its pong's arrival.
	RTT time.Duration
	// SmoothedRTT is the smoothed round trip with this sample included, as
	// Stats.SmoothedRTT.
	SmoothedRTT time.Duration
}

// DialEvent describes the outcome of one connection attempt: the dial hook
// (WithDialHook), the TCP and TLS connection and the WebSocket handshake.
type DialEvent struct {
	// Attempt counts dials since the last successful open: 0 for the first
	// dial at Start, then as ReconnectEvent.Attempt (the dial hook's
	// attempt).
	Attempt int
	// Connection is the number the connection gets when the dial succeeded
	// (as in its OpenEvent, which follows), 0 when it failed.
	Connection int
	// Err is why the dial failed, nil when it succeeded. It is the error
	// OnError gets next: a *HandshakeError for a refused upgrade.
	Err error
}

// OnHeartbeat sets the function called for every heartbeat round trip,
// protocol or application, on the event goroutine, after the connection's
// OnOpen and before its OnClose. A ping that gets no pong of its own gives
// no event. Stats keeps the last and the smoothed round trip.
func OnHeartbeat(f func(HeartbeatEvent)) Option {
	if f == nil {
		return nilFunc("OnHeartbeat")
	}
	return optionFunc(func(o *options) error { o.onHeartbeat = f; return nil })
}

// OnDial sets the function called after every connection attempt, with its
// outcome, on the event goroutine: before the OnOpen of the connection it
// opened, or before the OnError that reports its failure. A dial that
// Close or Shutdown cut short gives no event. Every DialEvent is counted in
// Stats, in Connects or in DialFailures.
func OnDial(f func(DialEvent)) Option {
	if f == nil {
		return nilFunc("OnDial")
	}
	return optionFunc(func(o *options) error { o.onDial = f; return nil })
}

// Observer holds the handlers of an observer (WithObserver): code that
// watches a client from outside, as instrumentation does (metrics,
// tracing), and must not take the place of the application's own handlers.
// Nil handlers are skipped. Each field runs as the On* option of the same
// name says, on the event goroutine, right after that option's handler.
//
// There is no OnMessage nor OnDrop: an observer must not add a cost per
// message, nor make dropped messages wait for it (see OnDrop's flow
// control). Stats counts them.
type Observer struct {
	// OnOpen runs after the OnOpen option's handler, before the send queue
	// is flushed on the new connection.
	OnOpen func(OpenEvent)
	// OnClose runs after the OnClose option's handler.
	OnClose func(CloseEvent)
	// OnError runs after the OnError option's handler. A panic in an
	// observer's handler reaches it (and OnError) as a *PanicError whose
	// Callback is "Observer." and the handler's name.
	OnError func(error)
	// OnBackoff runs after the OnBackoff option's handler.
	OnBackoff func(ReconnectEvent)
	// OnReconnecting runs after the OnReconnecting option's handler.
	OnReconnecting func(ReconnectEvent)
	// OnDial runs after the OnDial option's handler.
	OnDial func(DialEvent)
	// OnHeartbeat runs after the OnHeartbeat option's handler.
	OnHeartbeat func(HeartbeatEvent)
}

// WithObserver adds an observer. Unlike the On* options, of which each sets
// the one handler of its event, observers add up: each WithObserver adds
// one, and for every event the On* handler runs first, then each
// observer's, in the order the WithObserver options were given, all on the
// event goroutine.
//
// New calls attach once, after every option has been applied and the client
// made, with the client (not started yet) and the URL given to New, which
// may carry tokens: keep them out of what you record. attach may keep the
// client, to read Stats later; it must not start or close it. The handlers
// it returns are fixed for the client's life. An error from attach makes New
// fail with it, after closing the client: the observers attached before see
// its Done channel closed.
func WithObserver(attach func(c *Client, url string) (Observer, error)) Option {
	if attach == nil {
		return nilFunc("WithObserver")
	}
	return optionFunc(func(o *options) error {
		o.attach = append(o.attach, attach)
		return nil
	})
}

// attachObservers calls the attach functions of WithObserver, at the end of
// New, and notes which events someone waits for.
func (c *Client) attachObservers() error {
	o := &c.opts
	for _, attach := range o.attach {
		obs, err := attach(c, c.url)
		if err != nil {
			return err
		}
		o.observers = append(o.observers, obs)
	}
	o.attach = nil
	o.wantBackoff = o.onBackoff != nil
	o.wantDial = o.onDial != nil
	o.wantHeartbeat = o.onHeartbeat != nil
	for _, obs := range o.observers {
		o.wantBackoff = o.wantBackoff || obs.OnBackoff != nil
		o.wantDial = o.wantDial || obs.OnDial != nil
		o.wantHeartbeat = o.wantHeartbeat || obs.OnHeartbeat != nil
	}
	return nil
}

// heartbeatRTT records a heartbeat round trip on connection cn and reports
// it to OnHeartbeat.
func (c *Client) heartbeatRTT(cn *connection, rtt time.Duration) {
	c.stats.setRTT(rtt)
	if c.opts.wantHeartbeat {
		srtt := time.Duration(c.stats.smoothedRTT.Load()) // only the heartbeat sets it, one ping at a time
		c.disp.post(event{kind: evHeartbeat, beat: HeartbeatEvent{Connection: cn.id, RTT: rtt, SmoothedRTT: srtt}})
	}
}

// dialed reports a connection attempt's outcome to OnDial.
func (c *Client) dialed(attempt, conn int, err error) {
	if c.opts.wantDial {
		c.disp.post(event{kind: evDial, dial: DialEvent{Attempt: attempt, Connection: conn, Err: err}})
	}
}

// observe runs the observers' handlers of an event, each panic-guarded as
// the On* handlers are; pick returns an observer's handler, or nil.
func observe[E any](d *dispatcher, name string, ev E, pick func(*Observer) func(E)) {
	for i := range d.opts.observers {
		if f := pick(&d.opts.observers[i]); f != nil {
			d.guard(name, func() { f(ev) })
		}
	}
}
