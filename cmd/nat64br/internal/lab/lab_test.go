package lab

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	labStream = flag.Duration("lab.stream", 3*time.Minute, "TestLab: the routed learning pass's UDP stream lasts this long (shorten it for quick runs)")
	labPasses = flag.String("lab.passes", "", "TestLab: run only these passes, by number: 10-13, 1,4,10")
	floodFor  = flag.Duration("lab.flood", 20*time.Second, "TestFlood: each flood lasts this long")
	floodRate = flag.Int("lab.floodrate", 20000, "TestFlood: new flows a second")
	floodMain = flag.String("lab.floodmain", "", "TestFlood with -lab.floodall: run the last flood with this nat64br binary (main's, with its fixed defaults) rather than this one with main's limits")
	floodAll  = flag.Bool("lab.floodall", false, "TestFlood: also flood from 1,048,576 /64s (the table's limit holds it), and the same with main's fixed limits (make flood-lab)")
)

// TestMain lets the test binary be the lab's helper process (Child).
func TestMain(m *testing.M) {
	Child()
	code := m.Run()
	for i := range built {
		if built[i].dir != "" {
			os.RemoveAll(built[i].dir)
		}
	}
	os.Exit(code)
}

// built is the nat64br binaries buildNat64brRace built, once for all the
// tests: without the race detector, and with it.
var built [2]struct {
	once     sync.Once
	dir, exe string
	err      error
}

// TestLab runs the demo lab: nat64br in the wire between the kernel's own
// IPv6-only and IPv4-only stacks, in network namespaces, in the passes of
// sudo make demo (with smaller transfers); the stateful pass waits the 2
// minutes a UDP binding lives, the routed learning pass streams for 3
// minutes (-lab.stream). A failed pass does not stop the next ones. It
// builds the nat64br binary (with the race detector when the test has it)
// and runs it as an operator would. It needs root; CI runs as root.
func TestLab(t *testing.T) {
	needLab(t)
	exe := buildNat64br(t)
	base := Options{HTTPBytes: 20 << 20, HTTP6Bytes: 5 << 20, UDPEchoes: 300, UDPExpiry: true, Nat64br: exe,
		Stream: *labStream, Sessions: 10000}
	passes, err := Select(Passes(base, 3*time.Second), *labPasses)
	if err != nil {
		t.Fatal(err)
	}
	runPasses(t, passes, 20*time.Minute, func(Pass) bool { return true })
}

// TestFlood runs the flood pass (flood.go): nat64br in mode nat64 in a
// 256 MiB memory cgroup, as seed 004's LXC, flooded with new flows from
// random spoofed hosts of 3 /64s, which the per-/64 limits sized to pool4
// hold below pool4's ports, while the client pings and downloads.
// -lab.floodall adds floods from 1,048,576 /64s with a pool4 grown by a
// /24, so that the table's limit is reached before the pool: with the
// limits sized to the cgroup, and with main's fixed ones (make flood-lab).
// It needs root, and runs without the race detector, whose shadow memory
// would swamp what it measures.
func TestFlood(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the flood pass creates network namespaces, veth pairs and a memory cgroup")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip tool from iproute2")
	}
	if testing.Short() || raceEnabled {
		t.Skip("-short, or the race detector (make test runs this test without it)")
	}
	cg, err := newMemCgroup(1 << 30)
	if err != nil {
		t.Skipf("needs a memory cgroup it can create (cgroup v2 with the memory controller at the root, or cgroup v1's memory hierarchy): %v", err)
	}
	cg.remove()
	exe := buildNat64br(t)
	base := Options{Nat64br: exe, HTTPBytes: 20 << 20, Flood: *floodFor, FloodRate: *floodRate, FloodNets: 3, MemoryLimit: 256 << 20}
	passes := []Pass{{"flood from 3 /64s, limits sized to a 256 MiB cgroup", base}}
	if *floodAll {
		many := base
		many.FloodNets, many.FloodLoose, many.FloodPool4 = 1<<20, true, "198.51.100.0/24"
		fixed := many
		fixed.FloodConfig = "limits: {sessions: 4194304, bib-entries: 4194304, sessions-per-host: 0, sessions-per-64: 0}\n"
		title := "main's fixed limits (4194304 sessions, none per host or /64)"
		if *floodMain != "" {
			fixed.Nat64br, fixed.FloodConfig, title = *floodMain, "", *floodMain+", its own defaults"
		}
		passes = append(passes,
			Pass{"flood from 1,048,576 /64s, pool4 of 257 addresses, limits sized to a 256 MiB cgroup", many},
			Pass{"flood from 1,048,576 /64s, pool4 of 257 addresses, " + title, fixed})
	}
	// Each pass: the flood, twice that for the downloads and pings that
	// time out when nat64br is gone, and a minute to build and stop.
	runPasses(t, passes, time.Duration(len(passes))*(3**floodFor+time.Minute), func(p Pass) bool { return !p.Opts.FloodLoose })
}

// runPasses runs the passes one after another within d, logs their
// reports, and fails the test for a pass cut short, and for a failed check
// of a pass strict approves. A failed pass does not stop the next ones.
func runPasses(t *testing.T, passes []Pass, d time.Duration, strict func(Pass) bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var created []string
	defer func() {
		// Nothing is left behind: none of the namespaces the passes made
		// (others', of labs running at the same time, may be there).
		if left := leftNamespaces(t, created); len(left) > 0 {
			t.Errorf("namespaces left: %v", left)
		}
	}()
	for _, p := range passes {
		var out bytes.Buffer
		start := time.Now()
		rep, err := Run(ctx, p.Title, p.Opts)
		created = append(created, rep.Namespaces()...)
		rep.Print(&out)
		t.Logf("%s  (pass took %s)", out.String(), time.Since(start).Round(time.Second))
		switch {
		case ctx.Err() != nil:
			t.Fatalf("%s: %v", p.Title, ctx.Err())
		case err != nil:
			t.Errorf("%s: %v", p.Title, err)
		case !rep.OK() && strict(p):
			t.Errorf("%s: a check failed", p.Title)
		}
	}
}

// needLab skips t unless the lab can run: as root, with iproute2, and
// not -short.
func needLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the lab creates network namespaces and veth pairs (sudo go test, or make test as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip tool from iproute2")
	}
	if testing.Short() {
		t.Skip("-short")
	}
}

// leftNamespaces returns those of names that ip netns list still shows.
func leftNamespaces(t *testing.T, names []string) []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Errorf("ip netns list: %v", err)
		return nil
	}
	listed := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			listed[f[0]] = true // "name (id: N)"
		}
	}
	var left []string
	for _, n := range names {
		if listed[n] {
			left = append(left, n)
		}
	}
	return left
}

// buildNat64br builds cmd/nat64br, once for all the tests of the package,
// with the go tool from PATH or GOROOT, or skips the test without one.
func buildNat64br(t *testing.T) string { return buildNat64brRace(t, raceEnabled) }

// buildNat64brRace builds cmd/nat64br once for all the tests of the
// package, with the race detector if race, else as make build does.
func buildNat64brRace(t *testing.T, race bool) string {
	b := &built[btoi(race)]
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "nat64br-lab-bin-"); b.err == nil {
			b.exe, b.err = build(t, b.dir, race)
		}
	})
	if errors.Is(b.err, errNoGo) {
		t.Skip(b.err)
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.exe
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// buildNat64brIn builds cmd/nat64br into dir, with the race detector if
// race, else as make build does (CGO_ENABLED=0, the shipped binary).
func buildNat64brIn(t *testing.T, dir string, race bool) string {
	exe, err := build(t, dir, race)
	if errors.Is(err, errNoGo) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

var errNoGo = errors.New("needs the go tool to build nat64br (not in PATH or GOROOT)")

// build builds nat64br into dir.
func build(t *testing.T, dir string, race bool) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			return "", errNoGo
		}
	}
	exe := filepath.Join(dir, "nat64br")
	args := []string{"build", "-o", exe}
	if race {
		args = append(args, "-race")
	}
	start := time.Now()
	cmd := exec.Command(goTool, append(args, "github.com/nat64br/nat64br/cmd/nat64br")...)
	if !race {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build nat64br: %v\n%s", err, out)
	}
	t.Logf("built nat64br (race detector %v) in %s", race, time.Since(start).Round(time.Millisecond))
	return exe, nil
}
