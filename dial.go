package resilientws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// checkURL accepts ws, wss, http and https URLs with a host.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return newFailure(fmt.Sprintf("invalid URL %q: %s", raw, describe(err)), err)
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "wss", "http", "https":
	case "":
		return fmt.Errorf("resilientws: invalid URL %q: missing scheme (want ws, wss, http or https)", raw)
	default:
		return fmt.Errorf("resilientws: invalid URL %q: scheme %q is not ws, wss, http or https", raw, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("resilientws: invalid URL %q: missing host", raw)
	}
	return nil
}

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

// dial makes one connection attempt, bounded by the dial timeout and by stop.
// A non-101 answer is returned as a *HandshakeError.
//
// The dial's ctx is not derived from stop, which would keep a map of
// children for the client's whole life (an idle client's memory counts: see
// bench/BENCHMARKS.md): Shutdown cancels it through c.dialCancel.
func (c *Client) dial(stop context.Context, attempt int) (*websocket.Conn, *rawConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.dialTimeout)
	defer cancel()
	c.dialCancel.Store(&cancel)
	defer c.dialCancel.Store(nil)
	if stop.Err() != nil {
		cancel() // Shutdown came before the store: it did not see this dial
	}
	url, opts := c.url, c.dialOpts // a copy: Dial may not keep it
	if c.opts.dialHook != nil {
		u, h, err := c.callDialHook(ctx, attempt)
		if err != nil {
			if stop.Err() != nil {
				return nil, nil, ErrClosed
			}
			return nil, nil, newFailure("dial hook: "+describe(err), err)
		}
		if u != "" {
			if err := checkURL(u); err != nil {
				return nil, nil, newFailure("dial hook: "+describe(err), err)
			}
			url = u
		}
		if h != nil {
			opts.HTTPHeader = h.Clone()
		}
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
	raw.dialed()
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
			return nil, nil, he
		}
		if stop.Err() != nil {
			return nil, nil, ErrClosed
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, newFailure(fmt.Sprintf("dial %s: no handshake within %s", url, c.opts.dialTimeout), err)
		}
		return nil, nil, newFailure(fmt.Sprintf("dial %s: %s", url, describeDial(err)), err)
	}
	ws.SetReadLimit(c.opts.readLimit)
	return ws, raw, nil
}

// callDialHook runs the user's dial hook, turning a panic into an error.
func (c *Client) callDialHook(ctx context.Context, attempt int) (url string, h http.Header, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Callback: "WithDialHook", Value: v}
		}
	}()
	return c.opts.dialHook(ctx, attempt)
}
