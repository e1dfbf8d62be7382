//go:build !js

package resilientws

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
)

// TestSendCopiesData overwrites each buffer as soon as Send returns, at the
// three copy paths (under 1 KiB, pooled 1–64 KiB, over 64 KiB): the server
// must get what was sent.
func TestSendCopiesData(t *testing.T) {
	srv := newTestServer(t)
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	sizes := []int{100, 4 << 10, 100 << 10}
	for i, n := range sizes {
		buf := bytes.Repeat([]byte{byte('a' + i)}, n)
		if err := c.Send(context.Background(), Binary, buf); err != nil { // queued before Start: written later
			t.Fatal(err)
		}
		for j := range buf {
			buf[j] = 'X'
		}
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitReceived(len(sizes), wait)
	for i, n := range sizes {
		if want := bytes.Repeat([]byte{byte('a' + i)}, n); !bytes.Equal(got[i].Data, want) {
			t.Fatalf("message %d (%d bytes) changed after Send returned", i, n)
		}
	}
}

// TestPolicyNeverSeesTheUsersClose checks that the reconnect policy is asked
// about a lost connection, and not about the user's own Close.
func TestPolicyNeverSeesTheUsersClose(t *testing.T) {
	srv := newTestServer(t)
	var mu sync.Mutex
	var asked []error
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(), WithReconnectPolicy(func(cause error) bool {
		mu.Lock()
		asked = append(asked, cause)
		mu.Unlock()
		return true
	}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	srv.DropAll()
	r.waitKind("open", 2, wait)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 {
		t.Fatalf("the policy was asked %d times (%v), want once, for the drop", len(asked), asked)
	}
}

// TestReceiveBacklogIsBounded blocks OnMessage and lets the server write
// far more than the backlog holds: the reader must stop reading at the
// message limit (and, with large messages, at the byte limit) instead of
// buffering without bound.
func TestReceiveBacklogIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		max  int // most messages read: the backlog, plus the one the handler holds, plus the one the reader waits with
	}{
		{"messages", 10, maxPendingMessages + 2},
		{"bytes", 256 << 10, maxPendingBytes/(256<<10) + 2}, // 16 messages fill the 4 MiB first
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t)
			var written atomic.Int64
			srv.SetHandler(func(ctx context.Context, c *websocket.Conn, n int) {
				msg := make([]byte, tc.size)
				for {
					if c.Write(ctx, websocket.MessageBinary, msg) != nil {
						return
					}
					written.Add(1)
				}
			})
			release := make(chan struct{})
			c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(0, 0),
				OnMessage(func(Message) { <-release }))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			defer c.Close()
			defer once.Do(func() { close(release) })
			waitUntil(t, "the reader to stall", wait, func() bool {
				cn := c.current.Load()
				return cn != nil && cn.stalls.Load()%2 == 1
			})
			// More than the limit is on its way, in the socket buffers;
			// the client has read no more than the limit.
			waitUntil(t, "the server to write past the limit", wait, func() bool { return written.Load() > int64(tc.max) })
			if got := c.Stats().MessagesReceived; got > uint64(tc.max) {
				t.Fatalf("read %d messages with OnMessage blocked, want at most %d", got, tc.max)
			}
			before := c.Stats().MessagesReceived
			t.Logf("%s: %d messages read, server wrote %d", tc.name, before, written.Load())
		})
	}
}
