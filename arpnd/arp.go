package arpnd

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

// ARPOptions configure the IPv4 side.
type ARPOptions struct {
	// MAC is the port's address.
	MAC MAC

	// Addr is the translator's own IPv4 address (ipv4-addr): answered for,
	// announced with gratuitous ARP, and the source of ARP requests.
	Addr netip.Addr

	// Owned are the other addresses nat64br answers ARP for: the IPv4
	// prefixes of EAM entries whose node is on the IPv6 side, pool4, the
	// dynamic pool.
	Owned []netip.Prefix

	// Subnet is the on-link IPv4 subnet: a destination inside it is its
	// own next hop.
	Subnet netip.Prefix

	// Gateway is the next hop for destinations outside Subnet (all of
	// them, without a Subnet). Without a gateway every destination is
	// resolved on-link, and the sources of received frames are learned.
	Gateway netip.Addr

	// Cache tunes the neighbor cache.
	Cache CacheOptions
}

// ARP answers ARP requests for the addresses nat64br owns on the IPv4 side
// and resolves IPv4 next hops (RFC 826). Handle and NextHop are called by
// the data path; Announce and the cache's Tick by a control goroutine.
type ARP struct {
	cfg   atomic.Pointer[arpConfig]
	cache *Cache
	probe []byte // request frame buffer, used under the cache lock

	stats arpCounters
}

type arpConfig struct {
	ARPOptions
	own    [4]byte
	hasOwn bool
	// The subnet's network and broadcast addresses, if it has them (a
	// /30 or larger).
	network, broadcast [4]byte
	hasEnds            bool
}

type arpCounters struct {
	requests, answered, replies, ignored, malformed, conflicts, gratuitous atomic.Uint64
}

// ARPStats are the IPv4 side's ARP counters.
type ARPStats struct {
	Requests   uint64 // requests received
	Answered   uint64 // requests answered
	Replies    uint64 // replies received
	Ignored    uint64 // requests for addresses nat64br does not own
	Malformed  uint64 // frames that are not Ethernet/IPv4 ARP
	Conflicts  uint64 // frames from another host claiming ipv4-addr
	Gratuitous uint64 // gratuitous ARPs sent
}

// NewARP returns the IPv4 side's responder and resolver. Frames go out
// through s. onFail receives the IPv4 packets held for a next hop that did
// not answer.
func NewARP(opts ARPOptions, s Sender, onFail func(pkt []byte)) (*ARP, error) {
	a := &ARP{probe: make([]byte, header.EthernetLen+arpLen)}
	if err := a.Reconfigure(opts); err != nil {
		return nil, err
	}
	a.cache = newCache(opts.Cache, s, a.sendRequest, onFail)
	a.cache.resolvable = func(k [16]byte) bool { return a.cfg.Load().resolvable([4]byte(k[12:16])) }
	return a, nil
}

// Reconfigure replaces the addresses and routes; the neighbor cache stays.
func (a *ARP) Reconfigure(opts ARPOptions) error {
	c := &arpConfig{ARPOptions: opts}
	if opts.Addr.IsValid() {
		if !opts.Addr.Is4() {
			return fmt.Errorf("arp: %s is not an IPv4 address", opts.Addr)
		}
		c.own, c.hasOwn = opts.Addr.As4(), true
	}
	if opts.Gateway.IsValid() && !opts.Gateway.Is4() {
		return fmt.Errorf("arp: gateway %s is not an IPv4 address", opts.Gateway)
	}
	if s := opts.Subnet; s.IsValid() && s.Addr().Is4() && s.Bits() <= 30 {
		c.network = s.Masked().Addr().As4()
		host := ^uint32(0) >> s.Bits()
		binary.BigEndian.PutUint32(c.broadcast[:], binary.BigEndian.Uint32(c.network[:])|host)
		c.hasEnds = true
	}
	a.cfg.Store(c)
	return nil
}

// Cache returns the IPv4 neighbor cache.
func (a *ARP) Cache() *Cache { return a.cache }

// Owns reports whether nat64br answers ARP for ip.
func (a *ARP) Owns(ip [4]byte) bool {
	c := a.cfg.Load()
	if c.hasOwn && ip == c.own {
		return true
	}
	addr := netip.AddrFrom4(ip)
	for _, p := range c.Owned {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// NextHop returns the cache key of the neighbor an IPv4 packet for dst goes
// to: the gateway, unless dst is inside the subnet or there is no gateway;
// dst itself then (with neither set, every destination is resolved on-link:
// learned from its frames, or answered by a proxy-ARP router).
func (a *ARP) NextHop(dst [4]byte) [16]byte {
	c := a.cfg.Load()
	if !c.Gateway.IsValid() || c.Subnet.IsValid() && c.Subnet.Contains(netip.AddrFrom4(dst)) {
		return Key4(dst)
	}
	return Key4(c.Gateway.As4())
}

// resolvable reports whether ip may be a neighbor: not 0.0.0.0, a loopback,
// multicast or broadcast address, the subnet's network or broadcast
// address, nor ipv4-addr. nat64br sends no ARP request for the others.
func (c *arpConfig) resolvable(ip [4]byte) bool {
	switch {
	case ip == [4]byte{}, ip[0] == 127, ip[0] >= 224, c.hasOwn && ip == c.own:
		return false
	case c.hasEnds && (ip == c.network || ip == c.broadcast):
		return false
	}
	return true
}

// onLink reports whether ip is a neighbor worth learning: inside the
// subnet, the gateway, or anything when there is no gateway (the frame's
// source MAC is then the way back, to the host or to its router); never
// an address that cannot be a neighbor (resolvable).
func (c *arpConfig) onLink(ip [4]byte) bool {
	if !c.resolvable(ip) {
		return false
	}
	a := netip.AddrFrom4(ip)
	return !c.Gateway.IsValid() || c.Gateway == a || c.Subnet.IsValid() && c.Subnet.Contains(a)
}

// Learn records the source of an IPv4 frame received from the link, when
// it is on-link: its MAC is the way back to it.
func (a *ARP) Learn(f []byte, now time.Time) {
	if len(f) < header.EthernetLen+20 {
		return
	}
	src, mac := header.IPv4(f[header.EthernetLen:]).Src(), header.Ethernet(f).Src()
	c := a.cfg.Load()
	if mac[0]&1 == 0 && mac != c.MAC && c.onLink(src) {
		a.cache.Learn(Key4(src), mac, now)
	}
}

// Handle processes the ARP frame f received at now. If it needs an answer,
// the reply frame is written into out (at least 42 bytes) and its length
// returned; otherwise 0.
func (a *ARP) Handle(f, out []byte, now time.Time) int {
	c := a.cfg.Load()
	if len(f) < header.EthernetLen+arpLen {
		a.stats.malformed.Add(1)
		return 0
	}
	p := f[header.EthernetLen:]
	if binary.BigEndian.Uint16(p[0:]) != 1 || binary.BigEndian.Uint16(p[2:]) != header.EtherTypeIPv4 || p[4] != 6 || p[5] != 4 {
		a.stats.malformed.Add(1)
		return 0
	}
	op := binary.BigEndian.Uint16(p[6:])
	sha, spa := MAC(p[8:14]), [4]byte(p[14:18])
	tpa := [4]byte(p[24:28])
	if sha[0]&1 != 0 || sha == c.MAC || (op != arpRequest && op != arpReply) {
		a.stats.malformed.Add(1)
		return 0
	}
	if c.hasOwn && spa == c.own {
		a.stats.conflicts.Add(1) // someone else claims our address
		return 0
	}
	// RFC 826 "merge": learn the sender, unless it is an ARP probe (RFC
	// 5227: sender address 0.0.0.0).
	if spa != ([4]byte{}) && c.onLink(spa) {
		if op == arpReply {
			a.cache.Confirm(Key4(spa), sha, now)
		} else {
			a.cache.LearnOwn(Key4(spa), sha, now)
		}
	}
	if op == arpReply {
		a.stats.replies.Add(1)
		return 0
	}
	a.stats.requests.Add(1)
	if spa == tpa || !a.Owns(tpa) {
		a.stats.ignored.Add(1) // gratuitous ARP of another host, or not ours
		return 0
	}
	a.stats.answered.Add(1)
	header.Ethernet(out).Set(sha, c.MAC, header.EtherTypeARP)
	putARP(out[header.EthernetLen:], arpReply, c.MAC, tpa, sha, spa)
	return header.EthernetLen + arpLen
}

// sendRequest sends an ARP request for target: broadcast, or unicast to the
// known address when reprobing. Called with the cache lock held.
func (a *ARP) sendRequest(target [16]byte, unicast *MAC) {
	c := a.cfg.Load()
	dst := header.BroadcastMAC
	if unicast != nil {
		dst = *unicast
	}
	header.Ethernet(a.probe).Set(dst, c.MAC, header.EtherTypeARP)
	putARP(a.probe[header.EthernetLen:], arpRequest, c.MAC, c.own, MAC{}, [4]byte(target[12:16]))
	_, _ = a.cache.sender.WriteBatch([][]byte{a.probe}, 0)
}

// Announce sends a gratuitous ARP request for ipv4-addr (RFC 5227 §3), so
// neighbors refresh their caches when nat64br starts.
func (a *ARP) Announce() error {
	c := a.cfg.Load()
	if !c.hasOwn {
		return nil
	}
	f := make([]byte, header.EthernetLen+arpLen)
	header.Ethernet(f).Set(header.BroadcastMAC, c.MAC, header.EtherTypeARP)
	putARP(f[header.EthernetLen:], arpRequest, c.MAC, c.own, MAC{}, c.own)
	a.stats.gratuitous.Add(1)
	_, err := a.cache.sender.WriteBatch([][]byte{f}, 0)
	return err
}

// Stats returns the ARP counters.
func (a *ARP) Stats() ARPStats {
	return ARPStats{
		Requests: a.stats.requests.Load(), Answered: a.stats.answered.Load(), Replies: a.stats.replies.Load(),
		Ignored: a.stats.ignored.Load(), Malformed: a.stats.malformed.Load(), Conflicts: a.stats.conflicts.Load(),
		Gratuitous: a.stats.gratuitous.Load(),
	}
}
