//go:build !js

package resilientwstest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/resilientws/resilientws/resilientwstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds how long a broken test hangs; tests wait on events, never sleep.
const wait = 10 * time.Second

// short is how long a test waits to show that something does not happen.
const short = 150 * time.Millisecond

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newServer(t *testing.T, opts ...resilientwstest.ServerOption) *resilientwstest.Server {
	s := resilientwstest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// client is a coder/websocket client whose reader runs in the background,
// so that its pings get their pongs.
type client struct {
	*websocket.Conn
	msgs chan []byte
	err  chan error // the error that ended the reader
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	return dialWith(t, url, nil)
}

// dialWith is dial with coder/websocket's dial options.
func dialWith(t *testing.T, url string, opts *websocket.DialOptions) *client {
	t.Helper()
	c, _, err := websocket.Dial(ctxFor(t, wait), url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	cl := &client{Conn: c, msgs: make(chan []byte, 100), err: make(chan error, 1)}
	go func() {
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				cl.err <- err
				return
			}
			cl.msgs <- data
		}
	}()
	t.Cleanup(func() {
		c.CloseNow()
		<-cl.err // the reader has ended
	})
	return cl
}

func (c *client) send(t *testing.T, s string) {
	t.Helper()
	if err := c.Write(ctxFor(t, wait), websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

func (c *client) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-c.msgs:
		return string(m)
	case err := <-c.err:
		c.err <- err
		t.Fatalf("connection ended: %v", err)
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return ""
}

// end waits for the reader to end and returns its error.
func (c *client) end(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.err:
		c.err <- err
		return err
	case <-time.After(wait):
		t.Fatal("the connection did not end")
		return nil
	}
}

func TestServerEchoesAndRecordsPerConnection(t *testing.T) {
	s := newServer(t)
	a, b := dial(t, s.URL()), dial(t, s.URL()+"/any/path")
	a.send(t, "a1")
	if got := a.next(t); got != "a1" {
		t.Fatalf("echo %q", got)
	}
	b.send(t, "b1")
	b.next(t)
	if err := a.Write(ctxFor(t, wait), websocket.MessageBinary, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	a.next(t)
	all, err := s.WaitMessages(ctxFor(t, wait), 3)
	if err != nil || len(all) != 3 {
		t.Fatalf("WaitMessages: %d, %v", len(all), err)
	}
	got := s.Received()
	if len(got) != 2 || len(got[0]) != 2 || len(got[1]) != 1 {
		t.Fatalf("Received: %v", got)
	}
	if string(got[0][0].Data) != "a1" || got[0][0].Type != websocket.MessageText ||
		!bytes.Equal(got[0][1].Data, []byte{0, 1, 2}) || got[0][1].Type != websocket.MessageBinary ||
		string(got[1][0].Data) != "b1" {
		t.Fatalf("Received: %v", got)
	}
	if s.Accepted() != 2 || s.Live() != 2 || s.Requests() != 2 {
		t.Fatalf("accepted %d live %d requests %d", s.Accepted(), s.Live(), s.Requests())
	}
}

func TestServerCloseAllSendsCodeAndReason(t *testing.T) {
	s := newServer(t)
	c := dial(t, s.URL())
	c.send(t, "x")
	c.next(t)
	s.CloseAll(websocket.StatusGoingAway, "restarting")
	err := c.end(t)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason != "restarting" {
		t.Fatalf("client got %v, want close 1001 restarting", err)
	}
	if err := s.WaitFor(ctxFor(t, wait), func() bool { return s.Live() == 0 }); err != nil {
		t.Fatal(err)
	}
}

func TestServerDropAllResets(t *testing.T) {
	s := newServer(t)
	c := dial(t, s.URL())
	c.send(t, "x")
	c.next(t)
	s.DropAll()
	if err := c.end(t); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client got %v, want connection reset", err)
	}
	dial(t, s.URL()).send(t, "still serving")
}

func TestServerRefuseThenAccept(t *testing.T) {
	s := newServer(t)
	s.Refuse(http.StatusServiceUnavailable, "7")
	_, resp, err := websocket.Dial(ctxFor(t, wait), s.URL(), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("dial while refusing: %v %+v", err, resp)
	}
	if s.Requests() != 1 || s.Accepted() != 0 {
		t.Fatalf("requests %d accepted %d", s.Requests(), s.Accepted())
	}
	s.Refuse(http.StatusOK, "") // a server that ignores the upgrade
	if _, resp, err := websocket.Dial(ctxFor(t, wait), s.URL(), nil); err == nil || resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("dial while answering 200: %v %+v", err, resp)
	}
	s.Accept()
	dial(t, s.URL()).send(t, "ok")
	if s.Accepted() != 1 {
		t.Fatalf("accepted %d", s.Accepted())
	}
}

func TestServerHangNeverAnswersTheHandshake(t *testing.T) {
	s := newServer(t)
	s.Hang()
	_, _, err := websocket.Dial(ctxFor(t, short), s.URL(), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial while hanging: %v, want a timeout", err)
	}
	// A hung handshake ends when the server drops it.
	done := make(chan error, 1)
	go func() {
		c, _, err := websocket.Dial(ctxFor(t, wait), s.URL(), nil)
		if c != nil {
			c.CloseNow()
		}
		done <- err
	}()
	if err := s.WaitFor(ctxFor(t, wait), func() bool { return s.Requests() == 2 }); err != nil {
		t.Fatal(err)
	}
	s.DropAll()
	if err := <-done; err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung dial after DropAll: %v, want a connection error", err)
	}
	s.Accept()
	dial(t, s.URL()).send(t, "ok")
}

func TestServerStopPongsKeepsDataFlowing(t *testing.T) {
	s := newServer(t)
	c := dial(t, s.URL())
	if err := c.Ping(ctxFor(t, wait)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	s.StopPongs()
	if err := c.Ping(ctxFor(t, short)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping while pongs are off: %v, want a timeout", err)
	}
	c.send(t, "data")
	if got := c.next(t); got != "data" {
		t.Fatalf("echo %q", got)
	}
	s.ResumePongs()
	if err := c.Ping(ctxFor(t, wait)); err != nil {
		t.Fatalf("ping after ResumePongs: %v", err)
	}
	c.send(t, "more")
	c.next(t)
	if n := len(s.Messages()); n != 2 {
		t.Fatalf("server recorded %d messages, want 2", n)
	}
}

func TestServerStopReadingHoldsBytesLosslessly(t *testing.T) {
	s := newServer(t)
	c := dial(t, s.URL())
	c.send(t, "before")
	c.next(t)
	s.StopReading()
	for i := range 3 {
		c.send(t, strconv.Itoa(i))
	}
	if _, err := s.WaitMessages(ctxFor(t, short), 2); err == nil {
		t.Fatal("the server read while told not to")
	}
	if err := c.Ping(ctxFor(t, short)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping while not reading: %v, want a timeout", err)
	}
	s.ResumeReading()
	for i := range 3 {
		if got := c.next(t); got != strconv.Itoa(i) {
			t.Fatalf("echo %q, want %d", got, i)
		}
	}
}

func TestServerHandlerSeesConnectionNumbers(t *testing.T) {
	s := newServer(t, resilientwstest.WithHandler(func(ctx context.Context, c *resilientwstest.Conn) {
		if c.Write(ctx, websocket.MessageText, []byte(strconv.Itoa(c.Number()))) != nil {
			return
		}
		c.Read(ctx) // recorded
		c.Close(websocket.StatusNormalClosure, "bye")
	}))
	for i := 1; i <= 2; i++ {
		c := dial(t, s.URL())
		if got := c.next(t); got != strconv.Itoa(i) {
			t.Fatalf("connection %d was told %q", i, got)
		}
		c.send(t, "hi")
		if err := c.end(t); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
			t.Fatalf("end: %v", err)
		}
	}
	s.SetHandler(nil) // back to Echo
	c := dial(t, s.URL())
	c.send(t, "echo")
	c.next(t)
	if got := s.Received(); len(got) != 3 || len(got[0]) != 1 || len(got[1]) != 1 || len(got[2]) != 1 {
		t.Fatalf("Received %v", got)
	}
}

func TestServerCloseEndsEverything(t *testing.T) {
	s := resilientwstest.NewServer()
	open := dial(t, s.URL())
	open.send(t, "x")
	open.next(t)
	s.StopReading()
	paused := dial(t, s.URL())
	paused.send(t, "held")
	s.Hang()
	hung := make(chan error, 1)
	go func() {
		_, _, err := websocket.Dial(ctxFor(t, wait), s.URL(), nil)
		hung <- err
	}()
	if err := s.WaitFor(ctxFor(t, wait), func() bool { return s.Requests() == 3 }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close() // idempotent
	if err := open.end(t); err == nil {
		t.Fatal("open connection survived Close")
	}
	if err := paused.end(t); err == nil {
		t.Fatal("paused connection survived Close")
	}
	if err := <-hung; err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung dial after Close: %v", err)
	}
	// goleak in TestMain checks that no goroutine was left behind.
}

// A client may see its 101 answer before the Server's handler runs: DropAll
// and CloseAll called as soon as the dial returns still reach the
// connection.
func TestServerDropAllAndCloseAllReachAJustUpgradedConnection(t *testing.T) {
	s := newServer(t)
	for i := range 20 {
		c := dial(t, s.URL())
		if i%2 == 0 {
			s.DropAll()
			if err := c.end(t); !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("dial %d: DropAll at once: client got %v, want connection reset", i, err)
			}
			continue
		}
		s.CloseAll(4000, "at once")
		if err := c.end(t); websocket.CloseStatus(err) != 4000 {
			t.Fatalf("dial %d: CloseAll at once: client got %v, want close 4000", i, err)
		}
	}
	if err := s.WaitFor(ctxFor(t, wait), func() bool { return s.Live() == 0 }); err != nil {
		t.Fatalf("%d connections still live: %v", s.Live(), err)
	}
}

func TestServerWithTLS(t *testing.T) {
	s := newServer(t, resilientwstest.WithTLS())
	if !strings.HasPrefix(s.URL(), "wss://127.0.0.1:") || s.Certificate() == nil {
		t.Fatalf("URL %q, certificate %v", s.URL(), s.Certificate())
	}
	if newServer(t).Certificate() != nil {
		t.Fatal("a plain Server has a certificate")
	}
	// Untrusted, the certificate is refused.
	if _, _, err := websocket.Dial(ctxFor(t, wait), s.URL(), nil); err == nil {
		t.Fatal("dialed without trusting the certificate")
	}
	roots := x509.NewCertPool()
	roots.AddCert(s.Certificate())
	opts := &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}}
	c := dialWith(t, s.URL(), opts)
	c.send(t, "secure")
	if got := c.next(t); got != "secure" {
		t.Fatalf("echo %q", got)
	}
	// The faults work on the plaintext under TLS.
	s.StopPongs()
	if err := c.Ping(ctxFor(t, short)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping while pongs are off: %v, want a timeout", err)
	}
	s.ResumePongs()
	if err := c.Ping(ctxFor(t, wait)); err != nil {
		t.Fatalf("ping after ResumePongs: %v", err)
	}
	s.DropAll()
	if err := c.end(t); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client got %v, want connection reset", err)
	}
	// The certificate covers the names a test may map to the Server.
	for _, name := range []string{"127.0.0.1", "::1", "localhost", "example.com", "ws.example.com"} {
		if err := s.Certificate().VerifyHostname(name); err != nil {
			t.Errorf("VerifyHostname(%s): %v", name, err)
		}
	}
	c = dialWith(t, s.URL(), opts)
	s.CloseAll(websocket.StatusGoingAway, "bye")
	if err := c.end(t); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("client got %v, want close 1001", err)
	}
}
