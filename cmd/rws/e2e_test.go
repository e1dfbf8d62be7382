//go:build !js

package main

import (
	"bytes"
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
	"time"

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

// "rws host:port/path" connects to ws://host:port/path.
func TestURLWithoutSchemeConnects(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: sendThenRead(text("hi"))})
	res := runRWS(t, "", "-count", "1", "-no-stdin", strings.TrimPrefix(srv.url, "ws://")+"/echo")
	if res.code != exitOK || res.stdout != "hi\n" || !strings.Contains(res.stderr, "CONNECTING "+srv.url+"/echo") {
		t.Errorf("exit %d, stdout %q; want 0 and the message from %s/echo\nstderr:\n%s", res.code, res.stdout, srv.url, res.stderr)
	}
}

// "printf 'hello\n' | rws URL" prints the reply: after the end of input,
// rws goes on printing until nothing arrives for -linger, then closes with
// 1000.
func TestEndOfInputWaitsForReplies(t *testing.T) {
	t.Parallel()
	closed := make(chan websocket.StatusCode, 1)
	srv := newWSServer(t, serverOpts{serve: func(ctx context.Context, c *websocket.Conn, _ int, _ *http.Request) {
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				closed <- websocket.CloseStatus(err)
				return
			}
			if err := c.Write(ctx, typ, data); err != nil {
				return
			}
		}
	}})
	res := runRWS(t, "hello\n", srv.url)
	if res.code != exitOK || res.stdout != "hello\n" || !strings.Contains(res.stderr, "CLOSING    end of input: nothing received for 1s") {
		t.Errorf("exit %d, stdout %q; want 0, the reply, and a close after 1s of quiet\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if code := <-closed; code != websocket.StatusNormalClosure {
		t.Errorf("the server saw close code %d, want 1000", code)
	}
}

// Each message received starts the quiet period of -linger over.
func TestLingerRestartsOnEachMessage(t *testing.T) {
	t.Parallel()
	const n, gap, linger = 12, 100 * time.Millisecond, time.Second // n gaps last longer than linger
	srv := newWSServer(t, serverOpts{serve: func(ctx context.Context, c *websocket.Conn, _ int, _ *http.Request) {
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
		tick := time.NewTicker(gap)
		defer tick.Stop()
		for i := range n {
			if err := c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf("m%d", i))); err != nil {
				return
			}
			<-tick.C // the pace of the feed, not a synchronisation
		}
		sendThenRead()(ctx, c, 0, nil)
	}})
	res := runRWS(t, "go\n", "-linger", linger.String(), srv.url)
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("m%d", i))
	}
	if res.code != exitOK || res.stdout != lines(want...) {
		t.Errorf("exit %d, stdout %q; want 0 and all %d messages\nstderr:\n%s", res.code, res.stdout, n, res.stderr)
	}
}

// When the server closes after the end of input, rws prints what came
// before the close and exits 0 at once, without reconnecting or waiting.
func TestEndOfInputServerCloses(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: func(ctx context.Context, c *websocket.Conn, _ int, _ *http.Request) {
		if _, _, err := c.Read(ctx); err != nil {
			return
		}
		for _, s := range []string{"one", "two"} {
			if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
				return
			}
		}
		_ = c.Close(websocket.StatusNormalClosure, "bye")
	}})
	// A -linger longer than processTimeout: only the server's close can end rws in time.
	// The server may close before it has answered the confirmation ping
	// that follows "hi" (it stops reading once it has "hi"): "hi" is then
	// reported unconfirmed, and resending it would reconnect. -resend=false
	// keeps the test about the close.
	res := runRWS(t, "hi\n", "-resend=false", "-linger", "1h", srv.url)
	if res.code != exitOK || res.stdout != lines("one", "two") {
		t.Errorf("exit %d, stdout %q; want 0 and both messages\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, `connection 1 closed: 1000 (normal closure) "bye"; not reconnecting: the input is over`) || strings.Contains(res.stderr, "reconnect  ") {
		t.Errorf("stderr: want the close, and no reconnect:\n%s", res.stderr)
	}
}

// -linger 0 closes as soon as every line is written.
func TestLingerZeroClosesAtOnce(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: sendThenRead()}) // never replies
	res := runRWS(t, "hi\n", "-linger", "0", "-ping-interval", "0", srv.url)
	if res.code != exitOK || !strings.Contains(res.stderr, "CLOSING    end of input: done") || strings.Contains(res.stderr, "printing what arrives") {
		t.Errorf("exit %d; want 0 and a close without waiting\nstderr:\n%s", res.code, res.stderr)
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

// Lines written just before the connection went silent are not confirmed,
// and rws writes them again on the next connection, which echoes them: the
// README's "echoed, even during an outage". Two identical lines are two
// messages, each written twice.
func TestUnconfirmedLineIsResent(t *testing.T) {
	t.Parallel()
	got := make(chan string, 10)
	srv := goesSilent(t, 1, got)
	p := startRWS(t, append(slices.Clone(fastSilence), srv.url)...)
	p.stderr.waitFor(t, "OPEN       connection 1")
	if _, err := fmt.Fprint(p.stdin, "hello\nhello\n"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if echoed := p.readLine(t); echoed != "hello" {
			t.Fatalf("echo %q, want hello\nstderr:\n%s", echoed, p.stderr)
		}
	}
	p.stdin.Close()
	if code, rest := p.wait(t); code != exitOK || rest != "" {
		t.Errorf("exit %d, more output %q; want 0 and none\nstderr:\n%s", code, rest, p.stderr)
	}
	if received := receive(t, got, 4); !slices.Equal(received, []string{"1:hello", "1:hello", "2:hello", "2:hello"}) {
		t.Errorf("the server received %q, want hello twice on connections 1 and 2", received)
	}
	if n := strings.Count(p.stderr.String(), "connection 2 wrote 2 line(s) again"); n != 1 {
		t.Errorf("%d resend lines, want 1:\n%s", n, p.stderr)
	}
}

// Once only: a resent line that is not confirmed again is reported, with the
// number of times it was written.
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
	if strings.Count(stderr, "resend     ") != 1 || strings.Count(stderr, `dropped    5-byte text message "hello": resilientws: written 2 times`) != 1 {
		t.Errorf("want one resend, then one drop saying it was written twice:\n%s", stderr)
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

// On a pipe, stdout gets the messages alone, unless -prefix always.
func TestPrefixOnPipe(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: echo(nil)})
	for _, tc := range []struct{ prefix, want string }{
		{"", lines("{", `  "a": 1`, "}")},
		{"always", lines(`> {"a":1}`, "< {", `    "a": 1`, "  }")},
	} {
		args := []string{"-json", "-count", "1", srv.url}
		if tc.prefix != "" {
			args = append([]string{"-prefix", tc.prefix}, args...)
		}
		if res := runRWS(t, lines(`{"a":1}`), args...); res.code != exitOK || res.stdout != tc.want {
			t.Errorf("-prefix %q: exit %d, stdout %q; want 0 and %q\nstderr:\n%s", tc.prefix, res.code, res.stdout, tc.want, res.stderr)
		}
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

// -binary-in sends each line as a binary message; a line that does not
// decode is reported, and the next ones are still sent.
func TestBinaryIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ format, in, bad string }{
		{"hex", lines("0001ff", "0x12", "fe"), "line 2 not sent: -binary-in hex: encoding/hex: invalid byte: U+0078 'x'"},
		{"base64", lines("AAH/", "not base64", "/g=="), "line 2 not sent: -binary-in base64: illegal base64 data"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			t.Parallel()
			got := make(chan message, 2)
			srv := newWSServer(t, serverOpts{serve: func(ctx context.Context, c *websocket.Conn, _ int, _ *http.Request) {
				for {
					typ, data, err := c.Read(ctx)
					if err != nil {
						return
					}
					got <- message{typ, data}
					if err := c.Write(ctx, typ, data); err != nil {
						return
					}
				}
			}})
			res := runRWS(t, tc.in, "-binary-in", tc.format, "-count", "2", srv.url)
			if res.code != exitOK || res.stdout != lines("0001ff", "fe") || !strings.Contains(res.stderr, tc.bad) {
				t.Fatalf("exit %d, stdout %q; want 0, the two echoes in hex and %q\nstderr:\n%s", res.code, res.stdout, tc.bad, res.stderr)
			}
			for _, want := range []message{binary(0, 1, 0xff), binary(0xfe)} {
				if m := <-got; m.typ != want.typ || !bytes.Equal(m.data, want.data) { // echoed, so received
					t.Errorf("the server received %v %x, want %v %x", m.typ, m.data, want.typ, want.data)
				}
			}
		})
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

// wscat's habits: -c URL, -s subprotocol.
func TestWscatFlags(t *testing.T) {
	t.Parallel()
	protos := make(chan string, 1)
	srv := newWSServer(t, serverOpts{
		accept: &websocket.AcceptOptions{Subprotocols: []string{"chat"}},
		serve: func(ctx context.Context, c *websocket.Conn, n int, r *http.Request) {
			protos <- r.Header.Get("Sec-WebSocket-Protocol")
			sendThenRead(text("ok"))(ctx, c, n, r)
		},
	})
	res := runRWS(t, "", "-c", srv.url, "-s", "chat", "-count", "1", "-no-stdin")
	if res.code != exitOK || res.stdout != "ok\n" || !strings.Contains(res.stderr, "subprotocol chat") {
		t.Fatalf("exit %d, stdout %q; want 0, ok and the subprotocol\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if got := <-protos; got != "chat" {
		t.Errorf("Sec-WebSocket-Protocol: %q, want chat", got)
	}
}

// A self-signed wss server: refused by default, reached with -k or
// -insecure (with a warning) or with -cacert.
func TestSelfSignedTLS(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{tls: true, serve: sendThenRead(text("secret"))})
	if !strings.HasPrefix(srv.url, "wss://") {
		t.Fatalf("server URL %s: want wss", srv.url)
	}
	const warning = "warning    -insecure: the server's TLS certificate is not verified"
	res := runRWS(t, "", "-timeout", "1s", "-no-stdin", srv.url)
	if res.code != exitFailure || strings.Count(res.stderr, "-cacert FILE trusts its CA, -k trusts anything") != 1 {
		t.Errorf("no flag: exit %d; want 1 and the certificate error with a hint, once\nstderr:\n%s", res.code, res.stderr)
	}
	for _, args := range [][]string{{"-k"}, {"--insecure"}, {"-cacert", srv.certFile(t)}} {
		res := runRWS(t, "", append(args, "-count", "1", "-no-stdin", srv.url)...)
		if res.code != exitOK || res.stdout != "secret\n" {
			t.Errorf("%q: exit %d, stdout %q; want 0 and the message\nstderr:\n%s", args, res.code, res.stdout, res.stderr)
		}
		if warned := strings.Contains(res.stderr, warning); warned != (args[0] != "-cacert") {
			t.Errorf("%q: warned %t\nstderr:\n%s", args, warned, res.stderr)
		}
	}
	// The warning is shown even with -quiet.
	res = runRWS(t, "", "-k", "-quiet", "-count", "1", "-no-stdin", srv.url)
	if res.code != exitOK || !strings.Contains(res.stderr, warning) {
		t.Errorf("-k -quiet: exit %d; want 0 and the warning\nstderr:\n%s", res.code, res.stderr)
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
	if res.code != exitOK || !strings.Contains(res.stderr, "heartbeat  connection 1: RTT ") {
		t.Errorf("exit %d; want 0 and heartbeat lines\nstderr:\n%s", res.code, res.stderr)
	}
}

// Every heartbeat line is printed while its connection is open, after its
// OPEN line and before its close line, with that connection's number; the
// last round trip of a connection that drops is printed before its close
// line.
func TestHeartbeatRTTInOrder(t *testing.T) {
	t.Parallel()
	pinged := make(chan struct{}, 100)
	srv := newWSServer(t, serverOpts{
		accept: &websocket.AcceptOptions{OnPingReceived: func(context.Context, []byte) bool {
			select {
			case pinged <- struct{}{}:
			default:
			}
			return true
		}},
		// Connections 1 and 2 drop at their second ping; connection 3
		// sends, a few pings later, the message that ends rws.
		serve: func(ctx context.Context, c *websocket.Conn, n int, _ *http.Request) {
			ctx = c.CloseRead(ctx) // answers pings; done when the connection fails
			// A beat ends with its pong: at the second ping, the first
			// round trip has been measured.
			for range 2 {
				select {
				case <-pinged:
				case <-ctx.Done():
					return
				}
			}
			if n < 3 {
				_ = c.CloseNow()
				return
			}
			for range 4 {
				select {
				case <-pinged:
				case <-ctx.Done():
					return
				}
			}
			if err := c.Write(ctx, websocket.MessageText, []byte("done")); err != nil {
				return
			}
			<-ctx.Done()
		},
	})
	res := runRWS(t, "", "-ping-interval", "20ms", "-backoff-min", "200ms", "-backoff-max", "300ms", "-count", "1", "-no-stdin", srv.url)
	if res.code != exitOK || res.stdout != "done\n" {
		t.Fatalf("exit %d, stdout %q; want 0 and done\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	open := 0             // the connection open in the output, if any
	rtts := map[int]int{} // heartbeat lines by connection
	for _, line := range strings.Split(res.stderr, "\n") {
		var n int
		switch {
		case strings.Contains(line, " OPEN "):
			if _, err := fmt.Sscanf(line[strings.Index(line, "connection"):], "connection %d", &n); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			open = n
		case strings.Contains(line, " closed: "):
			open = 0
		case strings.Contains(line, " heartbeat "):
			rtts[open]++
			i := strings.Index(line, "connection")
			if open == 0 {
				t.Errorf("%q: printed while no connection is open\nstderr:\n%s", line, res.stderr)
			} else if _, err := fmt.Sscanf(line[max(i, 0):], "connection %d:", &n); err != nil || n != open {
				t.Errorf("%q: does not name connection %d, the open one\nstderr:\n%s", line, open, res.stderr)
			}
		}
	}
	// Connections 1 and 2 measured a round trip before they dropped (the
	// server dropped them at the second ping), likely before the main loop
	// looked: OnClose prints it.
	if rtts[1] == 0 || rtts[2] == 0 {
		t.Errorf("heartbeat lines by connection: %v; want some for 1 and 2\nstderr:\n%s", rtts, res.stderr)
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
		if !strings.Contains(res.stdout, "  -"+f.Name+" ") && !strings.Contains(res.stdout, "  -"+f.Name+"\n") &&
			!strings.Contains(res.stdout, "  -"+f.Name+"\t") { // a one-letter bool flag
			t.Errorf("usage lacks -%s", f.Name)
		}
	})
}
