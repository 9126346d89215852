package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BGP configures the embedded BGP speaker (the bgp section). It is nil
// when the section is absent: the feature is off.
type BGP struct {
	ASN         uint32
	RouterID    netip.Addr // default: ipv4-addr
	ListenPort  int        // 0: do not listen, nat64br opens the sessions itself
	Drain       time.Duration
	Communities []uint32 // on every announcement, as ASN<<16 | value
	LocalPref   uint32   // with HasLocalPref: sent to iBGP neighbors
	// HasLocalPref says whether local-pref is set.
	HasLocalPref bool
	Neighbors    []BGPNeighbor
	// Announce sets attributes of some derived prefixes (Announcements).
	Announce []BGPAnnounce
}

// BGPFamily is an address family a BGP session carries.
type BGPFamily string

// Address families.
const (
	BGPIPv4Unicast BGPFamily = "ipv4-unicast"
	BGPIPv6Unicast BGPFamily = "ipv6-unicast"
)

// BGPNeighbor is one BGP peer.
type BGPNeighbor struct {
	Address      netip.Addr
	ASN          uint32
	Password     string        // TCP MD5 (RFC 2385); "" for none
	HoldTime     time.Duration // keepalives every third of it
	LocalAddress netip.Addr    // the host's address the session runs from; invalid: the kernel's choice
	Families     []BGPFamily
}

// BGPAnnounce is the attributes of one announced prefix, added to the
// section's own.
type BGPAnnounce struct {
	Prefix       netip.Prefix
	Communities  []uint32
	LocalPref    uint32
	HasLocalPref bool
}

// DefaultBGPDrain is how long a stopping nat64br keeps translating after
// it withdrew its routes, unless bgp.drain says otherwise.
const DefaultBGPDrain = 5 * time.Second

// DefaultBGPHoldTime is a neighbor's hold time unless it sets hold-time
// (RFC 4271 §10 suggests 90 s).
const DefaultBGPHoldTime = 90 * time.Second

type rawBGP struct {
	ASN         *int64           `yaml:"asn"`
	RouterID    *string          `yaml:"router-id"`
	ListenPort  *int             `yaml:"listen-port"`
	Drain       *string          `yaml:"drain"`
	Communities []string         `yaml:"communities"`
	LocalPref   *int64           `yaml:"local-pref"`
	Neighbors   []rawBGPNeighbor `yaml:"neighbors"`
	Announce    []rawBGPAnnounce `yaml:"announce"`
}

type rawBGPNeighbor struct {
	Address      *string  `yaml:"address"`
	ASN          *int64   `yaml:"asn"`
	Password     *string  `yaml:"password"`
	HoldTime     *string  `yaml:"hold-time"`
	LocalAddress *string  `yaml:"local-address"`
	Families     []string `yaml:"families"`
}

type rawBGPAnnounce struct {
	Prefix      *string  `yaml:"prefix"`
	Communities []string `yaml:"communities"`
	LocalPref   *int64   `yaml:"local-pref"`
}

// Announcements returns the prefixes the BGP speaker announces, derived
// from the configuration: those nat64br answers ARP and ND for. IPv6:
// the RFC 6052 prefix, and the IPv6 side of EAM entries whose node lives
// on the IPv4 side (outside ipv6-subnets, when those are set). IPv4:
// pool4 (mode nat64), the dynamic pool, and the IPv4 side of EAM entries
// whose node lives on the IPv6 side.
func (c *Config) Announcements() (v6, v4 []netip.Prefix) {
	if c.Prefix.IsValid() {
		v6 = append(v6, c.Prefix)
	}
	if c.Mode == ModeNAT64 {
		v4 = append(v4, c.Pool4...)
	}
	if c.DynamicPool.IsValid() {
		v4 = append(v4, c.DynamicPool)
	}
	for _, e := range c.EAM {
		if !e.IPv4.IsValid() || !e.IPv6.IsValid() {
			continue
		}
		if len(c.IPv6Subnets) == 0 || slices.ContainsFunc(c.IPv6Subnets, func(s netip.Prefix) bool { return s.Bits() <= e.IPv6.Bits() && s.Contains(e.IPv6.Addr()) }) {
			v4 = append(v4, e.IPv4)
		} else {
			v6 = append(v6, e.IPv6)
		}
	}
	return v6, v4
}

// buildBGP validates the bgp section into c.BGP.
func (v *validator) buildBGP(r *rawBGP, c *Config) {
	b := &BGP{Drain: DefaultBGPDrain}
	c.BGP = b
	if r.ASN == nil {
		v.errorf("bgp", "asn is missing: the section needs the local AS")
	} else {
		b.ASN = v.asn("bgp.asn", *r.ASN)
	}
	if r.RouterID != nil {
		b.RouterID = v.addr4("bgp.router-id", *r.RouterID)
	}
	if r.ListenPort != nil {
		b.ListenPort = v.intRange("bgp.listen-port", *r.ListenPort, 0, 65535)
	}
	if r.Drain != nil {
		b.Drain = v.duration("bgp.drain", *r.Drain, 0, time.Hour)
	}
	b.Communities = v.communities("bgp.communities", r.Communities)
	if r.LocalPref != nil {
		b.LocalPref, b.HasLocalPref = v.uint32("bgp.local-pref", *r.LocalPref, 0), true
	}
	if len(r.Neighbors) == 0 {
		v.errorf("bgp", "neighbors is missing: the section needs at least one neighbor")
	}
	seen := map[netip.Addr]int{}
	for i, rn := range r.Neighbors {
		p := fmt.Sprintf("bgp.neighbors[%d]", i)
		n := BGPNeighbor{HoldTime: DefaultBGPHoldTime}
		if rn.Address == nil {
			v.errorf(p, "address is missing")
		} else {
			n.Address = v.addr(p+".address", *rn.Address)
			if j, dup := seen[n.Address]; dup && n.Address.IsValid() {
				v.errorf(p+".address", "%s is already bgp.neighbors[%d]", n.Address, j)
			}
			seen[n.Address] = i
		}
		if rn.ASN == nil {
			v.errorf(p, "asn is missing")
		} else {
			n.ASN = v.asn(p+".asn", *rn.ASN)
		}
		if rn.Password != nil {
			n.Password = *rn.Password
			if len(n.Password) > 80 {
				v.errorf(p+".password", "is longer than the 80 bytes of a TCP MD5 key")
			}
		}
		if rn.HoldTime != nil {
			// RFC 4271 §4.2: 0 (no keepalives) or at least 3 s.
			n.HoldTime = v.duration(p+".hold-time", *rn.HoldTime, 0, 65535*time.Second)
			if n.HoldTime != 0 && n.HoldTime < 3*time.Second || n.HoldTime%time.Second != 0 {
				v.errorf(p+".hold-time", "%s: use 0 or whole seconds from 3s (RFC 4271 §4.2)", n.HoldTime)
			}
		}
		if rn.LocalAddress != nil {
			n.LocalAddress = v.addr(p+".local-address", *rn.LocalAddress)
			if n.LocalAddress.IsValid() && n.Address.IsValid() && n.LocalAddress.Is4() != n.Address.Is4() {
				v.errorf(p+".local-address", "%s is not of the family of address %s", n.LocalAddress, n.Address)
			}
		}
		for j, f := range rn.Families {
			switch ff := BGPFamily(f); ff {
			case BGPIPv4Unicast, BGPIPv6Unicast:
				if slices.Contains(n.Families, ff) {
					v.errorf(fmt.Sprintf("%s.families[%d]", p, j), "%s is listed twice", f)
				}
				n.Families = append(n.Families, ff)
			default:
				v.errorf(fmt.Sprintf("%s.families[%d]", p, j), "%q is not a family: use ipv6-unicast or ipv4-unicast", f)
			}
		}
		if len(n.Families) == 0 && n.Address.IsValid() {
			n.Families = []BGPFamily{BGPIPv6Unicast}
			if n.Address.Is4() {
				n.Families = []BGPFamily{BGPIPv4Unicast}
			}
		}
		b.Neighbors = append(b.Neighbors, n)
	}
	for i, ra := range r.Announce {
		p := fmt.Sprintf("bgp.announce[%d]", i)
		var a BGPAnnounce
		if ra.Prefix == nil {
			v.errorf(p, "prefix is missing")
		} else {
			a.Prefix = v.prefix(p+".prefix", *ra.Prefix)
		}
		a.Communities = v.communities(p+".communities", ra.Communities)
		if ra.LocalPref != nil {
			a.LocalPref, a.HasLocalPref = v.uint32(p+".local-pref", *ra.LocalPref, 0), true
		}
		b.Announce = append(b.Announce, a)
	}
}

// crossBGP checks the bgp section against the rest: the router ID, the
// next hops, and the announce entries' prefixes.
func (v *validator) crossBGP(c *Config) {
	b := c.BGP
	if b == nil {
		return
	}
	if !b.RouterID.IsValid() {
		if c.IPv4Addr.IsValid() {
			b.RouterID = c.IPv4Addr
		} else {
			v.errorf("bgp", "router-id is missing, and there is no ipv4-addr to take it from")
		}
	}
	v6, v4 := c.Announcements()
	if len(v6) > 0 && !c.IPv6Addr.IsValid() && !(c.IPv4Addr.IsValid() && c.Prefix.IsValid()) {
		v.errorf("bgp", "the IPv6 announcements (%s) need ipv6-addr for their next hop", listPrefixes(v6))
	}
	if len(v4) > 0 && !c.IPv4Addr.IsValid() {
		v.errorf("bgp", "the IPv4 announcements (%s) need ipv4-addr for their next hop", listPrefixes(v4))
	}
	if len(v6)+len(v4) == 0 {
		v.warnf("bgp", "nothing to announce: no prefix, pool4, dynamic-pool or eam")
	}
	seen := map[netip.Prefix]int{}
	for i, a := range b.Announce {
		if !a.Prefix.IsValid() {
			continue
		}
		p := fmt.Sprintf("bgp.announce[%d].prefix", i)
		if j, dup := seen[a.Prefix]; dup {
			v.errorf(p, "%s is already bgp.announce[%d]", a.Prefix, j)
		}
		seen[a.Prefix] = i
		if !slices.Contains(v6, a.Prefix) && !slices.Contains(v4, a.Prefix) {
			v.errorf(p, "%s is not announced: the announcements are %s (derived from prefix, pool4, dynamic-pool and eam)",
				a.Prefix, listPrefixes(append(v6, v4...)))
		}
	}
	for i, n := range b.Neighbors {
		if slices.Contains(n.Families, BGPIPv4Unicast) && len(v4) == 0 && len(v6) > 0 && !slices.Contains(n.Families, BGPIPv6Unicast) {
			v.warnf(fmt.Sprintf("bgp.neighbors[%d]", i), "carries ipv4-unicast only, and there are only IPv6 announcements: add ipv6-unicast to families")
		}
		if slices.Contains(n.Families, BGPIPv6Unicast) && len(v6) == 0 && len(v4) > 0 && !slices.Contains(n.Families, BGPIPv4Unicast) {
			v.warnf(fmt.Sprintf("bgp.neighbors[%d]", i), "carries ipv6-unicast only, and there are only IPv4 announcements: add ipv4-unicast to families")
		}
	}
}

func listPrefixes(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "none"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func (v *validator) asn(path string, n int64) uint32 {
	if n < 1 || n > 1<<32-1 {
		v.errorf(path, "%d is not an AS number (1..4294967295)", n)
		return 0
	}
	return uint32(n)
}

func (v *validator) uint32(path string, n, lo int64) uint32 {
	if n < lo || n > 1<<32-1 {
		v.errorf(path, "%d is outside %d..4294967295", n, lo)
		return 0
	}
	return uint32(n)
}

// addr parses an IPv4 or IPv6 address without a zone.
func (v *validator) addr(path, s string) netip.Addr {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() {
		v.errorf(path, "%q is not an IPv4 or IPv6 address", s)
		return netip.Addr{}
	}
	return a
}

// prefix parses an IPv4 or IPv6 prefix.
func (v *validator) prefix(path, s string) netip.Prefix {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || p.Addr().Is4In6() {
		v.errorf(path, "%q is not an IPv4 or IPv6 prefix", s)
		return netip.Prefix{}
	}
	if p != p.Masked() {
		v.errorf(path, "%s has bits set beyond the prefix length (did you mean %s?)", p, p.Masked())
		return netip.Prefix{}
	}
	return p
}

// wellKnownCommunities are the RFC 1997 names accepted besides ASN:value.
var wellKnownCommunities = map[string]uint32{
	"no-export":           0xFFFFFF01,
	"no-advertise":        0xFFFFFF02,
	"no-export-subconfed": 0xFFFFFF03,
	"blackhole":           0xFFFF029A, // RFC 7999
}

// communities parses RFC 1997 communities: "ASN:value" with 16-bit
// halves, or a well-known name.
func (v *validator) communities(path string, ss []string) []uint32 {
	var out []uint32
	for i, s := range ss {
		p := fmt.Sprintf("%s[%d]", path, i)
		if c, ok := ParseCommunity(s); ok {
			out = append(out, c)
		} else {
			v.errorf(p, "%q is not a community: use ASN:value (each 0..65535) or no-export, no-advertise, no-export-subconfed", s)
		}
	}
	return out
}

// ParseCommunity parses an RFC 1997 community, "ASN:value" with 16-bit
// halves or a well-known name (no-export, no-advertise,
// no-export-subconfed, blackhole).
func ParseCommunity(s string) (uint32, bool) {
	s = strings.TrimSpace(s)
	if c, ok := wellKnownCommunities[strings.ToLower(s)]; ok {
		return c, true
	}
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	a, err1 := strconv.ParseUint(hi, 10, 16)
	b, err2 := strconv.ParseUint(lo, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return uint32(a)<<16 | uint32(b), true
}
