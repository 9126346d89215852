package main

import (
	"fmt"
	"sort"

	"github.com/nat64br/nat64br/config"
)

// configFields flattens the settings a reload may change, for the log.
func configFields(c *config.Config) map[string]string {
	m := map[string]string{
		"prefix": c.Prefix.String(), "eam": fmt.Sprint(c.EAM), "ipv4-addr": c.IPv4Addr.String(), "ipv6-addr": c.IPv6Addr.String(),
		"mtu.ipv4": fmt.Sprint(c.MTU4), "mtu.ipv6": fmt.Sprint(c.MTU6), "lowest-ipv6-mtu": fmt.Sprint(c.LowestIPv6MTU),
		"udp-zero-checksum": string(c.UDPZeroChecksum), "rfc6791v4-prefix": c.RFC6791v4.String(), "rfc6791v6-prefix": c.RFC6791v6.String(),
		"eam-hairpin-mode": string(c.EAMHairpinMode), "zeroize-traffic-class": fmt.Sprint(c.ZeroizeTrafficClass),
		"wkpf-strict": fmt.Sprint(c.WKPFStrict), "icmp-error-rate": fmt.Sprint(c.ICMPErrorRate),
		"ipv4-subnet": c.IPv4Subnet.String(), "gateway": c.Gateway.String(), "ipv6-subnets": fmt.Sprint(c.IPv6Subnets),
		"gateway6": c.Gateway6.String(), "router-advertisements": fmt.Sprintf("%+v", c.RA),
		"timeouts": fmt.Sprintf("%+v", c.Timeouts), "address-dependent-filtering": fmt.Sprint(c.AddressDependentFiltering),
		"drop-icmpv6-info": fmt.Sprint(c.DropICMPv6Info), "drop-externally-initiated-tcp": fmt.Sprint(c.DropExternallyInitiatedTCP),
		"source-icmpv6-errors-better": fmt.Sprint(c.SourceICMPv6ErrorsBetter), "mapping-log": fmt.Sprint(c.MappingLog),
		"clients": fmt.Sprint(c.Clients), "clients-refusal": string(c.ClientsRefusal), "denylist4": fmt.Sprint(c.Denylist4),
		"pool4": fmt.Sprint(c.Pool4), "pool4-ports": fmt.Sprintf("%+v", c.Pool4Ports), "static-bib": fmt.Sprintf("%+v", c.StaticBIB),
		"limits": fmt.Sprintf("%+v", c.Limits), "maximum-simultaneous-opens": fmt.Sprint(c.MaximumSimultaneousOpens),
		"state-interval": c.StateInterval.String(),
	}
	return m
}

func sortedKeys(a, b map[string]string) []string {
	seen := map[string]bool{}
	var ks []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				ks = append(ks, k)
			}
		}
	}
	sort.Strings(ks)
	return ks
}
