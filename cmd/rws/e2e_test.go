package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
)

// Fast reconnects for the tests that reconnect.
var fastBackoff = []string{"-backoff-min", "10ms", "-backoff-max", "50ms"}

func TestEchoInteractive(t *testing.T) {
	t.Parallel()
	got := make(chan string, 10)
	srv := newWSServer(t, serverOpts{serve: echo(got)})
	p := startRWS(t, srv.url)
	for _, line := range []string{"hello", "wörld, with spaces", ""} {
		if _, err := fmt.Fprintln(p.stdin, line); err != nil {
			t.Fatal(err)
		}
		if echoed := p.readLine(t); echoed != line {
			t.Errorf("echo of %q: got %q", line, echoed)
		}
	}
	p.stdin.Close()
	code, rest := p.wait(t)
	if code != exitOK || rest != "" {
		t.Errorf("after end of input: exit %d, more output %q; want 0 and none\nstderr:\n%s", code, rest, p.stderr)
	}
	for _, want := range []string{"OPEN       connection 1", "CLOSING    end of input", "1000 (normal closure)"} {
		if !strings.Contains(p.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, p.stderr)
		}
	}
}

func TestCountExitsAfterN(t *testing.T) {
	t.Parallel()
	var msgs []message
	for i := range 10 {
		msgs = append(msgs, text(fmt.Sprintf("m%d", i)))
	}
	srv := newWSServer(t, serverOpts{serve: sendThenRead(msgs...)})
	res := runRWS(t, "", "-count", "3", "-no-stdin", srv.url)
	if res.code != exitOK || res.stdout != lines("m0", "m1", "m2") {
		t.Errorf("exit %d, stdout %q; want 0 and m0..m2\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
}

// With -count, end of input does not stop rws: the replies still come.
func TestCountOutlivesEndOfInput(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: echo(nil)})
	res := runRWS(t, lines("a", "b", "c"), "-count", "3", srv.url)
	if res.code != exitOK || res.stdout != lines("a", "b", "c") {
		t.Errorf("exit %d, stdout %q; want 0 and the three echoes\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
}

func TestEndOfInputFlushes(t *testing.T) {
	t.Parallel()
	const n = 300
	got := make(chan string, n)
	srv := newWSServer(t, serverOpts{serve: func(ctx context.Context, c *websocket.Conn, _ int, _ *http.Request) {
		for { // record, do not echo
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			got <- string(data)
		}
	}})
	var in []string
	for i := range n {
		in = append(in, fmt.Sprintf("line %d", i))
	}
	res := runRWS(t, strings.Join(in, "\r\n"), "-quiet", srv.url) // CRLF, no final newline
	if res.code != exitOK || res.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", res.code, res.stderr)
	}
	if received := receive(t, got, n); !slices.Equal(received, in) {
		t.Errorf("the server received %q\nwant %q", received, in)
	}
}

// Empty input: rws connects, then closes: a connectivity check.
func TestEmptyInputConnectsThenCloses(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: echo(nil)})
	res := runRWS(t, "", srv.url)
	if res.code != exitOK || !strings.Contains(res.stderr, "OPEN       connection 1") {
		t.Errorf("exit %d; want 0 after connecting\nstderr:\n%s", res.code, res.stderr)
	}
}

// Lines read while the server refuses are queued, then sent in order.
func TestQueuedWhileRefused(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{
		refuse: func(w http.ResponseWriter, _ *http.Request, n int) bool {
			if n > 2 {
				return false
			}
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return true
		},
		serve: echo(nil),
	})
	args := append(slices.Clone(fastBackoff), "-count", "3", srv.url)
	res := runRWS(t, lines("one", "two", "three"), args...)
	if res.code != exitOK || res.stdout != lines("one", "two", "three") {
		t.Errorf("exit %d, stdout %q; want 0 and the three lines\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{"503 Service Unavailable", "reconnect  attempt 2", "OPEN       connection 1, 3 queued message(s) go out now"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}

func TestReconnectAfterDrop(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: func(ctx context.Context, c *websocket.Conn, n int, _ *http.Request) {
		if err := c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf("hello from connection %d", n))); err != nil {
			return
		}
		if n == 1 {
			_ = c.CloseNow() // abrupt: no close frame
			return
		}
		sendThenRead()(ctx, c, n, nil)
	}})
	args := append(slices.Clone(fastBackoff), "-count", "2", "-no-stdin", srv.url)
	res := runRWS(t, "", args...)
	if res.code != exitOK || res.stdout != lines("hello from connection 1", "hello from connection 2") {
		t.Errorf("exit %d, stdout %q\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{"1006 (abnormal closure", "reconnecting", "reconnect  attempt 1 after", "OPEN       connection 2"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}

// The reconnect lines say what set each wait: the server's Retry-After,
// then a backoff that connections shorter than the stable-after time did
// not reset.
func TestReconnectLinesSayWhatSetTheDelay(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{
		refuse: func(w http.ResponseWriter, _ *http.Request, n int) bool {
			if n > 1 {
				return false
			}
			w.Header().Set("Retry-After", "1")
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return true
		},
		serve: func(ctx context.Context, c *websocket.Conn, n int, r *http.Request) {
			if n < 3 {
				return // accept, then drop
			}
			sendThenRead(text("hello"))(ctx, c, n, r)
		},
	})
	args := append(slices.Clone(fastBackoff), "-count", "1", "-no-stdin", srv.url)
	res := runRWS(t, "", args...)
	if res.code != exitOK || res.stdout != "hello\n" {
		t.Fatalf("exit %d, stdout %q\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{
		"reconnect  attempt 1 in 1s: the server's Retry-After\n",
		"reconnect  attempt 1 after 1s: the server's Retry-After\n",
		" from the backoff (backoff attempt 2, not reset: the last connection lived ",
		" from the backoff (backoff attempt 3, not reset: the last connection lived ",
		" < 10s stable-after)\n",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}

// goesSilent is a server whose first `silent` connections each read one
// message and then go silent (no echo, no pong), as the demo's server does:
// the heartbeat drops the connection and the message is reported
// unconfirmed. Later connections echo. Every message read goes to got,
// prefixed with its connection's number.
func goesSilent(t *testing.T, silent int, got chan<- string) *wsServer {
	quiet := make([]atomic.Bool, silent+1) // by connection number (no request is refused)
	return newWSServer(t, serverOpts{
		acceptFor: func(n int) *websocket.AcceptOptions {
			return &websocket.AcceptOptions{OnPingReceived: func(context.Context, []byte) bool {
				return n > silent || !quiet[n].Load()
			}}
		},
		serve: func(ctx context.Context, c *websocket.Conn, n int, _ *http.Request) {
			for {
				typ, data, err := c.Read(ctx)
				if err != nil {
					return
				}
				got <- fmt.Sprintf("%d:%s", n, data)
				if n <= silent {
					quiet[n].Store(true)
					continue
				}
				if err := c.Write(ctx, typ, data); err != nil {
					return
				}
			}
		},
	})
}

// Fast heartbeat and reconnects for the goesSilent tests.
var fastSilence = append([]string{"-ping-interval", "50ms", "-ping-timeout", "100ms"}, fastBackoff...)

// A line written just before the connection went silent is reported
// unconfirmed, and rws sends it again on the next connection, which echoes
// it: the README's "echoed, even during an outage".
func TestUnconfirmedLineIsResent(t *testing.T) {
	t.Parallel()
	got := make(chan string, 10)
	srv := goesSilent(t, 1, got)
	p := startRWS(t, append(slices.Clone(fastSilence), srv.url)...)
	p.stderr.waitFor(t, "OPEN       connection 1")
	if _, err := fmt.Fprintln(p.stdin, "hello"); err != nil {
		t.Fatal(err)
	}
	if echoed := p.readLine(t); echoed != "hello" {
		t.Fatalf("echo %q, want hello\nstderr:\n%s", echoed, p.stderr)
	}
	p.stdin.Close()
	if code, rest := p.wait(t); code != exitOK || rest != "" {
		t.Errorf("exit %d, more output %q; want 0 and none\nstderr:\n%s", code, rest, p.stderr)
	}
	if received := receive(t, got, 2); !slices.Equal(received, []string{"1:hello", "2:hello"}) {
		t.Errorf("the server received %q, want hello on connections 1 and 2", received)
	}
	if n := strings.Count(p.stderr.String(), `resend     5-byte text message "hello" may not have arrived`); n != 1 {
		t.Errorf("%d resend lines, want 1:\n%s", n, p.stderr)
	}
}

// Once only: a resent line reported unconfirmed again is not resent again.
func TestResentLineIsResentOnce(t *testing.T) {
	t.Parallel()
	got := make(chan string, 10)
	srv := goesSilent(t, 2, got)
	p := startRWS(t, append(slices.Clone(fastSilence), srv.url)...)
	p.stderr.waitFor(t, "OPEN       connection 1")
	if _, err := fmt.Fprintln(p.stdin, "hello"); err != nil {
		t.Fatal(err)
	}
	p.stderr.waitFor(t, "OPEN       connection 3") // the drops of connection 2 come before
	p.stdin.Close()
	if code, rest := p.wait(t); code != exitOK || rest != "" {
		t.Errorf("exit %d, output %q; want 0 and no echo\nstderr:\n%s", code, rest, p.stderr)
	}
	if received := receive(t, got, 2); !slices.Equal(received, []string{"1:hello", "2:hello"}) || len(got) != 0 {
		t.Errorf("the server received %q (and %d more), want hello on connections 1 and 2 only", received, len(got))
	}
	stderr := p.stderr.String()
	if strings.Count(stderr, "resend     ") != 1 || strings.Count(stderr, "sent again once already: not sending it again") != 1 {
		t.Errorf("want one resend, then one refusal to resend again:\n%s", stderr)
	}
}

// -resend=false only reports the line.
func TestResendOff(t *testing.T) {
	t.Parallel()
	got := make(chan string, 10)
	srv := goesSilent(t, 1, got)
	p := startRWS(t, append(slices.Clone(fastSilence), "-resend=false", srv.url)...)
	p.stderr.waitFor(t, "OPEN       connection 1")
	if _, err := fmt.Fprintln(p.stdin, "hello"); err != nil {
		t.Fatal(err)
	}
	p.stderr.waitFor(t, "OPEN       connection 2")
	p.stdin.Close()
	if code, rest := p.wait(t); code != exitOK || rest != "" {
		t.Errorf("exit %d, output %q; want 0 and no echo\nstderr:\n%s", code, rest, p.stderr)
	}
	if received := receive(t, got, 1); received[0] != "1:hello" || len(got) != 0 {
		t.Errorf("the server received %q (and %d more), want hello on connection 1 only", received, len(got))
	}
	stderr := p.stderr.String()
	if !strings.Contains(stderr, `dropped    5-byte text message "hello": resilientws: written, but the connection was lost`) ||
		strings.Contains(stderr, "resend") {
		t.Errorf("want the drop reported and nothing resent:\n%s", stderr)
	}
}

func TestUnauthorizedExits1(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{refuse: func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return true
	}})
	res := runRWS(t, "", "-quiet", srv.url)
	want := `rws: the server refused the WebSocket upgrade: HTTP 401 Unauthorized: "bad token"; not retrying`
	if res.code != exitFailure || strings.TrimSpace(res.stderr) != want {
		t.Errorf("exit %d, stderr %q; want 1 and %q", res.code, res.stderr, want)
	}
}

func TestStoppingCloseCodeExits1(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: func(ctx context.Context, c *websocket.Conn, _ int, _ *http.Request) {
		_ = c.Close(websocket.StatusPolicyViolation, "no such topic")
	}})
	res := runRWS(t, "", "-no-stdin", srv.url)
	if res.code != exitFailure || !strings.Contains(res.stderr, `rws: the server closed the connection with 1008 (policy violation) "no such topic"; not reconnecting`) {
		t.Errorf("exit %d; want 1 and the close code\nstderr:\n%s", res.code, res.stderr)
	}
}

func TestTimeoutAgainstRefusingServer(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{refuse: func(w http.ResponseWriter, _ *http.Request, _ int) bool {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
		return true
	}})
	args := append(slices.Clone(fastBackoff), "-timeout", "1s", "-quiet", srv.url)
	res := runRWS(t, "", args...)
	if res.code != exitFailure || !strings.Contains(res.stderr, "rws: not connected within 1s") || !strings.Contains(res.stderr, "503") {
		t.Errorf("exit %d; want 1, the timeout and the 503\nstderr:\n%s", res.code, res.stderr)
	}
}

func TestBadFlagExits2(t *testing.T) {
	t.Parallel()
	res := runRWS(t, "", "-no-such-flag", "ws://127.0.0.1:1")
	if res.code != exitUsage || !strings.Contains(res.stderr, "no-such-flag") || !strings.Contains(res.stderr, "rws -h") {
		t.Errorf("exit %d, stderr %q; want 2 and the flag", res.code, res.stderr)
	}
}

func TestJSONPrettyPrints(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: sendThenRead(text(`{"price":101.5,"tags":["a",null]}`), text("not json"))})
	res := runRWS(t, "", "--json", "--count", "2", "--no-stdin", srv.url)
	want := "{\n  \"price\": 101.5,\n  \"tags\": [\n    \"a\",\n    null\n  ]\n}\nnot json\n"
	if res.code != exitOK || res.stdout != want {
		t.Errorf("exit %d, stdout:\n%s\nwant:\n%s", res.code, res.stdout, want)
	}
}

func TestBinaryFormats(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: sendThenRead(binary(0, 1, 2, 0xfe, 0xff), text("text stays text"))})
	for _, tc := range []struct{ format, want string }{
		{"", "000102feff\ntext stays text\n"},
		{"base64", "AAEC/v8=\ntext stays text\n"},
	} {
		args := []string{"-count", "2", "-no-stdin", srv.url}
		if tc.format != "" {
			args = append([]string{"-binary-format", tc.format}, args...)
		}
		if res := runRWS(t, "", args...); res.code != exitOK || res.stdout != tc.want {
			t.Errorf("format %q: exit %d, stdout %q; want %q", tc.format, res.code, res.stdout, tc.want)
		}
	}
}

func TestHeadersAndSubprotocol(t *testing.T) {
	t.Parallel()
	type request struct {
		host   string
		header http.Header
	}
	reqs := make(chan request, 1)
	srv := newWSServer(t, serverOpts{
		accept: &websocket.AcceptOptions{Subprotocols: []string{"chat"}},
		serve: func(ctx context.Context, c *websocket.Conn, n int, r *http.Request) {
			reqs <- request{r.Host, r.Header.Clone()}
			sendThenRead(text("ok"))(ctx, c, n, r)
		},
	})
	// Flags after the URL work too.
	res := runRWS(t, "", srv.url, "-H", "X-Token: abc", "-H", "X-Multi:1", "--H", "X-Multi: 2",
		"-H", "Host: feed.test", "-subprotocol", "v1.feed, v2.feed", "-subprotocol", "chat", "-count", "1", "-no-stdin")
	if res.code != exitOK || res.stdout != "ok\n" {
		t.Fatalf("exit %d, stdout %q\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	r := <-reqs
	if got := r.header.Get("X-Token"); got != "abc" {
		t.Errorf("X-Token: %q", got)
	}
	if got := r.header.Values("X-Multi"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("X-Multi: %q", got)
	}
	if r.host != "feed.test" {
		t.Errorf("Host: %q", r.host)
	}
	if got := r.header.Get("Sec-WebSocket-Protocol"); got != "v1.feed,v2.feed,chat" {
		t.Errorf("Sec-WebSocket-Protocol: %q", got)
	}
	if !strings.Contains(res.stderr, "connection 1, subprotocol chat") {
		t.Errorf("stderr lacks the subprotocol:\n%s", res.stderr)
	}
}

func TestAppHeartbeat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		reply string
		args  []string
	}{
		{"exact", "pong", []string{"-app-pong", "pong"}},
		{"contains", `{"response":"pong","t":1}`, []string{"-app-pong", `"pong"`, "-app-pong-contains"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The server answers each ping and, after three, sends data: rws
			// gets there only if it pings, and prints no pong.
			srv := newWSServer(t, serverOpts{serve: func(ctx context.Context, c *websocket.Conn, _ int, _ *http.Request) {
				for pings := 0; ; {
					_, data, err := c.Read(ctx)
					if err != nil {
						return
					}
					if string(data) != `{"request":"ping"}` {
						continue
					}
					if err := c.Write(ctx, websocket.MessageText, []byte(tc.reply)); err != nil {
						return
					}
					if pings++; pings == 3 {
						if err := c.Write(ctx, websocket.MessageText, []byte("data")); err != nil {
							return
						}
					}
				}
			}})
			args := append([]string{"-app-ping", `{"request":"ping"}`, "-ping-interval", "20ms", "-count", "1", "-no-stdin", srv.url}, tc.args...)
			if res := runRWS(t, "", args...); res.code != exitOK || res.stdout != "data\n" {
				t.Errorf("exit %d, stdout %q; want 0 and only the data\nstderr:\n%s", res.code, res.stdout, res.stderr)
			}
		})
	}
}

func TestHeartbeatRTTOnStderr(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: echo(nil)})
	res := runRWS(t, "", "-ping-interval", "20ms", "-duration", "1s", "-no-stdin", srv.url)
	if res.code != exitOK || !strings.Contains(res.stderr, "heartbeat  RTT ") {
		t.Errorf("exit %d; want 0 and heartbeat lines\nstderr:\n%s", res.code, res.stderr)
	}
}

func TestInterruptExits0(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: echo(nil)})
	p := startRWS(t, "-no-stdin", srv.url)
	p.stderr.waitFor(t, "OPEN")
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code, _ := p.wait(t); code != exitOK || !strings.Contains(p.stderr.String(), "CLOSING    interrupted") {
		t.Errorf("exit %d; want 0\nstderr:\n%s", code, p.stderr)
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	res := runRWS(t, "hello demo\n", "-duration", "3s", "-quiet")
	if res.code != exitOK || res.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", res.code, res.stderr)
	}
	ticks := strings.Count(res.stdout, `{"type":"tick","conn":1,`)
	if ticks < 3 || !strings.Contains(res.stdout, "hello demo\n") {
		t.Errorf("%d ticks, want several, and the echo of the line sent:\n%s", ticks, res.stdout)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	res := runRWS(t, "", "-h")
	if res.code != exitOK {
		t.Errorf("exit %d, want 0", res.code)
	}
	for _, want := range []string{"Usage: rws", "Exit status:", "  2  usage error", "(default 30s)", "demo"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	cfg := &config{}
	newFlagSet(cfg).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(res.stdout, "  -"+f.Name+" ") && !strings.Contains(res.stdout, "  -"+f.Name+"\n") {
			t.Errorf("usage lacks -%s", f.Name)
		}
	})
}
