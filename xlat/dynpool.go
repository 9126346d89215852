package xlat

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// TAYGA's dynamic pool: an IPv6 source that no EAM entry and no prefix
// maps gets an IPv4 address of its own from the pool, 1:1 and without
// ports. A mapping is active while its host sends or receives within the
// lease (124 minutes); then it is dormant: IPv4 packets no longer reach the
// host, but the address stays set aside for it, and it gets the same one
// back if it returns, unless the pool ran out of free addresses and gave
// it to someone else. A mapping idle for the retention time (14 days) is
// forgotten. The first address tried is TAYGA's hash of the IPv6 address,
// so a host gets the address TAYGA would give it.

// DefaultDynamicLease and DefaultDynamicRetain are TAYGA's dyn_min_lease
// and dyn_max_lease.
const (
	DefaultDynamicLease  = 124 * time.Minute
	DefaultDynamicRetain = 14 * 24 * time.Hour
)

// dynPool is the dynamic pool: its mappings, in a slab, indexed by their
// offset in the pool and by IPv6 address. Only mappings take memory (about
// 100 bytes each), not the pool's addresses, so a /10 of CGNAT space costs
// what the hosts using it cost. Lookups take the read lock; new mappings
// and the sweep take the write lock. Times are unix nanoseconds.
type dynPool struct {
	net      uint32
	hostBits uint
	lease    int64
	retain   int64
	skip     func(uint32) bool // addresses never handed out (own, EAM)
	events   *eventRing

	mu      sync.RWMutex
	entries slab[dynEntry]
	free    []uint32          // slab indices of forgotten mappings, for reuse
	by4     map[uint32]uint32 // pool offset -> slab index
	by6     map[u128]uint32   // IPv6 address -> slab index
	used    int
	gen     atomic.Uint64 // bumped on every new mapping, for persistence
}

// dynEntry is one mapping; the slab keeps it in place, so packets update
// last under the read lock. A forgotten entry has used false and waits in
// free.
type dynEntry struct {
	addr6   u128
	off     uint32 // offset in the pool
	used    bool
	dormant bool
	last    atomic.Int64 // last packet, unix nanoseconds
}

// Dynamic pools range from /8 (as many addresses as the slab has entries)
// to /31.
const (
	dynMinBits = 32 - slabIndexBits
	dynMaxBits = 31
)

func newDynPool(p netip.Prefix, lease, retain time.Duration, skip func(uint32) bool, events *eventRing) (*dynPool, error) {
	if !p.Addr().Is4() || p.Bits() < dynMinBits || p.Bits() > dynMaxBits {
		return nil, fmt.Errorf("dynamic pool %s: use an IPv4 prefix from /%d to /%d", p, dynMinBits, dynMaxBits)
	}
	p = p.Masked()
	a := p.Addr().As4()
	return &dynPool{
		net: binary.BigEndian.Uint32(a[:]), hostBits: uint(32 - p.Bits()),
		lease: int64(lease), retain: int64(retain), skip: skip, events: events,
		by4: map[uint32]uint32{}, by6: map[u128]uint32{},
	}, nil
}

// at returns the mapping at pool offset off, or nil. The caller holds a
// lock.
func (d *dynPool) at(off uint32) *dynEntry {
	i, ok := d.by4[off]
	if !ok {
		return nil
	}
	return d.entries.at(i)
}

func (d *dynPool) contains(a uint32) bool { return a>>d.hostBits == d.net>>d.hostBits }

// taygaHash is where TAYGA starts looking for a free address for a: the
// sum of the address's 32-bit words, read in x86 byte order, folded into
// the pool's host bits after each word (TAYGA dynamic.c assign_dynamic).
func taygaHash(a u128, hostBits uint) uint32 {
	var b [16]byte
	put6(b[:], a)
	max := uint64(1)<<hostBits - 1
	var base uint64
	for i := 0; i < 4; i++ {
		base = (base + uint64(binary.LittleEndian.Uint32(b[4*i:]))) & 0xffffffff
		for base&^max != 0 {
			base = base&max + base>>hostBits
		}
	}
	return uint32(base)
}

// touch records a packet of mapping e at now; the store is skipped while
// the time is within a second of the last, to spare the cache line.
func (e *dynEntry) touch(now int64) {
	if now-e.last.Load() > int64(time.Second) {
		e.last.Store(now)
	}
}

// to4 returns the IPv4 address of the IPv6 source a, mapping it if it has
// none and create is set. It reports false when a has no mapping (and
// create is not set) or the pool is exhausted.
func (d *dynPool) to4(a u128, now int64, create bool) (uint32, bool) {
	d.mu.RLock()
	if i, ok := d.by6[a]; ok {
		e := d.entries.at(i)
		if !e.dormant {
			e.touch(now)
			d.mu.RUnlock()
			return d.net | e.off, true
		}
	}
	d.mu.RUnlock()
	if !create {
		return 0, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if i, ok := d.by6[a]; ok {
		// Reactivate a dormant mapping (or find the one another worker
		// just made).
		e := d.entries.at(i)
		if e.dormant {
			e.dormant = false
			d.event(MappingCreated, a, d.net|e.off, now)
		}
		e.last.Store(now)
		return d.net | e.off, true
	}
	max := uint32(1)<<d.hostBits - 1
	base := taygaHash(a, d.hostBits)
	for i := uint32(0); i <= max; i++ {
		off := (base + i) & max
		if _, taken := d.by4[off]; off == 0 || taken || d.skip(d.net|off) {
			continue
		}
		if !d.assign(off, a, now) {
			return 0, false
		}
		return d.net | off, true
	}
	// No free address: the longest-dormant mapping goes to the newcomer.
	var oldest *dynEntry
	d.entries.each(func(_ uint32, e *dynEntry) {
		if e.used && e.dormant && (oldest == nil || e.last.Load() < oldest.last.Load()) {
			oldest = e
		}
	})
	if oldest == nil {
		return 0, false
	}
	off := oldest.off
	d.forget(oldest)
	if !d.assign(off, a, now) {
		return 0, false
	}
	return d.net | off, true
}

// assign maps pool offset off to a as a new mapping, reporting false if
// the slab is full. The caller holds the write lock.
func (d *dynPool) assign(off uint32, a u128, now int64) bool {
	if d.place(off, a, now) == nil {
		return false
	}
	d.gen.Add(1)
	d.event(MappingCreated, a, d.net|off, now)
	return true
}

// place stores the mapping of pool offset off to a, last used at last,
// and returns it, or nil if the slab is full (it cannot be: it has an
// entry per address of the biggest pool). The caller holds the write lock.
func (d *dynPool) place(off uint32, a u128, last int64) *dynEntry {
	var i uint32
	if n := len(d.free); n > 0 {
		i, d.free = d.free[n-1], d.free[:n-1]
	} else if i = d.entries.grow(); i == 0 {
		return nil
	}
	e := d.entries.at(i)
	e.addr6, e.off, e.used, e.dormant = a, off, true, false
	e.last.Store(last)
	d.by4[off] = i
	d.by6[a] = i
	d.used++
	return e
}

// forget removes mapping e, keeping its slab entry for reuse. The caller
// holds the write lock.
func (d *dynPool) forget(e *dynEntry) {
	i := d.by4[e.off]
	delete(d.by4, e.off)
	delete(d.by6, e.addr6)
	e.addr6, e.off, e.used, e.dormant = u128{}, 0, false, false
	e.last.Store(0)
	d.free = append(d.free, i)
	d.used--
}

func (d *dynPool) event(k BIBEventKind, a u128, v4 uint32, now int64) {
	d.events.add(BIBEvent{Time: now, Kind: k, addr6: a, addr4: v4})
}

// to6 returns the IPv6 host of the pool address v4 if its mapping is
// active.
func (d *dynPool) to6(v4 uint32, now int64) (u128, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	e := d.at(v4 & (1<<d.hostBits - 1))
	if e == nil || e.dormant || now-e.last.Load() > d.lease {
		return u128{}, false
	}
	e.touch(now)
	return e.addr6, true
}

// sweep makes mappings idle for the lease dormant and forgets those idle
// for the retention time.
func (d *dynPool) sweep(now int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.entries.each(func(_ uint32, e *dynEntry) {
		if !e.used {
			return
		}
		idle := now - e.last.Load()
		if !e.dormant && idle > d.lease {
			e.dormant = true
			d.event(MappingExpired, e.addr6, d.net|e.off, now)
		}
		if idle > d.retain {
			d.forget(e)
		}
	})
}

// DynamicMapping is one mapping of the dynamic pool, for persistence: the
// IPv4 address, the IPv6 address it is set aside for, and its last use.
type DynamicMapping struct {
	IPv4    netip.Addr
	IPv6    netip.Addr
	LastUse time.Time
}

// DynamicMappings returns every mapping of the dynamic pool, active and
// dormant, by IPv4 address, and a generation number that changes when a
// new mapping is made (so a caller can tell when to save them).
func (t *Translator) DynamicMappings() ([]DynamicMapping, uint64) {
	d := t.c.dyn
	if d == nil {
		return nil, 0
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]DynamicMapping, 0, d.used)
	d.entries.each(func(_ uint32, e *dynEntry) {
		if e.used {
			out = append(out, DynamicMapping{addr4(d.net | e.off), e.addr6.addr6(), time.Unix(0, e.last.Load())})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].IPv4.Less(out[j].IPv4) })
	return out, d.gen.Load()
}

// RestoreDynamicMappings loads saved mappings into an empty dynamic pool,
// as TAYGA loads its dynamic.map. Mappings that lie outside the pool, that
// collide with an address never handed out (ipv4-addr, EAM) or with an
// earlier line, or whose IPv6 address another rule maps, are skipped and
// returned as errors; the rest are loaded as dormant or active according
// to their last use.
func (t *Translator) RestoreDynamicMappings(ms []DynamicMapping, now time.Time) (int, []error) {
	d := t.c.dyn
	if d == nil {
		return 0, nil
	}
	var errs []error
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].LastUse.After(ms[j].LastUse) })
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, m := range ms {
		if !m.IPv4.Is4() || !m.IPv6.Is6() || m.IPv6.Is4In6() {
			errs = append(errs, fmt.Errorf("%s %s: not an IPv4 and an IPv6 address", m.IPv4, m.IPv6))
			continue
		}
		a4 := m.IPv4.As4()
		v4 := binary.BigEndian.Uint32(a4[:])
		a16 := m.IPv6.As16()
		a := u128From16(&a16)
		off := v4 & (1<<d.hostBits - 1)
		switch {
		case !d.contains(v4) || off == 0:
			errs = append(errs, fmt.Errorf("%s: outside the dynamic pool", m.IPv4))
			continue
		case d.skip(v4):
			errs = append(errs, fmt.Errorf("%s: reserved by ipv4-addr or an EAM entry", m.IPv4))
			continue
		case d.at(off) != nil:
			errs = append(errs, fmt.Errorf("%s: mapped twice", m.IPv4))
			continue
		case t.c.eam.contains6(a) || t.c.pool.contains(a) || reserved6(a):
			errs = append(errs, fmt.Errorf("%s: %s is mapped by another rule", m.IPv4, m.IPv6))
			continue
		}
		if _, dup := d.by6[a]; dup {
			errs = append(errs, fmt.Errorf("%s: %s already has an address", m.IPv4, m.IPv6))
			continue
		}
		last := m.LastUse.UnixNano()
		if last > now.UnixNano() {
			last = now.UnixNano() - d.lease // dated in the future: dormant, as TAYGA does
		}
		e := d.place(off, a, last)
		if e == nil {
			errs = append(errs, fmt.Errorf("%s: the dynamic pool is full", m.IPv4))
			continue
		}
		e.dormant = now.UnixNano()-last > d.lease
		n++
	}
	return n, errs
}

// keepDynamic makes t use old's dynamic pool when both have the same.
func (t *Translator) keepDynamic(old *Translator) error {
	a, b := t.c.dyn, old.c.dyn
	switch {
	case a == nil && b == nil:
	case a == nil || b == nil || a.net != b.net || a.hostBits != b.hostBits:
		return fmt.Errorf("dynamic-pool changed")
	default:
		t.c.dyn = b
	}
	return nil
}
