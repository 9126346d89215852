package config

import (
	"fmt"
	"strings"
)

// NextHops describes, one line per side, where run sends the translated
// packets of each side: which destinations are resolved on the link and
// which go to a gateway. check-config prints it, so an operator sees what
// the keys add up to before a packet is lost.
func (c *Config) NextHops() (ipv4, ipv6 string) {
	switch {
	case c.Gateway.IsValid() && c.IPv4Subnet.IsValid():
		ipv4 = fmt.Sprintf("%s resolved with ARP; every other destination via gateway %s", c.IPv4Subnet, c.Gateway)
	case c.Gateway.IsValid():
		ipv4 = fmt.Sprintf("every destination via gateway %s", c.Gateway)
	case c.IPv4Subnet.IsValid():
		ipv4 = fmt.Sprintf("%s resolved with ARP; others (no gateway) resolved with ARP too: reached once they have sent, or through a proxy-ARP router", c.IPv4Subnet)
	default:
		ipv4 = "no gateway, no ipv4-subnet: every destination resolved with ARP on the link, reached once it has sent or through a proxy-ARP router"
	}
	subnets := make([]string, len(c.IPv6Subnets))
	for i, p := range c.IPv6Subnets {
		subnets[i] = p.String()
	}
	on := strings.Join(subnets, ", ")
	switch {
	case c.Gateway6.IsValid() && on != "":
		ipv6 = fmt.Sprintf("%s and link-local resolved with NS; every other destination via gateway6 %s", on, c.Gateway6)
	case c.Gateway6.IsValid():
		ipv6 = fmt.Sprintf("link-local resolved with NS; every other destination via gateway6 %s", c.Gateway6)
	case on != "":
		ipv6 = fmt.Sprintf("%s resolved with NS; hosts elsewhere (no gateway6) learned from their frames: reached through their router once they have sent (set gateway6 to reach them first)", on)
	default:
		ipv6 = "learning mode (no gateway6): every host learned from its frames, on-link or through its router, reached once it has sent; others resolved with NS on the link"
	}
	return ipv4, ipv6
}

// crossNextHops warns about next-hop keys that leave run no way to reach
// routed destinations.
func (v *validator) crossNextHops(c *Config) {
	if c.IPv4Interface != "" && !c.Gateway.IsValid() && !c.IPv4Subnet.IsValid() {
		v.warnf("ipv4-interface", "neither gateway nor ipv4-subnet is set: every IPv4 destination is resolved with ARP on the link, and a router does not answer for the hosts behind it (only a proxy-ARP router does); set gateway to the IPv4 router's address")
	}
	if c.Gateway.IsValid() && c.IPv4Subnet.IsValid() && !c.IPv4Subnet.Contains(c.Gateway) {
		v.warnf("gateway", "%s is outside ipv4-subnet %s; it is resolved with ARP all the same", c.Gateway, c.IPv4Subnet)
	}
}
