//go:build !js

package resilientws

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

func TestGoroutineIDIsStableAndDistinct(t *testing.T) {
	id := goroutineID()
	if id == 0 || id != goroutineID() {
		t.Fatalf("goroutineID = %d, then %d", id, goroutineID())
	}
	other := make(chan uint64)
	go func() { other <- goroutineID() }()
	if o := <-other; o == 0 || o == id {
		t.Fatalf("another goroutine's id %d, this one's %d", o, id)
	}
}

// Flush waits for the client's own work: from the caller's goroutine it
// waits, from a callback or the dial hook it fails fast.
func TestGoroutineOwnGoroutinesFailFast(t *testing.T) {
	hook := make(chan error, 1)
	callback := make(chan error, 1)
	var c *Client
	c, err := New("ws://127.0.0.1:1/",
		WithDialHook(func(ctx context.Context, _ int) (string, http.Header, error) {
			select {
			case hook <- c.Flush(ctx):
			default:
			}
			return "", nil, nil
		}),
		OnError(func(error) {
			select {
			case callback <- c.Flush(context.Background()):
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.onOwnGoroutine() {
		t.Fatal("the test goroutine is taken for the client's own")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan error{"the dial hook": hook, "a callback": callback} {
		if err := <-ch; !errors.Is(err, ErrInCallback) {
			t.Errorf("Flush from %s = %v, want ErrInCallback", name, err)
		}
	}
}
