//go:build !js

package resilientws

import "github.com/coder/websocket"

// Outside the browser a socket (socket.go) is a coder/websocket connection.
var _ socket = (*websocket.Conn)(nil)

// inBrowser is false outside the browser: see socket_js.go.
const inBrowser = false

// dropSocket closes ws at once, without a close handshake, for a
// connection declared dead with cause.
func dropSocket(ws socket, _ error) { _ = ws.CloseNow() }

// unsent returns the bytes written to ws and not sent yet: none, since
// coder/websocket's Write returns once the bytes are in the socket.
func unsent(socket) int { return 0 }
