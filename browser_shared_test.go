package resilientws

// Shared by the browser suite's two sides: browser_test.go (the native
// driver and its control API) and browser_js_test.go (the tests, in the
// browser).

// connEndSeen is how the server saw a connection end.
type connEndSeen struct {
	Conn   int    `json:"conn"`
	Code   int    `json:"code"` // the client's close frame, -1 without one
	Reason string `json:"reason"`
	Err    string `json:"err"`
}

// serverState is what GET /ctl/{id}/state returns.
type serverState struct {
	Requests int           `json:"requests"`
	Accepted int           `json:"accepted"`
	Live     int           `json:"live"`
	Received [][]string    `json:"received"` // per connection, the application pings left out
	Ends     []connEndSeen `json:"ends"`
}

const (
	pingText = `{"request":"ping"}`
	pongText = `{"response":"pong"}`
)
