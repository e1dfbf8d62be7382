package resilientws

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// write writes one queued message under the watchdog, which fails the
// connection if the write takes longer than limit. Within a batch it
// reaches the held buffer, not the socket (see writeQueued).
func (cn *connection) write(m Message, limit time.Duration) error {
	return cn.watched(limit, func() error { return cn.ws.Write(context.Background(), m.Type, m.Data) })
}

// watched runs write, which writes to the socket, under the watchdog. Only
// the supervisor calls it.
func (cn *connection) watched(limit time.Duration, write func() error) error {
	cn.wdRun.Add(1)
	cn.wdLimit = limit
	if cn.watchdog == nil {
		cn.watchdog = time.AfterFunc(limit, cn.writeTimedOut)
	} else {
		cn.watchdog.Reset(limit)
	}
	err := write()
	if !cn.watchdog.Stop() {
		cn.wdRun.Wait() // it has failed the connection
		return cn.cause
	}
	cn.wdRun.Done()
	return err
}

// writeTimedOut is the watchdog's function.
func (cn *connection) writeTimedOut() {
	defer cn.wdRun.Done()
	cn.fail(fmt.Errorf("%w: a write took longer than %s", ErrWriteTimeout, cn.wdLimit))
}

// writeNow writes one message on cn at once, outside the send queue
// (OpenEvent.Send, the application heartbeat's ping), bounded by ctx and the
// write timeout; what names the write in its errors. A write cut short
// mid-frame kills the connection. Queued messages go through write instead.
func (cn *connection) writeNow(ctx context.Context, what string, typ MessageType, data []byte) error {
	if err := ctx.Err(); err != nil {
		return newFailure(what+": "+describe(err), err) // before writing: a write cut short kills the connection
	}
	if cn.isDead() {
		return newFailure(fmt.Sprintf("%s: connection %d is gone", what, cn.id), ErrNotConnected)
	}
	wctx, cancel := context.WithTimeout(ctx, cn.c.opts.writeTimeout)
	defer cancel()
	if err := cn.ws.Write(wctx, typ, data); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			text := fmt.Sprintf("write timeout: %s took longer than %s", what, cn.c.opts.writeTimeout)
			if ctx.Err() != nil {
				text = fmt.Sprintf("write timeout: %s outlived its context's deadline", what)
			}
			cn.fail(newFailure(text, ErrWriteTimeout, err))
		}
		return newFailure(what+": "+describe(err), err)
	}
	cn.c.stats.sent(len(data))
	return nil
}
