//go:build !js

package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/resilientws/resilientws/internal/browser"
)

// screenshot opens url in headless Chromium, lets the page run for after,
// in real time, and saves a PNG of what it shows to path.
func screenshot(ctx context.Context, url, path string, after time.Duration) error {
	chromium, err := browser.Find()
	if err != nil {
		return fmt.Errorf("-screenshot: %w", err)
	}
	b, err := browser.Start(ctx, chromium)
	if err != nil {
		return fmt.Errorf("-screenshot: %w", err)
	}
	defer b.Close()
	p, err := b.Open(ctx, url)
	if err != nil {
		return fmt.Errorf("-screenshot: %w", err)
	}
	defer p.Close()
	t := time.NewTimer(after)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	png, err := p.Screenshot(ctx)
	if err != nil {
		return fmt.Errorf("-screenshot: %w", err)
	}
	return os.WriteFile(path, png, 0o644)
}
