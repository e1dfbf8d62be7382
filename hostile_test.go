package resilientws

import (
	"strings"
	"testing"

	"github.com/coder/websocket"
)

func TestInvalidFramesAreAProtocolError(t *testing.T) {
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

func TestInvalidCloseCodeFromTheServer(t *testing.T) {
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
