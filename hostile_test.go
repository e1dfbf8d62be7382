package resilientws

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

func TestServerAnswers200InsteadOf101(t *testing.T) {
	url := hostileServer(t, func(w http.ResponseWriter, r *http.Request, _ func(interface{ Close() error })) {
		w.Write([]byte("hello, this is not a WebSocket"))
	})
	r := newRecorder(t)
	c := r.newClient(url, fastBackoff())
	c.Start()
	e := r.waitKind("error", 1, wait)
	var he *HandshakeError
	if !errors.As(e.err, &he) || he.StatusCode != http.StatusOK || !strings.Contains(string(he.Body), "not a WebSocket") {
		t.Fatalf("OnError got %v, want a HandshakeError 200 with the body", e.err)
	}
	r.waitKind("reconnecting", 1, wait) // documented: retried
	c.Close()
}

func TestRedirectLoopIsRetriedWithBackoff(t *testing.T) {
	url := hostileServer(t, func(w http.ResponseWriter, r *http.Request, _ func(interface{ Close() error })) {
		http.Redirect(w, r, r.URL.Path, http.StatusFound) // to itself, forever
	})
	r := newRecorder(t)
	c := r.newClient(url, fastBackoff())
	c.Start()
	e := r.waitKind("error", 1, wait)
	if !errors.Is(e.err, errTooManyRedirects) {
		t.Fatalf("OnError got %v, want the redirect loop named", e.err)
	}
	r.waitKind("reconnecting", 1, wait)
	c.Close()
}

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

func TestSelfSignedCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Read(r.Context())
	}))
	defer srv.Close()
	url := "wss" + strings.TrimPrefix(srv.URL, "https")

	r := newRecorder(t)
	c := r.newClient(url, fastBackoff())
	c.Start()
	e := r.waitKind("error", 1, wait)
	var certErr *tls.CertificateVerificationError
	if !errors.As(e.err, &certErr) {
		t.Fatalf("OnError got %v, want a *tls.CertificateVerificationError", e.err)
	}
	r.waitKind("reconnecting", 1, wait) // retried: a certificate can be fixed server-side
	c.Close()

	// Trusting it takes an HTTP client with the right TLS config.
	r2 := newRecorder(t)
	c2 := r2.newClient(url, fastBackoff(), WithDialOptions(&websocket.DialOptions{HTTPClient: srv.Client()}))
	c2.Start()
	r2.waitKind("open", 1, wait)
	c2.Close()
	srv.CloseClientConnections()
}
