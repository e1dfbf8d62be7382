//go:build !js

package resilientws

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
