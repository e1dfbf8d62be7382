// Package resilientwsotel records OpenTelemetry metrics of resilientws
// clients: connections, attempts and their failures, reconnects, messages
// sent, received and dropped, the send queue, heartbeat round trips and
// bytes. It is a module of its own, so that the resilientws module does not
// depend on OpenTelemetry.
//
// Instrument a client by adding an option to resilientws.New:
//
//	client, err := resilientws.New(url,
//		resilientws.OnMessage(handle), // your handlers stay as they are
//		resilientwsotel.Instrument(resilientwsotel.WithMeterProvider(provider)),
//	)
//
// The instruments are made once per MeterProvider and shared by every client
// instrumented on it: clients with the same server and attributes add up
// into the same series, and a client that stops keeps its counts in them.
// Close every client you instrument: the instruments read the Stats of each
// until it has stopped.
//
// The instrumentation is an observer (resilientws.WithObserver): its
// handlers run after the client's own On* handlers, on the event goroutine,
// and it replaces none of them. It adds no work per message: the counters
// are read from Client.Stats when the metrics are collected, so they always
// agree with it, and the histograms take their samples from the OnClose and
// OnHeartbeat events.
//
// # Instruments
//
// There is no OpenTelemetry semantic convention for WebSocket yet, so the
// names follow the style of the messaging and SignalR conventions. The last
// column is what the OpenTelemetry Prometheus exporter makes of each name.
//
//	OpenTelemetry name                       instrument, unit                    attributes                        Prometheus
//	resilientws.client.connections.active    UpDownCounter, {connection}                                           resilientws_client_connections_active
//	resilientws.client.connection.attempts   Counter, {attempt}                  error.type on failures            resilientws_client_connection_attempts_total
//	resilientws.client.reconnects            Counter (async), {reconnect}                                          resilientws_client_reconnects_total
//	resilientws.client.connection.duration   Histogram, s                        resilientws.close.code            resilientws_client_connection_duration_seconds
//	resilientws.client.messages.sent         Counter (async), {message}                                            resilientws_client_messages_sent_total
//	resilientws.client.messages.received     Counter (async), {message}                                            resilientws_client_messages_received_total
//	resilientws.client.messages.dropped      Counter (async), {message}          reason                            resilientws_client_messages_dropped_total
//	resilientws.client.messages.resent       Counter (async), {message}                                            resilientws_client_messages_resent_total
//	resilientws.client.queue.messages        Gauge (async), {message}                                              resilientws_client_queue_messages
//	resilientws.client.queue.bytes           Gauge (async), By                                                     resilientws_client_queue_bytes
//	resilientws.client.heartbeat.rtt         Histogram, s                                                          resilientws_client_heartbeat_rtt_seconds
//	resilientws.client.io                    Counter (async), By                 network.io.direction              resilientws_client_io_bytes_total
//
// Every instrument carries server.address and server.port, from the URL
// given to resilientws.New (never its path, query or user info, which may
// hold tokens), and the attributes of WithAttributes. No message data, ids
// or other unbounded values become attributes.
//
// What each counts, in terms of resilientws:
//
//   - connections.active: +1 at each OnOpen, -1 at each OnClose.
//   - connection.attempts: one per resilientws.DialEvent, so Stats.Connects
//     plus Stats.DialFailures; failures carry error.type (see ErrorType).
//   - reconnects: Stats.Reconnects.
//   - connection.duration: CloseEvent.Uptime, with resilientws.close.code
//     set to CloseEvent.Code (1006 when no close frame came).
//   - messages.sent and messages.received: Stats.MessagesSent and
//     Stats.MessagesReceived (heartbeat messages of WithAppHeartbeat
//     included, as Stats counts them).
//   - messages.dropped: Stats.DroppedQueueFull, DroppedExpired,
//     DroppedUnconfirmed and DroppedClosed, with reason queue_full,
//     expired, unconfirmed and closed.
//   - queue.messages and queue.bytes: Stats.Queued and Stats.BufferedAmount.
//   - heartbeat.rtt: HeartbeatEvent.RTT, each round trip.
//   - io: Stats.BytesSent (network.io.direction transmit) and
//     Stats.BytesReceived (receive): message payloads, without framing.
//
// The synchronous instruments (connections.active, connection.attempts and
// the histograms) are updated on the event goroutine, so they can lag
// Stats by the events not yet delivered; once a client is closed, every
// instrument equals its Stats.
//
// The example directory runs a client against a misbehaving server and
// serves its metrics to Prometheus:
//
//	cd resilientwsotel && go run ./example -addr 127.0.0.1:9464 -duration 60s
package resilientwsotel
