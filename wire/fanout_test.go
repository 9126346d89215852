package wire_test

import (
	"testing"

	"github.com/nat64br/nat64br/wire"
)

// TestPortSpreadProgramSize: the program assembles for every worker count
// run allows (up to 64), each worker on its own CPU, and says so when its
// jumps would not reach.
func TestPortSpreadProgramSize(t *testing.T) {
	cpus := make([]int, 200)
	for i := range cpus {
		cpus[i] = i
	}
	for _, n := range []int{0, 1, 2, 64, 90} {
		if size, err := (wire.PortSpread{Key: 1, CPUs: cpus[:n]}).Program(); err != nil {
			t.Errorf("%d CPUs: %v", n, err)
		} else {
			t.Logf("%d CPUs: %d instructions", n, size)
		}
	}
	if _, err := (wire.PortSpread{Key: 1, CPUs: cpus}).Program(); err == nil {
		t.Error("200 CPUs: no error, but the first jumps cannot reach the end")
	}
}
