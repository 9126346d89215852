//go:build !race

package bgptest

// slowdown stretches WaitFor's bounds under the race detector (race.go).
const slowdown = 1
