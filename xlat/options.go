package xlat

import "net/netip"

//go:generate stringer -type=UDPZeroMode,HairpinMode -linecomment

// UDPZeroMode says what to do with an IPv4 UDP datagram whose checksum is
// zero (no checksum), which IPv6 does not allow.
type UDPZeroMode uint8

// UDP zero-checksum modes. The zero value means UDPZeroDrop.
const (
	_                UDPZeroMode = iota // default
	UDPZeroDrop                         // drop
	UDPZeroReject                       // reject
	UDPZeroCalculate                    // calculate
	UDPZeroForward                      // forward
)

// HairpinMode is the EAM hairpinning mode of RFC 7757 §4. The zero value
// means HairpinIntrinsic.
type HairpinMode uint8

// Hairpinning modes.
const (
	_                HairpinMode = iota // default
	HairpinOff                          // none
	HairpinSimple                       // simple
	HairpinIntrinsic                    // intrinsic
)

// EAM is one Explicit Address Mapping (RFC 7757 §3.2): the IPv4 address
// V4 prefix + suffix maps to V6 prefix + the same suffix bits, followed by
// zeros. The IPv6 suffix must be at least as long as the IPv4 suffix.
type EAM struct {
	V4 netip.Prefix
	V6 netip.Prefix
}

// Options configure a Translator. The zero Options is valid and means: no
// RFC 6052 prefix, no EAM entries, MTUs of 1500, lowest IPv6 MTU 1280, and
// every other default of the conformance contract.
type Options struct {
	// Prefix is the RFC 6052 prefix (pool6). An invalid (zero) Prefix means
	// none: only EAM entries translate addresses.
	Prefix netip.Prefix

	// EAM is the Explicit Address Mapping table (RFC 7757).
	EAM []EAM

	// IPv4Addr and IPv6Addr are the translator's own addresses: the source
	// of the ICMP errors it originates, and the addresses it answers echo
	// requests on. If IPv6Addr is unset and Prefix is set, it is IPv4Addr
	// embedded in Prefix.
	IPv4Addr netip.Addr
	IPv6Addr netip.Addr

	// MTU4 and MTU6 are the MTUs of the IPv4 and IPv6 links (default 1500).
	MTU4, MTU6 int

	// LowestIPv6MTU is the largest IPv6 packet an unfragmentable-by-IPv6
	// DF=0 IPv4 packet is translated into; bigger ones are fragmented
	// (default 1280; Jool lowest-ipv6-mtu, TAYGA offlink-mtu).
	LowestIPv6MTU int

	// UDPZeroChecksum handles IPv4 UDP datagrams without checksum.
	UDPZeroChecksum UDPZeroMode

	// RFC6791v4 and RFC6791v6 are the pools the source of a translated ICMP
	// error is taken from when its own source cannot be translated (RFC
	// 6791). Invalid (zero) means use IPv4Addr or IPv6Addr.
	RFC6791v4 netip.Prefix
	RFC6791v6 netip.Prefix

	// Hairpin is the EAM hairpinning mode (RFC 7757 §4).
	Hairpin HairpinMode

	// ZeroTrafficClass sets the IPv6 Traffic Class to 0 instead of copying
	// the IPv4 TOS (RFC 7915 §4.1).
	ZeroTrafficClass bool

	// AllowNonGlobalWKP lets the Well-Known Prefix 64:ff9b::/96 carry
	// non-global IPv4 addresses, which RFC 6052 §3.1 forbids (config
	// wkpf-strict: false).
	AllowNonGlobalWKP bool

	// ICMPErrorRate limits the ICMP errors the translator originates, per
	// second and per Translator (RFC 4443 §2.4(f)); the burst is a tenth of
	// it, at least 10. Default 1000.
	ICMPErrorRate int

	// IDSeed seeds the IPv4 Identification generator; 0 picks a random seed.
	IDSeed uint32
}

func (o *Options) setDefaults() {
	if o.MTU4 == 0 {
		o.MTU4 = 1500
	}
	if o.MTU6 == 0 {
		o.MTU6 = 1500
	}
	if o.LowestIPv6MTU == 0 {
		o.LowestIPv6MTU = 1280
	}
	if o.UDPZeroChecksum == 0 {
		o.UDPZeroChecksum = UDPZeroDrop
	}
	if o.ICMPErrorRate == 0 {
		o.ICMPErrorRate = 1000
	}
	if o.Hairpin == 0 {
		o.Hairpin = HairpinIntrinsic
	}
}
