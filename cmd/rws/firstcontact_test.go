//go:build !js

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resilientws/resilientws/resilientwstest"
)

// tlsServerWith serves https with a self-signed certificate made from a
// template edited by edit, refusing every request, and returns its wss://
// URL and the certificate's PEM file, for -cacert.
func tlsServerWith(t *testing.T, edit func(*x509.Certificate)) (url, certFile string) {
	t.Helper()
	cert, err := resilientwstest.NewCertificate(edit)
	if err != nil {
		t.Fatal(err)
	}
	der := cert.Certificate[0]
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	certFile = filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return "wss" + strings.TrimPrefix(srv.URL, "https") + "/", certFile
}

// Every certificate failure stops rws at once (no -timeout here), with the
// library's hint and one of rws's own.
func TestCertificateFailuresStopWithHints(t *testing.T) {
	t.Parallel()
	const skip = "-k skips the verification, for a test: anyone on the path could then read and change the session"
	for _, tc := range []struct {
		name string
		edit func(*x509.Certificate)
		want []string
	}{
		{"legacy common name", func(c *x509.Certificate) {
			c.Subject.CommonName, c.IPAddresses = "127.0.0.1", nil
		}, []string{
			`the server's certificate has no subjectAltName, and Go ignores its legacy Common Name "127.0.0.1"`,
			`-addext "subjectAltName=IP:127.0.0.1"`, skip,
		}},
		{"wrong host", func(c *x509.Certificate) {
			c.IPAddresses, c.DNSNames = nil, []string{"feed.example"}
		}, []string{"the server's certificate is not valid for 127.0.0.1, only for feed.example", skip}},
		{"expired", func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
		}, []string{"the server's certificate expired at ", skip}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, cert := tlsServerWith(t, tc.edit)
			res := runRWS(t, "", "-no-stdin", "-cacert", cert, url)
			if res.code != exitFailure || !strings.Contains(res.stderr, "; not reconnecting") {
				t.Errorf("exit %d; want 1, and no reconnect\nstderr:\n%s", res.code, res.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
			if n := strings.Count(res.stderr, "-k skips"); n != 1 {
				t.Errorf("the -k hint shows %d times, want once:\n%s", n, res.stderr)
			}
		})
	}
}

// An address that answers the upgrade with a web page stops rws at once.
func TestNotAWebSocketEndpoint(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>a web page</html>\n"))
	}))
	t.Cleanup(srv.Close)
	res := runRWS(t, "", "-no-stdin", "ws"+strings.TrimPrefix(srv.URL, "http"))
	want := `rws: not a WebSocket endpoint: the server answered the upgrade with HTTP 200 OK: "<html>a web page</html>"; not retrying`
	if res.code != exitFailure || !strings.Contains(res.stderr, want) {
		t.Errorf("exit %d; want 1 and %q\nstderr:\n%s", res.code, want, res.stderr)
	}
}

// rws guesses ws:// for an address without a scheme; against a TLS port
// that hangs up, it suggests wss://.
func TestPlainDialToATLSPortSuggestsWSS(t *testing.T) {
	t.Parallel()
	// No certificate: the handshake fails on the first record, before
	// one is needed.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("no certificate")
	}})
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
			c.SetDeadline(time.Now().Add(processTimeout))        // a client gone before its request cannot hold the cleanup
			c.(*tls.Conn).HandshakeContext(context.Background()) // fails on plain HTTP: the server hangs up
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	res := runRWS(t, "", "-no-stdin", "-timeout", "500ms", ln.Addr().String())
	want := "the server closed TCP before answering the handshake (EOF): if it serves TLS, use wss://"
	if res.code != exitFailure || !strings.Contains(res.stderr, want) {
		t.Errorf("exit %d; want 1 and %q\nstderr:\n%s", res.code, want, res.stderr)
	}
}
