package arpnd

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
)

// table is the usable part of a neighbor cache, as the data path reads it:
// address to MAC address, in open addressing with linear probing. Lookups
// take no lock and allocate nothing; one writer at a time (under the
// cache's mutex) adds, changes and removes single entries in place, so
// learning a neighbor costs O(1) instead of a rebuild of the whole cache
// (the snapshot map this replaced cost O(n) per new address: 82 % of the
// CPU under a flood of new sources, issue 23).
//
// Each slot is three words, written and read atomically. A reader loads the
// value word, then the key, then the value again: the value carries a
// version that every write of the slot changes, so a reader that saw the
// same value twice saw a key that went with it. A slot goes from empty to
// used, from used to dead (a tombstone) and from dead to used again; never
// back to empty, so an entry's probe sequence only ever crosses non-empty
// slots and a reader always reaches it. The table is replaced whole (grown,
// or cleaned of tombstones) by a new one behind the cache's atomic pointer:
// O(entries), at most once per as many writes, so O(1) amortized.
type table struct {
	seed0, seed1 uint64
	mask         uint64
	slots        []slot
	used, dead   int // slots in use and tombstones, under the cache's mutex
}

// slot is one entry of a table; the zero value is empty.
type slot struct {
	v      atomic.Uint64 // MAC in the low 48 bits, then slotLive, then the version
	k0, k1 atomic.Uint64
}

const (
	slotLive   = 1 << 48
	slotDead   = 1 << 49 // a tombstone: the entry went
	slotVerOne = 1 << 50 // the version's unit, in the bits above
	slotMAC    = slotLive - 1
)

// tableBytesPerSlot is the size of a slot; a table has at most two slots
// per entry of the cache's bound. Together with the cache's entry map this makes the bytes per
// neighbor in docs/performance.md.
const tableBytesPerSlot = 24

func newTable(entries int) *table {
	n := 16
	for n < 2*entries {
		n <<= 1
	}
	return &table{seed0: rand.Uint64(), seed1: rand.Uint64() | 1, mask: uint64(n - 1), slots: make([]slot, n)}
}

// hash mixes a key with the table's random seeds, so that the sources of a
// flood cannot be picked to collide.
func (t *table) hash(k0, k1 uint64) uint64 {
	hi, lo := bits.Mul64(k0^t.seed0, k1^t.seed1)
	hi, lo = bits.Mul64(hi^lo^t.seed1, 0x9e3779b97f4a7c15)
	return hi ^ lo
}

func splitKey(ip [16]byte) (uint64, uint64) {
	return binary.LittleEndian.Uint64(ip[:8]), binary.LittleEndian.Uint64(ip[8:])
}

// lookup returns the MAC address of ip. It is lock-free; a slot being
// written at that moment reads as a miss, which the caller's slow path
// (under the cache's mutex) settles.
func (t *table) lookup(ip [16]byte) (MAC, bool) {
	k0, k1 := splitKey(ip)
	i := t.hash(k0, k1)
	for range len(t.slots) {
		s := &t.slots[i&t.mask]
		v := s.v.Load()
		if v == 0 {
			return MAC{}, false
		}
		if v&slotLive != 0 && s.k0.Load() == k0 && s.k1.Load() == k1 {
			if s.v.Load() != v {
				return MAC{}, false
			}
			var m [8]byte
			binary.LittleEndian.PutUint64(m[:], v&slotMAC)
			return MAC(m[:6]), true
		}
		i++
	}
	return MAC{}, false
}

// find returns the slot of ip, or nil, and the first tombstone on its way
// (nil if none). Called by the writer.
func (t *table) find(k0, k1 uint64) (at, dead *slot) {
	i := t.hash(k0, k1)
	for range len(t.slots) {
		s := &t.slots[i&t.mask]
		v := s.v.Load()
		switch {
		case v == 0:
			return nil, dead
		case v&slotLive != 0:
			if s.k0.Load() == k0 && s.k1.Load() == k1 {
				return s, dead
			}
		case dead == nil:
			dead = s
		}
		i++
	}
	return nil, dead
}

// empty returns the first empty slot of ip's probe sequence. Called by the
// writer, with room left.
func (t *table) empty(k0, k1 uint64) *slot {
	i := t.hash(k0, k1)
	for {
		if s := &t.slots[i&t.mask]; s.v.Load() == 0 {
			return s
		}
		i++
	}
}

func macWord(mac MAC) uint64 {
	var m [8]byte
	copy(m[:], mac[:])
	return binary.LittleEndian.Uint64(m[:])
}

// set maps ip to mac. It reports false, and changes nothing, if the table
// needs replacing first (too full with the new entry). Called by the
// writer.
func (t *table) set(ip [16]byte, mac MAC) bool {
	k0, k1 := splitKey(ip)
	at, dead := t.find(k0, k1)
	if at != nil {
		at.v.Store(at.v.Load()&^(slotVerOne-1) + slotVerOne | slotLive | macWord(mac))
		return true
	}
	if dead == nil {
		if 4*(t.used+t.dead+1) > 3*len(t.slots) {
			return false // past a load of 3/4
		}
		dead = t.empty(k0, k1)
	} else {
		t.dead--
	}
	v := dead.v.Load()
	dead.k0.Store(k0)
	dead.k1.Store(k1)
	dead.v.Store(v&^(slotVerOne-1) + slotVerOne | slotLive | macWord(mac))
	t.used++
	return true
}

// remove takes ip out, leaving a tombstone. Called by the writer.
func (t *table) remove(ip [16]byte) {
	k0, k1 := splitKey(ip)
	if at, _ := t.find(k0, k1); at != nil {
		v := at.v.Load()
		at.v.Store(v&^(slotVerOne-1) + slotVerOne | slotDead)
		t.used--
		t.dead++
	}
}
