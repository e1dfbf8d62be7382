package resilientws

// pageEvent is an event of the page the client runs in that asks the
// supervisor to act at once: to dial now when it waits between
// connections, to probe the open connection with the application
// heartbeat's ping. Only the browser has them (lifecycle_js.go).
type pageEvent int32

// Page events.
const (
	pageNone    pageEvent = iota
	pageOnline            // the window's online event
	pageVisible           // the document's visibilitychange, to visible
	pageShow              // the window's pageshow, persisted: back from the back/forward cache
	pageResume            // the document's resume, after a freeze
)

// String names the DOM event.
func (e pageEvent) String() string {
	switch e {
	case pageOnline:
		return "online"
	case pageVisible:
		return "visibilitychange (visible)"
	case pageShow:
		return "pageshow (persisted)"
	case pageResume:
		return "resume"
	}
	return "none"
}

// pageNudge records e and wakes the supervisor. It runs on the page's event
// loop: it must not block.
func (c *Client) pageNudge(e pageEvent) {
	c.nudge.Store(int32(e))
	c.queue.signal()
}

// takeNudge returns the page event recorded since the last call, if any.
func (c *Client) takeNudge() pageEvent { return pageEvent(c.nudge.Swap(int32(pageNone))) }
