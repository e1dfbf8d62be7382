//go:build js && wasm

package resilientws

// The page's lifecycle.
//
// A page tells what its network and its own life are doing through events;
// a running client listens to five of them (watchPage, from Start until the
// client stops) and removes every listener, releasing its js.Func, when it
// stops:
//
//   - window online: the network is back. Waiting between connections, the
//     client dials at once; with a connection open, it probes it (an
//     application heartbeat ping now), since the socket may be dead after
//     a network change.
//   - document visibilitychange to visible, window pageshow with persisted
//     (back from the back/forward cache), document resume (after a
//     freeze): the page is back, and its socket may be a "zombie OPEN".
//     The same: dial at once when waiting, probe when open.
//   - navigator.onLine false: the browser knows the network is down (true
//     is no proof of the opposite). When a wait between connections ends
//     while it says so, the client waits on for the online event, up to
//     the backoff's maximum delay from the wait's start, before it dials:
//     no backoff attempt is spent dialing into a network that is down. A
//     page event other than online does not cut such a wait.
//
// The handlers run on the page's event loop: they record the event and
// wake the supervisor, which acts on it (Client.sleep, runConnection).
//
// Outside a window (a worker, Node.js) the listeners that have no target
// are left out.

import "syscall/js"

// pageWatch holds the listeners of one client.
type pageWatch struct {
	listeners []pageListener
}

// pageListener is one event listener added by watchPage.
type pageListener struct {
	target js.Value
	name   string
	fn     js.Func
}

// watchPage adds the client's page event listeners.
func (c *Client) watchPage() *pageWatch {
	w := &pageWatch{}
	global := js.Global()
	doc := global.Get("document")
	w.listen(global, "online", func(js.Value) { c.pageNudge(pageOnline) })
	w.listen(doc, "visibilitychange", func(js.Value) {
		if doc.Get("visibilityState").String() == "visible" {
			c.pageNudge(pageVisible)
		}
	})
	w.listen(global, "pageshow", func(e js.Value) {
		if e.Type() == js.TypeObject && e.Get("persisted").Truthy() {
			c.pageNudge(pageShow)
		}
	})
	w.listen(doc, "resume", func(js.Value) { c.pageNudge(pageResume) })
	return w
}

// listen adds a listener for name on target, if target takes listeners.
func (w *pageWatch) listen(target js.Value, name string, handle func(event js.Value)) {
	if target.Type() != js.TypeObject || target.Get("addEventListener").Type() != js.TypeFunction {
		return
	}
	fn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		e := js.Undefined()
		if len(args) > 0 {
			e = args[0]
		}
		handle(e)
		return nil
	})
	target.Call("addEventListener", name, fn)
	w.listeners = append(w.listeners, pageListener{target: target, name: name, fn: fn})
}

// stop removes every listener and releases its function.
func (w *pageWatch) stop() {
	if w == nil {
		return
	}
	for _, l := range w.listeners {
		l.target.Call("removeEventListener", l.name, l.fn)
		l.fn.Release()
	}
	w.listeners = nil
}

// pageOffline reports whether the browser says the network is down
// (navigator.onLine is false).
func pageOffline() bool {
	nav := js.Global().Get("navigator")
	if nav.Type() != js.TypeObject {
		return false
	}
	on := nav.Get("onLine")
	return on.Type() == js.TypeBoolean && !on.Bool()
}
