//go:build !unix && !js

package skipnote

import "os/exec"

// Detach does nothing: Print writes to no terminal here.
func Detach(*exec.Cmd) {}
