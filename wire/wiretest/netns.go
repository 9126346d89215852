// Package wiretest builds throwaway network namespaces and veth pairs for
// nat64br's root tests, and runs code inside them. It is imported by tests
// only. Everything it creates is removed by t.Cleanup; only documentation
// address ranges should be used inside.
package wiretest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nat64br/nat64br/wire"
)

// NeedRoot skips the test unless it runs as root with the ip tool.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and veth pairs (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip tool from iproute2")
	}
}

// Suffix returns a short random suffix for names that must not collide with
// another test running at the same time.
func Suffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NS is a network namespace made for a test.
type NS struct {
	Name string
}

// NewNS creates a network namespace, brings its loopback up, and deletes it
// (with everything in it) when the test ends.
func NewNS(t testing.TB, prefix string) *NS {
	t.Helper()
	ns := &NS{Name: prefix + "-" + Suffix()}
	Run(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.Name).Run() })
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Run runs a command in the namespace and fails the test if it fails.
func (ns *NS) Run(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, append([]string{"ip", "netns", "exec", ns.Name}, args...)...)
}

// Cmd returns a command that runs in the namespace.
func (ns *NS) Cmd(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// Run runs a command and fails the test if it fails.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Veth creates a veth pair with one end in a and the other in b, both up.
func Veth(t testing.TB, a *NS, nameA string, b *NS, nameB string) {
	t.Helper()
	tmpA, tmpB := "vt"+Suffix(), "vt"+Suffix()
	Run(t, "ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB)
	Run(t, "ip", "link", "set", tmpA, "netns", a.Name)
	Run(t, "ip", "link", "set", tmpB, "netns", b.Name)
	a.Run(t, "ip", "link", "set", tmpA, "name", nameA)
	b.Run(t, "ip", "link", "set", tmpB, "name", nameB)
	a.Run(t, "ip", "link", "set", nameA, "up")
	b.Run(t, "ip", "link", "set", nameB, "up")
}

// Do runs fn with the calling goroutine's OS thread inside the namespace,
// then moves the thread back. Sockets opened in fn stay in the namespace.
func (ns *NS) Do(fn func() error) error { return wire.InNetns(ns.Name, fn) }

// MAC returns the hardware address of an interface in the namespace.
func (ns *NS) MAC(t testing.TB, dev string) string {
	t.Helper()
	out := ns.Run(t, "cat", "/sys/class/net/"+dev+"/address")
	return strings.TrimSpace(out)
}
