//go:build !js

// Package browser runs Go programs compiled to WebAssembly in headless
// Chromium, for the browser tests of resilientws and of its browser example.
// It builds the .wasm with the go command on PATH, serves it with that
// toolchain's wasm_exec.js, starts Chromium and drives one page through the
// Chrome DevTools Protocol, with a small client over coder/websocket: it
// needs no other module.
//
// Chromium is found by Find. Tests call Require, which skips the test with
// the reason when Chromium is missing, or fails it when the CI environment
// variable is set (CI=true), as the interop tests do: CI must run the
// browser tests.
package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resilientws/resilientws/internal/skipnote"
)

// candidates are the names Find looks for on PATH, in order.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"}

// Find returns the path of Chromium (or Chrome): $RESILIENTWS_CHROMIUM if
// set, else the first of chromium, chromium-browser, google-chrome,
// google-chrome-stable and chrome found on PATH.
func Find() (string, error) {
	if p := os.Getenv("RESILIENTWS_CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chromium found: none of %s is on PATH, and RESILIENTWS_CHROMIUM is not set "+
		"(on Debian or Ubuntu: apt-get install chromium)", strings.Join(candidates, ", "))
}

// Require returns Chromium's path. Without one it skips the test, saying
// why, or fails it when the environment variable CI is set.
func Require(t testing.TB) string {
	t.Helper()
	p, err := Find()
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" {
			t.Fatalf("CI=%s, so the browser test fails instead of skipping: %v", ci, err)
		}
		what := t.Name()
		if wd, werr := os.Getwd(); werr == nil { // the test's package
			what += " in " + wd
		}
		skipnote.Print(what, err.Error())
		t.Skipf("skipping the browser test: %v", err)
	}
	return p
}

// Build runs the go command with GOOS=js and GOARCH=wasm in dir, with args
// such as "build", "-o", out, "./client" or "test", "-c", "-o", out, ".".
// A -race in GOFLAGS is left out: js/wasm has no race detector.
func Build(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var flags []string
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if f != "-race" && f != "--race" && f != "-race=true" {
			flags = append(flags, f)
		}
	}
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "GOFLAGS="+strings.Join(flags, " "))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("GOOS=js GOARCH=wasm go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// WasmExec returns the wasm_exec.js of the go command on PATH: the one that
// matches the .wasm files Build makes (the page breaks with another).
func WasmExec(ctx context.Context) ([]byte, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT: %w", err)
	}
	root := strings.TrimSpace(string(out))
	var errs []error
	for _, rel := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} { // Go 1.24+, then older
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err == nil {
			return b, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no wasm_exec.js in GOROOT %s: %w", root, errors.Join(errs...))
}

// Files serves a Go wasm program: wasm_exec.js and the .wasm at the paths
// the runner page (Runner) loads, with the MIME type that
// WebAssembly.instantiateStreaming needs.
func Files(wasmExec []byte, wasmPath string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeContent(w, r, "wasm_exec.js", startTime, bytes.NewReader(wasmExec))
	})
	mux.HandleFunc("GET /main.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, wasmPath)
	})
	return mux
}

// ExitMarker begins the console line the runner page logs when the Go
// program exits, followed by its exit code; a program that failed to load
// logs it with code -1.
const ExitMarker = "__go_exit__ "

// Runner returns a page that runs main.wasm with argv (after the program's
// name) and env, and logs ExitMarker and the exit code when it ends. The
// program's standard output and error reach the console line by line.
func Runner(argv []string, env map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString("<!doctype html>\n<meta charset=utf-8>\n<title>Go wasm</title>\n<script src=\"wasm_exec.js\"></script>\n<script>\n")
	b.WriteString("const go = new Go();\n")
	fmt.Fprintf(&b, "go.argv = [\"main.wasm\"%s];\n", jsStrings(argv))
	b.WriteString("go.env = {")
	first := true
	for k, v := range env {
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "%s: %s", jsString(k), jsString(v))
	}
	b.WriteString("};\n")
	fmt.Fprintf(&b, "go.exit = (code) => console.log(%s + code);\n", jsString(ExitMarker))
	fmt.Fprintf(&b, "WebAssembly.instantiateStreaming(fetch(\"main.wasm\"), go.importObject)\n"+
		"  .then((r) => go.run(r.instance))\n"+
		"  .catch((e) => { console.error(\"loading main.wasm: \" + e); console.log(%s + \"-1\"); });\n</script>\n", jsString(ExitMarker))
	return b.Bytes()
}

func jsStrings(ss []string) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(", ")
		b.WriteString(jsString(s))
	}
	return b.String()
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == '<' || r == '>' || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
