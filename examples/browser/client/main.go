//go:build js && wasm

// Command client is the browser half of the browser example: the resilientws
// client compiled to WebAssembly, showing on the page what it does. The
// example's server (../main.go) builds it, serves it and passes its flags
// through the page.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall/js"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/coder/websocket"

	"github.com/resilientws/resilientws"
)

// The feed's application heartbeat: a page has no protocol ping.
var (
	pingMsg = resilientws.Message{Type: resilientws.Text, Data: []byte(`{"request":"ping"}`)}
	pongMsg = `{"response":"pong"}`
)

// feedMsg is a message from the feed: a tick, or the echo of what we sent.
type feedMsg struct {
	Type  string  `json:"type"`
	Conn  int     `json:"conn"`
	Seq   int64   `json:"seq"`
	Price float64 `json:"price"`
	Text  string  `json:"text"`
}

func main() {
	url := flag.String("url", "", "the feed's WebSocket URL")
	interval := flag.Duration("heartbeat", 2*time.Second, "application ping interval")
	timeout := flag.Duration("heartbeat-timeout", time.Second, "time a pong may take")
	flag.Parse()
	c, err := start(*url, *interval, *timeout)
	if err != nil {
		show("state", "ERROR")
		logLine("error", err.Error())
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The heartbeat's round trip, the state and the buffered amount, twice
	// a second, for as long as the page lives.
	for range time.Tick(500 * time.Millisecond) {
		if s := c.Stats(); s.LastRTT > 0 {
			show("rtt", fmt.Sprintf("%s (smoothed %s)", s.LastRTT.Round(time.Millisecond/10), s.SmoothedRTT.Round(time.Millisecond/10)))
		}
		showState(c)
		showBuffered(c)
	}
}

// start starts the client on url, its callbacks showing what happens, and
// the send box.
func start(url string, interval, timeout time.Duration) (*resilientws.Client, error) {
	var c *resilientws.Client
	c, err := resilientws.New(url,
		resilientws.WithAppHeartbeat(interval, timeout, pingMsg, func(m resilientws.Message) bool { return string(m.Data) == pongMsg }),
		resilientws.WithBackoff(func() backoff.BackOff {
			return backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(250*time.Millisecond),
				backoff.WithMaxInterval(4*time.Second),
				backoff.WithMaxElapsedTime(0)) // never give up
		}),
		resilientws.WithStableAfter(2*time.Second),
		resilientws.OnOpen(func(e resilientws.OpenEvent) {
			showState(c)
			show("conn", fmt.Sprint(e.Connection))
			logLine("open", fmt.Sprintf("connection %d open", e.Connection))
		}),
		resilientws.OnMessage(func(m resilientws.Message) {
			var f feedMsg
			if err := json.Unmarshal(m.Data, &f); err != nil {
				logLine("message", string(m.Data))
				return
			}
			switch f.Type {
			case "tick":
				// The feed numbers its connections too, but counts the
				// upgrades it refused as well: the page shows one count,
				// the client's (OpenEvent.Connection).
				show("tick", fmt.Sprintf("#%d  %.2f", f.Seq, f.Price))
			case "echo":
				logLine("echo", "echo: "+f.Text)
			}
			showBuffered(c)
		}),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			showState(c)
			what := fmt.Sprintf("connection %d closed: %s", e.Connection, closeText(e.Code))
			if e.Reason != "" {
				what += fmt.Sprintf(" %q", e.Reason)
			}
			logLine("close", what)
		}),
		resilientws.OnError(func(err error) {
			cls := "error"
			if errors.Is(err, resilientws.ErrHeartbeatTimeout) {
				cls = "heartbeat"
			}
			logLine(cls, strings.TrimPrefix(err.Error(), "resilientws: "))
		}),
		resilientws.OnBackoff(func(e resilientws.ReconnectEvent) {
			showState(c)
			logLine("backoff", fmt.Sprintf("waiting %s before attempt %d (%s)", e.Delay.Round(time.Millisecond), e.Attempt, e.DelaySource))
		}),
		resilientws.OnReconnecting(func(e resilientws.ReconnectEvent) {
			why := e.DelaySource.String()
			if e.DelaySource == resilientws.DelayBackoff {
				why = fmt.Sprintf("backoff step %d", e.BackoffAttempt)
			}
			addItem("reconnects", fmt.Sprintf("%s  attempt %d after %s (%s)",
				time.Now().Format("15:04:05.000"), e.Attempt, e.Delay.Round(time.Millisecond), why))
		}),
		resilientws.OnDrop(func(m resilientws.Message, err error) {
			logLine("drop", fmt.Sprintf("not delivered: %q: %v", m.Data, err))
		}),
	)
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	show("state", c.State().String())
	onSend(func(text string) {
		// A JavaScript event handler must not block: Send runs on a
		// goroutine of its own.
		go func() {
			if err := c.SendText(context.Background(), text); err != nil {
				logLine("error", "send: "+err.Error())
				return
			}
			logLine("sent", fmt.Sprintf("sent %q (state %s, %d byte(s) buffered)", text, c.State(), c.BufferedAmount()))
			showBuffered(c)
		}()
	})
	return c, nil
}

// closeText is a close code as a number with its meaning in words, as in
// "1006 abnormal closure".
func closeText(code websocket.StatusCode) string {
	meaning, ok := closeMeanings[code]
	switch {
	case ok:
	case code >= 4000 && code <= 4999:
		meaning = "the application's own"
	case code >= 3000 && code <= 3999:
		meaning = "registered for libraries and frameworks"
	default:
		meaning = "not defined"
	}
	return fmt.Sprintf("%d %s", int(code), meaning)
}

// closeMeanings are the close codes of RFC 6455 and the IANA registry.
var closeMeanings = map[websocket.StatusCode]string{
	1000: "normal closure",
	1001: "going away",
	1002: "protocol error",
	1003: "unsupported data",
	1005: "no status",
	1006: "abnormal closure",
	1007: "invalid payload data",
	1008: "policy violation",
	1009: "message too big",
	1010: "mandatory extension",
	1011: "internal error",
	1012: "service restart",
	1013: "try again later",
	1014: "bad gateway",
	1015: "TLS handshake",
}

var document = js.Global().Get("document")

// show sets the text of the element with that id.
func show(id, text string) {
	if el := document.Call("getElementById", id); !el.IsNull() {
		el.Set("textContent", text)
	}
}

func showState(c *resilientws.Client) {
	s := c.State().String()
	show("state", s)
	document.Get("body").Set("className", strings.ToLower(s))
}

func showBuffered(c *resilientws.Client) { show("buffered", fmt.Sprint(c.BufferedAmount())) }

// maxLines is how many lines a list keeps.
const maxLines = 200

// logLine adds a timestamped line of class cls to the event log.
func logLine(cls, text string) {
	addLine("log", cls, time.Now().Format("15:04:05.000")+"  "+text)
}

// addItem adds a line to a list.
func addItem(id, text string) { addLine(id, "", text) }

func addLine(id, cls, text string) {
	list := document.Call("getElementById", id)
	if list.IsNull() {
		return
	}
	li := document.Call("createElement", "li")
	li.Set("textContent", text)
	if cls != "" {
		li.Set("className", cls)
	}
	list.Call("prepend", li)
	for list.Get("children").Length() > maxLines {
		list.Get("lastElementChild").Call("remove")
	}
}

// onSend calls f with the text of the send box when its form is submitted.
func onSend(f func(string)) {
	form := document.Call("getElementById", "send")
	input := document.Call("getElementById", "text")
	form.Call("addEventListener", "submit", js.FuncOf(func(_ js.Value, args []js.Value) any {
		args[0].Call("preventDefault")
		if text := input.Get("value").String(); text != "" {
			input.Set("value", "")
			f(text)
		}
		return nil
	}))
}
