//go:build !js

package resilientws

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestClientEchoRoundTrip(t *testing.T) {
	srv := newServer(t)
	r := newRecorder(t)
	c := r.startClient(srv.URL(), fastBackoff())
	open := r.waitKind("open", 1, wait)
	if open.open.Connection != 1 || open.state != StateOpen {
		t.Fatalf("open event %+v in state %s, want connection 1 in OPEN", open.open, open.state)
	}
	if err := c.SendText(context.Background(), "hello"); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(context.Background(), Binary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	got := r.waitMessages(2, wait)
	if got[0].msg.Type != Text || string(got[0].msg.Data) != "hello" || got[1].msg.Type != Binary || string(got[1].msg.Data) != "\x01\x02\x03" {
		t.Fatalf("echo = %+v", got)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if c.State() != StateClosed || c.Err() != nil {
		t.Fatalf("after Close: state %s, err %v", c.State(), c.Err())
	}
	closes := r.of("close")
	if len(closes) != 1 || closes[0].close.Code != websocket.StatusNormalClosure || closes[0].close.Reconnect || closes[0].close.Err != nil {
		t.Fatalf("close events %+v, want one 1000 without reconnect", closes)
	}
	st := c.Stats()
	if st.Connects != 1 || st.MessagesSent != 2 || st.MessagesReceived != 2 || st.BytesSent != 8 || st.BytesReceived != 8 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClientStartTwiceAndAfterClose(t *testing.T) {
	srv := newServer(t)
	c, err := New(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
	if err := c.SendText(context.Background(), "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
}

func TestClientRunReturnsNilWhenCtxIsCancelled(t *testing.T) {
	srv := newServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := New(srv.URL(), fastBackoff(), OnOpen(func(OpenEvent) { cancel() }))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if c.State() != StateClosed || c.Err() != nil {
		t.Fatalf("after Run: %s %v", c.State(), c.Err())
	}
}

func TestClientStatsUptimeAndSmoothedRTT(t *testing.T) {
	srv := newServer(t)
	c, err := New(srv.URL(), fastBackoff(), WithHeartbeat(5*time.Millisecond, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st := c.Stats(); st.Uptime != 0 || st.State != StateConnecting {
		t.Fatalf("stats before Start %+v", st)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "RTT samples", wait, func() bool { return c.Stats().SmoothedRTT > 0 && c.Stats().Uptime > 0 })
	c.Close()
	if st := c.Stats(); st.Uptime != 0 || st.State != StateClosed {
		t.Fatalf("stats after Close %+v", st)
	}
}

func TestClientStateAndOverflowStrings(t *testing.T) {
	for s, want := range map[State]string{StateConnecting: "CONNECTING", StateOpen: "OPEN", StateClosing: "CLOSING", StateClosed: "CLOSED", 9: "State(9)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q", int(s), s.String())
		}
	}
	if StateConnecting != 0 || StateOpen != 1 || StateClosing != 2 || StateClosed != 3 {
		t.Fatal("states must carry the browser's readyState values")
	}
	if OverflowDropOldest.String() != "OverflowDropOldest" || Overflow(9).String() != "Overflow(9)" {
		t.Fatal("Overflow.String")
	}
}

// The table of goroutines at the top of client.go names every place that
// starts one: each go statement and each AfterFunc callback of the library,
// by the function it runs (or, for a function literal, the function that
// starts it).
func TestClientGoroutineTableNamesEveryGoroutine(t *testing.T) {
	src, err := os.ReadFile("client.go")
	if err != nil {
		t.Fatal(err)
	}
	table := string(src[:strings.Index(string(src), "type Client struct")])
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				var started ast.Expr
				switch n := n.(type) {
				case *ast.GoStmt:
					started = n.Call.Fun
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "AfterFunc" && len(n.Args) == 2 {
						started = n.Args[1]
					}
				}
				if started == nil {
					return true
				}
				found++
				what := fn.Name.Name // a function literal: the function that starts it
				switch e := started.(type) {
				case *ast.Ident:
					what = e.Name
				case *ast.SelectorExpr:
					if _, lit := e.X.(*ast.FuncLit); !lit {
						what = e.Sel.Name
					}
				}
				if !strings.Contains(table, what) {
					t.Errorf("%s: a goroutine running %s is missing from client.go's table", fset.Position(n.Pos()), what)
				}
				return true
			})
		}
	}
	if found < 8 {
		t.Fatalf("found only %d places that start a goroutine: the check is broken", found)
	}
}

// The lock and atomic tables at the top of client.go name every mutex and
// every atomic field of the library (as Type.field; the counters behind
// Stats as one row) and every atomic package variable (by its name), and
// nothing else.
func TestClientLockAndAtomicTablesMatchTheFields(t *testing.T) {
	src, err := os.ReadFile("client.go")
	if err != nil {
		t.Fatal(err)
	}
	header := string(src[:strings.Index(string(src), "type Client struct")])
	table := func(title string) map[string]bool {
		rows := map[string]bool{}
		_, rest, ok := strings.Cut(header, "//\t"+title+" ")
		if !ok {
			t.Fatalf("client.go has no %q table", title)
		}
		for _, line := range strings.Split(rest, "\n")[1:] {
			name, ok := strings.CutPrefix(line, "//\t")
			if !ok {
				break
			}
			rows[strings.Fields(name)[0]] = true
		}
		return rows
	}
	locks, atomics := table("lock"), table("atomic")
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	wantLocks, wantAtomics := map[string]bool{}, map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, spec := range gd.Specs {
					vs := spec.(*ast.ValueSpec)
					if sel, ok := vs.Type.(*ast.SelectorExpr); ok {
						if pkg, _ := sel.X.(*ast.Ident); pkg != nil && pkg.Name == "atomic" {
							for _, id := range vs.Names {
								wantAtomics[id.Name] = true
							}
						}
					}
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			for _, fld := range st.Fields.List {
				typ := fld.Type
				if ix, ok := typ.(*ast.IndexExpr); ok { // atomic.Pointer[T]
					typ = ix.X
				}
				sel, ok := typ.(*ast.SelectorExpr)
				if !ok {
					continue
				}
				pkg, _ := sel.X.(*ast.Ident)
				if pkg == nil {
					continue
				}
				for _, id := range fld.Names {
					row := ts.Name.Name + "." + id.Name
					switch {
					case pkg.Name == "sync" && (sel.Sel.Name == "Mutex" || sel.Sel.Name == "RWMutex"):
						wantLocks[row] = true
					case pkg.Name == "atomic" && ts.Name.Name == "counters":
						wantAtomics["counters"] = true
					case pkg.Name == "atomic":
						wantAtomics[row] = true
					}
				}
			}
			return false
		})
	}
	for _, c := range []struct {
		title      string
		got, want  map[string]bool
		what, verb string
	}{
		{"lock", locks, wantLocks, "mutex", "locks"},
		{"atomic", atomics, wantAtomics, "atomic field", "atomics"},
	} {
		for row := range c.want {
			if !c.got[row] {
				t.Errorf("the %s %s is missing from client.go's %s table", c.what, row, c.verb)
			}
		}
		for row := range c.got {
			if !c.want[row] {
				t.Errorf("client.go's %s table names %s, which is no %s", c.verb, row, c.what)
			}
		}
	}
	if len(wantLocks) < 5 || len(wantAtomics) < 8 {
		t.Fatalf("found only %d mutexes and %d atomic fields: the check is broken", len(wantLocks), len(wantAtomics))
	}
}
