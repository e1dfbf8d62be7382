package resilientws

import (
	"context"
	"testing"

	"github.com/resilientws/resilientws/resilientwstest"
)

// newServer starts the test kit's server, closed at the end of the test.
func newServer(t testing.TB, opts ...resilientwstest.ServerOption) *resilientwstest.Server {
	t.Helper()
	s := resilientwstest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// waitServer waits until cond holds, checked at every change srv sees, or
// fails the test after wait.
func waitServer(t testing.TB, srv *resilientwstest.Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := srv.WaitFor(ctx, cond); err != nil {
		t.Fatalf("timed out after %s waiting for the server: %s", wait, what)
	}
}

// waitReceived waits until srv has received n messages in all, or fails
// the test after wait, and returns every message it received.
func waitReceived(t testing.TB, srv *resilientwstest.Server, n int) []resilientwstest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	msgs, err := srv.WaitMessages(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}
