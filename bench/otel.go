package main

import (
	"context"
	"sync"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/resilientws/resilientws"
	"github.com/resilientws/resilientws/resilientwsotel"
)

// otelCollectEvery is how often the rws+otel variant's metrics are
// collected: 150 times Prometheus's default scrape rate, so that the cost
// of the collection (Stats of every client) shows if it matters.
const otelCollectEvery = 100 * time.Millisecond

var (
	otelOnce     sync.Once
	otelProvider *sdkmetric.MeterProvider
)

// instrumented returns the option that instruments a client with
// resilientwsotel, on an SDK MeterProvider shared by the run whose manual
// reader a goroutine collects every otelCollectEvery, for the process's
// life.
func instrumented() resilientws.Option {
	otelOnce.Do(func() {
		reader := sdkmetric.NewManualReader()
		otelProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		go func() {
			var rm metricdata.ResourceMetrics
			for range time.Tick(otelCollectEvery) {
				_ = reader.Collect(context.Background(), &rm)
			}
		}()
	})
	return resilientwsotel.Instrument(resilientwsotel.WithMeterProvider(otelProvider))
}

// dialRWSOtel is dialRWS with the OpenTelemetry instrumentation on.
func dialRWSOtel(a addrs, onMsg func(int)) (client, error) {
	return dialRWSWith(a, onMsg, instrumented())
}
