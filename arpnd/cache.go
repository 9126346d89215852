package arpnd

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

//go:generate stringer -type=State -linecomment

// State is the state of a neighbor cache entry (after RFC 4861 §7.3.2).
type State uint8

// Neighbor states.
const (
	_          State = iota // invalid
	Incomplete              // incomplete
	Reachable               // reachable
	Stale                   // stale
	Probe                   // probe
	Permanent               // permanent
)

// Sender sends frames out of the port a cache resolves for (a wire.Port).
type Sender interface {
	WriteBatch(bufs [][]byte, offset int) (int, error)
}

// CacheOptions tune a neighbor cache. The zero value means the RFC 4861
// defaults.
type CacheOptions struct {
	ReachableTime time.Duration // REACHABLE lasts this long (30 s)
	RetransTime   time.Duration // between probes of one neighbor (1 s)
	MaxProbes     int           // probes before giving up (3)
	StaleTime     time.Duration // a STALE entry is probed again after this (60 s)
	QueueLen      int           // frames held per unresolved neighbor (8)
	MaxQueued     int           // frames held in all (1024)
	MaxEntries    int           // entries (65536)
	// LearnRate is how many new neighbors received frames may create per
	// second (1000; negative: no limit), after a burst of LearnBurst
	// (LearnRate, at least 1). Resolving a destination is not limited.
	LearnRate  int
	LearnBurst int
}

// BytesPerNeighbor is about what one neighbor costs at most: its entry and
// map slot, its place in the queue of learned entries, and its share of
// the lock-free table at its largest; 241 bytes measured with 65536
// learned entries (docs/performance.md, "Neighbor learning"). A bound on
// the entries is one on the memory.
const BytesPerNeighbor = 256

func (o *CacheOptions) defaults() {
	if o.ReachableTime == 0 {
		o.ReachableTime = 30 * time.Second
	}
	if o.RetransTime == 0 {
		o.RetransTime = time.Second
	}
	if o.MaxProbes == 0 {
		o.MaxProbes = 3
	}
	if o.StaleTime == 0 {
		o.StaleTime = 60 * time.Second
	}
	if o.QueueLen == 0 {
		o.QueueLen = 8
	}
	if o.MaxQueued == 0 {
		o.MaxQueued = 1024
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = 65536
	}
	if o.LearnRate == 0 {
		o.LearnRate = 1000
	}
	if o.LearnBurst == 0 {
		o.LearnBurst = max(1, o.LearnRate)
	}
}

// Neighbor is one cache entry, as the data path and operators see it.
type Neighbor struct {
	Addr  netip.Addr
	MAC   MAC
	State State
}

// Cache is a neighbor cache: IP address to MAC address for one port.
//
// Lookup is the data path: it reads a table of the usable entries without
// a lock (table.go), so any number of goroutines may call it. The other
// methods change the entries under a mutex and update the table in place,
// one entry at a time, when a usable mapping appears, changes or goes;
// they run on the slow path (ARP and ND frames, new sources, unresolved
// destinations, timers).
//
// The cache is bounded (CacheOptions.MaxEntries), and the entries that
// received frames create (Learn, LearnOwn, an unsolicited Confirm) are
// rate-limited (CacheOptions.LearnRate): a flood of new sources costs a
// counted refusal each, not the CPU. When the cache is full, the oldest
// entry that was learned and never confirmed makes room.
type Cache struct {
	opts   CacheOptions
	probe  func(target [16]byte, unicast *MAC) // sends a request (ARP or NS)
	sender Sender
	onFail func(pkt []byte) // a held frame whose neighbor did not answer, without its Ethernet header
	// resolvable, if set, tells the addresses that may be neighbors.
	resolvable func(ip [16]byte) bool

	tab atomic.Pointer[table]
	// ver changes whenever a usable mapping changes or goes (not when
	// one is added): a Hint holds an answer for as long as it is the same.
	ver atomic.Uint64
	// limited is the Unix time in nanoseconds until which learning has no
	// tokens left: a flood's frames see it without the mutex.
	limited atomic.Int64

	mu      sync.Mutex
	entries map[[16]byte]*entry
	queued  int
	free    [][]byte // frame buffers of the hold queues, reused
	tokens  float64  // learning's token bucket
	filled  time.Time
	born    uint64       // entries learned so far, numbering them
	young   []learnedRef // the entries learned and not confirmed, oldest first (a ring)
	youngAt int          // the ring's oldest element
	youngN  int

	stats cacheCounters
}

// learnedRef names an entry in the ring of learned ones: it is the same
// entry while its number is.
type learnedRef struct {
	ip   [16]byte
	born uint64
}

type entry struct {
	mac       MAC
	state     State
	confirmed time.Time // last confirmation (or learning)
	probes    int       // probes sent in the current round
	next      time.Time // next probe
	queue     [][]byte  // frames waiting for the address, Ethernet header in front
	// routed is set for a mapping learned from a data frame and not
	// confirmed by the address itself: the host may be behind a router
	// (the frame's source MAC), which does not answer for it. Its
	// reachability is that of an anchor: an entry with the same MAC whose
	// address is the neighbor's own (learned from its ARP or Neighbor
	// Discovery, or confirmed), probed in its place.
	routed bool
	// born numbers an entry a received frame created; 0 once the
	// neighbor answered (or for entries made otherwise): then it is not
	// evicted to make room.
	born uint64
}

// usable reports whether e's mapping may be used: resolved (not
// Incomplete, nor new).
func (e *entry) usable() bool { return e.state != Incomplete && e.state != 0 }

type cacheCounters struct {
	holds, holdDrops, released, resolved, failed, probes, learned, confirmed, expired atomic.Uint64
	learnLimited, full, evicted                                                       atomic.Uint64
}

// CacheStats are a cache's counters.
type CacheStats struct {
	Entries      int    // entries now
	Held         uint64 // frames queued while their neighbor was resolved
	HoldDrops    uint64 // frames dropped because a queue was full
	Released     uint64 // held frames sent once their neighbor answered
	Resolved     uint64 // resolutions that succeeded
	Failed       uint64 // resolutions that gave up
	Probes       uint64 // requests sent (ARP requests, Neighbor Solicitations)
	Learned      uint64 // mappings learned from received frames
	Confirmed    uint64 // mappings confirmed by a reply
	Expired      uint64 // entries removed after failed reprobes
	LearnLimited uint64 // new neighbors not learned: over the learning rate
	Full         uint64 // new neighbors not learned, or resolutions not started: the cache was full of confirmed entries
	Evicted      uint64 // learned entries never confirmed, removed to make room
}

func newCache(opts CacheOptions, sender Sender, probe func([16]byte, *MAC), onFail func([]byte)) *Cache {
	opts.defaults()
	c := &Cache{opts: opts, probe: probe, sender: sender, onFail: onFail, entries: map[[16]byte]*entry{}, tokens: float64(opts.LearnBurst)}
	c.tab.Store(newTable(0))
	c.ver.Store(1)
	return c
}

// Lookup returns the MAC address of a usable neighbor. It is lock-free.
func (c *Cache) Lookup(ip [16]byte) (MAC, bool) {
	return c.tab.Load().lookup(ip)
}

// show makes ip's mapping usable in the table, or changes it. Called with
// c.mu held.
func (c *Cache) show(ip [16]byte, mac MAC, changed bool) {
	if !c.tab.Load().set(ip, mac) {
		// Full: a table twice the entries' size (or the bound's) has
		// room for them and as many again (or half as many).
		c.rebuild(len(c.entries))
		c.tab.Load().set(ip, mac)
	}
	if changed {
		c.ver.Add(1)
	}
}

// hide takes ip's mapping out of the table. Called with c.mu held.
func (c *Cache) hide(ip [16]byte) {
	t := c.tab.Load()
	t.remove(ip)
	c.ver.Add(1)
	if t.dead > len(t.slots)/8 {
		c.rebuild(t.used)
	}
}

// rebuild replaces the table by one with room for twice n entries (up to
// the cache's bound), and the usable entries in it: the table only grows
// or sheds tombstones after as many writes as it holds entries. Called
// with c.mu held.
func (c *Cache) rebuild(n int) {
	t := newTable(min(max(2*n, 8), c.opts.MaxEntries))
	for k, e := range c.entries {
		if e.usable() {
			t.set(k, e.mac)
		}
	}
	c.tab.Store(t)
}

// Resolvable reports whether ip may be resolved at all: the network and
// broadcast addresses of the IPv4 subnet, multicast addresses and the
// like are never asked for (ARPOptions, NDOptions). The data path calls
// it before Hold, to drop (and count) a packet for those.
func (c *Cache) Resolvable(ip [16]byte) bool {
	return c.resolvable == nil || c.resolvable(ip)
}

// Hold queues the Ethernet frame f (its destination MAC to be filled) until
// ip is resolved, and starts the resolution. It copies f. It returns false
// (a counted drop) if the queue of ip, or all queues together, are full,
// or if ip is not Resolvable (no request is sent for it).
func (c *Cache) Hold(ip [16]byte, f []byte, now time.Time) bool {
	if !c.Resolvable(ip) {
		c.stats.holdDrops.Add(1)
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(ip)
	if e == nil {
		c.stats.holdDrops.Add(1)
		return false
	}
	if e.state != Incomplete {
		// Resolved meanwhile (the lookup missed it): send right away.
		c.sendTo(e.mac, f)
		return true
	}
	if len(e.queue) >= c.opts.QueueLen || c.queued >= c.opts.MaxQueued {
		c.stats.holdDrops.Add(1)
		return false
	}
	var b []byte
	if n := len(c.free); n > 0 && cap(c.free[n-1]) >= len(f) {
		b, c.free = c.free[n-1][:len(f)], c.free[:n-1]
	} else {
		b = make([]byte, len(f), max(len(f), 2048))
	}
	copy(b, f)
	e.queue = append(e.queue, b)
	c.queued++
	c.stats.holds.Add(1)
	if e.probes == 0 {
		c.sendProbe(ip, e, nil, now)
	}
	return true
}

// Resolve starts the resolution of ip, as Hold does, with no frame to
// queue (for a frame that cannot wait in a queue).
func (c *Cache) Resolve(ip [16]byte, now time.Time) {
	if !c.Resolvable(ip) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entry(ip); e != nil && e.state == Incomplete && e.probes == 0 {
		c.sendProbe(ip, e, nil, now)
	}
}

// entry returns the entry of ip, a new incomplete one if there is none and
// room for one, else nil. Called with c.mu held.
func (c *Cache) entry(ip [16]byte) *entry {
	e := c.entries[ip]
	if e == nil && c.room() {
		e = &entry{state: Incomplete}
		c.entries[ip] = e
	}
	return e
}

// room reports whether the cache may take one more entry, after evicting
// the oldest learned one never confirmed if it is full; it counts a full
// cache. Called with c.mu held.
func (c *Cache) room() bool {
	if len(c.entries) < c.opts.MaxEntries || c.evict() {
		return true
	}
	c.stats.full.Add(1)
	return false
}

// evict removes the oldest entry a received frame created whose neighbor
// never answered a probe nor has frames waiting, and reports whether there
// was one. Each learned entry is looked at once: O(1) amortized. Called
// with c.mu held.
func (c *Cache) evict() bool {
	for c.youngAt < len(c.young) {
		r := c.young[c.youngAt]
		c.youngAt++
		e := c.entries[r.ip]
		if e == nil || e.born != r.born || len(e.queue) > 0 || e.state == Permanent {
			continue
		}
		delete(c.entries, r.ip)
		if e.usable() {
			c.hide(r.ip)
		}
		c.stats.evicted.Add(1)
		return true
	}
	return false
}

// learnNew returns a new entry for ip, which a received frame tells about,
// or nil (counted) if learning is over its rate or the cache is full.
// Called with c.mu held.
func (c *Cache) learnNew(ip [16]byte, now time.Time) *entry {
	if !c.take(now) {
		c.stats.learnLimited.Add(1)
		return nil
	}
	if !c.room() {
		return nil
	}
	c.born++
	e := &entry{born: c.born} // no state yet: update gives it one
	c.entries[ip] = e
	if len(c.young)-c.youngAt >= c.opts.MaxEntries {
		c.youngAt++ // the oldest falls out; it expires unless confirmed
	}
	if c.youngAt > 1024 && 2*c.youngAt > len(c.young) {
		c.young = c.young[:copy(c.young, c.young[c.youngAt:])]
		c.youngAt = 0
	}
	c.young = append(c.young, learnedRef{ip, c.born})
	return e
}

// take takes a token of learning's bucket at now, and reports whether there
// was one. Without, it tells the lock-free check (limitedAt) until when
// there is none. Called with c.mu held.
func (c *Cache) take(now time.Time) bool {
	rate := float64(c.opts.LearnRate)
	if rate < 0 {
		return true
	}
	if d := now.Sub(c.filled); d > 0 {
		c.tokens = min(float64(c.opts.LearnBurst), c.tokens+d.Seconds()*rate)
		c.filled = now
	}
	if c.tokens >= 1 {
		c.tokens--
		return true
	}
	c.limited.Store(now.Add(time.Duration((1 - c.tokens) / rate * float64(time.Second))).UnixNano())
	return false
}

// limitedAt reports, without the lock, whether learning a new neighbor at
// now would be over the rate; it counts it if so.
func (c *Cache) limitedAt(now time.Time) bool {
	if now.UnixNano() < c.limited.Load() {
		c.stats.learnLimited.Add(1)
		return true
	}
	return false
}

func (c *Cache) sendProbe(ip [16]byte, e *entry, unicast *MAC, now time.Time) {
	e.probes++
	e.next = now.Add(c.opts.RetransTime)
	c.stats.probes.Add(1)
	c.probe(ip, unicast)
}

// sendTo sends one held frame to mac. Called with c.mu held.
func (c *Cache) sendTo(mac MAC, f []byte) {
	copy(f[0:6], mac[:])
	_, _ = c.sender.WriteBatch([][]byte{f}, 0)
}

// Confirm records that ip answered from mac (an ARP reply, a solicited
// Neighbor Advertisement): the entry becomes REACHABLE and the frames held
// for it leave.
func (c *Cache) Confirm(ip [16]byte, mac MAC, now time.Time) {
	c.update(ip, mac, now, Reachable, true, false)
}

// Learn records that ip was seen behind mac in a received data frame. A
// new entry is STALE: usable, and confirmed by a probe later; an entry with
// another address changes address. An existing entry with the same address
// is left alone. The sender may be behind a router: such an entry is not
// probed to death by a router that does not answer for it, but lives as
// long as an entry of the router's own address with the same MAC answers
// (see Tick).
func (c *Cache) Learn(ip [16]byte, mac MAC, now time.Time) {
	m, ok := c.Lookup(ip)
	if ok && m == mac {
		return // the common case, lock-free
	}
	if !ok && c.limitedAt(now) {
		return // a flood of new sources, lock-free
	}
	c.update(ip, mac, now, Stale, false, true)
}

// LearnOwn records that ip is the address of the node at mac, as the sender
// of an ARP request or a Neighbor Solicitation, or the target of an
// unsolicited Neighbor Advertisement tells: like Learn, but the entry is the
// node's own address, which answers probes.
func (c *Cache) LearnOwn(ip [16]byte, mac MAC, now time.Time) {
	if _, ok := c.Lookup(ip); !ok && c.limitedAt(now) {
		return
	}
	c.update(ip, mac, now, Stale, false, false)
}

// update records ip at mac. routed tells a data frame's source from an
// address its node claims (confirm, or LearnOwn).
func (c *Cache) update(ip [16]byte, mac MAC, now time.Time, st State, confirm, routed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[ip]
	asked := e != nil
	if e == nil {
		// Not asked for: learned, as a frame the neighbor sent.
		if e = c.learnNew(ip, now); e == nil {
			return
		}
	}
	if e.state == Permanent {
		return
	}
	changed := !e.usable() || e.mac != mac
	if !confirm && !changed {
		if !routed {
			e.routed = false // the node speaks for the address itself
		}
		return
	}
	e.routed = routed && !confirm
	if confirm && asked {
		e.born = 0 // it answers: not evicted (an unsolicited reply may be anyone's)
		c.stats.confirmed.Add(1)
	} else {
		c.stats.learned.Add(1)
	}
	if e.state == Incomplete {
		c.stats.resolved.Add(1)
	}
	wasUsable := e.usable()
	e.mac, e.state, e.confirmed, e.probes = mac, st, now, 0
	if changed {
		c.show(ip, mac, wasUsable)
	}
	for _, f := range e.queue {
		c.sendTo(mac, f)
		c.free = append(c.free, f)
	}
	c.stats.released.Add(uint64(len(e.queue)))
	c.queued -= len(e.queue)
	e.queue = e.queue[:0]
}

// SetPermanent adds a static entry that never expires.
func (c *Cache) SetPermanent(ip [16]byte, mac MAC) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.entries[ip]
	c.entries[ip] = &entry{mac: mac, state: Permanent}
	c.show(ip, mac, old != nil && old.usable())
}

// Tick runs the cache's timers at now: it retransmits probes, gives up on
// neighbors that do not answer (their held frames go to the failure
// callback), ages REACHABLE entries to STALE, and reprobes STALE ones,
// removing those that no longer answer. Call it every 100 ms or so.
//
// An entry learned from data frames (routed) is not probed itself when an
// anchor exists: an entry with the same MAC whose address is its node's own
// (the router's, when the host is behind one; RFC 4861 §7.3.1 lets
// reachability come from any source). The anchor is probed instead, and
// the routed entry lives while the anchor answers. Without an anchor the
// routed entry is probed itself: an on-link host answers.
func (c *Cache) Tick(now time.Time) {
	var failed [][]byte
	c.mu.Lock()
	var anchors map[MAC]anchor // built once per Tick, when a routed entry needs one
	anchorOf := func(e *entry) anchor {
		if !e.routed {
			return anchor{}
		}
		if anchors == nil {
			anchors = c.anchors()
		}
		return anchors[e.mac]
	}
	for ip, e := range c.entries {
		switch e.state {
		case Incomplete:
			if now.Before(e.next) {
				continue
			}
			if e.probes >= c.opts.MaxProbes {
				c.stats.failed.Add(1)
				failed = append(failed, e.queue...)
				c.queued -= len(e.queue)
				delete(c.entries, ip)
				continue
			}
			c.sendProbe(ip, e, nil, now)
		case Reachable:
			if now.Sub(e.confirmed) > c.opts.ReachableTime {
				e.state = Stale
			}
		case Stale:
			if now.Sub(e.confirmed) <= c.opts.StaleTime {
				continue
			}
			if a := anchorOf(e); a.e != nil {
				if c.inherit(e, a.e, now) {
					continue
				}
				// Probe the anchor; the entry waits for it.
				if a.e.state == Stale {
					a.e.state, a.e.probes = Probe, 0
					c.sendProbe(a.ip, a.e, &a.e.mac, now)
				}
				e.state, e.probes, e.next = Probe, 0, now.Add(c.opts.RetransTime)
				continue
			}
			e.state, e.probes = Probe, 0
			mac := e.mac
			c.sendProbe(ip, e, &mac, now)
		case Probe:
			a := anchorOf(e)
			if a.e != nil && c.inherit(e, a.e, now) {
				continue
			}
			if now.Before(e.next) {
				continue
			}
			if e.probes >= c.opts.MaxProbes {
				c.stats.expired.Add(1)
				delete(c.entries, ip)
				c.hide(ip)
				continue
			}
			if a.e != nil {
				e.probes++ // waiting for the anchor's answer
				e.next = now.Add(c.opts.RetransTime)
				continue
			}
			mac := e.mac
			c.sendProbe(ip, e, &mac, now)
		}
	}
	c.mu.Unlock()
	for _, f := range failed {
		if c.onFail != nil && len(f) > header.EthernetLen {
			c.onFail(f[header.EthernetLen:])
		}
	}
}

// anchor is an entry that answers for itself, with its address; the zero
// value is none.
type anchor struct {
	ip [16]byte
	e  *entry
}

// anchors maps each MAC address to its freshest entry that answers for
// itself (not routed, resolved). Called with c.mu held.
func (c *Cache) anchors() map[MAC]anchor {
	m := map[MAC]anchor{}
	for ip, e := range c.entries {
		if e.routed || e.state == Incomplete {
			continue
		}
		if a := m[e.mac].e; a == nil || a.state != Permanent && (e.state == Permanent || e.confirmed.After(a.confirmed)) {
			m[e.mac] = anchor{ip, e}
		}
	}
	return m
}

// inherit makes the routed entry e as fresh as its anchor a if a answered
// lately, and reports whether it did.
func (c *Cache) inherit(e, a *entry, now time.Time) bool {
	switch {
	case a.state == Permanent:
		e.confirmed = now
	case a.state == Reachable && now.Sub(a.confirmed) <= c.opts.ReachableTime:
		e.confirmed = a.confirmed
	default:
		return false
	}
	e.state, e.probes = Stale, 0
	return true
}

// Neighbors returns the entries, sorted by address, for operators.
func (c *Cache) Neighbors() []Neighbor {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Neighbor, 0, len(c.entries))
	for k, e := range c.entries {
		out = append(out, Neighbor{Addr: keyAddr(k), MAC: e.mac, State: e.state})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	return CacheStats{
		Entries: n, Held: c.stats.holds.Load(), HoldDrops: c.stats.holdDrops.Load(), Released: c.stats.released.Load(),
		Resolved: c.stats.resolved.Load(), Failed: c.stats.failed.Load(), Probes: c.stats.probes.Load(),
		Learned: c.stats.learned.Load(), Confirmed: c.stats.confirmed.Load(), Expired: c.stats.expired.Load(),
		LearnLimited: c.stats.learnLimited.Load(), Full: c.stats.full.Load(), Evicted: c.stats.evicted.Load(),
	}
}
