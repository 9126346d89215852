package xlat

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

//go:generate stringer -type=BIBEventKind -linecomment

// BIBEventKind says what happened to a mapping.
type BIBEventKind uint8

// Mapping events.
const (
	_              BIBEventKind = iota
	BIBCreated                  // bib-created
	BIBExpired                  // bib-expired
	MappingCreated              // dynamic-mapping-created
	MappingExpired              // dynamic-mapping-expired
)

// BIBEvent is the creation or removal of a dynamic mapping: a BIB entry of
// stateful NAT64 (an IPv6 transport address and the IPv4 one it shares), or
// a dynamic-pool mapping (addresses only, ports zero). Logged one per line,
// these are the records RFC 6888 §4 asks a carrier-grade NAT to keep for
// abuse tracing.
type BIBEvent struct {
	Time  int64 // unix nanoseconds, on the packet clock
	Kind  BIBEventKind
	proto uint8 // natProto
	addr6 u128
	port6 uint16
	addr4 uint32
	port4 uint16
}

// Proto returns "tcp", "udp", "icmp", or "" for a dynamic-pool mapping.
func (e BIBEvent) Proto() string {
	if e.Kind == MappingCreated || e.Kind == MappingExpired {
		return ""
	}
	return [...]string{"tcp", "udp", "icmp"}[e.proto%natProtos]
}

// IPv6 returns the IPv6 side of the mapping.
func (e BIBEvent) IPv6() netip.AddrPort { return netip.AddrPortFrom(e.addr6.addr6(), e.port6) }

// IPv4 returns the IPv4 side of the mapping.
func (e BIBEvent) IPv4() netip.AddrPort { return netip.AddrPortFrom(addr4(e.addr4), e.port4) }

// When returns the time of the event.
func (e BIBEvent) When() time.Time { return time.Unix(0, e.Time) }

// eventRingSize is how many events wait for the reader before new ones are
// counted as lost.
const eventRingSize = 1 << 14

// eventRing queues mapping events for the goroutine that logs them, so that
// the data path never waits for a log write. Its lock is a leaf.
type eventRing struct {
	on   atomic.Bool
	mu   sync.Mutex
	buf  []BIBEvent
	head int
	n    int
	lost atomic.Uint64
}

func newEventRing(n int, on bool) *eventRing {
	r := &eventRing{buf: make([]BIBEvent, n)}
	r.on.Store(on)
	return r
}

func (r *eventRing) add(e BIBEvent) {
	if r == nil || !r.on.Load() {
		return
	}
	r.mu.Lock()
	if r.n == len(r.buf) {
		r.mu.Unlock()
		r.lost.Add(1)
		return
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
	r.mu.Unlock()
}

// drain moves queued events to out and returns how many.
func (r *eventRing) drain(out []BIBEvent) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := 0
	for k < len(out) && r.n > 0 {
		out[k] = r.buf[r.head]
		r.head = (r.head + 1) % len(r.buf)
		r.n--
		k++
	}
	return k
}

// holdStore keeps the IPv4 SYNs that arrived for a transport address with
// no BIB entry (RFC 6146 §3.5.2.2): each waits 6 seconds for an IPv6 SYN of
// the same flow (a simultaneous open), then is answered with an ICMP port
// unreachable. Its lock is a leaf.
type holdStore struct {
	count atomic.Int32
	mu    sync.Mutex
	e     []heldSYN
}

// heldSYN is one held packet. A hairpinned SYN is kept as the IPv6 packet
// its sender sent (from6), since the error goes back to it in IPv6.
type heldSYN struct {
	used     bool
	from6    bool
	deadline int64 // unix nanoseconds
	a        uint32
	ap       uint16
	y        uint32
	yp       uint16
	n        int
	buf      []byte
}

// heldBytes is how much of a held packet is kept: what an ICMPv6 error
// quotes (an ICMPv4 one quotes less).
const heldBytes = minMTU6 - 48

func (h *holdStore) init(n int) { h.e = make([]heldSYN, max(n, 0)) }

// resize makes room for n held SYNs, keeping the first n held.
func (h *holdStore) resize(n int) {
	n = max(n, 0)
	h.mu.Lock()
	defer h.mu.Unlock()
	if n == len(h.e) {
		return
	}
	e := make([]heldSYN, n)
	k := 0
	for i := range h.e {
		if !h.e[i].used {
			continue
		}
		if k < n {
			e[k] = h.e[i]
			k++
		} else {
			h.count.Add(-1)
		}
	}
	h.e = e
}

func (h *holdStore) pending() bool { return h.count.Load() != 0 }

// hold keeps a copy of pkt, the SYN from (Y, y) to (T, t). A retransmitted
// SYN of a held flow replaces nothing and is dropped; a full store refuses.
func (h *holdStore) hold(pkt []byte, from6 bool, a uint32, ap uint16, y uint32, yp uint16, deadline int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	free := -1
	for i := range h.e {
		e := &h.e[i]
		if !e.used {
			if free < 0 {
				free = i
			}
			continue
		}
		if e.a == a && e.ap == ap && e.y == y && e.yp == yp {
			return true // already held
		}
	}
	if free < 0 {
		return false
	}
	e := &h.e[free]
	if e.buf == nil {
		e.buf = make([]byte, heldBytes)
	}
	*e = heldSYN{used: true, from6: from6, deadline: deadline, a: a, ap: ap, y: y, yp: yp, buf: e.buf}
	e.n = copy(e.buf, pkt)
	h.count.Add(1)
	return true
}

// match returns the transport address a held SYN from (Y, y) was sent to.
func (h *holdStore) match(y uint32, yp uint16) (uint32, uint16, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.e {
		if e := &h.e[i]; e.used && !e.from6 && e.y == y && e.yp == yp {
			return e.a, e.ap, true
		}
	}
	return 0, 0, false
}

// remove drops the held SYNs of the flow (T, t) ← (Y, y).
func (h *holdStore) remove(a uint32, ap uint16, y uint32, yp uint16) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.e {
		if e := &h.e[i]; e.used && e.a == a && e.ap == ap && e.y == y && e.yp == yp {
			e.used = false
			h.count.Add(-1)
		}
	}
}

// expire copies the first held SYN whose deadline has passed into dst and
// forgets it. It returns the packet's length and whether it is IPv6.
func (h *holdStore) expire(now int64, dst []byte) (int, bool, uint32, bool) {
	if !h.pending() {
		return 0, false, 0, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.e {
		if e := &h.e[i]; e.used && e.deadline <= now {
			e.used = false
			h.count.Add(-1)
			return copy(dst, e.buf[:e.n]), e.from6, e.a, true
		}
	}
	return 0, false, 0, false
}

// fragCache remembers, for a few seconds, how the first fragment of a
// fragmented datagram was translated, so that its later fragments, which
// carry no ports, get the same addresses. Fragments that come before their
// first one are dropped. Direct-mapped; its locks are leaves.
type fragCache struct {
	shards [16]struct {
		mu sync.Mutex
		e  []fragEntry
		_  [32]byte
	}
}

type fragEntry struct {
	src     u128 // source address (IPv4 in the low bits)
	dst     u128
	id      uint32
	proto   uint8
	to      u128 // the translated address (the source from IPv6, the destination from IPv4)
	expires int64
}

const (
	fragSlots    = 256 // per shard
	fragLifetime = 30 * int64(time.Second)
)

func (c *fragCache) init() {
	for i := range c.shards {
		c.shards[i].e = make([]fragEntry, fragSlots)
	}
}

func fragKey(src, dst u128, id uint32, proto uint8) uint64 {
	return mix(src.hi^src.lo^uint64(id)<<8^uint64(proto), dst.hi^dst.lo^0x9e3779b97f4a7c15)
}

func (c *fragCache) put(src, dst u128, id uint32, proto uint8, to u128, now int64) {
	h := fragKey(src, dst, id, proto)
	s := &c.shards[h%16]
	s.mu.Lock()
	s.e[(h>>8)%fragSlots] = fragEntry{src, dst, id, proto, to, now + fragLifetime}
	s.mu.Unlock()
}

func (c *fragCache) get(src, dst u128, id uint32, proto uint8, now int64) (u128, bool) {
	h := fragKey(src, dst, id, proto)
	s := &c.shards[h%16]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &s.e[(h>>8)%fragSlots]
	if e.src == src && e.dst == dst && e.id == id && e.proto == proto && e.expires > now {
		return e.to, true
	}
	return u128{}, false
}
