package arpnd

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

// Router Advertisements (RFC 4861 §6.2) carrying a Route Information option
// for the NAT64 prefix (RFC 4191 §2.3) and the PREF64 option (RFC 8781), so
// IPv6 hosts reach the prefix without a static route and CLATs learn it.

// routerSolicitation answers a Router Solicitation (RFC 4861 §6.1.1,
// §6.2.6) with an advertisement to all-nodes, at most one a second.
func (n *ND) routerSolicitation(src [16]byte, m, out []byte, now time.Time) int {
	n.stats.routerSolicits.Add(1)
	c := n.cfg.Load()
	_, hasSLL, ok := ndOptions(m[min(8, len(m)):], optSLLA)
	if len(m) < 8 || !ok || (src == unspecified && hasSLL) {
		n.stats.invalid.Add(1)
		return 0
	}
	if !c.RA.Enabled {
		return 0
	}
	n.raMu.Lock()
	defer n.raMu.Unlock()
	if now.Sub(n.raLast) < time.Second {
		return 0 // rate limit (RFC 4861 §6.2.6 MIN_DELAY_BETWEEN_RAS is 3 s; 1 s is kinder to hosts)
	}
	n.raLast = now
	n.stats.ras.Add(1)
	return n.putRA(out, c)
}

// Tick sends the periodic advertisements: three quickly after start or a
// change (RFC 4861 §6.2.4), then every Interval.
func (n *ND) Tick(now time.Time) {
	c := n.cfg.Load()
	if !c.RA.Enabled {
		return
	}
	n.raMu.Lock()
	if !n.raNext.IsZero() && now.Before(n.raNext) {
		n.raMu.Unlock()
		return
	}
	gap := c.RA.Interval
	if n.raCount < 3 {
		gap = min(gap, 4*time.Second) // MAX_INITIAL_RTR_ADVERT_INTERVAL is 16 s
	}
	n.raCount++
	n.raNext, n.raLast = now.Add(gap), now
	f := make([]byte, header.EthernetLen+header.IPv6Len+256)
	l := n.putRA(f, c)
	n.raMu.Unlock()
	n.stats.ras.Add(1)
	_, _ = n.cache.sender.WriteBatch([][]byte{f[:l]}, 0)
}

// putRA writes a Router Advertisement to all-nodes into out.
func (n *ND) putRA(out []byte, c *ndConfig) int {
	ra := c.RA
	m := out[header.EthernetLen+header.IPv6Len:]
	clear(m[:16])
	m[0] = icmpRA
	m[4] = 64 // Cur Hop Limit
	binary.BigEndian.PutUint16(m[6:], uint16(min(ra.RouterLifetime/time.Second, 9000)))
	l := 16
	// Source link-layer address.
	m[l], m[l+1] = optSLLA, 1
	copy(m[l+2:l+8], c.MAC[:])
	l += 8
	if ra.MTU > 0 {
		clear(m[l : l+8])
		m[l], m[l+1] = optMTU, 1
		putUint32(m[l+4:], uint32(ra.MTU))
		l += 8
	}
	lifetime := uint32(3 * ra.Interval / time.Second)
	routes := ra.Routes
	if ra.Prefix.IsValid() {
		routes = append([]netip.Prefix{ra.Prefix}, routes...)
	}
	for _, p := range routes {
		if l+24 > 256 {
			break
		}
		l += putRIO(m[l:], p, lifetime)
	}
	if ra.Prefix.IsValid() {
		if plc, ok := pref64Code(ra.Prefix.Bits()); ok {
			clear(m[l : l+16])
			m[l], m[l+1] = optPREF64, 2
			binary.BigEndian.PutUint16(m[l+2:], pref64Lifetime(lifetime)<<3|uint16(plc))
			a := ra.Prefix.Addr().As16()
			copy(m[l+4:l+16], a[:12])
			l += 16
		}
	}
	header.Ethernet(out).Set(MulticastMAC(allNodes), c.MAC, header.EtherTypeIPv6)
	putIPv6(out[header.EthernetLen:], n.linkLocal, allNodes, l, 255)
	icmp6Checksum(out[header.EthernetLen:])
	return header.EthernetLen + header.IPv6Len + l
}

// putRIO writes a Route Information option for p (RFC 4191 §2.3), medium
// preference, and returns its length.
func putRIO(b []byte, p netip.Prefix, lifetime uint32) int {
	n := 8
	switch {
	case p.Bits() > 64:
		n = 24
	case p.Bits() > 0:
		n = 16
	}
	clear(b[:n])
	b[0], b[1], b[2] = optRIO, byte(n/8), byte(p.Bits())
	putUint32(b[4:], lifetime)
	a := p.Addr().As16()
	copy(b[8:n], a[:n-8])
	return n
}

// pref64Lifetime is the Scaled Lifetime of a PREF64 option valid for
// lifetime seconds: in units of 8 seconds, rounded up, at most 8191 (RFC
// 8781 §4: a lifetime that is not a multiple of 8 is rounded up, so the
// prefix does not expire before the next advertisement).
func pref64Lifetime(lifetime uint32) uint16 {
	return uint16((min(lifetime, 65528) + 7) / 8)
}

// pref64Code is the Prefix Length Code of RFC 8781 §4.
func pref64Code(bits int) (uint8, bool) {
	switch bits {
	case 96:
		return 0, true
	case 64:
		return 1, true
	case 56:
		return 2, true
	case 48:
		return 3, true
	case 40:
		return 4, true
	case 32:
		return 5, true
	}
	return 0, false
}
