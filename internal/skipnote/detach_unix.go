//go:build unix

package skipnote

import (
	"os/exec"
	"syscall"
)

// Detach starts cmd in a session of its own, without a terminal: a test of
// the notices runs a test binary so, and its notices then go to the pipe
// it reads, not to the terminal of the person running the tests.
func Detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}
