//go:build !js

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/resilientws/resilientws"
)

// maxLine is the longest line sent: the send queue's byte limit.
const maxLine = resilientws.DefaultQueueBytes

// readInput sends each line of r, without its line ending, as a text
// message (binary with -binary-in), in order. Lines read while the client
// is disconnected are queued; when the queue is full, Send waits, and so
// does the reading (backpressure on whatever feeds stdin). It closes done when it stops: at the end of
// input, on a read error, when ctx ends or when the client has stopped.
//
// Owner: run. Stop signal: ctx or the end of input. It is not joined: a read
// from a terminal cannot be interrupted, and the process exits anyway.
func (s *session) readInput(ctx context.Context, r io.Reader, done chan<- struct{}) {
	defer close(done)
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, size, long, err := readLine(br, maxLine)
		if size > 0 || err == nil {
			if !s.sendLine(ctx, n, line, long) {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.log.warn(tagInput, "reading stdin: %v", err)
			}
			return
		}
	}
}

// sendLine queues line number n, as text or, with -binary-in, decoded as
// binary. It returns false once nothing more can be sent: ctx ended or the
// client stopped.
func (s *session) sendLine(ctx context.Context, n int, line []byte, long bool) bool {
	if long {
		s.log.warn(tagInput, "line %d not sent: longer than %d bytes", n, maxLine)
		return true
	}
	typ, data := resilientws.Text, line
	if s.cfg.binaryIn != "" {
		var err error
		if data, err = decodeLine(s.cfg.binaryIn, line); err != nil {
			s.log.warn(tagInput, "line %d not sent: -binary-in %s: %v", n, s.cfg.binaryIn, err)
			return true
		}
		typ = resilientws.Binary
	}
	// Shown before Send, so that it comes before the reply to it.
	if err := s.out.sent(line); err != nil {
		s.fail(fmt.Errorf("writing to stdout: %w", err))
		return false
	}
	err := s.client.Send(ctx, typ, data)
	switch {
	case err == nil:
		return true
	case ctx.Err() != nil, errors.Is(err, resilientws.ErrClosed):
		return false
	}
	s.log.warn(tagInput, "line %d not sent: %v", n, err)
	return true
}

// readLine reads one line and returns it without its "\n" or "\r\n"; size
// counts the bytes consumed. A line longer than limit is consumed but not
// returned: long is true and line nil. err is non-nil only at the end of
// input (io.EOF) or on a read error; line then holds what came before it,
// if anything (size > 0).
func readLine(br *bufio.Reader, limit int) (line []byte, size int, long bool, err error) {
	for {
		chunk, e := br.ReadSlice('\n')
		size += len(chunk)
		if !long {
			line = append(line, chunk...)
			if len(line) > limit+2 { // room for "\r\n"
				line, long = nil, true
			}
		}
		if e == bufio.ErrBufferFull {
			continue
		}
		err = e
		break
	}
	if !long {
		n := len(line)
		if n > 0 && line[n-1] == '\n' {
			n--
			if n > 0 && line[n-1] == '\r' {
				n--
			}
		}
		line = line[:n]
		long = len(line) > limit
		if long {
			line = nil
		}
	}
	return line, size, long, err
}

// decodeLine decodes a line of -binary-in input: hex or standard base64
// (padded), spaces and tabs around it ignored.
func decodeLine(format string, line []byte) ([]byte, error) {
	line = bytes.Trim(line, " \t")
	var (
		out []byte
		n   int
		err error
	)
	if format == formatBase64 {
		out = make([]byte, base64.StdEncoding.DecodedLen(len(line)))
		n, err = base64.StdEncoding.Decode(out, line)
	} else {
		out = make([]byte, hex.DecodedLen(len(line)))
		n, err = hex.Decode(out, line)
	}
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}
