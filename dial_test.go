//go:build !js

package resilientws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestSubprotocolFollowsTheOpenConnection(t *testing.T) {
	srv := resilientwstest.NewServer(resilientwstest.WithAcceptOptions(&websocket.AcceptOptions{
		Subprotocols: []string{"chat.v2"},
	}))
	t.Cleanup(srv.Close)
	r := newRecorder(t)
	var inOpen, inClose []string // Subprotocol() seen from inside the callbacks
	c := r.newClient(srv.URL(), fastBackoff(),
		WithDialOptions(&websocket.DialOptions{Subprotocols: []string{"chat.v1", "chat.v2"}}),
		OnOpen(func(e OpenEvent) {
			inOpen = append(inOpen, r.client.Subprotocol())
			r.add(rec{kind: "open", open: e})
		}),
		OnClose(func(e CloseEvent) {
			inClose = append(inClose, r.client.Subprotocol())
			r.add(rec{kind: "close", close: e})
		}),
	)
	if got := c.Subprotocol(); got != "" {
		t.Fatalf("Subprotocol before Start = %q, want \"\"", got)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if e := r.waitKind("open", 1, wait); e.open.Subprotocol != "chat.v2" {
		t.Fatalf("OpenEvent.Subprotocol = %q, want chat.v2", e.open.Subprotocol)
	}
	if got := c.Subprotocol(); got != "chat.v2" {
		t.Fatalf("Subprotocol while open = %q, want chat.v2", got)
	}

	srv.Refuse(http.StatusServiceUnavailable, "") // keep the client between connections
	srv.DropAll()
	r.waitKind("close", 1, wait)
	if got := c.Subprotocol(); got != "" {
		t.Fatalf("Subprotocol after the server dropped the connection = %q, want \"\"", got)
	}

	srv.Accept()
	r.waitKind("open", 2, wait)
	if got := c.Subprotocol(); got != "chat.v2" {
		t.Fatalf("Subprotocol once reconnected = %q, want chat.v2", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := c.Subprotocol(); got != "" {
		t.Fatalf("Subprotocol after Close = %q, want \"\"", got)
	}
	// The callbacks ran on the event goroutine, which has ended: no race.
	if !equal(inOpen, []string{"chat.v2", "chat.v2"}) || !equal(inClose, []string{"", ""}) {
		t.Fatalf("Subprotocol inside OnOpen %q and OnClose %q, want chat.v2 and \"\" each time", inOpen, inClose)
	}
}

func TestSubprotocolIsEmptyWhenTheServerChoosesNone(t *testing.T) {
	srv := resilientwstest.NewServer() // accepts no subprotocol
	t.Cleanup(srv.Close)
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff(),
		WithDialOptions(&websocket.DialOptions{Subprotocols: []string{"chat.v2"}}))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitKind("open", 1, wait)
	if got := c.Subprotocol(); got != "" || c.State() != StateOpen {
		t.Fatalf("Subprotocol = %q in %s, want \"\" in OPEN", got, c.State())
	}
	if err := c.SendText(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	r.waitMessages(1, wait)
}

// newTLSTestServer is newTestServer over TLS, with httptest's certificate
// (valid for 127.0.0.1, ::1 and example.com): URL gives a wss:// URL.
func newTLSTestServer(t testing.TB) *testServer {
	s := &testServer{t: t, conns: map[*websocket.Conn]struct{}{}, changed: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// httpProxy is a forward HTTP proxy on 127.0.0.1, as in a corporate
// network: it tunnels CONNECT requests (wss:// through a proxy) to
// tlsUpstream and forwards absolute-form requests (ws:// through a proxy:
// the upgrade itself goes to the proxy) to plainUpstream, whatever host
// they name, then splices the bytes both ways. It records each request it
// gets.
type httpProxy struct {
	ln             net.Listener
	plainUp, tlsUp string
	mu             sync.Mutex // guards the fields below
	seen           []string
	conns          map[net.Conn]struct{}
	closed         bool
	wg             sync.WaitGroup
}

// newHTTPProxy starts a proxy, closed at the end of the test.
func newHTTPProxy(t testing.TB, plainUpstream, tlsUpstream string) *httpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &httpProxy{ln: ln, plainUp: plainUpstream, tlsUp: tlsUpstream, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.track(c) {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
	t.Cleanup(p.Close)
	return p
}

// URL is the proxy's URL, for http.ProxyURL or HTTP_PROXY.
func (p *httpProxy) URL() *url.URL { return &url.URL{Scheme: "http", Host: p.ln.Addr().String()} }

// Seen returns "METHOD request-target upgrade=Upgrade-header" for each
// request the proxy got.
func (p *httpProxy) Seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

// track registers c, or closes it and returns false once the proxy is closed.
func (p *httpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *httpProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.seen = append(p.seen, fmt.Sprintf("%s %s upgrade=%s", req.Method, req.RequestURI, req.Header.Get("Upgrade")))
	p.mu.Unlock()
	upstream := p.plainUp
	if req.Method == http.MethodConnect {
		upstream = p.tlsUp
	} else if !req.URL.IsAbs() {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", upstream)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
		return
	}
	if !p.track(up) {
		return
	}
	if req.Method == http.MethodConnect {
		_, err = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	} else {
		err = req.Write(up) // in origin form, upgrade headers included
	}
	if err != nil {
		up.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(up, br) // the client's side, bytes already buffered included
		up.Close()
		c.Close()
	}()
	io.Copy(c, up)
	up.Close()
	c.Close()
	<-done
}

// Close stops the proxy, drops every connection and waits for its goroutines.
func (p *httpProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// TestDefaultTransportUsesTheProxyEnvironment checks that every client
// dialing through http.DefaultTransport, the default, gets its proxy from
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY: the shared transport keeps
// http.ProxyFromEnvironment.
func TestDefaultTransportUsesTheProxyEnvironment(t *testing.T) {
	want := reflect.ValueOf(http.ProxyFromEnvironment).Pointer()
	for name, hc := range map[string]*http.Client{
		"no HTTP client":                     nil,
		"an HTTP client without a transport": {},
		"http.DefaultTransport":              {Transport: http.DefaultTransport},
	} {
		c, err := New("ws://127.0.0.1:1/", WithDialOptions(&websocket.DialOptions{HTTPClient: hc}))
		if err != nil {
			t.Fatal(err)
		}
		tr, ok := c.dialOpts.HTTPClient.Transport.(*http.Transport)
		if !ok || tr.Proxy == nil || reflect.ValueOf(tr.Proxy).Pointer() != want {
			t.Errorf("%s: the dial transport's Proxy is not http.ProxyFromEnvironment", name)
		}
	}
}

// TestDialThroughAnExplicitProxy dials through a proxy set on the user's own
// transport, which the client's copy keeps: ws:// sends the upgrade to the
// proxy, wss:// tunnels TLS through CONNECT.
func TestDialThroughAnExplicitProxy(t *testing.T) {
	plain, secure := newTestServer(t), newTLSTestServer(t)
	p := newHTTPProxy(t, plain.Addr(), secure.Addr())
	roots := x509.NewCertPool()
	roots.AddCert(secure.srv.Certificate())
	for _, tc := range []struct {
		name, url, seen string
	}{
		{"ws", plain.URL() + "/chat", "GET http://" + plain.Addr() + "/chat upgrade=websocket"},
		{"wss", secure.URL() + "/chat", "CONNECT " + secure.Addr() + " upgrade="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := &http.Client{Transport: &http.Transport{
				Proxy:           http.ProxyURL(p.URL()), // unlike ProxyFromEnvironment, it proxies 127.0.0.1 too
				TLSClientConfig: &tls.Config{RootCAs: roots},
			}}
			before := len(p.Seen())
			r := newRecorder(t)
			c := r.newClient(tc.url, fastBackoff(), WithDialOptions(&websocket.DialOptions{HTTPClient: hc}))
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			r.waitKind("open", 1, wait)
			if err := c.SendText(context.Background(), "through the proxy"); err != nil {
				t.Fatal(err)
			}
			if m := r.waitMessages(1, wait); string(m[0].msg.Data) != "through the proxy" {
				t.Fatalf("echo %q", m[0].msg.Data)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if seen := p.Seen()[before:]; len(seen) != 1 || seen[0] != tc.seen {
				t.Fatalf("the proxy saw %q, want %q", seen, tc.seen)
			}
		})
	}
}

// envChild marks the child process of TestProxyEnvironmentAndCertFile.
const envChild = "RESILIENTWS_TEST_ENV_CHILD"

// TestProxyEnvironmentAndCertFile dials with no options at all through
// HTTP_PROXY (ws://), HTTPS_PROXY (wss://) and a root CA from SSL_CERT_FILE.
// net/http reads the proxy variables, and crypto/x509 the certificate
// files, once per process: the test runs itself again in a child process
// whose environment it sets before any dial. ProxyFromEnvironment never
// proxies localhost or loopback addresses, so the clients dial
// example.com (which httptest's certificate also covers): the proxy maps
// it to the local servers, and nothing is looked up in DNS. NO_PROXY is
// checked on the transport's Proxy function only, since a host it exempts
// would be dialed directly.
func TestProxyEnvironmentAndCertFile(t *testing.T) {
	if os.Getenv(envChild) == "" {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run=^TestProxyEnvironmentAndCertFile$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), envChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestProxyEnvironmentAndCertFile")) {
			t.Fatalf("the child process failed (%v):\n%s", err, out)
		}
		t.Logf("child process:\n%s", out)
		return
	}

	plain, secure := newTestServer(t), newTLSTestServer(t)
	p := newHTTPProxy(t, plain.Addr(), secure.Addr())
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.srv.Certificate().Raw})
	if err := os.WriteFile(certFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "REQUEST_METHOD", "SSL_CERT_FILE", "SSL_CERT_DIR"} {
		for _, name := range []string{k, strings.ToLower(k)} {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	t.Setenv("HTTP_PROXY", p.URL().String())
	t.Setenv("HTTPS_PROXY", p.URL().String())
	t.Setenv("NO_PROXY", "direct.example")
	t.Setenv("SSL_CERT_FILE", certFile)
	t.Setenv("SSL_CERT_DIR", t.TempDir()) // empty: only SSL_CERT_FILE's roots

	tr := sharedTransport().tr
	for target, want := range map[string]string{
		"ws://example.com/":     p.URL().String(),
		"wss://example.com/":    p.URL().String(),
		"ws://direct.example/":  "", // NO_PROXY
		"wss://127.0.0.1:8443/": "", // loopback: never proxied
		"ws://localhost:8080/":  "",
	} {
		u, _ := url.Parse(strings.Replace(target, "ws", "http", 1))
		got, err := tr.Proxy(&http.Request{URL: u})
		if err != nil || (got == nil) != (want == "") || (got != nil && got.String() != want) {
			t.Errorf("proxy for %s = %v, %v; want %q", target, got, err, want)
		}
	}

	dial := func(target, want string) {
		t.Helper()
		before := len(p.Seen())
		r := newRecorder(t)
		c := r.newClient(target, fastBackoff())
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		r.waitKind("open", 1, wait)
		if err := c.SendText(context.Background(), "hello"); err != nil {
			t.Fatal(err)
		}
		if m := r.waitMessages(1, wait); string(m[0].msg.Data) != "hello" {
			t.Fatalf("echo %q", m[0].msg.Data)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if seen := p.Seen()[before:]; len(seen) != 1 || seen[0] != want {
			t.Fatalf("%s: the proxy saw %q, want %q", target, seen, want)
		}
	}
	dial("ws://example.com/chat", "GET http://example.com/chat upgrade=websocket")
	switch runtime.GOOS {
	case "darwin", "ios", "windows":
		t.Logf("SSL_CERT_FILE is not read on %s (the platform verifier is used): wss:// not checked", runtime.GOOS)
	default:
		dial("wss://example.com/chat", "CONNECT example.com:443 upgrade=")
	}
}
