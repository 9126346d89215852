package xlat

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/nat64br/nat64br/xlat/header"
)

// Access control: Options.Clients names the IPv6 hosts that may use the
// translator, Options.Denylist4 the IPv4 networks it never translates to.
// nat64br reads frames with AF_PACKET, past the host's firewall, so these
// lists take the place of an ip6tables FORWARD rule in front of a TUN
// translator. A packet from the IPv6 side, or from an IPv4 source in
// Denylist4, is refused before it creates state: no BIB entry, session,
// dynamic-pool mapping or fragment entry. In NAT64 the 4→6 check of the
// IPv6 destination follows the BIB lookup that names it (nat4): only a
// client removed by a reload still has a binding, and a refreshed session
// of it is expired by the reload.
//
// Who is checked, and where:
//
//   - 6→4: the IPv6 source must be a client and the IPv4 destination
//     outside Denylist4. A refused packet gets ICMPv6 1/1 (communication
//     administratively prohibited, RFC 4443 §3.1) within icmp-error-rate,
//     or nothing with DropRefused; a non-first fragment gets nothing.
//   - 4→6: the IPv6 destination must be a client and the IPv4 source
//     outside Denylist4; a refused packet is dropped silently (see
//     refuse4).
//   - ICMP errors: the router that sends one may be anyone, so its source is
//     not checked; the host the quoted packet was for is. An ICMPv6 error
//     must quote a packet sent to a client and go to an IPv4 address outside
//     Denylist4; an ICMPv4 error must quote a packet sent to an IPv4 address
//     outside Denylist4 and go to a client. Refused errors are dropped
//     (never an error about an error, RFC 4443 §2.4(e)).
//   - Packets the translator answers itself (to ipv6-addr, to ipv4-addr
//     through the prefix in SIIT, echo requests to ipv4-addr) are answered
//     whoever sends them: nothing is translated.

// addrSet is a set of addresses given as prefixes, merged into disjoint,
// non-adjacent ranges sorted by first address: pointer-free and searched
// without allocation. IPv4 addresses are u128 values with the address in
// the low 32 bits, as in lpm.
type addrSet struct {
	spans []addrSpan
}

type addrSpan struct{ first, last u128 }

// newAddrSet builds the set of ps, which must all be IPv4 prefixes (v4) or
// all IPv6 ones; what is the prefix for is named in errors.
func newAddrSet(ps []netip.Prefix, v4 bool, what string) (addrSet, error) {
	var s addrSet
	for _, p := range ps {
		a := p.Addr()
		switch {
		case !p.IsValid():
			return s, fmt.Errorf("%s: %s is not a prefix", what, p)
		case v4 && !a.Is4():
			return s, fmt.Errorf("%s: %s is not an IPv4 prefix", what, p)
		case !v4 && (!a.Is6() || a.Is4In6()):
			return s, fmt.Errorf("%s: %s is not an IPv6 prefix", what, p)
		case p != p.Masked():
			return s, fmt.Errorf("%s: %s has host bits set", what, p)
		}
		var first, host u128
		if v4 {
			first, host = u128From4(a.As4()), hostMask(32-p.Bits())
		} else {
			a16 := a.As16()
			first, host = u128From16(&a16), hostMask(128-p.Bits())
		}
		s.spans = append(s.spans, addrSpan{first, first.or(host)})
	}
	slices.SortFunc(s.spans, func(a, b addrSpan) int { return a.first.cmp(b.first) })
	// Merge overlapping and adjacent ranges: the search below needs them
	// disjoint.
	out := s.spans[:0]
	for _, sp := range s.spans {
		if n := len(out); n > 0 && (out[n-1].last == (u128{^uint64(0), ^uint64(0)}) || sp.first.cmp(out[n-1].last.inc()) <= 0) {
			if sp.last.cmp(out[n-1].last) > 0 {
				out[n-1].last = sp.last
			}
			continue
		}
		out = append(out, sp)
	}
	s.spans = slices.Clip(out)
	return s, nil
}

// inc returns a+1 (wrapping).
func (a u128) inc() u128 {
	if a.lo == ^uint64(0) {
		return u128{a.hi + 1, 0}
	}
	return u128{a.hi, a.lo + 1}
}

// empty reports whether the set has no address; the caller checks it
// first, so that an unset list costs a length test per packet.
func (s *addrSet) empty() bool { return len(s.spans) == 0 }

// contains reports whether a is in the set: a binary search for the first
// range that ends at or after a. The comparisons are written out, as in
// lpm.lookup.
func (s *addrSet) contains(a u128) bool {
	sp := s.spans
	lo, hi := 0, len(sp)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		l := sp[m].last
		if l.hi < a.hi || (l.hi == a.hi && l.lo < a.lo) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo >= len(sp) {
		return false
	}
	f := sp[lo].first
	return f.hi < a.hi || (f.hi == a.hi && f.lo <= a.lo)
}

// acl is the compiled access control of a Translator.
type acl struct {
	clients addrSet // empty: every IPv6 host is a client
	deny4   addrSet
	drop    bool // DropRefused: no ICMPv6 1/1
}

func newACL(o *Options) (acl, error) {
	var a acl
	var err error
	if a.clients, err = newAddrSet(o.Clients, false, "clients"); err != nil {
		return a, err
	}
	if a.deny4, err = newAddrSet(o.Denylist4, true, "denylist4"); err != nil {
		return a, err
	}
	a.drop = o.DropRefused
	return a, nil
}

// client reports whether the IPv6 address x may use the translator
// (without the Translator's memo: for code that is not on the packet
// path).
func (a *acl) client(x u128) bool { return a.clients.empty() || a.clients.contains(x) }

// denied4 reports whether the IPv4 address v is inside Denylist4.
func (a *acl) denied4(v uint32) bool { return !a.deny4.empty() && a.deny4.contains(u128{0, uint64(v)}) }

// aclMemo keeps the last addresses a Translator's access control let
// through. A flow's packets repeat their addresses, in both directions:
// the client is the 6→4 source and the 4→6 destination, the IPv4 host the
// 6→4 destination and the 4→6 source. Only addresses let through are
// kept: refusals are few, and take the search. The lists never change for
// a Translator, so what the memo holds stays true.
type aclMemo struct {
	client u128   // a client: the first address of Clients until a packet comes
	pass4  uint64 // an IPv4 address outside Denylist4, with bit 32 set; 0: none yet
}

// memo returns the memo a new Translator starts with.
func (a *acl) memo() aclMemo {
	var m aclMemo
	if !a.clients.empty() {
		m.client = a.clients.spans[0].first
	}
	return m
}

// client reports whether the IPv6 address x may use the translator. With
// no clients list it costs a length test (inlined); with one, a flow's
// next packets cost a call and a comparison with the memo. (With the memo
// inlined too, the function would exceed the inliner's budget.)
func (t *Translator) client(x u128) bool {
	return len(t.c.acl.clients.spans) == 0 || t.clientMemo(x)
}

func (t *Translator) clientMemo(x u128) bool {
	if t.acl.client == x {
		return true
	}
	if !t.c.acl.clients.contains(x) {
		return false
	}
	t.acl.client = x
	return true
}

// denied4 reports whether the IPv4 address v is inside Denylist4. With no
// list it costs a length test, with one a comparison with the memo for a
// flow's next packets (all inlined).
func (t *Translator) denied4(v uint32) bool {
	return len(t.c.acl.deny4.spans) != 0 && t.acl.pass4 != uint64(v)|1<<32 && t.denied4Miss(v)
}

func (t *Translator) denied4Miss(v uint32) bool {
	if t.c.acl.denied4(v) {
		return true
	}
	t.acl.pass4 = uint64(v) | 1<<32
	return false
}

// refuse6 answers an IPv6 packet, b[off:off+h.end], that the access control
// refused for r: ICMPv6 1/1 within the error rate limit, or a drop when
// DropRefused is set, when the packet is a non-first fragment (its first
// fragment got the answer) or when error6 cannot answer. The packet is
// counted for r whether it is answered or not.
func (t *Translator) refuse6(b []byte, off int, h *ipv6Info, r Reason) Verdict {
	if t.c.acl.drop || !h.first() {
		return drop(r)
	}
	v := t.error6(b, off, h.end, header.ICMPv6DestUnreach, header.ICMPv6AdminProhibited, 0, r)
	if v.Action() != Reply {
		return drop(r)
	}
	return v
}

// refuse4 is what an IPv4 packet the access control refused gets: a silent
// drop, counted for r. ICMPv4 3/13 (communication administratively
// prohibited, RFC 1812 §5.2.7.1) is not sent, by choice: the IPv4 side is
// usually the Internet, where an answer would tell any scanner which
// addresses behind the prefix are hosts nat64br refuses, and the
// translator's one error budget (icmp-error-rate) is shared with the Packet
// Too Big and Time Exceeded messages its clients need, which IPv4 scanners
// could spend. RFC 1812 §5.2.7.1 lets a router discard such packets
// silently.
func refuse4(r Reason) Verdict { return drop(r) }

// ClientAllowed reports whether the IPv6 address a may use a translator
// built from o: Clients is empty, or one of its prefixes contains a. It
// walks the list; the translator itself searches a compiled copy.
func (o *Options) ClientAllowed(a netip.Addr) bool {
	if len(o.Clients) == 0 {
		return true
	}
	return slices.ContainsFunc(o.Clients, func(p netip.Prefix) bool { return p.Contains(a) })
}

// Denied4 reports whether a translator built from o never translates to
// the IPv4 address a (Denylist4 contains it).
func (o *Options) Denied4(a netip.Addr) bool {
	return slices.ContainsFunc(o.Denylist4, func(p netip.Prefix) bool { return p.Contains(a) })
}
