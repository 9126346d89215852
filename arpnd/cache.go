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
}

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
}

// Neighbor is one cache entry, as the data path and operators see it.
type Neighbor struct {
	Addr  netip.Addr
	MAC   MAC
	State State
}

// Cache is a neighbor cache: IP address to MAC address for one port.
//
// Lookup is the data path: it reads an immutable snapshot through an atomic
// pointer, so any number of goroutines may call it without a lock. The
// other methods change the entries under a mutex and publish a new snapshot
// when a usable mapping appears, changes or goes; they run on the slow path
// (ARP and ND frames, unresolved destinations, timers).
type Cache struct {
	opts   CacheOptions
	probe  func(target [16]byte, unicast *MAC) // sends a request (ARP or NS)
	sender Sender
	onFail func(pkt []byte) // a held frame whose neighbor did not answer, without its Ethernet header

	snap atomic.Pointer[map[[16]byte]MAC]

	mu      sync.Mutex
	entries map[[16]byte]*entry
	queued  int
	free    [][]byte // frame buffers of the hold queues, reused

	stats cacheCounters
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
}

type cacheCounters struct {
	holds, holdDrops, released, resolved, failed, probes, learned, confirmed, expired atomic.Uint64
}

// CacheStats are a cache's counters.
type CacheStats struct {
	Entries   int    // entries now
	Held      uint64 // frames queued while their neighbor was resolved
	HoldDrops uint64 // frames dropped because a queue was full
	Released  uint64 // held frames sent once their neighbor answered
	Resolved  uint64 // resolutions that succeeded
	Failed    uint64 // resolutions that gave up
	Probes    uint64 // requests sent (ARP requests, Neighbor Solicitations)
	Learned   uint64 // mappings learned from received frames
	Confirmed uint64 // mappings confirmed by a reply
	Expired   uint64 // entries removed after failed reprobes
}

func newCache(opts CacheOptions, sender Sender, probe func([16]byte, *MAC), onFail func([]byte)) *Cache {
	opts.defaults()
	c := &Cache{opts: opts, probe: probe, sender: sender, onFail: onFail, entries: map[[16]byte]*entry{}}
	empty := map[[16]byte]MAC{}
	c.snap.Store(&empty)
	return c
}

// Lookup returns the MAC address of a usable neighbor. It is lock-free.
func (c *Cache) Lookup(ip [16]byte) (MAC, bool) {
	m, ok := (*c.snap.Load())[ip]
	return m, ok
}

// publish rebuilds the snapshot from the usable entries. Called with c.mu
// held.
func (c *Cache) publish() {
	m := make(map[[16]byte]MAC, len(c.entries))
	for k, e := range c.entries {
		if e.state != Incomplete {
			m[k] = e.mac
		}
	}
	c.snap.Store(&m)
}

// Hold queues the Ethernet frame f (its destination MAC to be filled) until
// ip is resolved, and starts the resolution. It copies f. It returns false
// (a counted drop) if the queue of ip, or all queues together, are full.
func (c *Cache) Hold(ip [16]byte, f []byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(ip)
	if e == nil {
		c.stats.holdDrops.Add(1)
		return false
	}
	if e.state != Incomplete {
		// Resolved meanwhile (the snapshot was older): send right away.
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
	if e == nil && len(c.entries) < c.opts.MaxEntries {
		e = &entry{state: Incomplete}
		c.entries[ip] = e
	}
	return e
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
	if m, ok := c.Lookup(ip); ok && m == mac {
		return // the common case, lock-free
	}
	c.update(ip, mac, now, Stale, false, true)
}

// LearnOwn records that ip is the address of the node at mac, as the sender
// of an ARP request or a Neighbor Solicitation, or the target of an
// unsolicited Neighbor Advertisement tells: like Learn, but the entry is the
// node's own address, which answers probes.
func (c *Cache) LearnOwn(ip [16]byte, mac MAC, now time.Time) {
	c.update(ip, mac, now, Stale, false, false)
}

// update records ip at mac. routed tells a data frame's source from an
// address its node claims (confirm, or LearnOwn).
func (c *Cache) update(ip [16]byte, mac MAC, now time.Time, st State, confirm, routed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[ip]
	if e == nil {
		if len(c.entries) >= c.opts.MaxEntries {
			return
		}
		e = &entry{}
		c.entries[ip] = e
	}
	if e.state == Permanent {
		return
	}
	changed := e.state == Incomplete || e.mac != mac
	if !confirm && !changed {
		if !routed {
			e.routed = false // the node speaks for the address itself
		}
		return
	}
	e.routed = routed && !confirm
	if confirm {
		c.stats.confirmed.Add(1)
	} else {
		c.stats.learned.Add(1)
	}
	if e.state == Incomplete {
		c.stats.resolved.Add(1)
	}
	e.mac, e.state, e.confirmed, e.probes = mac, st, now, 0
	if changed {
		c.publish()
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
	c.entries[ip] = &entry{mac: mac, state: Permanent}
	c.publish()
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
	changed := false
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
				changed = true
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
	if changed {
		c.publish()
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
	}
}
