// Command example runs a resilientws client, instrumented with
// resilientwsotel, against an embedded server that misbehaves on a loop
// (kills, refused upgrades, a silent peer, a hung handshake), and serves the
// metrics in the Prometheus text format:
//
//	cd resilientwsotel && go run ./example -addr 127.0.0.1:9464 -duration 60s
//	curl -s http://127.0.0.1:9464/metrics | grep resilientws_
//
// Within about 25 s every instrument has moved. -duration stops it (0: run
// until interrupted); Ctrl-C stops it too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/resilientws/resilientws"
	"github.com/resilientws/resilientws/resilientwsotel"
	"github.com/resilientws/resilientws/resilientwstest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9464", "address to serve /metrics on")
	duration := flag.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := run(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

// Timing of the client and of the fault loop, short so that every
// instrument moves within 25 s.
const (
	heartbeatInterval = 500 * time.Millisecond
	heartbeatTimeout  = 500 * time.Millisecond
	dialTimeout       = time.Second
	sendEvery         = 50 * time.Millisecond
	messageTTL        = 300 * time.Millisecond
	queueMessages     = 16
)

func run(ctx context.Context, addr string) error {
	// The Prometheus exporter, on a registry of its own.
	reg := promclient.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer provider.Shutdown(context.Background())

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	defer func() {
		_ = hs.Shutdown(context.Background())
		<-served
	}()
	fmt.Printf("metrics: http://%s/metrics\n", ln.Addr())

	// The misbehaving server (an echo server until told otherwise) and the
	// instrumented client.
	srv := resilientwstest.NewServer()
	defer srv.Close()
	client, err := resilientws.New(srv.URL()+"/feed",
		resilientwsotel.Instrument(
			resilientwsotel.WithMeterProvider(provider),
			resilientwsotel.WithAttributes(attribute.String("feed", "example")),
		),
		// The application's own handlers, which the instrumentation
		// does not replace.
		resilientws.OnOpen(func(e resilientws.OpenEvent) { fmt.Printf("open: connection %d\n", e.Connection) }),
		resilientws.OnClose(func(e resilientws.CloseEvent) {
			fmt.Printf("close: connection %d, code %d, after %s\n", e.Connection, e.Code, e.Uptime.Round(time.Millisecond))
		}),
		resilientws.WithHeartbeat(heartbeatInterval, heartbeatTimeout),
		resilientws.WithDialTimeout(dialTimeout),
		resilientws.WithStableAfter(time.Second),
		resilientws.WithBackoff(func() backoff.BackOff {
			return backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(100*time.Millisecond),
				backoff.WithMaxInterval(500*time.Millisecond),
				backoff.WithMaxElapsedTime(0),
			)
		}),
		// A small queue that drops its oldest message when full: while the
		// server refuses, messages are dropped (queue_full) or expire.
		resilientws.WithQueue(queueMessages, resilientws.DefaultQueueBytes, resilientws.OverflowDropOldest),
	)
	if err != nil {
		return err
	}
	if err := client.Start(); err != nil {
		return err
	}
	defer func() {
		if err := client.Close(); err != nil {
			fmt.Println("close:", err)
		}
	}()

	faults := time.NewTicker(time.Second)
	defer faults.Stop()
	send := time.NewTicker(sendEvery)
	defer send.Stop()
	for n, second := 0, 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-send.C:
			// Every other message lives messageTTL at most.
			var opts []resilientws.SendOption
			if n%2 == 0 {
				opts = append(opts, resilientws.WithTTL(messageTTL))
			}
			err := client.SendText(ctx, fmt.Sprintf("message %d", n), opts...)
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
		case <-faults.C:
			second++
			misbehave(srv, second%12)
		}
	}
}

// misbehave makes the server misbehave at the given second of a 12-second
// cycle.
func misbehave(srv *resilientwstest.Server, second int) {
	switch second {
	case 2:
		fmt.Println("fault: kill every connection (TCP reset)")
		srv.DropAll()
	case 4:
		fmt.Println("fault: refuse upgrades with 503 for 2s")
		srv.Refuse(http.StatusServiceUnavailable, "")
		srv.DropAll()
	case 6:
		srv.Accept()
	case 7:
		fmt.Println("fault: a silent peer (no pongs) for 2s")
		srv.StopPongs()
	case 9:
		srv.ResumePongs()
		fmt.Println("fault: hang the handshake for 2s")
		srv.Hang()
		srv.DropAll()
	case 11:
		srv.Accept()
	}
}
