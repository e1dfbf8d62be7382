package resilientws

import (
	"bytes"
	"context"
	"testing"
)

// TestSendCopiesData overwrites each buffer as soon as Send returns, at the
// three copy paths (under 1 KiB, pooled 1–64 KiB, over 64 KiB): the server
// must get what was sent.
func TestSendCopiesData(t *testing.T) {
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
