package resilientws

import (
	"context"
	"io"

	"github.com/coder/websocket"
)

// socket is one open WebSocket, as a connection uses it: a coder/websocket
// *Conn outside the browser (socket_other.go), the page's own WebSocket in
// it (socket_js.go). Neither side depends on the other's error texts; the
// contract is this interface and these typed errors:
//
//   - Reader returns, after the server's close frame, an error wrapping a
//     websocket.CloseError (websocket.CloseStatus finds its code); a
//     message over the read limit, one wrapping websocket.ErrMessageTooBig;
//     on a socket the client closed, one wrapping net.ErrClosed.
//   - Write and Close on a socket the client closed return an error
//     wrapping net.ErrClosed; a Write cut by its ctx, one wrapping the
//     ctx's error.
//   - Close(code, reason) returns nil when the peer answered with code, and
//     otherwise an error wrapping the close frame that ended the socket, if
//     any.
//   - CloseNow lets the socket go at once; Ping waits for the pong or ctx
//     (the browser's fails: a page cannot send one).
//   - SetReadLimit bounds the messages Reader returns.
//
// errors.go describes these by type; its peel, which reads the text of
// coder/websocket's "failed to ..." wrappers, is for coder's errors only.
type socket interface {
	Reader(ctx context.Context) (MessageType, io.Reader, error)
	Write(ctx context.Context, typ MessageType, p []byte) error
	Close(code websocket.StatusCode, reason string) error
	CloseNow() error
	Ping(ctx context.Context) error
	Subprotocol() string
	SetReadLimit(n int64)
}
