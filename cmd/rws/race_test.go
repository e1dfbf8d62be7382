//go:build race && !js

package main

// The tests run under -race: build the rws binary with -race too.
func init() { raceEnabled = true }
