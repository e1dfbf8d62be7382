package resilientws

// Calls from the client's own goroutines.
//
// A callback (on the event goroutine) or the dial hook, the reconnect policy
// or the backoff (on the supervisor) that waits for the client's own work
// would wait for itself: Flush waits for the supervisor to write, which
// waits for OnOpen to return; a Send waiting for room waits for the
// supervisor. The promise is that such calls fail fast with ErrInCallback
// instead of deadlocking. The caller passes its own ctx, or none, so nothing
// but the goroutine itself says where the call comes from, and Go has no
// API for a goroutine's identity: this file reads the id from the stack
// header, and nowhere else. It is read where a call would wait, and once by
// each event goroutine as it starts: never per message written or read.

import (
	"bytes"
	"runtime"
	"strconv"
)

// onOwnGoroutine reports whether the caller runs on the event goroutine (a
// callback) or the supervisor (the dial hook, the reconnect policy, the
// backoff): there, waiting for the client's own work would deadlock.
func (c *Client) onOwnGoroutine() bool {
	if c.disp.inCallback() {
		return true
	}
	id := c.supGID.Load()
	return id != 0 && id == goroutineID()
}

// inCallback reports whether the caller runs on the event goroutine.
func (d *dispatcher) inCallback() bool {
	id := d.gid.Load()
	return id != 0 && id == goroutineID()
}

// goroutineID returns the current goroutine's id, parsed from its stack
// header ("goroutine 42 [running]:"). Only used off the hot path.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
