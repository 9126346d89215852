package xlat

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"sync"
	"sync/atomic"
)

// The stateful NAT64 tables (RFC 6146 §3.1): the Binding Information Base,
// which maps an IPv6 transport address (X, x) to an IPv4 one (T, t), and the
// session table, which holds each flow between a BIB entry and a remote
// IPv4 transport address (Y, y).
//
// Packets from the IPv6 side know (X, x) and (Y, y); packets from the IPv4
// side know (T, t) and (Y, y). So every entry is indexed twice, in two
// families of shards: natShard6, chosen by a hash of (protocol, X, x), owns
// the entries (in slabs) and indexes them by what IPv6 packets know;
// natShard4, chosen by a hash of (protocol, T, t), indexes the same entries
// by what IPv4 packets know. A BIB entry and all its sessions live in one
// shard of each family.
//
// Locks. Each shard has a mutex. A goroutine holds at most one natShard6
// lock and one natShard4 lock, and takes the natShard6 one first. The locks
// of pool4's port sets, the host counters, the event ring and the hold store
// are leaves: nothing else is taken while one of them is held.
//
// Entries are created and deleted with both of their shards locked, so
// either lock is enough to read an entry reached through that shard's
// index. The fields that change during a session's life (TCP state,
// expiry) are atomics, since the two sides update them under different
// locks.
//
// Time is in seconds (the packet clock, see Translator.Translate); an entry
// whose expiry has passed is dead for lookups even before Sweep removes it.

const (
	natShardBits = 8
	natShards    = 1 << natShardBits
)

// session is one NAT64 session (RFC 6146 §3.1). proto is 0 in a free slot.
type session struct {
	addr6  u128   // X
	addr4  uint32 // T
	raddr  uint32 // Y
	port6  uint16 // x
	port4  uint16 // t
	rport  uint16 // y (0 for ICMP)
	proto  uint8  // natProto+1
	_      uint8
	state  atomic.Uint32 // TCPState
	expiry atomic.Uint32 // seconds
	bib    uint32        // index of its BIB entry in the same natShard6
	next6  uint32        // next session in the natShard6 chain (a reference), or the free list
	next4  uint32        // next session in the natShard4 chain (a reference)
}

// bibEntry is one BIB entry. proto is 0 in a free slot.
type bibEntry struct {
	addr6    u128
	addr4    uint32
	port6    uint16
	port4    uint16
	proto    uint8 // natProto+1
	static   bool
	unpooled bool          // its port is not its own in the current pool4 (a reload gave it to a static-bib entry): not released
	sessions uint32        // live sessions; the entry goes with the last one unless static
	expiry   atomic.Uint32 // latest expiry of its sessions
	next6    uint32        // chain in natShard6 (a reference), or the free list
	next4    uint32        // chain in natShard4 (a reference)
}

// A reference names an entry across shards: shard<<24 | index. 0 is none
// (index 0 of every slab is unused).
func ref(shard, i uint32) uint32 { return shard<<slabIndexBits | i }

type natShard6 struct {
	mu       sync.Mutex
	sess     slab[session]
	bibs     slab[bibEntry]
	freeSess uint32 // free lists, chained through next6
	freeBIB  uint32
	sessIdx  []uint32 // buckets by (protocol, X, x, Y, y): references
	bibIdx   []uint32 // buckets by (protocol, X, x)
	nsess    int
	nbib     int
	_        [64]byte
}

type natShard4 struct {
	mu      sync.Mutex
	sessIdx []uint32 // buckets by (protocol, T, t, Y)
	bibIdx  []uint32 // buckets by (protocol, T, t)
	nsess   int
	nbib    int
	_       [64]byte
}

// natTable is the NAT64 state shared by all of a Translator's clones.
type natTable struct {
	s6 [natShards]natShard6
	s4 [natShards]natShard4
	// pool is pool4's port sets. A reload that changes pool4 swaps it
	// while it holds every natShard6 lock (Translator.Reconcile); the
	// data path reads it under one.
	pool atomic.Pointer[pool4]
	k    [4]uint64 // hash keys

	nsess, nbib atomic.Int64
	// the same by protocol (natTCP, natUDP, natICMP), for metrics
	nsessP, nbibP [natProtos]atomic.Int64
	lim           natLimits    // written with every natShard6 lock held (Reconcile)
	hosts         *hostCounts  // nil without per-host limits; as lim
	prefix        netip.Prefix // as lim (Reconcile reads it without a lock: reloads are serial)
	statics       []natStatic  // the static-bib entries of its configuration; as prefix

	events *eventRing // the Translator's, shared
	holds  holdStore
	frags  fragCache
	stats  [natStatCount]atomic.Uint64
}

// natLimits are the table's limits; 0 means none.
type natLimits struct {
	sessions, bib, perHost, per64 int64
}

// Table statistics, kept per event rather than per packet.
const (
	natStatSessionsCreated = iota
	natStatSessionsExpired
	natStatBIBCreated
	natStatBIBExpired
	natStatCount
)

func newNATTable(pool *pool4, lim natLimits, maxHolds int, events *eventRing) *natTable {
	t := &natTable{lim: lim, events: events}
	t.pool.Store(pool)
	var k [32]byte
	_, _ = rand.Read(k[:])
	for i := range t.k {
		t.k[i] = binary.LittleEndian.Uint64(k[8*i:]) | 1
	}
	if lim.perHost > 0 || lim.per64 > 0 {
		t.hosts = newHostCounts()
	}
	t.holds.init(maxHolds)
	t.frags.init()
	return t
}

// mix is a 64×64→128 multiply folded to 64 bits (as wyhash does).
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func (t *natTable) hash6(pr int, x u128, port uint16) uint64 {
	return mix(mix(x.hi^t.k[0], x.lo^t.k[1]), uint64(port)<<8|uint64(pr)^t.k[2])
}

func (t *natTable) hash4(pr int, a uint32, port uint16) uint64 {
	return mix(uint64(a)<<24|uint64(port)<<8|uint64(pr)^t.k[0], t.k[3])
}

// sessHash6 and sessHash4 extend a BIB hash with the remote end.
func (t *natTable) sessHash6(h uint64, y uint32, yp uint16) uint64 {
	return mix(h^t.k[3], uint64(y)<<16|uint64(yp)^t.k[1])
}

func (t *natTable) sessHash4(h uint64, y uint32) uint64 {
	return mix(h^t.k[2], uint64(y)^t.k[0])
}

func shardOf(h uint64) uint32 { return uint32(h >> (64 - natShardBits)) }

func bucket(idx []uint32, h uint64) *uint32 { return &idx[h&uint64(len(idx)-1)] }

// sessAt and bibAt resolve references.
func (t *natTable) sessAt(r uint32) *session {
	return t.s6[r>>slabIndexBits].sess.at(r & slabMaxIndex)
}

func (t *natTable) bibAt(r uint32) *bibEntry {
	return t.s6[r>>slabIndexBits].bibs.at(r & slabMaxIndex)
}

// alive reports whether a session has not expired at now.
func (s *session) alive(now uint32) bool { return now < s.expiry.Load() }

// find6 returns the reference of the session (pr, X, x) → (Y, y) in sh,
// dead or alive, or 0. The caller holds sh.mu.
func (t *natTable) find6(sh *natShard6, hs uint64, pr int, x u128, xp uint16, y uint32, yp uint16) uint32 {
	if sh.sessIdx == nil {
		return 0
	}
	for r := *bucket(sh.sessIdx, hs); r != 0; {
		s := t.sessAt(r)
		if s.addr6 == x && s.port6 == xp && s.raddr == y && s.rport == yp && int(s.proto) == pr+1 {
			return r
		}
		r = s.next6
	}
	return 0
}

// find4 returns the reference of the session (pr, T, t) → (Y, y) in sh, or
// 0. The caller holds sh.mu.
func (t *natTable) find4(sh *natShard4, hs uint64, pr int, a uint32, ap uint16, y uint32, yp uint16) uint32 {
	if sh.sessIdx == nil {
		return 0
	}
	for r := *bucket(sh.sessIdx, hs); r != 0; {
		s := t.sessAt(r)
		if s.addr4 == a && s.port4 == ap && s.raddr == y && s.rport == yp && int(s.proto) == pr+1 {
			return r
		}
		r = s.next4
	}
	return 0
}

// talked reports whether a live session of (pr, T, t) with the remote
// address Y exists, whatever its remote port: the test of address-dependent
// filtering (RFC 4787 §5). The caller holds sh.mu.
func (t *natTable) talked(sh *natShard4, hs uint64, pr int, a uint32, ap uint16, y uint32, now uint32) bool {
	if sh.sessIdx == nil {
		return false
	}
	for r := *bucket(sh.sessIdx, hs); r != 0; {
		s := t.sessAt(r)
		if s.addr4 == a && s.port4 == ap && s.raddr == y && int(s.proto) == pr+1 && s.alive(now) {
			return true
		}
		r = s.next4
	}
	return false
}

// findBIB6 returns the reference of the BIB entry of (pr, X, x), or 0. The
// caller holds sh.mu.
func (t *natTable) findBIB6(sh *natShard6, h uint64, pr int, x u128, xp uint16) uint32 {
	if sh.bibIdx == nil {
		return 0
	}
	for r := *bucket(sh.bibIdx, h); r != 0; {
		b := t.bibAt(r)
		if b.addr6 == x && b.port6 == xp && int(b.proto) == pr+1 {
			return r
		}
		r = b.next6
	}
	return 0
}

// findBIB4 returns the reference of the BIB entry of (pr, T, t), or 0. The
// caller holds sh.mu.
func (t *natTable) findBIB4(sh *natShard4, h uint64, pr int, a uint32, ap uint16) uint32 {
	if sh.bibIdx == nil {
		return 0
	}
	for r := *bucket(sh.bibIdx, h); r != 0; {
		b := t.bibAt(r)
		if b.addr4 == a && b.port4 == ap && int(b.proto) == pr+1 {
			return r
		}
		r = b.next4
	}
	return 0
}

// Bucket arrays double when they hold more entries than buckets; the
// chains are rehashed from the entries' own fields.

const minBuckets = 16

func (t *natTable) grow6(sh *natShard6) {
	if sh.nsess >= len(sh.sessIdx) {
		sh.sessIdx = rehash(sh.sessIdx, func(r uint32) *uint32 { return &t.sessAt(r).next6 }, func(r uint32) uint64 {
			s := t.sessAt(r)
			return t.sessHash6(t.hash6(int(s.proto)-1, s.addr6, s.port6), s.raddr, s.rport)
		})
	}
	if sh.nbib >= len(sh.bibIdx) {
		sh.bibIdx = rehash(sh.bibIdx, func(r uint32) *uint32 { return &t.bibAt(r).next6 }, func(r uint32) uint64 {
			e := t.bibAt(r)
			return t.hash6(int(e.proto)-1, e.addr6, e.port6)
		})
	}
}

func (t *natTable) grow4(sh *natShard4) {
	if sh.nsess >= len(sh.sessIdx) {
		sh.sessIdx = rehash(sh.sessIdx, func(r uint32) *uint32 { return &t.sessAt(r).next4 }, func(r uint32) uint64 {
			s := t.sessAt(r)
			return t.sessHash4(t.hash4(int(s.proto)-1, s.addr4, s.port4), s.raddr)
		})
	}
	if sh.nbib >= len(sh.bibIdx) {
		sh.bibIdx = rehash(sh.bibIdx, func(r uint32) *uint32 { return &t.bibAt(r).next4 }, func(r uint32) uint64 {
			e := t.bibAt(r)
			return t.hash4(int(e.proto)-1, e.addr4, e.port4)
		})
	}
}

// rehash returns a bucket array twice the size of old (at least
// minBuckets) holding the same chains; next gives an entry's link and hash
// its hash.
func rehash(old []uint32, next func(uint32) *uint32, hash func(uint32) uint64) []uint32 {
	idx := make([]uint32, max(minBuckets, 2*len(old)))
	for _, r := range old {
		for r != 0 {
			link := next(r)
			n := *link
			b := bucket(idx, hash(r))
			*link, *b = *b, r
			r = n
		}
	}
	return idx
}

// unlink removes reference r from the chain starting at *head, whose links
// next returns.
func unlink(head *uint32, r uint32, next func(uint32) *uint32) {
	for p := head; *p != 0; p = next(*p) {
		if *p == r {
			*p = *next(r)
			return
		}
	}
}

// newBIB adds a BIB entry to sh (natShard6 number si) and to its natShard4,
// which the caller holds locked as sh4. It returns the reference, or 0 when
// the slab is full.
func (t *natTable) newBIB(sh *natShard6, si uint32, sh4 *natShard4, pr int, x u128, xp uint16, a uint32, ap uint16, static bool) uint32 {
	i := sh.freeBIB
	if i != 0 {
		sh.freeBIB = sh.bibs.at(i).next6
	} else if i = sh.bibs.grow(); i == 0 {
		return 0
	}
	r := ref(si, i)
	e := sh.bibs.at(i)
	e.addr6, e.port6, e.addr4, e.port4 = x, xp, a, ap
	e.proto, e.static, e.sessions = uint8(pr+1), static, 0
	e.expiry.Store(0)
	sh.nbib++
	t.grow6(sh)
	b := bucket(sh.bibIdx, t.hash6(pr, x, xp))
	e.next6, *b = *b, r
	sh4.nbib++
	t.grow4(sh4)
	b = bucket(sh4.bibIdx, t.hash4(pr, a, ap))
	e.next4, *b = *b, r
	t.nbib.Add(1)
	t.nbibP[pr].Add(1)
	return r
}

// newSession adds a session of BIB entry br to sh and sh4 (both locked).
// It returns the reference, or 0 when the slab is full.
func (t *natTable) newSession(sh *natShard6, si uint32, sh4 *natShard4, br uint32, y uint32, yp uint16, st TCPState, exp uint32) uint32 {
	i := sh.freeSess
	if i != 0 {
		sh.freeSess = sh.sess.at(i).next6
	} else if i = sh.sess.grow(); i == 0 {
		return 0
	}
	e := t.bibAt(br)
	r := ref(si, i)
	s := sh.sess.at(i)
	s.addr6, s.port6, s.addr4, s.port4 = e.addr6, e.port6, e.addr4, e.port4
	s.raddr, s.rport, s.proto = y, yp, e.proto
	s.state.Store(uint32(st))
	s.expiry.Store(exp)
	s.bib = br & slabMaxIndex
	e.sessions++
	if e.expiry.Load() < exp {
		e.expiry.Store(exp) // both shards are locked: no other writer
	}
	pr := int(e.proto) - 1
	sh.nsess++
	t.grow6(sh)
	b := bucket(sh.sessIdx, t.sessHash6(t.hash6(pr, e.addr6, e.port6), y, yp))
	s.next6, *b = *b, r
	sh4.nsess++
	t.grow4(sh4)
	b = bucket(sh4.sessIdx, t.sessHash4(t.hash4(pr, e.addr4, e.port4), y))
	s.next4, *b = *b, r
	t.nsess.Add(1)
	t.nsessP[pr].Add(1)
	t.stats[natStatSessionsCreated].Add(1)
	return r
}

// deleteSession removes session r from sh (number si) and its natShard4,
// which the caller holds locked as sh4, and deletes its BIB entry with it
// when it was the entry's last session and the entry is not static.
func (t *natTable) deleteSession(sh *natShard6, si uint32, sh4 *natShard4, r uint32, now int64) {
	s := t.sessAt(r)
	pr := int(s.proto) - 1
	h6 := t.hash6(pr, s.addr6, s.port6)
	unlink(bucket(sh.sessIdx, t.sessHash6(h6, s.raddr, s.rport)), r, func(r uint32) *uint32 { return &t.sessAt(r).next6 })
	unlink(bucket(sh4.sessIdx, t.sessHash4(t.hash4(pr, s.addr4, s.port4), s.raddr)), r, func(r uint32) *uint32 { return &t.sessAt(r).next4 })
	sh.nsess--
	sh4.nsess--
	t.nsess.Add(-1)
	t.nsessP[pr].Add(-1)
	if t.hosts != nil {
		t.hosts.release(s.addr6)
	}
	br := ref(si, s.bib)
	e := t.bibAt(br)
	e.sessions--
	if e.sessions == 0 && !e.static {
		t.deleteBIB(sh, sh4, br, now)
	}
	*s = session{}
	s.next6 = sh.freeSess
	sh.freeSess = r & slabMaxIndex
}

// deleteBIB removes BIB entry br and returns its port to pool4. The caller
// holds both shards.
func (t *natTable) deleteBIB(sh *natShard6, sh4 *natShard4, br uint32, now int64) {
	e := t.bibAt(br)
	pr := int(e.proto) - 1
	unlink(bucket(sh.bibIdx, t.hash6(pr, e.addr6, e.port6)), br, func(r uint32) *uint32 { return &t.bibAt(r).next6 })
	unlink(bucket(sh4.bibIdx, t.hash4(pr, e.addr4, e.port4)), br, func(r uint32) *uint32 { return &t.bibAt(r).next4 })
	sh.nbib--
	sh4.nbib--
	t.nbib.Add(-1)
	t.nbibP[pr].Add(-1)
	if !e.unpooled {
		t.pool.Load().release(pr, e.addr4, e.port4)
	}
	t.events.add(BIBEvent{Time: now, Kind: BIBExpired, proto: uint8(pr), addr6: e.addr6, port6: e.port6, addr4: e.addr4, port4: e.port4})
	t.stats[natStatBIBExpired].Add(1)
	*e = bibEntry{}
	e.next6 = sh.freeBIB
	sh.freeBIB = br & slabMaxIndex
}

// touch applies a packet to the live session r: the TCP state machine,
// then the lifetime. It runs under either shard lock.
func (t *natTable) touch(r uint32, s *session, from6 bool, f tcpFlags, now uint32, to *natTimeouts) {
	life := to.proto[int(s.proto)-1]
	if int(s.proto)-1 == natTCP {
		old := s.state.Load()
		next, l := tcpStep(TCPState(old), from6, f)
		for next != TCPState(old) && !s.state.CompareAndSwap(old, uint32(next)) {
			old = s.state.Load()
			next, l = tcpStep(TCPState(old), from6, f)
		}
		switch l {
		case lifeKeep:
			return
		case lifeTrans:
			life = to.tcpTrans
		case lifeEst:
			life = to.tcpEst
		}
	}
	t.setExpiry(r, s, now+life)
}

// setExpiry sets the expiry of session r and raises its BIB entry's, which
// is the latest of its sessions'.
func (t *natTable) setExpiry(r uint32, s *session, exp uint32) {
	if s.expiry.Load() == exp {
		return
	}
	s.expiry.Store(exp)
	e := t.bibAt(r&^slabMaxIndex | s.bib)
	for {
		old := e.expiry.Load()
		if old >= exp || e.expiry.CompareAndSwap(old, exp) {
			return
		}
	}
}

// natTimeouts are the session lifetimes in seconds.
type natTimeouts struct {
	proto    [natProtos]uint32 // UDP and ICMP (TCP's entry unused)
	tcpEst   uint32
	tcpTrans uint32
}

// hostCounts counts the live sessions of each IPv6 host and /64, for the
// per-host limits. Sharded by the /64; each shard's lock is a leaf.
type hostCounts struct {
	shards [64]struct {
		mu   sync.Mutex
		host map[u128]int32
		net  map[uint64]int32
		_    [40]byte
	}
}

func newHostCounts() *hostCounts {
	h := &hostCounts{}
	for i := range h.shards {
		h.shards[i].host = map[u128]int32{}
		h.shards[i].net = map[uint64]int32{}
	}
	return h
}

func (h *hostCounts) shard(x u128) int { return int(mix(x.hi, 0x9e3779b97f4a7c15) % 64) }

// acquire counts a new session of host x, unless that would pass a limit
// (0: none). It returns which limit refused it: 0 none, 1 host, 2 /64.
func (h *hostCounts) acquire(x u128, perHost, per64 int64) int {
	s := &h.shards[h.shard(x)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if perHost > 0 && int64(s.host[x]) >= perHost {
		return 1
	}
	if per64 > 0 && int64(s.net[x.hi]) >= per64 {
		return 2
	}
	s.host[x]++
	s.net[x.hi]++
	return 0
}

// count counts a session of host x, whatever the limits.
func (h *hostCounts) count(x u128) {
	s := &h.shards[h.shard(x)]
	s.mu.Lock()
	s.host[x]++
	s.net[x.hi]++
	s.mu.Unlock()
}

func (h *hostCounts) release(x u128) {
	s := &h.shards[h.shard(x)]
	s.mu.Lock()
	if s.host[x]--; s.host[x] <= 0 {
		delete(s.host, x)
	}
	if s.net[x.hi]--; s.net[x.hi] <= 0 {
		delete(s.net, x.hi)
	}
	s.mu.Unlock()
}

// SessionBytes bounds the heap one NAT64 session takes with everything it
// brings in the worst case, that of a flood from spoofed sources: its own
// BIB entry, its share of both families' bucket arrays, its own host and
// /64 counters, and the slack of slabs and bucket arrays that have just
// doubled. TestSessionBytes measures it (up to 311 bytes; 129 when many
// sessions share hosts and the slabs are full, TestMillionSessions).
// cmd/nat64br sizes limits.sessions to the memory it may use with it.
const SessionBytes = 400
