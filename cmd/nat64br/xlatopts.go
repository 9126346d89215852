package main

import (
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

func newTranslator(c *config.Config) (*xlat.Translator, error) {
	return xlat.New(xlatOptions(c))
}
