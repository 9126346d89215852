//go:build race

package xlat

// raceEnabled is set when the race detector is on: it makes the
// 1,000,000-session test ten times slower, so make test runs that one
// without it.
const raceEnabled = true
