//go:build !js

package resilientws_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws"
)

// exampleEchoServer starts a WebSocket server that echoes every message. Its
// stop function closes it and waits for its handlers, which end when their
// client closes: httptest.Server.Close does not wait for hijacked
// connections.
func exampleEchoServer() (url string, stop func()) {
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1) // before the upgrade, so before the client can Close
		defer wg.Done()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			fmt.Println("accept:", err)
			return
		}
		defer c.CloseNow() //nolint:errcheck // the connection is over either way
		for {
			typ, data, err := c.Read(r.Context())
			if err != nil {
				return // the client closed
			}
			if err := c.Write(r.Context(), typ, data); err != nil {
				return
			}
		}
	}))
	return srv.URL, func() {
		srv.Close()
		wg.Wait()
	}
}

func ExampleNew() {
	url, stop := exampleEchoServer()
	defer stop()

	echoed := make(chan string, 1)
	c, err := resilientws.New(url,
		resilientws.OnOpen(func(e resilientws.OpenEvent) {
			fmt.Println("open: connection", e.Connection)
		}),
		resilientws.OnMessage(func(m resilientws.Message) {
			echoed <- string(m.Data)
		}),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			fmt.Println("close:", e.Code, "reconnect:", e.Reconnect)
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.SendText(context.Background(), "hello"); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("echo:", <-echoed)
	// Close returns once every goroutine has ended and every callback has run.
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// open: connection 1
	// echo: hello
	// close: StatusNormalClosure reconnect: false
}

// Messages sent before Start, or while the client is reconnecting, wait in
// the send queue and are written in order once a connection is open.
func ExampleClient_Send() {
	url, stop := exampleEchoServer()
	defer stop()

	echoed := make(chan string, 3)
	c, err := resilientws.New(url,
		resilientws.OnMessage(func(m resilientws.Message) { echoed <- string(m.Data) }),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range []string{"one", "two", "three"} {
		if err := c.Send(context.Background(), resilientws.Text, []byte(s)); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println(c.State(), "- queued bytes:", c.BufferedAmount())
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		fmt.Println(<-echoed)
	}
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// CONNECTING - queued bytes: 11
	// one
	// two
	// three
}

// Run blocks until its ctx is cancelled (then it closes the client and
// returns nil) or the client stops for good (then it returns why).
func ExampleClient_Run() {
	url, stop := exampleEchoServer()
	defer stop()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var c *resilientws.Client
	c, err := resilientws.New(url,
		resilientws.OnOpen(func(e resilientws.OpenEvent) {
			// Send only queues, so it is safe in a callback; the queue is
			// written once OnOpen has returned.
			if err := c.SendText(ctx, "ping"); err != nil {
				fmt.Println(err)
			}
		}),
		resilientws.OnMessage(func(m resilientws.Message) {
			fmt.Println("got", string(m.Data))
			cancel()
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Run:", c.Run(ctx))
	// Output:
	// got ping
	// Run: <nil>
}

// DefaultReconnectPolicy retries what may heal by itself and stops on what
// will not: a rejected token, a policy violation.
func ExampleDefaultReconnectPolicy() {
	for _, cause := range []error{
		&resilientws.HandshakeError{StatusCode: http.StatusUnauthorized},
		&resilientws.HandshakeError{StatusCode: http.StatusServiceUnavailable},
		fmt.Errorf("closed: %w", websocket.CloseError{Code: websocket.StatusPolicyViolation}),
		fmt.Errorf("closed: %w", websocket.CloseError{Code: websocket.StatusTryAgainLater}),
		resilientws.ErrHeartbeatTimeout,
		errors.New("connection reset by peer"),
	} {
		fmt.Printf("retry=%-5t %v\n", resilientws.DefaultReconnectPolicy(cause), cause)
	}
	// Output:
	// retry=false resilientws: handshake rejected: server answered 401 Unauthorized
	// retry=true  resilientws: handshake rejected: server answered 503 Service Unavailable
	// retry=false closed: status = StatusPolicyViolation and reason = ""
	// retry=true  closed: status = StatusTryAgainLater and reason = ""
	// retry=true  resilientws: heartbeat timeout: no pong from the peer
	// retry=true  connection reset by peer
}

// exampleTLSServer starts a WebSocket server over TLS, with httptest's
// self-signed certificate, that echoes every message. With clientCAs it
// demands a client certificate signed by one of them and first greets the
// client by its certificate's name. Its stop function closes it and waits
// for its handlers.
func exampleTLSServer(clientCAs *x509.CertPool) (srv *httptest.Server, stop func()) {
	var wg sync.WaitGroup
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1) // before the upgrade, so before the client can Close
		defer wg.Done()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			fmt.Println("accept:", err)
			return
		}
		defer c.CloseNow() //nolint:errcheck // the connection is over either way
		if certs := r.TLS.PeerCertificates; len(certs) > 0 {
			hello := "hello, " + certs[0].Subject.CommonName
			if err := c.Write(r.Context(), websocket.MessageText, []byte(hello)); err != nil {
				return
			}
		}
		for {
			typ, data, err := c.Read(r.Context())
			if err != nil {
				return // the client closed
			}
			if err := c.Write(r.Context(), typ, data); err != nil {
				return
			}
		}
	}))
	if clientCAs != nil {
		srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	}
	srv.StartTLS()
	return srv, func() {
		srv.Close()
		wg.Wait()
	}
}

// A server whose certificate comes from a private CA: trust that CA with
// an HTTP client of your own. Here httptest's self-signed certificate plays
// the CA; in production, read the CA's PEM file into the pool with
// AppendCertsFromPEM, or, to add a CA for every program on the machine,
// point SSL_CERT_FILE at it instead (see WithDialOptions).
func ExampleWithDialOptions_rootCA() {
	srv, stop := exampleTLSServer(nil)
	defer stop()

	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	hc := &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyFromEnvironment, // a transport of your own uses no proxy unless told to
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}

	echoed := make(chan string, 1)
	failed := make(chan error, 1)
	c, err := resilientws.New("wss"+strings.TrimPrefix(srv.URL, "https"),
		resilientws.WithDialOptions(&websocket.DialOptions{HTTPClient: hc}),
		resilientws.OnMessage(func(m resilientws.Message) { echoed <- string(m.Data) }),
		// A certificate the client does not trust fails every dial.
		resilientws.OnError(func(err error) {
			select {
			case failed <- err:
			default:
			}
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.SendText(context.Background(), "hello over TLS"); err != nil {
		fmt.Println(err)
		return
	}
	select {
	case s := <-echoed:
		fmt.Println("echo:", s)
	case err := <-failed:
		fmt.Println(err)
	}
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// echo: hello over TLS
}

// A server that knows its clients by their certificates (mutual TLS): give
// the certificate and its key to the HTTP client's TLS config. The server
// here trusts exactly that certificate.
func ExampleWithDialOptions_clientCertificate() {
	cert, err := tls.LoadX509KeyPair("testdata/client.pem", "testdata/client-key.pem")
	if err != nil {
		fmt.Println(err)
		return
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(cert.Leaf)
	srv, stop := exampleTLSServer(clientCAs)
	defer stop()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	hc := &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{
			RootCAs:      roots,
			Certificates: []tls.Certificate{cert},
		},
	}}
	greeted := make(chan string, 1)
	failed := make(chan error, 1)
	c, err := resilientws.New("wss"+strings.TrimPrefix(srv.URL, "https"),
		resilientws.WithDialOptions(&websocket.DialOptions{HTTPClient: hc}),
		resilientws.OnMessage(func(m resilientws.Message) { greeted <- string(m.Data) }),
		// Without an accepted certificate, the server ends every handshake.
		resilientws.OnError(func(err error) {
			select {
			case failed <- err:
			default:
			}
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	select {
	case s := <-greeted:
		fmt.Println("server:", s)
	case err := <-failed:
		fmt.Println(err)
	}
	if err := c.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// server: hello, resilientws-example-client
}
