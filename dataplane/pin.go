package dataplane

import "golang.org/x/sys/unix"

// WorkerCPUs returns the CPU each of n ring workers is pinned to while its
// link is idle, or nil if they are not pinned. allowed is the CPUs the
// process may run on, in ascending order. pin is data-path.pin-workers:
// "false" never pins, "true" always does (worker i on allowed[i mod
// len(allowed)]), and "auto" pins only when there is one worker per
// allowed CPU, so that idle workers do not wait stacked on a few CPUs of
// many (workers: 2 on a host of 16, say, or a CPU quota below the cpuset),
// to be woken there while those are busy.
func WorkerCPUs(pin string, allowed []int, n int) []int {
	if pin == "false" || len(allowed) == 0 || n <= 0 || (pin == "auto" && n != len(allowed)) {
		return nil
	}
	cpus := make([]int, n)
	for i := range cpus {
		cpus[i] = allowed[i%len(allowed)]
	}
	return cpus
}

// AllowedCPUs returns the CPUs the calling thread may run on, in ascending
// order.
func AllowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for c := 0; len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// pinThread makes the calling thread (locked to its goroutine) run on cpu
// only.
func pinThread(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}
