//go:build !js

// Command browser runs the resilientws client in a web page. It builds the
// client in ./client to WebAssembly with the go command you already have,
// starts a local feed server that misbehaves on a schedule, and serves a
// page where the Go client shows, live, its state, each reconnect with its
// delay, the heartbeat, the messages, and a box to send a message (queued
// while the link is down). Open the URL it prints.
//
//	go run ./examples/browser                       # until Ctrl-C
//	go run ./examples/browser -addr 127.0.0.1:8080  # a fixed port
//	go run ./examples/browser -duration 1m          # stops by itself
//	go run ./examples/browser -screenshot demo.png  # a PNG of the page after 20 s, then stops
//
// -screenshot opens the page in headless Chromium (found as the browser
// tests find it: chromium on PATH, or $RESILIENTWS_CHROMIUM), lets it run
// for -screenshot-after of real time and saves what it shows. Chromium's own
// --screenshot does not do: it shoots at the load event, before the client
// has run, and --virtual-time-budget runs the page's timers ahead of the
// real network, so the page shows heartbeat timeouts that never happened.
// The example's test (go test -run TestPageThroughOneFaultCycle -v
// ./examples/browser) also saves a screenshot, at the end of a fault cycle.
//
// The feed sends a tick every half second on each connection, echoes what
// the page sends and answers the application ping {"request":"ping"} with
// {"response":"pong"} (a page has no protocol ping). Its cycle (-cycle,
// 30 s by default) starts when the page first connects; it is printed at
// start.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

//go:embed index.html
var indexHTML []byte

func main() {
	var cfg config
	addr := flag.String("addr", "127.0.0.1:0", "address of the page's HTTP server")
	duration := flag.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	flag.DurationVar(&cfg.cycle, "cycle", 30*time.Second, "length of the feed's misbehaviour cycle")
	flag.DurationVar(&cfg.heartbeat, "heartbeat", 2*time.Second, "the client's application ping interval")
	flag.DurationVar(&cfg.heartbeatTimeout, "heartbeat-timeout", time.Second, "the time a pong may take")
	flag.StringVar(&cfg.screenshot, "screenshot", "", "save a PNG of the page, in headless Chromium, to this file, then stop")
	flag.DurationVar(&cfg.screenshotAfter, "screenshot-after", 20*time.Second, "how long the page runs before -screenshot")
	flag.Parse()
	log.SetOutput(os.Stdout)
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if err := run(*addr, *duration, cfg); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

// config is what the demo needs besides its address.
type config struct {
	cycle                       time.Duration
	heartbeat, heartbeatTimeout time.Duration
	screenshot                  string        // a file for a PNG of the page; "": none
	screenshotAfter             time.Duration // the page's run time before it
}

func run(addr string, duration time.Duration, cfg config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := newDemo(ctx, cfg, log.Printf)
	if err != nil {
		return err
	}
	defer d.close()
	if duration > 0 { // counted from here: the first build may take a while
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: d, ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Printf("open http://%s/ in a browser (Ctrl-C stops)", ln.Addr())
	shot := make(chan error, 1)
	if cfg.screenshot != "" {
		shotCtx, cancelShot := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			shot <- screenshot(shotCtx, fmt.Sprintf("http://%s/", ln.Addr()), cfg.screenshot, cfg.screenshotAfter)
		}()
		defer func() { cancelShot(); <-done }()
	}
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return err
	case err := <-shot:
		if err != nil {
			return err
		}
		log.Printf("saved a screenshot of the page to %s", cfg.screenshot)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx) // the page's long-lived requests are the WebSocket's, on the feed's own server
	return nil
}

// demo is the page's HTTP handler: the page, wasm_exec.js, the client's
// .wasm (gzipped for browsers that take it) and the client's flags; and the
// feed it points the client at.
type demo struct {
	feed     *feed
	wasm     []byte // the client, built by the go command
	wasmGzip []byte
	wasmExec []byte // from the same Go toolchain: another one's breaks the page
	args     []byte // the client's flags, as a JSON array
	mux      *http.ServeMux
}

// newDemo builds the client, starts the feed and returns the demo. logf
// reports what it does.
func newDemo(ctx context.Context, cfg config, logf func(string, ...any)) (*demo, error) {
	start := time.Now()
	wasm, wasmExec, err := buildClient(ctx)
	if err != nil {
		return nil, err
	}
	d := &demo{wasm: wasm, wasmExec: wasmExec, mux: http.NewServeMux()}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	_, _ = zw.Write(wasm)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	d.wasmGzip = gz.Bytes()
	logf("built the client to WebAssembly in %s: %.1f MB, %.1f MB gzipped",
		time.Since(start).Round(time.Millisecond), float64(len(wasm))/1e6, float64(len(d.wasmGzip))/1e6)

	d.feed = startFeed(cfg.cycle, logf)
	d.args, _ = json.Marshal([]string{
		"-url", d.feed.url(),
		"-heartbeat", cfg.heartbeat.String(),
		"-heartbeat-timeout", cfg.heartbeatTimeout.String(),
	})
	logf("feed on %s; from the page's first connection, every %s, it:\n%s", d.feed.url(), cfg.cycle, d.feed.scheduleText("    at "))

	d.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(indexHTML)
	})
	d.mux.HandleFunc("GET /wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = w.Write(d.wasmExec)
	})
	d.mux.HandleFunc("GET /args.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(d.args)
	})
	d.mux.HandleFunc("GET /client.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm") // for WebAssembly.instantiateStreaming
		body := d.wasm
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			body = d.wasmGzip
		}
		_, _ = w.Write(body)
	})
	return d, nil
}

func (d *demo) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

// close stops the feed.
func (d *demo) close() { d.feed.close() }

// buildClient builds ./client with GOOS=js GOARCH=wasm into a temporary
// directory, with the go command on PATH, and returns the .wasm and the
// same toolchain's wasm_exec.js. -ldflags "-s -w" leaves out the symbol
// table and DWARF, which a page does not need (2 % smaller; -trimpath would
// save little more, and not share the build cache with plain builds).
func buildClient(ctx context.Context) (wasm, wasmExec []byte, err error) {
	dir, err := os.MkdirTemp("", "resilientws-browser-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "client.wasm")
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags=-s -w", "-o", out, "./client")
	cmd.Dir = sourceDir()
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("building the client: GOOS=js GOARCH=wasm go build ./client: %w\n%s", err, msg)
	}
	if wasm, err = os.ReadFile(out); err != nil {
		return nil, nil, err
	}
	goroot, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go env GOROOT: %w", err)
	}
	root := strings.TrimSpace(string(goroot))
	for _, rel := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} { // Go 1.24+, then older
		if wasmExec, err = os.ReadFile(filepath.Join(root, rel)); err == nil {
			return wasm, wasmExec, nil
		}
	}
	return nil, nil, errors.New("no wasm_exec.js in " + root)
}

// sourceDir is this file's directory, where ./client is, or the working
// directory if the source is not there (a binary run elsewhere).
func sourceDir() string {
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Dir(file)
		if _, err := os.Stat(filepath.Join(dir, "client")); err == nil {
			return dir
		}
	}
	return "."
}
