package arpnd

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

var (
	ourMAC  = MAC{0x02, 0x64, 0, 0, 0, 1}
	hostMAC = MAC{0x02, 0, 0, 0, 0, 0x22}
	t0      = time.Unix(1700000000, 0)
)

// sink records the frames a cache sends.
type sink struct {
	mu     sync.Mutex
	frames [][]byte
}

func (s *sink) WriteBatch(bufs [][]byte, off int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range bufs {
		s.frames = append(s.frames, append([]byte(nil), b[off:]...))
	}
	return len(bufs), nil
}

func (s *sink) take() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.frames
	s.frames = nil
	return f
}

func arpFrame(op uint16, sha MAC, spa string, tha MAC, tpa string) []byte {
	return xlattest.Serialize(
		&layers.Ethernet{SrcMAC: net.HardwareAddr(sha[:]), DstMAC: net.HardwareAddr(header.BroadcastMAC[:]), EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
			SourceHwAddress: sha[:], SourceProtAddress: xlattest.IP(spa).To4(), DstHwAddress: tha[:], DstProtAddress: xlattest.IP(tpa).To4()})
}

func newARP(t *testing.T, s Sender, fail func([]byte)) *ARP {
	t.Helper()
	a, err := NewARP(ARPOptions{
		MAC: ourMAC, Addr: netip.MustParseAddr("192.0.2.1"),
		Owned:  []netip.Prefix{netip.MustParsePrefix("192.0.2.128/25")},
		Subnet: netip.MustParsePrefix("192.0.2.0/24"), Gateway: netip.MustParseAddr("192.0.2.254"),
	}, s, fail)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestARP(t *testing.T) {
	s := &sink{}
	a := newARP(t, s, nil)
	out := make([]byte, 64)
	for _, tc := range []struct {
		name   string
		frame  []byte
		answer bool
	}{
		{"own address", arpFrame(1, hostMAC, "192.0.2.2", MAC{}, "192.0.2.1"), true},
		{"owned prefix", arpFrame(1, hostMAC, "192.0.2.2", MAC{}, "192.0.2.200"), true},
		{"probe for owned address", arpFrame(1, hostMAC, "0.0.0.0", MAC{}, "192.0.2.130"), true},
		{"foreign address", arpFrame(1, hostMAC, "192.0.2.2", MAC{}, "192.0.2.3"), false},
		{"gratuitous of another host", arpFrame(1, hostMAC, "192.0.2.5", MAC{}, "192.0.2.5"), false},
		{"reply", arpFrame(2, hostMAC, "192.0.2.6", ourMAC, "192.0.2.1"), false},
		{"conflict on our address", arpFrame(1, hostMAC, "192.0.2.1", MAC{}, "192.0.2.9"), false},
		{"from a multicast sender", arpFrame(1, MAC{0x01, 0, 0x5e, 0, 0, 1}, "192.0.2.2", MAC{}, "192.0.2.1"), false},
		{"truncated", arpFrame(1, hostMAC, "192.0.2.2", MAC{}, "192.0.2.1")[:30], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := a.Handle(tc.frame, out, t0)
			if (n > 0) != tc.answer {
				t.Fatalf("answered = %v", n > 0)
			}
			if n == 0 {
				return
			}
			p := gopacket.NewPacket(out[:n], layers.LayerTypeEthernet, gopacket.Default)
			r, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			if !ok || r.Operation != 2 || !bytes.Equal(r.SourceHwAddress, ourMAC[:]) || !bytes.Equal(r.DstHwAddress, hostMAC[:]) {
				t.Fatalf("reply %v", p)
			}
			if !bytes.Equal(r.SourceProtAddress, tc.frame[14+24:14+28]) {
				t.Fatalf("reply claims %v", net.IP(r.SourceProtAddress))
			}
		})
	}
	st := a.Stats()
	if st.Answered != 3 || st.Conflicts != 1 || st.Malformed != 2 || st.Replies != 1 {
		t.Errorf("stats %+v", st)
	}
	// The requests taught the cache their senders; the reply confirmed one.
	for _, ip := range []string{"192.0.2.2", "192.0.2.6"} {
		if m, ok := a.Cache().Lookup(KeyAddr(netip.MustParseAddr(ip))); !ok || m != hostMAC {
			t.Errorf("cache has no %s", ip)
		}
	}
	if _, ok := a.Cache().Lookup(KeyAddr(netip.MustParseAddr("0.0.0.0"))); ok {
		t.Errorf("learned from an ARP probe")
	}
}

func TestARPNextHop(t *testing.T) {
	a := newARP(t, &sink{}, nil)
	for dst, want := range map[string]string{"192.0.2.77": "192.0.2.77", "203.0.113.9": "192.0.2.254"} {
		if got := keyAddr(a.NextHop(netip.MustParseAddr(dst).As4())); got != netip.MustParseAddr(want) {
			t.Errorf("NextHop(%s) = %s, want %s", dst, got, want)
		}
	}
}

// TestCacheResolve starts a resolution without a frame to hold: one
// probe, nothing sent on resolution; a resolved neighbor is not probed.
func TestCacheResolve(t *testing.T) {
	s := &sink{}
	a := newARP(t, s, nil)
	c := a.Cache()
	key := KeyAddr(netip.MustParseAddr("192.0.2.51"))
	c.Resolve(key, t0)
	c.Resolve(key, t0) // already being resolved
	if probes := s.take(); len(probes) != 1 || header.Ethernet(probes[0]).EtherType() != header.EtherTypeARP || header.Ethernet(probes[0]).Dst() != header.BroadcastMAC {
		t.Fatalf("probes: %d frames", len(probes))
	}
	a.Handle(arpFrame(2, hostMAC, "192.0.2.51", ourMAC, "192.0.2.1"), make([]byte, 64), t0.Add(time.Millisecond))
	if sent := s.take(); len(sent) != 0 {
		t.Fatalf("%d frames sent on resolution, want none", len(sent))
	}
	if m, ok := c.Lookup(key); !ok || m != hostMAC {
		t.Fatalf("Lookup after the answer: %v %v", m, ok)
	}
	c.Resolve(key, t0.Add(2*time.Millisecond))
	if n := len(s.take()); n != 0 {
		t.Fatalf("%d probes for a resolved neighbor", n)
	}
}

// TestCacheResolution holds frames for an unknown neighbor, checks the
// probes, then answers and checks the held frames leave with its MAC.
func TestCacheResolution(t *testing.T) {
	s := &sink{}
	a := newARP(t, s, nil)
	c := a.Cache()
	key := KeyAddr(netip.MustParseAddr("192.0.2.50"))
	frame := make([]byte, 60)
	frame[12], frame[13] = 0x08, 0x00
	for i := 0; i < 3; i++ {
		frame[20] = byte(i)
		if !c.Hold(key, frame, t0) {
			t.Fatalf("hold %d refused", i)
		}
	}
	probes := s.take()
	if len(probes) != 1 || header.Ethernet(probes[0]).EtherType() != header.EtherTypeARP || header.Ethernet(probes[0]).Dst() != header.BroadcastMAC {
		t.Fatalf("probes: %d frames", len(probes))
	}
	c.Tick(t0.Add(500 * time.Millisecond))
	if n := len(s.take()); n != 0 {
		t.Fatalf("%d probes before the retransmission time", n)
	}
	c.Tick(t0.Add(1100 * time.Millisecond))
	if n := len(s.take()); n != 1 {
		t.Fatalf("%d retransmissions, want 1", n)
	}
	reply := arpFrame(2, hostMAC, "192.0.2.50", ourMAC, "192.0.2.1")
	a.Handle(reply, make([]byte, 64), t0.Add(1200*time.Millisecond))
	held := s.take()
	if len(held) != 3 {
		t.Fatalf("%d held frames sent on resolution, want 3", len(held))
	}
	for i, f := range held {
		if header.Ethernet(f).Dst() != hostMAC || f[20] != byte(i) {
			t.Fatalf("frame %d: dst %s, marker %d", i, header.Ethernet(f).Dst(), f[20])
		}
	}
	if n := c.Neighbors(); len(n) != 1 || n[0].State != Reachable {
		t.Fatalf("neighbors %+v", n)
	}
	// Ageing: REACHABLE -> STALE -> reprobed (unicast) -> gone.
	c.Tick(t0.Add(40 * time.Second))
	if n := c.Neighbors(); n[0].State != Stale {
		t.Fatalf("after 40 s: %v", n[0].State)
	}
	c.Tick(t0.Add(2 * time.Minute))
	p := s.take()
	if len(p) != 1 || header.Ethernet(p[0]).Dst() != hostMAC {
		t.Fatalf("reprobe: %d frames", len(p))
	}
	for i := 1; i <= 3; i++ {
		c.Tick(t0.Add(2*time.Minute + time.Duration(i)*1100*time.Millisecond))
	}
	if _, ok := c.Lookup(key); ok || len(c.Neighbors()) != 0 {
		t.Fatalf("neighbor still cached after failed reprobes")
	}
}

// TestCacheFailure gives up after three probes and hands the held packets
// to the failure callback.
func TestCacheFailure(t *testing.T) {
	s := &sink{}
	var failed [][]byte
	a := newARP(t, s, func(p []byte) { failed = append(failed, append([]byte(nil), p...)) })
	c := a.Cache()
	key := KeyAddr(netip.MustParseAddr("192.0.2.51"))
	frame := make([]byte, 40)
	for i := 0; i < 10; i++ {
		c.Hold(key, frame, t0)
	}
	if st := c.Stats(); st.Held != 8 || st.HoldDrops != 2 {
		t.Fatalf("queue: %+v", st)
	}
	for i := 1; i <= 4; i++ {
		c.Tick(t0.Add(time.Duration(i) * 1100 * time.Millisecond))
	}
	if len(failed) != 8 || len(failed[0]) != 40-header.EthernetLen {
		t.Fatalf("%d packets failed", len(failed))
	}
	if st := c.Stats(); st.Failed != 1 || st.Probes != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// nd test helpers.

const (
	hostIP  = "2001:db8:6::2"
	ownIP   = "2001:db8:6::1"
	prefix6 = "64:ff9b::/96"
)

func newND(t *testing.T, s Sender, ra bool) *ND {
	t.Helper()
	n, err := NewND(NDOptions{
		MAC: ourMAC, Addr: netip.MustParseAddr(ownIP),
		Proxy:   []netip.Prefix{netip.MustParsePrefix(prefix6)},
		Subnets: []netip.Prefix{netip.MustParsePrefix("2001:db8:6::/64")},
		RA:      RAOptions{Enabled: ra, Prefix: netip.MustParsePrefix(prefix6), Interval: 30 * time.Second},
	}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func nsFrame(src, dst, target string, sll bool, hl uint8) []byte {
	ip := xlattest.IPv6(src, dst, layers.IPProtocolICMPv6)
	ip.HopLimit = hl
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: xlattest.IP(target)}
	if sll {
		ns.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: hostMAC[:]}}
	}
	dstMAC := MulticastMAC(netip.MustParseAddr(dst).As16())
	return xlattest.Serialize(&layers.Ethernet{SrcMAC: hostMAC[:], DstMAC: dstMAC[:], EthernetType: layers.EthernetTypeIPv6},
		ip, xlattest.ICMPv6(135, 0, ip), ns)
}

func TestNeighborSolicitation(t *testing.T) {
	n := newND(t, &sink{}, false)
	ll := n.LinkLocal().String()
	sn := func(a string) string { return netip.AddrFrom16(SolicitedNode(netip.MustParseAddr(a).As16())).String() }
	out := make([]byte, 1500)
	for _, tc := range []struct {
		name       string
		frame      []byte
		answer     bool
		flags      uint8 // R S O
		dst, ether string
	}{
		{"own address", nsFrame(hostIP, sn(ownIP), ownIP, true, 255), true, 0x80 | 0x40 | 0x20, hostIP, hostMAC.String()},
		{"link-local", nsFrame(hostIP, sn(ll), ll, true, 255), true, 0xe0, hostIP, hostMAC.String()},
		{"prefix by proxy", nsFrame(hostIP, sn("64:ff9b::cb00:7105"), "64:ff9b::cb00:7105", true, 255), true, 0x80 | 0x40, hostIP, hostMAC.String()},
		{"duplicate address detection", nsFrame("::", sn(ownIP), ownIP, false, 255), true, 0x80 | 0x20, "ff02::1", "33:33:00:00:00:01"},
		{"foreign target", nsFrame(hostIP, sn("2001:db8:6::9"), "2001:db8:6::9", true, 255), false, 0, "", ""},
		{"hop limit 254", nsFrame(hostIP, sn(ownIP), ownIP, true, 254), false, 0, "", ""},
		{"DAD with a source address option", nsFrame("::", sn(ownIP), ownIP, true, 255), false, 0, "", ""},
		{"multicast target", nsFrame(hostIP, "ff02::1", "ff02::1", true, 255), false, 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, consumed := n.Handle(tc.frame, out, t0)
			if !consumed {
				t.Fatal("not consumed")
			}
			if (l > 0) != tc.answer {
				t.Fatalf("answered = %v", l > 0)
			}
			if l == 0 {
				return
			}
			if err := xlattest.Check(out[header.EthernetLen:l], false); err != nil {
				t.Fatal(err)
			}
			p := gopacket.NewPacket(out[:l], layers.LayerTypeEthernet, gopacket.Default)
			na, ok := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
			ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if !ok || na.Flags != tc.flags || ip.HopLimit != 255 || ip.DstIP.String() != tc.dst || eth.DstMAC.String() != tc.ether {
				t.Fatalf("NA flags %#x hop limit %d to %s (%s)", na.Flags, ip.HopLimit, ip.DstIP, eth.DstMAC)
			}
			if len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress || !bytes.Equal(na.Options[0].Data, ourMAC[:]) {
				t.Fatalf("options %v", na.Options)
			}
		})
	}
	if st := n.Stats(); st.Invalid != 3 || st.Proxied != 1 || st.DAD != 1 || st.Ignored != 1 {
		t.Errorf("stats %+v", st)
	}
	if m, ok := n.Cache().Lookup(netip.MustParseAddr(hostIP).As16()); !ok || m != hostMAC {
		t.Errorf("solicitations did not teach the cache the host")
	}
}

func TestRouterAdvertisement(t *testing.T) {
	s := &sink{}
	n := newND(t, s, true)
	n.Tick(t0)
	ras := s.take()
	if len(ras) != 1 {
		t.Fatalf("%d RAs at start", len(ras))
	}
	n.Tick(t0.Add(time.Second))
	if len(s.take()) != 0 {
		t.Fatalf("RA again after 1 s")
	}
	f := ras[0]
	if err := xlattest.Check(f[header.EthernetLen:], false); err != nil {
		t.Fatal(err)
	}
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	ra, ok := p.Layer(layers.LayerTypeICMPv6RouterAdvertisement).(*layers.ICMPv6RouterAdvertisement)
	if !ok {
		t.Fatalf("not an RA: %v", p)
	}
	if ra.RouterLifetime != 0 {
		t.Errorf("router lifetime %d, want 0 (not a default router)", ra.RouterLifetime)
	}
	var rio, pref64 []byte
	for _, o := range ra.Options {
		switch o.Type {
		case 24:
			rio = o.Data
		case 38:
			pref64 = o.Data
		}
	}
	// RIO: prefix length 96, lifetime 90 s, prefix 64:ff9b::.
	if len(rio) != 22 || rio[0] != 96 || rio[5] != 90 || !bytes.Equal(rio[6:10], []byte{0, 0x64, 0xff, 0x9b}) {
		t.Errorf("route information %x", rio)
	}
	// PREF64: scaled lifetime 90/8 rounded up = 12, PLC 0, 96 bits of prefix.
	if len(pref64) != 14 || uint16(pref64[0])<<5|uint16(pref64[1])>>3 != 12 || pref64[1]&7 != 0 || !bytes.Equal(pref64[2:6], []byte{0, 0x64, 0xff, 0x9b}) {
		t.Errorf("PREF64 %x", pref64)
	}
	// A solicitation gets an answer.
	ip := xlattest.IPv6("fe80::2", "ff02::2", layers.IPProtocolICMPv6)
	ip.HopLimit = 255
	rs := xlattest.Serialize(&layers.Ethernet{SrcMAC: hostMAC[:], DstMAC: []byte{0x33, 0x33, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv6},
		ip, xlattest.ICMPv6(133, 0, ip), &layers.ICMPv6RouterSolicitation{})
	if l, _ := n.Handle(rs, make([]byte, 1500), t0.Add(5*time.Second)); l == 0 {
		t.Fatal("no answer to a router solicitation")
	}
}

func TestEchoLinkLocal(t *testing.T) {
	n := newND(t, &sink{}, false)
	ip := xlattest.IPv6(hostIP, n.LinkLocal().String(), layers.IPProtocolICMPv6)
	f := xlattest.Serialize(&layers.Ethernet{SrcMAC: hostMAC[:], DstMAC: ourMAC[:], EthernetType: layers.EthernetTypeIPv6},
		ip, xlattest.ICMPv6(128, 0, ip), &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, xlattest.Payload(16))
	out := make([]byte, 1500)
	l, consumed := n.Handle(f, out, t0)
	if !consumed || l == 0 || out[header.EthernetLen+40] != 129 {
		t.Fatalf("echo: %d bytes, consumed %v", l, consumed)
	}
	if err := xlattest.Check(out[header.EthernetLen:l], false); err != nil {
		t.Fatal(err)
	}
	// Other traffic is not ND's business.
	u := xlattest.IPv6(hostIP, "64:ff9b::cb00:7105", layers.IPProtocolUDP)
	g := xlattest.Serialize(&layers.Ethernet{SrcMAC: hostMAC[:], DstMAC: ourMAC[:], EthernetType: layers.EthernetTypeIPv6}, u, xlattest.UDP(1, 2, u))
	if _, consumed := n.Handle(g, out, t0); consumed {
		t.Fatal("consumed a UDP packet for the prefix")
	}
}

func FuzzHandle(f *testing.F) {
	f.Add(nsFrame(hostIP, "ff02::1:ff00:1", ownIP, true, 255))
	f.Add(arpFrame(1, hostMAC, "192.0.2.2", MAC{}, "192.0.2.1"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		s := &sink{}
		a := newARP(t, s, nil)
		n := newND(t, s, true)
		out := make([]byte, 2048)
		a.Handle(frame, out, t0)
		n.Handle(frame, out, t0)
		n.Learn(frame, t0)
	})
}

// TestPREF64Lifetime pins RFC 8781 §4's rounding: up to a multiple of 8
// seconds, capped at 65528.
func TestPREF64Lifetime(t *testing.T) {
	for _, tc := range []struct {
		lifetime uint32
		want     uint16
	}{
		{0, 0}, {1, 1}, {8, 1}, {9, 2}, {24, 3}, {30, 4}, {90, 12}, {180, 23},
		{65527, 8191}, {65528, 8191}, {65529, 8191}, {1 << 31, 8191},
	} {
		if got := pref64Lifetime(tc.lifetime); got != tc.want {
			t.Errorf("pref64Lifetime(%d) = %d, want %d", tc.lifetime, got, tc.want)
		}
	}
}
