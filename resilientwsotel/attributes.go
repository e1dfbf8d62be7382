package resilientwsotel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"go.opentelemetry.io/otel/attribute"

	"github.com/resilientws/resilientws"
)

// Attribute keys.
const (
	// ServerAddressKey is the host of the URL given to resilientws.New
	// (OpenTelemetry's server.address). A WithDialHook that rotates
	// endpoints does not change it.
	ServerAddressKey = attribute.Key("server.address")
	// ServerPortKey is the port of that URL, or the scheme's default: 80
	// for ws and http, 443 for wss and https (server.port).
	ServerPortKey = attribute.Key("server.port")
	// ErrorTypeKey classifies a failed connection attempt (error.type): see
	// ErrorType.
	ErrorTypeKey = attribute.Key("error.type")
	// ReasonKey is why messages were dropped: ReasonQueueFull,
	// ReasonExpired, ReasonUnconfirmed or ReasonClosed.
	ReasonKey = attribute.Key("reason")
	// CloseCodeKey is the close code of a connection that ended, as in
	// resilientws.CloseEvent.Code: 1006 when no close frame came.
	CloseCodeKey = attribute.Key("resilientws.close.code")
	// DirectionKey is network.io.direction: "transmit" or "receive".
	DirectionKey = attribute.Key("network.io.direction")
)

// Values of ReasonKey, one per drop counter of resilientws.Stats.
const (
	ReasonQueueFull   = "queue_full"  // Stats.DroppedQueueFull: evicted by OverflowDropOldest
	ReasonExpired     = "expired"     // Stats.DroppedExpired: WithTTL ran out
	ReasonUnconfirmed = "unconfirmed" // Stats.DroppedUnconfirmed: written, never confirmed
	ReasonClosed      = "closed"      // Stats.DroppedClosed: abandoned by Close or a permanent failure
)

// OtherErrorType is the error.type of a failure ErrorType does not
// classify, as OpenTelemetry's semantic conventions name it.
const OtherErrorType = "_OTHER"

// serverAttributes returns server.address and server.port from raw: never
// its path, query or user info, which may hold tokens.
func serverAttributes(raw string) []attribute.KeyValue {
	u, err := url.Parse(raw)
	if err != nil { // resilientws.New checked it
		return nil
	}
	attrs := []attribute.KeyValue{ServerAddressKey.String(u.Hostname())}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		switch strings.ToLower(u.Scheme) {
		case "wss", "https":
			port = 443
		default:
			port = 80
		}
	}
	return append(attrs, ServerPortKey.Int(port))
}

// ErrorType classifies a failed connection attempt for error.type, with a
// small fixed set of values:
//
//   - the HTTP status, as "503", for a refused upgrade (*resilientws.HandshakeError);
//   - "timeout": no handshake within the dial timeout, or a network timeout;
//   - "connection_refused", "connection_reset": the TCP connection;
//   - "dns": the host name did not resolve;
//   - "tls": the TLS handshake or the certificate failed;
//   - "eof": the server closed the connection before answering the handshake;
//   - "_OTHER" (OtherErrorType) for anything else.
func ErrorType(err error) string {
	var he *resilientws.HandshakeError
	var dnsErr *net.DNSError
	var netErr net.Error
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	var record tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.As(err, &he):
		return strconv.Itoa(he.StatusCode)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid),
		errors.As(err, &verify), errors.As(err, &record), errors.As(err, &alert):
		return "tls"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	return OtherErrorType
}
