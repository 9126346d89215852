package lab

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var (
	labStream = flag.Duration("lab.stream", 3*time.Minute, "TestLab: the routed learning pass's UDP stream lasts this long (shorten it for quick runs)")
	labPasses = flag.String("lab.passes", "", "TestLab: run only these passes, by number: 10-13, 1,4,10")
)

// TestMain lets the test binary be the lab's helper process (Child).
func TestMain(m *testing.M) {
	Child()
	os.Exit(m.Run())
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
	exe := buildNat64br(t, raceEnabled)
	base := Options{HTTPBytes: 20 << 20, HTTP6Bytes: 5 << 20, UDPEchoes: 300, UDPExpiry: true, Nat64br: exe,
		Stream: *labStream, Sessions: 10000}
	passes, err := Select(Passes(base, 3*time.Second), *labPasses)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
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
		case !rep.OK():
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

// buildNat64br builds cmd/nat64br into the test's directory with the go
// tool from PATH or GOROOT (with the race detector if race), or skips the
// test without one.
func buildNat64br(t *testing.T, race bool) string {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			t.Skip("needs the go tool to build nat64br (not in PATH or GOROOT)")
		}
	}
	exe := filepath.Join(t.TempDir(), "nat64br")
	args := []string{"build", "-o", exe}
	if race {
		args = append(args, "-race")
	}
	start := time.Now()
	out, err := exec.Command(goTool, append(args, "github.com/nat64br/nat64br/cmd/nat64br")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build nat64br: %v\n%s", err, out)
	}
	t.Logf("built nat64br (race detector %v) in %s", race, time.Since(start).Round(time.Millisecond))
	return exe
}
