//go:build race

package load

// raceEnabled: the race detector multiplies memory use (its shadow
// memory), so a peak-RSS bound means nothing under it.
const raceEnabled = true
