package main

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nat64br/nat64br/config"
)

// TestImportTAYGAFromFakeHost runs import-tayga --from-host on a fake one-armed
// host: the host's port serves both sides unless a flag names another, and
// warnings stand out from notes.
func TestImportTAYGAFromFakeHost(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tayga.conf")
	conf := "tun-device nat64\nipv4-addr 100.64.0.1\nipv6-addr 2001:db8:1::10\nprefix 64:ff9b::/96\ndynamic-pool 100.64.0.0/10\ndata-dir /var/spool/tayga\n"
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	host := &config.HostNet{
		IPv6Interface: "ens18", IPv4Interface: "ens18",
		IPv4Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")},
		IPv6Addrs: []netip.Prefix{netip.MustParsePrefix("2001:db8:1::10/64")},
		Gateway:   netip.MustParseAddr("192.0.2.1"), Gateway6: netip.MustParseAddr("fe80::1"),
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8:1::10")},
	}
	var fail error
	defer func(f func() (*config.HostNet, error)) { hostNet = f }(hostNet)
	hostNet = func() (*config.HostNet, error) { return host, fail }
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
		fail   error
	}{
		{
			name:   "one-armed",
			args:   []string{"--from-host"},
			stdout: []string{"ipv6-interface: ens18\nipv4-interface: ens18\nipv4-subnet: \"192.0.2.0/24\"\ngateway: \"192.0.2.1\"\n", "data-dir: \"/var/lib/nat64br\"\n"},
			stderr: []string{
				"\nWARNING: " + p + ":3: ipv6-addr 2001:db8:1::10 is the host's own address",
				"\nWARNING: " + p + ":5: dynamic-pool 100.64.0.0/10 is shared CGNAT space (RFC 6598), so iptables MASQUERADE surely hid it: convert with --masquerade and a free address of 192.0.2.0/24 (TAYGA's traffic left as ens18's 192.0.2.10",
				"note: " + p + ":6: data-dir: copy /var/spool/tayga/dynamic.map to /var/lib/nat64br/dynamic.map",
				"note: the router must route 64:ff9b::/96 to nat64br's ipv6-addr 2001:db8:1::10",
			},
		},
		{
			name:   "a flag names the IPv4 port",
			args:   []string{"--from-host", "--ipv4-interface", "wan", "--masquerade", "198.51.100.7"},
			stdout: []string{"ipv6-interface: ens18\nipv4-interface: wan\nipv6-subnets:", "pool4: [\"198.51.100.7/32\"]"},
		},
		{name: "netlink fails", args: []string{"--from-host"}, fail: errors.New("netlink: operation not permitted"), code: 1, stderr: []string{"nat64br: --from-host: netlink: operation not permitted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fail = tc.fail
			var stdout, stderr bytes.Buffer
			code := run(append(append([]string{"import-tayga"}, tc.args...), p), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr.String())
			}
			wantOutput(t, "stdout", stdout.String(), tc.stdout)
			wantOutput(t, "stderr", stderr.String(), tc.stderr)
		})
	}
}

// wantOutput reports each of subs that the output got, named what, lacks.
func wantOutput(t *testing.T, what, got string, subs []string) {
	t.Helper()
	for _, w := range subs {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}
