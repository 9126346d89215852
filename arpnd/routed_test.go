package arpnd

import (
	"net/netip"
	"testing"
)

// TestNextHop pins where each configuration sends a packet: the gateway
// works with or without a subnet, and without a gateway every destination
// is its own next hop.
func TestNextHop(t *testing.T) {
	sub4, gw4 := netip.MustParsePrefix("192.0.2.0/24"), netip.MustParseAddr("192.0.2.254")
	sub6, gw6 := netip.MustParsePrefix("2001:db8:6::/64"), netip.MustParseAddr("fe80::1")
	for _, tc := range []struct {
		name      string
		subnet    bool
		gateway   bool
		dst, want string
	}{
		{"subnet and gateway, inside", true, true, "192.0.2.7", "192.0.2.7"},
		{"subnet and gateway, outside", true, true, "203.0.113.9", "192.0.2.254"},
		{"gateway alone", false, true, "203.0.113.9", "192.0.2.254"},
		{"gateway alone, the gateway", false, true, "192.0.2.254", "192.0.2.254"},
		{"subnet alone, outside", true, false, "203.0.113.9", "203.0.113.9"},
		{"neither", false, false, "203.0.113.9", "203.0.113.9"},
		{"v6 subnet and gateway, inside", true, true, "2001:db8:6::7", "2001:db8:6::7"},
		{"v6 subnet and gateway, outside", true, true, "2001:db8:99::7", "fe80::1"},
		{"v6 gateway alone", false, true, "2001:db8:99::7", "fe80::1"},
		{"v6 gateway alone, link-local", false, true, "fe80::9", "fe80::9"},
		{"v6 subnet alone, outside", true, false, "2001:db8:99::7", "2001:db8:99::7"},
		{"v6 neither", false, false, "2001:db8:99::7", "2001:db8:99::7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := netip.MustParseAddr(tc.dst)
			var got netip.Addr
			if dst.Is4() {
				o := ARPOptions{MAC: ourMAC}
				if tc.subnet {
					o.Subnet = sub4
				}
				if tc.gateway {
					o.Gateway = gw4
				}
				a, err := NewARP(o, &sink{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				got = keyAddr(a.NextHop(dst.As4()))
			} else {
				o := NDOptions{MAC: ourMAC}
				if tc.subnet {
					o.Subnets = []netip.Prefix{sub6}
				}
				if tc.gateway {
					o.Gateway = gw6
				}
				n, err := NewND(o, &sink{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				got = netip.AddrFrom16(n.NextHop(dst.As16()))
			}
			if got != netip.MustParseAddr(tc.want) {
				t.Errorf("NextHop(%s) = %s, want %s", dst, got, tc.want)
			}
		})
	}
}

// TestLearnScope pins which sources of data frames are learned: all of
// them without a gateway (the learning mode, with or without subnets),
// else only those a packet can be sent to directly.
func TestLearnScope(t *testing.T) {
	sub6, gw6 := netip.MustParsePrefix("2001:db8:6::/64"), netip.MustParseAddr("fe80::1")
	for _, tc := range []struct {
		name            string
		subnet, gateway bool
		src             string
		learned         bool
	}{
		{"neither, routed host", false, false, "2001:db8:99::5", true},
		{"subnet alone, routed host", true, false, "2001:db8:99::5", true},
		{"subnet and gateway, routed host", true, true, "2001:db8:99::5", false},
		{"subnet and gateway, on-link host", true, true, "2001:db8:6::5", true},
		{"gateway alone, routed host", false, true, "2001:db8:99::5", false},
		{"gateway alone, link-local", false, true, "fe80::5", true},
		{"v4 neither", false, false, "203.0.113.5", true},
		{"v4 subnet alone", true, false, "203.0.113.5", true},
		{"v4 gateway alone, routed host", false, true, "203.0.113.5", false},
		{"v4 gateway alone, the gateway", false, true, "192.0.2.254", true},
		{"v4 subnet and gateway, on-link", true, true, "192.0.2.5", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := netip.MustParseAddr(tc.src)
			var c *Cache
			if src.Is4() {
				o := ARPOptions{MAC: ourMAC}
				if tc.subnet {
					o.Subnet = netip.MustParsePrefix("192.0.2.0/24")
				}
				if tc.gateway {
					o.Gateway = netip.MustParseAddr("192.0.2.254")
				}
				a, err := NewARP(o, &sink{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				a.Learn(ipFrame(hostMAC, src), t0)
				c = a.Cache()
			} else {
				o := NDOptions{MAC: ourMAC}
				if tc.subnet {
					o.Subnets = []netip.Prefix{sub6}
				}
				if tc.gateway {
					o.Gateway = gw6
				}
				n, err := NewND(o, &sink{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				n.Learn(ipFrame(hostMAC, src), t0)
				c = n.Cache()
			}
			if _, ok := c.Lookup(KeyAddr(src)); ok != tc.learned {
				t.Errorf("learned %v, want %v", ok, tc.learned)
			}
		})
	}
}
