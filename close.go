package resilientws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Close is Shutdown with DefaultDrainTimeout to write what is queued.
func (c *Client) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultDrainTimeout)
	defer cancel()
	return c.Shutdown(ctx)
}

// Shutdown stops the client for good: it stops reconnecting at once, writes
// what is queued while ctx allows if a connection is open, closes it with
// 1000 (the close handshake is bounded to about a second), drops whatever is
// still queued through OnDrop with ErrClosed, and waits for every goroutine
// and every event. It then returns nil, or an error wrapping ErrClosed that
// says how many messages were abandoned.
//
// Called from inside a callback, it cannot wait for the event goroutine that
// runs it: it stops everything else and returns, and the event goroutine
// ends once the callback returns. Later calls wait likewise and return nil.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.shutdown(ctx, websocket.StatusNormalClosure, "")
}

// CloseWith is Shutdown, closing the open connection with code and reason
// instead of 1000 and no reason: the server's close frame carries exactly
// them, and so does the final OnClose (with a nil Err). Use it to tell the
// server why the client leaves, as the browser's close(code, reason) does.
//
// code must be 1000 (StatusNormalClosure) or in 3000-4999 (3000-3999 are
// registered with IANA, 4000-4999 are free for applications); the other
// codes are the protocol's own. reason must be valid UTF-8 of at most 123
// bytes (what fits in a close frame). Otherwise CloseWith returns an error
// wrapping ErrInvalidClose and does nothing else: the client goes on.
//
// Only the first of Close, Shutdown and CloseWith chooses the code; later
// calls wait for the client to stop and return nil, as with Shutdown. When
// no connection is open (before Start, while dialing, or between
// connections) there is no close frame to carry code and reason: the
// client stops, no OnClose follows (the last one, if any, was for the
// connection that had already ended, with Reconnect true) and CloseWith
// returns as Shutdown does: nil, or the abandoned messages. The rules for
// calls from inside a callback are Shutdown's.
func (c *Client) CloseWith(ctx context.Context, code websocket.StatusCode, reason string) error {
	if err := checkClose(code, reason); err != nil {
		return err
	}
	return c.shutdown(ctx, code, reason)
}

// checkClose checks CloseWith's code and reason.
func checkClose(code websocket.StatusCode, reason string) error {
	if code != websocket.StatusNormalClosure && (code < 3000 || code > 4999) {
		return fmt.Errorf("%w: code %d is neither 1000 nor in 3000-4999", ErrInvalidClose, code)
	}
	if len(reason) > maxCloseReason {
		return fmt.Errorf("%w: the reason is %d bytes long, more than %d", ErrInvalidClose, len(reason), maxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return fmt.Errorf("%w: the reason is not valid UTF-8", ErrInvalidClose)
	}
	return nil
}

// maxCloseReason is the longest close reason, in bytes: a control frame's
// payload is at most 125 bytes, two of them the code.
const maxCloseReason = 123

// shutdown is Shutdown, closing an open connection with code and reason.
func (c *Client) shutdown(ctx context.Context, code websocket.StatusCode, reason string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	inCallback := c.disp.inCallback()
	onSupervisor := !inCallback && c.onOwnGoroutine()
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		if !inCallback && !onSupervisor {
			<-c.Done()
		}
		return nil
	}
	c.closing = true
	c.drain, c.fromCallback = ctx, inCallback
	c.closeCode, c.closeReason = code, reason
	started := c.started
	c.mu.Unlock()

	c.toState(StateClosing)
	c.queue.refuse(ErrClosed)
	c.stopCancel()
	if cancel := c.dialCancel.Load(); cancel != nil {
		(*cancel)() // the dial checks stop after publishing it: one of the two ends it
	}
	c.queue.wakeSupervisor() // the supervisor of an open connection waits on the queue's signal
	if !started {
		c.disp.start()
		c.finish(nil, nil)
		close(c.supDone)
	}
	if onSupervisor {
		return nil // the dial hook, the policy or the backoff called it: the supervisor stops when it returns
	}
	c.awaitSupervisor(ctx)
	if !inCallback {
		<-c.Done()
	}
	c.mu.Lock()
	n := c.abandoned
	c.mu.Unlock()
	if n > 0 {
		return newFailure(fmt.Sprintf("%d queued message(s) abandoned: %s", n, describe(ErrClosed)), ErrClosed)
	}
	return nil
}

// awaitSupervisor waits for the supervisor to end. If ctx ends first, a
// write still running on the open connection gets closeHandshakeTimeout to
// finish, then the connection is dropped.
func (c *Client) awaitSupervisor(ctx context.Context) {
	select {
	case <-c.supDone:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(closeHandshakeTimeout)
	defer t.Stop()
	select {
	case <-c.supDone:
		return
	case <-t.C:
	}
	if cn := c.current.Load(); cn != nil {
		cn.fail(newFailure("shutdown: a write outlived the drain time: "+describe(ErrClosed), ErrClosed))
	}
	<-c.supDone
}

// drainAndClose writes what is queued while Shutdown's ctx allows, then
// closes cn with Shutdown's code and reason (1000 and none, unless
// CloseWith); it reports whether the peer answered the close.
// opened tells whether OnOpen has returned; if not, it waits for it, unless
// Shutdown was called from a callback (which may be that very OnOpen).
func (c *Client) drainAndClose(cn *connection, cf *confirmer, opened bool) bool {
	c.mu.Lock()
	ctx, fromCallback := c.drain, c.fromCallback
	code, reason := c.closeCode, c.closeReason
	c.mu.Unlock()
	if !opened && !fromCallback {
		select {
		case <-cn.gate:
		case <-cn.dead:
		case <-ctx.Done():
		}
	}
	for ctx.Err() == nil && !cn.isDead() {
		// A write stuck past the ctx's deadline is cut after a grace period.
		limit := c.opts.writeTimeout
		if dl, ok := ctx.Deadline(); ok {
			limit = min(limit, max(time.Until(dl), 0)+closeHandshakeTimeout)
		}
		if cn.writeQueued(limit) {
			continue
		}
		if _, _, full := c.unconfirmed.pending(); !full || c.queue.length() == 0 {
			break // written, or dead
		}
		// The log is full: wait for a pong to make room.
		cf.want(cn, true)
		select {
		case err := <-cf.done():
			cf.finish(err)
		case t := <-cn.appPongs: // an application pong confirms too
			cf.hb.pong(t)
		case <-cn.dead:
		case <-ctx.Done():
		}
	}
	if cn.isDead() {
		return false
	}
	return cn.closeGracefully(code, reason)
}

// userCloseEvent is the close event of a connection the user's Close,
// Shutdown or CloseWith ended: their code and reason, no error.
func (c *Client) userCloseEvent() CloseEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CloseEvent{Code: c.closeCode, Reason: c.closeReason}
}

// finish stops the client for good with err (nil for the user's Close): it
// posts the last OnClose (closeEv, if a connection was open), drops what is
// queued, and lets the event goroutine end once all that is delivered.
func (c *Client) finish(err error, closeEv *CloseEvent) {
	c.mu.Lock()
	c.err = err
	c.stopped = true
	c.mu.Unlock()
	c.toState(StateClosed)
	c.logf(slog.LevelInfo, "resilientws: stopped", "err", err)
	if closeEv != nil {
		closeEv.Reconnect = false
		c.disp.post(event{kind: evClose, close: *closeEv})
	}
	reason := ErrClosed
	if err != nil {
		reason = newFailure(describe(ErrClosed)+": "+describe(err), ErrClosed, err)
	}
	abandoned := 0
	for _, it := range c.queue.close(reason) {
		if it.writes > 0 { // put back for resending: it may have arrived
			c.dropped(it.msg, c.unconfirmedErr(it.writes, false))
			continue
		}
		abandoned++
		c.dropped(it.msg, reason)
	}
	if err == nil {
		c.mu.Lock()
		c.abandoned = abandoned
		c.mu.Unlock()
	}
	c.stopCancel()
	c.disp.stop()
}

var errConnGone = errors.New("connection closed")

// closeGracefully sends a close frame with code and reason and waits for
// the peer's answer at most closeHandshakeTimeout; then the socket is simply
// closed. It reports whether the peer answered: it then has read everything
// written before.
func (cn *connection) closeGracefully(code websocket.StatusCode, reason string) (answered bool) {
	fired := make(chan struct{})
	t := time.AfterFunc(closeHandshakeTimeout, func() {
		defer close(fired)
		if !cn.raw.close() {
			_ = cn.ws.CloseNow()
		}
	})
	err := cn.ws.Close(code, reason)
	if !t.Stop() {
		<-fired
		return false
	}
	if err == nil { // the peer answered with our code
		return true
	}
	if isCloseAnswer(websocket.CloseStatus(err), code) {
		return true // with 1000 or an empty close frame: an answer all the same
	}
	if websocket.CloseStatus(err) != -1 {
		cn.closeErr = err // the server's own close, which Close read, not the reader
	}
	return false
}

// isCloseAnswer reports whether a close frame with status, received after
// ours with code, answers it: the same code, 1000, or an empty frame (1005),
// which RFC 6455 allows. Any other code is the server's own close.
func isCloseAnswer(status, code websocket.StatusCode) bool {
	return status == code || status == websocket.StatusNormalClosure || status == websocket.StatusNoStatusRcvd
}
