package config

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// bgpBase is a NAT64 configuration the bgp cases add their section to.
const bgpBase = "mode: nat64\nprefix: 2001:db8:64::/96\npool4: [198.51.100.0/28]\nipv4-addr: 198.51.100.64\nipv6-addr: 2001:db8:1::64\n"

// TestBGPContract parses the bgp section exactly as the BGP lab writes it.
func TestBGPContract(t *testing.T) {
	doc := bgpBase + `bgp:
  asn: 64512
  router-id: 198.51.100.64
  listen-port: 0
  drain: 10s
  communities: ["64512:100"]
  local-pref: 100
  neighbors:
    - address: 2001:db8:1::1
      asn: 64500
      password: ""
      hold-time: 9s
      local-address: 2001:db8:1::5
      families: [ipv6-unicast, ipv4-unicast]
    - address: 192.0.2.1
      asn: 64512
  announce:
    - prefix: 2001:db8:64::/96
      communities: ["64512:200", no-export]
      local-pref: 200
`
	c, err := Parse("c.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	b := c.BGP
	if b == nil {
		t.Fatal("no BGP section")
	}
	switch {
	case b.ASN != 64512, b.RouterID != netip.MustParseAddr("198.51.100.64"), b.ListenPort != 0, b.Drain != 10*time.Second:
		t.Errorf("section: %+v", b)
	case !slices.Equal(b.Communities, []uint32{64512<<16 | 100}), !b.HasLocalPref, b.LocalPref != 100:
		t.Errorf("attributes: %+v", b)
	case len(b.Neighbors) != 2, len(b.Announce) != 1:
		t.Fatalf("lists: %+v", b)
	}
	n := b.Neighbors[0]
	if n.Address != netip.MustParseAddr("2001:db8:1::1") || n.ASN != 64500 || n.HoldTime != 9*time.Second ||
		n.LocalAddress != netip.MustParseAddr("2001:db8:1::5") || !slices.Equal(n.Families, []BGPFamily{BGPIPv6Unicast, BGPIPv4Unicast}) {
		t.Errorf("neighbor 0: %+v", n)
	}
	if n := b.Neighbors[1]; n.HoldTime != DefaultBGPHoldTime || !slices.Equal(n.Families, []BGPFamily{BGPIPv4Unicast}) {
		t.Errorf("neighbor 1 defaults: %+v", n)
	}
	if a := b.Announce[0]; a.Prefix != c.Prefix || !slices.Equal(a.Communities, []uint32{64512<<16 | 200, 0xFFFFFF01}) || a.LocalPref != 200 {
		t.Errorf("announce: %+v", a)
	}
	if c, err := Parse("c.yaml", []byte(bgpBase)); err != nil || c.BGP != nil {
		t.Errorf("without the section: %v, %+v", err, c.BGP)
	}
	// Defaults: router-id from ipv4-addr, drain.
	c, err = Parse("c.yaml", []byte(bgpBase+"bgp:\n  asn: 64512\n  neighbors: [{address: 192.0.2.1, asn: 64500}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.BGP.RouterID != c.IPv4Addr || c.BGP.Drain != DefaultBGPDrain || c.BGP.HasLocalPref {
		t.Errorf("defaults: %+v", c.BGP)
	}
}

func TestBGPAnnouncements(t *testing.T) {
	doc := "mode: siit\nprefix: 64:ff9b::/96\nipv4-addr: 192.0.2.1\ndynamic-pool: 198.51.100.0/24\n" +
		"ipv6-subnets: [\"2001:db8:1::/64\"]\n" +
		"eam:\n  - {ipv4: 203.0.113.0/28, ipv6: \"2001:db8:1::100/124\"}\n  - {ipv4: 192.0.2.128/28, ipv6: \"2001:db8:2::/124\"}\n"
	c, err := Parse("c.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	v6, v4 := c.Announcements()
	p := netip.MustParsePrefix
	if want := []netip.Prefix{p("64:ff9b::/96"), p("2001:db8:2::/124")}; !slices.Equal(v6, want) {
		t.Errorf("v6 = %v, want %v", v6, want)
	}
	if want := []netip.Prefix{p("198.51.100.0/24"), p("203.0.113.0/28")}; !slices.Equal(v4, want) {
		t.Errorf("v4 = %v, want %v", v4, want)
	}
}

func TestBGPErrors(t *testing.T) {
	nb := "  neighbors: [{address: 192.0.2.1, asn: 64500}]\n"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"no asn", "bgp:\n" + nb, []string{"c.yaml:6: bgp: asn is missing"}},
		{"asn zero", "bgp:\n  asn: 0\n" + nb, []string{"c.yaml:7: bgp.asn: 0 is not an AS number"}},
		{"asn too big", "bgp:\n  asn: 4294967296\n" + nb, []string{"c.yaml:7: bgp.asn: 4294967296 is not an AS number"}},
		{"asn not a number", "bgp:\n  asn: private\n" + nb, []string{`c.yaml:7: bgp.asn: "private" is not an integer`}},
		{"no neighbors", "bgp:\n  asn: 64512\n", []string{"c.yaml:6: bgp: neighbors is missing"}},
		{"unknown key", "bgp:\n  asn: 64512\n  med: 5\n" + nb, []string{"c.yaml:8: bgp.med: unknown key"}},
		{"router id", "bgp:\n  asn: 64512\n  router-id: 2001:db8::1\n" + nb, []string{`c.yaml:8: bgp.router-id: "2001:db8::1" is not an IPv4 address`}},
		{"listen port", "bgp:\n  asn: 64512\n  listen-port: 70000\n" + nb, []string{"c.yaml:8: bgp.listen-port: 70000 is outside 0..65535"}},
		{"drain", "bgp:\n  asn: 64512\n  drain: soon\n" + nb, []string{`c.yaml:8: bgp.drain: "soon" is not a duration`}},
		{"community", "bgp:\n  asn: 64512\n  communities: [\"64512:70000\"]\n" + nb, []string{`c.yaml:8: bgp.communities[0]: "64512:70000" is not a community`}},
		{"local pref", "bgp:\n  asn: 64512\n  local-pref: -1\n" + nb, []string{"c.yaml:8: bgp.local-pref: -1 is outside 0..4294967295"}},
		{"neighbor address", "bgp:\n  asn: 64512\n  neighbors:\n    - address: router1\n      asn: 64500\n", []string{`c.yaml:9: bgp.neighbors[0].address: "router1" is not an IPv4 or IPv6 address`}},
		{"neighbor no asn", "bgp:\n  asn: 64512\n  neighbors:\n    - address: 192.0.2.1\n", []string{"c.yaml:9: bgp.neighbors[0]: asn is missing"}},
		{"neighbor twice", "bgp:\n  asn: 64512\n  neighbors:\n    - {address: 192.0.2.1, asn: 1}\n    - {address: 192.0.2.1, asn: 2}\n", []string{"c.yaml:10: bgp.neighbors[1].address: 192.0.2.1 is already bgp.neighbors[0]"}},
		{"hold time", "bgp:\n  asn: 64512\n  neighbors:\n    - address: 192.0.2.1\n      asn: 1\n      hold-time: 2s\n", []string{"c.yaml:11: bgp.neighbors[0].hold-time: 2s: use 0 or whole seconds from 3s"}},
		{"local address family", "bgp:\n  asn: 64512\n  neighbors:\n    - address: 192.0.2.1\n      asn: 1\n      local-address: 2001:db8::5\n", []string{"c.yaml:11: bgp.neighbors[0].local-address: 2001:db8::5 is not of the family of address 192.0.2.1"}},
		{"family", "bgp:\n  asn: 64512\n  neighbors:\n    - address: 192.0.2.1\n      asn: 1\n      families: [ipv4-multicast]\n", []string{`c.yaml:11: bgp.neighbors[0].families[0]: "ipv4-multicast" is not a family`}},
		{"password too long", "bgp:\n  asn: 64512\n  neighbors:\n    - address: 192.0.2.1\n      asn: 1\n      password: " + strings.Repeat("x", 81) + "\n", []string{"c.yaml:11: bgp.neighbors[0].password: is longer than"}},
		{"announce not derived", "bgp:\n  asn: 64512\n" + nb + "  announce:\n    - prefix: 203.0.113.0/24\n", []string{"c.yaml:10: bgp.announce[0].prefix: 203.0.113.0/24 is not announced: the announcements are 2001:db8:64::/96, 198.51.100.0/28"}},
		{"announce host bits", "bgp:\n  asn: 64512\n" + nb + "  announce:\n    - prefix: 198.51.100.1/28\n", []string{"c.yaml:10: bgp.announce[0].prefix: 198.51.100.1/28 has bits set"}},
		{"announce twice", "bgp:\n  asn: 64512\n" + nb + "  announce:\n    - prefix: 198.51.100.0/28\n    - prefix: 198.51.100.0/28\n", []string{"c.yaml:11: bgp.announce[1].prefix: 198.51.100.0/28 is already bgp.announce[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(bgpBase+tc.doc))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if len(ce.Problems) != len(tc.want) {
				t.Fatalf("problems:\n%s\nwant %d", err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(ce.Problems[i], w) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, ce.Problems[i], w)
				}
			}
		})
	}
	// Without ipv4-addr: no router ID, no next hop for pool4.
	_, err := Parse("c.yaml", []byte("mode: nat64\nprefix: 2001:db8:64::/96\npool4: [198.51.100.0/28]\nbgp:\n  asn: 64512\n"+nb))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:4: bgp: router-id is missing") || !strings.Contains(err.Error(), "need ipv4-addr for their next hop") {
		t.Errorf("without ipv4-addr: %v", err)
	}
}

// FuzzParseCommunity checks that what ParseCommunity accepts as ASN:value
// prints back to the same halves.
func FuzzParseCommunity(f *testing.F) {
	for _, s := range []string{"64512:100", "0:0", "65535:65535", "no-export", "1:", ":1", "-1:5", "65536:1", " 1:2 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseCommunity(s)
		if !ok || !strings.Contains(s, ":") {
			return
		}
		back, ok2 := ParseCommunity(fmt.Sprintf("%d:%d", c>>16, c&0xffff))
		if !ok2 || back != c {
			t.Fatalf("%q -> %#x -> %#x", s, c, back)
		}
	})
}
