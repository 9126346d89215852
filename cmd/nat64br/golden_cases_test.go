package main

import (
	"encoding/binary"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat/xlattest"
)

// The golden generator. Every expected packet is written from the RFC rule
// it illustrates, with gopacket computing lengths and checksums; nothing is
// taken from nat64br's output. Addresses are documentation ranges.
const (
	c6 = "2001:db8:6::10"         // IPv6 client, EAM 1:1 with c4 (a TAYGA "map" line)
	c4 = "192.0.2.10"             //
	s4 = "203.0.113.5"            // IPv4 server
	s6 = "2001:db8:64::cb00:7105" // s4 in the prefix
	r4 = "203.0.113.77"           // an IPv4 router
	r6 = "2001:db8:64::cb00:714d" // r4 in the prefix
	t4 = "192.0.2.1"              // the translator
	t6 = "2001:db8:ff::1"         //
	n6 = "2001:db8:46::5"         // an IPv6 node of the EAM 198.51.100.0/24
	n4 = "198.51.100.5"           //
)

const cfgBase = `mode: siit
prefix: "2001:db8:64::/96"
eam:
  - ipv4: "192.0.2.10/32"
    ipv6: "2001:db8:6::10/128"
  - ipv4: "198.51.100.0/24"
    ipv6: "2001:db8:46::/120"
ipv4-addr: "192.0.2.1"
ipv6-addr: "2001:db8:ff::1"
`

func v6(src, dst string, hl uint8) *layers.IPv6 {
	ip := xlattest.IPv6(src, dst, 0)
	ip.HopLimit = hl
	return ip
}

func v4(src, dst string, ttl uint8) *layers.IPv4 {
	ip := xlattest.IPv4(src, dst, 0)
	ip.TTL = ttl
	return ip
}

func setProto(ip gopacket.NetworkLayer, p layers.IPProtocol) {
	switch h := ip.(type) {
	case *layers.IPv4:
		h.Protocol = p
	case *layers.IPv6:
		h.NextHeader = p
	}
}

func udpPkt(ip gopacket.NetworkLayer, sport, dport uint16, n int) []byte {
	setProto(ip, layers.IPProtocolUDP)
	return xlattest.Serialize(ip.(gopacket.SerializableLayer), xlattest.UDP(sport, dport, ip), xlattest.Payload(n))
}

func tcpPkt(ip gopacket.NetworkLayer, sport, dport uint16, n int) []byte {
	setProto(ip, layers.IPProtocolTCP)
	return xlattest.Serialize(ip.(gopacket.SerializableLayer), xlattest.TCP(sport, dport, ip), xlattest.Payload(n))
}

// synPkt is a TCP SYN (ack set: a SYN/ACK) with n bytes of data.
func synPkt(ip gopacket.NetworkLayer, sport, dport uint16, n int, ack bool) []byte {
	setProto(ip, layers.IPProtocolTCP)
	t := xlattest.TCP(sport, dport, ip)
	t.SYN, t.ACK, t.PSH = true, ack, false
	return xlattest.Serialize(ip.(gopacket.SerializableLayer), t, xlattest.Payload(n))
}

func echo6(ip *layers.IPv6, typ uint8, id, seq uint16, n int) []byte {
	ip.NextHeader = layers.IPProtocolICMPv6
	return xlattest.Serialize(ip, xlattest.ICMPv6(typ, 0, ip), &layers.ICMPv6Echo{Identifier: id, SeqNumber: seq}, xlattest.Payload(n))
}

func echo4(ip *layers.IPv4, typ uint8, id, seq uint16, n int) []byte {
	ip.Protocol = layers.IPProtocolICMPv4
	return xlattest.Serialize(ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, 0), Id: id, Seq: seq}, xlattest.Payload(n))
}

func icmp6Err(ip *layers.IPv6, typ, code uint8, rest uint32, quoted []byte) []byte {
	ip.NextHeader = layers.IPProtocolICMPv6
	body := binary.BigEndian.AppendUint32(nil, rest)
	return xlattest.Serialize(ip, xlattest.ICMPv6(typ, code, ip), gopacket.Payload(append(body, quoted...)))
}

func icmp4Err(ip *layers.IPv4, typ, code uint8, rest uint32, quoted []byte) []byte {
	ip.Protocol = layers.IPProtocolICMPv4
	return xlattest.Serialize(ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code), Id: uint16(rest >> 16), Seq: uint16(rest)}, gopacket.Payload(quoted))
}

func trunc(b []byte, n int) []byte { return append([]byte(nil), b[:min(n, len(b))]...) }

// withExt inserts IPv6 extension headers ext right after the fixed header
// of pkt; first is the Next Header value naming the first of them, and the
// last one must name pkt's own next header.
func withExt(pkt []byte, first uint8, ext []byte) []byte {
	out := append(append(append([]byte(nil), pkt[:40]...), ext...), pkt[40:]...)
	out[6] = first
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	return out
}

// fragments6 cuts the upper-layer bytes of an unfragmented IPv6 packet into
// fragments of per bytes of data, keeping the header.
func fragments6(pkt []byte, per int, id uint32) [][]byte {
	nh, data := pkt[6], pkt[40:]
	var out [][]byte
	for off := 0; off < len(data); off += per {
		end := min(off+per, len(data))
		f := append([]byte(nil), pkt[:40]...)
		f[6] = 44
		fh := make([]byte, 8)
		fh[0] = nh
		v := uint16(off/8) << 3
		if end < len(data) {
			v |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], v)
		binary.BigEndian.PutUint32(fh[4:], id)
		f = append(append(f, fh...), data[off:end]...)
		binary.BigEndian.PutUint16(f[4:], uint16(len(f)-40))
		out = append(out, f)
	}
	return out
}

// fragments4 cuts the payload of an unfragmented IPv4 packet (IHL 5) into
// fragments of per bytes, with header checksums recomputed.
func fragments4(pkt []byte, per int) [][]byte {
	data := pkt[20:]
	var out [][]byte
	for off := 0; off < len(data); off += per {
		end := min(off+per, len(data))
		f := append(append([]byte(nil), pkt[:20]...), data[off:end]...)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		v := uint16(off / 8)
		if end < len(data) {
			v |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], v)
		fixIPv4Checksum(f)
		out = append(out, f)
	}
	return out
}

func fixIPv4Checksum(p []byte) {
	ihl := int(p[0]&15) * 4
	p[10], p[11] = 0, 0
	var s uint32
	for i := 0; i < ihl; i += 2 {
		s += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(s))
}

// rfc4884Ext is an ICMP extension structure (RFC 4884 §7): version 2, a
// checksum, one object (class 1, c-type 1) of 16 bytes.
func rfc4884Ext() []byte {
	e := []byte{0x20, 0, 0, 0, 0, 20, 1, 1}
	e = append(e, []byte("interface-info!!")[:12]...)
	var s uint32
	for i := 0; i < len(e); i += 2 {
		s += uint32(binary.BigEndian.Uint16(e[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(e[2:], ^uint16(s))
	return e
}

func goldenCases() []goldenCase {
	var cs []goldenCase
	add := func(c goldenCase) { cs = append(cs, c) }
	id0 := map[int][][2]int{0: {ipv4ID(0)}}

	// ---- IPv6 -> IPv4 header translation (RFC 7915 §5.1, §5.5) ----
	{
		in := v6(c6, s6, 64)
		in.TrafficClass = 0xb8
		out := v4(c4, s4, 63)
		out.TOS = 0xb8
		add(goldenCase{name: "6to4-udp", config: cfgBase,
			in: [][]byte{udpPkt(in, 5000, 53, 100)}, want: [][]byte{udpPkt(out, 5000, 53, 100)}, ignore: id0})
	}
	{
		out := v4(c4, s4, 63)
		out.Flags = layers.IPv4DontFragment // RFC 7915 §5.1: > 1260 bytes
		add(goldenCase{name: "6to4-tcp-df-over-1260", config: cfgBase,
			in: [][]byte{tcpPkt(v6(c6, s6, 64), 40000, 80, 1300)}, want: [][]byte{tcpPkt(out, 40000, 80, 1300)}, ignore: id0})
	}
	add(goldenCase{name: "6to4-icmp-echo", config: cfgBase,
		in:     [][]byte{echo6(v6(c6, s6, 64), 128, 0x42, 7, 56), echo6(v6(c6, s6, 64), 129, 0x43, 8, 8)},
		want:   [][]byte{echo4(v4(c4, s4, 63), 8, 0x42, 7, 56), echo4(v4(c4, s4, 63), 0, 0x43, 8, 8)},
		ignore: map[int][][2]int{0: {ipv4ID(0)}, 1: {ipv4ID(0)}}})
	{
		// Hop-by-Hop, Routing (Segments Left 0) and Destination Options
		// are skipped (RFC 7915 §5.1).
		hbh := []byte{43, 0, 1, 4, 0, 0, 0, 0}
		rt := []byte{60, 0, 253, 0, 0, 0, 0, 0}
		do := []byte{17, 0, 1, 4, 0, 0, 0, 0}
		ext := append(append(append([]byte(nil), hbh...), rt...), do...)
		add(goldenCase{name: "6to4-extension-headers-skipped", config: cfgBase,
			in:   [][]byte{withExt(udpPkt(v6(c6, s6, 64), 5000, 53, 40), 0, ext)},
			want: [][]byte{udpPkt(v4(c4, s4, 63), 5000, 53, 40)}, ignore: id0})
		// Segments Left > 0: Parameter Problem pointing at it: byte 3 of
		// the Routing header, which follows the 8-byte Hop-by-Hop header.
		rtSL := []byte{17, 0, 253, 2, 0, 0, 0, 0}
		in := withExt(udpPkt(v6(c6, s6, 64), 5000, 53, 40), 0, append(append([]byte(nil), hbh...), rtSL...))
		add(goldenCase{name: "6to4-routing-segments-left", config: cfgBase,
			in: [][]byte{in}, want: [][]byte{icmp6Err(v6(t6, c6, 64), 4, 0, 51, in)}})
	}
	{
		// A fragmented datagram: the first fragment's UDP checksum is
		// updated for the whole datagram; the later fragment is untouched.
		whole := udpPkt(v6(c6, s6, 64), 5000, 53, 1000)
		frags := fragments6(whole, 512, 0x00012345)
		out := v4(c4, s4, 63)
		out.Id = 0x2345
		want := fragments4(udpPkt(out, 5000, 53, 1000), 512)
		add(goldenCase{name: "6to4-fragments", config: cfgBase, in: frags, want: want})
		// An atomic fragment keeps its Identification.
		atomic := fragments6(udpPkt(v6(c6, s6, 64), 5000, 53, 100), 2000, 0xabcd0042)
		o := v4(c4, s4, 63)
		o.Id = 0x0042
		add(goldenCase{name: "6to4-atomic-fragment", config: cfgBase, in: atomic, want: [][]byte{udpPkt(o, 5000, 53, 100)}})
	}
	{
		in := udpPkt(v6(c6, s6, 1), 5000, 53, 60)
		add(goldenCase{name: "6to4-hop-limit-exceeded", config: cfgBase,
			in: [][]byte{in}, want: [][]byte{icmp6Err(v6(t6, c6, 64), 3, 0, 0, in)}})
	}
	{
		in := tcpPkt(v6(c6, s6, 64), 40000, 80, 1440)
		add(goldenCase{name: "6to4-packet-too-big", config: cfgBase + "mtu:\n  ipv4: 1400\n",
			in:   [][]byte{in},
			want: [][]byte{icmp6Err(v6(t6, c6, 64), 2, 0, 1420, trunc(in, 1280-48))}})
	}
	{
		// A wrong UDP checksum stays exactly as wrong (RFC 1624 update).
		in := udpPkt(v6(c6, s6, 64), 5000, 53, 64)
		in[len(in)-1] ^= 0x5a
		want := udpPkt(v4(c4, s4, 63), 5000, 53, 64)
		want[len(want)-1] ^= 0x5a
		add(goldenCase{name: "6to4-bad-udp-checksum-kept", config: cfgBase, in: [][]byte{in}, want: [][]byte{want}, ignore: id0, badL4: true})
	}
	{
		in := udpPkt(v6(c6, "2001:db8:77::1", 64), 5000, 53, 20)
		add(goldenCase{name: "6to4-no-mapping", config: cfgBase,
			in: [][]byte{in}, want: [][]byte{icmp6Err(v6(t6, c6, 64), 1, 0, 0, in)}})
	}
	{
		// ND and MLD are never translated (RFC 7915 §5.2).
		ns := xlattest.Serialize(&layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: xlattest.IP(c6), DstIP: xlattest.IP(s6)},
			icmpV6For(c6, s6, 135), &layers.ICMPv6NeighborSolicitation{TargetAddress: xlattest.IP(s6)})
		mld := echo6(v6(c6, s6, 1), 131, 0, 0, 16)
		rs := echo6(v6(c6, s6, 255), 133, 0, 0, 0)
		add(goldenCase{name: "6to4-nd-mld-not-translated", config: cfgBase, in: [][]byte{ns, mld, rs}})
	}
	{
		// RFC 6052 §3.1: the Well-Known Prefix refuses non-global IPv4
		// addresses; a global one passes.
		cfg := "mode: siit\nprefix: \"64:ff9b::/96\"\neam:\n  - ipv4: \"192.0.2.10/32\"\n    ipv6: \"2001:db8:6::10/128\"\nipv4-addr: \"192.0.2.1\"\nipv6-addr: \"2001:db8:ff::1\"\n"
		bad := udpPkt(v6(c6, "64:ff9b::a01:203", 64), 5000, 53, 20)
		good := udpPkt(v6(c6, "64:ff9b::808:808", 64), 5000, 53, 20)
		add(goldenCase{name: "6to4-wkp-non-global-refused", config: cfg,
			in:     [][]byte{bad, good},
			want:   [][]byte{icmp6Err(v6(t6, c6, 64), 1, 0, 0, bad), udpPkt(v4(c4, "8.8.8.8", 63), 5000, 53, 20)},
			ignore: map[int][][2]int{1: {ipv4ID(0)}}})
	}
	{
		in := udpPkt(v6(c6, s6, 64), 5000, 53, 20)
		in[40+6], in[40+7] = 0, 0
		add(goldenCase{name: "6to4-udp-zero-checksum-dropped", config: cfgBase, in: [][]byte{in}})
	}

	// ---- IPv4 -> IPv6 header translation (RFC 7915 §4.1, §4.5) ----
	{
		in := v4(s4, c4, 64)
		in.TOS, in.Id, in.Flags = 0x28, 0x4242, layers.IPv4DontFragment
		out := v6(s6, c6, 63)
		out.TrafficClass = 0x28
		add(goldenCase{name: "4to6-udp", config: cfgBase, in: [][]byte{udpPkt(in, 53, 5000, 200)}, want: [][]byte{udpPkt(out, 53, 5000, 200)}})
		add(goldenCase{name: "4to6-tcp", config: cfgBase, in: [][]byte{tcpPkt(v4(s4, c4, 64), 80, 40000, 500)}, want: [][]byte{tcpPkt(v6(s6, c6, 63), 80, 40000, 500)}})
		add(goldenCase{name: "4to6-icmp-echo", config: cfgBase,
			in:   [][]byte{echo4(v4(s4, c4, 64), 0, 0x42, 7, 56), echo4(v4(s4, c4, 64), 8, 0x43, 1, 0)},
			want: [][]byte{echo6(v6(s6, c6, 63), 129, 0x42, 7, 56), echo6(v6(s6, c6, 63), 128, 0x43, 1, 0)}})
		z := v4(s4, c4, 64)
		z.TOS = 0x28
		add(goldenCase{name: "4to6-zeroize-traffic-class", config: cfgBase + "zeroize-traffic-class: true\n",
			in: [][]byte{udpPkt(z, 53, 5000, 20)}, want: [][]byte{udpPkt(v6(s6, c6, 63), 53, 5000, 20)}})
	}
	{
		zero := func() []byte {
			p := udpPkt(v4(s4, c4, 64), 53, 5000, 30)
			p[20+6], p[20+7] = 0, 0
			return p
		}
		add(goldenCase{name: "4to6-udp-zero-checksum-calculate", config: cfgBase + "udp-zero-checksum: calculate\n",
			in: [][]byte{zero()}, want: [][]byte{udpPkt(v6(s6, c6, 63), 53, 5000, 30)}})
		in := zero()
		add(goldenCase{name: "4to6-udp-zero-checksum-reject", config: cfgBase + "udp-zero-checksum: reject\n",
			in: [][]byte{in}, want: [][]byte{icmp4Err(v4(t4, s4, 64), 3, 13, 0, in)}, ignore: id0})
		add(goldenCase{name: "4to6-udp-zero-checksum-drop", config: cfgBase, in: [][]byte{zero()}})
		fz := zero()
		add(goldenCase{name: "4to6-udp-zero-checksum-forward", config: cfgBase + "udp-zero-checksum: forward\n",
			in: [][]byte{fz}, want: [][]byte{func() []byte { p := udpPkt(v6(s6, c6, 63), 53, 5000, 30); p[46], p[47] = 0, 0; return p }()}, badL4: true})
	}
	{
		// Options are ignored (RFC 7915 §4.1)...
		in := v4(s4, c4, 64)
		in.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}}
		add(goldenCase{name: "4to6-options-ignored", config: cfgBase,
			in: [][]byte{udpPkt(in, 53, 5000, 20)}, want: [][]byte{udpPkt(v6(s6, c6, 63), 53, 5000, 20)}})
		// ...but an unexpired source route gets 3/5.
		sr := v4(s4, c4, 64)
		sr.Options = []layers.IPv4Option{{OptionType: 131, OptionLength: 7, OptionData: []byte{4, 198, 51, 100, 9}}, {OptionType: 0}}
		p := udpPkt(sr, 53, 5000, 20)
		add(goldenCase{name: "4to6-source-route", config: cfgBase,
			in: [][]byte{p}, want: [][]byte{icmp4Err(v4(t4, s4, 64), 3, 5, 0, p)}, ignore: id0})
	}
	{
		in := v4(s4, c4, 64)
		in.Flags = layers.IPv4DontFragment
		p := udpPkt(in, 53, 5000, 1372)
		add(goldenCase{name: "4to6-fragmentation-needed", config: cfgBase + "mtu:\n  ipv6: 1280\n",
			in: [][]byte{p}, want: [][]byte{icmp4Err(v4(t4, s4, 64), 3, 4, 1260, trunc(p, 548))}, ignore: id0})
	}
	{
		// DF=0 and bigger than lowest-ipv6-mtu: IPv6 fragments that keep
		// the IPv4 Identification (RFC 7915 §4.1).
		in := v4(s4, c4, 64)
		in.Id = 0x4242
		whole := udpPkt(v6(s6, c6, 63), 53, 5000, 1372)
		add(goldenCase{name: "4to6-split-into-fragments", config: cfgBase,
			in: [][]byte{udpPkt(in, 53, 5000, 1372)}, want: fragments6(whole, 1232, 0x4242)})
		// IPv4 fragments become IPv6 fragments.
		f := v4(s4, c4, 64)
		f.Id = 0x7777
		add(goldenCase{name: "4to6-fragments", config: cfgBase,
			in: fragments4(udpPkt(f, 53, 5000, 600), 304), want: fragments6(udpPkt(v6(s6, c6, 63), 53, 5000, 600), 304, 0x7777)})
	}
	{
		p := udpPkt(v4(s4, c4, 1), 53, 5000, 30)
		add(goldenCase{name: "4to6-ttl-exceeded", config: cfgBase,
			in: [][]byte{p}, want: [][]byte{icmp4Err(v4(t4, s4, 64), 11, 0, 0, p)}, ignore: id0})
		bad := udpPkt(v4(s4, c4, 64), 53, 5000, 30)
		bad[10] ^= 0xff
		add(goldenCase{name: "4to6-bad-ipv4-checksum-dropped", config: cfgBase, in: [][]byte{bad}})
		tb := tcpPkt(v4(s4, c4, 64), 80, 40000, 100)
		tb[len(tb)-1] ^= 0x11
		tw := tcpPkt(v6(s6, c6, 63), 80, 40000, 100)
		tw[len(tw)-1] ^= 0x11
		add(goldenCase{name: "4to6-bad-tcp-checksum-kept", config: cfgBase, in: [][]byte{tb}, want: [][]byte{tw}, badL4: true})
	}

	// ---- ICMPv4 errors -> ICMPv6 (RFC 7915 §4.2, §4.3) ----
	// The quoted packet keeps its TTL/hop limit (RFC 7915 §4.3).
	q4 := udpPkt(v4(c4, s4, 63), 5000, 53, 64) // what c4 sent, as the IPv4 side saw it
	q6 := udpPkt(v6(c6, s6, 63), 5000, 53, 64) // the same in IPv6
	e4 := func(typ, code uint8, rest uint32) []byte { return icmp4Err(v4(s4, c4, 64), typ, code, rest, q4) }
	e6 := func(typ, code uint8, rest uint32) []byte { return icmp6Err(v6(s6, c6, 63), typ, code, rest, q6) }
	add(goldenCase{name: "icmp4to6-port-unreachable", config: cfgBase, in: [][]byte{e4(3, 3, 0)}, want: [][]byte{e6(1, 4, 0)}})
	add(goldenCase{name: "icmp4to6-protocol-unreachable", config: cfgBase, in: [][]byte{e4(3, 2, 0)}, want: [][]byte{e6(4, 1, 6)}})
	add(goldenCase{name: "icmp4to6-time-exceeded", config: cfgBase, in: [][]byte{e4(11, 1, 0)}, want: [][]byte{e6(3, 1, 0)}})
	add(goldenCase{name: "icmp4to6-parameter-problem", config: cfgBase,
		in: [][]byte{e4(12, 0, 12<<24), e4(12, 0, 9<<24), e4(12, 0, 4<<24)}, want: [][]byte{e6(4, 0, 8), e6(4, 0, 6)}})
	add(goldenCase{name: "icmp4to6-frag-needed", config: cfgBase, in: [][]byte{e4(3, 4, 1400)}, want: [][]byte{e6(2, 0, 1420)}})
	{
		// MTU 0 (pre-RFC 1191 router): the plateau below the quoted total
		// length 1500 is 1492, +20, capped by the IPv6 MTU 1500.
		big := udpPkt(v4(c4, s4, 63), 5000, 53, 1472)
		add(goldenCase{name: "icmp4to6-frag-needed-plateau", config: cfgBase,
			in:   [][]byte{icmp4Err(v4(s4, c4, 64), 3, 4, 0, trunc(big, 200))},
			want: [][]byte{icmp6Err(v6(s6, c6, 63), 2, 0, 1500, trunc(udpPkt(v6(c6, s6, 63), 5000, 53, 1472), 220))}})
	}
	{
		var in, want [][]byte
		for _, m := range [][2]uint8{{0, 0}, {1, 0}, {5, 0}, {9, 1}, {10, 1}, {13, 1}, {14, 255}, {15, 1}} {
			in = append(in, e4(3, m[0], 0))
			if m[1] != 255 {
				want = append(want, e6(1, m[1], 0))
			}
		}
		add(goldenCase{name: "icmp4to6-unreachable-codes", config: cfgBase, in: in, want: want})
	}
	{
		qe := echo4(v4(c4, s4, 63), 8, 9, 1, 32)
		qe6 := echo6(v6(c6, s6, 63), 128, 9, 1, 32)
		add(goldenCase{name: "icmp4to6-quoting-echo", config: cfgBase,
			in: [][]byte{icmp4Err(v4(r4, c4, 64), 11, 0, 0, qe)}, want: [][]byte{icmp6Err(v6(r6, c6, 63), 3, 0, 0, qe6)}})
	}
	{
		big4 := udpPkt(v4(c4, s4, 63), 5000, 53, 1372)
		big6 := udpPkt(v6(c6, s6, 63), 5000, 53, 1372)
		add(goldenCase{name: "icmp4to6-cut-to-1280", config: cfgBase,
			in:   [][]byte{icmp4Err(v4(r4, c4, 64), 3, 1, 0, big4)},
			want: [][]byte{icmp6Err(v6(r6, c6, 63), 1, 0, 0, trunc(big6, 1280-48))}})
	}
	{
		// RFC 4884: 132 bytes of original datagram (length 33 words) and an
		// extension become 152 bytes (19 double words) and the same
		// extension.
		orig4 := trunc(udpPkt(v4(c4, s4, 63), 5000, 53, 200), 132)
		orig6 := trunc(udpPkt(v6(c6, s6, 63), 5000, 53, 200), 152)
		in := icmp4Err(v4(r4, c4, 64), 11, 0, 33<<16, append(orig4, rfc4884Ext()...))
		want := icmp6Err(v6(r6, c6, 63), 3, 0, 19<<24, append(orig6, rfc4884Ext()...))
		add(goldenCase{name: "icmp4to6-rfc4884-extension", config: cfgBase, in: [][]byte{in}, want: [][]byte{want}})
	}
	{
		// RFC 6791: without a prefix the router's address has no IPv6
		// form; the error takes its source from the pool.
		cfg := "mode: siit\neam:\n  - ipv4: \"192.0.2.10/32\"\n    ipv6: \"2001:db8:6::10/128\"\n  - ipv4: \"198.51.100.0/24\"\n    ipv6: \"2001:db8:46::/120\"\nipv4-addr: \"192.0.2.1\"\nipv6-addr: \"2001:db8:ff::1\"\nrfc6791v6-prefix: \"2001:db8:6791::1/128\"\n"
		in := icmp4Err(v4(r4, c4, 64), 3, 1, 0, udpPkt(v4(c4, n4, 63), 5000, 53, 16))
		want := icmp6Err(v6("2001:db8:6791::1", c6, 63), 1, 0, 0, udpPkt(v6(c6, n6, 63), 5000, 53, 16))
		add(goldenCase{name: "icmp4to6-rfc6791-source", config: cfg, in: [][]byte{in}, want: [][]byte{want}})
	}

	// ---- ICMPv6 errors -> ICMPv4 (RFC 7915 §5.2, §5.3) ----
	{
		q6 := udpPkt(v6(c6, s6, 64), 5000, 53, 64)
		p6 := func(typ, code uint8, rest uint32) []byte { return icmp6Err(v6(s6, c6, 64), typ, code, rest, q6) }
		q4b := udpPkt(v4(c4, s4, 64), 5000, 53, 64) // quoted: TTL = the quoted hop limit
		p4 := func(typ, code uint8, rest uint32) []byte { return icmp4Err(v4(s4, c4, 63), typ, code, rest, q4b) }
		inner := map[int][][2]int{0: {ipv4ID(0), ipv4ID(28)}}
		add(goldenCase{name: "icmp6to4-port-unreachable", config: cfgBase, in: [][]byte{p6(1, 4, 0)}, want: [][]byte{p4(3, 3, 0)}, ignore: inner})
		add(goldenCase{name: "icmp6to4-packet-too-big", config: cfgBase, in: [][]byte{p6(2, 0, 1400)}, want: [][]byte{p4(3, 4, 1380)}, ignore: inner})
		add(goldenCase{name: "icmp6to4-parameter-problem", config: cfgBase, in: [][]byte{p6(4, 0, 7), p6(4, 0, 2)}, want: [][]byte{p4(12, 0, 8<<24)}, ignore: inner})
		add(goldenCase{name: "icmp6to4-unknown-next-header", config: cfgBase, in: [][]byte{p6(4, 1, 6)}, want: [][]byte{p4(3, 2, 0)}, ignore: inner})
		add(goldenCase{name: "icmp6to4-time-exceeded", config: cfgBase, in: [][]byte{p6(3, 0, 0)}, want: [][]byte{p4(11, 0, 0)}, ignore: inner})
		var in, want [][]byte
		ign := map[int][][2]int{}
		for _, m := range [][2]uint8{{0, 1}, {1, 10}, {2, 1}, {3, 1}, {4, 3}, {5, 255}, {6, 255}} {
			in = append(in, p6(1, m[0], 0))
			if m[1] != 255 {
				ign[len(want)] = inner[0]
				want = append(want, p4(3, m[1], 0))
			}
		}
		add(goldenCase{name: "icmp6to4-unreachable-codes", config: cfgBase, in: in, want: want, ignore: ign})
		bad := p6(1, 4, 0)
		bad[len(bad)-1] ^= 1
		add(goldenCase{name: "icmp6to4-bad-checksum-dropped", config: cfgBase, in: [][]byte{bad}})

		big6 := udpPkt(v6(c6, s6, 64), 5000, 53, 1000)
		big4 := udpPkt(v4(c4, s4, 64), 5000, 53, 1000)
		// The quoted IPv4 total length is 1028 <= 1260: DF stays clear.
		add(goldenCase{name: "icmp6to4-cut-to-576", config: cfgBase,
			in:   [][]byte{icmp6Err(v6(s6, c6, 64), 1, 4, 0, big6)},
			want: [][]byte{icmp4Err(v4(s4, c4, 63), 3, 3, 0, trunc(big4, 576-28))}, ignore: inner})

		orig6 := trunc(udpPkt(v6(c6, s6, 64), 5000, 53, 200), 152)
		orig4 := trunc(udpPkt(v4(c4, s4, 64), 5000, 53, 200), 132)
		add(goldenCase{name: "icmp6to4-rfc4884-extension", config: cfgBase,
			in:     [][]byte{icmp6Err(v6(s6, c6, 64), 1, 4, 19<<24, append(orig6, rfc4884Ext()...))},
			want:   [][]byte{icmp4Err(v4(s4, c4, 63), 3, 3, 33<<16, append(orig4, rfc4884Ext()...))},
			ignore: inner})

		add(goldenCase{name: "icmp6to4-rfc6791-source", config: cfgBase + "rfc6791v4-prefix: \"203.0.113.200/32\"\n",
			in:     [][]byte{icmp6Err(v6("fe80::1", c6, 64), 3, 0, 0, q6)},
			want:   [][]byte{icmp4Err(v4("203.0.113.200", c4, 63), 11, 0, 0, q4b)},
			ignore: inner})
	}

	// ---- RFC 6052 prefix lengths (§2.2), both ways ----
	for _, pl := range []struct{ name, prefix, addr string }{
		{"32", "2001:db8::/32", "2001:db8:cb00:7105::"},
		{"40", "2001:db8:100::/40", "2001:db8:1cb:71:5::"},
		{"48", "2001:db8:122::/48", "2001:db8:122:cb00:71:500::"},
		{"56", "2001:db8:122:300::/56", "2001:db8:122:3cb:0:7105::"},
		{"64", "2001:db8:122:344::/64", "2001:db8:122:344:cb:71:500:0"},
		{"96", "2001:db8:122:344::/96", "2001:db8:122:344::cb00:7105"},
	} {
		cfg := "mode: siit\nprefix: \"" + pl.prefix + "\"\neam:\n  - ipv4: \"192.0.2.10\"\n    ipv6: \"2001:db8:6::10\"\n"
		add(goldenCase{name: "prefix-" + pl.name, config: cfg,
			in:     [][]byte{udpPkt(v6(c6, pl.addr, 64), 5000, 53, 20), udpPkt(v4(s4, c4, 64), 53, 5000, 20)},
			want:   [][]byte{udpPkt(v4(c4, s4, 63), 5000, 53, 20), udpPkt(v6(pl.addr, c6, 63), 53, 5000, 20)},
			ignore: id0})
	}

	// ---- RFC 7757 EAM: longest prefix match, hairpinning ----
	{
		cfg := cfgBase
		cfg = cfg[:len("mode: siit\nprefix: \"2001:db8:64::/96\"\neam:\n")] + "  - ipv4: \"198.51.100.128/25\"\n    ipv6: \"2001:db8:47::/121\"\n" + cfg[len("mode: siit\nprefix: \"2001:db8:64::/96\"\neam:\n"):]
		add(goldenCase{name: "eam-longest-prefix", config: cfg,
			in: [][]byte{udpPkt(v6(n6, s6, 64), 1, 2, 8), udpPkt(v6("2001:db8:47::5", s6, 64), 1, 2, 8), udpPkt(v4(s4, "198.51.100.133", 64), 2, 1, 8)},
			want: [][]byte{udpPkt(v4(n4, s4, 63), 1, 2, 8), udpPkt(v4("198.51.100.133", s4, 63), 1, 2, 8),
				udpPkt(v6(s6, "2001:db8:47::5", 63), 2, 1, 8)},
			ignore: map[int][][2]int{0: {ipv4ID(0)}, 1: {ipv4ID(0)}}})
	}
	{
		// c6 reaches n6 through n4's prefix address: the packet comes
		// back to the IPv6 side with c4's prefix address as source (RFC
		// 7757 §4), hop limit decremented once.
		add(goldenCase{name: "eam-hairpin-intrinsic", config: cfgBase,
			in:   [][]byte{udpPkt(v6(c6, "2001:db8:64::c633:6405", 64), 5000, 53, 30)},
			want: [][]byte{udpPkt(v6("2001:db8:64::c000:20a", n6, 63), 5000, 53, 30)}})
		add(goldenCase{name: "eam-hairpin-none", config: cfgBase + "eam-hairpin-mode: none\n",
			in:     [][]byte{udpPkt(v6(c6, "2001:db8:64::c633:6405", 64), 5000, 53, 30)},
			want:   [][]byte{udpPkt(v4(c4, n4, 63), 5000, 53, 30)},
			ignore: id0})
	}

	// ---- The translator's own addresses ----
	{
		r6 := v6(t6, c6, 64)
		add(goldenCase{name: "own-address-echo", config: cfgBase,
			in:     [][]byte{echo6(v6(c6, t6, 64), 128, 1, 1, 16), echo4(v4(s4, t4, 60), 8, 2, 2, 16)},
			want:   [][]byte{echo6(r6, 129, 1, 1, 16), echo4(v4(t4, s4, 64), 0, 2, 2, 16)},
			ignore: map[int][][2]int{1: {ipv4ID(0)}}})
	}

	// ---- Reassembly: ICMP in both modes, every fragment in NAT64 ----
	{
		// ping -s 3000 from an IPv6 host with a 1280-byte MTU, its
		// fragments in reverse order: the echo is reassembled, translated
		// whole (RFC 7915 §5.1: Identification from the fragments', DF
		// clear) and cut again to the IPv4 MTU.
		rev := func(fs [][]byte) [][]byte {
			for i, j := 0, len(fs)-1; i < j; i, j = i+1, j-1 {
				fs[i], fs[j] = fs[j], fs[i]
			}
			return fs
		}
		in := rev(fragments6(echo6(v6(c6, s6, 64), 128, 7, 1, 3000), 1232, 0x00054321))
		out := v4(c4, s4, 63)
		out.Id = 0x4321
		add(goldenCase{name: "6to4-fragmented-echo", config: cfgBase, in: in, want: fragments4(echo4(out, 8, 7, 1, 3000), 1480)})
		// The reply from an IPv4 host with a 1500-byte MTU goes out to the
		// lowest IPv6 MTU with a Fragment header carrying its
		// Identification (RFC 7915 §4.1).
		r := v4(s4, c4, 64)
		r.Id = 0x2468
		add(goldenCase{name: "4to6-fragmented-echo", config: cfgBase, in: fragments4(echo4(r, 0, 7, 1, 3000), 1480),
			want: fragments6(echo6(v6(s6, c6, 63), 129, 7, 1, 3000), 1232, 0x2468)})
		// NAT64 reassembles every fragmented datagram: a UDP datagram whose
		// first fragment comes last still gets its binding (RFC 6146 §3.4
		// lets fragments come in any order), and its reply comes back.
		const h6 = "2001:db8:6::20"
		q := rev(fragments6(udpPkt(v6(h6, s6, 64), 5000, 53, 3000), 1232, 0x0000abcd))
		o := v4(t4, s4, 63)
		o.Id = 0xabcd
		rep := v4(s4, t4, 64)
		rep.Id = 0x1357
		add(goldenCase{name: "nat64-fragments-out-of-order", config: cfgNAT64,
			in:   append(q, rev(fragments4(udpPkt(rep, 53, 5000, 3000), 1480))...),
			want: append(fragments4(udpPkt(o, 5000, 53, 3000), 1480), fragments6(udpPkt(v6(s6, h6, 63), 53, 5000, 3000), 1232, 0x1357)...)})
	}

	// ---- Stateful NAT64 (RFC 6146): hosts of 2001:db8:6::/64 share t4 ----
	{
		const h6 = "2001:db8:6::20" // an IPv6 host without EAM entry
		const srv = "2001:db8:6::80"
		// The source port is kept (RFC 6146 §3.5.1.1) and the reply finds
		// its way back through the binding.
		add(goldenCase{name: "nat64-udp-binding", config: cfgNAT64,
			in:     [][]byte{udpPkt(v6(h6, s6, 64), 5000, 53, 30), udpPkt(v4(s4, t4, 60), 53, 5000, 30)},
			want:   [][]byte{udpPkt(v4(t4, s4, 63), 5000, 53, 30), udpPkt(v6(s6, h6, 59), 53, 5000, 30)},
			ignore: id0})
		// Without a binding, UDP gets port unreachable from the pool4
		// address (RFC 6146 §3.5.1.2); a late reply after the 5-minute
		// lifetime is such a packet.
		in := udpPkt(v4(s4, t4, 60), 53, 5000, 30)
		add(goldenCase{name: "nat64-udp-late-reply", config: cfgNAT64,
			in: [][]byte{udpPkt(v6(h6, s6, 64), 5000, 53, 30), in},
			at: []time.Duration{0, 5*time.Minute + 2*time.Second},
			want: [][]byte{udpPkt(v4(t4, s4, 63), 5000, 53, 30),
				icmp4Err(v4(t4, s4, 64), 3, 3, 0, in)},
			ignore: map[int][][2]int{0: {ipv4ID(0)}, 1: {ipv4ID(0)}}})
		// An unsolicited SYN is held 6 seconds, then answered (RFC 6146
		// §3.5.2.2); the drain runs the clock past it.
		syn := synPkt(v4(s4, t4, 60), 40000, 2222, 0, false)
		add(goldenCase{name: "nat64-unsolicited-syn", config: cfgNAT64 + "replay-drain-seconds: 7\n",
			in:     [][]byte{syn},
			want:   [][]byte{icmp4Err(v4(t4, s4, 64), 3, 3, 0, syn)},
			ignore: id0})
		// A port forward: an IPv4 client reaches the IPv6 server.
		add(goldenCase{name: "nat64-static-bib", config: cfgNAT64,
			in:     [][]byte{synPkt(v4(s4, t4, 60), 40000, 80, 0, false), synPkt(v6(srv, s6, 64), 8080, 40000, 0, true)},
			want:   [][]byte{synPkt(v6(s6, srv, 59), 40000, 8080, 0, false), synPkt(v4(t4, s4, 63), 80, 40000, 0, true)},
			ignore: map[int][][2]int{1: {ipv4ID(0)}}})
		// Hairpinning (RFC 6146 §3.8): h6 reaches the server through the
		// pool4 address, and sees it at t4's prefix address.
		add(goldenCase{name: "nat64-hairpin", config: cfgNAT64,
			in:   [][]byte{synPkt(v6(h6, "2001:db8:64::c000:201", 64), 40000, 80, 0, false)},
			want: [][]byte{synPkt(v6("2001:db8:64::c000:201", srv, 63), 40000, 8080, 0, false)}})
		// An ICMPv4 error about a translated datagram reaches its IPv6
		// sender with the quoted packet translated back.
		out := udpPkt(v4(t4, s4, 63), 5000, 53, 30)
		quoted6 := udpPkt(v6(h6, s6, 63), 5000, 53, 30)
		add(goldenCase{name: "nat64-icmp-error", config: cfgNAT64,
			in:     [][]byte{udpPkt(v6(h6, s6, 64), 5000, 53, 30), icmp4Err(v4(r4, t4, 60), 3, 1, 0, out)},
			want:   [][]byte{out, icmp6Err(v6(r6, h6, 59), 1, 0, 0, quoted6)},
			ignore: id0})
	}

	// ---- TAYGA's dynamic pool ----
	{
		// 2001:db8::69 gets the address TAYGA gives it: offset 80 of the
		// /24 (TAYGA's hash), and the reply finds it.
		const d6, d4 = "2001:db8::69", "192.0.2.80"
		add(goldenCase{name: "dynamic-pool-mapping", config: cfgBase + "dynamic-pool: \"192.0.2.0/24\"\n",
			in:     [][]byte{udpPkt(v6(d6, s6, 64), 5000, 53, 30), udpPkt(v4(s4, d4, 60), 53, 5000, 30)},
			want:   [][]byte{udpPkt(v4(d4, s4, 63), 5000, 53, 30), udpPkt(v6(s6, d6, 59), 53, 5000, 30)},
			ignore: id0})
	}
	return cs
}

// cfgNAT64: the IPv6 hosts share t4, which also forwards TCP port 80 to a
// server on the IPv6 side.
const cfgNAT64 = `mode: nat64
prefix: "2001:db8:64::/96"
pool4: ["192.0.2.1/32"]
ipv4-addr: "192.0.2.1"
ipv6-addr: "2001:db8:ff::1"
static-bib:
  - {proto: tcp, ipv6: "2001:db8:6::80", ipv6-port: 8080, ipv4: "192.0.2.1", ipv4-port: 80}
`

// icmpV6For returns an ICMPv6 header of type typ whose checksum covers a
// pseudo-header from src to dst.
func icmpV6For(src, dst string, typ uint8) *layers.ICMPv6 {
	return xlattest.ICMPv6(typ, 0, &layers.IPv6{SrcIP: xlattest.IP(src), DstIP: xlattest.IP(dst)})
}
