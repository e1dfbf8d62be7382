package resilientws

import "time"

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
	c.queue.wakeSupervisor()
}

// takeNudge returns the page event recorded since the last call, if any.
func (c *Client) takeNudge() pageEvent { return pageEvent(c.nudge.Swap(int32(pageNone))) }

// pageProbe remembers the last page event an open connection saw. If the
// connection ends soon after, its end was the answer to the event's
// question (a probe's heartbeat timeout, or the close of a socket the
// browser dropped while the page was frozen or cached), and the wait before
// the next dial is cut as the event would have cut it.
type pageProbe struct {
	e  pageEvent
	at time.Time
}

// pageProbeGrace is how long after a page event, the heartbeat timeout
// added, the end of a connection is taken as the answer to it.
const pageProbeGrace = time.Second

// seen records e, which the connection is being probed for.
func (p *pageProbe) seen(e pageEvent) { p.e, p.at = e, time.Now() }

// rearm records the event again for the wait after the connection's end,
// if the connection ended within the grace (the heartbeat hb's timeout
// added) of it.
func (p *pageProbe) rearm(c *Client, hb *heartbeat) {
	if p.e == pageNone {
		return
	}
	grace := pageProbeGrace
	if hb != nil && hb.app != nil {
		grace += hb.timeout
	}
	if time.Since(p.at) <= grace {
		c.pageNudge(p.e)
	}
}
