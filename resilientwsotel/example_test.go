package resilientwsotel_test

import (
	"context"
	"fmt"
	"sort"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/resilientws/resilientws"
	"github.com/resilientws/resilientws/resilientwsotel"
	"github.com/resilientws/resilientws/resilientwstest"
)

// A client instrumented next to its own handler: one message echoed, then
// the counters as a reader collects them (here a ManualReader; in a
// service, the Prometheus exporter or an OTLP periodic reader).
func ExampleInstrument() {
	srv := resilientwstest.NewServer() // an echo server
	defer srv.Close()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	echoed := make(chan struct{})
	client, err := resilientws.New(srv.URL(),
		resilientws.OnMessage(func(m resilientws.Message) { // the application's own handler
			fmt.Printf("echo: %s\n", m.Data)
			close(echoed)
		}),
		resilientwsotel.Instrument(resilientwsotel.WithMeterProvider(provider)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := client.Start(); err != nil {
		fmt.Println(err)
		return
	}
	if err := client.SendText(context.Background(), "hello"); err != nil {
		fmt.Println(err)
		return
	}
	<-echoed
	if err := client.Close(); err != nil {
		fmt.Println(err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && sum.IsMonotonic { // the counters
				var total int64
				for _, p := range sum.DataPoints {
					total += p.Value
				}
				lines = append(lines, fmt.Sprintf("%s %d", m.Name, total))
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// echo: hello
	// resilientws.client.connection.attempts 1
	// resilientws.client.io 10
	// resilientws.client.messages.dropped 0
	// resilientws.client.messages.received 1
	// resilientws.client.messages.resent 0
	// resilientws.client.messages.sent 1
	// resilientws.client.reconnects 0
}
