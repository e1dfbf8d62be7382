//go:build !js

package resilientws

// pageWatch is nothing outside the browser: there is no page (see
// lifecycle_js.go).
type pageWatch struct{}

// watchPage watches nothing outside the browser.
func (*Client) watchPage() *pageWatch { return nil }

// stop does nothing outside the browser.
func (*pageWatch) stop() {}

// pageOffline is false outside the browser: only a browser says so.
func pageOffline() bool { return false }
