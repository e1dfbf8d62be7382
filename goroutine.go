package resilientws

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
