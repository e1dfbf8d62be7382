package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/resilientws/resilientws"
)

// config is the parsed command line.
type config struct {
	url          string      // "" runs the demo
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

	binaryFormat string
	json         bool

	count    int
	timeout  time.Duration
	duration time.Duration
	quiet    bool
	noStdin  bool
	resend   bool

	set map[string]bool // the flags given on the command line
}

// Binary formats for -binary-format.
const (
	formatHex    = "hex"
	formatBase64 = "base64"
)

// flushTimeout bounds the wait, at end of input, for the lines read to be
// written.
const flushTimeout = 10 * time.Second

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
	fs.Var(listFlag{&cfg.subprotocols}, "subprotocol",
		"offer a WebSocket `subprotocol` (repeatable, or a comma-separated list)")
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
	fs.BoolVar(&cfg.json, "json", false,
		"pretty-print text messages that are JSON (others are printed as they are)")
	fs.IntVar(&cfg.count, "count", 0,
		"exit after `N` messages have been received (0: no limit)")
	fs.DurationVar(&cfg.timeout, "timeout", 0,
		"exit 1 if the first connection is not open within this `duration` (0: wait forever)")
	fs.DurationVar(&cfg.duration, "duration", 0,
		"exit after this `duration` (0: no limit)")
	fs.BoolVar(&cfg.quiet, "quiet", false,
		"print nothing on stderr but errors and dropped or resent messages: no connection events")
	fs.BoolVar(&cfg.noStdin, "no-stdin", false,
		"do not read stdin: only receive")
	fs.BoolVar(&cfg.resend, "resend", true,
		"send again, once, each line written just before a connection was lost, which the server may not have received (it may then get it twice); -resend=false only reports it")
	return fs
}

// usageHead and usageTail frame the flag list printed by -h.
const usageHead = `Usage: rws [flags] [URL]

rws is a resilient WebSocket client. It connects to URL (ws, wss, http or
https), prints each message it receives on stdout (text as is, binary in hex
or base64) and sends each line of stdin as a text message. It reconnects
with exponential backoff after any failure, detects dead connections with a
heartbeat, queues the lines read while the link is down, and sends again
(once) a line the server may not have received (see -resend). Connection
events (state changes, errors, reconnect attempts with their delays and
what set them, heartbeat round trips, dropped messages) go to stderr, in
colour when stderr is a terminal and NO_COLOR is not set.

Without a URL, rws runs a demo: it starts a local feed server on 127.0.0.1
that sends a JSON tick every 200ms, echoes what it receives, and misbehaves
on a fixed %s cycle:
%s
and connects to it with a 2s/1s heartbeat, so every recovery shows within a
minute.

rws stops at end of input, once connected and once the lines read have been
written (it waits up to %s for that, so "rws URL </dev/null" checks that
URL answers); after -count messages; after -duration; on Ctrl-C or SIGTERM;
or when the server refuses for good. With -count or -duration, and in the
demo, end of input does not stop it: rws goes on receiving.

Flags (write them -flag or --flag, before or after the URL):
`

const usageTail = `
Exit status:
  0  clean finish: end of input (connected, every line written), -count
     messages received, -duration over, Ctrl-C or SIGTERM
  1  failure: the server refused the upgrade with a status that is not
     retried (4xx other than 408 and 429, such as 401 or 404), closed with a
     code that stops reconnecting (1002, 1003, 1007, 1008, 1009, 1010),
     -timeout expired, or at end of input rws could not connect or write
     the lines read within %s
  2  usage error: bad flag, URL, header or option value

Examples:
  rws                                             the demo
  rws -duration 20s -json                         the demo, pretty, for 20s
  rws ws://127.0.0.1:8080/ws                      an interactive session
  printf 'hello\n' | rws -count 1 ws://127.0.0.1:8080/echo
  rws -H 'Authorization: Bearer TOKEN' -no-stdin wss://feed.example.com/v1
  rws -app-ping '{"request":"ping"}' -app-pong '"pong"' -app-pong-contains URL
`

// printUsage writes the -h text.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, usageHead, demoPeriod, demoScheduleText("  "), flushTimeout)
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
	switch len(positional) {
	case 0:
	case 1:
		cfg.url = positional[0]
		if cfg.url == "" {
			return nil, errors.New("empty URL")
		}
	default:
		return nil, fmt.Errorf("want at most one URL, got %d arguments: %q", len(positional), positional)
	}
	return cfg, cfg.check()
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
	case c.binaryFormat != formatHex && c.binaryFormat != formatBase64:
		return fmt.Errorf("-binary-format: want hex or base64, got %q", c.binaryFormat)
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
