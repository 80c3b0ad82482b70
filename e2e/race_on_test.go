//go:build race

package e2e

// raceEnabled: this test process runs under the race detector, whose
// shadow memory inflates its RSS. A child's ru_maxrss includes the peak
// RSS of the process that started it (Go starts children with
// CLONE_VM|CLONE_VFORK, and exec records the shared memory's high-water
// mark), so under -race a child's measured peak says more of the test
// than of the child.
const raceEnabled = true
