//go:build !js

package resilientws

import (
	"bufio"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// Hostile and broken servers: each gives a clear error through OnError, the
// documented decision (retry or stop), and no leak (TestMain's goleak).

// hostileServer serves h with httptest, tracking hijacked connections so
// that the cleanup closes them.
func hostileServer(t *testing.T, h func(w http.ResponseWriter, r *http.Request, hijacked func(c interface{ Close() error }))) string {
	var (
		mu    sync.Mutex
		conns []interface{ Close() error }
	)
	track := func(c interface{ Close() error }) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, track) }))
	t.Cleanup(func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

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

// acceptKey computes Sec-WebSocket-Accept for a hand-made handshake.
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// rawFrameServer completes the opening handshake by hand, sends frame as
// is, and holds the connection until the client drops it.
func rawFrameServer(t *testing.T, frame []byte) string {
	return hostileServer(t, func(w http.ResponseWriter, r *http.Request, track func(interface{ Close() error })) {
		key := r.Header.Get("Sec-WebSocket-Key")
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		track(conn)
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
		brw.WriteString("Sec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n")
		brw.Write(frame)
		brw.Flush()
		bufio.NewReader(conn).ReadByte()
	})
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
