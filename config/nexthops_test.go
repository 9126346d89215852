package config

import (
	"strings"
	"testing"
)

// TestNextHops pins what check-config says each combination of next-hop
// keys does, and which combination warns.
func TestNextHops(t *testing.T) {
	for _, tc := range []struct {
		name       string
		doc        string
		ipv4, ipv6 string // substrings
		warn       string // substring of the one warning, or ""
	}{
		{"both gateways and subnets",
			"ipv4-interface: eth1\nipv4-subnet: 192.0.2.0/24\ngateway: 192.0.2.254\nipv6-subnets: [\"2001:db8:6::/64\"]\ngateway6: fe80::1\n",
			"192.0.2.0/24 resolved with ARP; every other destination via gateway 192.0.2.254",
			"2001:db8:6::/64 and link-local resolved with NS; every other destination via gateway6 fe80::1", ""},
		{"gateways alone",
			"ipv4-interface: eth1\ngateway: 192.0.2.254\ngateway6: fe80::1\n",
			"every destination via gateway 192.0.2.254", "every other destination via gateway6 fe80::1", ""},
		{"subnets alone",
			"ipv4-interface: eth1\nipv4-subnet: 192.0.2.0/24\nipv6-subnets: [\"2001:db8:6::/64\"]\n",
			"through a proxy-ARP router", "learned from their frames", ""},
		{"nothing",
			"ipv4-interface: eth1\n",
			"no gateway, no ipv4-subnet", "learning mode",
			"conf.yaml:2: ipv4-interface: neither gateway nor ipv4-subnet is set"},
		{"gateway outside the subnet",
			"ipv4-interface: eth1\nipv4-subnet: 192.0.2.0/25\ngateway: 192.0.2.254\n",
			"via gateway 192.0.2.254", "learning mode",
			"conf.yaml:4: gateway: 192.0.2.254 is outside ipv4-subnet 192.0.2.0/25"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("conf.yaml", []byte("prefix: 2001:db8:64::/96\n"+tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			ipv4, ipv6 := c.NextHops()
			if !strings.Contains(ipv4, tc.ipv4) || !strings.Contains(ipv6, tc.ipv6) {
				t.Errorf("next hops:\n%s\n%s", ipv4, ipv6)
			}
			switch {
			case tc.warn == "" && len(c.Warnings) != 0:
				t.Errorf("warnings %q, want none", c.Warnings)
			case tc.warn != "" && (len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], tc.warn)):
				t.Errorf("warnings %q, want one with %q", c.Warnings, tc.warn)
			}
		})
	}
}
