//go:build !js

package resilientws

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestReadLimitOverflowReconnectsWith1009(t *testing.T) {
	srv := newServer(t)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		size := 100
		if c.Number() == 1 {
			size = 2000
		}
		c.Write(ctx, websocket.MessageBinary, make([]byte, size))
		c.Read(ctx)
	})
	r := newRecorder(t)
	r.startClient(srv.URL(), fastBackoff(), WithReadLimit(1000))
	e := r.waitKind("error", 1, wait)
	if !errors.Is(e.err, websocket.ErrMessageTooBig) {
		t.Fatalf("OnError got %v, want ErrMessageTooBig", e.err)
	}
	cl := r.waitKind("close", 1, wait).close
	if cl.Code != websocket.StatusMessageTooBig || !cl.Reconnect {
		t.Fatalf("close event %+v, want 1009 with reconnect", cl)
	}
	if m := r.waitKind("message", 1, wait); len(m.msg.Data) != 100 {
		t.Fatalf("first message delivered has %d bytes, want the 100 of connection 2", len(m.msg.Data))
	}
}

func TestReadAnswersServerPingsWhileIdle(t *testing.T) {
	srv := newServer(t)
	pinged := make(chan error, 1)
	srv.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		ctx = c.CloseRead(ctx) // the server reads control frames only
		var err error
		for range 5 {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = c.Ping(pctx)
			cancel()
			if err != nil {
				break
			}
		}
		pinged <- err
		<-ctx.Done()
	})
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := <-pinged; err != nil {
		t.Fatalf("server ping while the client is idle: %v", err)
	}
}

func TestReadInvalidFramesAreAProtocolError(t *testing.T) {
	url := rawFrameServer(t, []byte{0xF1, 0x00}) // a text frame with every reserved bit set: invalid
	r := newRecorder(t)
	c := r.newClient(url, fastBackoff(), WithHeartbeat(0, 0))
	c.Start()
	r.waitKind("open", 1, wait)
	e := r.waitKind("error", 1, wait)
	cl := r.waitKind("close", 1, wait).close
	if cl.Code != websocket.StatusAbnormalClosure || !cl.Reconnect || cl.Err == nil || cl.Err.Error() != e.err.Error() {
		t.Fatalf("close event %+v after %v", cl, e.err)
	}
	t.Logf("invalid frame: %v", e.err)
	c.Close()
}

func TestReadInvalidCloseCodeFromTheServer(t *testing.T) {
	url := rawFrameServer(t, []byte{0x88, 0x02, 0x03, 0xEE}) // close frame with code 1006, which may not be sent
	r := newRecorder(t)
	c := r.newClient(url, fastBackoff(), WithHeartbeat(0, 0))
	c.Start()
	e := r.waitKind("error", 1, wait)
	if !strings.Contains(e.err.Error(), "invalid") {
		t.Fatalf("OnError got %v, want the invalid close payload named", e.err)
	}
	if cl := r.waitKind("close", 1, wait).close; cl.Code != websocket.StatusAbnormalClosure || !cl.Reconnect {
		t.Fatalf("close event %+v: an invalid close frame is abnormal, and retried", cl)
	}
	c.Close()
}
