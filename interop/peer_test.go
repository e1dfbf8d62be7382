//go:build !js

package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/resilientws/resilientws/internal/skipnote"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds how long a broken test hangs: tests wait on events and never
// sleep.
const wait = 15 * time.Second

// peerLifetime is how long a peer process lives at most if a test run is
// killed before it can stop it.
const peerLifetime = 120 * time.Second

// peerKind is a WebSocket server not written in Go.
type peerKind struct {
	name string
	// missing says why the peer cannot run here, or returns "".
	missing func() string
	// command returns the command that starts the peer.
	command func() *exec.Cmd
}

var peers = []peerKind{
	{
		name: "node-ws",
		missing: sync.OnceValue(func() string {
			if _, err := exec.LookPath("node"); err != nil {
				return "node is not on PATH (install Node.js, then run `npm ci` in interop/node)"
			}
			if _, err := os.Stat(filepath.Join("node", "node_modules", "ws", "package.json")); err != nil {
				return "the ws package is not installed: run `npm ci` in interop/node"
			}
			return ""
		}),
		command: func() *exec.Cmd {
			cmd := exec.Command("node", "server.js", fmt.Sprint(peerLifetime.Milliseconds()))
			cmd.Dir = "node"
			return cmd
		},
	},
	{
		name: "python-websockets",
		missing: sync.OnceValue(func() string {
			// Debian's python3-websockets is installed for the system
			// interpreter only: another python3 on PATH cannot import it.
			out, err := exec.Command("/usr/bin/python3", "-c", "import websockets").CombinedOutput()
			if err != nil {
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				return fmt.Sprintf("`/usr/bin/python3 -c 'import websockets'` failed (%v: %s): "+
					"run `apt-get install -y python3-websockets`", err, lines[len(lines)-1])
			}
			return ""
		}),
		command: func() *exec.Cmd {
			cmd := exec.Command("/usr/bin/python3", "server.py", fmt.Sprint(peerLifetime.Milliseconds()))
			cmd.Dir = "python"
			return cmd
		},
	},
}

// forEachPeer runs f in a parallel subtest for each peer, each with a peer
// process of its own.
func forEachPeer(t *testing.T, f func(t *testing.T, p *peer)) {
	for _, k := range peers {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			f(t, startPeer(t, k))
		})
	}
}

// peer is a running peer process.
type peer struct {
	name string
	port string
	http *http.Client
}

// startPeer starts a peer process and stops it at the end of the test. A
// missing peer skips the test, or fails it when CI is set.
func startPeer(t *testing.T, k peerKind) *peer {
	t.Helper()
	if why := k.missing(); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s peer missing, and CI is set so this fails instead of skipping: %s", k.name, why)
		}
		skipnote.Print("the interop tests against "+k.name, why)
		t.Skipf("%s peer missing: %s", k.name, why)
	}
	cmd := k.command()
	out := &banner{lines: make(chan string, 1)}
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", k.name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(wait):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", k.name, stderr.String())
		}
	})
	select {
	case line := <-out.lines:
		port, ok := strings.CutPrefix(line, "LISTENING ")
		if !ok {
			t.Fatalf("%s printed %q, want LISTENING <port>", k.name, line)
		}
		tr := &http.Transport{DisableKeepAlives: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &peer{name: k.name, port: port, http: &http.Client{Transport: tr, Timeout: wait}}
	case err := <-exited:
		exited <- err
		t.Fatalf("%s exited before listening: %v\n%s", k.name, err, stderr.String())
	case <-time.After(wait):
		t.Fatalf("%s did not print LISTENING within %s\n%s", k.name, wait, stderr.String())
	}
	return nil
}

// URL returns the peer's WebSocket URL.
func (p *peer) URL() string { return "ws://127.0.0.1:" + p.port + "/ws" }

// peerStats is the JSON answer of every control.
type peerStats struct {
	Live          int  `json:"live"`
	Accepted      int  `json:"accepted"`
	Messages      int  `json:"messages"`
	PingsSent     int  `json:"pings_sent"`
	PongsReceived int  `json:"pongs_received"`
	Refusing      bool `json:"refusing"`
	Pongs         bool `json:"pongs"`
}

// control sends GET /control/<cmd> to the peer and fails the test unless it
// answers 200.
func (p *peer) control(t *testing.T, cmd string) peerStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+p.port+"/control/"+cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.http.Do(req)
	if err != nil {
		t.Fatalf("%s control %s: %v", p.name, cmd, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s control %s: %v", p.name, cmd, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s control %s: %s: %s", p.name, cmd, resp.Status, body)
	}
	var s peerStats
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("%s control %s: %v in %q", p.name, cmd, err, body)
	}
	return s
}

// waitLive waits until exactly n WebSocket connections are live on the peer.
func (p *peer) waitLive(t *testing.T, n int) {
	t.Helper()
	p.control(t, fmt.Sprintf("wait?conns=%d&timeout_ms=%d", n, wait.Milliseconds()))
}

// banner is the peer's stdout: it hands over the first line.
type banner struct {
	mu    sync.Mutex
	buf   []byte
	sent  bool
	lines chan string
}

func (b *banner) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sent {
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	if i := bytes.IndexByte(b.buf, '\n'); i >= 0 {
		b.sent = true
		b.lines <- strings.TrimSpace(string(b.buf[:i]))
	}
	return len(p), nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
