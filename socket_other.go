//go:build !js

package resilientws

import "github.com/coder/websocket"

// socket is one open WebSocket: a coder/websocket connection, outside the
// browser (see socket_js.go).
type socket = *websocket.Conn

// inBrowser is false outside the browser: see socket_js.go.
const inBrowser = false

// dropSocket closes ws at once, without a close handshake, for a
// connection declared dead with cause.
func dropSocket(ws socket, _ error) { _ = ws.CloseNow() }

// unsent returns the bytes written to ws and not sent yet: none, since
// coder/websocket's Write returns once the bytes are in the socket.
func unsent(socket) int { return 0 }
