package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/wire/wiretest"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

var (
	mac6    = arpnd.MAC{0x02, 0x64, 0, 0, 0, 6} // nat64br's IPv6 port
	mac4    = arpnd.MAC{0x02, 0x64, 0, 0, 0, 4} // nat64br's IPv4 port
	hostMAC = arpnd.MAC{0x02, 0, 0, 0, 0, 0x66} // the IPv6 client
	srvMAC  = arpnd.MAC{0x02, 0, 0, 0, 0, 0x44} // the IPv4 server
)

// The lab's addresses (cmd/nat64br/demo.yaml, demo-nat64.yaml).
const (
	labClient6   = "2001:db8:6::2"
	labServer4   = "192.0.2.2"
	labVia6      = "64:ff9b::c000:202" // labServer4 in the Well-Known Prefix
	labClient6v4 = "192.0.2.6"         // the IPv6 client's EAM address
	labPool4     = "192.0.2.1"
)

// labOptions are the demo's translator (SIIT, or NAT64 with pool4
// 192.0.2.1) and neighbor options, as cmd/nat64br maps demo.yaml and
// demo-nat64.yaml.
func labOptions(tb testing.TB, nat64 bool) Options {
	tb.Helper()
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	xo := labXlatOptions(nat64)
	ao := arpnd.ARPOptions{MAC: mac4, Addr: a("192.0.2.1"), Subnet: p("192.0.2.0/24")}
	if nat64 {
		ao.Owned = xo.NAT.Pool4
	} else {
		ao.Owned = []netip.Prefix{p("192.0.2.6/32"), p("192.0.2.80/32")}
	}
	tr, err := xlat.New(xo)
	if err != nil {
		tb.Fatal(err)
	}
	return Options{Translator: tr, MACs: [3]arpnd.MAC{xlat.Side6: mac6, xlat.Side4: mac4}, ARP: ao,
		ND: arpnd.NDOptions{MAC: mac6, Addr: a("2001:db8:6::1"), Subnets: []netip.Prefix{p("2001:db8:6::/64")}, Proxy: []netip.Prefix{p("64:ff9b::/96")}}}
}

// labXlatOptions are the demo's translator options, SIIT or NAT64.
func labXlatOptions(nat64 bool) xlat.Options {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	xo := xlat.Options{Prefix: p("64:ff9b::/96"), AllowNonGlobalWKP: true, IPv4Addr: a("192.0.2.1"), IPv6Addr: a("2001:db8:6::1")}
	if nat64 {
		xo.Mode = xlat.ModeNAT64
		xo.NAT.Pool4 = []netip.Prefix{p("192.0.2.1/32")}
	} else {
		xo.EAM = []xlat.EAM{{V4: p("192.0.2.6/32"), V6: p("2001:db8:6::2/128")}, {V4: p("192.0.2.80/32"), V6: p("2001:db8:6::80/128")}}
	}
	return xo
}

// memLab is a plane between in-memory links; peer6 and peer4 are the
// hosts' ends (one and the same when both sides share a port), mac6 and
// mac4 the plane's addresses, vlan6 and vlan4 its sides' VLANs.
type memLab struct {
	p            *Plane
	peer6, peer4 *wire.MemoryPort
	mac6, mac4   arpnd.MAC
	vlan6, vlan4 uint16
}

// topology is how a memLab is cabled: two ports or one (one-armed), and
// the sides' VLANs.
type topology struct {
	name         string
	shared       bool
	vlan6, vlan4 uint16
}

var topologies = []topology{
	{name: "two ports"},
	{name: "one port", shared: true},
	{name: "trunk", shared: true, vlan6: 10, vlan4: 20},
	{name: "two ports, IPv4 on a VLAN", vlan4: 20},
}

// memPlane is a plane, not started, with opts on two in-memory links whose
// ports hold queue frames; peer6 and peer4 are the hosts' ends.
func memPlane(tb testing.TB, opts Options, queue int) (p *Plane, peer6, peer4 *wire.MemoryPort) {
	tb.Helper()
	var p6, p4 *wire.MemoryPort
	p6, peer6 = wire.NewMemoryPair(queue)
	p4, peer4 = wire.NewMemoryPair(queue)
	opts.Ports[xlat.Side6], opts.Ports[xlat.Side4] = p6, p4
	p, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return p, peer6, peer4
}

func newMemLab(t *testing.T, topo topology) *memLab {
	t.Helper()
	goroutines := runtime.NumGoroutine()
	opts := labOptions(t, false)
	opts.VLANs[xlat.Side6], opts.VLANs[xlat.Side4] = topo.vlan6, topo.vlan4
	l := &memLab{mac6: mac6, mac4: mac4, vlan6: topo.vlan6, vlan4: topo.vlan4}
	if topo.shared {
		// One NIC: one MAC for both sides.
		l.mac4, opts.MACs[xlat.Side4], opts.ARP.MAC = mac6, mac6, mac6
		// The host keeps its own addresses on the NIC.
		opts.HostAddrs = []netip.Addr{netip.MustParseAddr("2001:db8:6::5"), netip.MustParseAddr("192.0.2.5")}
		port, peer := wire.NewMemoryPair(1024)
		opts.Ports[xlat.Side6], opts.Ports[xlat.Side4] = port, port
		p, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		l.p, l.peer6, l.peer4 = p, peer, peer
	} else {
		l.p, l.peer6, l.peer4 = memPlane(t, opts, 1024)
	}
	p := l.p
	p.Start()
	t.Cleanup(func() {
		p.Close()
		// Every goroutine of the plane is gone.
		for i := 0; i < 50 && runtime.NumGoroutine() > goroutines; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > goroutines {
			t.Errorf("%d goroutines after shutdown, %d before start", n, goroutines)
		}
	})
	return l
}

func eth(dst, src arpnd.MAC, et layers.EthernetType) *layers.Ethernet {
	return wiretest.Eth(dst, src, et)
}

// frame serializes ls behind an Ethernet header from src to dst, tagged
// with side s's VLAN if it has one.
func (l *memLab) frame(s xlat.Side, dst, src arpnd.MAC, et layers.EthernetType, ls ...gopacket.SerializableLayer) []byte {
	vid := l.vlan4
	if s == xlat.Side6 {
		vid = l.vlan6
	}
	if vid == 0 {
		return xlattest.Serialize(append([]gopacket.SerializableLayer{eth(dst, src, et)}, ls...)...)
	}
	return xlattest.Serialize(append([]gopacket.SerializableLayer{eth(dst, src, layers.EthernetTypeDot1Q),
		&layers.Dot1Q{VLANIdentifier: vid, Type: et}}, ls...)...)
}

// expectOn is expect for a frame of side s: it must carry s's VLAN tag
// (or none), which it checks.
func (l *memLab) expectOn(t *testing.T, s xlat.Side, what string, match func(gopacket.Packet) bool) gopacket.Packet {
	t.Helper()
	peer, vid := l.peer4, l.vlan4
	if s == xlat.Side6 {
		peer, vid = l.peer6, l.vlan6
	}
	p := l.expect(t, peer, what, match)
	var got uint16
	if d, ok := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); ok {
		got = d.VLANIdentifier
	}
	if got != vid {
		t.Fatalf("%s: VLAN %d, want %d", what, got, vid)
	}
	return p
}

// ipOf returns the IP packet of p, from its network layer on.
func ipOf(p gopacket.Packet) []byte {
	n := p.NetworkLayer()
	return append(append([]byte(nil), n.LayerContents()...), n.LayerPayload()...)
}

func (l *memLab) send(t *testing.T, p *wire.MemoryPort, f []byte) { t.Helper(); wiretest.Send(t, p, f) }

// expect reads frames from p until match accepts one, or fails after 5 s.
func (l *memLab) expect(t *testing.T, p *wire.MemoryPort, what string, match func(gopacket.Packet) bool) gopacket.Packet {
	t.Helper()
	return wiretest.Expect(t, p, what, match)
}

// TestDataplane runs a client and a server through the plane in every
// topology: two ports, one port (one-armed), a trunk with a VLAN a side,
// and two ports with the IPv4 side on a VLAN.
func TestDataplane(t *testing.T) {
	for _, topo := range topologies {
		t.Run(topo.name, func(t *testing.T) { testDataplane(t, newMemLab(t, topo)) })
	}
}

func testDataplane(t *testing.T, l *memLab) {
	// Proxy ND for the prefix.
	ns := xlattest.IPv6(labClient6, "ff02::1:ffc0:202", layers.IPProtocolICMPv6)
	ns.HopLimit = 255
	l.send(t, l.peer6, l.frame(xlat.Side6, arpnd.MulticastMAC([16]byte{0: 0xff, 1: 2, 11: 1, 12: 0xff, 13: 0, 14: 2, 15: 2}), hostMAC, layers.EthernetTypeIPv6,
		ns, xlattest.ICMPv6(135, 0, ns), &layers.ICMPv6NeighborSolicitation{TargetAddress: xlattest.IP(labVia6),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: hostMAC[:]}}}))
	l.expectOn(t, xlat.Side6, "neighbor advertisement for the prefix", func(p gopacket.Packet) bool {
		na, ok := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
		return ok && na.TargetAddress.Equal(xlattest.IP(labVia6))
	})

	// The client sends UDP to the IPv4 server: nat64br asks ARP for it...
	ip6 := xlattest.IPv6(labClient6, labVia6, layers.IPProtocolUDP)
	l.send(t, l.peer6, l.frame(xlat.Side6, l.mac6, hostMAC, layers.EthernetTypeIPv6, ip6, xlattest.UDP(5000, 7, ip6), xlattest.Payload(32)))
	l.expectOn(t, xlat.Side4, "ARP request for the server", func(p gopacket.Packet) bool {
		a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		return ok && a.Operation == 1 && net.IP(a.DstProtAddress).Equal(xlattest.IP(labServer4).To4())
	})
	// ...and sends the held datagram once the server answers.
	l.send(t, l.peer4, l.frame(xlat.Side4, l.mac4, srvMAC, layers.EthernetTypeARP, &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 2,
		SourceHwAddress: srvMAC[:], SourceProtAddress: xlattest.IP(labServer4).To4(), DstHwAddress: l.mac4[:], DstProtAddress: xlattest.IP("192.0.2.1").To4()}))
	p := l.expectOn(t, xlat.Side4, "the translated datagram", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeUDP) != nil })
	e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !bytes.Equal(e.DstMAC, srvMAC[:]) || !bytes.Equal(e.SrcMAC, l.mac4[:]) || ip4.SrcIP.String() != labClient6v4 || ip4.DstIP.String() != labServer4 {
		t.Fatalf("translated frame %v", p)
	}
	if err := xlattest.Check(ipOf(p), false); err != nil {
		t.Fatal(err)
	}

	// The server asks ARP for the client's EAM address, nat64br answers.
	l.send(t, l.peer4, l.frame(xlat.Side4, header.BroadcastMAC, srvMAC, layers.EthernetTypeARP, &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
		SourceHwAddress: srvMAC[:], SourceProtAddress: xlattest.IP(labServer4).To4(), DstHwAddress: make([]byte, 6), DstProtAddress: xlattest.IP(labClient6v4).To4()}))
	l.expectOn(t, xlat.Side4, "ARP reply for the client's EAM address", func(p gopacket.Packet) bool {
		a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		return ok && a.Operation == 2 && bytes.Equal(a.SourceHwAddress, l.mac4[:])
	})

	// The reply goes back to the client's MAC, learned from its frame.
	r4 := xlattest.IPv4(labServer4, labClient6v4, layers.IPProtocolUDP)
	l.send(t, l.peer4, l.frame(xlat.Side4, l.mac4, srvMAC, layers.EthernetTypeIPv4, r4, xlattest.UDP(7, 5000, r4), xlattest.Payload(32)))
	p = l.expectOn(t, xlat.Side6, "the translated reply", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeUDP) != nil })
	if e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !bytes.Equal(e.DstMAC, hostMAC[:]) {
		t.Fatalf("reply to %s, want the client's MAC", e.DstMAC)
	}

	// A destination whose next hop never answers: after three ARP probes
	// the client gets an ICMPv6 error about its datagram.
	lost := xlattest.IPv6(labClient6, "64:ff9b::c000:263", layers.IPProtocolUDP) // 192.0.2.99
	l.send(t, l.peer6, l.frame(xlat.Side6, l.mac6, hostMAC, layers.EthernetTypeIPv6, lost, xlattest.UDP(5000, 9, lost), xlattest.Payload(8)))
	p = l.expectOn(t, xlat.Side6, "ICMPv6 destination unreachable", func(p gopacket.Packet) bool {
		ic, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		return ok && ic.TypeCode.Type() == 1
	})
	if err := xlattest.Check(ipOf(p), false); err != nil {
		t.Fatal(err)
	}

	// Held frames leave through the cache, which counts them. Workers
	// publish their counters after each batch is sent: give the last
	// batch a moment.
	c := l.p.Counters()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); c = l.p.Counters() {
		if c[FramesIn6] >= 3 && c[FramesOut6] >= 2 && c[Held] >= 2 && c[Reply(xlat.ReasonNeighbor)] == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c[FramesIn6] < 3 || c[FramesOut6] < 2 || c[Held] < 2 || c[Reply(xlat.ReasonNeighbor)] != 1 {
		t.Errorf("counters: in6 %d out6 %d held %d neighbor %d", c[FramesIn6], c[FramesOut6], c[Held], c[Reply(xlat.ReasonNeighbor)])
	}
	if l.peer6 == l.peer4 {
		out6, out4 := l.p.Counters()[FramesOut6], l.p.Counters()[FramesOut4]
		// One-armed: the host's own traffic (a datagram, an MLD report) is
		// the kernel's, not a drop.
		host := xlattest.IPv6(labClient6, "2001:db8:6::5", layers.IPProtocolUDP)
		l.send(t, l.peer6, l.frame(xlat.Side6, l.mac6, hostMAC, layers.EthernetTypeIPv6, host, xlattest.UDP(5000, 22, host), xlattest.Payload(8)))
		mld := xlattest.IPv6(labClient6, "ff02::16", layers.IPProtocolICMPv6)
		mld.HopLimit = 1
		l.send(t, l.peer6, l.frame(xlat.Side6, arpnd.MulticastMAC([16]byte{0: 0xff, 1: 2, 15: 0x16}), hostMAC, layers.EthernetTypeIPv6,
			mld, xlattest.ICMPv6(143, 0, mld), xlattest.Payload(24)))
		// An ICMPv6 error to the host, and an IPv4 datagram to it (SIIT
		// would embed its destination in the prefix and translate it).
		ptb := xlattest.IPv6("2001:db8:6::1:9", "2001:db8:6::5", layers.IPProtocolICMPv6)
		inner := xlattest.IPv6("2001:db8:6::5", labClient6, layers.IPProtocolUDP)
		l.send(t, l.peer6, l.frame(xlat.Side6, l.mac6, hostMAC, layers.EthernetTypeIPv6, ptb, xlattest.ICMPv6(2, 0, ptb),
			xlattest.Payload(4), inner, xlattest.UDP(22, 5000, inner), xlattest.Payload(8)))
		h4 := xlattest.IPv4(labServer4, "192.0.2.5", layers.IPProtocolUDP)
		l.send(t, l.peer4, l.frame(xlat.Side4, l.mac4, srvMAC, layers.EthernetTypeIPv4, h4, xlattest.UDP(5000, 22, h4), xlattest.Payload(8)))
		for deadline := time.Now().Add(2 * time.Second); l.p.Counters()[ForHost] < 4 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if c := l.p.Counters(); c[ForHost] != 4 || c.Dropped() != 0 || c[FramesOut6] != out6 || c[FramesOut4] != out4 || c[Drop(xlat.ReasonNoRoute6)]+c[Reply(xlat.ReasonNoRoute6)] != 0 {
			var b strings.Builder
			c.Print(&b)
			t.Errorf("a packet for the host: for_host %d, drop_no_mapping_dst6 %d\n%s", c[ForHost], c[Drop(xlat.ReasonNoRoute6)], b.String())
		}
	}
	if st := l.p.ARP().Cache().Stats(); st.Released != 1 || st.Failed != 1 {
		t.Errorf("ARP cache: %+v", st)
	}
	waitBooks(t, l.p)
}
