//go:build !js

package resilientws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws/internal/browser"
	"github.com/resilientws/resilientws/resilientwstest"
)

// TestBrowser runs the browser suite (browser_js_test.go) in headless
// Chromium: it compiles this package's tests to WebAssembly, serves them
// with a control API for misbehaving test servers (in this native process,
// so the faults are real TCP and HTTP), runs them in one page and reports
// each browser test as a subtest. Without Chromium it skips, unless CI=true.
func TestBrowser(t *testing.T) {
	chromium := browser.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	dir := t.TempDir()
	wasm := filepath.Join(dir, "resilientws.test.wasm")
	start := time.Now()
	if err := browser.Build(ctx, ".", "test", "-c", "-o", wasm, "."); err != nil {
		t.Fatal(err)
	}
	t.Logf("built the browser tests in %s", time.Since(start).Round(time.Millisecond))
	wasmExec, err := browser.WasmExec(ctx)
	if err != nil {
		t.Fatal(err)
	}

	ctl := newControl()
	defer ctl.close()
	argv := []string{"-test.v", "-test.timeout=3m", "-test.run=" + os.Getenv("RESILIENTWS_BROWSER_RUN")}
	mux := http.NewServeMux()
	mux.Handle("/ctl/", ctl)
	mux.Handle("/wasm_exec.js", browser.Files(wasmExec, wasm))
	mux.Handle("/main.wasm", browser.Files(wasmExec, wasm))
	page := browser.Runner(argv, nil)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	web := httptest.NewServer(mux)
	defer web.Close()

	b, err := browser.Start(ctx, chromium)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p, err := b.Open(ctx, web.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctl.page.Store(p)
	exit, err := p.WaitLine(ctx, browser.ExitMarker)
	lines := p.Lines()
	t.Logf("ran the browser tests in %s (with Chromium's start)", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("%v; the page's console:\n%s", err, strings.Join(lines, "\n"))
	}
	results := parseTestOutput(lines)
	for _, r := range results {
		t.Run(r.name, func(t *testing.T) {
			for _, l := range r.output {
				t.Log(l)
			}
			switch r.result {
			case "FAIL":
				t.Fail()
			case "SKIP":
				t.SkipNow()
			}
		})
	}
	if code := strings.TrimPrefix(exit, browser.ExitMarker); code != "0" {
		t.Fatalf("the browser tests exited with code %s; the page's console:\n%s", code, strings.Join(lines, "\n"))
	}
	if len(results) == 0 {
		t.Fatalf("no browser test ran; the page's console:\n%s", strings.Join(lines, "\n"))
	}
}

// testResult is one top-level test of a -test.v output.
type testResult struct {
	name, result string
	output       []string
}

var (
	runLine    = regexp.MustCompile(`^=== RUN\s+(\S+)$`)
	resultLine = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+) `)
)

// parseTestOutput splits the output of a test binary run with -test.v,
// whose tests run one at a time, by top-level test.
func parseTestOutput(lines []string) []testResult {
	var (
		out []testResult
		cur *testResult
	)
	for _, l := range lines {
		if m := runLine.FindStringSubmatch(l); m != nil && !strings.Contains(m[1], "/") {
			out = append(out, testResult{name: m[1]})
			cur = &out[len(out)-1]
			continue
		}
		if m := resultLine.FindStringSubmatch(l); m != nil && cur != nil && m[2] == cur.name {
			cur.result = m[1]
			cur.output = append(cur.output, l)
			cur = nil
			continue
		}
		if cur != nil {
			cur.output = append(cur.output, l)
		}
	}
	return out
}

// control is the browser suite's control API: each browser test asks it for
// test servers (resilientwstest, in this process) and makes them misbehave.
//
//	POST /ctl/new?subprotocols=a,b&greet=n -> {"id":1,"url":"ws://127.0.0.1:port"}
//	                                       (greet: a text message of n bytes first on each connection)
//	POST /ctl/freeze?ms=                   freeze the page (DevTools Page.setWebLifecycleState) for ms
//	                                       milliseconds, then make it active and visible again; answers then
//	POST /ctl/window?state=minimized|normal minimize the page's window (DevTools Browser.setWindowBounds),
//	                                       which hides the page (document.visibilityState), or restore it
//	POST /ctl/{id}/drop                    every connection reset, no close frame
//	POST /ctl/{id}/closeall?code=&reason=  a close frame on every connection
//	POST /ctl/{id}/refuse?status=          answer upgrades with status
//	POST /ctl/{id}/hang                    accept TCP, never answer the upgrade
//	POST /ctl/{id}/accept                  upgrade again
//	POST /ctl/{id}/stopreading, resumereading
//	POST /ctl/{id}/silence, speak          read, but neither echo nor answer pings
//	POST /ctl/{id}/close                   close the server
//	GET  /ctl/{id}/state                   what it saw (serverState)
//
// Its servers echo every message, answer the application ping
// pingText with pongText, and record the close frame
// (or error) that ended each connection.
type control struct {
	page atomic.Pointer[browser.Page] // the page, once open: /ctl/freeze drives it

	mu      sync.Mutex // guards servers and next
	servers map[int]*ctlServer
	next    int
}

type ctlServer struct {
	srv    *resilientwstest.Server
	silent atomic.Bool
	greet  int // bytes of the text message each connection starts with; 0: none

	mu     sync.Mutex // guards ends
	ends   map[int]connEndSeen
	closed bool
}

func newControl() *control { return &control{servers: map[int]*ctlServer{}} }

func (c *control) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.servers {
		s.close()
	}
}

func (s *ctlServer) close() {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if !closed {
		s.srv.Close()
	}
}

func (c *control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/ctl/"), "/")
	if len(parts) == 1 && parts[0] == "freeze" {
		c.freeze(w, r)
		return
	}
	if len(parts) == 1 && parts[0] == "window" {
		c.window(w, r)
		return
	}
	if len(parts) == 1 && parts[0] == "new" {
		s := &ctlServer{ends: map[int]connEndSeen{}}
		s.greet, _ = strconv.Atoi(r.URL.Query().Get("greet"))
		accept := &websocket.AcceptOptions{OriginPatterns: []string{"127.0.0.1:*"}} // the page is on another port
		if p := r.URL.Query().Get("subprotocols"); p != "" {
			accept.Subprotocols = strings.Split(p, ",")
		}
		s.srv = resilientwstest.NewServer(resilientwstest.WithAcceptOptions(accept), resilientwstest.WithHandler(s.serve))
		c.mu.Lock()
		c.next++
		id := c.next
		c.servers[id] = s
		c.mu.Unlock()
		writeJSON(w, map[string]any{"id": id, "url": s.srv.URL()})
		return
	}
	if len(parts) != 2 {
		http.NotFound(w, r)
		return
	}
	id, _ := strconv.Atoi(parts[0])
	c.mu.Lock()
	s := c.servers[id]
	c.mu.Unlock()
	if s == nil {
		http.Error(w, "no such server", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	switch parts[1] {
	case "drop":
		s.srv.DropAll()
	case "closeall":
		code, _ := strconv.Atoi(q.Get("code"))
		s.srv.CloseAll(websocket.StatusCode(code), q.Get("reason"))
	case "refuse":
		status, _ := strconv.Atoi(q.Get("status"))
		s.srv.Refuse(status, q.Get("retryafter"))
	case "hang":
		s.srv.Hang()
	case "accept":
		s.srv.Accept()
	case "stopreading":
		s.srv.StopReading()
	case "resumereading":
		s.srv.ResumeReading()
	case "silence":
		s.silent.Store(true)
	case "speak":
		s.silent.Store(false)
	case "close":
		s.close()
	case "state":
		writeJSON(w, s.state())
		return
	default:
		http.NotFound(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// freeze freezes the page for the ms the query gives, then makes it active
// again, through DevTools.
func (c *control) freeze(w http.ResponseWriter, r *http.Request) {
	p := c.page.Load()
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if p == nil || err != nil || ms <= 0 || ms > 10000 {
		http.Error(w, "no page, or ms not in 1..10000", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	if err := p.Call(ctx, "Page.setWebLifecycleState", map[string]string{"state": "frozen"}, nil); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond) // the freeze's length: the scenario, not a synchronisation
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	if err := p.Call(context.Background(), "Page.setWebLifecycleState", map[string]string{"state": "active"}, nil); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// Active again, the page stays hidden, its timers throttled to a
	// wake-up a second (Page.bringToFront does not help): minimizing and
	// restoring its window makes it visible again.
	for _, state := range []string{"minimized", "normal"} {
		if err := setWindow(context.Background(), p, state); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// window minimizes the page's window, which hides the page, or restores
// it, through DevTools.
func (c *control) window(w http.ResponseWriter, r *http.Request) {
	p := c.page.Load()
	state := r.URL.Query().Get("state")
	if p == nil || (state != "minimized" && state != "normal") {
		http.Error(w, "no page, or state not minimized or normal", http.StatusBadRequest)
		return
	}
	if err := setWindow(r.Context(), p, state); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setWindow sets the state of p's window: minimized or normal.
func setWindow(ctx context.Context, p *browser.Page, state string) error {
	var win struct {
		WindowID int `json:"windowId"`
	}
	if err := p.Call(ctx, "Browser.getWindowForTarget", nil, &win); err != nil {
		return err
	}
	bounds := map[string]any{"windowId": win.WindowID, "bounds": map[string]string{"windowState": state}}
	return p.Call(ctx, "Browser.setWindowBounds", bounds, nil)
}

// serve is the test servers' handler: the greeting, if any, then echo,
// answer application pings, record the end.
func (s *ctlServer) serve(ctx context.Context, c *resilientwstest.Conn) {
	if s.greet > 0 {
		if err := c.Write(ctx, websocket.MessageText, []byte(strings.Repeat("g", s.greet))); err != nil {
			return
		}
	}
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			end := connEndSeen{Conn: c.Number(), Code: int(websocket.CloseStatus(err)), Err: err.Error()}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				end.Reason = ce.Reason
			}
			s.mu.Lock()
			s.ends[end.Conn] = end
			s.mu.Unlock()
			return
		}
		if s.silent.Load() {
			continue
		}
		if string(data) == pingText {
			data = []byte(pongText)
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

func (s *ctlServer) state() serverState {
	st := serverState{Requests: s.srv.Requests(), Accepted: s.srv.Accepted(), Live: s.srv.Live()}
	for _, conn := range s.srv.Received() {
		msgs := []string{}
		for _, m := range conn {
			if string(m.Data) != pingText {
				msgs = append(msgs, string(m.Data))
			}
		}
		st.Received = append(st.Received, msgs)
	}
	s.mu.Lock()
	for n := 1; n <= st.Accepted; n++ {
		if e, ok := s.ends[n]; ok {
			st.Ends = append(st.Ends, e)
		}
	}
	s.mu.Unlock()
	return st
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, fmt.Sprint(err), http.StatusInternalServerError)
	}
}
