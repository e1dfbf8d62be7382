//go:build !js

package resilientws

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestDialTimeoutOnASilentServer(t *testing.T) {
	srv := newServer(t)
	srv.Hang() // accepts TCP, reads the upgrade request, never answers
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff(), WithDialTimeout(50*time.Millisecond))
	e := r.waitKind("error", 1, wait)
	if !errors.Is(e.err, context.DeadlineExceeded) {
		t.Fatalf("OnError got %v, want a deadline", e.err)
	}
	r.waitKind("reconnecting", 1, wait)
	// Close while a dial hangs returns promptly.
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %s during a dial", d)
	}
}

func TestDialHookFreshHeadersAndEndpoints(t *testing.T) {
	good := newServer(t)
	var auth []string
	good.SetHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		if c.Number() == 1 {
			return // drop the first connection: the second dial must carry a fresh token
		}
		c.Echo(ctx)
	})
	bad := newServer(t)
	bad.Refuse(http.StatusServiceUnavailable, "")
	var attempts []int
	hook := func(ctx context.Context, attempt int) (string, http.Header, error) {
		attempts = append(attempts, attempt)
		if len(attempts) == 1 {
			return "", nil, errors.New("token service down")
		}
		if len(attempts) == 2 {
			return bad.URL(), nil, nil // a dead endpoint: rotate to the next
		}
		tok := "token-" + strconv.Itoa(len(attempts))
		auth = append(auth, tok)
		return good.URL(), http.Header{"Authorization": {tok}}, nil
	}
	r := newRecorder(t)
	c := r.startClient("ws://127.0.0.1:1/unused", fastBackoff(), WithDialHook(hook))
	r.waitKind("open", 2, wait)
	c.Close()
	errs := r.of("error")
	if len(errs) < 2 || !bytes.Contains([]byte(errs[0].err.Error()), []byte("dial hook: token service down")) {
		t.Fatalf("errors %v", errs)
	}
	var he *HandshakeError
	if !errors.As(errs[1].err, &he) || he.StatusCode != 503 {
		t.Fatalf("second error %v, want the 503 of the dead endpoint", errs[1].err)
	}
	if want := []int{0, 1, 2, 1}; fmt.Sprint(attempts) != fmt.Sprint(want) {
		t.Fatalf("hook attempts %v, want %v", attempts, want)
	}
	if fmt.Sprint(auth) != "[token-3 token-4]" {
		t.Fatalf("tokens %v", auth)
	}
}

func TestDialHandshakeErrorMessage(t *testing.T) {
	inner := errors.New("dial failed")
	e := &HandshakeError{StatusCode: http.StatusServiceUnavailable, RetryAfter: 2 * time.Second, Err: inner}
	if !errors.Is(e, inner) {
		t.Fatal("HandshakeError does not unwrap")
	}
	if got, want := e.Error(), "resilientws: handshake rejected: server answered 503 Service Unavailable (retry after 2s)"; got != want {
		t.Fatalf("Error() = %q", got)
	}
}

func TestDialUnauthorizedStopsWithHandshakeError(t *testing.T) {
	srv := newServer(t)
	srv.Refuse(http.StatusUnauthorized, "")
	r := newRecorder(t)
	c := r.newClient(srv.URL(), fastBackoff())
	if err := c.SendText(context.Background(), "queued"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(wait):
		t.Fatal("client did not stop after 401")
	}
	var he *HandshakeError
	if !errors.As(c.Err(), &he) || he.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Err() = %v, want *HandshakeError 401", c.Err())
	}
	if c.State() != StateClosed {
		t.Fatalf("state = %s", c.State())
	}
	errs := r.of("error")
	if len(errs) != 1 || !errors.As(errs[0].err, &he) {
		t.Fatalf("OnError got %v", errs)
	}
	drops := r.of("drop")
	if len(drops) != 1 || !errors.Is(drops[0].err, ErrClosed) || !errors.As(drops[0].err, &he) {
		t.Fatalf("OnDrop got %v", drops)
	}
	if err := c.Run(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("Run after stop = %v", err)
	}
}

// Hostile and broken servers: each gives a clear error through OnError, the
// documented decision (retry or stop), and no leak (TestMain's goleak).

// An address that answers the upgrade with a web page, directly or after a
// redirect, or with a 3xx that leads nowhere, is not a WebSocket endpoint:
// the client says so and stops, as on a 404.
func TestDialNotAWebSocketEndpointStops(t *testing.T) {
	cases := []struct {
		name     string
		handler  func(w http.ResponseWriter, r *http.Request)
		status   int
		redirect bool // the text names where the redirect went
	}{
		{"200", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("hello, this is not a WebSocket"))
		}, http.StatusOK, false},
		{"302 to a page", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/login" {
				w.Write([]byte("please log in: not a WebSocket"))
				return
			}
			http.Redirect(w, r, "/login?token=secret", http.StatusFound)
		}, http.StatusOK, true},
		{"301 without a location", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusMovedPermanently)
			w.Write([]byte("moved, but not a WebSocket"))
		}, http.StatusMovedPermanently, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := hostileServer(t, func(w http.ResponseWriter, r *http.Request, _ func(interface{ Close() error })) {
				tc.handler(w, r)
			})
			r := newRecorder(t)
			c := r.startClient(url+"/ws", fastBackoff())
			select {
			case <-c.Done():
			case <-time.After(wait):
				t.Fatal("the client did not stop")
			}
			want := fmt.Sprintf("resilientws: handshake rejected: server answered %d %s", tc.status, http.StatusText(tc.status))
			if tc.redirect {
				want += " after a redirect to http" + strings.TrimPrefix(url, "ws") + "/login?token=xxxxx"
			}
			want += ": the address is not a WebSocket endpoint"
			errs := r.of("error")
			if len(errs) != 1 {
				t.Fatalf("OnError got %v, want one error", errs)
			}
			checkText(t, "OnError", errs[0].err, want)
			checkText(t, "Err()", c.Err(), want)
			var he *HandshakeError
			if !errors.As(c.Err(), &he) || he.StatusCode != tc.status || !strings.Contains(string(he.Body), "not a WebSocket") {
				t.Fatalf("Err() = %v, want a HandshakeError %d with the body", c.Err(), tc.status)
			}
			if n := len(r.of("reconnecting")); n != 0 {
				t.Errorf("%d reconnect(s), want none", n)
			}
		})
	}
}

func TestDialRedirectLoopIsRetriedWithBackoff(t *testing.T) {
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

func TestDialSelfSignedCertificate(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Read(r.Context())
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	srv.StartTLS()
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
	<-c.Done() // stopped: waiting does not fix a certificate (see certs_test.go)

	// Trusting it takes an HTTP client with the right TLS config.
	r2 := newRecorder(t)
	c2 := r2.newClient(url, fastBackoff(), WithDialOptions(&websocket.DialOptions{HTTPClient: srv.Client()}))
	c2.Start()
	r2.waitKind("open", 1, wait)
	c2.Close()
	srv.CloseClientConnections()
}

func TestDialSubprotocolFollowsTheOpenConnection(t *testing.T) {
	srv := newServer(t, resilientwstest.WithAcceptOptions(&websocket.AcceptOptions{
		Subprotocols: []string{"chat.v2"},
	}))
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

func TestDialSubprotocolIsEmptyWhenTheServerChoosesNone(t *testing.T) {
	srv := newServer(t) // accepts no subprotocol
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

// TestDialDefaultTransportIsShared checks that clients dialing with the default
// HTTP client share one transport, and that a user's transport is cloned
// per client, never modified.
func TestDialDefaultTransportIsShared(t *testing.T) {
	a, err := New("ws://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New("ws://127.0.0.1:1/", WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{}}))
	if err != nil {
		t.Fatal(err)
	}
	shared := sharedTransport().tr
	if shared == nil || a.dialOpts.HTTPClient.Transport != shared || b.dialOpts.HTTPClient.Transport != shared {
		t.Fatalf("default clients do not share the transport: %p %p %p", shared, a.dialOpts.HTTPClient.Transport, b.dialOpts.HTTPClient.Transport)
	}
	if !shared.DisableKeepAlives {
		t.Fatal("the shared transport keeps idle connections: a dial could be handed to another client")
	}
	user := &http.Transport{}
	c, err := New("ws://127.0.0.1:1/", WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{Transport: user}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.dialOpts.HTTPClient.Transport; got == user || got == shared {
		t.Fatalf("a user's transport is used as is or shared: %p", got)
	}
	if user.DisableKeepAlives || user.DialContext != nil {
		t.Fatal("the user's transport was modified")
	}
}

// TestDialSharedTransportRecordsEachClientsOwnSocket dials many clients at once
// through the shared transport, some of them closed mid-dial, and checks
// that every open client recorded its own TCP connection (the one Shutdown
// cuts when a close handshake hangs), not another client's.
func TestDialSharedTransportRecordsEachClientsOwnSocket(t *testing.T) {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1) // before Accept: once hijacked, srv.Close no longer waits for the handler
		defer wg.Done()
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		// Tell the client which of its sockets the server sees.
		if err := ws.Write(ctx, websocket.MessageText, []byte(r.RemoteAddr)); err != nil {
			return
		}
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}))
	defer func() {
		cancel()
		srv.Close()
		wg.Wait()
	}()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	const n = 24
	type seen struct {
		c    *Client
		addr chan string
	}
	var clients []seen
	for i := range n {
		s := seen{addr: make(chan string, 1)}
		c, err := New(url, OnMessage(func(m Message) {
			select {
			case s.addr <- string(m.Data):
			default:
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		s.c = c
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			_ = c.Close() // mid-dial: its socket must not end up with another client
			continue
		}
		clients = append(clients, s)
	}
	for i, s := range clients {
		select {
		case remote := <-s.addr:
			cn := s.c.current.Load()
			if cn == nil {
				t.Fatalf("client %d: no open connection", i)
			}
			cn.raw.mu.Lock()
			raw := cn.raw.c
			cn.raw.mu.Unlock()
			if raw == nil {
				t.Fatalf("client %d: no TCP connection recorded", i)
			}
			if got := raw.LocalAddr().String(); got != remote {
				t.Errorf("client %d recorded socket %s, but its connection is %s", i, got, remote)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("client %d: no message", i)
		}
	}
	for _, s := range clients {
		if err := s.c.Close(); err != nil {
			t.Error(err)
		}
	}
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

// TestDialDefaultTransportUsesTheProxyEnvironment checks that every client
// dialing through http.DefaultTransport, the default, gets its proxy from
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY: the shared transport keeps
// http.ProxyFromEnvironment.
func TestDialDefaultTransportUsesTheProxyEnvironment(t *testing.T) {
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
	plain, secure := newServer(t), newServer(t, resilientwstest.WithTLS())
	p := newHTTPProxy(t, plain.Addr(), secure.Addr())
	roots := x509.NewCertPool()
	roots.AddCert(secure.Certificate())
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
			c := r.startClient(tc.url, fastBackoff(), WithDialOptions(&websocket.DialOptions{HTTPClient: hc}))
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

// envChild marks the child process of TestDialProxyEnvironmentAndCertFile.
const envChild = "RESILIENTWS_TEST_ENV_CHILD"

// TestDialProxyEnvironmentAndCertFile dials with no options at all through
// HTTP_PROXY (ws://), HTTPS_PROXY (wss://) and a root CA from SSL_CERT_FILE.
// net/http reads the proxy variables, and crypto/x509 the certificate
// files, once per process: the test runs itself again in a child process
// whose environment it sets before any dial. ProxyFromEnvironment never
// proxies localhost or loopback addresses, so the clients dial
// example.com (which the test server's certificate also covers): the proxy maps
// it to the local servers, and nothing is looked up in DNS. NO_PROXY is
// checked on the transport's Proxy function only, since a host it exempts
// would be dialed directly.
func TestDialProxyEnvironmentAndCertFile(t *testing.T) {
	if os.Getenv(envChild) == "" {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run=^TestDialProxyEnvironmentAndCertFile$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), envChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestDialProxyEnvironmentAndCertFile")) {
			t.Fatalf("the child process failed (%v):\n%s", err, out)
		}
		t.Logf("child process:\n%s", out)
		return
	}

	plain, secure := newServer(t), newServer(t, resilientwstest.WithTLS())
	p := newHTTPProxy(t, plain.Addr(), secure.Addr())
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw})
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
		c := r.startClient(target, fastBackoff())
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

// A dial error names the URL without the secrets it may carry: query values
// (tokens, the browser's convention) and a password.
func TestDialErrorsRedactTheURLsSecrets(t *testing.T) {
	r := newRecorder(t)
	r.startClient("ws://user:hunter2@127.0.0.1:1/feed?token=s3cret&v=2", fastBackoff())
	text := r.waitKind("error", 1, wait).err.Error()
	if strings.Contains(text, "s3cret") || strings.Contains(text, "hunter2") {
		t.Fatalf("the dial error shows a secret: %s", text)
	}
	if !strings.Contains(text, "127.0.0.1:1/feed?token=xxxxx&v=xxxxx") {
		t.Fatalf("the dial error does not name the URL: %s", text)
	}
}
