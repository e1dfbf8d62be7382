//go:build !js

package resilientws

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/resilientwstest"
)

// makeCert returns a self-signed certificate, valid for 127.0.0.1 from an
// hour ago for a day, after edit has changed its template.
func makeCert(t *testing.T, edit func(*x509.Certificate)) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	cert, err := resilientwstest.NewCertificate(edit)
	if err != nil {
		t.Fatal(err)
	}
	return cert, cert.Leaf
}

// tlsServer serves WebSocket echo over TLS with cert, and returns its wss://
// URL.
func tlsServer(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Read(r.Context())
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return "wss" + strings.TrimPrefix(srv.URL, "https") + "/"
}

// trusting returns the dial options of a client that trusts roots (the
// system's if nil) and checks the name serverName (the URL's host if "").
func trusting(roots *x509.Certificate, serverName string) Option {
	cfg := &tls.Config{ServerName: serverName}
	if roots != nil {
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AddCert(roots)
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	return WithDialOptions(&websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
}

// Each way a server's certificate can fail verification gets an error that
// says what is wrong and how to fix it, keeps the x509 error for errors.As,
// and stops the client: waiting does not fix a certificate.
func TestDialCertificateFailuresSayWhatToFixAndStop(t *testing.T) {
	now := time.Now()
	expiry := now.Add(-time.Hour).Truncate(time.Second)
	cases := []struct {
		name       string
		edit       func(*x509.Certificate)
		trust      bool   // the client trusts the certificate as a CA
		serverName string // the client checks this name, not the URL's host
		want       string // the error text after "resilientws: dial URL: "
		as         func(error) bool
	}{
		{
			name: "unknown authority",
			want: "the server's certificate is signed by an unknown authority (self-signed, or a private CA): " +
				"add that CA to the RootCAs of the TLS config of the HTTP client passed with WithDialOptions",
			as: func(err error) bool { var e x509.UnknownAuthorityError; return errors.As(err, &e) },
		},
		{
			name: "wrong host",
			edit: func(c *x509.Certificate) {
				c.IPAddresses = []net.IP{net.IPv4(10, 9, 9, 9)}
				c.DNSNames = []string{"other.example"}
			},
			trust: true,
			want: "the server's certificate is not valid for 127.0.0.1, only for other.example, 10.9.9.9: " +
				"connect with a name it lists, or reissue it with 127.0.0.1 in its subjectAltName",
			as: func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) && e.Host == "127.0.0.1" },
		},
		{
			name: "expired",
			edit: func(c *x509.Certificate) {
				c.NotBefore, c.NotAfter = now.Add(-48*time.Hour), expiry
			},
			trust: true,
			want:  "the server's certificate expired at " + expiry.UTC().Format(time.RFC3339) + ": renew it on the server",
			as: func(err error) bool {
				var e x509.CertificateInvalidError
				return errors.As(err, &e) && e.Reason == x509.Expired
			},
		},
		{
			name: "legacy common name",
			edit: func(c *x509.Certificate) {
				c.Subject.CommonName, c.IPAddresses = "localhost", nil
			},
			trust:      true,
			serverName: "localhost",
			want: `the server's certificate has no subjectAltName, and Go ignores its legacy Common Name "localhost": ` +
				`reissue it with one, e.g. openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem ` +
				`-days 365 -subj /CN=localhost -addext "subjectAltName=DNS:localhost"`,
			as: func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) },
		},
		{
			name: "legacy common name, dialled by IP",
			edit: func(c *x509.Certificate) {
				c.Subject.CommonName, c.IPAddresses = "localhost", nil
			},
			trust: true,
			want: `the server's certificate has no subjectAltName, and Go ignores its legacy Common Name "localhost": ` +
				`reissue it with one, e.g. openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem ` +
				`-days 365 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1"`,
			as: func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cert, leaf := makeCert(t, tc.edit)
			url := tlsServer(t, cert)
			var roots *x509.Certificate
			if tc.trust {
				roots = leaf
			}
			r := newRecorder(t)
			c := r.startClient(url, fastBackoff(), trusting(roots, tc.serverName))
			select {
			case <-c.Done():
			case <-time.After(wait):
				t.Fatal("the client did not stop")
			}
			want := "resilientws: dial " + url + ": " + tc.want
			errs := r.of("error")
			if len(errs) != 1 {
				t.Fatalf("OnError got %v, want one error", errs)
			}
			checkText(t, "OnError", errs[0].err, want)
			checkText(t, "Err()", c.Err(), want+"; not reconnecting")
			for what, err := range map[string]error{"OnError": errs[0].err, "Err()": c.Err()} {
				if !tc.as(err) {
					t.Errorf("%s: errors.As finds no x509 error of the kind in %v", what, err)
				}
				var ve *tls.CertificateVerificationError
				if !errors.As(err, &ve) {
					t.Errorf("%s: errors.As finds no *tls.CertificateVerificationError in %v", what, err)
				}
			}
			if n := len(r.of("reconnecting")); n != 0 {
				t.Errorf("%d reconnect(s), want none", n)
			}
		})
	}
}

// A certificate that is not valid yet is retried: the clock here may be
// behind (a device that boots before it syncs its clock), and that heals by
// waiting.
func TestDialCertificateNotYetValidIsRetried(t *testing.T) {
	start := time.Now().Add(time.Hour).Truncate(time.Second)
	cert, leaf := makeCert(t, func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = start, start.Add(24*time.Hour)
	})
	url := tlsServer(t, cert)
	r := newRecorder(t)
	r.startClient(url, fastBackoff(), trusting(leaf, ""))
	e := r.waitKind("error", 1, wait).err
	checkText(t, "OnError", e, "resilientws: dial "+url+": the server's certificate is not valid before "+
		start.UTC().Format(time.RFC3339)+": check the clock here, or the certificate's start date")
	var ie x509.CertificateInvalidError
	if !errors.As(e, &ie) || ie.Reason != x509.Expired {
		t.Errorf("errors.As(x509.CertificateInvalidError) fails on %v", e)
	}
	r.waitKind("reconnecting", 1, wait)
}

func TestDefaultReconnectPolicyOnCertificates(t *testing.T) {
	_, leaf := makeCert(t, nil)
	future := *leaf
	future.NotBefore = time.Now().Add(time.Hour)
	wrap := func(err error) error {
		return &tls.CertificateVerificationError{Err: err}
	}
	cases := []struct {
		name  string
		cause error
		want  bool
	}{
		{"unknown authority", wrap(x509.UnknownAuthorityError{Cert: leaf}), false},
		{"host name", wrap(x509.HostnameError{Certificate: leaf, Host: "example.org"}), false},
		{"expired", wrap(x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired}), false},
		{"not yet valid", wrap(x509.CertificateInvalidError{Cert: &future, Reason: x509.Expired}), true},
		{"other verification failure", wrap(x509.CertificateInvalidError{Cert: leaf, Reason: x509.IncompatibleUsage}), false},
		{"bare x509 error from a custom VerifyConnection", x509.UnknownAuthorityError{Cert: leaf}, false},
		{"not TLS at all", &tls.RecordHeaderError{Msg: "tls: first record does not look like a TLS handshake"}, true},
	}
	for _, tc := range cases {
		if got := DefaultReconnectPolicy(newFailure("dial: x", tc.cause)); got != tc.want {
			t.Errorf("%s: DefaultReconnectPolicy = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A plain WebSocket server dialled with wss://: the hint names ws://.
func TestDialWSSToAPlainServerSuggestsWS(t *testing.T) {
	srv := newServer(t)
	url := "wss" + strings.TrimPrefix(srv.URL(), "ws")
	r := newRecorder(t)
	r.startClient(url, fastBackoff())
	e := r.waitKind("error", 1, wait).err
	checkText(t, "OnError", e, "resilientws: dial "+url+": the server does not speak TLS on this port: use ws://, not wss://")
	if !errors.Is(e, http.ErrSchemeMismatch) {
		t.Errorf("errors.Is(http.ErrSchemeMismatch) fails on %v", e)
	}
	r.waitKind("reconnecting", 1, wait) // a proxy or a restart may fix it: retried
}

// A ws:// dial to a TLS port that hangs up without answering: the hint
// names wss://.
func TestDialWSToATLSPortSuggestsWSS(t *testing.T) {
	cert, _ := makeCert(t, nil)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// A plain HTTP request is no TLS record: the handshake fails
			// and the server hangs up, as Node's and most TLS servers do.
			c.SetDeadline(time.Now().Add(wait)) // a client gone before its request cannot hold the cleanup
			c.(*tls.Conn).HandshakeContext(context.Background())
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	url := "ws://" + ln.Addr().String() + "/"
	r := newRecorder(t)
	r.startClient(url, fastBackoff())
	e := r.waitKind("error", 1, wait).err
	checkText(t, "OnError", e, "resilientws: dial "+url+": the server closed TCP before answering the handshake (EOF): if it serves TLS, use wss://")
	if !errors.Is(e, io.EOF) && !errors.Is(e, io.ErrUnexpectedEOF) {
		t.Errorf("errors.Is(EOF) fails on %v", e)
	}
	r.waitKind("reconnecting", 1, wait)
}

// A ws:// dial to a TLS server that answers 400 in plain text, as Go's and
// nginx's do: the hint names wss://.
func TestDialWSToAnHTTPSServerSuggestsWSS(t *testing.T) {
	for name, body := range map[string]string{
		"go":    "Client sent an HTTP request to an HTTPS server.\n",
		"nginx": "<html><head><title>400 The plain HTTP request was sent to HTTPS port</title></head></html>",
	} {
		t.Run(name, func(t *testing.T) {
			url := hostileServer(t, func(w http.ResponseWriter, r *http.Request, _ func(interface{ Close() error })) {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, body)
			})
			r := newRecorder(t)
			c := r.startClient(url, fastBackoff())
			<-c.Done()
			checkText(t, "Err()", c.Err(), "resilientws: handshake rejected: server answered 400 Bad Request: the server wants TLS on this port: use wss://")
		})
	}
	t.Run("a real Go TLS server", func(t *testing.T) {
		cert, _ := makeCert(t, nil)
		url := "ws" + strings.TrimPrefix(tlsServer(t, cert), "wss")
		r := newRecorder(t)
		c := r.startClient(url, fastBackoff())
		<-c.Done()
		checkText(t, "Err()", c.Err(), "resilientws: handshake rejected: server answered 400 Bad Request: the server wants TLS on this port: use wss://")
	})
	// A 400 for another reason gets no such hint.
	url := hostileServer(t, func(w http.ResponseWriter, r *http.Request, _ func(interface{ Close() error })) {
		http.Error(w, "missing token", http.StatusBadRequest)
	})
	r := newRecorder(t)
	c := r.startClient(url, fastBackoff())
	<-c.Done()
	checkText(t, "Err()", c.Err(), "resilientws: handshake rejected: server answered 400 Bad Request")
}

// A system without CA certificates, as a bare container image: the hint
// says what to install.
func TestExplainCertificateWithoutSystemRoots(t *testing.T) {
	err := newFailure("dial", &tls.CertificateVerificationError{Err: x509.SystemRootsError{}})
	got := explainCertificate(err, time.Now())
	want := "this system has no trusted CA certificates to check the server's with (a container image without them?): " +
		"install them (the ca-certificates package), or name a file of them in SSL_CERT_FILE"
	if got != want {
		t.Errorf("explainCertificate:\n got %q\nwant %q", got, want)
	}
	if DefaultReconnectPolicy(err) {
		t.Error("DefaultReconnectPolicy retries, want a stop")
	}
}
