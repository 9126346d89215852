package arpnd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

// nextHopSides returns an ARP and an ND whose next-hop keys are set as
// subnet and gateway say: 192.0.2.0/24 and 192.0.2.254, 2001:db8:6::/64
// and fe80::1.
func nextHopSides(t *testing.T, subnet, gateway bool) (*ARP, *ND) {
	t.Helper()
	ao, no := ARPOptions{MAC: ourMAC}, NDOptions{MAC: ourMAC}
	if subnet {
		ao.Subnet = netip.MustParsePrefix("192.0.2.0/24")
		no.Subnets = []netip.Prefix{netip.MustParsePrefix("2001:db8:6::/64")}
	}
	if gateway {
		ao.Gateway = netip.MustParseAddr("192.0.2.254")
		no.Gateway = netip.MustParseAddr("fe80::1")
	}
	a, err := NewARP(ao, &sink{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewND(no, &sink{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a, n
}

// TestNextHop pins where each configuration sends a packet: the gateway
// works with or without a subnet, and without a gateway every destination
// is its own next hop.
func TestNextHop(t *testing.T) {
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
			a, n := nextHopSides(t, tc.subnet, tc.gateway)
			got := netip.AddrFrom16(n.NextHop(dst.As16()))
			if dst.Is4() {
				got = keyAddr(a.NextHop(dst.As4()))
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
			a, n := nextHopSides(t, tc.subnet, tc.gateway)
			c := n.Cache()
			if src.Is4() {
				a.Learn(ipFrame(hostMAC, src), t0)
				c = a.Cache()
			} else {
				n.Learn(ipFrame(hostMAC, src), t0)
			}
			if _, ok := c.Lookup(KeyAddr(src)); ok != tc.learned {
				t.Errorf("learned %v, want %v", ok, tc.learned)
			}
		})
	}
}

// naFrom answers the Neighbor Solicitations in frames for the addresses
// of answer (solicited advertisements from hostMAC, as a router answers
// for its own addresses) and returns the targets solicited.
func naFrom(n *ND, frames [][]byte, answer map[netip.Addr]bool, now time.Time) []netip.Addr {
	var targets []netip.Addr
	for _, f := range frames {
		if len(f) < header.EthernetLen+header.IPv6Len+24 || f[header.EthernetLen+header.IPv6Len] != icmpNS {
			continue
		}
		target := netip.AddrFrom16([16]byte(f[header.EthernetLen+header.IPv6Len+8:]))
		targets = append(targets, target)
		if answer[target] {
			n.Cache().Confirm(target.As16(), hostMAC, now)
		}
	}
	return targets
}

// TestRoutedNeighborLives is the learning mode behind a router: a client
// learned from its frames through the router's MAC stays while the router
// answers for its own address, however long the client stays silent (a
// receive-only stream), and is never solicited itself, since the router
// would not answer for it. When the router stops answering, the client
// goes with it.
func TestRoutedNeighborLives(t *testing.T) {
	s := &sink{}
	n, err := NewND(NDOptions{MAC: ourMAC, Addr: netip.MustParseAddr(ownIP)}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	router, client := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8:99::5")
	// The router resolved nat64br's address (its route's next hop): an NS
	// from its link-local address with its MAC.
	if _, consumed := n.Handle(nsFrame(router.String(), netip.AddrFrom16(SolicitedNode(netip.MustParseAddr(ownIP).As16())).String(), ownIP, true, 255), make([]byte, 1500), t0); !consumed {
		t.Fatal("NS not consumed")
	}
	n.Learn(ipFrame(hostMAC, client), t0) // the client's one datagram
	c := n.Cache()
	alive := map[netip.Addr]bool{router: true}
	end := t0.Add(10 * time.Minute)
	for now := t0; now.Before(end); now = now.Add(100 * time.Millisecond) {
		c.Tick(now)
		for _, target := range naFrom(n, s.take(), alive, now) {
			if target == client {
				t.Fatalf("%s: the client was solicited; its router does not answer for it", now.Sub(t0))
			}
		}
		if _, ok := c.Lookup(client.As16()); !ok {
			t.Fatalf("%s: the client was dropped from the cache", now.Sub(t0))
		}
	}
	if st := c.Stats(); st.Expired != 0 || st.Probes == 0 {
		t.Fatalf("stats %+v: want router probes and nothing expired", st)
	}
	// The router goes away: both entries go within a probe round of the
	// next reprobe.
	alive[router] = false
	for now := end; now.Before(end.Add(3 * time.Minute)); now = now.Add(100 * time.Millisecond) {
		c.Tick(now)
		naFrom(n, s.take(), alive, now)
	}
	if got := c.Neighbors(); len(got) != 0 {
		t.Fatalf("neighbors left after the router went: %+v", got)
	}
}

// TestRoutedNeighborOnLink: a host learned from its frames with no anchor
// (no other address at its MAC) is probed itself, as an on-link host in
// the learning mode is, and stays while it answers.
func TestRoutedNeighborOnLink(t *testing.T) {
	s := &sink{}
	n, err := NewND(NDOptions{MAC: ourMAC, Addr: netip.MustParseAddr(ownIP)}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	host := netip.MustParseAddr(hostIP)
	n.Learn(ipFrame(hostMAC, host), t0)
	c := n.Cache()
	solicited := 0
	for now := t0; now.Before(t0.Add(5 * time.Minute)); now = now.Add(100 * time.Millisecond) {
		c.Tick(now)
		solicited += len(naFrom(n, s.take(), map[netip.Addr]bool{host: true}, now))
		if _, ok := c.Lookup(host.As16()); !ok {
			t.Fatalf("%s: the host was dropped", now.Sub(t0))
		}
	}
	if solicited == 0 {
		t.Fatal("the host was never solicited")
	}
}

// TestRoutedNeighborARP is the same learning mode on the IPv4 side, the
// router known from its ARP request.
func TestRoutedNeighborARP(t *testing.T) {
	s := &sink{}
	a, err := NewARP(ARPOptions{MAC: ourMAC, Addr: netip.MustParseAddr("192.0.2.1")}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Handle(arpFrame(1, hostMAC, "192.0.2.254", MAC{}, "192.0.2.1"), make([]byte, 64), t0)
	server := netip.MustParseAddr("203.0.113.9")
	a.Learn(ipFrame(hostMAC, server), t0)
	c := a.Cache()
	for now := t0; now.Before(t0.Add(5 * time.Minute)); now = now.Add(100 * time.Millisecond) {
		c.Tick(now)
		for _, f := range s.take() {
			target := netip.AddrFrom4([4]byte(f[header.EthernetLen+24:]))
			if target == server {
				t.Fatalf("%s: ARP request for the routed server", now.Sub(t0))
			}
			a.Handle(arpFrame(2, hostMAC, target.String(), ourMAC, "192.0.2.1"), make([]byte, 64), now)
		}
		if _, ok := c.Lookup(KeyAddr(server)); !ok {
			t.Fatalf("%s: the server was dropped", now.Sub(t0))
		}
	}
}

// TestResolvable: nat64br never asks for the IPv4 subnet's network and
// broadcast addresses, multicast, loopback or unspecified ones, its own,
// nor the IPv6 subnets' subnet-router anycast addresses.
func TestResolvable(t *testing.T) {
	a, n := nextHopSides(t, true, true)
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"192.0.2.7", true}, {"192.0.2.254", true}, {"203.0.113.9", true},
		{"192.0.2.0", false}, {"192.0.2.255", false}, {"0.0.0.0", false}, {"255.255.255.255", false},
		{"224.0.0.1", false}, {"127.0.0.1", false},
		{"2001:db8:6::7", true}, {"fe80::1", true},
		{"2001:db8:6::", false}, {"ff02::1", false}, {"::", false}, {"::1", false},
		{netip.AddrFrom16(LinkLocal(ourMAC)).String(), false},
	} {
		addr := netip.MustParseAddr(tc.addr)
		c := n.Cache()
		if addr.Is4() {
			c = a.Cache()
		}
		if got := c.Resolvable(KeyAddr(addr)); got != tc.want {
			t.Errorf("%s: resolvable %v, want %v", tc.addr, got, tc.want)
		}
	}
	// Nothing is held or asked for them.
	s := &sink{}
	a2, err := NewARP(ARPOptions{MAC: ourMAC, Subnet: netip.MustParsePrefix("192.0.2.0/24")}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a2.Cache().Hold(Key4([4]byte{192, 0, 2, 255}), make([]byte, 64), t0) {
		t.Error("a frame for the subnet's broadcast address was held")
	}
	a2.Cache().Resolve(Key4([4]byte{192, 0, 2, 0}), t0)
	if f := s.take(); len(f) != 0 {
		t.Errorf("%d ARP requests for the subnet's ends", len(f))
	}
	// A /31 or /32 has no network and broadcast addresses.
	a31, err := NewARP(ARPOptions{MAC: ourMAC, Subnet: netip.MustParsePrefix("192.0.2.0/31")}, &sink{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !a31.Cache().Resolvable(Key4([4]byte{192, 0, 2, 0})) || !a31.Cache().Resolvable(Key4([4]byte{192, 0, 2, 1})) {
		t.Error("a /31's addresses are not resolvable")
	}
}

// TestOwnSolicitation: a Neighbor Solicitation from nat64br's own MAC
// (its own, looped back by the segment) is neither answered nor learned.
func TestOwnSolicitation(t *testing.T) {
	n := newND(t, &sink{}, false)
	f := nsFrame(hostIP, netip.AddrFrom16(SolicitedNode(netip.MustParseAddr(ownIP).As16())).String(), ownIP, true, 255)
	copy(f[6:12], ourMAC[:])
	if l, consumed := n.Handle(f, make([]byte, 1500), t0); l != 0 || !consumed {
		t.Fatalf("our own NS: answer of %d bytes, consumed %v", l, consumed)
	}
	if _, ok := n.Cache().Lookup(netip.MustParseAddr(hostIP).As16()); ok {
		t.Error("our own NS taught the cache")
	}
}
