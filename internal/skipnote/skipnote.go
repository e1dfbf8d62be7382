//go:build !js

// Package skipnote tells the person running the tests about a suite that
// skipped for want of a peer or a browser, in a run without -v: the
// interop tests without Node's ws or Python's websockets, the browser tests
// without Chromium.
//
// go test ./... shows nothing that a passing package prints, skips
// included, unless -v is given. So Print writes its line to stderr, which
// go test shows when it runs one package from its directory (go test) and
// a test binary run by hand shows always, and also to the terminal
// (/dev/tty) when stderr is not one, as under go test ./..., which would
// otherwise swallow it. With -v, which shows the skip itself, it prints
// nothing. A result go test takes from its cache reruns nothing, so it
// prints nothing either.
package skipnote

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

var (
	mu      sync.Mutex
	printed = map[string]bool{}
)

// Print writes "SKIP what: why", once per test process, where the person
// running the tests sees it in a run without -v (see the package
// documentation). why should end with the command that installs what is
// missing.
func Print(what, why string) {
	if testing.Verbose() {
		return
	}
	line := "SKIP " + what + ": " + why
	mu.Lock()
	defer mu.Unlock()
	if printed[line] {
		return
	}
	printed[line] = true
	fmt.Fprintln(os.Stderr, line)
	if isTerminal(os.Stderr) {
		return
	}
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return // no terminal: a CI job, a process started without one
	}
	fmt.Fprintln(tty, line)
	tty.Close()
}

// isTerminal reports whether f is a character device, such as a terminal
// (or /dev/null, where nothing more is wanted either).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
