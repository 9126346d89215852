package xlat

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

// Headroom is the number of bytes that must be free in the buffer before a
// packet given to Translate. The largest growth is an ICMPv4 error
// translated to ICMPv6: +20 bytes for the outer header, +20 for the quoted
// header, +8 for a quoted Fragment header.
const Headroom = 64

// Tailroom is the number of bytes that should be free after a packet. Only
// RFC 4884 extensions use it, to pad the original datagram field of a
// translated ICMP error; without it such an error is dropped
// (ReasonNoRoom).
const Tailroom = 160

// minMTU6 is the IPv6 minimum link MTU (RFC 8200 §5).
const minMTU6 = 1280

// Translator translates packets between IPv6 and IPv4. It is not safe for
// concurrent use: give each worker goroutine its own (Clone).
type Translator struct {
	c     *tables
	id    uint16 // next IPv4 Identification
	now   int64  // unix nanoseconds of the packet being translated
	limit errorLimiter
	gso   bool // translating a super-frame (TranslateGSO)
	acl   aclMemo
	reasm bool // translating a reassembled datagram (TranslateReassembled)

	// orig keeps a hairpinned IPv6 SYN before it is translated, in case it
	// is held (nat6); origLen is 0 when it holds nothing.
	orig    []byte
	origLen int

	// The last static mappings (EAM or RFC 6052 prefix) each way, by slot
	// (source, destination): a flow's packets repeat them, and they depend
	// on the configuration only, which a Translator never changes.
	last64 [2]last64
	last46 [2]last46
}

// Each entry also keeps what the packet path would otherwise recompute
// per packet: the address's part of the transport checksum delta (d) and
// whether the IPv4 address lies inside an EAM entry (eam4, which decides
// hairpinning).
type last64 struct {
	a    u128
	v4   uint32
	kind mapKind // kindNone: empty
	eam4 bool
	d    uint64 // v4 - a, a running sum
}

type last46 struct {
	a      uint32
	useEAM bool
	v6     u128
	kind   mapKind // kindNone: empty
	eam4   bool
	d      uint64 // v6 - a, a running sum
}

// slot is the index of an address's cache slot.
func slot(src bool) int {
	if src {
		return 1
	}
	return 0
}

// inPool4 reports whether a is a pool4 address of this configuration.
func (c *tables) inPool4(a uint32) bool { return inRanges(c.natNets, a) }

// tables is the immutable state that clones share.
type tables struct {
	opt       Options
	pool      pool6
	eam       eamTable
	own4      uint32
	own6      u128
	hasOwn4   bool
	hasOwn6   bool
	r6791v4   uint32
	r6791v4n  uint32 // number of addresses in the pool, 0: use own4
	r6791v6   u128
	r6791v6n  uint64 // number of addresses in the pool (capped), 0: use own6
	fragLimit int    // largest IPv6 packet a DF=0 IPv4 packet becomes
	errRate   int64  // own ICMP errors per second
	errBurst  int64
	acl       acl // Clients, Denylist4

	// Stateful NAT64; nat is nil in SIIT mode. The table is shared and
	// mutable; the rest is configuration.
	nat             *natTable
	natNext         *natTable  // built for this configuration, until Reconcile applies it to nat (KeepState)
	natNets         []range4   // pool4, for the per-packet tests of this generation
	dyn             *dynPool   // TAYGA's dynamic pool; nil if none
	events          *eventRing // mapping events; nil without NAT64 or dynamic pool
	natTimeouts     natTimeouts
	natPolicy       in4Policy
	natSYNHold      int64 // nanoseconds
	natStrictErrSrc bool
	natDropInfo     bool
}

// New returns a Translator for opts, or an error naming the first invalid
// option.
func New(opts Options) (*Translator, error) {
	opts.setDefaults()
	c := &tables{opt: opts}
	var err error
	if c.pool, err = newPool6(opts.Prefix); err != nil {
		return nil, err
	}
	if c.eam, err = newEAMTable(opts.EAM); err != nil {
		return nil, err
	}
	if opts.MTU4 < 68 || opts.MTU4 > 65535 {
		return nil, fmt.Errorf("IPv4 MTU %d is outside 68..65535", opts.MTU4)
	}
	if opts.MTU6 < minMTU6 || opts.MTU6 > 65535 {
		return nil, fmt.Errorf("IPv6 MTU %d is outside 1280..65535", opts.MTU6)
	}
	if opts.LowestIPv6MTU < minMTU6 || opts.LowestIPv6MTU > 65535 {
		return nil, fmt.Errorf("lowest IPv6 MTU %d is outside 1280..65535", opts.LowestIPv6MTU)
	}
	if c.acl, err = newACL(&opts); err != nil {
		return nil, err
	}
	c.fragLimit = min(opts.LowestIPv6MTU, opts.MTU6)
	c.errRate = int64(opts.ICMPErrorRate)
	c.errBurst = max(10, c.errRate/10)
	if a := opts.IPv4Addr; a.IsValid() {
		if !a.Is4() {
			return nil, fmt.Errorf("IPv4 address %s is not IPv4", a)
		}
		a4 := a.As4()
		c.own4, c.hasOwn4 = binary.BigEndian.Uint32(a4[:]), true
	}
	switch a := opts.IPv6Addr; {
	case a.IsValid():
		if !a.Is6() || a.Is4In6() {
			return nil, fmt.Errorf("IPv6 address %s is not IPv6", a)
		}
		a6 := a.As16()
		c.own6, c.hasOwn6 = u128From16(&a6), true
	case c.hasOwn4 && c.pool.bits != 0:
		c.own6, c.hasOwn6 = c.pool.embed(c.own4), true
	}
	if p := opts.RFC6791v4; p.IsValid() {
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("RFC 6791 IPv4 pool %s is not an IPv4 prefix", p)
		}
		p = p.Masked()
		a4 := p.Addr().As4()
		c.r6791v4, c.r6791v4n = binary.BigEndian.Uint32(a4[:]), uint32(1)<<(32-p.Bits())
		if p.Bits() == 0 {
			c.r6791v4n = 1 << 31
		}
	}
	if p := opts.RFC6791v6; p.IsValid() {
		if !p.Addr().Is6() || p.Addr().Is4In6() {
			return nil, fmt.Errorf("RFC 6791 IPv6 pool %s is not an IPv6 prefix", p)
		}
		p = p.Masked()
		a6 := p.Addr().As16()
		c.r6791v6, c.r6791v6n = u128From16(&a6), uint64(1)<<min(62, 128-p.Bits())
	}
	if opts.Mode == ModeNAT64 || opts.DynamicPool.IsValid() {
		c.events = newEventRing(eventRingSize, opts.LogMappings)
	}
	switch opts.Mode {
	case ModeSIIT:
		if p := opts.DynamicPool; p.IsValid() {
			skip := func(a uint32) bool { return c.hasOwn4 && a == c.own4 || c.eam.contains4(a) }
			if c.dyn, err = newDynPool(p, opts.DynamicLease, opts.DynamicRetain, skip, c.events); err != nil {
				return nil, err
			}
		}
	case ModeNAT64:
		if opts.DynamicPool.IsValid() {
			return nil, fmt.Errorf("the dynamic pool is for SIIT mode; NAT64 shares pool4")
		}
		if err := c.initNAT(&opts.NAT); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("mode %d is not a mode", opts.Mode)
	}
	t := &Translator{c: c, id: uint16(opts.IDSeed), acl: c.acl.memo()}
	if opts.IDSeed == 0 {
		var s [2]byte
		_, _ = rand.Read(s[:])
		t.id = binary.BigEndian.Uint16(s[:])
	}
	return t, nil
}

// Clone returns a Translator that shares t's tables and has its own
// per-packet state, for another worker goroutine.
func (t *Translator) Clone() *Translator {
	return &Translator{c: t.c, id: t.id + 0x5555, acl: t.c.acl.memo()}
}

// Translate translates the packet b[off:off+n] that arrived on side from.
// b must have Headroom bytes before off and should have Tailroom bytes after
// off+n. The packet is modified in place; the Verdict says where the result
// is and what to do with it. now is the time the packet arrived (unused by
// the stateless translator; NAT64 state will be driven by it).
func (t *Translator) Translate(b []byte, off, n int, from Side, now time.Time) Verdict {
	if off < Headroom || n < 0 || off+n > len(b) {
		return drop(ReasonNoRoom)
	}
	if n == 0 {
		return drop(ReasonTruncated)
	}
	t.now = now.UnixNano()
	v := b[off] >> 4
	switch from {
	case Side6:
		if v != 6 {
			return drop(ReasonWrongSide)
		}
		return t.from6(b, off, n, false)
	case Side4:
		if v != 4 {
			return drop(ReasonWrongSide)
		}
		return t.from4(b, off, n, false)
	}
	return drop(ReasonWrongSide)
}

// TranslateGSO is Translate for a TCP super-frame (GSO/GRO) that goes
// through whole and is cut into segments after translation, each fitting
// the outgoing MTU: the checks of a packet's size against the MTU (Packet
// Too Big, Fragmentation Needed) and IPv6 fragmentation are skipped. The
// transport checksum it leaves is the caller's to redo (the super-frame
// leaves with a partial checksum).
func (t *Translator) TranslateGSO(b []byte, off, n int, from Side, now time.Time) Verdict {
	t.gso = true
	v := t.Translate(b, off, n, from, now)
	t.gso = false
	return v
}

// TranslateReassembled is Translate for a datagram that a Reassembler put
// back together. It came fragmented, so it may leave fragmented: a 6->4
// datagram larger than the IPv4 MTU is not answered with Packet Too Big
// but gets a Forward verdict with FragSize set, as a DF=0 IPv4 packet
// larger than the lowest IPv6 MTU does 4->6 (RFC 7915 §4.1, §5.1).
func (t *Translator) TranslateReassembled(b []byte, off, n int, from Side, now time.Time) Verdict {
	t.reasm = true
	v := t.Translate(b, off, n, from, now)
	t.reasm = false
	if v.Action() == Forward && v.Side() == Side4 && v.FragSize == 0 && v.Len > t.c.opt.MTU4 {
		// Only an IPv6 datagram gets here (4->6 hairpins leave on the
		// IPv6 side), which kept an atomic Fragment header: DF is clear.
		v.FragSize = t.c.opt.MTU4
	}
	return v
}

func (t *Translator) nextID() uint16 {
	t.id++
	return t.id
}

// mapKind says how an address was translated.
type mapKind uint8

const (
	kindNone mapKind = iota
	kindEAM
	kindPrefix
	kindRFC6791
	kindDynamic
)

// static reports whether a mapping depends on the configuration only, and
// so is kept in the last-mapping cache.
func (k mapKind) static() bool { return k == kindEAM || k == kindPrefix }

// hairpinDst reports whether the destination that map6to4 just mapped to
// dst4 (kind kindDst) belongs to an IPv6 node, so that the translated
// packet must come back in (RFC 7757 §4): reached through the RFC 6052
// prefix, with hairpinning on, it is an EAM IPv4 address (as the cache
// entry map6to4 left says) or one of the dynamic pool.
func (t *Translator) hairpinDst(kindDst mapKind, dst4 uint32) bool {
	c := t.c
	return kindDst == kindPrefix && c.opt.Hairpin != HairpinOff && (t.last64[slot(false)].eam4 || c.dyn != nil && c.dyn.contains(dst4))
}

// map6to4 translates an IPv6 address to IPv4: EAM first, then the RFC 6052
// prefix (RFC 7757 §3.3). src selects the reasons for a source address.
func (t *Translator) map6to4(a u128, src bool) (uint32, mapKind, Reason) {
	l := &t.last64[slot(src)]
	if l.kind != kindNone && l.a == a {
		return l.v4, l.kind, ReasonNone
	}
	return t.map6to4Miss(a, src)
}

// map6to4Miss is map6to4 when a is not in the cache. Kept out of line, it
// leaves the hit's path short (callgrind: 12 instructions fewer per 4->6
// packet than with the miss written inline).
func (t *Translator) map6to4Miss(a u128, src bool) (uint32, mapKind, Reason) {
	l := &t.last64[slot(src)]
	v4, kind, r := t.map6to4Slow(a, src)
	if kind.static() {
		*l = last64{a, v4, kind, t.c.eam.contains4(v4), header.Add(uint64(v4), neg6(a))}
	}
	return v4, kind, r
}

func (t *Translator) map6to4Slow(a u128, src bool) (uint32, mapKind, Reason) {
	c := t.c
	if reserved6(a) {
		return 0, kindNone, ReasonReservedAddr
	}
	if v4, ok := c.eam.to4(a); ok {
		if reserved4(v4) {
			return v4, kindNone, ReasonReservedAddr
		}
		return v4, kindEAM, ReasonNone
	}
	if c.pool.contains(a) {
		v4 := c.pool.extract(a)
		if reserved4(v4) {
			return v4, kindNone, ReasonReservedAddr
		}
		if c.pool.wkp && !c.opt.AllowNonGlobalWKP && nonGlobal4(v4) {
			if src {
				return v4, kindNone, ReasonNonGlobalSrc
			}
			return v4, kindNone, ReasonNonGlobalDst
		}
		return v4, kindPrefix, ReasonNone
	}
	if c.dyn != nil {
		// An existing dynamic-pool mapping; new ones are made for packet
		// sources only (from6).
		if v4, ok := c.dyn.to4(a, t.now, false); ok {
			return v4, kindDynamic, ReasonNone
		}
	}
	if src {
		return 0, kindNone, ReasonNoSource6
	}
	return 0, kindNone, ReasonNoRoute6
}

// map4to6 translates an IPv4 address to IPv6: EAM first unless useEAM is
// false (RFC 7757 §4 hairpinning), then the RFC 6052 prefix.
func (t *Translator) map4to6(a uint32, src, useEAM bool) (u128, mapKind, Reason) {
	l := &t.last46[slot(src)]
	if l.kind != kindNone && l.a == a && l.useEAM == useEAM {
		return l.v6, l.kind, ReasonNone
	}
	return t.map4to6Miss(a, src, useEAM)
}

// map4to6Miss is map4to6 when a is not in the cache (out of line, as
// map6to4Miss).
func (t *Translator) map4to6Miss(a uint32, src, useEAM bool) (u128, mapKind, Reason) {
	l := &t.last46[slot(src)]
	v6, kind, r := t.map4to6Slow(a, src, useEAM)
	if kind.static() {
		*l = last46{a, useEAM, v6, kind, t.c.eam.contains4(a), header.Add(uint64(^a), sum6(v6))}
	}
	return v6, kind, r
}

// map4to6Slow is map4to6 without the cache. Addresses of the dynamic pool
// come first and are never cached: their mappings come and go.
func (t *Translator) map4to6Slow(a uint32, src, useEAM bool) (u128, mapKind, Reason) {
	c := t.c
	if c.dyn != nil && c.dyn.contains(a) && !(useEAM && c.eam.contains4(a)) {
		// EAM entries inside the pool win (longest match, as in TAYGA).
		// The operator chose the pool (TAYGA's examples use link-local
		// space): its addresses are not refused as reserved.
		if v6, ok := c.dyn.to6(a, t.now); ok {
			return v6, kindDynamic, ReasonNone
		}
		return u128{}, kindNone, ReasonNoDynamicMapping
	}
	if reserved4(a) {
		return u128{}, kindNone, ReasonReservedAddr
	}
	if useEAM {
		if v6, ok := c.eam.to6(a); ok {
			if reserved6(v6) {
				return v6, kindNone, ReasonReservedAddr
			}
			return v6, kindEAM, ReasonNone
		}
	}
	if c.pool.bits != 0 {
		if c.pool.wkp && !c.opt.AllowNonGlobalWKP && nonGlobal4(a) {
			if src {
				return u128{}, kindNone, ReasonNonGlobalSrc
			}
			return u128{}, kindNone, ReasonNonGlobalDst
		}
		return c.pool.embed(a), kindPrefix, ReasonNone
	}
	if src {
		return u128{}, kindNone, ReasonNoSource4
	}
	return u128{}, kindNone, ReasonNoRoute4
}

// map4to6Lax translates the IPv4 source of an ICMP error: reserved
// addresses and non-global ones behind the Well-Known Prefix are translated
// too, since routers answer from whatever address they have.
func (t *Translator) map4to6Lax(a uint32, useEAM bool) (u128, mapKind, Reason) {
	c := t.c
	if useEAM {
		if v6, ok := c.eam.to6(a); ok {
			return v6, kindEAM, ReasonNone
		}
	}
	if c.pool.bits != 0 {
		return c.pool.embed(a), kindPrefix, ReasonNone
	}
	return u128{}, kindNone, ReasonNoSource4
}

// rfc6791v4 picks the source of a translated ICMPv4 error whose IPv6 source
// has no IPv4 mapping (RFC 6791 §4): an address of the pool chosen by a hash
// of the untranslatable address, so one router keeps one address, or the
// translator's own address.
func (t *Translator) rfc6791v4(a u128) (uint32, bool) {
	c := t.c
	if c.r6791v4n == 0 {
		return c.own4, c.hasOwn4
	}
	h := uint32(a.lo) ^ uint32(a.lo>>32) ^ uint32(a.hi)
	return c.r6791v4 + h%c.r6791v4n, true
}

// rfc6791v6 picks the source of a translated ICMPv6 error whose IPv4 source
// has no IPv6 mapping (RFC 6791 §4).
func (t *Translator) rfc6791v6(a uint32) (u128, bool) {
	c := t.c
	if c.r6791v6n == 0 {
		return c.own6, c.hasOwn6
	}
	out := c.r6791v6
	out.lo += uint64(a) % c.r6791v6n
	return out, true
}

// pseudo6 is the running sum of an IPv6 pseudo-header (RFC 8200 §8.1).
func pseudo6(src, dst u128, nh uint8, n int) uint64 {
	return header.Add(header.Add(src.hi, src.lo), header.Add(header.Add(dst.hi, dst.lo), uint64(nh)+uint64(n)))
}

// sum6 and neg6 are the running sum of an IPv6 address and its negation.
func sum6(a u128) uint64 { return header.Add(a.hi, a.lo) }
func neg6(a u128) uint64 { return header.Add(^a.hi, ^a.lo) }

// IPv6Addr returns the translator's IPv6 address: ipv6-addr, or ipv4-addr
// embedded in the prefix; invalid if neither.
func (t *Translator) IPv6Addr() netip.Addr {
	if !t.c.hasOwn6 {
		return netip.Addr{}
	}
	return t.c.own6.addr6()
}
