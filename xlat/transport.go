package xlat

import "github.com/nat64br/nat64br/xlat/header"

// Transport checksums are patched, never recomputed (RFC 7915 §4.5, §5.5;
// RFC 1624): a checksum that was wrong stays exactly as wrong.

// patchTCP applies the pseudo-header delta d to the checksum of the TCP
// segment l, which holds at least the first 18 bytes of the header.
func patchTCP(l []byte, d uint64) {
	cs := header.Port(l, header.TCPChecksumOffset)
	header.PutPort(l, header.TCPChecksumOffset, header.Update(cs, d))
}

// patchUDP applies d to the non-zero checksum of the UDP datagram l; a
// result of zero goes out as 0xffff, since zero means "no checksum" (RFC
// 768).
func patchUDP(l []byte, d uint64) {
	cs := header.Update(header.Port(l, header.UDPChecksumOffset), d)
	if cs == 0 {
		cs = 0xffff
	}
	header.PutPort(l, header.UDPChecksumOffset, cs)
}

// computeUDP computes the checksum of the UDP datagram l from scratch, with
// the pseudo-header sum pseudo: only for a datagram that arrived without one
// (udp-zero-checksum: calculate).
func computeUDP(l []byte, pseudo uint64) {
	header.PutPort(l, header.UDPChecksumOffset, 0)
	cs := header.Checksum(l, pseudo)
	if cs == 0 {
		cs = 0xffff
	}
	header.PutPort(l, header.UDPChecksumOffset, cs)
}

// echoTo6 turns the ICMPv4 Echo or Echo Reply at l into ICMPv6 (RFC 7915
// §4.2: 8 and 0 become 128 and 129). pseudo is the ICMPv6 pseudo-header sum,
// which the ICMPv6 checksum covers and the ICMPv4 one does not; pd is the
// delta of an identifier the caller rewrote.
func echoTo6(l []byte, pseudo, pd uint64) {
	ic := header.ICMP(l)
	t := uint8(header.ICMPv6EchoRequest)
	if ic.Type() == header.ICMPv4EchoReply {
		t = header.ICMPv6EchoReply
	}
	retype(ic, t, header.Add(pseudo, pd))
}

// echoTo4 turns the ICMPv6 Echo Request or Reply at l into ICMPv4 (RFC 7915
// §5.2: 128 and 129 become 8 and 0), taking the pseudo-header sum out of the
// checksum; pd is the delta of an identifier the caller rewrote.
func echoTo4(l []byte, pseudo, pd uint64) {
	ic := header.ICMP(l)
	t := uint8(header.ICMPv4Echo)
	if ic.Type() == header.ICMPv6EchoReply {
		t = header.ICMPv4EchoReply
	}
	retype(ic, t, header.Add(^pseudo, pd))
}

// retype sets the ICMP type to t and patches the checksum for the new type
// and the pseudo-header delta d.
func retype(ic header.ICMP, t uint8, d uint64) { recode(ic, t, ic.Code(), d) }

// recode sets the ICMP type and code to t and c and patches the checksum
// for them and the pseudo-header delta d.
func recode(ic header.ICMP, t, c uint8, d uint64) {
	old := ic.TypeCode()
	ic.SetTypeCode(t, c)
	d = header.Sum16(ic.TypeCode(), header.Neg16(old, d))
	ic.SetChecksum(header.Update(ic.Checksum(), d))
}

// rewritePort sets the 16-bit port (or ICMP identifier) at l[i:i+2] to v and
// returns the checksum delta of the change.
func rewritePort(l []byte, i int, v uint16) uint64 {
	old := header.Port(l, i)
	if old == v {
		return 0 // adding a negative zero could turn a 0xffff checksum into 0
	}
	header.PutPort(l, i, v)
	return header.Sum16(v, header.Neg16(old, 0))
}
