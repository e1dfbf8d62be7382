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
	otelOnce    sync.Once
	otelMetrics *resilientwsotel.Metrics
)

// instrumented returns the option that instruments a client with
// resilientwsotel, on an SDK MeterProvider shared by the run whose manual
// reader a goroutine collects every otelCollectEvery, for the process's
// life.
func instrumented() (resilientws.Option, error) {
	var err error
	otelOnce.Do(func() {
		reader := sdkmetric.NewManualReader()
		provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		otelMetrics, err = resilientwsotel.New(resilientwsotel.WithMeterProvider(provider))
		go func() {
			var rm metricdata.ResourceMetrics
			for range time.Tick(otelCollectEvery) {
				_ = reader.Collect(context.Background(), &rm)
			}
		}()
	})
	if err != nil {
		return nil, err
	}
	return otelMetrics.Option(), nil
}

// dialRWSOtel is dialRWS with the OpenTelemetry instrumentation on.
func dialRWSOtel(a addrs, onMsg func(int)) (client, error) {
	opt, err := instrumented()
	if err != nil {
		return nil, err
	}
	return dialRWSWith(a, onMsg, opt)
}
