package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// wsServer is the coder/websocket server every WebSocket client talks to.
// Endpoints:
//
//	/echo  reads each message with Reader into a reused buffer and writes it
//	       back (the echo for throughput, latency, idle and storm runs);
//	/sink  reads and discards; answers a text message "sync" with "ok";
//	/emit  waits for a text message "N SIZE", then writes N binary messages
//	       of SIZE bytes, and repeats;
//	/trickle  the same with pauses: see trickleLoop (sparse.go).
//
// httptest and http.Server.Shutdown do not track hijacked connections, so
// the server keeps its own set and CloseNow()s them on close.
type wsServer struct {
	ln  net.Listener
	srv *http.Server

	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
	wg    sync.WaitGroup
	pings atomic.Uint64 // ping frames received
}

// startWSServer listens on addr (127.0.0.1:0 for any port).
func startWSServer(addr string) (*wsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &wsServer{ln: ln, conns: map[*websocket.Conn]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%d\n", s.pings.Load())
	})
	mux.HandleFunc("/echo", s.handle(echoLoop))
	mux.HandleFunc("/sink", s.handle(sinkLoop))
	mux.HandleFunc("/emit", s.handle(emitLoop))
	mux.HandleFunc("/trickle", s.handle(trickleLoop))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *wsServer) addr() string { return s.ln.Addr().String() }

func (s *wsServer) handle(loop func(*websocket.Conn)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{ // compression off (the default)
			OnPingReceived: func(context.Context, []byte) bool {
				s.pings.Add(1)
				return true
			},
		})
		if err != nil {
			return
		}
		c.SetReadLimit(64 << 20)
		s.mu.Lock()
		if s.conns == nil { // closed
			s.mu.Unlock()
			_ = c.CloseNow()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		defer func() {
			_ = c.CloseNow()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			s.wg.Done()
		}()
		loop(c)
	}
}

// readMsg reads one whole message through Reader into *buf, growing it.
func readMsg(c *websocket.Conn, buf *[]byte) (websocket.MessageType, int, error) {
	typ, r, err := c.Reader(context.Background())
	if err != nil {
		return 0, 0, err
	}
	n, err := readInto(r, buf)
	return typ, n, err
}

// readInto reads r to EOF into *buf, growing it as needed.
func readInto(r io.Reader, buf *[]byte) (int, error) {
	b := *buf
	n := 0
	for {
		if n == len(b) {
			b = append(b, make([]byte, len(b))...)
			*buf = b
		}
		m, err := r.Read(b[n:])
		n += m
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func echoLoop(c *websocket.Conn) {
	buf := make([]byte, 32<<10)
	for {
		typ, n, err := readMsg(c, &buf)
		if err != nil {
			return
		}
		if err := c.Write(context.Background(), typ, buf[:n]); err != nil {
			return
		}
	}
}

func sinkLoop(c *websocket.Conn) {
	buf := make([]byte, 32<<10)
	for {
		typ, n, err := readMsg(c, &buf)
		if err != nil {
			return
		}
		if typ == websocket.MessageText && string(buf[:n]) == "sync" {
			if err := c.Write(context.Background(), websocket.MessageText, []byte("ok")); err != nil {
				return
			}
		}
	}
}

func emitLoop(c *websocket.Conn) {
	buf := make([]byte, 1024)
	var payload []byte
	for {
		_, n, err := readMsg(c, &buf)
		if err != nil {
			return
		}
		var count, size int
		if _, err := fmt.Sscan(string(buf[:n]), &count, &size); err != nil {
			return
		}
		if cap(payload) < size {
			payload = make([]byte, size)
		}
		for i := 0; i < count; i++ {
			if err := c.Write(context.Background(), websocket.MessageBinary, payload[:size]); err != nil {
				return
			}
		}
	}
}

// close stops listening and drops every connection.
func (s *wsServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		_ = c.CloseNow()
	}
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// tcpServer echoes length-prefixed frames: a 4-byte big-endian length, then
// the payload; each echo is one Write.
type tcpServer struct {
	ln net.Listener
	mu sync.Mutex
	cs map[net.Conn]struct{}
	wg sync.WaitGroup
}

func startTCPServer() (*tcpServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &tcpServer{ln: ln, cs: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.cs == nil {
				s.mu.Unlock()
				_ = c.Close()
				return
			}
			s.cs[c] = struct{}{}
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				tcpEcho(c)
				_ = c.Close()
				s.mu.Lock()
				delete(s.cs, c)
				s.mu.Unlock()
			}()
		}
	}()
	return s, nil
}

func tcpEcho(c net.Conn) {
	br := bufio.NewReaderSize(c, 64<<10)
	frame := make([]byte, 4+32<<10)
	for {
		if _, err := io.ReadFull(br, frame[:4]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(frame[:4]))
		if 4+n > len(frame) {
			nf := make([]byte, 4+n)
			copy(nf, frame[:4])
			frame = nf
		}
		if _, err := io.ReadFull(br, frame[4:4+n]); err != nil {
			return
		}
		if _, err := c.Write(frame[:4+n]); err != nil {
			return
		}
	}
}

func (s *tcpServer) addr() string { return s.ln.Addr().String() }

func (s *tcpServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	cs := s.cs
	s.cs = nil
	s.mu.Unlock()
	for c := range cs {
		_ = c.Close()
	}
	s.wg.Wait()
}

// serveChild is the -serve mode: the WebSocket server alone in this process.
// It prints "LISTENING host:port" and exits when stdin closes (the parent
// died or closed the pipe) or after maxLife.
func serveChild(addr string, maxLife time.Duration) {
	s, err := startWSServer(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
	fmt.Println("LISTENING " + s.addr())
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-stdinClosed:
	case <-time.After(maxLife):
	}
	s.close()
}

// child is a server child process.
type child struct {
	cmd   *os.Process
	stdin io.WriteCloser
	addr  string
	done  chan struct{}
}

// startChild re-executes this binary as a server on addr. env is added to
// the environment (the test binary uses it instead of flags).
func startChild(addr string, useEnv bool) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var args []string
	env := os.Environ()
	if useEnv {
		env = append(env, "RWSBENCH_SERVE="+addr)
	} else {
		args = []string{"-serve", "-serve-addr", addr}
	}
	cmd := execCommand(exe, args, env)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &child{cmd: cmd.Process, stdin: stdin, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(ch.done) }()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case line <- sc.Text():
			default:
			}
		}
	}()
	select {
	case l := <-line:
		var a string
		if _, err := fmt.Sscanf(l, "LISTENING %s", &a); err != nil {
			ch.kill()
			return nil, fmt.Errorf("child said %q", l)
		}
		ch.addr = a
		return ch, nil
	case <-ch.done:
		return nil, errors.New("server child exited before listening")
	case <-time.After(10 * time.Second):
		ch.kill()
		return nil, errors.New("server child did not start within 10s")
	}
}

// stop asks the child to exit (stdin closed) and waits, killing it after 5 s.
func (c *child) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.kill()
	}
}

// kill sends SIGKILL and waits for the exit.
func (c *child) kill() {
	_ = c.cmd.Kill()
	<-c.done
}

// pings returns the number of ping frames the child has received.
func (c *child) pings() (uint64, error) {
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + c.addr + "/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n uint64
	_, err = fmt.Fscan(resp.Body, &n)
	return n, err
}

// pid returns the child's process id.
func (c *child) pid() int { return c.cmd.Pid }

func execCommand(exe string, args, env []string) *exec.Cmd {
	cmd := exec.Command(exe, args...)
	cmd.Env = env
	return cmd
}
