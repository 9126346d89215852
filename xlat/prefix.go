package xlat

import (
	"fmt"
	"net/netip"
)

// pool6 is an RFC 6052 prefix. RFC 6052 §2.2 places the 32 IPv4 bits right
// after the prefix, skipping bits 64 to 71 (the "u" octet, byte 8), which
// stay zero, as does the suffix after the IPv4 bits.
//
//	+--+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
//	|PL| 0-------------32--40--48--56--64--72--80--88--96--104---------|
//	+--+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
//	|32|     prefix    |v4(32)         | u | suffix                    |
//	|40|     prefix        |v4(24)     | u |(8)| suffix                |
//	|48|     prefix            |v4(16) | u | (16)  | suffix            |
//	|56|     prefix                |(8)| u |  v4(24)   | suffix        |
//	|64|     prefix                    | u |   v4(32)      | suffix    |
//	|96|     prefix                                    |    v4(32)     |
//	+--+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+
type pool6 struct {
	bits int // 0: no prefix
	// wkp is set for the Well-Known Prefix 64:ff9b::/96 (not for the
	// local-use 64:ff9b:1::/48 of RFC 8215).
	wkp bool
	// net and mask are the prefix as integers.
	net, mask u128
	// The IPv4 bits split around the u octet: the high hiBits of them
	// end the first 64 bits of the address, the rest start at bit 72.
	hiBits uint
}

var wellKnownPrefix = netip.MustParsePrefix("64:ff9b::/96")

func newPool6(p netip.Prefix) (pool6, error) {
	var z pool6
	if !p.IsValid() {
		return z, nil
	}
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		return z, fmt.Errorf("prefix %s is not an IPv6 prefix", p)
	}
	if p != p.Masked() {
		return z, fmt.Errorf("prefix %s has host bits set", p)
	}
	a := p.Addr().As16()
	z.bits = p.Bits()
	switch z.bits {
	case 32, 40, 48, 56, 64:
		z.hiBits = uint(64 - z.bits)
	case 96:
	default:
		return pool6{}, fmt.Errorf("prefix %s: RFC 6052 allows lengths 32, 40, 48, 56, 64 and 96 only", p)
	}
	if z.bits <= 64 && a[8] != 0 {
		return pool6{}, fmt.Errorf("prefix %s: bits 64 to 71 must be zero (RFC 6052 §2.2)", p)
	}
	z.wkp = p == wellKnownPrefix
	z.net = u128From16(&a)
	z.mask = hostMask(128 - z.bits).not()
	return z, nil
}

// contains reports whether a lies inside the prefix.
func (p *pool6) contains(a u128) bool {
	return p.bits != 0 && a.hi&p.mask.hi == p.net.hi && a.lo&p.mask.lo == p.net.lo
}

// embed returns v4 embedded in the prefix (RFC 6052 §2.2).
func (p *pool6) embed(v4 uint32) u128 {
	if p.bits == 96 {
		return u128{p.net.hi, p.net.lo | uint64(v4)}
	}
	low := 32 - p.hiBits // IPv4 bits after the u octet
	return u128{
		p.net.hi | uint64(v4)>>low,
		uint64(v4) & (1<<low - 1) << (56 - low),
	}
}

// extract returns the IPv4 address embedded in a, which the caller has
// checked is inside the prefix. The u octet and the suffix are ignored (RFC
// 6052 §2.2 says they are zero; being liberal costs nothing).
func (p *pool6) extract(a u128) uint32 {
	if p.bits == 96 {
		return uint32(a.lo)
	}
	low := 32 - p.hiBits
	hi := uint32(a.hi) & uint32(uint64(1)<<p.hiBits-1)
	return hi<<low | uint32(a.lo>>(56-low))&uint32(uint64(1)<<low-1)
}
