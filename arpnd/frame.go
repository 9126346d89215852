package arpnd

import (
	"encoding/binary"
	"net/netip"

	"github.com/nat64br/nat64br/xlat/header"
)

// MAC is an Ethernet address: header.MAC, under the name arpnd's API uses
// (ARPOptions.MAC, Cache.Lookup).
type MAC = header.MAC

// ARP (RFC 826) for Ethernet and IPv4:
//
//	htype(2)=1 ptype(2)=0x0800 hlen(1)=6 plen(1)=4 op(2)
//	sha(6) spa(4) tha(6) tpa(4)
const (
	arpLen     = 28
	arpRequest = 1
	arpReply   = 2
)

// Key4 is the cache key of an IPv4 address: the IPv4-mapped IPv6 form, so
// both sides share one pointer-free key type.
func Key4(a [4]byte) [16]byte {
	return [16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

// Key6 is the cache key of an IPv6 address.
func Key6(a [16]byte) [16]byte { return a }

// KeyAddr is the cache key of a netip.Addr.
func KeyAddr(a netip.Addr) [16]byte {
	if a.Is4() {
		return Key4(a.As4())
	}
	return a.As16()
}

// keyAddr is the netip.Addr of a cache key.
func keyAddr(k [16]byte) netip.Addr {
	a := netip.AddrFrom16(k)
	if a.Is4In6() {
		return a.Unmap()
	}
	return a
}

// putARP writes an ARP packet into b (28 bytes).
func putARP(b []byte, op uint16, sha MAC, spa [4]byte, tha MAC, tpa [4]byte) {
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], header.EtherTypeIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], op)
	copy(b[8:14], sha[:])
	copy(b[14:18], spa[:])
	copy(b[18:24], tha[:])
	copy(b[24:28], tpa[:])
}

// ICMPv6 types of Neighbor Discovery (RFC 4861 §4).
const (
	icmpRS = 133
	icmpRA = 134
	icmpNS = 135
	icmpNA = 136

	optSLLA   = 1  // source link-layer address
	optTLLA   = 2  // target link-layer address
	optMTU    = 5  // MTU
	optRIO    = 24 // route information (RFC 4191)
	optPREF64 = 38 // PREF64 (RFC 8781)

	naRouter    = 0x80
	naSolicited = 0x40
	naOverride  = 0x20
)

var (
	allNodes    = [16]byte{0: 0xff, 1: 0x02, 15: 1}
	allRouters  = [16]byte{0: 0xff, 1: 0x02, 15: 2}
	unspecified = [16]byte{}
)

// LinkLocal returns the EUI-64 link-local address of mac (RFC 4291
// Appendix A, RFC 4862 §5.3).
func LinkLocal(mac MAC) [16]byte {
	return [16]byte{0: 0xfe, 1: 0x80, 8: mac[0] ^ 0x02, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]}
}

// SolicitedNode returns the solicited-node multicast address of a (RFC 4291
// §2.7.1).
func SolicitedNode(a [16]byte) [16]byte {
	return [16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
}

// MulticastMAC returns the Ethernet address of an IPv6 multicast group (RFC
// 2464 §7).
func MulticastMAC(a [16]byte) MAC { return MAC{0x33, 0x33, a[12], a[13], a[14], a[15]} }

// putIPv6 writes an IPv6 header for an ICMPv6 message of n bytes, hop
// limit hl.
func putIPv6(b []byte, src, dst [16]byte, n int, hl uint8) {
	ip := header.IPv6(b)
	ip.SetVersionClassFlow(0, 0)
	ip.SetPayloadLength(n)
	ip.SetNextHeader(header.ProtoICMPv6)
	ip.SetHopLimit(hl)
	ip.SetSrc(&src)
	ip.SetDst(&dst)
}

// icmp6Checksum fills the checksum of the ICMPv6 message after the IPv6
// header at b.
func icmp6Checksum(b []byte) {
	ip := header.IPv6(b)
	src, dst := ip.Src(), ip.Dst()
	n := ip.PayloadLength()
	m := b[header.IPv6Len : header.IPv6Len+n]
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:], header.Checksum(m, header.PseudoSum6(&src, &dst, header.ProtoICMPv6, n)))
}

// ndOptions walks Neighbor Discovery options (RFC 4861 §4.6). It returns
// the source or target link-layer address found, and false if an option is
// malformed (zero length, or past the end).
func ndOptions(opts []byte, want uint8) (MAC, bool, bool) {
	var mac MAC
	found := false
	for len(opts) > 0 {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return mac, false, false
		}
		l := int(opts[1]) * 8
		if opts[0] == want && l >= 8 {
			copy(mac[:], opts[2:8])
			found = true
		}
		opts = opts[l:]
	}
	return mac, found, true
}
