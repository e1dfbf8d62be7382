package resilientws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// SendOption changes how one message is sent. Pass them to Send, SendText or
// SendJSON; calls without options keep the default behaviour.
type SendOption interface {
	applySend(*sendOptions) error
}

type sendOptions struct {
	ttl     time.Duration
	noQueue bool
}

type sendOptionFunc func(*sendOptions) error

func (f sendOptionFunc) applySend(o *sendOptions) error {
	if f == nil {
		return fmt.Errorf("resilientws: nil send option")
	}
	return f(o)
}

// WithTTL gives the message a time to live, counted from Send: if it is
// still queued when the TTL has passed, it is dropped through OnDrop with
// ErrExpired instead of being written. The TTL must be positive.
func WithTTL(d time.Duration) SendOption {
	return sendOptionFunc(func(o *sendOptions) error {
		if d <= 0 {
			return fmt.Errorf("resilientws: WithTTL: must be positive, got %s", d)
		}
		o.ttl = d
		return nil
	})
}

// WithoutQueue makes Send fail fast with ErrNotConnected unless a connection
// is OPEN, instead of queueing the message for the next connection (for
// messages that are useless late, such as an unsubscribe). When OPEN, the
// message is queued in order as usual. WithResend never writes it again on
// a later connection: if its connection ends before confirming it, it is
// reported with ErrUnconfirmed.
func WithoutQueue() SendOption {
	return sendOptionFunc(func(o *sendOptions) error {
		o.noQueue = true
		return nil
	})
}

// Send queues one message of type typ (Text or Binary) for writing, in
// order, as soon as a connection is open; it does not wait for the write.
// Send copies data, so the caller may reuse it at once.
//
// When the queue is full, Send returns ErrQueueFull (OverflowReject),
// evicts the oldest queued message (OverflowDropOldest) or waits for room
// until ctx ends (OverflowBlock). A message larger than the queue's byte
// limit is refused at once with ErrMessageTooLarge. After Close it returns
// ErrClosed. With WithoutQueue it returns ErrNotConnected unless OPEN.
// Inside a callback (or the dial hook, the policy, the backoff), a Send that
// would wait for room fails at once with an error matching ErrQueueFull and
// ErrInCallback: the queue cannot drain while that goroutine waits. A nil
// error means queued, not delivered: see Flush and "Delivery and OnDrop" in
// the package documentation.
func (c *Client) Send(ctx context.Context, typ MessageType, data []byte, opts ...SendOption) error {
	if err := checkMessage(typ, data); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var expires time.Time
	noQueue := false
	if len(opts) > 0 {
		var so sendOptions
		for _, o := range opts {
			if o == nil {
				return fmt.Errorf("resilientws: nil send option")
			}
			if err := o.applySend(&so); err != nil {
				return err
			}
		}
		if so.noQueue {
			noQueue = true
			switch st := c.State(); st {
			case StateOpen:
			case StateClosing, StateClosed:
				return ErrClosed
			default:
				return fmt.Errorf("%w (state %s)", ErrNotConnected, st)
			}
		}
		if so.ttl > 0 {
			expires = time.Now().Add(so.ttl)
		}
	}
	if c.opts.onDrop != nil {
		// Every message Send accepts may come back through OnDrop: bound
		// the reports waiting for it, as the queue bounds the messages.
		if err := c.disp.awaitDropRoom(ctx, len(data), c.opts.queueMessages, c.opts.queueBytes, c.queue.canWait, c.stop.Done()); err != nil {
			return err
		}
	}
	payload, buf := copyPayload(data)
	err := c.queue.push(ctx, queued{msg: Message{Type: typ, Data: payload}, buf: buf, expires: expires, once: noQueue})
	if err != nil {
		putBuf(buf)
	}
	return err
}

// SendText queues a text message; see Send.
func (c *Client) SendText(ctx context.Context, s string, opts ...SendOption) error {
	return c.Send(ctx, Text, []byte(s), opts...)
}

// SendJSON queues v encoded as JSON in a text message; see Send. An
// encoding error is returned and nothing is queued.
func (c *Client) SendJSON(ctx context.Context, v any, opts ...SendOption) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("resilientws: SendJSON: %w", err)
	}
	return c.Send(ctx, Text, data, opts...)
}

// checkType rejects message types other than Text and Binary.
func checkType(typ MessageType) error {
	if typ != Text && typ != Binary {
		return fmt.Errorf("resilientws: invalid message type %d (want Text or Binary)", int(typ))
	}
	return nil
}

// checkMessage is checkType, and in the browser it also rejects a Text
// message that is not valid UTF-8: the browser sends text from a JavaScript
// string, which would replace the invalid bytes.
func checkMessage(typ MessageType, data []byte) error {
	if err := checkType(typ); err != nil {
		return err
	}
	if inBrowser && typ == Text && !utf8.Valid(data) {
		return errors.New("resilientws: in the browser a Text message must be valid UTF-8 (send it as Binary)")
	}
	return nil
}

// dropped counts a message that left the queue unwritten (or the
// unconfirmed log unconfirmed) and reports it to OnDrop. Without OnDrop
// nothing keeps it.
func (c *Client) dropped(m Message, reason error) {
	c.stats.countDrop(reason)
	if c.opts.onDrop != nil {
		c.disp.post(event{kind: evDrop, msg: m, err: reason})
	}
}

// Flush blocks until every message queued before the call has been written
// to a socket, or ctx ends. It returns an error wrapping the drop reason if
// any of those messages was dropped instead, and ErrInCallback at once when
// called from inside a callback. Written is not confirmed: with WithResend,
// a message whose connection ends unconfirmed before Flush returns goes back
// to the queue, and Flush waits for it to be written again.
func (c *Client) Flush(ctx context.Context) error {
	if c.onOwnGoroutine() {
		return newFailure("Flush: "+describe(ErrInCallback), ErrInCallback)
	}
	w := c.queue.flushWait()
	if w == nil {
		return nil
	}
	for {
		var expiry *time.Timer
		var expired <-chan time.Time
		if next, ok := c.queue.nextExpiry(); ok {
			expiry = time.NewTimer(time.Until(next))
			expired = expiry.C
		}
		select {
		case <-w.done:
		case <-expired:
			c.queue.expire() // may finish w
		case <-ctx.Done():
			c.queue.forget(w)
		}
		if expiry != nil {
			expiry.Stop()
		}
		select {
		case <-w.done:
			if err := c.queue.waiterErr(w); err != nil {
				return newFailure("Flush: a message was dropped: "+describe(err), err)
			}
			return nil
		default:
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("resilientws: Flush: %w", err)
		}
	}
}
