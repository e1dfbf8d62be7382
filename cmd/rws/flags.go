//go:build !js

package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/resilientws/resilientws"
)

// config is the parsed command line.
type config struct {
	url          string      // "" runs the demo
	connect      string      // from -c: the URL, when not an argument
	header       http.Header // from -H, Host excepted
	host         string      // from -H 'Host: name'
	subprotocols []string

	pingInterval    time.Duration
	pingTimeout     time.Duration
	appPing         string
	appPong         string
	appPongContains bool

	backoffMin time.Duration
	backoffMax time.Duration
	queue      int
	readLimit  int64

	insecure  bool        // -k, -insecure
	caCert    string      // -cacert
	tlsConfig *tls.Config // from -insecure or -cacert; nil: Go's defaults

	binaryFormat string
	binaryIn     string // "" (text), formatHex or formatBase64
	json         bool
	prefix       string // prefixAuto, prefixAlways or prefixNever

	count    int
	timeout  time.Duration
	duration time.Duration
	linger   time.Duration
	quiet    bool
	noStdin  bool
	resend   bool

	set map[string]bool // the flags given on the command line
}

// Binary formats for -binary-format and -binary-in.
const (
	formatHex    = "hex"
	formatBase64 = "base64"
)

// Values of -prefix.
const (
	prefixAuto   = "auto"
	prefixAlways = "always"
	prefixNever  = "never"
)

// flushTimeout bounds the wait, at end of input, for the lines read to be
// written.
const flushTimeout = 10 * time.Second

// defaultLinger is -linger's default: how long rws waits for replies after
// the end of input, counted from the last message received.
const defaultLinger = time.Second

// errHelp is returned by parseFlags for -h and -help: print the usage, exit 0.
var errHelp = errors.New("help requested")

// headerFlag collects -H values into an http.Header.
type headerFlag struct {
	h    http.Header
	host *string
}

func (f headerFlag) String() string { return "" }

// Set parses one 'Name: value' header. Host goes to the request's Host.
func (f headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return fmt.Errorf("want 'Name: value', got %q", s)
	}
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !validHeaderName(name) {
		return fmt.Errorf("invalid header name %q", name)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("header %s: value contains a control character", name)
	}
	if strings.EqualFold(name, "Host") {
		*f.host = value
		return nil
	}
	f.h.Add(name, value)
	return nil
}

// validHeaderName reports whether name is a non-empty RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

// listFlag collects repeatable, comma-separated values.
type listFlag struct{ list *[]string }

func (f listFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, ",")
}

func (f listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*f.list = append(*f.list, v)
		}
	}
	return nil
}

// newFlagSet declares every flag into cfg.
func newFlagSet(cfg *config) *flag.FlagSet {
	fs := flag.NewFlagSet("rws", flag.ContinueOnError)
	fs.Var(headerFlag{cfg.header, &cfg.host}, "H",
		"add a handshake request `header`, written 'Name: value' (repeatable); 'Host: name' sets the Host")
	fs.StringVar(&cfg.connect, "c", "",
		"connect to `URL`: the same as giving URL as an argument (wscat's -c)")
	fs.Var(listFlag{&cfg.subprotocols}, "subprotocol",
		"offer a WebSocket `subprotocol` (repeatable, or a comma-separated list)")
	fs.Var(listFlag{&cfg.subprotocols}, "s",
		"offer a `subprotocol`: short for -subprotocol (wscat's -s)")
	fs.BoolVar(&cfg.insecure, "insecure", false,
		"do not verify the server's TLS certificate (a self-signed wss server, say); rws warns on stderr")
	fs.BoolVar(&cfg.insecure, "k", false,
		"short for -insecure (curl's -k)")
	fs.StringVar(&cfg.caCert, "cacert", "",
		"verify the server's TLS certificate against the PEM certificates in `file` instead of the system's (curl's --cacert)")
	fs.DurationVar(&cfg.pingInterval, "ping-interval", resilientws.DefaultHeartbeatInterval,
		"heartbeat: send a ping every `interval`; 0 turns the heartbeat off (demo: 2s)")
	fs.DurationVar(&cfg.pingTimeout, "ping-timeout", resilientws.DefaultHeartbeatTimeout,
		"heartbeat: drop the connection and reconnect if the pong takes longer than `timeout` (demo: 1s)")
	fs.StringVar(&cfg.appPing, "app-ping", "",
		"use an application heartbeat: send this text `message` every -ping-interval instead of a protocol ping (needs -app-pong)")
	fs.StringVar(&cfg.appPong, "app-pong", "",
		"the application heartbeat's `reply`: a received message exactly equal to it is a pong, and is not printed")
	fs.BoolVar(&cfg.appPongContains, "app-pong-contains", false,
		"with -app-pong: any received message that contains the reply is a pong")
	fs.DurationVar(&cfg.backoffMin, "backoff-min", resilientws.DefaultBackoffInitial,
		"first reconnect `delay`; it doubles at each failed attempt, with ±50% jitter")
	fs.DurationVar(&cfg.backoffMax, "backoff-max", resilientws.DefaultBackoffMax,
		"longest reconnect `delay`")
	fs.IntVar(&cfg.queue, "queue", resilientws.DefaultQueueMessages,
		fmt.Sprintf("send queue limit, in `messages` (and %d bytes); when it is full, rws stops reading stdin until there is room", resilientws.DefaultQueueBytes))
	fs.Int64Var(&cfg.readLimit, "read-limit", resilientws.DefaultReadLimit,
		"largest message accepted, in `bytes`; a larger one makes rws reconnect")
	fs.StringVar(&cfg.binaryFormat, "binary-format", formatHex,
		"print binary messages in this `format`: hex or base64")
	fs.StringVar(&cfg.binaryIn, "binary-in", "",
		"send each line of stdin as a binary message, decoded from this `format`: hex or base64 (a line that does not decode is reported and not sent)")
	fs.BoolVar(&cfg.json, "json", false,
		"pretty-print text messages that are JSON (others are printed as they are)")
	fs.StringVar(&cfg.prefix, "prefix", prefixAuto,
		"`when` to print '< ' before each message received and '> ' before each line sent from a pipe or file (a line typed on the terminal is on screen already): auto (when stdout is a terminal), always or never")
	fs.IntVar(&cfg.count, "count", 0,
		"exit after `N` messages have been received (0: no limit)")
	fs.DurationVar(&cfg.timeout, "timeout", 0,
		"exit 1 if the first connection is not open within this `duration` (0: wait forever)")
	fs.DurationVar(&cfg.duration, "duration", 0,
		"exit after this `duration` (0: no limit)")
	fs.DurationVar(&cfg.linger, "linger", defaultLinger,
		"after the end of input, once every line is written, go on printing what arrives until nothing has for this `duration`, or the server closes; 0: close at once")
	fs.BoolVar(&cfg.quiet, "quiet", false,
		"print nothing on stderr but errors and dropped or resent messages: no connection events")
	fs.BoolVar(&cfg.noStdin, "no-stdin", false,
		"do not read stdin: only receive")
	fs.BoolVar(&cfg.resend, "resend", true,
		"write again, once, on the next connection, each line written just before a connection was lost that the server had not confirmed (the library's WithResend(1): it may then get it twice); -resend=false only reports it")
	return fs
}

// usageHead and usageTail frame the flag list printed by -h.
const usageHead = `Usage: rws [flags] [URL]

rws is a resilient WebSocket client. It connects to URL (ws, wss, http or
https; with no scheme, ws:// is assumed, or wss:// for port 443), prints
each message it receives on stdout (text as is, binary in hex or base64)
and sends each line of stdin as a text message (or, with -binary-in, as a
binary one). On a terminal, it prints "< " before what it receives and
"> " before the lines it sends from a pipe or file (-prefix); on a pipe,
the messages alone. It reconnects with exponential backoff after any
failure, detects dead connections with a heartbeat, queues the lines read
while the link is down, and sends again (once) a line the server may not
have received (see -resend). Connection events (state changes, errors,
reconnect attempts with their delays and what set them, heartbeat round
trips, dropped messages) go to stderr, in colour when stderr is a terminal
and NO_COLOR is not set.

Without a URL, rws runs a demo: it starts a local feed server on 127.0.0.1
that sends a JSON tick every 200ms, echoes what it receives, and misbehaves
on a fixed %s cycle:
%s
and connects to it with a 2s/1s heartbeat, so every recovery shows within a
minute.

At end of input, rws waits up to %s to be connected and to write the
lines read; then it goes on printing what arrives until the server closes
the connection or nothing has arrived for -linger (%s), and closes with
1000. So "printf 'hello\n' | rws URL" prints the reply, and "rws -linger 0
URL </dev/null" checks that URL answers. rws also stops after -count
messages; after -duration; on Ctrl-C or SIGTERM; or when the server refuses
for good. With -count or -duration, and in the demo, end of input does not
stop it: rws goes on receiving.

Flags (write them -flag or --flag, before or after the URL):
`

const usageTail = `
Exit status:
  0  clean finish: end of input (connected, every line written, then
     -linger or the server's close), -count messages received, -duration
     over, Ctrl-C or SIGTERM
  1  failure: the server refused the upgrade with a status that is not
     retried (4xx other than 408 and 429, such as 401 or 404; 2xx or 3xx,
     not a WebSocket endpoint), its certificate failed verification, it
     closed with a code that stops reconnecting (1002, 1003, 1007, 1008,
     1009, 1010), -timeout expired, or at end of input rws could not
     connect or write the lines read within %s
  2  usage error: bad flag, URL, header or option value, or a -cacert file
     that cannot be read or holds no certificate

Examples:
  rws                                             the demo
  rws -duration 20s -json                         the demo, pretty, for 20s
  rws ws://127.0.0.1:8080/ws                      an interactive session
  rws -c localhost:8080/ws -s chat                wscat's -c and -s
  printf 'hello\n' | rws ws://127.0.0.1:8080/echo
  printf '0001ff\n' | rws -binary-in hex localhost:8080/echo
  rws -H 'Authorization: Bearer TOKEN' -no-stdin wss://feed.example.com/v1
  rws -cacert dev-ca.pem wss://127.0.0.1:8443/ws  a server with its own CA
  rws -app-ping '{"request":"ping"}' -app-pong '"pong"' -app-pong-contains URL
`

// printUsage writes the -h text.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, usageHead, demoPeriod, demoScheduleText("  "), flushTimeout, defaultLinger)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, usageTail, flushTimeout)
}

// parseFlags parses args into a config. Flags may come before or after the
// URL. It returns errHelp for -h, and a usage error otherwise.
func parseFlags(args []string, help io.Writer) (*config, error) {
	cfg := &config{header: http.Header{}, set: map[string]bool{}}
	fs := newFlagSet(cfg)
	fs.SetOutput(io.Discard) // errors are reported by the caller
	fs.Usage = func() {}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printUsage(help, fs)
				return nil, errHelp
			}
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			positional = append(positional, rest...) // after "--": no more flags
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	fs.Visit(func(f *flag.Flag) { cfg.set[f.Name] = true })
	if cfg.set["c"] {
		positional = append([]string{cfg.connect}, positional...)
	}
	switch len(positional) {
	case 0:
	case 1:
		if positional[0] == "" {
			return nil, errors.New("empty URL")
		}
		cfg.url = withScheme(positional[0])
	default:
		return nil, fmt.Errorf("want at most one URL (-c or an argument), got %d: %q", len(positional), positional)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := cfg.loadTLS(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// loadTLS builds the TLS configuration of -insecure or -cacert.
func (c *config) loadTLS() error {
	switch {
	case c.insecure && c.set["cacert"]:
		return errors.New("-insecure and -cacert: give one or the other")
	case c.insecure:
		c.tlsConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for, with a warning
	case c.set["cacert"]:
		pem, err := os.ReadFile(c.caCert)
		if err != nil {
			return fmt.Errorf("-cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("-cacert: no PEM certificate in %s", c.caCert)
		}
		c.tlsConfig = &tls.Config{RootCAs: pool}
	}
	return nil
}

// withScheme returns raw with "ws://" in front if it has no scheme
// ("localhost:9001/echo"), or "wss://" if its port is 443, as wscat does.
func withScheme(raw string) string {
	if strings.Contains(raw, "://") {
		return raw
	}
	if u, err := url.Parse("ws://" + raw); err == nil && u.Port() == "443" {
		return "wss://" + raw
	}
	return "ws://" + raw
}

// check rejects flag values and combinations that make no sense. The values
// the library checks (queue, read limit, heartbeat durations) are left to
// resilientws.New.
func (c *config) check() error {
	switch {
	case c.count < 0:
		return fmt.Errorf("-count: must not be negative, got %d", c.count)
	case c.timeout < 0:
		return fmt.Errorf("-timeout: must not be negative, got %s", c.timeout)
	case c.duration < 0:
		return fmt.Errorf("-duration: must not be negative, got %s", c.duration)
	case c.linger < 0:
		return fmt.Errorf("-linger: must not be negative, got %s", c.linger)
	case c.binaryFormat != formatHex && c.binaryFormat != formatBase64:
		return fmt.Errorf("-binary-format: want hex or base64, got %q", c.binaryFormat)
	case c.prefix != prefixAuto && c.prefix != prefixAlways && c.prefix != prefixNever:
		return fmt.Errorf("-prefix: want auto, always or never, got %q", c.prefix)
	case c.binaryIn != "" && c.binaryIn != formatHex && c.binaryIn != formatBase64:
		return fmt.Errorf("-binary-in: want hex or base64, got %q", c.binaryIn)
	case c.binaryIn != "" && c.noStdin:
		return errors.New("-binary-in has no effect with -no-stdin")
	case c.backoffMin <= 0:
		return fmt.Errorf("-backoff-min: must be positive, got %s", c.backoffMin)
	case c.backoffMax < c.backoffMin:
		return fmt.Errorf("-backoff-max (%s) is less than -backoff-min (%s)", c.backoffMax, c.backoffMin)
	case c.set["app-ping"] && !c.set["app-pong"]:
		return errors.New("-app-ping needs -app-pong, the reply to expect")
	case c.set["app-pong"] && !c.set["app-ping"]:
		return errors.New("-app-pong needs -app-ping, the message to send")
	case c.appPongContains && !c.set["app-pong"]:
		return errors.New("-app-pong-contains needs -app-pong")
	case c.set["app-pong"] && c.appPong == "":
		return errors.New("-app-pong: the reply must not be empty")
	case c.set["app-ping"] && c.set["ping-interval"] && c.pingInterval == 0:
		return errors.New("-app-ping needs a positive -ping-interval")
	}
	return nil
}
