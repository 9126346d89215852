package xlat

import (
	"github.com/nat64br/nat64br/xlat/header"
)

// maxExtHeaders bounds the IPv6 extension header walk.
const maxExtHeaders = 8

// ipv6Info is what the extension header walk learns about an IPv6 packet.
type ipv6Info struct {
	end     int    // end of the packet inside the buffer
	l4      int    // offset of the upper-layer header (or of the data after a non-first fragment's Fragment header)
	proto   uint8  // upper-layer protocol
	frag    int    // offset of the Fragment header, 0 if none
	fragOff uint16 // Fragment Offset, 8-byte units
	more    bool   // M flag
	fragID  uint32 // Identification
	segLeft int    // offset of the first non-zero Segments Left field, 0 if none
	// extAfterFrag is set when an extension header follows the Fragment
	// header of a first fragment.
	extAfterFrag bool
}

// fragmented reports whether the packet is a fragment of a larger packet (an
// atomic fragment, offset 0 and M clear, is not).
func (h *ipv6Info) fragmented() bool { return h.frag != 0 && (h.fragOff != 0 || h.more) }

// first reports whether the packet holds the upper-layer header, that is,
// whether it is not a non-first fragment.
func (h *ipv6Info) first() bool { return h.fragOff == 0 }

// walk6 walks the extension headers of the IPv6 packet p[:end] (RFC 8200
// §4). Hop-by-Hop Options, Destination Options and Routing headers are
// skipped (RFC 7915 §5.1); the walk stops at the first other header, or
// after the Fragment header of a non-first fragment.
func walk6(p []byte, end int, h *ipv6Info) Reason {
	*h = ipv6Info{end: end}
	nh, off := p[6], header.IPv6Len
	for i := 0; ; i++ {
		if i > maxExtHeaders {
			return ReasonBadExtHeader
		}
		switch nh {
		case header.ProtoHopByHop, header.ProtoDestOpts, header.ProtoRouting:
			if nh == header.ProtoHopByHop && off != header.IPv6Len && h.frag == 0 {
				return ReasonBadExtHeader // RFC 8200 §4.1: only right after the IPv6 header
			}
			if off+8 > end {
				return ReasonBadExtHeader
			}
			n := header.ExtLen(nh, p[off:])
			if off+n > end {
				return ReasonBadExtHeader
			}
			if nh == header.ProtoRouting && p[off+3] != 0 && h.segLeft == 0 {
				h.segLeft = off + 3
			}
			if h.frag != 0 {
				h.extAfterFrag = true
			}
			nh, off = p[off], off+n
		case header.ProtoFragment:
			if h.frag != 0 || off+header.FragmentLen > end {
				return ReasonBadExtHeader
			}
			f := header.Fragment(p[off:])
			h.frag, h.fragOff, h.more, h.fragID = off, f.Offset(), f.More(), f.ID()
			nh, off = f.NextHeader(), off+header.FragmentLen
			if h.fragOff != 0 {
				h.l4, h.proto = off, nh
				return ReasonNone
			}
		default:
			h.l4, h.proto = off, nh
			return ReasonNone
		}
	}
}

// delta6to4 is the checksum delta of a transport pseudo-header whose
// addresses change from IPv6 to IPv4 (lengths and protocol sum the same in
// both pseudo-headers).
func delta6to4(src6, dst6 u128, src4, dst4 uint32) uint64 {
	return header.Add(uint64(src4)+uint64(dst4), header.Add(neg6(src6), neg6(dst6)))
}

// from6 translates an IPv6 packet (RFC 7915 §5). hairpin is unused on this
// side; it keeps the signature parallel to from4.
func (t *Translator) from6(b []byte, off, n int, _ bool) Verdict {
	p := b[off : off+n]
	if n < header.IPv6Len {
		return drop(ReasonTruncated)
	}
	ip := header.IPv6(p)
	plen := ip.PayloadLength()
	if plen == 0 && ip.NextHeader() == header.ProtoHopByHop {
		return drop(ReasonBadLength) // jumbogram (RFC 2675): no IPv4 equivalent
	}
	end := header.IPv6Len + plen
	if end > n {
		return drop(ReasonTruncated)
	}
	p = p[:end] // drop link-layer padding
	var h ipv6Info
	if r := walk6(p, end, &h); r != ReasonNone {
		return drop(r)
	}
	src6, dst6 := get6(p[8:]), get6(p[24:])
	c := t.c
	if c.hasOwn6 && dst6 == c.own6 {
		return t.local6(b, off, &h)
	}
	if h.proto == header.ProtoICMPv4 {
		return drop(ReasonProtocol) // ICMPv4 inside IPv6 has no meaning
	}
	if h.frag != 0 && c.opt.Reassemble && h.fragmented() && !h.extAfterFrag && (h.proto == header.ProtoICMPv6 || c.nat != nil) {
		// Access control first: a refused host's fragments are not held.
		if !t.client(src6) {
			return t.refuse6(b, off, &h, ReasonClientSrc6)
		}
		if !c.acl.deny4.empty() {
			if dst4, _, r := t.map6to4(dst6, false); r == ReasonNone && t.denied4(dst4) {
				return t.refuse6(b, off, &h, ReasonDenylistDst4)
			}
		}
		return verdict(Reassemble, Side6, ReasonNone, off, end, 0)
	}

	if h.proto == header.ProtoICMPv6 && h.first() {
		if h.fragmented() {
			return drop(ReasonFragmentedICMP)
		}
		if h.l4+header.ICMPLen > end {
			return drop(ReasonL4Truncated)
		}
		switch typ := p[h.l4]; typ {
		case header.ICMPv6EchoRequest, header.ICMPv6EchoReply:
		case header.ICMPv6DestUnreach, header.ICMPv6PacketTooBig, header.ICMPv6TimeExceeded, header.ICMPv6ParamProblem:
			return t.icmp6Error(b, off, &h)
		default:
			return drop(ReasonICMPv6Info)
		}
	}
	// Access control (acl.go), before anything creates state.
	if !t.client(src6) {
		return t.refuse6(b, off, &h, ReasonClientSrc6)
	}
	if h.extAfterFrag {
		// Jool answers 1/1: the header would need translating, and there
		// is nothing to translate it into.
		return t.error6(b, off, end, header.ICMPv6DestUnreach, header.ICMPv6AdminProhibited, 0, ReasonExtAfterFragment)
	}
	if h.segLeft != 0 {
		// RFC 7915 §5.1: Parameter Problem pointing at Segments Left.
		return t.error6(b, off, end, header.ICMPv6ParamProblem, header.ICMPv6ErroneousHeader, uint32(h.segLeft), ReasonSegmentsLeft)
	}

	if c.nat != nil {
		return t.nat6(b, off, p, &h, src6, dst6)
	}

	// Destination first: the source may depend on it (hairpinning).
	dst4, kindDst, r := t.map6to4(dst6, false)
	if r != ReasonNone {
		if r == ReasonReservedAddr {
			return drop(r)
		}
		return t.error6(b, off, end, header.ICMPv6DestUnreach, header.ICMPv6NoRoute, 0, r)
	}
	if c.hasOwn4 && dst4 == c.own4 {
		// ipv4-addr reached through the prefix is the translator too.
		return t.local6(b, off, &h)
	}
	if t.denied4(dst4) {
		return t.refuse6(b, off, &h, ReasonDenylistDst4)
	}
	src4, kindSrc, r := t.map6to4(src6, true)
	if r == ReasonNoSource6 && c.dyn != nil {
		// TAYGA's dynamic pool: a new source gets an address of its own.
		if v, ok := t.check6(b, off, p, &h); !ok {
			return v
		}
		var ok bool
		if src4, ok = c.dyn.to4(src6, t.now, true); ok {
			r = ReasonNone
		} else {
			return t.error6(b, off, end, header.ICMPv6DestUnreach, header.ICMPv6AddrUnreach, 0, ReasonDynamicExhausted)
		}
	}
	if r != ReasonNone {
		if r == ReasonReservedAddr {
			return drop(r)
		}
		return t.error6(b, off, end, header.ICMPv6DestUnreach, header.ICMPv6SrcPolicyFail, 0, r)
	}
	if v, ok := t.check6(b, off, p, &h); !ok {
		return v
	}
	// Both mappings static: both are in the cache, with their parts of
	// the checksum delta.
	var ad uint64
	if kindDst.static() && kindSrc.static() {
		ad = header.Add(t.last64[slot(true)].d, t.last64[slot(false)].d)
	} else {
		ad = delta6to4(src6, dst6, src4, dst4)
	}
	v := t.emit4(b, off, p, &h, src6, dst6, src4, dst4, ad, 0)
	// RFC 7757 §4: a destination reached through the RFC 6052 prefix that
	// is also an EAM IPv4 address (or a dynamic-pool one) belongs to an
	// IPv6 node: hairpin it.
	if v.Action() == Forward && t.hairpinDst(kindDst, dst4) {
		return t.from4(b, v.Off, v.Len, true)
	}
	return v
}

// check6 applies the checks of RFC 7915 §5.1 that answer with an ICMPv6
// error, before any state is created for the packet: the Hop Limit and the
// IPv4 MTU.
func (t *Translator) check6(b []byte, off int, p []byte, h *ipv6Info) (Verdict, bool) {
	c := t.c
	if header.IPv6(p).HopLimit() <= 1 {
		return t.error6(b, off, h.end, header.ICMPv6TimeExceeded, 0, 0, ReasonHopLimit), false
	}
	if n4 := header.IPv4MinLen + h.end - h.l4; n4 > c.opt.MTU4 && !t.gso {
		if t.reasm {
			// Reassembled: fragmented again (emit4), if it fits IPv4.
			if n4 > 65535 {
				return drop(ReasonFragmentBadOffsets), false
			}
			return Verdict{}, true
		}
		// RFC 7915 §5.1: the IPv6 sender learns the IPv4 MTU plus the
		// header difference; never below the IPv6 minimum.
		return t.error6(b, off, h.end, header.ICMPv6PacketTooBig, 0, uint32(max(minMTU6, c.opt.MTU4+20)), ReasonTooBig), false
	}
	return Verdict{}, true
}

// emit4 writes the IPv4 header of the IPv6 packet p = b[off:off+h.end],
// which check6 accepted, with addresses src4 and dst4 (RFC 7915 §5.1), and
// updates the transport checksum (§5.5). ad is the checksum delta of the
// addresses in the TCP and UDP pseudo-header, delta6to4(src6, dst6, src4,
// dst4); pd the delta of a port or identifier the caller rewrote (stateful
// NAT64), 0 if none.
func (t *Translator) emit4(b []byte, off int, p []byte, h *ipv6Info, src6, dst6 u128, src4, dst4 uint32, ad, pd uint64) Verdict {
	c := t.c
	ip := header.IPv6(p)
	end := h.end
	payload := end - h.l4
	total := header.IPv4MinLen + payload

	// Transport checksums (RFC 7915 §5.5), in the first fragment only.
	proto := h.proto
	if h.first() {
		l4 := p[h.l4:]
		switch proto {
		case header.ProtoTCP:
			if payload < header.TCPChecksumOffset+2 {
				return drop(ReasonL4Truncated)
			}
			patchTCP(l4, header.Add(ad, pd))
		case header.ProtoUDP:
			if payload < header.UDPLen {
				return drop(ReasonL4Truncated)
			}
			cs := header.Port(l4, header.UDPChecksumOffset)
			if cs == 0 {
				// RFC 8200 §8.1: forbidden in IPv6; carried as is in
				// forward mode, computed in calculate mode (TAYGA
				// udp-cksum-mode fwd and calc).
				switch c.opt.UDPZeroChecksum {
				case UDPZeroForward:
				case UDPZeroCalculate:
					if h.fragmented() {
						return drop(ReasonUDPZeroFragment)
					}
					computeUDP(l4[:payload], uint64(src4)+uint64(dst4)+header.ProtoUDP+uint64(payload))
				default:
					return drop(ReasonUDPZeroChecksum6)
				}
				break
			}
			patchUDP(l4, header.Add(ad, pd))
		case header.ProtoICMPv6:
			echoTo4(l4, pseudo6(src6, dst6, header.ProtoICMPv6, payload), pd)
		}
	}
	if proto == header.ProtoICMPv6 {
		proto = header.ProtoICMPv4
	}

	// RFC 7915 §5.1: the IPv4 header replaces the last 20 bytes before the
	// upper-layer header; everything it needs from the IPv6 header has
	// been read above or is read now, before the overlapping writes.
	tos, hl := ip.TrafficClass(), ip.HopLimit()
	var id uint16
	var df, mf bool
	var foff uint16
	if h.frag != 0 {
		id, mf, foff = uint16(h.fragID), h.more, h.fragOff
	} else {
		id, df = t.nextID(), total > 1260
	}
	start := h.l4 - header.IPv4MinLen
	header.IPv4(p[start:h.l4]).Set20(&header.Fields20{TOS: tos, Total: uint16(total), ID: id, DF: df, MF: mf, Offset: foff,
		TTL: hl - 1, Protocol: proto, Src: src4, Dst: dst4})
	return verdict(Forward, Side4, ReasonNone, off+start, total, 0)
}

// icmp6Error translates an ICMPv6 error message and the packet it quotes
// into ICMPv4 (RFC 7915 §5.2, §5.3), with RFC 4884 extensions.
func (t *Translator) icmp6Error(b []byte, off int, h *ipv6Info) Verdict {
	c := t.c
	p := b[off : off+h.end]
	ip := header.IPv6(p)
	src6, dst6 := get6(p[8:]), get6(p[24:])
	l4 := h.l4
	msgLen := h.end - l4
	if msgLen < header.ICMPLen+header.IPv6Len {
		return drop(ReasonICMPInnerBad)
	}
	if header.Fold(header.Sum(p[l4:h.end], pseudo6(src6, dst6, header.ProtoICMPv6, msgLen))) != 0xffff {
		return drop(ReasonICMPChecksum)
	}
	ic := header.ICMP(p[l4:])
	typ, code, rest := ic.Type(), ic.Code(), ic.Rest()

	// RFC 7915 §5.2: types and codes.
	var t4, c4 uint8
	var rest4 uint32
	ext := false // the ICMPv4 type can carry an RFC 4884 length
	switch typ {
	case header.ICMPv6DestUnreach:
		t4, ext = header.ICMPv4DestUnreach, true
		switch code {
		case header.ICMPv6NoRoute, header.ICMPv6BeyondScope, header.ICMPv6AddrUnreach:
			c4 = header.ICMPv4HostUnreach
		case header.ICMPv6AdminProhibited:
			c4 = header.ICMPv4HostProhibited
		case header.ICMPv6PortUnreach:
			c4 = header.ICMPv4PortUnreach
		default:
			return drop(ReasonICMPCode)
		}
	case header.ICMPv6PacketTooBig:
		if code != 0 {
			return drop(ReasonICMPCode)
		}
		t4, c4 = header.ICMPv4DestUnreach, header.ICMPv4FragNeeded
		// min(MTU field - 20, IPv4 next-hop MTU, IPv6 next-hop MTU - 20).
		mtu := min(int64(rest)-20, int64(c.opt.MTU4), int64(c.opt.MTU6)-20)
		rest4 = uint32(max(68, min(mtu, 0xffff)))
	case header.ICMPv6TimeExceeded:
		if code > 1 {
			return drop(ReasonICMPCode)
		}
		t4, c4, ext = header.ICMPv4TimeExceeded, code, true
	case header.ICMPv6ParamProblem:
		switch code {
		case header.ICMPv6ErroneousHeader:
			ptr, ok := pointer6to4(rest)
			if !ok {
				return drop(ReasonICMPPointer)
			}
			t4, rest4 = header.ICMPv4ParamProblem, uint32(ptr)<<24
		case header.ICMPv6UnknownNext:
			t4, c4 = header.ICMPv4DestUnreach, header.ICMPv4ProtoUnreach
		default:
			return drop(ReasonICMPCode)
		}
	}

	// The original datagram field, and an RFC 4884 extension after it.
	q := l4 + header.ICMPLen // start of the quoted packet
	origEnd := h.end
	hasExt := false
	if (typ == header.ICMPv6DestUnreach || typ == header.ICMPv6TimeExceeded) && p[l4+4] != 0 {
		if n := int(p[l4+4]) * 8; q+n <= h.end {
			origEnd, hasExt = q+n, true
		}
	}
	inner := p[q:origEnd]
	if len(inner) < header.IPv6Len || inner[0]>>4 != 6 {
		return drop(ReasonICMPInnerBad)
	}
	iip := header.IPv6(inner)
	var ih ipv6Info
	iend := min(len(inner), header.IPv6Len+iip.PayloadLength())
	if walk6(inner, iend, &ih) != ReasonNone {
		return drop(ReasonICMPInnerBad)
	}
	isrc6, idst6 := get6(inner[8:]), get6(inner[24:])
	if !t.client(idst6) {
		// The quoted packet was for a host that may not use the
		// translator: it did not come through it.
		return drop(ReasonClientSrc6)
	}
	iproto := ih.proto
	if iproto == header.ProtoICMPv4 {
		return drop(ReasonICMPInnerBad)
	}
	if iproto == header.ProtoICMPv6 && ih.first() && ih.l4+header.ICMPLen <= iend {
		switch inner[ih.l4] {
		case header.ICMPv6EchoRequest, header.ICMPv6EchoReply:
		default:
			if inner[ih.l4] < 128 {
				return drop(ReasonICMPErrorInError)
			}
			return drop(ReasonICMPInnerBad)
		}
	}

	// Addresses: the quoted packet went from isrc to idst; the error comes
	// back to isrc from some router.
	var idst4, isrc4, dst4, src4 uint32
	var kindISrc mapKind
	var r Reason
	var ipd uint64 // checksum delta of the quoted port the NAT64 rewrote
	if c.nat != nil && !c.eam.contains6(idst6) {
		// RFC 6146 §3.4: the quoted packet came from (Y, y) to the IPv6
		// host (X, x); its session gives (T, t), which becomes both the
		// quoted destination and the error's source.
		if isrc4, kindISrc, r = t.map6to4(isrc6, false); r != ReasonNone {
			return drop(ReasonICMPInnerBad)
		}
		pr := natProto(iproto)
		l := p[q+ih.l4 : origEnd]
		at := 2
		if pr == natICMP {
			at = 4
		}
		if pr < 0 || !ih.first() || len(l) < at+2 {
			return drop(ReasonICMPInnerBad)
		}
		yp := uint16(0)
		if pr != natICMP {
			yp = header.Port(l, 0)
		}
		a, ap, ok := c.nat.peek6(pr, idst6, header.Port(l, at), isrc4, yp, t.nowSec())
		if !ok {
			return drop(ReasonNoSession)
		}
		ipd = rewritePort(l, at, ap)
		idst4, src4 = a, a
		if dst4, _, r = t.map6to4(dst6, false); r != ReasonNone {
			return drop(r)
		}
	} else {
		if idst4, _, r = t.map6to4(idst6, false); r != ReasonNone {
			return drop(ReasonICMPInnerBad)
		}
		if isrc4, kindISrc, r = t.map6to4(isrc6, true); r != ReasonNone {
			return drop(ReasonICMPInnerBad)
		}
		if dst4, _, r = t.map6to4(dst6, false); r != ReasonNone {
			return drop(r)
		}
		if src4, _, r = t.map6to4(src6, true); r != ReasonNone {
			var ok bool
			if src4, ok = t.rfc6791v4(src6); !ok {
				return drop(ReasonNoErrorSource)
			}
		}
	}
	if t.denied4(dst4) {
		return drop(ReasonDenylistDst4)
	}
	hl := ip.HopLimit()
	if hl <= 1 {
		return drop(ReasonHopLimit) // never an error about an error
	}

	// Layout: the quoted upper-layer bytes stay where they are; the outer
	// IPv4 header, the ICMPv4 header and the quoted IPv4 header are written
	// in the 48 bytes before them.
	il4 := q + ih.l4             // quoted upper layer, offset in p
	avail := origEnd - il4       // quoted upper-layer bytes
	iplen := iip.PayloadLength() // what the quoted packet claimed
	itotal := header.IPv4MinLen + iplen - (ih.l4 - header.IPv6Len)
	if itotal < header.IPv4MinLen {
		itotal = header.IPv4MinLen
	}
	itos, ihl := iip.TrafficClass(), iip.HopLimit()
	tos := ip.TrafficClass()

	if ih.first() {
		l := p[il4:origEnd]
		d := delta6to4(isrc6, idst6, isrc4, idst4)
		switch {
		case iproto == header.ProtoTCP && avail >= header.TCPChecksumOffset+2:
			patchTCP(l, header.Add(d, ipd))
		case iproto == header.ProtoUDP && avail >= header.UDPLen && header.Port(l, header.UDPChecksumOffset) != 0:
			patchUDP(l, header.Add(d, ipd))
		case iproto == header.ProtoICMPv6 && avail >= header.ICMPLen:
			echoTo4(l, pseudo6(isrc6, idst6, header.ProtoICMPv6, iplen-(ih.l4-header.IPv6Len)), ipd)
		}
	}
	if iproto == header.ProtoICMPv6 {
		iproto = header.ProtoICMPv4
	}

	// Sizes. The original datagram field becomes 20+avail bytes. With an
	// RFC 4884 extension it is cut to 32 bits and padded to at least 128
	// bytes (RFC 4884 §4.1), and the whole error is cut to 576 bytes (RFC
	// 1812 §4.3.2.3): the original datagram gives way first, the extension
	// is kept whole or dropped. Offsets are relative to p from here on.
	start := il4 - 48
	extLen, origLen := 0, 0
	if hasExt && ext {
		extLen = h.end - origEnd
		room := (maxError4 - header.IPv4MinLen - header.ICMPLen - extLen) &^ 3
		if room < 128 {
			extLen = 0 // no room for the extension and 128 bytes of datagram
		}
		origLen = min(max(128, (header.IPv4MinLen+avail)&^3), room)
	}
	var msgEnd int
	lenWords := uint32(0)
	if extLen > 0 {
		dataEnd := il4 + min(avail, origLen-header.IPv4MinLen) // end of the quoted bytes kept
		newExt := il4 - header.IPv4MinLen + origLen            // where the extension goes
		if off+newExt+extLen > len(b) {
			return drop(ReasonNoRoom)
		}
		copy(b[off+newExt:off+newExt+extLen], b[off+origEnd:off+origEnd+extLen])
		if dataEnd < newExt {
			clear(b[off+dataEnd : off+newExt])
		}
		msgEnd = newExt + extLen
		lenWords = uint32(origLen / 4)
	} else {
		msgEnd = min(origEnd, start+maxError4)
	}
	p = b[off : off+max(msgEnd, h.end)]

	// The quoted IPv4 header.
	qi := header.IPv4(p[il4-header.IPv4MinLen : il4])
	var iid uint16
	var idf, imf bool
	var ifoff uint16
	if ih.frag != 0 {
		iid, imf, ifoff = uint16(ih.fragID), ih.more, ih.fragOff
	} else {
		idf = itotal > 1260
	}
	qi.SetVersionIHL(header.IPv4MinLen)
	qi.SetTOS(itos)
	qi.SetTotalLength(itotal)
	qi.SetID(iid)
	qi.SetFragment(idf, imf, ifoff)
	qi.SetTTL(ihl)
	qi.SetProtocol(iproto)
	qi.SetSrc32(isrc4)
	qi.SetDst32(idst4)
	qi.SetChecksum(qi.ComputeChecksum())

	// The ICMPv4 header.
	o4 := header.ICMP(p[start+header.IPv4MinLen:])
	switch t4 {
	case header.ICMPv4DestUnreach, header.ICMPv4TimeExceeded:
		rest4 |= lenWords << 16
	}
	o4.SetTypeCode(t4, c4)
	o4.SetRest(rest4)
	o4.SetChecksum(0)
	o4.SetChecksum(header.Checksum(p[start+header.IPv4MinLen:msgEnd], 0))

	// The outer IPv4 header.
	total := msgEnd - start
	o := header.IPv4(p[start:])
	o.SetVersionIHL(header.IPv4MinLen)
	o.SetTOS(tos)
	o.SetTotalLength(total)
	if h.frag != 0 {
		o.SetID(uint16(h.fragID)) // an atomic fragment (RFC 7915 §5.1)
		o.SetFragment(false, false, 0)
	} else {
		o.SetID(t.nextID())
		o.SetFragment(total > 1260, false, 0)
	}
	o.SetTTL(hl - 1)
	o.SetProtocol(header.ProtoICMPv4)
	o.SetSrc32(src4)
	o.SetDst32(dst4)
	o.SetChecksum(o.ComputeChecksum())

	// RFC 7757 §4, hairpinning of an error about a hairpinned packet; RFC
	// 6146 §3.8, an error for an IPv6 node behind the NAT64.
	if kindISrc == kindPrefix && c.opt.Hairpin != HairpinOff && c.eam.contains4(isrc4) ||
		c.nat != nil && c.inPool4(dst4) {
		return t.from4(b, off+start, total, true)
	}
	return verdict(Forward, Side4, ReasonNone, off+start, total, 0)
}

// pointer6to4 maps an ICMPv6 Parameter Problem pointer to ICMPv4 (RFC 7915
// §5.2, Figure 6).
func pointer6to4(ptr uint32) (uint8, bool) {
	switch {
	case ptr == 0:
		return 0, true // Version/Traffic Class
	case ptr == 1:
		return 1, true // Traffic Class/Flow Label
	case ptr == 4 || ptr == 5:
		return 2, true // Payload Length -> Total Length
	case ptr == 6:
		return 9, true // Next Header -> Protocol
	case ptr == 7:
		return 8, true // Hop Limit -> TTL
	case ptr >= 8 && ptr <= 23:
		return 12, true // Source Address
	case ptr >= 24 && ptr <= 39:
		return 16, true // Destination Address
	}
	return 0, false
}
