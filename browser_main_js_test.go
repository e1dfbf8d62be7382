//go:build js && wasm

package resilientws

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, in the browser too, that no test leaves a goroutine
// behind: every client goroutine is joined by Close. The runtime's own
// handler of JavaScript events stays.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("runtime.handleEvent"))
}
