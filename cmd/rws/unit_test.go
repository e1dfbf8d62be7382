//go:build !js

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws"
)

// Usage errors are found before any connection: run them in-process.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	const url = "ws://127.0.0.1:1/"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-bogus", url}, "flag provided but not defined: -bogus"},
		{[]string{"-count", "x", url}, `invalid value "x" for flag -count`},
		{[]string{"-count", "-1", url}, "-count: must not be negative"},
		{[]string{"-timeout", "-1s", url}, "-timeout: must not be negative"},
		{[]string{"-linger", "-1s", url}, "-linger: must not be negative"},
		{[]string{"ftp://127.0.0.1/"}, `scheme "ftp" is not ws, wss, http or https`},
		{[]string{"127.0.0.1:bad"}, "invalid URL"},
		{[]string{url, "ws://127.0.0.1:2/"}, "want at most one URL"},
		{[]string{"-c", url, "ws://127.0.0.1:2/"}, "want at most one URL (-c or an argument), got 2"},
		{[]string{"-c", ""}, "empty URL"},
		{[]string{"-H", "NoColon", url}, "want 'Name: value'"},
		{[]string{"-H", "Bad Name: x", url}, `invalid header name "Bad Name"`},
		{[]string{"-binary-format", "octal", url}, "want hex or base64"},
		{[]string{"-binary-in", "raw", url}, `-binary-in: want hex or base64, got "raw"`},
		{[]string{"-prefix", "yes", url}, `-prefix: want auto, always or never, got "yes"`},
		{[]string{"-binary-in", "hex", "-no-stdin", url}, "-binary-in has no effect with -no-stdin"},
		{[]string{"-backoff-min", "0s", url}, "-backoff-min: must be positive"},
		{[]string{"-backoff-min", "2s", "-backoff-max", "1s", url}, "-backoff-max (1s) is less than -backoff-min (2s)"},
		{[]string{"-app-ping", "ping", url}, "-app-ping needs -app-pong"},
		{[]string{"-app-pong", "pong", url}, "-app-pong needs -app-ping"},
		{[]string{"-app-pong-contains", url}, "-app-pong-contains needs -app-pong"},
		{[]string{"-app-ping", "ping", "-app-pong", "pong", "-ping-interval", "0", url}, "needs a positive -ping-interval"},
		{[]string{"-k", "-cacert", "ca.pem", url}, "-insecure and -cacert: give one or the other"},
		{[]string{"-cacert", "no/such/file.pem", url}, "-cacert: open no/such/file.pem"},
		{[]string{"-cacert", "unit_test.go", url}, "-cacert: no PEM certificate in unit_test.go"},
		// Values checked by resilientws.New.
		{[]string{"-read-limit", "0", url}, "WithReadLimit: must be positive"},
		{[]string{"-queue", "0", url}, "WithQueue: limits must be positive"},
		{[]string{"-ping-interval", "-1s", url}, "WithHeartbeat: negative duration"},
		{[]string{"-ping-timeout", "0", url}, "WithHeartbeat: timeout must be positive"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, strings.NewReader(""), &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), "Run 'rws -h' for usage.") {
			t.Errorf("rws %q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("rws %q: stdout %q, want nothing", tc.args, stdout.String())
		}
	}
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	cfg, err := parseFlags([]string{"--count", "2", "ws://127.0.0.1/", "-H", "A: 1", "-H", "a:2 ", "-H", "Host: h.test",
		"-subprotocol", "x, y", "--subprotocol=z", "-json"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.url != "ws://127.0.0.1/" || cfg.count != 2 || !cfg.json || cfg.host != "h.test" {
		t.Errorf("got %+v", cfg)
	}
	if got := cfg.header.Values("A"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("header A: %q", got)
	}
	if cfg.header.Get("Host") != "" {
		t.Errorf("Host is in the header: %v", cfg.header)
	}
	if !slices.Equal(cfg.subprotocols, []string{"x", "y", "z"}) {
		t.Errorf("subprotocols: %q", cfg.subprotocols)
	}
	if !cfg.set["count"] || cfg.set["quiet"] {
		t.Errorf("set: %v", cfg.set)
	}

	// wscat's -c and -s.
	cfg, err = parseFlags([]string{"-c", "localhost:9001", "-s", "chat", "-subprotocol", "v2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.url != "ws://localhost:9001" || !slices.Equal(cfg.subprotocols, []string{"chat", "v2"}) {
		t.Errorf("-c, -s: url %q, subprotocols %q", cfg.url, cfg.subprotocols)
	}

	// After "--", everything is an argument.
	if _, err := parseFlags([]string{"--", "-json"}, io.Discard); err != nil {
		t.Errorf(`"-- -json": %v`, err)
	} else if cfg, _ := parseFlags([]string{"--", "-json"}, io.Discard); cfg.url != "ws://-json" || cfg.json {
		t.Errorf(`"-- -json": url %q, json %t`, cfg.url, cfg.json)
	}

	// Defaults are the library's.
	cfg, err = parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.url != "" || cfg.pingInterval != resilientws.DefaultHeartbeatInterval || cfg.pingTimeout != resilientws.DefaultHeartbeatTimeout ||
		cfg.backoffMin != resilientws.DefaultBackoffInitial || cfg.backoffMax != resilientws.DefaultBackoffMax ||
		cfg.queue != resilientws.DefaultQueueMessages || cfg.readLimit != resilientws.DefaultReadLimit || cfg.binaryFormat != formatHex ||
		!cfg.resend {
		t.Errorf("defaults: %+v", cfg)
	}

	var help bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, &help); !errors.Is(err, errHelp) || !strings.Contains(help.String(), "Exit status") {
		t.Errorf("--help: %v, %q", err, help.String())
	}
}

// A URL without a scheme is ws://, or wss:// on port 443, as with wscat.
func TestURLWithoutScheme(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ arg, want string }{
		{"localhost:9001/echo", "ws://localhost:9001/echo"},
		{"example.com", "ws://example.com"},
		{"example.com:443/feed?x=1", "wss://example.com:443/feed?x=1"},
		{"[::1]:8080", "ws://[::1]:8080"},
		{"wss://example.com/v1", "wss://example.com/v1"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/"},
	} {
		cfg, err := parseFlags([]string{tc.arg}, io.Discard)
		if err != nil || cfg.url != tc.want {
			t.Errorf("rws %s: URL %q (%v), want %q", tc.arg, cfg.url, err, tc.want)
		}
	}
}

func TestReadLine(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 20)
	in := "a\r\nb\n\n" + long + "\nlast"
	br := bufio.NewReaderSize(strings.NewReader(in), 16) // lines longer than the buffer too
	type line struct {
		s    string
		long bool
		err  error
	}
	var got []line
	for {
		l, _, isLong, err := readLine(br, 10)
		got = append(got, line{string(l), isLong, err})
		if err != nil {
			break
		}
	}
	want := []line{{"a", false, nil}, {"b", false, nil}, {"", false, nil}, {"", true, nil}, {"last", false, io.EOF}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// A line of exactly the limit, with CRLF, is not long.
	if l, _, isLong, _ := readLine(bufio.NewReader(strings.NewReader("0123456789\r\n")), 10); isLong || string(l) != "0123456789" {
		t.Errorf("limit line: %q, long %t", l, isLong)
	}
	// Empty input: EOF at once, nothing consumed.
	if _, size, _, err := readLine(bufio.NewReader(strings.NewReader("")), 10); size != 0 || err != io.EOF {
		t.Errorf("empty input: size %d, err %v", size, err)
	}
}

func TestDecodeLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		format, in string
		want       []byte
		err        string
	}{
		{formatHex, "0001fF", []byte{0, 1, 0xff}, ""},
		{formatHex, " \tdead ", []byte{0xde, 0xad}, ""},
		{formatHex, "", []byte{}, ""},
		{formatHex, "abc", nil, "odd length"},
		{formatHex, "zz", nil, "invalid byte"},
		{formatHex, "de ad", nil, "invalid byte"},
		{formatBase64, "AAH/", []byte{0, 1, 0xff}, ""},
		{formatBase64, "AA==", []byte{0}, ""},
		{formatBase64, "AA", nil, "illegal base64 data"},
		{formatBase64, "!!!!", nil, "illegal base64 data"},
	} {
		got, err := decodeLine(tc.format, []byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %q: %v, want an error with %q", tc.format, tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s %q: %x (%v), want %x", tc.format, tc.in, got, err, tc.want)
		}
	}
}

func TestMessagePrinter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		json   bool
		binary string
		m      resilientws.Message
		want   string
	}{
		{false, formatHex, resilientws.Message{Type: resilientws.Text, Data: []byte(`{"a":1}`)}, "{\"a\":1}\n"},
		{true, formatHex, resilientws.Message{Type: resilientws.Text, Data: []byte(` {"a":[1]} `)}, "{\n  \"a\": [\n    1\n  ]\n}\n"},
		{true, formatHex, resilientws.Message{Type: resilientws.Text, Data: []byte(`{"a":`)}, "{\"a\":\n"},
		{true, formatHex, resilientws.Message{Type: resilientws.Text, Data: nil}, "\n"},
		{true, formatHex, resilientws.Message{Type: resilientws.Binary, Data: []byte("{}")}, "7b7d\n"},
		{false, formatBase64, resilientws.Message{Type: resilientws.Binary, Data: []byte{0xff, 0}}, "/wA=\n"},
	} {
		var b bytes.Buffer
		p := &messagePrinter{w: &b, json: tc.json, binary: tc.binary}
		if err := p.print(tc.m); err != nil || b.String() != tc.want {
			t.Errorf("json %t, %s, %q: got %q (%v), want %q", tc.json, tc.binary, tc.m.Data, b.String(), err, tc.want)
		}
	}
}

func TestMessagePrinterMarks(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	p := &messagePrinter{w: &b, json: true, binary: formatHex, marks: true, echo: true}
	for _, m := range []resilientws.Message{
		{Type: resilientws.Text, Data: []byte("plain")},
		{Type: resilientws.Text, Data: []byte(`{"a":[1]}`)},
		{Type: resilientws.Text, Data: []byte("two\nlines")},
		{Type: resilientws.Text, Data: nil},
		{Type: resilientws.Binary, Data: []byte{0xff}},
	} {
		if err := p.print(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.sent([]byte("typed")); err != nil {
		t.Fatal(err)
	}
	want := "< plain\n< {\n    \"a\": [\n      1\n    ]\n  }\n< two\n  lines\n< \n< ff\n> typed\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}

	// Without echo (stdin is a terminal) or without marks, sent lines are not
	// printed; without marks, messages are printed as they are.
	b.Reset()
	for _, p := range []*messagePrinter{{w: &b, marks: true}, {w: &b, echo: true}} {
		if err := p.sent([]byte("typed")); err != nil {
			t.Fatal(err)
		}
	}
	(&messagePrinter{w: &b}).print(resilientws.Message{Type: resilientws.Text, Data: []byte("a\nb")}) //nolint:errcheck // a bytes.Buffer
	if b.String() != "a\nb\n" {
		t.Errorf("no echo or no marks: got %q", b.String())
	}
}

func TestStatusPrinter(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	var b bytes.Buffer
	p := newStatusPrinter(&b, false, false)
	p.now = func() time.Time { return at }
	p.event(tagOpen, "connection %d", 1)
	p.fatal("gone")
	if want := "03:04:05.006 OPEN       connection 1\nrws: gone\n"; b.String() != want {
		t.Errorf("plain: %q, want %q", b.String(), want)
	}

	b.Reset()
	p = newStatusPrinter(&b, true, true)
	p.now = func() time.Time { return at }
	p.event(tagOpen, "hidden by -quiet")
	p.warn(tagDropped, "shown")
	if s := b.String(); strings.Contains(s, "hidden") || !strings.Contains(s, "shown") || !strings.Contains(s, ansiMagenta) {
		t.Errorf("quiet, colour: %q", s)
	}
}

func TestColourEnabled(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if colourEnabled(w, env()) {
		t.Error("colour on a pipe")
	}
	if colourEnabled(&bytes.Buffer{}, env()) {
		t.Error("colour on a buffer")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil { // only with a terminal
		defer tty.Close()
		if !colourEnabled(tty, env()) {
			t.Error("no colour on a terminal")
		}
		if colourEnabled(tty, env("NO_COLOR", "1")) || colourEnabled(tty, env("TERM", "dumb")) {
			t.Error("colour despite NO_COLOR or TERM=dumb")
		}
	}
}

func TestPongMatcher(t *testing.T) {
	t.Parallel()
	msg := func(s string) resilientws.Message {
		return resilientws.Message{Type: resilientws.Text, Data: []byte(s)}
	}
	exact, contains := pongMatcher("pong", false), pongMatcher("pong", true)
	if !exact(msg("pong")) || exact(msg(`{"r":"pong"}`)) || exact(msg("pong\n")) {
		t.Error("exact match")
	}
	if !contains(msg("pong")) || !contains(msg(`{"r":"pong"}`)) || contains(msg("ping")) {
		t.Error("substring match")
	}
}

func TestDescribeFailure(t *testing.T) {
	t.Parallel()
	he := &resilientws.HandshakeError{StatusCode: http.StatusForbidden, Body: []byte("\n  forbidden topic\nmore\n")}
	if got, want := describeFailure(fmt.Errorf("wrapped: %w", he)), `the server refused the WebSocket upgrade: HTTP 403 Forbidden: "forbidden topic"; not retrying`; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	ce := fmt.Errorf("resilientws: not reconnecting: %w", websocket.CloseError{Code: websocket.StatusUnsupportedData, Reason: "text only"})
	if got, want := describeFailure(ce), `the server closed the connection with 1003 (unsupported data) "text only"; not reconnecting`; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if got := describeFailure(resilientws.ErrBackoffStopped); got != resilientws.ErrBackoffStopped.Error() {
		t.Errorf("got %q", got)
	}
}

func TestDemoSchedule(t *testing.T) {
	t.Parallel()
	for i, st := range demoSchedule {
		if st.at <= 0 || st.at >= demoPeriod || (i > 0 && st.at <= demoSchedule[i-1].at) {
			t.Errorf("step %d at %s: steps must be in order within the %s cycle", i, st.at, demoPeriod)
		}
	}
	if last := demoSchedule[len(demoSchedule)-1].at; last > time.Minute/2 {
		t.Errorf("the last misbehaviour comes at %s: a newcomer should see all within the first minute", last)
	}
}

func TestDescribeWait(t *testing.T) {
	t.Parallel()
	drop := errors.New("connection 2 lost: EOF")
	refused := &resilientws.HandshakeError{StatusCode: http.StatusServiceUnavailable, RetryAfter: 2 * time.Second}
	tryLater := fmt.Errorf("closed: %w", websocket.CloseError{Code: websocket.StatusTryAgainLater})
	ev := func(attempt, drawn int, src resilientws.DelaySource, err error) resilientws.ReconnectEvent {
		return resilientws.ReconnectEvent{Attempt: attempt, BackoffAttempt: drawn, Delay: time.Second, DelaySource: src, Err: err}
	}
	const lived, stable = 1200 * time.Millisecond, 5 * time.Second
	for _, tc := range []struct {
		e      resilientws.ReconnectEvent
		detail bool
		want   string
	}{
		{ev(3, 3, resilientws.DelayBackoff, drop), true, " from the backoff"},
		{ev(3, 5, resilientws.DelayBackoff, drop), true, " from the backoff (backoff attempt 5, not reset: the last connection lived 1.2s < 5s stable-after)"},
		{ev(3, 5, resilientws.DelayBackoff, drop), false, " from the backoff"},
		{ev(1, 4, resilientws.DelayBackoff, refused), true,
			" from the backoff (backoff attempt 4, not reset: the last connection lived 1.2s < 5s stable-after; longer than the server's Retry-After 2s)"},
		{ev(1, 1, resilientws.DelayBackoff, tryLater), true, " from the backoff (longer than the 30s a 1013 close asks for)"},
		{ev(2, 2, resilientws.DelayRetryAfter, refused), true, ": the server's Retry-After"},
		{ev(1, 1, resilientws.DelayTryAgainLater, tryLater), false, ": the server's close 1013 (try again later)"},
		{ev(1, 0, resilientws.DelayNone, resilientws.ErrReconnectRequested), true, ": reconnect requested"},
		{ev(2, 2, resilientws.DelayNone, drop), false, ": the wait was cut short"},
	} {
		if got := describeWait(tc.e, lived, stable, tc.detail); got != tc.want {
			t.Errorf("describeWait(%+v, detail %t) = %q\nwant %q", tc.e, tc.detail, got, tc.want)
		}
	}
}
