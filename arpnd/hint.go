package arpnd

import (
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

// Hint remembers one neighbor of one data-path goroutine: the last
// destination it resolved, or the last source it learned. While the same
// host keeps coming and neither the cache's snapshot nor the configuration
// has been replaced, the answer is the one remembered, and the map lookup
// and the on-link checks are skipped. A TCP stream's segments all come
// from one host and go to one next hop, so this is most frames.
//
// The zero value remembers nothing. A Hint is not safe for concurrent use:
// each goroutine keeps its own.
type Hint struct {
	ver  uint64     // the cache's version the answer came from (0: none)
	arp  *arpConfig // the configuration, for a resolution
	nd   *ndConfig
	addr [16]byte // the destination, or the learned source
	key  [16]byte // the destination's next hop
	mac  MAC
}

// Resolve returns the next hop of the IPv4 destination dst (NextHop) and,
// if it is a usable neighbor, its MAC address (Lookup), using h.
func (a *ARP) Resolve(h *Hint, dst [4]byte) (key [16]byte, mac MAC, ok bool) {
	ver, cfg, addr := a.cache.ver.Load(), a.cfg.Load(), Key4(dst)
	if h.ver == ver && h.arp == cfg && h.addr == addr {
		return h.key, h.mac, true
	}
	key = a.NextHop(dst)
	if mac, ok = a.cache.Lookup(key); ok {
		*h = Hint{ver: ver, arp: cfg, addr: addr, key: key, mac: mac}
	}
	return key, mac, ok
}

// Resolve returns the next hop of the IPv6 destination dst (NextHop) and,
// if it is a usable neighbor, its MAC address (Lookup), using h.
func (n *ND) Resolve(h *Hint, dst [16]byte) (key [16]byte, mac MAC, ok bool) {
	ver, cfg := n.cache.ver.Load(), n.cfg.Load()
	if h.ver == ver && h.nd == cfg && h.addr == dst {
		return h.key, h.mac, true
	}
	key = n.NextHop(dst)
	if mac, ok = n.cache.Lookup(key); ok {
		*h = Hint{ver: ver, nd: cfg, addr: dst, key: key, mac: mac}
	}
	return key, mac, ok
}

// LearnHinted is Learn, skipped when h remembers the frame's source and
// MAC in the cache as it is: Learn would change nothing then, whatever
// the configuration says.
func (a *ARP) LearnHinted(h *Hint, f []byte, now time.Time) {
	if len(f) < header.EthernetLen+20 {
		return
	}
	src := Key4(header.IPv4(f[header.EthernetLen:]).Src())
	if h.knows(a.cache, src, f) {
		return
	}
	a.Learn(f, now)
	h.remember(a.cache, src, f)
}

// LearnHinted is Learn, skipped when h remembers the frame's source and
// MAC in the cache as it is: Learn would change nothing then, whatever
// the configuration says.
func (n *ND) LearnHinted(h *Hint, f []byte, now time.Time) {
	if len(f) < header.EthernetLen+40 {
		return
	}
	src := header.IPv6(f[header.EthernetLen:]).Src()
	if h.knows(n.cache, src, f) {
		return
	}
	n.Learn(f, now)
	h.remember(n.cache, src, f)
}

// knows reports whether h, a hint of learning, holds src and the source
// MAC of f in c's current version.
func (h *Hint) knows(c *Cache, src [16]byte, f []byte) bool {
	return h.ver == c.ver.Load() && h.arp == nil && h.nd == nil && h.addr == src && h.mac == header.Ethernet(f).Src()
}

// remember makes h hold src and the source MAC of f if c maps one to the
// other.
func (h *Hint) remember(c *Cache, src [16]byte, f []byte) {
	ver, mac := c.ver.Load(), header.Ethernet(f).Src()
	if m, ok := c.Lookup(src); ok && m == mac {
		*h = Hint{ver: ver, addr: src, mac: mac}
	}
}
