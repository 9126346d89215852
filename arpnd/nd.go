package arpnd

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

// NDOptions configure the IPv6 side.
type NDOptions struct {
	// MAC is the port's address; the link-local address derives from it.
	MAC MAC

	// Addr is the translator's own IPv6 address (ipv6-addr).
	Addr netip.Addr

	// Proxy are the prefixes nat64br answers Neighbor Solicitations for on
	// behalf of the addresses inside (the NAT64 prefix, EAM IPv6 prefixes
	// whose node is on the IPv4 side), so hosts may treat them as on-link.
	// Proxy advertisements clear the Override flag (RFC 4861 §7.2.8), so a
	// real owner's advertisement wins.
	Proxy []netip.Prefix

	// Subnets are the on-link IPv6 prefixes: a destination inside is its
	// own next hop.
	Subnets []netip.Prefix

	// Gateway is the next hop for destinations outside Subnets (gateway6).
	// Without one, destinations are resolved on-link and the sources of
	// received frames are learned, wherever they are: a host behind a
	// router is reached through the router's MAC once it has sent.
	Gateway netip.Addr

	// RA configures Router Advertisements.
	RA RAOptions

	// Cache tunes the neighbor cache.
	Cache CacheOptions
}

// RAOptions configure Router Advertisements (RFC 4861 §6.2), off unless
// Enabled.
type RAOptions struct {
	Enabled bool

	// Interval is the longest time between unsolicited advertisements
	// (MaxRtrAdvInterval; default 60 s).
	Interval time.Duration

	// RouterLifetime makes nat64br a default router for this long; 0
	// (the default) advertises only the routes below.
	RouterLifetime time.Duration

	// Prefix is the NAT64 prefix, advertised as a Route Information option
	// (RFC 4191) and a PREF64 option (RFC 8781).
	Prefix netip.Prefix

	// Routes are more prefixes to advertise as Route Information options.
	Routes []netip.Prefix

	// MTU, if set, is advertised in an MTU option.
	MTU int
}

// ND answers Neighbor Discovery on the IPv6 side and resolves IPv6 next
// hops (RFC 4861), sends Router Advertisements when asked to, and answers
// pings to its link-local address. Handle and NextHop are called by the
// data path; Announce and Tick by a control goroutine.
type ND struct {
	cfg       atomic.Pointer[ndConfig]
	cache     *Cache
	probe     []byte // NS buffer, used under the cache lock
	linkLocal [16]byte

	raMu    sync.Mutex
	raNext  time.Time
	raLast  time.Time
	raCount int

	stats ndCounters
}

type ndConfig struct {
	NDOptions
	own    [16]byte
	hasOwn bool
	// anycast are the subnet-router anycast addresses of Subnets (RFC
	// 4291 §2.6.1): a router's, not a neighbor to solicit.
	anycast [][16]byte
}

type ndCounters struct {
	solicits, answered, proxied, adverts, ignored, invalid, dad, routerSolicits, ras, echo, unsolicited atomic.Uint64
}

// NDStats are the IPv6 side's Neighbor Discovery counters.
type NDStats struct {
	Solicitations  uint64 // Neighbor Solicitations received
	Answered       uint64 // answered for nat64br's own addresses
	Proxied        uint64 // answered by proxy for the NAT64 prefix or an EAM prefix
	Advertisements uint64 // Neighbor Advertisements received
	Ignored        uint64 // solicitations for addresses nat64br does not answer for
	Invalid        uint64 // ND messages that fail RFC 4861 validation (hop limit, checksum, lengths, options)
	DAD            uint64 // duplicate address detection probes answered
	RouterSolicits uint64 // Router Solicitations received
	RAs            uint64 // Router Advertisements sent
	Echo           uint64 // echo requests to the link-local address answered
	Unsolicited    uint64 // unsolicited Neighbor Advertisements sent
}

// NewND returns the IPv6 side's Neighbor Discovery. Frames go out through
// s; onFail receives the IPv6 packets held for a next hop that did not
// answer.
func NewND(opts NDOptions, s Sender, onFail func(pkt []byte)) (*ND, error) {
	n := &ND{probe: make([]byte, header.EthernetLen+header.IPv6Len+32), linkLocal: LinkLocal(opts.MAC)}
	if err := n.Reconfigure(opts); err != nil {
		return nil, err
	}
	n.cache = newCache(opts.Cache, s, n.sendSolicit, onFail)
	n.cache.resolvable = func(k [16]byte) bool { return n.cfg.Load().resolvable(k, n.linkLocal) }
	return n, nil
}

// Reconfigure replaces the addresses, routes and RA settings; the neighbor
// cache stays.
func (n *ND) Reconfigure(opts NDOptions) error {
	c := &ndConfig{NDOptions: opts}
	if opts.Addr.IsValid() {
		if !opts.Addr.Is6() || opts.Addr.Is4In6() {
			return fmt.Errorf("nd: %s is not an IPv6 address", opts.Addr)
		}
		c.own, c.hasOwn = opts.Addr.As16(), true
	}
	if opts.Gateway.IsValid() && (!opts.Gateway.Is6() || opts.Gateway.Is4In6()) {
		return fmt.Errorf("nd: gateway6 %s is not an IPv6 address", opts.Gateway)
	}
	if c.RA.Interval == 0 {
		c.RA.Interval = 60 * time.Second
	}
	for _, p := range opts.Subnets {
		if p.Addr().Is6() && p.Bits() < 127 {
			c.anycast = append(c.anycast, p.Masked().Addr().As16())
		}
	}
	n.cfg.Store(c)
	n.raMu.Lock()
	n.raNext, n.raCount = time.Time{}, 0 // advertise the change soon
	n.raMu.Unlock()
	return nil
}

// Cache returns the IPv6 neighbor cache.
func (n *ND) Cache() *Cache { return n.cache }

// LinkLocal returns the port's link-local address.
func (n *ND) LinkLocal() netip.Addr { return netip.AddrFrom16(n.linkLocal) }

// Groups returns the multicast groups the port must join: all-nodes, the
// solicited-node groups of the link-local and own addresses, and
// all-routers when RAs are on.
func (n *ND) Groups() []net.HardwareAddr {
	c := n.cfg.Load()
	gs := []MAC{MulticastMAC(allNodes), MulticastMAC(SolicitedNode(n.linkLocal))}
	if c.hasOwn {
		gs = append(gs, MulticastMAC(SolicitedNode(c.own)))
	}
	if c.RA.Enabled {
		gs = append(gs, MulticastMAC(allRouters))
	}
	out := make([]net.HardwareAddr, len(gs))
	for i, g := range gs {
		out[i] = net.HardwareAddr(append([]byte(nil), g[:]...))
	}
	return out
}

// answers reports whether nat64br answers for target, and whether as a
// proxy (Override clear).
func (c *ndConfig) answers(target [16]byte, linkLocal [16]byte) (ok, proxy bool) {
	if target == linkLocal || (c.hasOwn && target == c.own) {
		return true, false
	}
	a := netip.AddrFrom16(target)
	for _, p := range c.Proxy {
		if p.Contains(a) {
			return true, true
		}
	}
	return false, false
}

// NextHop returns the cache key of the neighbor an IPv6 packet for dst goes
// to: dst itself when it is link-local, inside Subnets, or when no gateway
// is set; else the gateway.
func (n *ND) NextHop(dst [16]byte) [16]byte {
	c := n.cfg.Load()
	if !c.Gateway.IsValid() || (dst[0] == 0xfe && dst[1]&0xc0 == 0x80) {
		return dst
	}
	a := netip.AddrFrom16(dst)
	for _, p := range c.Subnets {
		if p.Contains(a) {
			return dst
		}
	}
	return c.Gateway.As16()
}

// resolvable reports whether a may be a neighbor: not unspecified,
// multicast, loopback, nat64br's own, nor a subnet-router anycast address.
// nat64br sends no Neighbor Solicitation for the others.
func (c *ndConfig) resolvable(a, linkLocal [16]byte) bool {
	if a == unspecified || a[0] == 0xff || a == [16]byte{15: 1} || a == linkLocal || c.hasOwn && a == c.own {
		return false
	}
	for _, ac := range c.anycast {
		if a == ac {
			return false
		}
	}
	return true
}

// onLink reports whether a source is worth learning from a received frame:
// link-local, inside Subnets, the gateway, or anything when there is no
// gateway (the frame's source MAC is then the way back, to the host or to
// its router: a host outside Subnets is reached once it has sent).
func (c *ndConfig) onLink(a [16]byte) bool {
	if a == unspecified || a[0] == 0xff {
		return false
	}
	if !c.Gateway.IsValid() || (a[0] == 0xfe && a[1]&0xc0 == 0x80) {
		return true
	}
	addr := netip.AddrFrom16(a)
	if addr == c.Gateway {
		return true
	}
	for _, p := range c.Subnets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Learn records the source of an IPv6 frame received from the link.
func (n *ND) Learn(f []byte, now time.Time) {
	if len(f) < header.EthernetLen+header.IPv6Len {
		return
	}
	src := header.IPv6(f[header.EthernetLen:]).Src()
	mac := header.Ethernet(f).Src()
	if c := n.cfg.Load(); mac[0]&1 == 0 && mac != c.MAC && c.onLink(src) && c.resolvable(src, n.linkLocal) {
		n.cache.Learn(src, mac, now)
	}
}

// Handle processes an IPv6 frame f received at now. It consumes Neighbor
// Discovery messages (RFC 4861 §4) and packets to the link-local address;
// consumed is false for everything else, which the translator should get.
// An answer, if any, is written into out (at least 1280 bytes) and its
// length returned.
func (n *ND) Handle(f, out []byte, now time.Time) (reply int, consumed bool) {
	if len(f) < header.EthernetLen+header.IPv6Len {
		return 0, false
	}
	ip := header.IPv6(f[header.EthernetLen:])
	dst := ip.Dst()
	toLinkLocal := dst == n.linkLocal
	if ip.NextHeader() != header.ProtoICMPv6 {
		if toLinkLocal {
			return 0, true // nothing but ND and ping is served there
		}
		return 0, false
	}
	plen := ip.PayloadLength()
	if len(f) < header.EthernetLen+header.IPv6Len+plen || plen < 4 {
		return 0, toLinkLocal
	}
	m := f[header.EthernetLen+header.IPv6Len : header.EthernetLen+header.IPv6Len+plen]
	switch m[0] {
	case icmpRS, icmpRA, icmpNS, icmpNA, 137: // 137: redirect
	case header.ICMPv6EchoRequest:
		if toLinkLocal {
			return n.echo(f[:header.EthernetLen+header.IPv6Len+plen], out), true
		}
		return 0, false
	default:
		return 0, toLinkLocal
	}
	// RFC 4861 §6.1, §7.1: hop limit 255, code 0, valid checksum.
	src := ip.Src()
	if ip.HopLimit() != 255 || m[1] != 0 || header.Fold(header.Sum(m, header.PseudoSum6(&src, &dst, header.ProtoICMPv6, plen))) != 0xffff {
		n.stats.invalid.Add(1)
		return 0, true
	}
	switch m[0] {
	case icmpNS:
		return n.solicitation(f, src, dst, m, out, now), true
	case icmpNA:
		n.advertisement(f, src, dst, m, now)
	case icmpRS:
		return n.routerSolicitation(src, m, out, now), true
	}
	return 0, true
}

// solicitation answers a Neighbor Solicitation (RFC 4861 §7.2.3, §7.2.4).
func (n *ND) solicitation(f []byte, src, dst [16]byte, m, out []byte, now time.Time) int {
	n.stats.solicits.Add(1)
	if len(m) < 24 {
		n.stats.invalid.Add(1)
		return 0
	}
	target := [16]byte(m[8:24])
	sll, hasSLL, ok := ndOptions(m[24:], optSLLA)
	dad := src == unspecified
	if !ok || target[0] == 0xff || (dad && (hasSLL || dst != SolicitedNode(target))) {
		n.stats.invalid.Add(1)
		return 0
	}
	c := n.cfg.Load()
	if header.Ethernet(f).Src() == c.MAC || hasSLL && sll == c.MAC {
		n.stats.ignored.Add(1) // our own, looped back: never answered
		return 0
	}
	if !dad && hasSLL && c.onLink(src) && c.resolvable(src, n.linkLocal) {
		n.cache.LearnOwn(src, sll, now) // RFC 4861 §7.2.3
	}
	yes, proxy := c.answers(target, n.linkLocal)
	if !yes {
		n.stats.ignored.Add(1)
		return 0
	}
	flags := byte(naRouter)
	if !proxy {
		flags |= naOverride
	}
	to, toMAC := src, header.Ethernet(f).Src()
	if dad {
		// Defend the address: to all-nodes, not solicited (§7.2.4).
		n.stats.dad.Add(1)
		to, toMAC = allNodes, MulticastMAC(allNodes)
	} else {
		flags |= naSolicited
		if hasSLL {
			toMAC = sll
		}
	}
	if proxy {
		n.stats.proxied.Add(1)
	} else {
		n.stats.answered.Add(1)
	}
	return n.putNA(out, toMAC, to, target, flags)
}

// putNA writes a Neighbor Advertisement for target, with our link-layer
// address, into out.
func (n *ND) putNA(out []byte, toMAC MAC, to, target [16]byte, flags byte) int {
	c := n.cfg.Load()
	const l = 32 // header + target + TLLA option
	header.Ethernet(out).Set(toMAC, c.MAC, header.EtherTypeIPv6)
	putIPv6(out[header.EthernetLen:], target, to, l, 255)
	m := out[header.EthernetLen+header.IPv6Len:]
	clear(m[:l])
	m[0], m[4] = icmpNA, flags
	copy(m[8:24], target[:])
	m[24], m[25] = optTLLA, 1
	copy(m[26:32], c.MAC[:])
	icmp6Checksum(out[header.EthernetLen:])
	return header.EthernetLen + header.IPv6Len + l
}

// advertisement processes a Neighbor Advertisement (RFC 4861 §7.2.5).
func (n *ND) advertisement(f []byte, src, dst [16]byte, m []byte, now time.Time) {
	n.stats.adverts.Add(1)
	if len(m) < 24 {
		n.stats.invalid.Add(1)
		return
	}
	target := [16]byte(m[8:24])
	solicited := m[4]&naSolicited != 0
	tll, hasTLL, ok := ndOptions(m[24:], optTLLA)
	if !ok || target[0] == 0xff || (dst[0] == 0xff && solicited) {
		n.stats.invalid.Add(1)
		return
	}
	if !hasTLL {
		tll = header.Ethernet(f).Src()
	}
	if c := n.cfg.Load(); tll == c.MAC || tll[0]&1 != 0 || !c.resolvable(target, n.linkLocal) {
		n.stats.ignored.Add(1) // ours, looped back, or not a neighbor's
		return
	}
	if solicited {
		n.cache.Confirm(target, tll, now)
	} else if n.cfg.Load().onLink(target) {
		n.cache.LearnOwn(target, tll, now)
	}
}

// echo answers an echo request to the link-local address.
func (n *ND) echo(f, out []byte) int {
	if len(f) > len(out) {
		return 0
	}
	c := n.cfg.Load()
	l := copy(out, f)
	header.Ethernet(out).Set(header.Ethernet(f).Src(), c.MAC, header.EtherTypeIPv6)
	ip := header.IPv6(out[header.EthernetLen:])
	src := ip.Src()
	if src == unspecified || src[0] == 0xff {
		return 0
	}
	ip.SetSrc(&n.linkLocal)
	ip.SetDst(&src)
	ip.SetHopLimit(64)
	out[header.EthernetLen+header.IPv6Len] = header.ICMPv6EchoReply
	icmp6Checksum(out[header.EthernetLen:])
	n.stats.echo.Add(1)
	return l
}

// sendSolicit sends a Neighbor Solicitation for target: to its
// solicited-node group, or unicast when reprobing (RFC 4861 §7.2.2).
// Called with the cache lock held.
func (n *ND) sendSolicit(target [16]byte, unicast *MAC) {
	c := n.cfg.Load()
	dst, dmac := SolicitedNode(target), MulticastMAC(SolicitedNode(target))
	if unicast != nil {
		dst, dmac = target, *unicast
	}
	const l = 32 // header + target + SLLA option
	f := n.probe
	header.Ethernet(f).Set(dmac, c.MAC, header.EtherTypeIPv6)
	putIPv6(f[header.EthernetLen:], n.linkLocal, dst, l, 255)
	m := f[header.EthernetLen+header.IPv6Len:]
	clear(m[:l])
	m[0] = icmpNS
	copy(m[8:24], target[:])
	m[24], m[25] = optSLLA, 1
	copy(m[26:32], c.MAC[:])
	icmp6Checksum(f[header.EthernetLen:])
	_, _ = n.cache.sender.WriteBatch([][]byte{f[:header.EthernetLen+header.IPv6Len+l]}, 0)
}

// Announce sends unsolicited Neighbor Advertisements for the link-local and
// own addresses to all-nodes (RFC 4861 §7.2.6), so neighbors learn the
// port's MAC when nat64br starts.
func (n *ND) Announce() error {
	c := n.cfg.Load()
	targets := [][16]byte{n.linkLocal}
	if c.hasOwn {
		targets = append(targets, c.own)
	}
	f := make([]byte, header.EthernetLen+header.IPv6Len+32)
	for _, t := range targets {
		l := n.putNA(f, MulticastMAC(allNodes), allNodes, t, naRouter|naOverride)
		if _, err := n.cache.sender.WriteBatch([][]byte{f[:l]}, 0); err != nil {
			return err
		}
		n.stats.unsolicited.Add(1)
	}
	return nil
}

// Stats returns the ND counters.
func (n *ND) Stats() NDStats {
	return NDStats{
		Solicitations: n.stats.solicits.Load(), Answered: n.stats.answered.Load(), Proxied: n.stats.proxied.Load(),
		Advertisements: n.stats.adverts.Load(), Ignored: n.stats.ignored.Load(), Invalid: n.stats.invalid.Load(),
		DAD: n.stats.dad.Load(), RouterSolicits: n.stats.routerSolicits.Load(), RAs: n.stats.ras.Load(),
		Echo: n.stats.echo.Load(), Unsolicited: n.stats.unsolicited.Load(),
	}
}

// putUint32 is binary.BigEndian.PutUint32, short.
func putUint32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }
