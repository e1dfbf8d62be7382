//go:build !js

package resilientws

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// rawConn holds the TCP connection under one dial, so that a close handshake
// stuck on a dead peer can be cut short: coder/websocket's CloseNow waits for
// a Close in flight.
type rawConn struct {
	mu  sync.Mutex      // guards the fields below
	ctx context.Context // the client's dial, while it runs: its end ends the TCP dial too
	c   net.Conn
}

// errDialOver fails a TCP dial that net/http starts after the client's dial
// has ended: nobody would use its connection.
var errDialOver = errors.New("resilientws: the dial is over")

// dialing returns the client's dial ctx, or false once that dial is over.
func (r *rawConn) dialing() (context.Context, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ctx, r.ctx != nil
}

// dialOver marks the client's dial over, successful or not (and lets its
// ctx go): a TCP dial net/http starts after it fails with errDialOver.
func (r *rawConn) dialOver() {
	r.mu.Lock()
	r.ctx = nil
	r.mu.Unlock()
}

func (r *rawConn) set(c net.Conn) {
	r.mu.Lock()
	r.c = c
	r.mu.Unlock()
}

func (r *rawConn) close() bool {
	r.mu.Lock()
	c := r.c
	r.mu.Unlock()
	if c == nil {
		return false
	}
	_ = c.Close()
	return true
}

type rawConnKey struct{}

// recordRaw wraps a dial function to store each new connection in the
// rawConn its ctx carries, and to end the dial with the client's dial.
// net/http detaches a TCP dial from its request, so that another request
// may use the connection; without keep-alives none can, and a dial to a
// host that does not answer would otherwise outlive Close (by up to the
// dialer's 30 s).
func recordRaw(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		r, _ := ctx.Value(rawConnKey{}).(*rawConn)
		if r != nil {
			owner, ok := r.dialing()
			if !ok {
				return nil, errDialOver
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			defer context.AfterFunc(owner, cancel)()
		}
		c, err := dial(ctx, network, addr)
		if err == nil && r != nil {
			c = wrapHeld(c)
			r.set(c)
		}
		return c, err
	}
}

// dialHTTPClient returns the HTTP client the dials use: the user's (or the
// default one) with a transport that records each new TCP connection in the
// dial's rawConn and keeps no idle connections. A transport that is not an
// *http.Transport is used as is, without the recording.
//
// Without keep-alives, net/http neither takes a request's connection from
// the idle pool nor hands a connection dialed for one request to another
// (it closes it instead), so one such transport can serve every client:
// the default one is built once per process, a user's is cloned per client.
func dialHTTPClient(user *http.Client) *http.Client {
	if user == nil {
		if shared := sharedClient(); shared != nil {
			return shared
		}
	}
	hc := &http.Client{}
	if user != nil {
		*hc = *user
	}
	if hc.CheckRedirect == nil {
		// coder/websocket wraps CheckRedirect and, without one, follows
		// redirects forever: keep net/http's default limit.
		hc.CheckRedirect = limitRedirects
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	tr, ok := base.(*http.Transport)
	if !ok {
		return hc
	}
	if shared := sharedTransport(); shared.base == tr {
		hc.Transport = shared.tr
	} else {
		hc.Transport = recordingTransport(tr)
	}
	return hc
}

// sharedTransport is the recording clone of http.DefaultTransport (as it
// was at first use) that every client dialing through it shares: a
// transport per client would cost every idle client memory.
var sharedTransport = sync.OnceValue(func() (s struct{ base, tr *http.Transport }) {
	if base, ok := http.DefaultTransport.(*http.Transport); ok {
		s.base, s.tr = base, recordingTransport(base)
	}
	return s
})

// sharedClient is the HTTP client of every client dialing without one of
// its own (nil if http.DefaultTransport is not an *http.Transport).
var sharedClient = sync.OnceValue(func() *http.Client {
	tr := sharedTransport().tr
	if tr == nil {
		return nil
	}
	return &http.Client{Transport: tr, CheckRedirect: limitRedirects}
})

// recordingTransport clones base without keep-alives or HTTP/2 and with its
// dials recorded in the rawConn of their ctx.
func recordingTransport(base *http.Transport) *http.Transport {
	tr := base.Clone()
	tr.DisableKeepAlives = true
	// A WebSocket handshake is HTTP/1.1: skip the HTTP/2 set-up a clone
	// would otherwise do on first use, and the copy of the default
	// transport's TLS config, which only lists "h2".
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	if base == http.DefaultTransport {
		tr.TLSClientConfig = nil
	}
	dial := tr.DialContext
	if dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	tr.DialContext = recordRaw(dial)
	if tr.DialTLSContext != nil {
		tr.DialTLSContext = recordRaw(tr.DialTLSContext)
	}
	return tr
}

// maxRedirects is how many redirects a dial follows, as net/http's default.
const maxRedirects = 10

// errTooManyRedirects is wrapped by the dial error of a redirect loop.
var errTooManyRedirects = fmt.Errorf("resilientws: stopped after %d redirects", maxRedirects)

func limitRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errTooManyRedirects
	}
	return nil
}
