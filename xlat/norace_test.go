//go:build !race

package xlat

const raceEnabled = false
