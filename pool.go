package resilientws

import (
	"bytes"
	"sync"
)

// Buffer pooling for message payloads (profiles showed the copies and the
// garbage they make dominating 16 KiB traffic).
//
// Send side: a message of at least poolMin bytes is copied into a pooled
// buffer, which goes back to the pool once the peer has confirmed the
// message (never when it is handed to OnDrop: the callback owns it then).
// Receive side, with WithPooledMessages only: each message is read into a
// pooled buffer, which goes back to the pool when OnMessage returns. The
// writes of a batch held for one system call (coalesce_other.go) wait in a
// pooled buffer too.
// Smaller messages are plain allocations: pooling them is slower
// (bench/BENCHMARKS.md).

// poolMin is the smallest payload worth a pooled buffer.
const poolMin = 1 << 10

// poolMax is the largest buffer kept in the pool.
const poolMax = 64 << 10

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// getBuf returns an empty pooled buffer.
func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

// putBuf returns b to the pool, unless it grew too large to keep.
func putBuf(b *bytes.Buffer) {
	if b == nil || b.Cap() > poolMax {
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// copyPayload copies data for the send queue: into a pooled buffer (also
// returned) when it is large enough, else into a fresh slice.
func copyPayload(data []byte) ([]byte, *bytes.Buffer) {
	if len(data) < poolMin || len(data) > poolMax {
		return bytes.Clone(data), nil
	}
	b := getBuf()
	b.Write(data)
	return b.Bytes(), b
}
