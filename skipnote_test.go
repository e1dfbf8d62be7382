//go:build !js

package resilientws

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/resilientws/resilientws/internal/skipnote"
)

// A run without -v, as go test ./... makes, prints one line when the
// browser suite skips for want of Chromium, with the command that installs
// it.
func TestMissingBrowserIsNamedWithoutV(t *testing.T) {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "CI", "PATH", "RESILIENTWS_CHROMIUM": // CI would fail the suite instead
		default:
			env = append(env, kv)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrowser$", "-test.count=1")
	cmd.Env = append(env, "PATH="+t.TempDir())
	skipnote.Detach(cmd) // no terminal: the notice goes to stderr only
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	want := "SKIP TestBrowser in " + wd + ": no Chromium found: none of chromium, chromium-browser, google-chrome, " +
		"google-chrome-stable, chrome is on PATH, and RESILIENTWS_CHROMIUM is not set (on Debian or Ubuntu: apt-get install chromium)\n"
	if stderr.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", &stderr, want)
	}
}
