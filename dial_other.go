//go:build !js

package resilientws

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// dialOptions builds the per-client copy of the coder dial options.
// pongs counts every pong received (see Client.pongs); a user's
// OnPongReceived still runs, first.
func dialOptions(o *options, pongs *atomic.Uint64) websocket.DialOptions {
	var d websocket.DialOptions
	if o.dialOptions != nil {
		d = *o.dialOptions
	}
	user := d.OnPongReceived
	d.OnPongReceived = func(ctx context.Context, payload []byte) {
		if user != nil {
			user(ctx, payload)
		}
		pongs.Add(1)
	}
	d.HTTPClient = dialHTTPClient(d.HTTPClient)
	if len(o.header) == 0 {
		d.HTTPHeader = d.HTTPHeader.Clone() // nil stays nil: coder/websocket handles it
		return d
	}
	h := d.HTTPHeader.Clone()
	if h == nil {
		h = http.Header{}
	}
	for k, v := range o.header {
		h[k] = append([]string(nil), v...)
	}
	d.HTTPHeader = h
	return d
}

// open dials url through coder/websocket, with header, if not nil, in place
// of the configured handshake headers. A non-101 answer is returned as a
// *HandshakeError.
func (c *Client) open(ctx, stop context.Context, url string, header http.Header) (socket, *rawConn, error) {
	opts := c.dialOpts // a copy: Dial may not keep it
	if header != nil {
		opts.HTTPHeader = header.Clone()
	}
	raw := &rawConn{ctx: ctx}
	ctx = context.WithValue(ctx, rawConnKey{}, raw)
	// The dial runs on a short-lived goroutine: net/http's deep call stack
	// would otherwise grow the long-lived supervisor's stack for good.
	type dialed struct {
		ws   *websocket.Conn
		resp *http.Response
		err  error
	}
	done := make(chan dialed, 1)
	go func() {
		ws, resp, err := websocket.Dial(ctx, url, &opts)
		done <- dialed{ws, resp, err}
	}()
	d := <-done
	raw.dialOver()
	ws, resp, err := d.ws, d.resp, d.err
	if err != nil {
		raw.close()
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			he := &HandshakeError{
				StatusCode: resp.StatusCode,
				Header:     resp.Header,
				RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
				Err:        err,
			}
			if resp.Body != nil {
				he.Body, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
			}
			if resp.Request != nil && resp.Request.Response != nil { // the request of a redirect
				he.redirectedTo = redactURL(resp.Request.URL.String())
			}
			he.hint = handshakeHint(url, he.StatusCode, he.Body)
			return nil, nil, he
		}
		return nil, nil, c.dialFailed(stop, url, err, explainDial(url, err))
	}
	ws.SetReadLimit(c.opts.readLimit)
	return ws, raw, nil
}
