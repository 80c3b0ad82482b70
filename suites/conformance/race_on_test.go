//go:build race

package conformance

// raceEnabled: the race detector slows every run several times over.
const raceEnabled = true
