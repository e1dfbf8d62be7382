//go:build !js

package resilientws

import (
	"testing"

	"github.com/resilientws/resilientws/resilientwstest"
)

// newFaultProxy puts the test kit's fault proxy in front of upstream, closed
// at the end of the test.
func newFaultProxy(t testing.TB, upstream string) *resilientwstest.Proxy {
	t.Helper()
	p, err := resilientwstest.NewProxy(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
