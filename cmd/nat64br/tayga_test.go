package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nat64br/nat64br/config"
)

func TestImportTAYGA(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("maps.conf", "map 192.0.2.12 2001:db8:6::12\n")
	for _, tc := range []struct {
		name, conf string
		args       []string
		code       int
		want       []string // substrings of stdout (or stderr when code != 0)
		check      func(*config.Config) bool
	}{
		{
			// Seed 001: TAYGA with a dynamic pool that iptables
			// MASQUERADE hides behind one public address.
			name: "dynamic pool behind masquerade",
			conf: "tun-device nat64\nipv4-addr 100.65.0.1\nipv6-addr 2001:db8:1000::4\nprefix 64:ff9b::/96\ndynamic-pool 100.65.0.0/16\ndata-dir /var/spool/tayga\n",
			args: []string{"--masquerade", "198.51.100.7"},
			want: []string{"mode: nat64", `pool4: ["198.51.100.7/32"]`},
			check: func(c *config.Config) bool {
				return c.Mode == config.ModeNAT64 && len(c.Pool4) == 1 && c.Prefix.String() == "64:ff9b::/96" && !c.DynamicPool.IsValid()
			},
		},
		{
			name: "dynamic pool routed",
			conf: "tun-device nat64\nipv4-addr 100.65.0.1\nprefix 64:ff9b::/96\ndynamic-pool 100.65.0.0/16\ndata-dir /var/spool/tayga\n",
			want: []string{"mode: siit", `dynamic-pool: "100.65.0.0/16"`, `data-dir: "/var/spool/tayga"`},
			check: func(c *config.Config) bool {
				return c.DynamicPool.String() == "100.65.0.0/16" && c.DataDir == "/var/spool/tayga"
			},
		},
		{
			// Seed 000: IPv6-only servers reachable from IPv4 through map
			// lines, one of them from a map-file.
			name: "maps",
			conf: "tun-device nat64\nipv4-addr 192.0.2.1\nprefix 2001:db8:64::/96\nwkpf-strict no\nudp-cksum-mode calc\nofflink-mtu 1400\nmap 192.0.2.10 2001:db8:6::10 # server 1\nmap-file " + filepath.Join(dir, "maps.conf") + "\nlog drop reject\n",
			want: []string{"wkpf-strict: false", "udp-zero-checksum: calculate", "lowest-ipv6-mtu: 1400", `{ipv4: "192.0.2.10", ipv6: "2001:db8:6::10"}`},
			check: func(c *config.Config) bool {
				return len(c.EAM) == 2 && !c.WKPFStrict && c.LowestIPv6MTU == 1400
			},
		},
		{name: "unknown directive", conf: "tun-device nat64\nfrobnicate yes\n", code: 1, want: []string{"tayga.conf:2: frobnicate: not a TAYGA directive"}},
		{name: "map needs two", conf: "map 2001:db8::10\n", code: 1, want: []string{"tayga.conf:1: map: needs an IPv4 and an IPv6"}},
		{name: "huge pool", conf: "prefix 64:ff9b::/96\ndynamic-pool 100.64.0.0/10\n", code: 1, want: []string{"dynamic-pool: 100.64.0.0/10: use a prefix from /16 to /31", "--masquerade"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write("tayga.conf", tc.conf)
			var stdout, stderr bytes.Buffer
			code := run(append(append([]string{"import-tayga"}, tc.args...), p), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, stderr.String())
			}
			out := stdout.String()
			if code != 0 {
				out = stderr.String()
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.check != nil {
				c, err := config.Parse("out.yaml", stdout.Bytes())
				if err != nil || !tc.check(c) {
					t.Errorf("converted configuration %+v, %v:\n%s", c, err, out)
				}
			}
		})
	}
}
