package main

import (
	"net/netip"

	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/xlat"
)

// xlatOptions maps the configuration to the translator's options.
func xlatOptions(c *config.Config) xlat.Options {
	o := xlat.Options{
		Prefix:            c.Prefix,
		IPv4Addr:          c.IPv4Addr,
		IPv6Addr:          c.IPv6Addr,
		MTU4:              c.MTU4,
		MTU6:              c.MTU6,
		LowestIPv6MTU:     c.LowestIPv6MTU,
		RFC6791v4:         c.RFC6791v4,
		RFC6791v6:         c.RFC6791v6,
		ZeroTrafficClass:  c.ZeroizeTrafficClass,
		AllowNonGlobalWKP: !c.WKPFStrict,
		ICMPErrorRate:     c.ICMPErrorRate,
		DynamicPool:       c.DynamicPool,
		LogMappings:       c.MappingLog,
		Clients:           c.Clients,
		Denylist4:         c.Denylist4,
		DropRefused:       c.ClientsRefusal == config.RefusalDrop,
		Reassemble:        true, // the data plane reassembles (reassemblyOptions)
	}
	for _, e := range c.EAM {
		o.EAM = append(o.EAM, xlat.EAM{V4: e.IPv4, V6: e.IPv6})
	}
	switch c.UDPZeroChecksum {
	case config.UDPZeroReject:
		o.UDPZeroChecksum = xlat.UDPZeroReject
	case config.UDPZeroCalculate:
		o.UDPZeroChecksum = xlat.UDPZeroCalculate
	case config.UDPZeroForward:
		o.UDPZeroChecksum = xlat.UDPZeroForward
	default:
		o.UDPZeroChecksum = xlat.UDPZeroDrop
	}
	if c.Mode == config.ModeNAT64 {
		o.Mode = xlat.ModeNAT64
		n := &o.NAT
		n.Pool4 = c.Pool4
		n.TCPPorts = xlat.PortRange(c.Pool4Ports.TCP)
		n.UDPPorts = xlat.PortRange(c.Pool4Ports.UDP)
		n.ICMPIDs = xlat.PortRange(c.Pool4Ports.ICMP)
		for _, b := range c.StaticBIB {
			proto := map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1}[b.Proto]
			n.StaticBIB = append(n.StaticBIB, xlat.StaticBIB{
				Proto: proto,
				IPv6:  netip.AddrPortFrom(b.IPv6, b.IPv6Port),
				IPv4:  netip.AddrPortFrom(b.IPv4, b.IPv4Port),
			})
		}
		n.AddressDependentFiltering = c.AddressDependentFiltering
		n.DropICMPv6Info = c.DropICMPv6Info
		n.DropExternallyInitiatedTCP = c.DropExternallyInitiatedTCP
		n.StrictICMPErrorSource = !c.SourceICMPv6ErrorsBetter
		n.MaxHeldSYNs = c.MaximumSimultaneousOpens
		if n.MaxHeldSYNs == 0 {
			n.MaxHeldSYNs = -1 // none
		}
		n.UDPTimeout = c.Timeouts.UDP
		n.ICMPTimeout = c.Timeouts.ICMP
		n.TCPEstablishedTimeout = c.Timeouts.TCPEstablished
		n.TCPTransitoryTimeout = c.Timeouts.TCPTransitory
		n.MaxSessions = c.Limits.Sessions
		n.MaxBIB = c.Limits.BIBEntries
		n.MaxSessionsPerHost = c.Limits.SessionsPerHost
		n.MaxSessionsPer64 = c.Limits.SessionsPer64
	}
	switch c.EAMHairpinMode {
	case config.HairpinNone:
		o.Hairpin = xlat.HairpinOff
	case config.HairpinSimple:
		o.Hairpin = xlat.HairpinSimple
	default:
		o.Hairpin = xlat.HairpinIntrinsic
	}
	return o
}

// reassemblyOptions maps the reassembly keys to the data plane's
// reassembler.
func reassemblyOptions(c *config.Config) xlat.ReassemblyOptions {
	return xlat.ReassemblyOptions{Timeout: c.Reassembly.Timeout, MaxBytes: c.Reassembly.MaxBytes, MaxBytesPerSource: c.Reassembly.MaxBytesPerSource}
}

func newTranslator(c *config.Config) (*xlat.Translator, error) {
	return xlat.New(xlatOptions(c))
}
