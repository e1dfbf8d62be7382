// Package resilientws is a WebSocket client that heals itself, for Go
// services that consume long-lived feeds (market data, notifications, chat,
// telemetry).
//
// Start with New, which checks the URL and the options and does no I/O, then
// Start (or Run, which blocks until the client stops). The client:
//
//   - reconnects after any close or error you did not ask for, with
//     exponential backoff and jitter (1 s to 30 s, never giving up), honouring
//     Retry-After and close code 1013, and stops only on what will not fix
//     itself (a 4xx handshake, close codes such as 1008) or on Close;
//   - notices a dead peer or half-open link with a ping/pong heartbeat
//     (WithHeartbeat, or WithAppHeartbeat for servers that expect an
//     application ping), and never takes a slow OnMessage for a dead peer;
//   - queues what you Send while the link is down, in order, bounded
//     (WithQueue), and writes it once a connection is open and OnOpen has
//     returned (so OpenEvent.Send can authenticate or resubscribe first);
//   - reports every message it accepted and could not deliver, or could not
//     confirm, through OnDrop with the reason: nothing is lost silently.
//
// Events (OnOpen, OnMessage, OnClose, OnError, OnBackoff, OnReconnecting,
// OnDrop) run on one event goroutine, in order, outside every lock. Close
// and Shutdown stop the client for good, drain what is queued for a bounded
// time and return once every goroutine and callback is done.
//
// The package is built on github.com/coder/websocket (the protocol) and
// github.com/cenkalti/backoff/v4 (the delays). The subpackage
// resilientwstest holds a misbehaving test server and a fault proxy for
// testing code built on it.
package resilientws
