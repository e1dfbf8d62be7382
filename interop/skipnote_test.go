//go:build !js

package interop_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/resilientws/resilientws/internal/skipnote"
)

// withoutPeers is the environment of a test binary that finds no peer: no
// node on PATH, a python3 that cannot start, and no CI (which would fail
// the tests instead of skipping them).
func withoutPeers(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "CI", "PATH", "PYTHONHOME":
		default:
			env = append(env, kv)
		}
	}
	return append(env, "PATH="+t.TempDir(), "PYTHONHOME="+t.TempDir())
}

// A run without -v, as go test ./... makes, prints one line per missing
// peer on stderr, with the command that installs it, however many tests
// skip for it.
func TestMissingPeersAreNamedWithoutV(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^(TestEchoTextAndBinary|TestServerCloseCodes)$", "-test.count=1")
	cmd.Env = withoutPeers(t)
	skipnote.Detach(cmd) // no terminal: the notices go to stderr only
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	want := []struct{ prefix, suffix string }{
		{"SKIP the interop tests against node-ws: node is not on PATH", "(install Node.js, then run `npm ci` in interop/node)"},
		{"SKIP the interop tests against python-websockets: `/usr/bin/python3 -c 'import websockets'` failed", "run `apt-get install -y python3-websockets`"},
	}
	if len(lines) != len(want) {
		t.Fatalf("stderr has %d lines, want %d, one per peer:\n%s", len(lines), len(want), &stderr)
	}
	for _, w := range want { // in either order: the peers' subtests run in parallel
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, w.prefix) && strings.HasSuffix(l, w.suffix) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d stderr lines read %q ... %q, want one:\n%s", n, w.prefix, w.suffix, &stderr)
		}
	}
	if !strings.Contains(stdout.String(), "PASS") {
		t.Errorf("stdout:\n%s\nwant PASS", &stdout)
	}
}
