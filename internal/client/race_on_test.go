//go:build race

package client

// raceEnabled: the race detector multiplies memory and time, so the
// peak-memory test does not apply.
const raceEnabled = true
