//go:build !js

package resilientwstest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/resilientws/resilientws"
	"github.com/resilientws/resilientws/resilientwstest"
)

// A feed consumer rides out a server that drops every connection: the test
// server records what it received, and the client reconnects.
func Example() {
	srv := resilientwstest.NewServer()
	defer srv.Close()

	opened := make(chan int, 10)
	closed := make(chan resilientws.CloseEvent, 10)
	c, err := resilientws.New(srv.URL(),
		resilientws.WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Millisecond) }),
		resilientws.OnOpen(func(e resilientws.OpenEvent) { opened <- e.Connection }),
		resilientws.OnClose(func(e resilientws.CloseEvent) { closed <- e }),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	fmt.Println("open:", <-opened)
	if err := c.SendText(ctx, "hello"); err != nil {
		fmt.Println(err)
		return
	}
	msgs, err := srv.WaitMessages(ctx, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("server received:", string(msgs[0].Data))

	srv.DropAll() // a TCP reset on every connection
	e := <-closed
	fmt.Println("close:", e.Code, "reconnect:", e.Reconnect)
	fmt.Println("open:", <-opened)
	fmt.Println("upgrades:", srv.Accepted())
	// Output:
	// open: 1
	// server received: hello
	// close: StatusAbnormalClosure reconnect: true
	// open: 2
	// upgrades: 2
}

// A heartbeat notices a half-open link: the proxy drops every byte while TCP
// stays open, and the pong never comes back.
func ExampleProxy_Blackhole() {
	srv := resilientwstest.NewServer()
	defer srv.Close()
	p, err := resilientwstest.NewProxy(srv.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	opened := make(chan int, 10)
	errs := make(chan error, 10)
	c, err := resilientws.New(p.URL("/"),
		resilientws.WithHeartbeat(50*time.Millisecond, 100*time.Millisecond),
		resilientws.WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Millisecond) }),
		resilientws.WithDialTimeout(time.Second),
		resilientws.OnOpen(func(e resilientws.OpenEvent) { opened <- e.Connection }),
		resilientws.OnError(func(err error) {
			select {
			case errs <- err:
			default:
			}
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	fmt.Println("open:", <-opened)
	p.Blackhole()
	err = <-errs
	fmt.Println("heartbeat timeout:", errors.Is(err, resilientws.ErrHeartbeatTimeout))
	p.Pass()
	fmt.Println("open:", <-opened)
	// Output:
	// open: 1
	// heartbeat timeout: true
	// open: 2
}
