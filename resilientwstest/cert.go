package resilientwstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"time"
)

// selfSigned makes the certificate of a Server started WithTLS: a
// self-signed ECDSA P-256 certificate, its own CA (so that a client trusts
// it by adding it to its roots), valid for the loopback addresses,
// localhost and example.com (a name reserved for examples, which a proxy in
// a test can map to the Server), from an hour ago for ten years.
func selfSigned() (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	return createCertificate(&x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"resilientwstest"}, CommonName: "resilientwstest server"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost", "example.com", "*.example.com"},
	})
}

// NewCertificate returns a self-signed ECDSA P-256 certificate, its own CA,
// valid for 127.0.0.1 (and no name) from an hour ago for a day, after edit,
// if not nil, has changed its template: for testing what a client does with
// a certificate that fails verification. For example, NotAfter in the past
// makes an expired one, DNSNames and IPAddresses for another host one for
// the wrong host, and IPAddresses set to nil with the address as the
// Subject's CommonName the legacy kind that Go refuses. Serve it with
// httptest.Server's TLS config; its Leaf is set.
func NewCertificate(edit func(*x509.Certificate)) (tls.Certificate, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "resilientwstest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if edit != nil {
		edit(tmpl)
	}
	return createCertificate(tmpl)
}

// createCertificate signs tmpl with a new key, by itself.
func createCertificate(tmpl *x509.Certificate) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
