package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestImportTAYGA runs the command: its flags, exit codes and the check of
// what it prints. The conversion itself is tested in config.
func TestImportTAYGA(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tayga.conf")
	for _, tc := range []struct {
		name, conf string
		args       []string
		code       int
		stdout     []string
		stderr     []string
	}{
		{
			name:   "dynamic pool behind masquerade",
			conf:   "tun-device nat64\nipv4-addr 100.65.0.1\nprefix 64:ff9b::/96\ndynamic-pool 100.65.0.0/16\n",
			args:   []string{"--masquerade", "198.51.100.7", "--ipv6-interface", "v6"},
			stdout: []string{"mode: nat64", `pool4: ["198.51.100.7/32"]`, "ipv6-interface: v6\nipv4-interface: eth1\n"},
			stderr: []string{"note: " + p + ":1: tun-device: not needed", "note: the iptables MASQUERADE rule"},
		},
		{name: "unknown directive", conf: "tun-device nat64\nfrobnicate yes\n", code: 1, stderr: []string{"nat64br: " + p + ":2: frobnicate: not a TAYGA directive"}},
		{
			// Seed 004: a TAYGA appliance's CGNAT /10 converts as it is,
			// with a warning that MASQUERADE surely hid it.
			name:   "cgnat pool",
			conf:   "prefix 64:ff9b::/96\nipv4-addr 100.64.0.1\ndynamic-pool 100.64.0.0/10\n",
			stdout: []string{"mode: siit\n", `dynamic-pool: "100.64.0.0/10"`},
			stderr: []string{"WARNING: " + p + ":3: dynamic-pool 100.64.0.0/10 is shared CGNAT space", "--masquerade"},
		},
		{name: "masquerade not IPv4", args: []string{"--masquerade", "2001:db8::1"}, code: 2, stderr: []string{`--masquerade "2001:db8::1" is not an IPv4 address`}},
		{name: "no such file", args: []string{"--"}, code: 1, stderr: []string{"no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := p
			if tc.conf == "" {
				file = filepath.Join(dir, "none.conf")
			}
			if err := os.WriteFile(p, []byte(tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(append(append([]string{"import-tayga"}, tc.args...), file), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr.String())
			}
			wantOutput(t, "stdout", stdout.String(), tc.stdout)
			wantOutput(t, "stderr", stderr.String(), tc.stderr)
		})
	}
}
