//go:build race

package bgptest

// slowdown stretches WaitFor's bounds under the race detector, which
// makes GoBGP several times slower (a withdrawal took over a second on a
// loaded 2-core machine).
const slowdown = 5
