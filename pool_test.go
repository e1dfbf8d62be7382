//go:build !js

package resilientws

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// Pooled buffers must never be reused while a message still needs them:
// send and receive many large messages of distinct content, and check every
// byte on both sides.
func TestPooledBuffersKeepEveryPayloadIntact(t *testing.T) {
	srv := newServer(t)
	const n = 300
	payload := func(i int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("%05d", i)), 300+i%50) // 1.5-1.75 KiB: pooled
	}
	bad := make(chan string, n)
	got := 0
	done := make(chan struct{})
	c, err := New(srv.URL(), fastBackoff(), WithPooledMessages(), WithQueue(64, 1<<20, OverflowBlock),
		OnMessage(func(m Message) {
			if !bytes.Equal(m.Data, payload(got)) {
				bad <- fmt.Sprintf("echo %d corrupted", got)
			}
			if got++; got == n {
				close(done)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := c.Send(context.Background(), Binary, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("%d of %d echoes", got, n)
	}
	close(bad)
	for b := range bad {
		t.Error(b)
	}
	for i, m := range srv.Messages() {
		if !bytes.Equal(m.Data, payload(i)) {
			t.Fatalf("server got message %d corrupted", i)
		}
	}
}

// TestPoolSendCopiesData overwrites each buffer as soon as Send returns, at the
// three copy paths (under 1 KiB, pooled 1–64 KiB, over 64 KiB): the server
// must get what was sent.
func TestPoolSendCopiesData(t *testing.T) {
	srv := newServer(t)
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
	got := waitReceived(t, srv, len(sizes))
	for i, n := range sizes {
		if want := bytes.Repeat([]byte{byte('a' + i)}, n); !bytes.Equal(got[i].Data, want) {
			t.Fatalf("message %d (%d bytes) changed after Send returned", i, n)
		}
	}
}
