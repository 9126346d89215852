//go:build nobgp

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoBGP: a nat64br built without the speaker refuses a configuration
// with a bgp section, in check-config as in run, before opening a port.
func TestNoBGP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	doc := demoConfig + "bgp:\n  asn: 64512\n  neighbors: [{address: 192.0.2.254, asn: 64500}]\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"check-config", "run"} {
		args := []string{cmd, path}
		if cmd == "run" {
			args = []string{cmd, "--config", path}
		}
		code, _, stderr := runCLI(args...)
		if code != 1 || !strings.Contains(stderr, "built without the BGP speaker (build tag nobgp)") {
			t.Errorf("%s: exit %d, stderr %q", cmd, code, stderr)
		}
	}
}
