//go:build !js

package resilientws

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/resilientws/resilientws/resilientwstest"
)

// writesConn records each Write it gets.
type writesConn struct {
	net.Conn
	writes [][]byte
}

func (w *writesConn) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// A held connection passes writes through, except between hold and
// release, when it keeps them and then writes them out in one call (or one
// per poolMax bytes), in order.
func TestHeldConnCoalescesWrites(t *testing.T) {
	w := &writesConn{}
	h := wrapHeld(w).(*heldConn)
	chunk := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

	h.Write(chunk('a', 10))
	if len(w.writes) != 1 {
		t.Fatalf("not holding: %d writes, want 1", len(w.writes))
	}
	h.hold()
	var want []byte
	for i := range 5 {
		p := chunk(byte('b'+i), 4096)
		want = append(want, p...)
		if n, err := h.Write(p); n != len(p) || err != nil {
			t.Fatalf("held write = %d, %v", n, err)
		}
	}
	if len(w.writes) != 1 {
		t.Fatalf("holding: %d writes reached the connection, want none", len(w.writes)-1)
	}
	if err := h.release(); err != nil {
		t.Fatal(err)
	}
	if len(w.writes) != 2 || !bytes.Equal(w.writes[1], want) {
		t.Fatalf("release: %d writes, want 1 with everything held", len(w.writes)-1)
	}
	if err := h.release(); err != nil || len(w.writes) != 2 {
		t.Fatalf("a second release wrote again (%v)", err)
	}

	// Past poolMax, what is held goes out first.
	h.hold()
	for range poolMax/4096 + 1 {
		h.Write(chunk('x', 4096))
	}
	h.release()
	if len(w.writes) != 4 || len(w.writes[2]) != poolMax || len(w.writes[3]) != 4096 {
		t.Fatalf("past poolMax: writes of %d and %d bytes", len(w.writes[2]), len(w.writes[len(w.writes)-1]))
	}
	h.Write(chunk('z', 1))
	if len(w.writes) != 5 {
		t.Fatal("after release, writes do not pass through")
	}
}

// Large messages of distinct content, written with their TCP writes held,
// arrive intact and in order, over ws:// and wss://, while fast heartbeat
// pings (written by another goroutine, between or while messages are held)
// keep their pongs coming.
func TestHeldWritesKeepLargeMessagesIntact(t *testing.T) {
	plain, secure := newServer(t), newServer(t, resilientwstest.WithTLS())
	roots := x509.NewCertPool()
	roots.AddCert(secure.Certificate())
	for _, tc := range []struct {
		name string
		srv  *resilientwstest.Server
		opts []Option
	}{
		{"ws", plain, nil},
		{"wss", secure, []Option{WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 120
			payload := func(i int) []byte {
				return bytes.Repeat([]byte(fmt.Sprintf("%06d", i)), 600+i*97%12000) // 3.6-75 KiB
			}
			r := newRecorder(t)
			c := r.startClient(tc.srv.URL(), append([]Option{fastBackoff(), WithHeartbeat(time.Millisecond, time.Second),
				WithQueue(16, 4<<20, OverflowBlock)}, tc.opts...)...)
			r.waitKind("open", 1, wait)
			if cn := c.current.Load(); cn == nil || cn.held == nil {
				t.Fatal("the connection cannot hold its writes")
			}
			for i := range n {
				if err := c.Send(context.Background(), Binary, payload(i)); err != nil {
					t.Fatal(err)
				}
			}
			got := r.waitMessages(n, wait)
			for i, m := range got {
				if !bytes.Equal(m.msg.Data, payload(i)) {
					t.Fatalf("echo %d (%d bytes) corrupted or out of order", i, len(payload(i)))
				}
			}
			if st := c.Stats(); st.Connects != 1 || st.LastRTT == 0 {
				t.Fatalf("stats %+v: want one connection and heartbeat round trips", st)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
