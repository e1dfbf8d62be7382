package resilientws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// checkURL accepts ws, wss, http and https URLs with a host.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if noScheme(raw, u, err) {
		text := fmt.Sprintf("invalid URL %q: no scheme: ws://%s or wss://%s?", raw, raw, raw)
		if err != nil {
			return newFailure(text, err)
		}
		return newFailure(text)
	}
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

// noScheme reports whether raw, which url.Parse returned as u or failed on
// with err, is an address without a scheme ("127.0.0.1:9",
// "localhost:9001/echo", "feed.example.com/ws"), which the library does not
// guess: ws:// or wss:// in front of it must make a URL with a host.
func noScheme(raw string, u *url.URL, err error) bool {
	if strings.Contains(raw, "://") {
		return false
	}
	switch {
	case err != nil, u.Scheme == "":
	case u.Opaque != "" && u.Opaque[0] >= '0' && u.Opaque[0] <= '9': // "localhost:9001" reads as scheme localhost
	default:
		return false
	}
	w, werr := url.Parse("ws://" + raw)
	return werr == nil && w.Hostname() != ""
}

// dial makes one connection attempt, bounded by the dial timeout and by stop:
// it runs the dial hook, then open (dial_other.go, or dial_js.go in the
// browser) dials.
//
// The dial's ctx is not derived from stop, which would keep a map of
// children for the client's whole life (an idle client's memory counts: see
// bench/BENCHMARKS.md): Shutdown cancels it through c.dialCancel.
func (c *Client) dial(stop context.Context, attempt int) (socket, *rawConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.dialTimeout)
	defer cancel()
	c.dialCancel.Store(&cancel)
	defer c.dialCancel.Store(nil)
	if stop.Err() != nil {
		cancel() // Shutdown came before the store: it did not see this dial
	}
	url := c.url
	var header http.Header // nil: the headers of WithHeader and the dial options
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
		header = h
	}
	return c.open(ctx, stop, url, header)
}

// dialFailed is the error of a dial to url that failed with err: ErrClosed
// if the client is stopping, else a failure saying why, in words (what).
func (c *Client) dialFailed(stop context.Context, url string, err error, what string) error {
	if stop.Err() != nil {
		return ErrClosed
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return newFailure(fmt.Sprintf("dial %s: no handshake within %s", redactURL(url), c.opts.dialTimeout), err)
	}
	return newFailure(fmt.Sprintf("dial %s: %s", redactURL(url), what), err)
}

// redactURL is raw as an error text may show it: the values of its query
// (tokens travel there, the browser's convention) and the password of its
// user info are replaced, the rest is kept for the reader.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an invalid URL)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
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
