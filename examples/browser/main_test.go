//go:build !js

package main

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resilientws/resilientws/internal/browser"
)

// page is what the demo page shows, read from its DOM.
type page struct {
	State      string   `json:"state"`
	Conn       string   `json:"conn"`
	RTT        string   `json:"rtt"`
	Tick       string   `json:"tick"`
	Log        []string `json:"log"` // newest first
	Reconnects []string `json:"reconnects"`
}

const readPage = `(() => {
  if (!document.getElementById("log")) return {log: [], reconnects: []}; // not parsed yet: "log" comes last
  const text = (id) => document.getElementById(id).textContent;
  const items = (id) => [...document.getElementById(id).children].map((li) => li.textContent);
  return {state: text("state"), conn: text("conn"), rtt: text("rtt"), tick: text("tick"),
          log: items("log"), reconnects: items("reconnects")};
})()`

// has reports whether a line of the log contains s.
func (p page) has(s string) bool {
	for _, l := range p.Log {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// The demo page, in headless Chromium, through one cycle of the feed's
// faults: a drop, a 1012 close with refused upgrades (a message is sent
// meanwhile, and arrives after the reconnect), a silence the heartbeat
// notices. It checks what the page shows and saves a screenshot.
func TestPageThroughOneFaultCycle(t *testing.T) {
	chromium := browser.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const cycle = 6 * time.Second
	d, err := newDemo(ctx, config{cycle: cycle, heartbeat: 300 * time.Millisecond, heartbeatTimeout: 300 * time.Millisecond}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	web := httptest.NewServer(d)
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

	var last page
	waitFor := func(what string, cond func(page) bool) {
		t.Helper()
		deadline := time.Now().Add(cycle + 10*time.Second)
		for {
			if err := p.Eval(ctx, readPage, &last); err != nil {
				t.Fatal(err)
			}
			if cond(last) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page does not show %s; it shows %+v; console:\n%s", what, last, strings.Join(p.Lines(), "\n"))
			}
			time.Sleep(50 * time.Millisecond) // polling the page, which announces nothing
		}
	}

	waitFor("connection 1 open, with a tick", func(p page) bool { return p.State == "OPEN" && p.Conn == "1" && p.Tick != "-" })
	waitFor("the drop (1006) and connection 2", func(p page) bool {
		return p.has("connection 1 closed: 1006 abnormal closure") && p.Conn == "2" && p.State == "OPEN"
	})
	waitFor("the server's 1012", func(p page) bool { return p.has("connection 2 closed: 1012 service restart") })
	const msg = "typed while down"
	if err := p.Eval(ctx, fmt.Sprintf(`document.getElementById("text").value = %q; document.getElementById("send").requestSubmit()`, msg), nil); err != nil {
		t.Fatal(err)
	}
	waitFor("the message sent while CONNECTING", func(p page) bool { return p.has(fmt.Sprintf("sent %q (state CONNECTING", msg)) })
	waitFor("the refused dials", func(p page) bool { return p.has("does not tell a page why") })
	waitFor("its echo after the reconnect", func(p page) bool { return p.has("echo: "+msg) && p.State == "OPEN" })
	waitFor("the heartbeat timeout, and a new connection", func(p page) bool {
		return p.has("heartbeat timeout") && p.has("connection 4 open") && p.State == "OPEN" && p.RTT != "-"
	})
	if strings.Contains(last.Tick, "connection") {
		t.Errorf("the tick %q shows the feed's connection count besides the client's", last.Tick)
	}
	if len(last.Reconnects) < 3 || !strings.Contains(last.Reconnects[0], " after ") {
		t.Errorf("the page lists reconnects %q, want 3 or more, each with its delay", last.Reconnects)
	}

	png, err := p.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactDir(t), "browser-demo.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the page: %s", path)
	t.Logf("the page shows: state %s, connection %s, heartbeat %s, reconnects %q", last.State, last.Conn, last.RTT, last.Reconnects)
}

// artifactDir is t.ArtifactDir when go test was given -artifacts (Go 1.26
// and later), else os.TempDir, which outlives the test.
func artifactDir(t *testing.T) string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		if a, ok := any(t).(interface{ ArtifactDir() string }); ok {
			return a.ArtifactDir()
		}
	}
	return os.TempDir()
}
