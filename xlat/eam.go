package xlat

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
)

// u128 is an IPv6 address (or an IPv4 address in the low 32 bits) as two
// integers, for prefix arithmetic without allocation.
type u128 struct{ hi, lo uint64 }

func u128From16(a *[16]byte) u128 {
	return u128{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])}
}

func u128From4(a [4]byte) u128 { return u128{0, uint64(binary.BigEndian.Uint32(a[:]))} }

// get6 reads the IPv6 address at b[0:16].
func get6(b []byte) u128 {
	return u128{binary.BigEndian.Uint64(b[0:8]), binary.BigEndian.Uint64(b[8:16])}
}

// put6 writes the IPv6 address a at b[0:16].
func put6(b []byte, a u128) {
	binary.BigEndian.PutUint64(b[0:8], a.hi)
	binary.BigEndian.PutUint64(b[8:16], a.lo)
}

// addr6 returns a as a netip.Addr, for messages and tests.
func (a u128) addr6() netip.Addr {
	var b [16]byte
	put6(b[:], a)
	return netip.AddrFrom16(b)
}

// addr4 returns the IPv4 address a as a netip.Addr.
func addr4(a uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a)
	return netip.AddrFrom4(b)
}

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// hostMask returns the mask of the low n bits.
func hostMask(n int) u128 {
	switch {
	case n <= 0:
		return u128{}
	case n < 64:
		return u128{0, 1<<n - 1}
	case n == 64:
		return u128{0, ^uint64(0)}
	case n < 128:
		return u128{1<<(n-64) - 1, ^uint64(0)}
	}
	return u128{^uint64(0), ^uint64(0)}
}

func (a u128) and(b u128) u128 { return u128{a.hi & b.hi, a.lo & b.lo} }
func (a u128) or(b u128) u128  { return u128{a.hi | b.hi, a.lo | b.lo} }
func (a u128) not() u128       { return u128{^a.hi, ^a.lo} }

// shl shifts a left by n bits, 0 <= n < 128.
func (a u128) shl(n uint) u128 {
	switch {
	case n == 0:
		return a
	case n >= 64:
		return u128{a.lo << (n - 64), 0}
	}
	return u128{a.hi<<n | a.lo>>(64-n), a.lo << n}
}

// shr shifts a right by n bits, 0 <= n < 128.
func (a u128) shr(n uint) u128 {
	switch {
	case n == 0:
		return a
	case n >= 64:
		return u128{0, a.hi >> (n - 64)}
	}
	return u128{a.hi >> n, a.lo>>n | a.hi<<(64-n)}
}

// lpm is a longest-prefix-match table over nested-or-disjoint prefixes,
// stored as sorted arrays: pointer-free and allocation-free to search.
// Entries are sorted by first address, shorter prefix first on ties, so the
// last entry starting at or before an address is the most specific
// candidate; if it does not cover the address, one of its ancestors
// (parent links) may. Addresses are u128 (IPv4 in the low 32 bits).
type lpm struct {
	first  []u128
	last   []u128
	parent []int32
	value  []int32
	// min and max bound every entry: most addresses a translator sees
	// (those behind the RFC 6052 prefix) fall outside and cost two
	// comparisons.
	min, max u128
}

type lpmEntry struct {
	first, last u128
	value       int32
}

func newLPM(es []lpmEntry) lpm {
	slices.SortFunc(es, func(a, b lpmEntry) int {
		if c := a.first.cmp(b.first); c != 0 {
			return c
		}
		return b.last.cmp(a.last) // wider first
	})
	t := lpm{
		first:  make([]u128, len(es)),
		last:   make([]u128, len(es)),
		parent: make([]int32, len(es)),
		value:  make([]int32, len(es)),
	}
	var stack []int32
	for i, e := range es {
		t.first[i], t.last[i], t.value[i] = e.first, e.last, e.value
		for len(stack) > 0 && t.last[stack[len(stack)-1]].cmp(e.first) < 0 {
			stack = stack[:len(stack)-1]
		}
		t.parent[i] = -1
		if len(stack) > 0 {
			t.parent[i] = stack[len(stack)-1]
		}
		stack = append(stack, int32(i))
		if i == 0 || t.max.cmp(e.last) < 0 {
			t.max = e.last
		}
	}
	if len(es) > 0 {
		t.min = es[0].first
	}
	return t
}

// lookup returns the value of the most specific entry covering a, or -1.
// The comparisons are written out: this runs twice or three times per
// translated packet.
func (t *lpm) lookup(a u128) int32 {
	if len(t.first) == 0 || a.hi < t.min.hi || (a.hi == t.min.hi && a.lo < t.min.lo) || a.hi > t.max.hi || (a.hi == t.max.hi && a.lo > t.max.lo) {
		return -1
	}
	lo, hi := 0, len(t.first)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		f := t.first[m]
		if f.hi < a.hi || (f.hi == a.hi && f.lo <= a.lo) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := int32(lo - 1); i >= 0; i = t.parent[i] {
		l := t.last[i]
		if a.hi < l.hi || (a.hi == l.hi && a.lo <= l.lo) {
			return t.value[i]
		}
	}
	return -1
}

// eamTable is the RFC 7757 Explicit Address Mapping Table: a longest-prefix
// match on the IPv4 side for 4→6 and on the IPv6 side for 6→4 (§3.3).
type eamTable struct {
	v4, v6  lpm
	entries []eamEntry
}

type eamEntry struct {
	p4, p6 u128 // prefixes, host bits clear
	host4  u128 // mask of the IPv4 suffix bits
	shift  uint // IPv6 suffix length minus IPv4 suffix length
}

func newEAMTable(es []EAM) (eamTable, error) {
	var t eamTable
	var l4, l6 []lpmEntry
	seen4 := map[netip.Prefix]bool{}
	seen6 := map[netip.Prefix]bool{}
	for i, e := range es {
		if !e.V4.IsValid() || !e.V4.Addr().Is4() {
			return t, fmt.Errorf("eam %d: %s is not an IPv4 prefix", i, e.V4)
		}
		if !e.V6.IsValid() || !e.V6.Addr().Is6() || e.V6.Addr().Is4In6() {
			return t, fmt.Errorf("eam %d: %s is not an IPv6 prefix", i, e.V6)
		}
		if e.V4 != e.V4.Masked() {
			return t, fmt.Errorf("eam %d: %s has host bits set", i, e.V4)
		}
		if e.V6 != e.V6.Masked() {
			return t, fmt.Errorf("eam %d: %s has host bits set", i, e.V6)
		}
		s4, s6 := 32-e.V4.Bits(), 128-e.V6.Bits()
		if s4 > s6 {
			return t, fmt.Errorf("eam %d: the IPv4 suffix of %s (%d bits) does not fit the IPv6 suffix of %s (%d bits)", i, e.V4, s4, e.V6, s6)
		}
		if seen4[e.V4] {
			return t, fmt.Errorf("eam %d: IPv4 prefix %s is mapped twice", i, e.V4)
		}
		if seen6[e.V6] {
			return t, fmt.Errorf("eam %d: IPv6 prefix %s is mapped twice", i, e.V6)
		}
		seen4[e.V4], seen6[e.V6] = true, true
		a6 := e.V6.Addr().As16()
		x := eamEntry{p4: u128From4(e.V4.Addr().As4()), p6: u128From16(&a6), host4: hostMask(s4), shift: uint(s6 - s4)}
		t.entries = append(t.entries, x)
		l4 = append(l4, lpmEntry{x.p4, x.p4.or(x.host4), int32(i)})
		l6 = append(l6, lpmEntry{x.p6, x.p6.or(hostMask(s6)), int32(i)})
	}
	t.v4, t.v6 = newLPM(l4), newLPM(l6)
	return t, nil
}

// to6 maps an IPv4 address through the table (RFC 7757 §3.3): the IPv4
// suffix follows the IPv6 prefix; any IPv6 bits after it are zero.
func (t *eamTable) to6(a uint32) (u128, bool) {
	if len(t.entries) == 0 {
		return u128{}, false
	}
	x := u128{0, uint64(a)}
	i := t.v4.lookup(x)
	if i < 0 {
		return u128{}, false
	}
	e := &t.entries[i]
	return e.p6.or(x.and(e.host4).shl(e.shift)), true
}

// to4 maps an IPv6 address through the table (RFC 7757 §3.3): the IPv4
// suffix is read right after the IPv6 prefix; later bits are ignored.
func (t *eamTable) to4(a u128) (uint32, bool) {
	if len(t.entries) == 0 {
		return 0, false
	}
	i := t.v6.lookup(a)
	if i < 0 {
		return 0, false
	}
	e := &t.entries[i]
	return uint32(e.p4.or(a.shr(e.shift).and(e.host4)).lo), true
}

// contains4 reports whether the IPv4 address a is inside an EAM entry.
func (t *eamTable) contains4(a uint32) bool {
	return len(t.entries) != 0 && t.v4.lookup(u128{0, uint64(a)}) >= 0
}

// contains6 reports whether the IPv6 address a is inside an EAM entry.
func (t *eamTable) contains6(a u128) bool {
	return len(t.entries) != 0 && t.v6.lookup(a) >= 0
}
