package xlat

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"github.com/nat64br/nat64br/xlat/header"
)

// Stateful NAT64 (RFC 6146): the IPv6 side's addresses are not mapped by a
// rule but bound, one transport address at a time, to pool4 addresses and
// ports. EAM entries still translate statelessly and come first (RFC 7757
// §3.3 ordering): EAM, then static BIB entries, then dynamic ones.

// tcpFlagsOf reads the flags the NAT64 state machine needs from the TCP
// header l (at least 14 bytes).
func tcpFlagsOf(l []byte) tcpFlags {
	return tcpFlags(l[13] & 0x07) // FIN, SYN, RST are the low three bits
}

// natPorts reads the ports of a first fragment's upper-layer header l
// (payload bytes long): the local port (source from IPv6, destination from
// IPv4; the identifier for ICMP), its offset, the remote port and the TCP
// flags. ok is false when the header is cut short.
func natPorts(pr int, l []byte, payload int, from6 bool) (local uint16, at int, remote uint16, f tcpFlags, ok bool) {
	switch pr {
	case natTCP:
		if payload < header.TCPChecksumOffset+2 {
			return 0, 0, 0, 0, false
		}
		f = tcpFlagsOf(l)
	case natUDP:
		if payload < header.UDPLen {
			return 0, 0, 0, 0, false
		}
	case natICMP:
		if payload < header.ICMPLen {
			return 0, 0, 0, 0, false
		}
		return header.Port(l, 4), 4, 0, 0, true
	}
	if from6 {
		return header.Port(l, 0), 0, header.Port(l, 2), f, true
	}
	return header.Port(l, 2), 2, header.Port(l, 0), f, true
}

// nowSec is the packet time in the tables' unit.
func (t *Translator) nowSec() uint32 { return uint32(t.now / 1e9) }

// nat6 translates an IPv6 packet in stateful NAT64 mode (RFC 6146 §3.4 to
// §3.7); from6 has parsed it into p and h.
func (t *Translator) nat6(b []byte, off int, p []byte, h *ipv6Info, src6, dst6 u128) Verdict {
	c := t.c
	nt := c.nat
	end := h.end
	t.origLen = 0
	dst4, kindDst, r := t.map6to4(dst6, false)
	if r != ReasonNone {
		if r == ReasonReservedAddr {
			return drop(r)
		}
		return t.error6(b, off, end, header.ICMPv6DestUnreach, header.ICMPv6NoRoute, 0, r)
	}
	if t.denied4(dst4) {
		return t.refuse6(b, off, h, ReasonDenylistDst4)
	}
	if reserved6(src6) {
		return drop(ReasonReservedAddr)
	}
	// An EAM source is translated statelessly, as in SIIT.
	if src4, ok := c.eam.to4(src6); ok {
		if reserved4(src4) {
			return drop(ReasonReservedAddr)
		}
		if v, ok := t.check6(b, off, p, h); !ok {
			return v
		}
		v := t.emit4(b, off, p, h, src6, dst6, src4, dst4, delta6to4(src6, dst6, src4, dst4), 0)
		if v.Action() == Forward && (c.inPool4(dst4) || t.hairpinDst(kindDst, dst4)) {
			return t.from4(b, v.Off, v.Len, true)
		}
		return v
	}
	if c.pool.contains(src6) {
		// A source inside the prefix would let an IPv6 host pick its IPv4
		// source address.
		return t.error6(b, off, end, header.ICMPv6DestUnreach, header.ICMPv6SrcPolicyFail, 0, ReasonNoSource6)
	}
	pr := natProto(h.proto)
	if pr < 0 {
		return drop(ReasonProtocol) // RFC 6146 §3.5 covers TCP, UDP and ICMP only
	}
	if pr == natICMP && c.natDropInfo {
		return drop(ReasonICMPInfoFiltered)
	}
	if v, ok := t.check6(b, off, p, h); !ok {
		return v
	}
	// RFC 6146 §3.8: a destination in pool4 is an IPv6 node behind this
	// NAT64; the packet goes out and comes back in. If it is a SYN that
	// ends up held, its sender gets the error in IPv6, about the packet it
	// sent: keep a copy before it is translated in place.
	hairpin := c.inPool4(dst4)

	if !h.first() {
		// A later fragment: no ports; its source is the one the first
		// fragment got.
		to, ok := nt.frags.get(src6, dst6, h.fragID, h.proto, t.now)
		if !ok {
			return drop(ReasonFragmentNoSession)
		}
		v := t.emit4(b, off, p, h, src6, dst6, uint32(to.lo), dst4, delta6to4(src6, dst6, uint32(to.lo), dst4), 0)
		if v.Action() == Forward && hairpin {
			return t.from4(b, v.Off, v.Len, true)
		}
		return v
	}
	l4 := p[h.l4:end]
	xp, at, yp, f, ok := natPorts(pr, l4, end-h.l4, true)
	if !ok {
		return drop(ReasonL4Truncated)
	}
	if hairpin && pr == natTCP && f&tcpSYN != 0 {
		t.keepOrig(p)
	}
	a, ap, res := nt.out6(pr, src6, xp, dst4, yp, f, t.nowSec(), t.now, &c.natTimeouts)
	if res != natOK {
		if res == natNoSession {
			return drop(res.reason())
		}
		// RFC 6146 §3.5.1.1: no transport address (or a limit): ICMPv6
		// Destination Unreachable, Address Unreachable.
		return t.error6(b, off, end, header.ICMPv6DestUnreach, header.ICMPv6AddrUnreach, 0, res.reason())
	}
	pd := rewritePort(l4, at, ap)
	if h.fragmented() {
		nt.frags.put(src6, dst6, h.fragID, h.proto, u128{0, uint64(a)}, t.now)
	}
	v := t.emit4(b, off, p, h, src6, dst6, a, dst4, delta6to4(src6, dst6, a, dst4), pd)
	if v.Action() == Forward && hairpin {
		return t.from4(b, v.Off, v.Len, true)
	}
	return v
}

// keepOrig copies the IPv6 packet p before a hairpinned SYN is translated.
func (t *Translator) keepOrig(p []byte) {
	if t.orig == nil {
		t.orig = make([]byte, heldBytes)
	}
	t.origLen = copy(t.orig, p)
}

// nat4 translates an IPv4 packet addressed to a pool4 address (RFC 6146
// §3.4 to §3.7), which from4 has validated and classified (ICMP errors and
// source routes are answered there). hairpin is set when the packet is a
// translated IPv6 one (RFC 6146 §3.8): its TTL was decremented already.
func (t *Translator) nat4(b []byte, off, ihl, total int, hairpin bool) Verdict {
	c := t.c
	nt := c.nat
	p := b[off : off+total]
	ip := header.IPv4(p)
	src4, dst4 := ip.Src32(), ip.Dst32()
	proto := ip.Protocol()
	first := ip.FragmentOffset() == 0
	payload := total - ihl
	pr := natProto(proto)
	if pr < 0 {
		if c.hasOwn4 && dst4 == c.own4 && !hairpin {
			return t.local4(b, off, ihl, total)
		}
		return drop(ReasonProtocol)
	}
	src6, _, r := t.map4to6(src4, true, !hairpin)
	if r != ReasonNone {
		if r == ReasonReservedAddr {
			return drop(r)
		}
		return t.error4From(b, off, total, dst4, true, header.ICMPv4DestUnreach, header.ICMPv4HostProhibited, 0, r)
	}
	ttl := ip.TTL()
	if !hairpin {
		if ttl <= 1 {
			return t.error4From(b, off, total, dst4, true, header.ICMPv4TimeExceeded, 0, 0, ReasonHopLimit)
		}
		ttl--
	}
	if !first {
		to, ok := nt.frags.get(u128{0, uint64(src4)}, u128{0, uint64(dst4)}, uint32(ip.ID()), proto, t.now)
		if !ok {
			return drop(ReasonFragmentNoSession)
		}
		if !t.client(to) {
			return refuse4(ReasonClientDst6)
		}
		return t.emit6(b, off, ihl, total, src4, dst4, src6, to, ttl, delta4to6(src4, dst4, src6, to), 0, dst4, true)
	}
	l4 := p[ihl:]
	ap, at, yp, f, ok := natPorts(pr, l4, payload, false)
	if !ok {
		return drop(ReasonL4Truncated)
	}
	x, xp, res := nt.in4(pr, dst4, ap, src4, yp, f, t.nowSec(), t.now, &c.natTimeouts, c.natPolicy)
	if res != natOK {
		return t.natRefused4(b, off, ihl, total, pr, res, f, hairpin)
	}
	if !t.client(x) {
		// Only a client removed by a reload still has a binding; in4
		// has refreshed its session, which the reload expires.
		return refuse4(ReasonClientDst6)
	}
	pd := rewritePort(l4, at, xp)
	if ip.IsFragment() {
		nt.frags.put(u128{0, uint64(src4)}, u128{0, uint64(dst4)}, uint32(ip.ID()), proto, x, t.now)
	}
	return t.emit6(b, off, ihl, total, src4, dst4, src6, x, ttl, delta4to6(src4, dst4, src6, x), pd, dst4, true)
}

// natRefused4 answers an IPv4 packet the NAT64 tables refused.
func (t *Translator) natRefused4(b []byte, off, ihl, total int, pr int, res natResult, f tcpFlags, hairpin bool) Verdict {
	c := t.c
	nt := c.nat
	p := b[off : off+total]
	ip := header.IPv4(p)
	src4, dst4 := ip.Src32(), ip.Dst32()
	switch {
	case pr == natTCP && f&tcpSYN != 0 && (res == natNoBIB || res == natFiltered):
		// RFC 6146 §3.5.2.2: an unsolicited SYN waits 6 seconds for an
		// IPv6 SYN of the same flow; if none comes, it gets a port
		// unreachable (Expire).
		ap, yp := header.Port(p[ihl:], 2), header.Port(p[ihl:], 0)
		deadline := t.now + c.natSYNHold
		var held bool
		if hairpin && t.origLen > 0 {
			held = nt.holds.hold(t.orig[:t.origLen], true, dst4, ap, src4, yp, deadline)
		} else {
			held = nt.holds.hold(p, false, dst4, ap, src4, yp, deadline)
		}
		if !held {
			return drop(ReasonHoldFull)
		}
		return drop(ReasonHeldSYN)
	case res == natNoBIB && pr == natUDP:
		// RFC 6146 §3.5.1.2 (and RFC 4787 REQ-8): port unreachable.
		if hairpin {
			return drop(res.reason())
		}
		return t.error4From(b, off, total, dst4, true, header.ICMPv4DestUnreach, header.ICMPv4PortUnreach, 0, res.reason())
	case res == natNoBIB && pr == natICMP && c.hasOwn4 && dst4 == c.own4 && !hairpin:
		// No binding for the identifier: an echo request to the
		// translator's own address is answered.
		return t.local4(b, off, ihl, total)
	}
	return drop(res.reason())
}

// initNAT sets up stateful NAT64 from o.
func (c *tables) initNAT(o *NATOptions) error {
	if c.pool.bits == 0 {
		return fmt.Errorf("stateful NAT64 needs an RFC 6052 prefix")
	}
	if len(o.Pool4) == 0 {
		return fmt.Errorf("stateful NAT64 needs pool4 addresses")
	}
	pool, err := newPool4(o.Pool4, [natProtos]PortRange{o.TCPPorts, o.UDPPorts, o.ICMPIDs})
	if err != nil {
		return err
	}
	for _, a := range pool.addrs {
		if c.eam.contains4(a) {
			return fmt.Errorf("pool4 address %s is also in an EAM entry", addr4(a))
		}
	}
	for _, m := range []struct {
		name   string
		d, min time.Duration
	}{
		{"UDP", o.UDPTimeout, MinUDPTimeout},
		{"ICMP", o.ICMPTimeout, MinICMPTimeout},
		{"TCP established", o.TCPEstablishedTimeout, MinTCPEstablishedTimeout},
		{"TCP transitory", o.TCPTransitoryTimeout, MinTCPTransitoryTimeout},
	} {
		if m.d < m.min {
			return fmt.Errorf("%s session timeout %s is below the RFC minimum %s", m.name, m.d, m.min)
		}
	}
	secs := func(d time.Duration) uint32 { return uint32(min((d+time.Second-1)/time.Second, 1<<31)) }
	c.natTimeouts = natTimeouts{tcpEst: secs(o.TCPEstablishedTimeout), tcpTrans: secs(o.TCPTransitoryTimeout)}
	c.natTimeouts.proto[natUDP] = secs(o.UDPTimeout)
	c.natTimeouts.proto[natICMP] = secs(o.ICMPTimeout)
	c.natTimeouts.proto[natTCP] = c.natTimeouts.tcpTrans
	lim := natLimits{int64(o.MaxSessions), int64(o.MaxBIB), int64(o.MaxSessionsPerHost), int64(o.MaxSessionsPer64)}
	nt := newNATTable(pool, lim, o.MaxHeldSYNs, c.events)
	for i, sb := range o.StaticBIB {
		pr := natProto(sb.Proto)
		if pr < 0 || sb.Proto == 58 {
			return fmt.Errorf("static BIB entry %d: protocol %d is not TCP, UDP or ICMP", i, sb.Proto)
		}
		if !sb.IPv6.Addr().Is6() || sb.IPv6.Addr().Is4In6() {
			return fmt.Errorf("static BIB entry %d: %s is not an IPv6 address", i, sb.IPv6.Addr())
		}
		if !sb.IPv4.Addr().Is4() {
			return fmt.Errorf("static BIB entry %d: %s is not an IPv4 address", i, sb.IPv4.Addr())
		}
		a6 := sb.IPv6.Addr().As16()
		x := u128From16(&a6)
		a4 := sb.IPv4.Addr().As4()
		a := binary.BigEndian.Uint32(a4[:])
		if !pool.contains(a) {
			return fmt.Errorf("static BIB entry %d: %s is not a pool4 address", i, sb.IPv4.Addr())
		}
		if c.pool.contains(x) {
			return fmt.Errorf("static BIB entry %d: %s is inside the NAT64 prefix", i, sb.IPv6.Addr())
		}
		if nt.addStatic(pr, x, sb.IPv6.Port(), a, sb.IPv4.Port()) != natOK {
			return fmt.Errorf("static BIB entry %d: %s or %s is already bound", i, sb.IPv6, sb.IPv4)
		}
		nt.statics = append(nt.statics, natStatic{x: x, a: a, xp: sb.IPv6.Port(), ap: sb.IPv4.Port(), pr: uint8(pr)})
	}
	nt.prefix = c.opt.Prefix
	c.nat = nt
	c.natNets = pool.nets
	c.natPolicy = in4Policy{adf: o.AddressDependentFiltering, dropTCP: o.DropExternallyInitiatedTCP}
	c.natSYNHold = int64(SYNHoldTime)
	c.natStrictErrSrc = o.StrictICMPErrorSource
	c.natDropInfo = o.DropICMPv6Info
	return nil
}

// Sweep removes the NAT64 sessions, and the dynamic BIB entries, that
// expired before now. Lookups already ignore expired entries; Sweep gives
// their memory and ports back. It locks one shard at a time, so the data
// path keeps running; call it about once a second. It returns how many
// sessions went.
func (t *Translator) Sweep(now time.Time) int {
	ns := now.UnixNano()
	if t.c.dyn != nil {
		t.c.dyn.sweep(ns)
	}
	if t.c.nat == nil {
		return 0
	}
	return t.c.nat.sweep(uint32(ns/1e9), ns)
}

// Expire answers one held IPv4 SYN whose 6 seconds are over (RFC 6146
// §3.5.2.2): the SYN is copied to b[off:], which needs Headroom bytes
// before it, and turned into an ICMP port unreachable to its sender, from
// the pool4 address it was sent to (ICMPv6 from the translator's IPv6
// address for a hairpinned SYN). The Verdict is a Reply to send out of its
// Side towards the packet's destination; its Action is zero when no held
// SYN is due. Call it until then, like Sweep, from a timer.
func (t *Translator) Expire(b []byte, off int, now time.Time) Verdict {
	c := t.c
	if c.nat == nil || off < Headroom || off >= len(b) {
		return Verdict{}
	}
	t.now = now.UnixNano()
	n, from6, a, ok := c.nat.holds.expire(t.now, b[off:])
	if !ok {
		return Verdict{}
	}
	if from6 {
		return t.error6(b, off, n, header.ICMPv6DestUnreach, header.ICMPv6PortUnreach, 0, ReasonHeldSYN)
	}
	return t.error4From(b, off, n, a, true, header.ICMPv4DestUnreach, header.ICMPv4PortUnreach, 0, ReasonHeldSYN)
}

// NATStats are counts of the stateful NAT64 tables.
type NATStats struct {
	Sessions, BIB    int64 // now
	HeldSYNs         int   // now
	SessionsCreated  uint64
	SessionsExpired  uint64
	BIBCreated       uint64 // dynamic entries
	BIBExpired       uint64
	TableBytes       int64 // memory of the slabs and buckets
	SessionsCapacity int   // session slots allocated
	// Now, by protocol: ByProto[i] is for NATProtocols[i].
	SessionsByProto, BIBByProto [natProtos]int64
}

// NATProtocols names the protocols of NATStats' per-protocol counts and
// of Pool4Usage.
var NATProtocols = [natProtos]string{natTCP: "tcp", natUDP: "udp", natICMP: "icmp"}

// Pool4Use is how many ports (ICMP: identifiers) of one protocol on one
// pool4 address are bound.
type Pool4Use struct {
	Addr       netip.Addr
	Proto      string // as NATProtocols
	Used, Size int
}

// Pool4Usage appends to out the use of every pool4 address and protocol
// that has bound a port since start (the others have none bound), and
// returns it. It takes each port set's lock in turn; the data path is
// not stopped.
func (t *Translator) Pool4Usage(out []Pool4Use) []Pool4Use {
	nt := t.c.nat
	if nt == nil {
		return out
	}
	p := nt.pool.Load()
	for ai, a := range p.addrs {
		for pr := 0; pr < natProtos; pr++ {
			ps := p.set(ai, pr)
			size := int(p.ranges[pr].Hi) - int(p.ranges[pr].Lo) + 1
			ps.mu.Lock()
			used, inUse := size-ps.free, ps.used != nil
			ps.mu.Unlock()
			if inUse {
				out = append(out, Pool4Use{Addr: addr4(a), Proto: NATProtocols[pr], Used: used, Size: size})
			}
		}
	}
	return out
}

// NATStats returns the counts of the NAT64 tables (zero in SIIT mode).
func (t *Translator) NATStats() NATStats {
	nt := t.c.nat
	if nt == nil {
		return NATStats{}
	}
	s := NATStats{
		Sessions:        nt.nsess.Load(),
		BIB:             nt.nbib.Load(),
		HeldSYNs:        int(nt.holds.count.Load()),
		SessionsCreated: nt.stats[natStatSessionsCreated].Load(),
		SessionsExpired: nt.stats[natStatSessionsExpired].Load(),
		BIBCreated:      nt.stats[natStatBIBCreated].Load(),
		BIBExpired:      nt.stats[natStatBIBExpired].Load(),
	}
	for pr := range s.SessionsByProto {
		s.SessionsByProto[pr], s.BIBByProto[pr] = nt.nsessP[pr].Load(), nt.nbibP[pr].Load()
	}
	for i := range nt.s6 {
		sh := &nt.s6[i]
		sh.mu.Lock()
		cs, cb := sh.sess.capacity(), sh.bibs.capacity()
		s.SessionsCapacity += cs
		s.TableBytes += int64(cs)*int64(unsafe.Sizeof(session{})) + int64(cb)*int64(unsafe.Sizeof(bibEntry{})) +
			4*int64(len(sh.sessIdx)+len(sh.bibIdx))
		sh.mu.Unlock()
	}
	for i := range nt.s4 {
		sh := &nt.s4[i]
		sh.mu.Lock()
		s.TableBytes += 4 * int64(len(sh.sessIdx)+len(sh.bibIdx))
		sh.mu.Unlock()
	}
	return s
}

// MappingEvents moves the queued mapping events (Options.LogMappings) into
// out and returns how many it moved, and how many were lost in all because
// the reader fell behind.
func (t *Translator) MappingEvents(out []BIBEvent) (int, uint64) {
	if t.c.events == nil {
		return 0, 0
	}
	return t.c.events.drain(out), t.c.events.lost.Load()
}

// KeepState makes t, a Translator for a reloaded configuration, use the
// NAT64 tables of old, so that bindings and sessions survive the reload.
// Call it before t is used; it changes nothing in old's tables (only
// whether its mapping log is on), so a reload refused after it leaves them
// as they were. The timeouts, the filtering
// options and the mapping log follow t's configuration at once; pool4, its
// ports, static-bib, the limits and maximum-simultaneous-opens are applied
// to the shared tables by Reconcile, which the caller runs next.
func (t *Translator) KeepState(old *Translator) error {
	a, b := t.c.nat, old.c.nat
	switch {
	case a == nil && b == nil:
	case a == nil || b == nil:
		return fmt.Errorf("the mode changed")
	default:
		t.c.nat, t.c.natNext = b, a
	}
	if err := t.keepDynamic(old); err != nil {
		return err
	}
	if old.c.events != nil && t.c.events != nil {
		old.c.events.on.Store(t.c.events.on.Load())
		t.c.events = old.c.events
	}
	return nil
}
