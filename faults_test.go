package resilientws

import (
	"context"
	"testing"
)

func TestRunReturnsNilWhenCtxIsCancelled(t *testing.T) {
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
