// Package interop holds no code: its tests drive the resilientws client,
// through its public API only, against two WebSocket servers not written in
// Go, each started as a child process with an HTTP control plane on the same
// port:
//
//   - node/server.js, on Node's ws package (version pinned in
//     node/package-lock.json): run `npm ci` in interop/node first;
//   - python/server.py, on Python's websockets package, legacy API of
//     Debian's python3-websockets 10.x, which only /usr/bin/python3 can import:
//     `apt-get install -y python3-websockets`.
//
// Each server binds 127.0.0.1 on a free port, prints "LISTENING <port>" and
// exits by itself after at most two minutes; the tests stop it sooner. The
// controls are listed at the top of each server's source.
//
// A test skips when its peer is missing and says why; a run without -v
// prints one line per missing peer, with the command that installs it
// (see internal/skipnote). With CI set in the environment, a missing peer
// fails the test instead.
//
//	go test -race ./interop/
package interop
