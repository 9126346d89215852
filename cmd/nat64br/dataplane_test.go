package main

import (
	"bytes"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

var (
	mac6    = arpnd.MAC{0x02, 0x64, 0, 0, 0, 6} // nat64br's IPv6 port
	mac4    = arpnd.MAC{0x02, 0x64, 0, 0, 0, 4} // nat64br's IPv4 port
	hostMAC = arpnd.MAC{0x02, 0, 0, 0, 0, 0x66} // the IPv6 client
	srvMAC  = arpnd.MAC{0x02, 0, 0, 0, 0, 0x44} // the IPv4 server
)

// memLab is the data plane between two in-memory links; peer6 and peer4
// are the hosts' ends.
type memLab struct {
	d            *dataplane
	peer6, peer4 *wire.MemoryPort
	stop         chan struct{}
}

// memDataplane is a data plane, not started, on two in-memory links
// whose ports hold queue frames; peer6 and peer4 are the hosts' ends.
func memDataplane(tb testing.TB, name, yaml string, queue int) (d *dataplane, p6, p4, peer6, peer4 *wire.MemoryPort) {
	tb.Helper()
	cfg, err := config.Parse(name, []byte(yaml))
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := newTranslator(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	p6, peer6 = wire.NewMemoryPair(queue)
	p4, peer4 = wire.NewMemoryPair(queue)
	d = &dataplane{log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
	d.ports[xlat.Side6], d.ports[xlat.Side4] = p6, p4
	d.macs[xlat.Side6], d.macs[xlat.Side4] = mac6, mac4
	d.gen.Store(&generation{n: 1, tr: tr})
	if d.arp, err = arpnd.NewARP(arpOptions(cfg, mac4), p4, func(p []byte) { d.neighborFailed(xlat.Side4, p) }); err != nil {
		tb.Fatal(err)
	}
	if d.nd, err = arpnd.NewND(ndOptions(cfg, mac6, 1500), p6, func(p []byte) { d.neighborFailed(xlat.Side6, p) }); err != nil {
		tb.Fatal(err)
	}
	return d, p6, p4, peer6, peer4
}

func newMemLab(t *testing.T) *memLab {
	t.Helper()
	d, p6, p4, peer6, peer4 := memDataplane(t, "mem.yaml", demoConfig, 1024)
	l := &memLab{d: d, peer6: peer6, peer4: peer4, stop: make(chan struct{})}
	goroutines := runtime.NumGoroutine()
	d.start()
	d.wg.Add(1)
	go d.tick(l.stop)
	t.Cleanup(func() {
		close(l.stop)
		p6.Close()
		p4.Close()
		d.wg.Wait()
		// Every goroutine of the data plane is gone.
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
	return &layers.Ethernet{DstMAC: net.HardwareAddr(dst[:]), SrcMAC: net.HardwareAddr(src[:]), EthernetType: et}
}

func (l *memLab) send(t *testing.T, p *wire.MemoryPort, f []byte) {
	t.Helper()
	if _, err := p.WriteBatch([][]byte{f}, 0); err != nil {
		t.Fatal(err)
	}
}

// expect reads frames from p until match accepts one, or fails after 5 s.
func (l *memLab) expect(t *testing.T, p *wire.MemoryPort, what string, match func(gopacket.Packet) bool) gopacket.Packet {
	t.Helper()
	ch := make(chan gopacket.Packet, 1)
	go func() {
		bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
		for {
			if _, err := p.ReadBatch(bufs, sizes, 0); err != nil {
				close(ch)
				return
			}
			pk := gopacket.NewPacket(append([]byte(nil), bufs[0][:sizes[0]]...), layers.LayerTypeEthernet, gopacket.Default)
			if match(pk) {
				ch <- pk
				return
			}
		}
	}()
	select {
	case pk, ok := <-ch:
		if !ok {
			t.Fatalf("port closed while waiting for %s", what)
		}
		return pk
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5 s", what)
	}
	return nil
}

func TestDataplane(t *testing.T) {
	l := newMemLab(t)

	// Proxy ND for the prefix.
	ns := xlattest.IPv6(labClient6, "ff02::1:ffc0:202", layers.IPProtocolICMPv6)
	ns.HopLimit = 255
	l.send(t, l.peer6, xlattest.Serialize(eth(arpnd.MulticastMAC([16]byte{0: 0xff, 1: 2, 11: 1, 12: 0xff, 13: 0, 14: 2, 15: 2}), hostMAC, layers.EthernetTypeIPv6),
		ns, xlattest.ICMPv6(135, 0, ns), &layers.ICMPv6NeighborSolicitation{TargetAddress: xlattest.IP(labVia6),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: hostMAC[:]}}}))
	l.expect(t, l.peer6, "neighbor advertisement for the prefix", func(p gopacket.Packet) bool {
		na, ok := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
		return ok && na.TargetAddress.Equal(xlattest.IP(labVia6))
	})

	// The client sends UDP to the IPv4 server: nat64br asks ARP for it...
	ip6 := xlattest.IPv6(labClient6, labVia6, layers.IPProtocolUDP)
	l.send(t, l.peer6, xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetTypeIPv6), ip6, xlattest.UDP(5000, 7, ip6), xlattest.Payload(32)))
	l.expect(t, l.peer4, "ARP request for the server", func(p gopacket.Packet) bool {
		a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		return ok && a.Operation == 1 && net.IP(a.DstProtAddress).Equal(xlattest.IP(labServer4).To4())
	})
	// ...and sends the held datagram once the server answers.
	l.send(t, l.peer4, xlattest.Serialize(eth(mac4, srvMAC, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 2,
		SourceHwAddress: srvMAC[:], SourceProtAddress: xlattest.IP(labServer4).To4(), DstHwAddress: mac4[:], DstProtAddress: xlattest.IP("192.0.2.1").To4()}))
	p := l.expect(t, l.peer4, "the translated datagram", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeUDP) != nil })
	e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if !bytes.Equal(e.DstMAC, srvMAC[:]) || !bytes.Equal(e.SrcMAC, mac4[:]) || ip4.SrcIP.String() != labClient6v4 || ip4.DstIP.String() != labServer4 {
		t.Fatalf("translated frame %v", p)
	}
	if err := xlattest.Check(e.Payload, false); err != nil {
		t.Fatal(err)
	}

	// The server asks ARP for the client's EAM address, nat64br answers.
	l.send(t, l.peer4, xlattest.Serialize(eth(arpnd.Broadcast, srvMAC, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
		SourceHwAddress: srvMAC[:], SourceProtAddress: xlattest.IP(labServer4).To4(), DstHwAddress: make([]byte, 6), DstProtAddress: xlattest.IP(labClient6v4).To4()}))
	l.expect(t, l.peer4, "ARP reply for the client's EAM address", func(p gopacket.Packet) bool {
		a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
		return ok && a.Operation == 2 && bytes.Equal(a.SourceHwAddress, mac4[:])
	})

	// The reply goes back to the client's MAC, learned from its frame.
	r4 := xlattest.IPv4(labServer4, labClient6v4, layers.IPProtocolUDP)
	l.send(t, l.peer4, xlattest.Serialize(eth(mac4, srvMAC, layers.EthernetTypeIPv4), r4, xlattest.UDP(7, 5000, r4), xlattest.Payload(32)))
	p = l.expect(t, l.peer6, "the translated reply", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeUDP) != nil })
	if e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); !bytes.Equal(e.DstMAC, hostMAC[:]) {
		t.Fatalf("reply to %s, want the client's MAC", e.DstMAC)
	}

	// A destination whose next hop never answers: after three ARP probes
	// the client gets an ICMPv6 error about its datagram.
	lost := xlattest.IPv6(labClient6, "64:ff9b::c000:263", layers.IPProtocolUDP) // 192.0.2.99
	l.send(t, l.peer6, xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetTypeIPv6), lost, xlattest.UDP(5000, 9, lost), xlattest.Payload(8)))
	p = l.expect(t, l.peer6, "ICMPv6 destination unreachable", func(p gopacket.Packet) bool {
		ic, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
		return ok && ic.TypeCode.Type() == 1
	})
	if err := xlattest.Check(p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet).Payload, false); err != nil {
		t.Fatal(err)
	}

	// Held frames leave through the cache, which counts them. Workers
	// publish their counters after each batch is sent: give the last
	// batch a moment.
	c := l.d.stats.load()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); c = l.d.stats.load() {
		if c[cIn6] >= 3 && c[cOut6] >= 2 && c[cHeld] >= 2 && c[cReplyBase+counter(xlat.ReasonNeighbor)] == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c[cIn6] < 3 || c[cOut6] < 2 || c[cHeld] < 2 || c[cReplyBase+counter(xlat.ReasonNeighbor)] != 1 {
		t.Errorf("counters: in6 %d out6 %d held %d neighbor %d", c[cIn6], c[cOut6], c[cHeld], c[cReplyBase+counter(xlat.ReasonNeighbor)])
	}
	if st := l.d.arp.Cache().Stats(); st.Released != 1 || st.Failed != 1 {
		t.Errorf("ARP cache: %+v", st)
	}
}
