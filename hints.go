package resilientws

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// explainDial is describeDial for a dial to rawURL: when the cause has a
// usual fix (a certificate to trust or reissue, the other scheme), it says
// what is wrong and how to fix it.
func explainDial(rawURL string, err error) string {
	if s := explainCertificate(err, time.Now()); s != "" {
		return s
	}
	scheme := ""
	if u, perr := url.Parse(rawURL); perr == nil {
		scheme = strings.ToLower(u.Scheme)
	}
	secure := scheme == "wss" || scheme == "https"
	var rh tls.RecordHeaderError
	switch {
	case secure && (errors.Is(err, http.ErrSchemeMismatch) || errors.As(err, &rh)):
		return "the server does not speak TLS on this port: use ws://, not wss://"
	case !secure && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
		// A TLS server hangs up on a request in plain text.
		return describeDial(err) + ": if it serves TLS, use wss://"
	}
	return describeDial(err)
}

// plainToTLS are the bodies of a 400 with which common TLS servers answer
// a request in plain text: Go's net/http and nginx.
var plainToTLS = []string{
	"Client sent an HTTP request to an HTTPS server",
	"The plain HTTP request was sent to HTTPS port",
}

// handshakeHint says how to fix a dial to rawURL that the server answered
// with status and body, or returns "".
func handshakeHint(rawURL string, status int, body []byte) string {
	u, err := url.Parse(rawURL)
	if err != nil || status != http.StatusBadRequest {
		return ""
	}
	if s := strings.ToLower(u.Scheme); s != "ws" && s != "http" {
		return ""
	}
	for _, p := range plainToTLS {
		if strings.Contains(string(body), p) {
			return "the server wants TLS on this port: use wss://"
		}
	}
	return ""
}

// explainCertificate says what is wrong with the server's certificate when
// err is a failed verification, and how to fix it, or returns "". now is the
// clock the verification read.
func explainCertificate(err error, now time.Time) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		noRoots  x509.SystemRootsError
	)
	switch {
	case errors.As(err, &noRoots):
		return "this system has no trusted CA certificates to check the server's with (a container image without them?): " +
			"install them (the ca-certificates package), or name a file of them in SSL_CERT_FILE"
	case errors.As(err, &unknown):
		return "the server's certificate is signed by an unknown authority (self-signed, or a private CA): " +
			"add that CA to the RootCAs of the TLS config of the HTTP client passed with WithDialOptions"
	case errors.As(err, &hostname) && hostname.Certificate != nil && !hasSAN(hostname.Certificate):
		return fmt.Sprintf("the server's certificate has no subjectAltName, and Go ignores its legacy Common Name %q: "+
			"reissue it with one, e.g. %s", hostname.Certificate.Subject.CommonName, opensslCommand(hostname.Host))
	case errors.As(err, &hostname) && hostname.Certificate != nil:
		return fmt.Sprintf("the server's certificate is not valid for %s, only for %s: "+
			"connect with a name it lists, or reissue it with %s in its subjectAltName",
			hostname.Host, certNames(hostname.Certificate), hostname.Host)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil && now.Before(invalid.Cert.NotBefore):
		return fmt.Sprintf("the server's certificate is not valid before %s: check the clock here, or the certificate's start date",
			invalid.Cert.NotBefore.UTC().Format(time.RFC3339))
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil:
		return fmt.Sprintf("the server's certificate expired at %s: renew it on the server",
			invalid.Cert.NotAfter.UTC().Format(time.RFC3339))
	case errors.As(err, &invalid):
		return "the server's certificate does not verify: " + invalid.Error()
	case errors.As(err, &verify):
		return "the server's certificate does not verify: " + verify.Err.Error()
	}
	return ""
}

// badCertificate reports whether err is a failed verification of the
// server's certificate that waiting will not fix: any, except a certificate
// not valid yet, which a clock behind (a device that has not synced it yet)
// explains.
func badCertificate(err error) bool {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil &&
		time.Now().Before(invalid.Cert.NotBefore) {
		return false
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// oidSubjectAltName is the subjectAltName extension's identifier.
var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// hasSAN reports whether c has a subjectAltName extension, without which Go
// checks no name at all.
func hasSAN(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidSubjectAltName) {
			return true
		}
	}
	return false
}

// certNames lists the names and addresses c is valid for, the first few.
func certNames(c *x509.Certificate) string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	const most = 5
	switch {
	case len(names) == 0:
		return "no name"
	case len(names) > most:
		return fmt.Sprintf("%s and %d more", strings.Join(names[:most], ", "), len(names)-most)
	}
	return strings.Join(names, ", ")
}

// opensslCommand is the command that makes a self-signed certificate for
// host with a subjectAltName.
func opensslCommand(host string) string {
	san := "DNS:" + host
	if net.ParseIP(host) != nil {
		san = "IP:" + host
	}
	return fmt.Sprintf(`openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 365 -subj /CN=%s -addext "subjectAltName=%s"`, host, san)
}
