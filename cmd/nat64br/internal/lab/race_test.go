//go:build race

package lab

// raceEnabled: the test runs with the race detector, and so does the
// nat64br it builds.
const raceEnabled = true
