//go:build !js

// Command rws is a resilient WebSocket client for the terminal, built on
// resilientws: it prints what a server sends, sends what you type, and
// rides out dropped connections, refused handshakes and silent peers.
//
// Install it with
//
//	go install github.com/resilientws/resilientws/cmd/rws@latest
//
// rws URL prints each message received on stdout and sends each line of
// stdin as a text message (binary, decoded from hex or base64, with
// -binary-in); connection events go to stderr. On a terminal, what is
// received is marked "< " and what is sent from a pipe "> ". Lines read
// while the link is down are queued, and a line written just before a
// connection was lost, which the server may not have received, is sent
// again once (-resend=false only reports it): the server may then get it
// twice. At the end of input it prints the replies until the server closes
// or none has come for -linger (1s), then closes with 1000. rws with no URL
// runs a demo against an embedded server that misbehaves on a fixed cycle.
// rws -h lists the flags and the exit codes.
//
// # The demo
//
// go run ./cmd/rws starts a feed server on 127.0.0.1 that sends a JSON tick
// every 200ms and echoes what it receives, and connects to it with a 2s/1s
// heartbeat. On a 30s cycle the server drops every connection without a
// close frame (at 5s), closes with 1012 and answers 503 with Retry-After: 2
// for 3s (at 11s), and goes silent with TCP open for 5s (at 20s): each
// failure, each wait with what set it, and each recovery show on stderr.
//
// # Exit status
//
//	0  clean finish: end of input, -count, -duration, Ctrl-C or SIGTERM
//	1  failure: a refusal that is not retried (a 4xx other than 408 and
//	   429, a 2xx or 3xx: not a WebSocket endpoint), a certificate that
//	   fails verification, a close code that stops reconnecting, -timeout,
//	   or lines that could not be written within 10s of the end of input
//	2  usage: a bad flag, URL, header, option value or -cacert file
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/resilientws/resilientws"
)

// Exit codes.
const (
	exitOK      = 0 // clean finish
	exitFailure = 1 // permanent failure, -timeout, lines not written
	exitUsage   = 2 // bad flag, URL, header, option value or -cacert file
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is rws: it parses args, connects, and returns the exit code once the
// session is over. SIGINT and SIGTERM end it cleanly; after the first, a
// second one kills the process.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	status := newStatusPrinter(stderr, cfg != nil && cfg.quiet, colourEnabled(stderr, os.Getenv))
	if err != nil {
		status.fatal("%v", err)
		fmt.Fprintln(stderr, "Run 'rws -h' for usage.")
		return exitUsage
	}

	if cfg.insecure {
		status.warn(tagWarning, "-insecure: the server's TLS certificate is not verified; anyone on the path can read and change this session")
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	demo := cfg.url == ""
	if demo {
		srv, err := startDemo(status)
		if err != nil {
			status.fatal("%v", err)
			return exitFailure
		}
		defer srv.close() // after the client's Close: deferred first
		cfg.url = srv.url
		if !cfg.set["ping-interval"] {
			cfg.pingInterval = demoPingInterval
		}
		if !cfg.set["ping-timeout"] {
			cfg.pingTimeout = demoPingTimeout
		}
	}

	out := &messagePrinter{w: stdout, json: cfg.json, binary: cfg.binaryFormat}
	out.marks = cfg.prefix == prefixAlways || cfg.prefix == prefixAuto && isTerminal(stdout)
	out.echo = !isTerminal(stdin) // the terminal shows what is typed
	s := newSession(cfg, out, status, demo)
	client, err := resilientws.New(cfg.url, s.options()...)
	if err != nil {
		status.fatal("%v", err)
		fmt.Fprintln(stderr, "Run 'rws -h' for usage.")
		return exitUsage
	}
	s.client = client
	if demo {
		status.event(tagDemo, "no URL given: started a local feed server at %s; it misbehaves every %s (see rws -h)", cfg.url, demoPeriod)
		status.event(tagDemo, "heartbeat %s/%s and backoff reset after %s of uptime, for the demo (defaults %s/%s and %s)",
			cfg.pingInterval, cfg.pingTimeout, demoStableAfter,
			resilientws.DefaultHeartbeatInterval, resilientws.DefaultHeartbeatTimeout, resilientws.DefaultStableAfter)
		if cfg.resend {
			status.event(tagDemo, "type a line to send it: the server echoes it, even if you type it during an outage; Ctrl-C stops")
		} else {
			status.event(tagDemo, "type a line to send it: the server echoes it, but with -resend=false not one lost in an outage; Ctrl-C stops")
		}
	}
	status.event(tagConnecting, "%s", cfg.url)
	if err := client.Start(); err != nil {
		status.fatal("%v", err)
		return exitFailure
	}
	return s.loop(ctx, stopSignals, stdin)
}

// loop runs the session until one of its ends, closes the client and
// returns the exit code.
func (s *session) loop(ctx context.Context, stopSignals func(), stdin io.Reader) int {
	cfg, c := s.cfg, s.client

	var inputDone chan struct{}
	inputCtx, stopInput := context.WithCancel(ctx)
	defer stopInput()
	if !cfg.noStdin {
		inputDone = make(chan struct{})
		go s.readInput(inputCtx, stdin, inputDone)
	}

	var timeout, deadline <-chan time.Time
	if cfg.timeout > 0 {
		t := time.NewTimer(cfg.timeout)
		defer t.Stop()
		timeout = t.C
	}
	if cfg.duration > 0 {
		t := time.NewTimer(cfg.duration)
		defer t.Stop()
		deadline = t.C
	}

	// After the end of input and the flush: the quiet period of -linger.
	var (
		linger      *time.Timer
		lingerC     <-chan time.Time
		lingerStart time.Time
	)
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()

	// The flush at end of input runs aside, so the other ends still count.
	var (
		flushed chan error
		flushWG sync.WaitGroup
	)
	flushCtx, stopFlush := context.WithCancel(ctx)
	defer func() { stopFlush(); flushWG.Wait() }()

	opened := s.opened
	for {
		select {
		case <-ctx.Done():
			stopSignals() // a second signal kills
			return s.close("interrupted", exitOK, false)
		case <-inputDone:
			inputDone = nil
			if !s.endOnEOF {
				continue
			}
			s.inputEnded.Store(true)
			s.log.event(tagClosing, "end of input: writing what is queued (at most %s)", flushTimeout)
			flushed = make(chan error, 1)
			flushWG.Add(1)
			go func() {
				defer flushWG.Done()
				flushed <- s.flush(flushCtx)
			}()
		case err := <-flushed:
			switch {
			case err == nil && cfg.linger == 0:
				return s.close("end of input: done", exitOK, true)
			case err == nil:
				s.log.event(tagClosing, "end of input: every line written; printing what arrives until %s pass with nothing, or the server closes", cfg.linger)
				lingerStart = time.Now()
				linger = time.NewTimer(cfg.linger)
				lingerC = linger.C
				continue
			case ctx.Err() != nil:
				continue // interrupted: handled above
			case c.Err() != nil:
				continue // the client stopped for good: handled below
			}
			if errors.Is(err, errNeverOpened) {
				err = fmt.Errorf("%w within %s of the end of input", err, flushTimeout)
				if last := s.lastError(); last != nil {
					err = fmt.Errorf("%w (last error: %v)", err, last)
				}
			}
			s.log.fatal("%v", err)
			return s.close("end of input", exitFailure, false)
		case <-lingerC:
			last := lingerStart
			if recv := time.Unix(0, s.lastRecv.Load()); recv.After(last) {
				last = recv
			}
			if wait := cfg.linger - time.Since(last); wait > 0 {
				linger.Reset(wait) // something arrived meanwhile
				continue
			}
			return s.close(fmt.Sprintf("end of input: nothing received for %s", cfg.linger), exitOK, true)
		case <-s.counted:
			return s.close(fmt.Sprintf("%d message(s) received", cfg.count), exitOK, false)
		case <-deadline:
			return s.close(fmt.Sprintf("-duration %s is over", cfg.duration), exitOK, false)
		case <-opened:
			opened, timeout = nil, nil
		case <-timeout:
			select {
			case <-s.opened: // opened at the same moment: not a timeout
				opened, timeout = nil, nil
				continue
			default:
			}
			msg := fmt.Sprintf("not connected within %s", cfg.timeout)
			if err := s.lastError(); err != nil {
				msg += fmt.Sprintf(" (last error: %v)", err)
			}
			s.log.fatal("%s", msg)
			return s.close("timeout", exitFailure, false)
		case <-c.Done():
			if s.serverEnded.Load() {
				return exitOK // the server closed after the end of input; onClose said so
			}
			s.log.fatal("%s", describeFailure(c.Err()))
			return exitFailure
		case <-s.failed:
			s.log.fatal("%v", s.failErr)
			return s.close("error", exitFailure, false)
		}
	}
}

// errNeverOpened reports an end of input before any connection opened.
var errNeverOpened = errors.New("not connected")

// flush waits, at most flushTimeout, for the first connection to open and
// for everything queued to be written. Waiting for the connection makes
// "rws URL </dev/null" a connectivity check, and reports a refusal.
func (s *session) flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	select {
	case <-s.opened:
	case <-ctx.Done():
		return errNeverOpened
	}
	if err := s.client.Flush(ctx); err != nil {
		return fmt.Errorf("not every line was written: %w", err)
	}
	return nil
}

// close closes the client, saying why, and returns code; or exitFailure if
// strict and queued messages were abandoned (each is reported by OnDrop).
func (s *session) close(why string, code int, strict bool) int {
	s.log.event(tagClosing, "%s", why)
	if err := s.client.Close(); err != nil {
		s.log.warn(tagDropped, "%v", err)
		if strict {
			return exitFailure
		}
	}
	return code
}
