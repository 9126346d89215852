package dataplane

import (
	"slices"
	"testing"
)

func TestWorkerCPUs(t *testing.T) {
	for _, c := range []struct {
		pin     string
		allowed []int
		n       int
		want    []int
	}{
		{"auto", []int{0, 1}, 2, []int{0, 1}},
		{"auto", []int{4, 5, 6, 7}, 4, []int{4, 5, 6, 7}}, // a cpuset
		{"auto", []int{0, 1, 2, 3}, 2, nil},               // a CPU quota below the cpuset, or workers: 2
		{"auto", []int{0, 1}, 4, nil},                     // more workers than CPUs
		{"true", []int{2, 3}, 3, []int{2, 3, 2}},          // more workers than CPUs, pinned anyway
		{"true", []int{0, 1, 2, 3}, 2, []int{0, 1}},       //
		{"false", []int{0, 1}, 2, nil},                    //
		{"true", nil, 2, nil},                             // the CPUs are unknown
	} {
		if got := WorkerCPUs(c.pin, c.allowed, c.n); !slices.Equal(got, c.want) {
			t.Errorf("WorkerCPUs(%q, %v, %d) = %v, want %v", c.pin, c.allowed, c.n, got, c.want)
		}
	}
}

func TestAllowedCPUs(t *testing.T) {
	cpus, err := AllowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) == 0 || !slices.IsSorted(cpus) || len(slices.Compact(slices.Clone(cpus))) != len(cpus) {
		t.Fatalf("AllowedCPUs() = %v", cpus)
	}
	t.Logf("allowed CPUs: %v", cpus)
}
