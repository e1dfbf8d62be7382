//go:build !js

package resilientws_test

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/resilientws/resilientws"
)

// Instrumentation adds its handlers with WithObserver, next to the
// application's own: here the server refuses the first upgrade, and both
// see every event, the application's handler first.
func ExampleWithObserver() {
	var requests atomic.Int32
	url, stop := optServer(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		optAwaitClose(r.Context(), c)
	})
	defer stop()

	opened := make(chan struct{})
	observer := resilientws.WithObserver(func(c *resilientws.Client, url string) (resilientws.Observer, error) {
		// An instrumentation package keeps c to read c.Stats() later.
		return resilientws.Observer{
			OnDial: func(e resilientws.DialEvent) {
				var he *resilientws.HandshakeError
				if errors.As(e.Err, &he) {
					fmt.Printf("observer: dial %d refused with %d\n", e.Attempt, he.StatusCode)
					return
				}
				fmt.Printf("observer: dial %d opened connection %d\n", e.Attempt, e.Connection)
			},
			OnOpen:  func(e resilientws.OpenEvent) { fmt.Printf("observer: connection %d open\n", e.Connection) },
			OnClose: func(e resilientws.CloseEvent) { fmt.Printf("observer: connection %d closed\n", e.Connection) },
		}, nil
	})
	client, err := resilientws.New(url,
		observer,
		resilientws.OnOpen(func(e resilientws.OpenEvent) {
			fmt.Printf("application: connection %d open\n", e.Connection)
			close(opened)
		}),
		resilientws.OnClose(func(e resilientws.CloseEvent) { fmt.Printf("application: connection %d closed\n", e.Connection) }),
		optFastRetry(),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := client.Start(); err != nil {
		fmt.Println(err)
		return
	}
	<-opened
	if err := client.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// observer: dial 0 refused with 503
	// observer: dial 1 opened connection 1
	// application: connection 1 open
	// observer: connection 1 open
	// application: connection 1 closed
	// observer: connection 1 closed
}
