//go:build !js

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws"
)

// messagePrinter writes received messages on stdout, one Write per message,
// and, when marks and echo are set, the lines sent. It is safe for
// concurrent use: the event goroutine prints what arrives, the stdin reader
// what is sent.
type messagePrinter struct {
	w      io.Writer
	json   bool   // pretty-print JSON text messages
	binary string // formatHex or formatBase64
	// marks puts "< " before each message received (and indents its other
	// lines); with echo, each line sent is printed too, after "> ".
	marks, echo bool

	mu  sync.Mutex // guards buf and orders the writes
	buf bytes.Buffer
	out bytes.Buffer // with marks: buf, marked
}

// Marks of -prefix.
const (
	markReceived = "< "
	markSent     = "> "
)

// print writes m followed by a newline: text as is (indented when -json and
// the text is JSON), binary in hex or base64; after "< " with marks.
func (p *messagePrinter) print(m resilientws.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Reset()
	switch {
	case m.Type == resilientws.Binary && p.binary == formatBase64:
		p.buf.Grow(base64.StdEncoding.EncodedLen(len(m.Data)) + 1)
		enc := base64.NewEncoder(base64.StdEncoding, &p.buf)
		_, _ = enc.Write(m.Data) // a bytes.Buffer does not fail
		_ = enc.Close()
	case m.Type == resilientws.Binary:
		p.buf.Grow(hex.EncodedLen(len(m.Data)) + 1)
		enc := hex.NewEncoder(&p.buf)
		_, _ = enc.Write(m.Data)
	case p.json && json.Valid(m.Data):
		_ = json.Indent(&p.buf, bytes.TrimSpace(m.Data), "", "  ") // valid JSON: no error
	default:
		p.buf.Write(m.Data)
	}
	p.buf.WriteByte('\n')
	if !p.marks {
		_, err := p.w.Write(p.buf.Bytes())
		return err
	}
	p.out.Reset()
	p.out.WriteString(markReceived)
	body := p.buf.Bytes()
	for { // the other lines are indented under the first
		i := bytes.IndexByte(body, '\n')
		p.out.Write(body[:i+1])
		if body = body[i+1:]; len(body) == 0 {
			break
		}
		p.out.WriteString("  ")
	}
	_, err := p.w.Write(p.out.Bytes())
	return err
}

// sent prints a line of stdin about to be sent, after "> ", if marks and
// echo are set.
func (p *messagePrinter) sent(line []byte) error {
	if !p.marks || !p.echo {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out.Reset()
	p.out.WriteString(markSent)
	p.out.Write(line)
	p.out.WriteByte('\n')
	_, err := p.w.Write(p.out.Bytes())
	return err
}

// isTerminal reports whether f is a character device: a terminal, as far as
// rws can tell without a dependency (or /dev/null, which prints nothing).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// ANSI colours for the tags of status lines.
const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiDim     = "\x1b[2m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiBlue    = "\x1b[34m"
	ansiMagenta = "\x1b[35m"
	ansiCyan    = "\x1b[36m"
)

// Tags of status lines, each with its colour.
const (
	tagConnecting = "CONNECTING"
	tagOpen       = "OPEN"
	tagClosing    = "CLOSING"
	tagClosed     = "CLOSED"
	tagError      = "error"
	tagReconnect  = "reconnect"
	tagHeartbeat  = "heartbeat"
	tagDropped    = "dropped"
	tagResend     = "resend"
	tagServer     = "server"
	tagDemo       = "demo"
	tagInput      = "stdin"
	tagWarning    = "warning"
)

var tagColours = map[string]string{
	tagConnecting: ansiYellow,
	tagOpen:       ansiGreen + ansiBold,
	tagClosing:    ansiYellow,
	tagClosed:     ansiYellow + ansiBold,
	tagError:      ansiRed,
	tagReconnect:  ansiCyan,
	tagHeartbeat:  ansiDim,
	tagDropped:    ansiMagenta,
	tagResend:     ansiMagenta,
	tagServer:     ansiBlue + ansiBold,
	tagDemo:       ansiBlue,
	tagInput:      ansiMagenta,
	tagWarning:    ansiRed + ansiBold,
}

// tagWidth aligns the messages of status lines.
const tagWidth = len(tagConnecting)

// statusPrinter writes status lines on stderr: "15:04:05.000 TAG  message".
// It is safe for concurrent use: the event goroutine, the main loop, the
// stdin reader and the demo server all write to it.
type statusPrinter struct {
	mu     sync.Mutex // serialises writes
	w      io.Writer
	quiet  bool
	colour bool
	now    func() time.Time
}

func newStatusPrinter(w io.Writer, quiet, colour bool) *statusPrinter {
	return &statusPrinter{w: w, quiet: quiet, colour: colour, now: time.Now}
}

// event prints a status line, unless -quiet.
func (p *statusPrinter) event(tag, format string, args ...any) {
	if p.quiet {
		return
	}
	p.line(tag, format, args...)
}

// warn prints a status line even with -quiet: dropped and resent messages,
// lines not sent.
func (p *statusPrinter) warn(tag, format string, args ...any) {
	p.line(tag, format, args...)
}

func (p *statusPrinter) line(tag, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	ts := p.now().Format("15:04:05.000")
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.colour {
		fmt.Fprintf(p.w, "%s%s%s %s%-*s%s %s\n", ansiDim, ts, ansiReset, tagColours[tag], tagWidth, tag, ansiReset, msg)
		return
	}
	fmt.Fprintf(p.w, "%s %-*s %s\n", ts, tagWidth, tag, msg)
}

// fatal prints the error that ends rws, always: "rws: message".
func (p *statusPrinter) fatal(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.colour {
		fmt.Fprintf(p.w, "%s%srws:%s %s\n", ansiRed, ansiBold, ansiReset, msg)
		return
	}
	fmt.Fprintf(p.w, "rws: %s\n", msg)
}

// colourEnabled reports whether w is a terminal that should get colour:
// NO_COLOR is unset or empty, TERM is not "dumb", and w is a character
// device.
func colourEnabled(w io.Writer, getenv func(string) string) bool {
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(w)
}

// statusNames are the short names of the close codes, as in RFC 6455.
var statusNames = map[websocket.StatusCode]string{
	websocket.StatusNormalClosure:           "normal closure",
	websocket.StatusGoingAway:               "going away",
	websocket.StatusProtocolError:           "protocol error",
	websocket.StatusUnsupportedData:         "unsupported data",
	websocket.StatusNoStatusRcvd:            "no status",
	websocket.StatusAbnormalClosure:         "abnormal closure, no close frame",
	websocket.StatusInvalidFramePayloadData: "invalid payload data",
	websocket.StatusPolicyViolation:         "policy violation",
	websocket.StatusMessageTooBig:           "message too big",
	websocket.StatusMandatoryExtension:      "mandatory extension",
	websocket.StatusInternalError:           "internal error",
	websocket.StatusServiceRestart:          "service restart",
	websocket.StatusTryAgainLater:           "try again later",
	websocket.StatusBadGateway:              "bad gateway",
}

// describeCode formats a close code as "1006 (abnormal closure...)".
func describeCode(code websocket.StatusCode) string {
	if name, ok := statusNames[code]; ok {
		return fmt.Sprintf("%d (%s)", int(code), name)
	}
	return fmt.Sprintf("%d", int(code))
}

// fmtDuration rounds d for display: to the microsecond below 10ms, to the
// millisecond above.
func fmtDuration(d time.Duration) string {
	if d < 10*time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// describeMessage summarises a message for a status line: its size, type
// and the start of its content.
func describeMessage(m resilientws.Message) string {
	kind := "text"
	if m.Type == resilientws.Binary {
		kind = "binary"
	}
	const previewLen = 40
	var preview string
	if m.Type == resilientws.Text {
		s := string(m.Data)
		if len(s) > previewLen {
			s = s[:previewLen] + "..."
		}
		preview = fmt.Sprintf(" %q", s)
	}
	return fmt.Sprintf("%d-byte %s message%s", len(m.Data), kind, preview)
}
