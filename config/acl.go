package config

import (
	"fmt"
	"net/netip"
	"slices"
)

// buildACL validates the access-control keys clients, clients-refusal and
// denylist4 into c; a bare address is a /128 or a /32.
func (v *validator) buildACL(r *raw, c *Config) {
	for i, s := range r.Clients {
		if p := v.prefix6(fmt.Sprintf("clients[%d]", i), s, true); p.IsValid() {
			c.Clients = append(c.Clients, p)
		}
	}
	if r.ClientsRefusal != nil {
		switch m := Refusal(*r.ClientsRefusal); m {
		case RefusalICMP, RefusalDrop:
			c.ClientsRefusal = m
		default:
			v.errorf("clients-refusal", "%q is not a policy: use icmp or drop", *r.ClientsRefusal)
		}
	}
	for i, s := range r.Denylist4 {
		if p := v.prefix4(fmt.Sprintf("denylist4[%d]", i), s, true); p.IsValid() {
			c.Denylist4 = append(c.Denylist4, p)
		}
	}
}

// crossACL warns about port forwards to IPv6 servers that clients leaves
// out: the translator refuses their packets both ways. (An EAM entry's
// IPv6 side may stand for IPv4 hosts, which need not be clients: those
// are not checked.)
func (v *validator) crossACL(c *Config) {
	if len(c.Clients) == 0 || c.Mode != ModeNAT64 {
		return
	}
	for i, b := range c.StaticBIB {
		if b.IPv6.IsValid() && !slices.ContainsFunc(c.Clients, func(p netip.Prefix) bool { return p.Contains(b.IPv6) }) {
			v.warnf(fmt.Sprintf("static-bib[%d].ipv6", i), "%s is not inside clients: the port forward's packets are refused both ways", b.IPv6)
		}
	}
}
