// Package resilientwstest provides a WebSocket test server and a TCP fault
// proxy for testing WebSocket clients, and the code built on them, against
// the faults of real networks and servers, in the spirit of
// net/http/httptest.
//
// A Server is a coder/websocket server on 127.0.0.1 that echoes by default
// (or runs a Handler), records what it receives per connection (Received,
// Messages, WaitMessages), and can be told at any moment to misbehave: drop
// every connection with a TCP reset (DropAll), close them with a code and
// reason (CloseAll), refuse upgrades with an HTTP status and Retry-After
// (Refuse, then Accept), stop answering pings while data keeps flowing
// (StopPongs), stop reading while TCP stays open (StopReading), or accept
// TCP connections and never answer the handshake (Hang).
//
// A Proxy is a TCP proxy on 127.0.0.1 to put in front of any address. It can
// add latency, limit bandwidth, stall (hold bytes without losing them),
// blackhole (drop bytes while TCP stays open), reset or close every
// connection, and refuse new connections then recover on the same port.
//
// A Server started WithTLS serves wss:// with a self-signed certificate
// (Certificate) valid for the loopback addresses, localhost and
// example.com; the faults work on it alike. NewCertificate makes the
// certificates that fail verification (expired, for another host, without a
// subjectAltName), to test what a consumer does with them.
//
// Both are safe for concurrent use, and their Close methods close every
// connection and wait for every goroutine they started, so tests can check
// for leaks (for example with go.uber.org/goleak). Neither needs anything but
// the loopback interface.
//
// Like httptest.NewServer, NewServer panics if it cannot listen; NewProxy
// returns an error instead.
//
// The package example tests a resilientws consumer against DropAll.
// resilientws's own tests and its chaos soak (the soak directory) use this
// package too.
package resilientwstest
