package xlat

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
)

// PortRange is an inclusive range of ports (or ICMP identifiers). The zero
// PortRange means every value: 1-65535 for ports, 0-65535 for identifiers.
type PortRange struct{ Lo, Hi uint16 }

// NAT64 protocols, as indexes into per-protocol arrays.
const (
	natTCP = iota
	natUDP
	natICMP
	natProtos
)

// natProto returns the index of an IPv4 protocol number (ICMPv6 counts as
// ICMP), or -1.
func natProto(p uint8) int {
	switch p {
	case 6:
		return natTCP
	case 17:
		return natUDP
	case 1, 58:
		return natICMP
	}
	return -1
}

// pool4 is the set of IPv4 transport addresses stateful NAT64 hands out
// (RFC 6146 §3.5.1.1): addresses, each with one port set per protocol.
type pool4 struct {
	nets   []range4 // the configured prefixes, for membership tests
	addrs  []uint32 // every address, sorted
	ranges [natProtos]PortRange
	sets   []portSet // len(addrs)*natProtos, by address index then protocol
}

// portSet is the ports of one protocol on one pool4 address: a bitmap over
// the configured range, allocated at first use, with its own lock (a leaf
// in the lock order: nothing is locked while it is held).
type portSet struct {
	mu   sync.Mutex
	used []uint64
	free int
}

// maxPool4 bounds the addresses of pool4: each costs three port sets, and
// each port set 8 KiB once used.
const maxPool4 = 1 << 16

// portRanges returns the port ranges of o's pool4, by protocol, with the
// zero PortRange made explicit.
func portRanges(o *NATOptions) [natProtos]PortRange {
	out := [natProtos]PortRange{o.TCPPorts, o.UDPPorts, o.ICMPIDs}
	for i, r := range out {
		if r == (PortRange{}) {
			r = PortRange{1, 65535}
			if i == natICMP {
				r.Lo = 0
			}
		}
		out[i] = r
	}
	return out
}

func newPool4(prefixes []netip.Prefix, ranges [natProtos]PortRange) (*pool4, error) {
	p := &pool4{}
	for i, r := range portRanges(&NATOptions{TCPPorts: ranges[natTCP], UDPPorts: ranges[natUDP], ICMPIDs: ranges[natICMP]}) {
		if r.Lo > r.Hi {
			return p, fmt.Errorf("pool4 port range %d-%d is empty", r.Lo, r.Hi)
		}
		p.ranges[i] = r
	}
	for _, pr := range prefixes {
		if !pr.IsValid() || !pr.Addr().Is4() {
			return p, fmt.Errorf("pool4 %s is not an IPv4 prefix", pr)
		}
		pr = pr.Masked()
		a := pr.Addr().As4()
		net := binary.BigEndian.Uint32(a[:])
		n := uint64(1) << (32 - pr.Bits())
		if uint64(len(p.addrs))+n > maxPool4 {
			return p, fmt.Errorf("pool4 holds more than %d addresses", maxPool4)
		}
		p.nets = append(p.nets, range4{net, ^uint32(n - 1)})
		for i := uint64(0); i < n; i++ {
			v := net + uint32(i)
			if reserved4(v) {
				return p, fmt.Errorf("pool4 %s holds the reserved address %s", pr, addr4(v))
			}
			p.addrs = append(p.addrs, v)
		}
	}
	slices.Sort(p.addrs)
	if len(slices.Compact(slices.Clone(p.addrs))) != len(p.addrs) {
		return p, fmt.Errorf("pool4 prefixes overlap")
	}
	p.sets = make([]portSet, len(p.addrs)*natProtos)
	return p, nil
}

// contains reports whether a is a pool4 address.
func (p *pool4) contains(a uint32) bool { return inRanges(p.nets, a) }

// inRanges reports whether a lies in one of nets.
func inRanges(nets []range4, a uint32) bool {
	for _, r := range nets {
		if a&r.mask == r.net {
			return true
		}
	}
	return false
}

// same reports whether p and q hand out the same addresses and ports.
func (p *pool4) same(q *pool4) bool {
	return slices.Equal(p.nets, q.nets) && p.ranges == q.ranges
}

// index returns the position of the pool4 address a, or -1.
func (p *pool4) index(a uint32) int {
	i, ok := slices.BinarySearch(p.addrs, a)
	if !ok {
		return -1
	}
	return i
}

func (p *pool4) set(addr, proto int) *portSet { return &p.sets[addr*natProtos+proto] }

// alloc picks an IPv4 transport address for a new BIB entry of the IPv6
// host whose address hashes to host, for its port port6 (RFC 6146
// §3.5.1.1). Paired pooling: the host's addresses are tried in the same
// order every time, so all its flows leave from one address while its ports
// last. Inside an address the port is preserved if it is free (and with it
// parity and range), else a port of the same parity and range (0-1023 or
// 1024-65535) is taken from a pseudo-random starting point (RFC 6056 §3.3.3,
// salt h), else any free port.
func (p *pool4) alloc(proto int, host uint64, port6 uint16, h uint64) (uint32, uint16, bool) {
	n := len(p.addrs)
	if n == 0 {
		return 0, 0, false
	}
	start := int(host % uint64(n))
	for i := 0; i < n; i++ {
		a := (start + i) % n
		if port, ok := p.set(a, proto).take(p.ranges[proto], port6, h); ok {
			return p.addrs[a], port, true
		}
	}
	return 0, 0, false
}

// reserve marks the port of address a as used: for a static BIB entry, or
// to honour a preferred address. It reports whether the port was free (or
// lies outside the dynamic range, where it cannot collide).
func (p *pool4) reserve(proto int, a uint32, port uint16) bool {
	i := p.index(a)
	if i < 0 {
		return false
	}
	r := p.ranges[proto]
	if port < r.Lo || port > r.Hi {
		return true
	}
	s := p.set(i, proto)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init(r)
	b := int(port - r.Lo)
	if s.used[b>>6]&(1<<(b&63)) != 0 {
		return false
	}
	s.used[b>>6] |= 1 << (b & 63)
	s.free--
	return true
}

// release frees a port handed out by alloc or reserve.
func (p *pool4) release(proto int, a uint32, port uint16) {
	i := p.index(a)
	if i < 0 {
		return
	}
	r := p.ranges[proto]
	if port < r.Lo || port > r.Hi {
		return
	}
	s := p.set(i, proto)
	s.mu.Lock()
	b := int(port - r.Lo)
	if s.used != nil && s.used[b>>6]&(1<<(b&63)) != 0 {
		s.used[b>>6] &^= 1 << (b & 63)
		s.free++
	}
	s.mu.Unlock()
}

// init allocates the bitmap on first use. The caller holds s.mu.
func (s *portSet) init(r PortRange) {
	if s.used == nil {
		n := int(r.Hi-r.Lo) + 1
		s.used = make([]uint64, (n+63)/64)
		s.free = n
	}
}

// take allocates a port of range r for the IPv6 port want; see alloc.
func (s *portSet) take(r PortRange, want uint16, h uint64) (uint16, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init(r)
	if s.free == 0 {
		return 0, false
	}
	lo, hi := int(r.Lo), int(r.Hi)
	if w := int(want); w >= lo && w <= hi {
		if b := w - lo; s.used[b>>6]&(1<<(b&63)) == 0 {
			s.mark(b)
			return want, true
		}
	}
	// The range class of want (RFC 6146 §3.5.1.1: 0-1023, 1024-65535).
	clo, chi := max(lo, 1024), hi
	olo, ohi := lo, min(hi, 1023)
	if want < 1024 {
		clo, chi, olo, ohi = olo, ohi, clo, chi
	}
	parity := uint64(0x5555555555555555) // bits whose port has lo's parity
	if (int(want)-lo)&1 != 0 {
		parity = ^parity
	}
	for _, c := range [2][2]int{{clo, chi}, {olo, ohi}} {
		if c[0] > c[1] {
			continue
		}
		a, z := c[0]-lo, c[1]-lo
		start := a + int(h%uint64(z-a+1))
		for _, m := range [2]uint64{parity, ^uint64(0)} {
			b := s.scan(start, z, m)
			if b < 0 {
				b = s.scan(a, start-1, m)
			}
			if b >= 0 {
				s.mark(b)
				return uint16(lo + b), true
			}
		}
	}
	return 0, false
}

func (s *portSet) mark(b int) {
	s.used[b>>6] |= 1 << (b & 63)
	s.free--
}

// scan returns the first free bit in [a, z] whose position is selected by
// mask m (repeated every 64 bits), or -1.
func (s *portSet) scan(a, z int, m uint64) int {
	for a <= z {
		w := a >> 6
		free := ^s.used[w] & m & (^uint64(0) << (a & 63))
		if w == z>>6 {
			free &= ^uint64(0) >> (63 - z&63)
		}
		if free != 0 {
			return w<<6 + bits.TrailingZeros64(free)
		}
		a = (w + 1) << 6
	}
	return -1
}
