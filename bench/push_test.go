package main

import (
	"testing"
	"time"
)

// TestVariantsPush checks that every push variant receives what the emit
// endpoint writes, at both sizes.
func TestVariantsPush(t *testing.T) {
	ws, err := startWSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.close()
	a := addrs{ws: ws.addr()}
	for _, v := range pushVariants() {
		for _, size := range pushSizes {
			r, err := pushOnce(v, a, size, 50*time.Millisecond, 3*pushBatch)
			if err != nil {
				t.Errorf("push: %v", err)
			} else if r.msgs < pushBatch {
				t.Errorf("%s: push %d B: %d messages", v.name, size, r.msgs)
			}
		}
	}
}
