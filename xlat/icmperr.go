package xlat

import (
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

// Limits of the translator's own ICMP errors: how much of the offending
// packet they quote (RFC 1812 §4.3.2.3, RFC 4443 §2.4(c)).
const (
	maxError4 = 576
	maxError6 = minMTU6
)

// errorLimiter is a token bucket for the translator's own ICMP errors (RFC
// 4443 §2.4(f), RFC 1812 §4.3.2.8), one per Translator, driven by the packet
// time.
type errorLimiter struct {
	tokens int64
	last   int64 // unix nanoseconds of the last refill
}

func (l *errorLimiter) allow(ns, rate, burst int64) bool {
	if l.last == 0 || ns < l.last {
		l.last, l.tokens = ns, burst
	}
	if add := (ns - l.last) * rate / int64(time.Second); add > 0 {
		l.tokens = min(burst, l.tokens+add)
		l.last = ns
	}
	if l.tokens <= 0 {
		return false
	}
	l.tokens--
	return true
}

// error6 turns the IPv6 packet b[off:off+n] into an ICMPv6 error from the
// translator's IPv6 address to the packet's source, quoting as much of it as
// fits in 1280 bytes (RFC 4443 §2.4(c)). The error goes back out of the IPv6
// side. r is the reason the packet was not translated.
func (t *Translator) error6(b []byte, off, n int, typ, code uint8, rest uint32, r Reason) Verdict {
	c := t.c
	src := get6(b[off+8:])
	// RFC 4443 §2.4(e): no error to an unspecified or multicast source, and
	// none about a multicast destination (except Packet Too Big).
	if src.hi>>56 == 0xff || src == (u128{}) || (b[off+24] == 0xff && typ != header.ICMPv6PacketTooBig) {
		return drop(r)
	}
	if !c.hasOwn6 {
		return drop(ReasonNoErrorSource)
	}
	if !t.limit.allow(t.now, c.errRate, c.errBurst) {
		return drop(ReasonRateLimited)
	}
	hdr := header.IPv6Len + header.ICMPLen
	start := off - hdr
	n = min(n, maxError6-hdr)
	o := header.IPv6(b[start:])
	o.SetVersionClassFlow(0, 0)
	o.SetPayloadLength(header.ICMPLen + n)
	o.SetNextHeader(header.ProtoICMPv6)
	o.SetHopLimit(64)
	put6(o[8:], c.own6)
	put6(o[24:], src)
	ic := header.ICMP(b[start+header.IPv6Len:])
	ic.SetTypeCode(typ, code)
	ic.SetRest(rest)
	ic.SetChecksum(0)
	ic.SetChecksum(header.Checksum(b[start+header.IPv6Len:off+n], pseudo6(c.own6, src, header.ProtoICMPv6, header.ICMPLen+n)))
	return verdict(Reply, Side6, r, start, hdr+n, 0)
}

// error4 turns the IPv4 packet b[off:off+n] into an ICMPv4 error from the
// translator's IPv4 address to the packet's source, quoting as much as fits
// in 576 bytes (RFC 1812 §4.3.2.3). The error goes back out of the IPv4 side.
func (t *Translator) error4(b []byte, off, n int, typ, code uint8, rest uint32, r Reason) Verdict {
	return t.error4From(b, off, n, t.c.own4, t.c.hasOwn4, typ, code, rest, r)
}

// error4From is error4 with the source address src (valid if hasSrc): in
// stateful NAT64 the pool4 address the offending packet was sent to.
func (t *Translator) error4From(b []byte, off, n int, src4 uint32, hasSrc bool, typ, code uint8, rest uint32, r Reason) Verdict {
	c := t.c
	p := header.IPv4(b[off : off+n])
	src := p.Src32()
	// RFC 1812 §4.3.2.7: no error about a non-first fragment, or to a
	// source that does not name a unique host.
	if p.FragmentOffset() != 0 || reserved4(src) || reserved4(p.Dst32()) {
		return drop(r)
	}
	if !hasSrc {
		return drop(ReasonNoErrorSource)
	}
	if !t.limit.allow(t.now, c.errRate, c.errBurst) {
		return drop(ReasonRateLimited)
	}
	hdr := header.IPv4MinLen + header.ICMPLen
	start := off - hdr
	n = min(n, maxError4-hdr)
	o := header.IPv4(b[start:])
	o.SetVersionIHL(header.IPv4MinLen)
	o.SetTOS(0)
	o.SetTotalLength(hdr + n)
	o.SetID(t.nextID())
	o.SetFragment(false, false, 0)
	o.SetTTL(64)
	o.SetProtocol(header.ProtoICMPv4)
	o.SetSrc32(src4)
	o.SetDst32(src)
	o.SetChecksum(o.ComputeChecksum())
	ic := header.ICMP(b[start+header.IPv4MinLen:])
	ic.SetTypeCode(typ, code)
	ic.SetRest(rest)
	ic.SetChecksum(0)
	ic.SetChecksum(header.Checksum(b[start+header.IPv4MinLen:off+n], 0))
	return verdict(Reply, Side4, r, start, hdr+n, 0)
}

// local6 answers an IPv6 packet addressed to the translator itself: an echo
// request gets an echo reply (RFC 4443 §4.2), TCP and UDP a port
// unreachable, any other protocol a Parameter Problem pointing at the Next
// Header field, as TAYGA does.
func (t *Translator) local6(b []byte, off int, h *ipv6Info) Verdict {
	p := b[off : off+h.end]
	ip := header.IPv6(p)
	switch h.proto {
	case header.ProtoICMPv6:
		if h.fragmented() || h.l4+header.ICMPLen > h.end || p[h.l4] != header.ICMPv6EchoRequest {
			return drop(ReasonOwnAddress)
		}
		src, dst := get6(p[8:]), get6(p[24:])
		if header.Fold(header.Sum(p[h.l4:h.end], pseudo6(src, dst, header.ProtoICMPv6, h.end-h.l4))) != 0xffff {
			return drop(ReasonICMPChecksum)
		}
		if src.hi>>56 == 0xff || src == (u128{}) {
			return drop(ReasonOwnAddress)
		}
		// The pseudo-header sum is unchanged by swapping the addresses.
		retype(header.ICMP(p[h.l4:]), header.ICMPv6EchoReply, 0)
		put6(p[8:], dst)
		put6(p[24:], src)
		ip.SetHopLimit(64)
		return verdict(Reply, Side6, ReasonOwnAddress, off, h.end, 0)
	case header.ProtoTCP, header.ProtoUDP:
		return t.error6(b, off, h.end, header.ICMPv6DestUnreach, header.ICMPv6PortUnreach, 0, ReasonOwnAddressUnreach)
	}
	return t.error6(b, off, h.end, header.ICMPv6ParamProblem, header.ICMPv6UnknownNext, 6, ReasonOwnAddressUnreach)
}

// local4 answers an IPv4 packet addressed to the translator itself: an echo
// request gets an echo reply (RFC 792), TCP and UDP a port unreachable, any
// other protocol a protocol unreachable (RFC 1122 §3.2.2.1).
func (t *Translator) local4(b []byte, off, ihl, total int) Verdict {
	p := b[off : off+total]
	ip := header.IPv4(p)
	switch ip.Protocol() {
	case header.ProtoICMPv4:
		if ip.IsFragment() || ihl+header.ICMPLen > total || p[ihl] != header.ICMPv4Echo {
			return drop(ReasonOwnAddress)
		}
		if header.Fold(header.Sum(p[ihl:total], 0)) != 0xffff {
			return drop(ReasonICMPChecksum)
		}
		src, dst := ip.Src32(), ip.Dst32()
		if reserved4(src) {
			return drop(ReasonOwnAddress)
		}
		retype(header.ICMP(p[ihl:]), header.ICMPv4EchoReply, 0)
		ip.SetSrc32(dst)
		ip.SetDst32(src)
		ip.SetTTL(64)
		ip.SetChecksum(ip.ComputeChecksum())
		return verdict(Reply, Side4, ReasonOwnAddress, off, total, 0)
	case header.ProtoTCP, header.ProtoUDP:
		return t.error4(b, off, total, header.ICMPv4DestUnreach, header.ICMPv4PortUnreach, 0, ReasonOwnAddressUnreach)
	}
	return t.error4(b, off, total, header.ICMPv4DestUnreach, header.ICMPv4ProtoUnreach, 0, ReasonOwnAddressUnreach)
}

// Unreachable answers a translated packet that could not be delivered: it
// was to leave on side to, in b[off:off+n], but its next hop did not answer
// ARP or Neighbor Discovery. Unreachable builds an ICMP host unreachable
// from the translator's address on that side (ICMPv4 3/1, ICMPv6 1/3) and
// translates it back across, so that the original sender on the other side
// learns of it. An IPv6 sender gets ICMPv6 1/3 (address unreachable), as
// from a router whose neighbor did not answer. b needs 2*Headroom bytes
// before off.
func (t *Translator) Unreachable(b []byte, off, n int, to Side, now time.Time) Verdict {
	t.now = now.UnixNano()
	if off < 2*Headroom || n <= 0 || off+n > len(b) {
		return drop(ReasonNoRoom)
	}
	var v Verdict
	switch to {
	case Side4:
		if n < header.IPv4MinLen || b[off]>>4 != 4 {
			return drop(ReasonTruncated)
		}
		v = t.error4(b, off, n, header.ICMPv4DestUnreach, header.ICMPv4HostUnreach, 0, ReasonNeighbor)
		if v.Action() == Reply {
			v = t.from4(b, v.Off, v.Len, false)
		}
		if v.Action() == Forward && v.FragSize == 0 && v.Len >= header.IPv6Len+8 && b[v.Off+6] == header.ProtoICMPv6 {
			// RFC 7915 §4.2 maps host unreachable to ICMPv6 code 0 (no
			// route), but the translator is the router whose neighbor
			// did not answer: code 3, as RFC 4443 §3.1 has a router say.
			ic := header.ICMP(b[v.Off+header.IPv6Len : v.Off+v.Len])
			if ic.Type() == header.ICMPv6DestUnreach && ic.Code() == header.ICMPv6NoRoute {
				recode(ic, header.ICMPv6DestUnreach, header.ICMPv6AddrUnreach, 0)
			}
		}
	case Side6:
		if n < header.IPv6Len || b[off]>>4 != 6 {
			return drop(ReasonTruncated)
		}
		v = t.error6(b, off, n, header.ICMPv6DestUnreach, header.ICMPv6AddrUnreach, 0, ReasonNeighbor)
		if v.Action() == Reply {
			v = t.from6(b, v.Off, v.Len, false)
		}
	default:
		return drop(ReasonWrongSide)
	}
	if v.Action() != Forward {
		return v
	}
	return verdict(Forward, v.Side(), ReasonNeighbor, v.Off, v.Len, v.FragSize)
}
