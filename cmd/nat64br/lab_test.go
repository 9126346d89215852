package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestLab runs the demo lab: nat64br in the wire between the kernel's own
// IPv6-only and IPv4-only stacks, in network namespaces, in the five
// passes of sudo make demo (with smaller transfers); the stateful pass
// waits the 2 minutes a UDP binding lives. It needs root; CI runs as
// root.
func TestLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the lab creates network namespaces and veth pairs (sudo go test, or make test as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip tool from iproute2")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	base := labOptions{HTTPBytes: 20 << 20, HTTP6Bytes: 5 << 20, UDPEchoes: 300, UDPExpiry: true,
		Nat64br: []string{exe}, Env: []string{"NAT64BR_TEST_MAIN=1"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, p := range demoPasses(base, 3*time.Second) {
		var out bytes.Buffer
		rep, err := runLab(ctx, p.title, p.opts, &out)
		rep.print(&out)
		t.Log(out.String())
		if err != nil {
			t.Fatalf("%s: %v", p.title, err)
		}
		if !rep.ok() {
			t.Fatalf("%s: a check failed", p.title)
		}
	}
	// Nothing is left behind: no namespace of the lab's roles (labName;
	// other packages' tests, running at the same time, have their own).
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, role := range []string{"c6", "x", "s4"} {
		if bytes.Contains(out, []byte("nat64br-"+role+"-")) {
			t.Errorf("namespaces left: %s", out)
			break
		}
	}
}
