// Package xlattest builds and checks packets for nat64br's tests, with
// gopacket as an encoder and decoder independent of nat64br's own header
// code. It is imported by tests only.
package xlattest

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Serialize encodes layers with lengths fixed and checksums computed.
// Transport layers must have their network layer set for the checksum
// (SetNetworkLayerForChecksum) by the caller, or use the helpers below.
func Serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		panic(err) // a test's packet recipe is wrong
	}
	return append([]byte(nil), buf.Bytes()...)
}

// IP returns a net.IP for a literal address, for gopacket fields.
func IP(s string) net.IP { return net.IP(netip.MustParseAddr(s).AsSlice()) }

// IPv4 returns an IPv4 header with TTL 64 and the given protocol.
func IPv4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Protocol: proto, SrcIP: IP(src), DstIP: IP(dst)}
}

// IPv6 returns an IPv6 header with hop limit 64 and the given next header.
func IPv6(src, dst string, nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: nh, SrcIP: IP(src), DstIP: IP(dst)}
}

// UDP returns a UDP header whose checksum covers net.
func UDP(sport, dport uint16, net gopacket.NetworkLayer) *layers.UDP {
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	_ = u.SetNetworkLayerForChecksum(net)
	return u
}

// TCP returns a TCP SYN/ACK-less data segment header whose checksum covers
// net.
func TCP(sport, dport uint16, net gopacket.NetworkLayer) *layers.TCP {
	t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Ack: 2000, ACK: true, PSH: true, Window: 65535}
	_ = t.SetNetworkLayerForChecksum(net)
	return t
}

// ICMPv6 returns an ICMPv6 header whose checksum covers net.
func ICMPv6(typ, code uint8, net gopacket.NetworkLayer) *layers.ICMPv6 {
	i := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
	_ = i.SetNetworkLayerForChecksum(net)
	return i
}

// Payload returns n bytes of a recognisable pattern.
func Payload(n int) gopacket.Payload {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return p
}

func sum(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// Check decodes pkt (a bare IPv4 or IPv6 packet) with gopacket and verifies
// that its lengths are consistent and its checksums valid: the IPv4 header
// checksum, and the TCP, UDP, ICMP or ICMPv6 checksum of an unfragmented
// packet. A bad transport checksum or UDP length is accepted if allowBadL4
// is set (the input had one: a translator carries it, it does not repair it).
func Check(pkt []byte, allowBadL4 bool) error {
	if len(pkt) == 0 {
		return fmt.Errorf("empty packet")
	}
	switch pkt[0] >> 4 {
	case 4:
		p := gopacket.NewPacket(pkt, layers.LayerTypeIPv4, gopacket.DecodeOptions{NoCopy: true})
		ip, ok := p.NetworkLayer().(*layers.IPv4)
		if !ok {
			return fmt.Errorf("gopacket cannot decode the IPv4 header: %v", p.ErrorLayer())
		}
		ihl := int(ip.IHL) * 4
		if int(ip.Length) != len(pkt) || ihl < 20 || ihl > len(pkt) {
			return fmt.Errorf("IPv4 total length %d, IHL %d, packet %d bytes", ip.Length, ihl, len(pkt))
		}
		if fold(sum(pkt[:ihl])) != 0xffff {
			return fmt.Errorf("IPv4 header checksum %#04x does not verify", ip.Checksum)
		}
		if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
			return nil
		}
		l4 := pkt[ihl:]
		var ps uint32
		if ip.Protocol != layers.IPProtocolICMPv4 {
			ps = sum(pkt[12:20]) + uint32(ip.Protocol) + uint32(len(l4))
		}
		return checkL4(uint8(ip.Protocol), l4, ps, allowBadL4, false)
	case 6:
		if len(pkt) < 40 {
			return fmt.Errorf("IPv6 packet of %d bytes", len(pkt))
		}
		p := gopacket.NewPacket(pkt, layers.LayerTypeIPv6, gopacket.DecodeOptions{NoCopy: true})
		ip, ok := p.NetworkLayer().(*layers.IPv6)
		if !ok {
			return fmt.Errorf("gopacket cannot decode the IPv6 header: %v", p.ErrorLayer())
		}
		if int(ip.Length)+40 != len(pkt) {
			return fmt.Errorf("IPv6 payload length %d, packet %d bytes", ip.Length, len(pkt))
		}
		nh, off := uint8(ip.NextHeader), 40
		for {
			switch nh {
			case 0, 43, 60:
				if off+2 > len(pkt) {
					return fmt.Errorf("truncated extension header")
				}
				nh, off = pkt[off], off+(int(pkt[off+1])+1)*8
				continue
			case 44:
				if off+8 > len(pkt) {
					return fmt.Errorf("truncated fragment header")
				}
				if binary.BigEndian.Uint16(pkt[off+2:])&0xfff9 != 0 {
					return nil // a real fragment: the checksum spans fragments
				}
				nh, off = pkt[off], off+8
				continue
			}
			break
		}
		if off > len(pkt) {
			return fmt.Errorf("extension headers run past the packet")
		}
		l4 := pkt[off:]
		ps := sum(pkt[8:40]) + uint32(nh) + uint32(len(l4))
		return checkL4(nh, l4, ps, allowBadL4, true)
	}
	return fmt.Errorf("IP version %d", pkt[0]>>4)
}

func checkL4(proto uint8, l4 []byte, pseudo uint32, allowBad, v6 bool) error {
	var at int
	switch proto {
	case 6:
		at = 16
	case 17:
		at = 6
		if len(l4) >= 8 && binary.BigEndian.Uint16(l4[4:]) != uint16(len(l4)) && !allowBad {
			return fmt.Errorf("UDP length %d, datagram %d bytes", binary.BigEndian.Uint16(l4[4:]), len(l4))
		}
		if len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:]) == 0 && !v6 {
			return nil
		}
	case 1, 58:
		at = 2
		if err := checkQuoted(proto, l4); err != nil {
			return err
		}
	default:
		return nil
	}
	if len(l4) < at+2 {
		return fmt.Errorf("protocol %d header truncated (%d bytes)", proto, len(l4))
	}
	if fold(sum(l4)+pseudo) != 0xffff && !allowBad {
		return fmt.Errorf("protocol %d checksum %#04x does not verify", proto, binary.BigEndian.Uint16(l4[at:]))
	}
	return nil
}

// checkQuoted verifies the IPv4 header checksum of the packet an ICMPv4
// error quotes, as a receiver would.
func checkQuoted(proto uint8, icmp []byte) error {
	if proto != 1 || len(icmp) < 8+20 {
		return nil
	}
	switch icmp[0] {
	case 3, 11, 12:
	default:
		return nil
	}
	q := icmp[8:]
	ihl := int(q[0]&15) * 4
	if q[0]>>4 != 4 || ihl < 20 || ihl > len(q) {
		return fmt.Errorf("quoted packet is not IPv4")
	}
	if fold(sum(q[:ihl])) != 0xffff {
		return fmt.Errorf("quoted IPv4 header checksum does not verify")
	}
	return nil
}
