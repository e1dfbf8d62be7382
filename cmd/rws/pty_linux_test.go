//go:build !js

package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair: the test reads and writes master,
// rws gets slave as a terminal. It skips the test if there is no /dev/ptmx.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var n uint32
	var ioctlErr error
	rc, err := master.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	err = rc.Control(func(fd uintptr) {
		var unlock int32
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
			ioctlErr = e
			return
		}
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
			ioctlErr = e
		}
	})
	if err == nil {
		err = ioctlErr
	}
	if err != nil {
		master.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	return master, slave
}

// runOnPTY runs rws with its stdout on a pseudo-terminal, and its stdin
// too if input is typed (else input is piped), and returns its exit code
// and what the terminal showed, "\r\n" made "\n".
func runOnPTY(t *testing.T, typed bool, input string, args ...string) (int, string) {
	t.Helper()
	master, slave := openPTY(t)
	defer master.Close()
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, rwsBin, args...)
	cmd.Env = childEnv
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout = slave
	stderr := newLineBuffer()
	cmd.Stderr = stderr
	if typed {
		cmd.Stdin = slave
	} else {
		cmd.Stdin = strings.NewReader(input)
	}
	if err := cmd.Start(); err != nil {
		slave.Close()
		t.Fatal(err)
	}
	slave.Close() // rws holds it now: the master reads EIO once rws exits
	screen := newLineBuffer()
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(screen, master) // ends with EIO when rws exits
	}()
	if typed {
		if _, err := io.WriteString(master, input+"\x04"); err != nil { // ^D: end of input
			t.Error(err)
		}
	}
	err := cmd.Wait()
	master.Close() // in case the copy still waits
	<-copied
	if ctx.Err() != nil {
		t.Fatalf("rws %q did not finish within %s\nscreen:\n%s\nstderr:\n%s", args, processTimeout, screen, stderr)
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("rws %q: %v", args, err)
	}
	return code, strings.ReplaceAll(screen.String(), "\r\n", "\n")
}

// On a terminal, rws marks what it receives with "< ", and what it sends
// from a pipe with "> "; a line typed on the terminal is on screen already
// (the terminal echoes it), so rws does not repeat it. -prefix never turns
// the marks off.
func TestPrefixOnTerminal(t *testing.T) {
	t.Parallel()
	srv := newWSServer(t, serverOpts{serve: echo(nil)})
	for _, tc := range []struct {
		name   string
		typed  bool
		prefix string
		want   string
	}{
		{"piped", false, "auto", "> hello\n< hello\n"},
		{"typed", true, "auto", "hello\n< hello\n"},
		{"typed never", true, "never", "hello\nhello\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, screen := runOnPTY(t, tc.typed, "hello\n", "-prefix", tc.prefix, srv.url)
			if code != exitOK || screen != tc.want {
				t.Errorf("exit %d, screen %q; want 0 and %q", code, screen, tc.want)
			}
		})
	}
}
