package xlat

import (
	"github.com/nat64br/nat64br/xlat/header"
)

// delta4to6 is the checksum delta of a transport pseudo-header whose
// addresses change from IPv4 to IPv6.
func delta4to6(src4, dst4 uint32, src6, dst6 u128) uint64 {
	return header.Add(uint64(^src4)+uint64(^dst4), header.Add(sum6(src6), sum6(dst6)))
}

// sourceRoute reports whether the IPv4 options carry an unexpired loose or
// strict source route (RFC 791 §3.1), and whether the options are malformed.
func sourceRoute(opts []byte) (route, bad bool) {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case header.IPv4OptEnd:
			return false, false
		case header.IPv4OptNop:
			i++
			continue
		}
		if i+2 > len(opts) {
			return false, true
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return false, true
		}
		if opts[i] == header.IPv4OptLSRR || opts[i] == header.IPv4OptSSRR {
			// The pointer (1-based, >= 4) is past the end when the route
			// is exhausted.
			if l >= 3 && int(opts[i+2]) <= l {
				return true, false
			}
		}
		i += l
	}
	return false, false
}

// ipv6Only reports whether an IPv4 Protocol value names an IPv6 extension
// header or ICMPv6: translated as is, it would make a malformed IPv6 packet.
func ipv6Only(proto uint8) bool {
	switch proto {
	case header.ProtoHopByHop, header.ProtoRouting, header.ProtoFragment, header.ProtoICMPv6, header.ProtoDestOpts:
		return true
	}
	return false
}

// from4 translates an IPv4 packet (RFC 7915 §4). hairpin is set when the
// packet is the result of translating an IPv6 packet whose destination
// belongs to the IPv6 side (RFC 7757 §4): its TTL was already decremented,
// and the source is translated with the RFC 6052 prefix, not the EAM table.
func (t *Translator) from4(b []byte, off, n int, hairpin bool) Verdict {
	p := b[off : off+n]
	if n < header.IPv4MinLen {
		return drop(ReasonTruncated)
	}
	ip := header.IPv4(p)
	ihl := ip.HeaderLen()
	if ihl < header.IPv4MinLen {
		return drop(ReasonBadHeaderLength)
	}
	if ihl > n {
		return drop(ReasonTruncated)
	}
	total := ip.TotalLength()
	if total < ihl {
		return drop(ReasonBadLength)
	}
	if total > n {
		return drop(ReasonTruncated)
	}
	p = p[:total]
	if !ip.ValidChecksum() {
		return drop(ReasonBadChecksum4)
	}
	c := t.c
	src4, dst4 := ip.Src32(), ip.Dst32()
	// Stateful NAT64: pool4 addresses go through the BIB; the rest of the
	// IPv4 side reaches IPv6 only through EAM entries.
	natDst := c.nat != nil && c.inPool4(dst4)
	if c.nat != nil && !natDst && !c.eam.contains4(dst4) && !(c.hasOwn4 && dst4 == c.own4) {
		return drop(ReasonNoRoute4)
	}
	if !natDst && c.hasOwn4 && dst4 == c.own4 && !hairpin {
		return t.local4(b, off, ihl, total)
	}
	frag := ip.IsFragment()
	first := ip.FragmentOffset() == 0
	proto := ip.Protocol()
	payload := total - ihl
	if ipv6Only(proto) {
		return drop(ReasonProtocol)
	}
	if frag && c.opt.Reassemble && (proto == header.ProtoICMPv4 || c.nat != nil) {
		if !hairpin && t.denied4(src4) {
			return refuse4(ReasonDenylistSrc4) // not held, as below
		}
		return verdict(Reassemble, Side4, ReasonNone, off, total, 0)
	}

	if proto == header.ProtoICMPv4 && first {
		if frag {
			return drop(ReasonFragmentedICMP)
		}
		if payload < header.ICMPLen {
			return drop(ReasonL4Truncated)
		}
		switch p[ihl] {
		case header.ICMPv4Echo, header.ICMPv4EchoReply:
		case header.ICMPv4DestUnreach, header.ICMPv4TimeExceeded, header.ICMPv4ParamProblem:
			return t.icmp4Error(b, off, ihl, total, hairpin, natDst)
		default:
			return drop(ReasonICMPv4Info)
		}
	}
	// Access control (acl.go): nothing is translated to Denylist4, so
	// nothing from it is either. A hairpinned packet's source is the
	// translator's own mapping of an IPv6 client.
	if !hairpin && t.denied4(src4) {
		return refuse4(ReasonDenylistSrc4)
	}
	if ihl > header.IPv4MinLen {
		route, bad := sourceRoute(p[header.IPv4MinLen:ihl])
		if bad {
			return drop(ReasonBadHeaderLength)
		}
		if route {
			// RFC 7915 §4.1: unexpired source route: 3/5 (from the pool4
			// address the packet was sent to, in NAT64).
			errSrc, hasSrc := c.own4, c.hasOwn4
			if natDst {
				errSrc, hasSrc = dst4, true
			}
			return t.error4From(b, off, total, errSrc, hasSrc, header.ICMPv4DestUnreach, header.ICMPv4SourceRouteFail, 0, ReasonSourceRoute)
		}
	}
	if natDst {
		return t.nat4(b, off, ihl, total, hairpin)
	}

	dst6, kindDst, r := t.map4to6(dst4, false, true)
	if r != ReasonNone {
		if r == ReasonReservedAddr {
			return drop(r)
		}
		return t.error4(b, off, total, header.ICMPv4DestUnreach, header.ICMPv4HostUnreach, 0, r)
	}
	if !t.client(dst6) {
		return refuse4(ReasonClientDst6)
	}
	// RFC 7757 §4: a hairpinned packet (and, in simple mode, any packet
	// whose source is an EAM address) takes its source from the prefix.
	srcEAM := !hairpin
	if c.opt.Hairpin == HairpinSimple && t.srcInEAM4(src4) {
		srcEAM = false
	}
	src6, kindSrc, r := t.map4to6(src4, true, srcEAM)
	if r != ReasonNone {
		if r == ReasonReservedAddr {
			return drop(r)
		}
		return t.error4(b, off, total, header.ICMPv4DestUnreach, header.ICMPv4HostProhibited, 0, r)
	}

	ttl := ip.TTL()
	if !hairpin {
		if ttl <= 1 {
			return t.error4(b, off, total, header.ICMPv4TimeExceeded, 0, 0, ReasonHopLimit)
		}
		ttl--
	}
	var ad uint64
	if kindDst.static() && kindSrc.static() {
		ad = header.Add(t.last46[slot(true)].d, t.last46[slot(false)].d)
	} else {
		ad = delta4to6(src4, dst4, src6, dst6)
	}
	return t.emit6(b, off, ihl, total, src4, dst4, src6, dst6, ttl, ad, 0, c.own4, c.hasOwn4)
}

// srcInEAM4 reports whether the IPv4 source a lies inside an EAM entry,
// from the mapping cache when a is its source entry.
func (t *Translator) srcInEAM4(a uint32) bool {
	if l := &t.last46[slot(true)]; l.kind != kindNone && l.a == a {
		return l.eam4
	}
	return t.c.eam.contains4(a)
}

// emit6 writes the IPv6 header of the IPv4 packet b[off:off+total], whose
// header is ihl bytes long, with addresses src6 and dst6 and Hop Limit ttl
// (RFC 7915 §4.1), and updates the transport checksum (§4.5). A packet too
// big for the IPv6 side with DF set is answered with ICMPv4 3/4 from
// errSrc. ad is the checksum delta of the addresses in the TCP and UDP
// pseudo-header, delta4to6(src4, dst4, src6, dst6); pd the delta of a port
// or identifier the caller rewrote (stateful NAT64), 0 if none.
func (t *Translator) emit6(b []byte, off, ihl, total int, src4, dst4 uint32, src6, dst6 u128, ttl uint8, ad, pd uint64, errSrc uint32, hasErrSrc bool) Verdict {
	c := t.c
	p := b[off : off+total]
	ip := header.IPv4(p)
	frag := ip.IsFragment()
	first := ip.FragmentOffset() == 0
	proto := ip.Protocol()
	payload := total - ihl

	// Size (RFC 7915 §4.1): a fragment keeps a Fragment header; a DF=0
	// packet that would exceed the fragmentation limit gets one and is
	// split; a DF=1 packet that does not fit gets 3/4.
	df := ip.DF()
	needFrag := frag
	out := header.IPv6Len + payload
	if t.gso {
		df = false // a super-frame's segments are cut to fit after translation
	} else if !df && !frag && out > c.fragLimit {
		needFrag = true
	}
	if needFrag {
		out += header.FragmentLen
	}
	fragSize := 0
	if df && out > c.opt.MTU6 {
		return t.error4From(b, off, total, errSrc, hasErrSrc, header.ICMPv4DestUnreach, header.ICMPv4FragNeeded, uint32(c.opt.MTU6-20), ReasonTooBig)
	}
	if needFrag && out > c.fragLimit {
		fragSize = c.fragLimit
	}
	if frag && int(ip.FragmentOffset())*8+payload > 65535 {
		return drop(ReasonFragmentBadOffsets) // its offsets would not fit
	}

	// Transport checksums (RFC 7915 §4.5), first fragment only.
	if first {
		l4 := p[ihl:]
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
				switch c.opt.UDPZeroChecksum {
				case UDPZeroForward:
				case UDPZeroCalculate:
					if frag {
						// The datagram is not all here: RFC 7915 §4.5.
						return t.error4From(b, off, total, errSrc, hasErrSrc, header.ICMPv4DestUnreach, header.ICMPv4AdminProhibited, 0, ReasonUDPZeroFragment)
					}
					computeUDP(l4[:payload], pseudo6(src6, dst6, header.ProtoUDP, payload))
				case UDPZeroReject:
					return t.error4From(b, off, total, errSrc, hasErrSrc, header.ICMPv4DestUnreach, header.ICMPv4AdminProhibited, 0, ReasonUDPZeroChecksum)
				default:
					return drop(ReasonUDPZeroChecksum)
				}
				break
			}
			patchUDP(l4, header.Add(ad, pd))
		case header.ProtoICMPv4:
			echoTo6(l4, pseudo6(src6, dst6, header.ProtoICMPv6, payload), pd)
		}
	}
	if proto == header.ProtoICMPv4 {
		proto = header.ProtoICMPv6
	}

	// Read the rest of the IPv4 header before the IPv6 header overwrites it.
	tos := ip.TOS()
	if c.opt.ZeroTrafficClass {
		tos = 0
	}
	id, mf, foff := ip.ID(), ip.MF(), ip.FragmentOffset()
	hdrLen := header.IPv6Len
	if needFrag {
		hdrLen += header.FragmentLen
	}
	start := off + ihl - hdrLen
	if start < 0 {
		return drop(ReasonNoRoom)
	}
	o := header.IPv6(b[start:])
	o.SetVersionClassFlow(tos, 0)
	o.SetPayloadLength(out - header.IPv6Len)
	o.SetHopLimit(ttl)
	put6(o[8:], src6)
	put6(o[24:], dst6)
	if needFrag {
		o.SetNextHeader(header.ProtoFragment)
		header.Fragment(b[start+header.IPv6Len:]).Set(proto, foff, mf, uint32(id))
	} else {
		o.SetNextHeader(proto)
	}
	return verdict(Forward, Side6, ReasonNone, start, out, fragSize)
}

// plateaus are the RFC 1191 §7 MTU plateaus.
var plateaus = [...]int{65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// plateau returns the greatest plateau below length (RFC 1191 §7).
func plateau(length int) int {
	for _, p := range plateaus {
		if p < length {
			return p
		}
	}
	return 68
}

// icmp4Error translates an ICMPv4 error message and the packet it quotes
// into ICMPv6 (RFC 7915 §4.2, §4.3), with RFC 4884 extensions. The ICMPv6
// error is cut to 1280 bytes. nat is set for an error sent to a pool4
// address: the quoted packet is then translated through its NAT64 session
// (RFC 6146 §3.4: the tuple of an ICMP error is its quoted packet's).
func (t *Translator) icmp4Error(b []byte, off, ihl, total int, hairpin, nat bool) Verdict {
	c := t.c
	p := b[off : off+total]
	ip := header.IPv4(p)
	l4 := ihl
	if header.Fold(header.Sum(p[l4:total], 0)) != 0xffff {
		return drop(ReasonICMPChecksum)
	}
	ic := header.ICMP(p[l4:])
	typ, code, rest := ic.Type(), ic.Code(), ic.Rest()
	q := l4 + header.ICMPLen
	if total-q < header.IPv4MinLen {
		return drop(ReasonICMPInnerBad)
	}
	inner := header.IPv4(p[q:])
	iihl := inner.HeaderLen()
	if inner.Version() != 4 || iihl < header.IPv4MinLen || q+iihl > total {
		return drop(ReasonICMPInnerBad)
	}
	itotal := inner.TotalLength()

	// RFC 7915 §4.2: types and codes.
	var t6, c6 uint8
	var rest6 uint32
	ext := false // the ICMPv6 type can carry an RFC 4884 length
	switch typ {
	case header.ICMPv4DestUnreach:
		t6, ext = header.ICMPv6DestUnreach, true
		switch code {
		case header.ICMPv4NetUnreach, header.ICMPv4HostUnreach, header.ICMPv4SourceRouteFail,
			header.ICMPv4NetUnknown, header.ICMPv4HostUnknown, header.ICMPv4HostIsolated,
			header.ICMPv4NetTOSUnreach, header.ICMPv4HostTOSUnreach:
			c6 = header.ICMPv6NoRoute
		case header.ICMPv4ProtoUnreach:
			t6, c6, rest6, ext = header.ICMPv6ParamProblem, header.ICMPv6UnknownNext, 6, false
		case header.ICMPv4PortUnreach:
			c6 = header.ICMPv6PortUnreach
		case header.ICMPv4FragNeeded:
			t6, c6, ext = header.ICMPv6PacketTooBig, 0, false
			// min(MTU + 20, IPv6 next-hop MTU, IPv4 next-hop MTU + 20); a
			// zero MTU (pre-RFC 1191 router) is estimated from the plateau
			// below the quoted packet's length.
			mtu := int(rest & 0xffff)
			if mtu == 0 {
				mtu = plateau(itotal)
			}
			rest6 = uint32(max(minMTU6, min(mtu+20, c.opt.MTU6, c.opt.MTU4+20)))
		case header.ICMPv4NetProhibited, header.ICMPv4HostProhibited, header.ICMPv4AdminProhibited,
			header.ICMPv4PrecedenceCutoff:
			c6 = header.ICMPv6AdminProhibited
		default:
			return drop(ReasonICMPCode)
		}
	case header.ICMPv4TimeExceeded:
		if code > 1 {
			return drop(ReasonICMPCode)
		}
		t6, c6, ext = header.ICMPv6TimeExceeded, code, true
	case header.ICMPv4ParamProblem:
		if code != 0 && code != 2 {
			return drop(ReasonICMPCode)
		}
		ptr, ok := pointer4to6(uint8(rest >> 24))
		if !ok {
			return drop(ReasonICMPPointer)
		}
		t6, c6, rest6 = header.ICMPv6ParamProblem, header.ICMPv6ErroneousHeader, uint32(ptr)
	}

	// The original datagram field, and an RFC 4884 extension after it.
	origEnd := total
	hasExt := false
	if (typ == header.ICMPv4DestUnreach || typ == header.ICMPv4TimeExceeded || typ == header.ICMPv4ParamProblem) && p[l4+5] != 0 {
		if n := int(p[l4+5]) * 4; q+n <= total && n >= iihl {
			origEnd, hasExt = q+n, true
		}
	}
	iproto := inner.Protocol()
	if ipv6Only(iproto) {
		return drop(ReasonICMPInnerBad)
	}
	ifrag := inner.IsFragment()
	ifirst := inner.FragmentOffset() == 0
	il4 := q + iihl
	if iproto == header.ProtoICMPv4 && ifirst && il4 < origEnd {
		switch p[il4] {
		case header.ICMPv4Echo, header.ICMPv4EchoReply:
		case header.ICMPv4DestUnreach, header.ICMPv4SourceQuench, header.ICMPv4Redirect,
			header.ICMPv4TimeExceeded, header.ICMPv4ParamProblem:
			return drop(ReasonICMPErrorInError)
		default:
			return drop(ReasonICMPInnerBad)
		}
	}

	// Addresses (RFC 7757 §4 for the hairpinning exceptions). The quoted
	// packet went from isrc to idst; the error comes back to isrc.
	isrc4, idst4 := inner.Src32(), inner.Dst32()
	src4, dst4 := ip.Src32(), ip.Dst32()
	if t.denied4(idst4) {
		// The quoted packet went to Denylist4: not through the
		// translator.
		return drop(ReasonDenylistSrc4)
	}
	isHairpin := hairpin || c.opt.Hairpin == HairpinSimple
	var src6, dst6, isrc6, idst6 u128
	var r Reason
	var ipd uint64 // checksum delta of the quoted port the NAT64 rewrote
	if nat {
		// RFC 6146 §3.4: the quoted packet left through (T, t) towards
		// (Y, y); its session names the IPv6 host (X, x) the error is for.
		pr := natProto(iproto)
		l := p[il4:origEnd]
		at := 0
		if pr == natICMP {
			at = 4
		}
		if pr < 0 || !ifirst || len(l) < at+2 || pr != natICMP && len(l) < 4 {
			return drop(ReasonICMPInnerBad)
		}
		yp := uint16(0)
		if pr != natICMP {
			yp = header.Port(l, 2)
		}
		x, xp, ok := c.nat.peek4(pr, isrc4, header.Port(l, at), idst4, yp, t.nowSec())
		if !ok {
			return drop(ReasonNoSession)
		}
		if idst6, _, r = t.map4to6(idst4, false, !isHairpin); r != ReasonNone {
			return drop(ReasonICMPInnerBad)
		}
		isrc6, dst6 = x, x
		ipd = rewritePort(l, at, xp)
		// source-icmpv6-errors-better: the router's address in the prefix
		// rather than the quoted packet's destination of RFC 6146 §3.5.
		src6 = idst6
		if !c.natStrictErrSrc {
			if src6, _, r = t.map4to6Lax(src4, !(isHairpin && src4 == idst4)); r != ReasonNone {
				src6 = idst6
			}
		}
	} else {
		if dst6, _, r = t.map4to6(dst4, false, true); r != ReasonNone {
			return drop(r)
		}
		// The source of an error is any router: reserved addresses are
		// translated too (as Jool does), and one that has no mapping takes
		// an RFC 6791 address.
		if src6, _, r = t.map4to6Lax(src4, !(isHairpin && src4 == idst4)); r != ReasonNone {
			var ok bool
			if src6, ok = t.rfc6791v6(src4); !ok {
				return drop(ReasonNoErrorSource)
			}
		}
		if isrc6, _, r = t.map4to6(isrc4, true, true); r != ReasonNone {
			return drop(ReasonICMPInnerBad)
		}
		if idst6, _, r = t.map4to6(idst4, false, !isHairpin); r != ReasonNone {
			return drop(ReasonICMPInnerBad)
		}
	}
	if !t.client(dst6) {
		return drop(ReasonClientDst6)
	}
	ttl := ip.TTL()
	if !hairpin {
		if ttl <= 1 {
			return drop(ReasonHopLimit) // never an error about an error
		}
		ttl--
	}

	// Layout: the quoted upper-layer bytes stay where they are; the outer
	// IPv6 header, the ICMPv6 header and the quoted IPv6 header (with a
	// Fragment header if the quoted packet was a fragment) are written in
	// the 88 or 96 bytes before them.
	ihdr := header.IPv6Len
	if ifrag {
		ihdr += header.FragmentLen
	}
	avail := max(0, origEnd-il4)
	itos, ittl, iid, imf, ifoff := inner.TOS(), inner.TTL(), inner.ID(), inner.MF(), inner.FragmentOffset()
	if c.opt.ZeroTrafficClass {
		itos = 0
	}
	tos := ip.TOS()
	if c.opt.ZeroTrafficClass {
		tos = 0
	}
	ipayload := max(0, itotal-iihl) // what the quoted packet claimed

	if ifirst {
		l := p[il4:origEnd]
		d := delta4to6(isrc4, idst4, isrc6, idst6)
		switch {
		case iproto == header.ProtoTCP && avail >= header.TCPChecksumOffset+2:
			patchTCP(l, header.Add(d, ipd))
		case iproto == header.ProtoUDP && avail >= header.UDPLen && header.Port(l, header.UDPChecksumOffset) != 0:
			patchUDP(l, header.Add(d, ipd))
		case iproto == header.ProtoICMPv4 && avail >= header.ICMPLen:
			echoTo6(l, pseudo6(isrc6, idst6, header.ProtoICMPv6, ipayload), ipd)
		}
	}
	if iproto == header.ProtoICMPv4 {
		iproto = header.ProtoICMPv6
	}

	// Sizes. The original datagram field becomes ihdr+avail bytes; with an
	// extension it is cut to 64 bits (as Jool does) and padded to at least
	// 128 bytes (RFC 4884 §4.1), and the whole error is cut to 1280 bytes:
	// the original datagram gives way first, the extension is kept whole or
	// dropped.
	// From here on offsets are absolute in b: the new headers start
	// before off.
	ail4 := off + il4
	start := ail4 - ihdr - header.ICMPLen - header.IPv6Len
	if start < 0 {
		return drop(ReasonNoRoom)
	}
	const maxErr = minMTU6
	extLen, origLen := 0, 0
	if hasExt && ext {
		extLen = total - origEnd
	}
	if extLen > 0 {
		room := (maxErr - header.IPv6Len - header.ICMPLen - extLen) &^ 7
		if room < 128 {
			extLen = 0 // no room for the extension and 128 bytes of datagram
		}
		origLen = min(max(128, (ihdr+avail)&^7), room)
	}
	var msgEnd int // end of the ICMPv6 message
	lenWords := uint32(0)
	if extLen > 0 {
		dataEnd := ail4 + min(avail, origLen-ihdr) // end of the quoted bytes kept
		newExt := ail4 - ihdr + origLen            // where the extension goes
		if newExt+extLen > len(b) {
			return drop(ReasonNoRoom)
		}
		copy(b[newExt:newExt+extLen], b[off+origEnd:off+origEnd+extLen])
		if dataEnd < newExt {
			clear(b[dataEnd:newExt])
		}
		msgEnd = newExt + extLen
		lenWords = uint32(origLen / 8)
	} else {
		msgEnd = min(off+origEnd, start+maxErr)
	}

	// The quoted IPv6 header.
	qi := header.IPv6(b[ail4-ihdr:])
	qi.SetVersionClassFlow(itos, 0)
	qi.SetHopLimit(ittl)
	put6(qi[8:], isrc6)
	put6(qi[24:], idst6)
	if ifrag {
		qi.SetPayloadLength(ipayload + header.FragmentLen)
		qi.SetNextHeader(header.ProtoFragment)
		header.Fragment(b[ail4-header.FragmentLen:]).Set(iproto, ifoff, imf, uint32(iid))
	} else {
		qi.SetPayloadLength(ipayload)
		qi.SetNextHeader(iproto)
	}

	// The ICMPv6 header.
	msgStart := start + header.IPv6Len
	msgLen := msgEnd - msgStart
	if t6 == header.ICMPv6DestUnreach || t6 == header.ICMPv6TimeExceeded {
		rest6 = lenWords << 24
	}
	o6 := header.ICMP(b[msgStart:])
	o6.SetTypeCode(t6, c6)
	o6.SetRest(rest6)
	o6.SetChecksum(0)
	o6.SetChecksum(header.Checksum(b[msgStart:msgEnd], pseudo6(src6, dst6, header.ProtoICMPv6, msgLen)))

	// The outer IPv6 header.
	o := header.IPv6(b[start:])
	o.SetVersionClassFlow(tos, 0)
	o.SetPayloadLength(msgLen)
	o.SetNextHeader(header.ProtoICMPv6)
	o.SetHopLimit(ttl)
	put6(o[8:], src6)
	put6(o[24:], dst6)
	return verdict(Forward, Side6, ReasonNone, start, msgEnd-start, 0)
}

// pointer4to6 maps an ICMPv4 Parameter Problem pointer to ICMPv6 (RFC 7915
// §4.2, Figure 3).
func pointer4to6(ptr uint8) (uint8, bool) {
	switch {
	case ptr == 0:
		return 0, true // Version/IHL
	case ptr == 1:
		return 1, true // Type of Service
	case ptr == 2 || ptr == 3:
		return 4, true // Total Length -> Payload Length
	case ptr == 8:
		return 7, true // TTL -> Hop Limit
	case ptr == 9:
		return 6, true // Protocol -> Next Header
	case ptr >= 12 && ptr <= 15:
		return 8, true // Source Address
	case ptr >= 16 && ptr <= 19:
		return 24, true // Destination Address
	}
	return 0, false
}
