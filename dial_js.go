//go:build js && wasm

package resilientws

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/coder/websocket"
)

// rawConn is empty in the browser: there is no TCP connection to cut under
// a socket (see transport_other.go); close reports that.
type rawConn struct{}

func (*rawConn) close() bool { return false }

// dialOptions builds the per-client copy of the dial options: in the
// browser, the subprotocols only.
func dialOptions(o *options, _ *atomic.Uint64) websocket.DialOptions {
	var d websocket.DialOptions
	if o.dialOptions != nil {
		d.Subprotocols = slices.Clone(o.dialOptions.Subprotocols)
	}
	return d
}

// errHookHeader fails a dial whose hook returned headers: a page cannot set
// handshake headers.
var errHookHeader = newFailure("dial hook: it returned handshake headers, which a page cannot send "+
	"(in the browser, pass a token in the URL's query string instead): "+describe(errors.ErrUnsupported), errors.ErrUnsupported)

// open opens a browser WebSocket to url. A header from the dial hook fails
// the dial, unless empty.
func (c *Client) open(ctx, stop context.Context, url string, header http.Header) (socket, *rawConn, error) {
	if len(header) > 0 {
		return nil, nil, errHookHeader
	}
	ws, err := dialBrowser(ctx, browserURL(url), browserDial{
		protocols: c.dialOpts.Subprotocols,
		readLimit: c.opts.readLimit,
		maxUnsent: c.opts.queueBytes,
	})
	if err != nil {
		return nil, nil, c.dialFailed(stop, url, err, describe(err))
	}
	return ws, nil, nil
}

// browserURL turns an http or https URL into ws or wss, which every
// browser accepts.
func browserURL(u string) string {
	switch {
	case len(u) >= 7 && strings.EqualFold(u[:7], "http://"):
		return "ws://" + u[7:]
	case len(u) >= 8 && strings.EqualFold(u[:8], "https://"):
		return "wss://" + u[8:]
	}
	return u
}
