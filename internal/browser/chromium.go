//go:build !js

package browser

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// startTime is the modification time of the files Files serves.
var startTime = time.Now()

// Browser is a headless Chromium process with a DevTools endpoint on
// 127.0.0.1.
type Browser struct {
	cmd    *exec.Cmd
	dir    string // its profile, removed by Close
	port   string
	stderr lockedBuffer // Chromium's own log, for errors
	exited chan struct{}
}

// Start starts Chromium (path, from Find or Require) headless, with an empty
// profile in a temporary directory, a 1280x800 window, and --no-sandbox (the
// sandbox cannot start as root, nor in most containers).
func Start(ctx context.Context, path string) (*Browser, error) {
	dir, err := os.MkdirTemp("", "resilientws-chromium-")
	if err != nil {
		return nil, err
	}
	b := &Browser{dir: dir, exited: make(chan struct{})}
	b.cmd = exec.Command(path,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--disable-background-networking", "--disable-component-update", "--mute-audio",
		"--window-size=1280,800", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--user-data-dir="+dir, "about:blank")
	b.cmd.Stderr = &b.stderr
	ownGroup(b.cmd)
	if err := b.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	go func() { // joined by Close, through exited
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	// Chromium writes its DevTools port to the profile once it listens.
	portFile := filepath.Join(dir, "DevToolsActivePort")
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if data, err := os.ReadFile(portFile); err == nil {
			if port, _, ok := strings.Cut(string(data), "\n"); ok && port != "" {
				b.port = port
				return b, nil
			}
		}
		select {
		case <-tick.C:
		case <-b.exited:
			err := fmt.Errorf("%s exited at start: %s", path, b.log())
			b.Close()
			return nil, err
		case <-ctx.Done():
			b.Close()
			return nil, fmt.Errorf("waiting for %s's DevTools port: %w", path, ctx.Err())
		}
	}
}

// log returns the end of Chromium's standard error.
func (b *Browser) log() string {
	s := b.stderr.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// Close stops Chromium and every process it started, and removes its
// profile.
func (b *Browser) Close() {
	killGroup(b.cmd)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
	}
	os.RemoveAll(b.dir)
}

// target is an entry of DevTools' /json/list.
type target struct {
	Type string `json:"type"`
	URL  string `json:"webSocketDebuggerUrl"`
}

// Open connects to the browser's first page and navigates it to url. The
// page's console lines are recorded from before the navigation.
func (b *Browser) Open(ctx context.Context, url string) (*Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+b.port+"/json/list", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("DevTools: %w", err)
	}
	defer resp.Body.Close()
	var targets []target
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		return nil, fmt.Errorf("DevTools /json/list: %w", err)
	}
	var ws string
	for _, t := range targets {
		if t.Type == "page" {
			ws = t.URL
			break
		}
	}
	if ws == "" {
		return nil, errors.New("DevTools: no page to drive")
	}
	p, err := dialPage(ctx, ws)
	if err != nil {
		return nil, err
	}
	for _, m := range []string{"Runtime.enable", "Page.enable"} {
		if err := p.Call(ctx, m, nil, nil); err != nil {
			p.Close()
			return nil, err
		}
	}
	if err := p.Call(ctx, "Page.navigate", map[string]any{"url": url}, nil); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Page is one page driven through the Chrome DevTools Protocol. Its reader
// goroutine records the console and answers calls; Close joins it.
type Page struct {
	ws   *websocket.Conn
	done chan struct{} // closed when the reader has returned

	mu      sync.Mutex // guards the fields below
	next    int
	calls   map[int]chan reply
	lines   []string
	changed chan struct{} // closed and replaced when a line is added
	err     error         // why the reader stopped
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type incoming struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	reply
}

func dialPage(ctx context.Context, url string) (*Page, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("DevTools: %w", err)
	}
	ws.SetReadLimit(64 << 20) // screenshots
	p := &Page{ws: ws, done: make(chan struct{}), calls: map[int]chan reply{}, changed: make(chan struct{})}
	go p.read()
	return p, nil
}

// read dispatches replies and records console lines until the connection
// ends.
func (p *Page) read() {
	defer close(p.done)
	for {
		_, data, err := p.ws.Read(context.Background())
		if err != nil {
			p.mu.Lock()
			p.err = err
			for id, ch := range p.calls {
				close(ch)
				delete(p.calls, id)
			}
			p.mu.Unlock()
			return
		}
		var m incoming
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		switch m.Method {
		case "":
			p.mu.Lock()
			ch := p.calls[m.ID]
			delete(p.calls, m.ID)
			p.mu.Unlock()
			if ch != nil {
				ch <- m.reply
			}
		case "Runtime.consoleAPICalled":
			var e struct {
				Type string `json:"type"`
				Args []struct {
					Value       any    `json:"value"`
					Description string `json:"description"`
				} `json:"args"`
			}
			if json.Unmarshal(m.Params, &e) == nil {
				parts := make([]string, len(e.Args))
				for i, a := range e.Args {
					if s, ok := a.Value.(string); ok {
						parts[i] = s
					} else if a.Value != nil {
						parts[i] = fmt.Sprint(a.Value)
					} else {
						parts[i] = a.Description
					}
				}
				line := strings.Join(parts, " ")
				if e.Type == "error" || e.Type == "warning" {
					line = e.Type + ": " + line
				}
				p.addLine(line)
			}
		case "Runtime.exceptionThrown":
			var e struct {
				Details struct {
					Text      string `json:"text"`
					Exception struct {
						Description string `json:"description"`
					} `json:"exception"`
				} `json:"exceptionDetails"`
			}
			if json.Unmarshal(m.Params, &e) == nil {
				p.addLine("exception: " + e.Details.Text + " " + e.Details.Exception.Description)
			}
		}
	}
}

func (p *Page) addLine(s string) {
	p.mu.Lock()
	p.lines = append(p.lines, s)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Lines returns the console lines so far.
func (p *Page) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// WaitLine waits for a console line that begins with prefix and returns it.
func (p *Page) WaitLine(ctx context.Context, prefix string) (string, error) {
	seen := 0
	for {
		p.mu.Lock()
		lines, changed, rerr := p.lines[seen:], p.changed, p.err
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		}
		if rerr != nil {
			return "", fmt.Errorf("DevTools connection lost: %w", rerr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for a console line %q: %w", prefix, ctx.Err())
		}
	}
}

// Call calls a DevTools method and decodes its result into result, if not
// nil.
func (p *Page) Call(ctx context.Context, method string, params, result any) error {
	ch := make(chan reply, 1)
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return fmt.Errorf("%s: DevTools connection lost: %w", method, p.err)
	}
	p.next++
	id := p.next
	p.calls[id] = ch
	p.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	if err := p.ws.Write(ctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: DevTools connection lost", method)
		}
		if r.Error != nil {
			return fmt.Errorf("%s: %s", method, r.Error.Message)
		}
		if result != nil {
			return json.Unmarshal(r.Result, result)
		}
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.calls, id)
		p.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its value into out, if not nil.
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := p.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("evaluating %q: %s %s", expr, r.Exception.Text, r.Exception.Exception.Description)
	}
	if out == nil || len(r.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// Screenshot returns a PNG of the page's viewport.
func (p *Page) Screenshot(ctx context.Context) ([]byte, error) {
	var r struct {
		Data string `json:"data"`
	}
	if err := p.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

// Close closes the DevTools connection and joins the reader.
func (p *Page) Close() {
	_ = p.ws.CloseNow()
	<-p.done
}

// lockedBuffer is a bytes.Buffer safe for one writer (exec's copying
// goroutine) and readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
