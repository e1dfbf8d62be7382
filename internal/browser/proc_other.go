//go:build !unix && !js

package browser

import "os/exec"

// ownGroup does nothing where process groups are not Unix ones.
func ownGroup(*exec.Cmd) {}

// killGroup kills the process cmd started.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
