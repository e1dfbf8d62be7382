//go:build !js

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

// raceEnabled is set by race_test.go when the tests run under -race.
var raceEnabled bool

// rwsBin is the rws binary built by TestMain.
var rwsBin string

// processTimeout bounds every rws process a test starts.
const processTimeout = 30 * time.Second

// childEnv is the environment of the rws processes: no colour, and a short
// race-detector exit delay (1s by default on every exit 0). A race in the
// child makes it exit 66, which fails the test's exit code check.
var childEnv = append(os.Environ(), "NO_COLOR=1", "GORACE=atexit_sleep_ms=50")

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "rws-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	rwsBin = filepath.Join(dir, "rws")
	if runtime.GOOS == "windows" {
		rwsBin += ".exe"
	}
	args := []string{"build", "-o", rwsBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building rws: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	if code == 0 {
		// The in-process tests (run, servers) must leave no goroutine behind.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// result is how an rws process ended.
type result struct {
	code           int
	stdout, stderr string
}

// runRWS runs rws with args and stdin to the end, bounded by
// processTimeout, without colour.
func runRWS(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), processTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, rwsBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = childEnv
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("rws %q did not finish within %s\nstdout:\n%s\nstderr:\n%s", args, processTimeout, &stdout, &stderr)
	}
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("rws %q: %v", args, err)
	}
	return res
}

// proc is an rws process run interactively through pipes.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *lineBuffer
}

// startRWS starts rws with args, bounded by processTimeout; the test ends
// it through its stdin or a signal, then calls wait.
func startRWS(t *testing.T, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, rwsBin, args...)
	cmd.Env = childEnv
	cmd.WaitDelay = 5 * time.Second
	p := &proc{cmd: cmd, stderr: newLineBuffer()}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdout = bufio.NewReader(out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Wait() }) // after a failed test: the ctx kills it
	return p
}

// readLine returns the next line of the process's stdout.
func (p *proc) readLine(t *testing.T) string {
	t.Helper()
	line, err := p.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("reading rws's stdout: %v (read %q)\nstderr:\n%s", err, line, p.stderr)
	}
	return strings.TrimSuffix(line, "\n")
}

// wait waits for the process to exit and returns its exit code and the rest
// of its stdout.
func (p *proc) wait(t *testing.T) (int, string) {
	t.Helper()
	rest, _ := io.ReadAll(p.stdout)
	err := p.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(rest)
	case err != nil:
		t.Fatalf("rws: %v\nstderr:\n%s", err, p.stderr)
	}
	return 0, string(rest)
}

// lineBuffer collects a process's stderr and lets a test wait for a line
// containing some text.
type lineBuffer struct {
	mu      sync.Mutex // guards buf and waiters
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newLineBuffer() *lineBuffer { return &lineBuffer{changed: make(chan struct{})} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return len(p), nil
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the buffer contains s, at most processTimeout.
func (b *lineBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	timeout := time.NewTimer(processTimeout)
	defer timeout.Stop()
	for {
		b.mu.Lock()
		found, changed := strings.Contains(b.buf.String(), s), b.changed
		b.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("stderr never contained %q:\n%s", s, b)
		}
	}
}

// wsServer is a WebSocket test server on 127.0.0.1. It tracks its
// connections so that the test's cleanup can close them and wait for every
// handler: httptest.Server.Close does neither for hijacked connections.
type wsServer struct {
	srv *httptest.Server
	url string // ws://

	mu       sync.Mutex // guards the fields below; orders every wg.Add before wg.Wait
	closed   bool
	requests int
	conns    int
	live     map[*websocket.Conn]struct{}
	wg       sync.WaitGroup
}

// serverOpts says how a wsServer answers.
type serverOpts struct {
	// refuse runs before the upgrade, with the request number (from 1); it
	// returns true if it answered the request itself.
	refuse func(w http.ResponseWriter, r *http.Request, n int) bool
	// accept holds the upgrade's options.
	accept *websocket.AcceptOptions
	// acceptFor, if set, gives the upgrade's options for each request
	// number instead.
	acceptFor func(n int) *websocket.AcceptOptions
	// serve runs each connection, numbered from 1, until it returns.
	serve func(ctx context.Context, c *websocket.Conn, n int, r *http.Request)
	// tls serves wss, with httptest's self-signed certificate.
	tls bool
}

func newWSServer(t *testing.T, o serverOpts) *wsServer {
	t.Helper()
	s := &wsServer{live: map[*websocket.Conn]struct{}{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handle(w, r, o)
	}))
	if o.tls {
		s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	s.url = "ws" + strings.TrimPrefix(s.srv.URL, "http")
	t.Cleanup(s.close)
	return s
}

// certFile writes the TLS server's certificate to a PEM file and returns
// its path.
func (s *wsServer) certFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cert.pem")
	block := &pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *wsServer) handle(w http.ResponseWriter, r *http.Request, o serverOpts) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	s.requests++
	n := s.requests
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	if o.refuse != nil && o.refuse(w, r, n) {
		return
	}
	accept := o.accept
	if o.acceptFor != nil {
		accept = o.acceptFor(n)
	}
	c, err := websocket.Accept(w, r, accept)
	if err != nil {
		return
	}
	defer c.CloseNow() //nolint:errcheck // may be closed already
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.conns++
	n = s.conns
	s.live[c] = struct{}{}
	s.mu.Unlock()
	defer func() { s.mu.Lock(); delete(s.live, c); s.mu.Unlock() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if o.serve != nil {
		o.serve(ctx, c, n, r)
	}
}

func (s *wsServer) close() {
	s.mu.Lock()
	s.closed = true
	var live []*websocket.Conn
	for c := range s.live {
		live = append(live, c)
	}
	s.mu.Unlock()
	for _, c := range live {
		_ = c.CloseNow()
	}
	s.srv.Close()
	s.wg.Wait()
}

// echo sends back every message it reads, and passes the text of each to
// got (if not nil), until the connection fails.
func echo(got chan<- string) func(context.Context, *websocket.Conn, int, *http.Request) {
	return func(ctx context.Context, c *websocket.Conn, _ int, _ *http.Request) {
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if got != nil {
				got <- string(data)
			}
			if err := c.Write(ctx, typ, data); err != nil {
				return
			}
		}
	}
}

// sendThenRead writes msgs, then reads until the connection fails (which
// answers pings and close frames).
func sendThenRead(msgs ...message) func(context.Context, *websocket.Conn, int, *http.Request) {
	return func(ctx context.Context, c *websocket.Conn, _ int, _ *http.Request) {
		for _, m := range msgs {
			if err := c.Write(ctx, m.typ, m.data); err != nil {
				return
			}
		}
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}
}

type message struct {
	typ  websocket.MessageType
	data []byte
}

func text(s string) message    { return message{websocket.MessageText, []byte(s)} }
func binary(b ...byte) message { return message{websocket.MessageBinary, b} }
func lines(s ...string) string { return strings.Join(s, "\n") + "\n" }
func receive(t *testing.T, ch <-chan string, n int) []string {
	t.Helper()
	timeout := time.NewTimer(processTimeout)
	defer timeout.Stop()
	var got []string
	for len(got) < n {
		select {
		case s := <-ch:
			got = append(got, s)
		case <-timeout.C:
			t.Fatalf("the server received %d message(s), want %d: %q", len(got), n, got)
		}
	}
	return got
}
