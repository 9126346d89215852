package dataplane

import (
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// TestNotForUs: the frame path translates only what is addressed to its
// own MAC. Unicast frames for other hosts and IP packets to a group MAC are
// counted as not_for_us, frames from its own MAC as own_mac_source, while
// ARP and Neighbor Discovery to broadcast and multicast are still handled;
// a packet for the IPv4 subnet's network or broadcast address is counted
// as no_neighbor, with no ARP request.
func TestNotForUs(t *testing.T) {
	other := arpnd.MAC{0x02, 0, 0, 0, 0, 0x99}
	bcast := header.BroadcastMAC
	echo6 := func(dst arpnd.MAC, src arpnd.MAC, to string) []byte {
		ip6 := xlattest.IPv6(labClient6, to, layers.IPProtocolICMPv6)
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		icmp.SetNetworkLayerForChecksum(ip6)
		return xlattest.Serialize(eth(dst, src, layers.EthernetTypeIPv6), ip6, icmp, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
	}
	echo4 := func(dst arpnd.MAC, to string) []byte {
		ip4 := xlattest.IPv4(labServer4, to, layers.IPProtocolICMPv4)
		return xlattest.Serialize(eth(dst, srvMAC, layers.EthernetTypeIPv4), ip4,
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1})
	}
	arpReq := func(dst arpnd.MAC, src arpnd.MAC) []byte {
		return xlattest.Serialize(eth(dst, src, layers.EthernetTypeARP),
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
				SourceHwAddress: src[:], SourceProtAddress: xlattest.IP(labServer4).To4(), DstHwAddress: make([]byte, 6), DstProtAddress: xlattest.IP("192.0.2.6").To4()})
	}
	ns := func(src arpnd.MAC) []byte {
		target := xlattest.IP("2001:db8:6::1")
		ip6 := xlattest.IPv6(labClient6, "ff02::1:ff00:1", layers.IPProtocolICMPv6)
		ip6.HopLimit = 255
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
		icmp.SetNetworkLayerForChecksum(ip6)
		return xlattest.Serialize(eth(arpnd.MulticastMAC([16]byte(xlattest.IP("ff02::1:ff00:1"))), src, layers.EthernetTypeIPv6), ip6, icmp,
			&layers.ICMPv6NeighborSolicitation{TargetAddress: target, Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: net.HardwareAddr(src[:])}}})
	}
	for _, tc := range []struct {
		name    string
		side    xlat.Side
		frame   []byte
		counter Counter
		out     int // frames sent
	}{
		{"ours, translated", xlat.Side6, echo6(mac6, hostMAC, labVia6), FramesOut4, 1},
		{"another host's", xlat.Side6, echo6(other, hostMAC, labVia6), NotForUs, 0},
		{"IPv6 to all-nodes", xlat.Side6, echo6(arpnd.MulticastMAC([16]byte(xlattest.IP("ff02::1"))), hostMAC, labVia6), NotForUs, 0},
		{"IPv4 broadcast", xlat.Side4, echo4(bcast, "192.0.2.6"), NotForUs, 0},
		{"IPv4 for another host", xlat.Side4, echo4(other, "192.0.2.6"), NotForUs, 0},
		{"from our own MAC", xlat.Side6, echo6(mac6, mac6, labVia6), OwnSource, 0},
		{"ARP broadcast, answered", xlat.Side4, arpReq(bcast, srvMAC), LinkReplies, 1},
		{"ARP from our own MAC", xlat.Side4, arpReq(bcast, mac4), OwnSource, 0},
		{"NS to the solicited-node group, answered", xlat.Side6, ns(hostMAC), LinkReplies, 1},
		{"our own NS, looped back", xlat.Side6, ns(mac6), OwnSource, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, w, out := reasmWorker(t, false, xlat.ReassemblyOptions{})
			feed(w, tc.side, time.Now(), tc.frame)
			k := p.Counters()
			if k[tc.counter] != 1 || out.frames != tc.out {
				t.Errorf("%s = %d, %d frames out; want 1, %d", tc.counter, k[tc.counter], out.frames, tc.out)
			}
		})
	}
	t.Run("subnet broadcast, no ARP", func(t *testing.T) {
		for _, dst := range []string{"64:ff9b::c000:2ff", "64:ff9b::c000:200"} { // 192.0.2.255, 192.0.2.0
			sent := &countPort{}
			p, w, out := reasmWorker(t, false, xlat.ReassemblyOptions{})
			p.arp, _ = arpnd.NewARP(labOptions(t, false).ARP, sent, nil)
			feed(w, xlat.Side6, time.Now(), echo6(mac6, hostMAC, dst))
			if k := p.Counters(); k[NoNeighbor] != 1 || sent.frames != 0 || out.frames != 0 {
				t.Errorf("to %s: no_neighbor %d, %d ARP requests, %d frames out", dst, k[NoNeighbor], sent.frames, out.frames)
			}
		}
	})
}

// countPort counts the frames written to it.
type countPort struct{ frames int }

func (c *countPort) WriteBatch(bufs [][]byte, _ int) (int, error) {
	c.frames += len(bufs)
	return len(bufs), nil
}
