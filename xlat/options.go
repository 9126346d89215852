package xlat

import (
	"net/netip"
	"time"
)

//go:generate stringer -type=UDPZeroMode,HairpinMode,Mode -linecomment

// Mode is the translation mode. The zero value means ModeSIIT.
type Mode uint8

// Modes.
const (
	_         Mode = iota // default
	ModeSIIT              // siit
	ModeNAT64             // nat64
)

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

	// Mode selects stateless translation (SIIT, the default) or stateful
	// NAT64, configured by NAT.
	Mode Mode

	// NAT configures stateful NAT64 (Mode ModeNAT64).
	NAT NATOptions

	// DynamicPool, when valid, gives IPv6 sources that no EAM entry and no
	// prefix maps an IPv4 address of their own from this pool, one each,
	// as TAYGA's dynamic-pool does (SIIT mode only).
	DynamicPool netip.Prefix

	// LogMappings queues an event for every dynamic BIB entry and every
	// dynamic-pool mapping created or expired, read with
	// Translator.MappingEvents (RFC 6888 §4).
	LogMappings bool

	// Clients, when not empty, are the IPv6 prefixes whose hosts may use
	// the translator (see acl.go): a packet from the IPv6 side whose source
	// is outside, or from the IPv4 side to an IPv6 destination outside, is
	// refused before it creates any state. Empty: every host, as without
	// access control.
	Clients []netip.Prefix

	// Denylist4 are IPv4 prefixes the translator never translates to (the
	// host's own networks, say): a packet from the IPv6 side to an IPv4
	// destination inside, or from the IPv4 side from a source inside, is
	// refused before it creates any state.
	Denylist4 []netip.Prefix

	// DropRefused drops the IPv6 packets Clients and Denylist4 refuse
	// silently; by default they are answered with ICMPv6 destination
	// unreachable code 1 (administratively prohibited) within
	// ICMPErrorRate (config clients-refusal: drop).
	DropRefused bool

	// Reassemble says that the caller reassembles the fragments of
	// datagrams that must be translated whole (Reassembler): ICMP messages,
	// whose checksum covers the whole message, and in NAT64 mode every
	// fragmented datagram, whose ports are in its first fragment only.
	// Translate answers those fragments with the Reassemble action.
	// Without it, fragmented ICMP is dropped (ReasonFragmentedICMP) and
	// NAT64 translates a datagram's fragments one by one, if the first
	// comes first (ReasonFragmentNoSession).
	Reassemble bool

	// DynamicLease is how long a dynamic-pool mapping stays reserved for
	// its IPv6 address after its last packet (default 124 minutes, as in
	// TAYGA); DynamicRetain is how long an idle mapping is remembered, to
	// be given back to the same address if it returns (default 14 days).
	DynamicLease, DynamicRetain time.Duration
}

// StaticBIB is a static BIB entry of stateful NAT64: a port forward that
// lets IPv4 nodes reach IPv6 Address:Port at IPv4 Address:Port (RFC 6146
// §3.5.1). Proto is 6 (TCP), 17 (UDP) or 1 (ICMP, ports are identifiers).
type StaticBIB struct {
	Proto uint8
	IPv6  netip.AddrPort
	IPv4  netip.AddrPort
}

// NATOptions configure stateful NAT64 (RFC 6146). Zero values mean the
// defaults given with each field.
type NATOptions struct {
	// Pool4 is the IPv4 addresses that IPv6 hosts share.
	Pool4 []netip.Prefix

	// TCPPorts, UDPPorts and ICMPIDs are the ports and identifiers of
	// pool4 that dynamic BIB entries take (default: all).
	TCPPorts, UDPPorts, ICMPIDs PortRange

	// StaticBIB are port forwards; their IPv4 addresses must be in Pool4.
	StaticBIB []StaticBIB

	// AddressDependentFiltering lets an IPv4 packet in only if its source
	// address already has a session with the BIB entry (RFC 4787 §5);
	// the default is endpoint-independent filtering.
	AddressDependentFiltering bool

	// DropICMPv6Info drops ICMPv6 Echo Requests and Replies from the IPv6
	// side.
	DropICMPv6Info bool

	// DropExternallyInitiatedTCP drops IPv4 SYNs that would open a session.
	DropExternallyInitiatedTCP bool

	// StrictICMPErrorSource gives a translated ICMPv4 error the source
	// RFC 6146 asks for, the quoted packet's destination, instead of the
	// router that sent it embedded in the prefix (Jool's
	// source-icmpv6-errors-better, on by default).
	StrictICMPErrorSource bool

	// MaxHeldSYNs bounds the unsolicited IPv4 SYNs held for 6 seconds
	// (default 10; negative: none are held).
	MaxHeldSYNs int

	// Session lifetimes; each has the RFC minimum as floor (RFC 6146 §4).
	UDPTimeout            time.Duration // default 5 min, at least 2 min
	ICMPTimeout           time.Duration // default 60 s, at least 60 s (RFC 5508)
	TCPEstablishedTimeout time.Duration // default 2 h 4 min, at least that
	TCPTransitoryTimeout  time.Duration // default 4 min, at least that

	// Limits (0: none). MaxSessions and MaxBIB bound the tables;
	// MaxSessionsPerHost and MaxSessionsPer64 bound what one IPv6 address
	// or one /64 may hold. A packet refused by a limit, or by an empty
	// pool, gets ICMPv6 Destination Unreachable code 3.
	MaxSessions, MaxBIB, MaxSessionsPerHost, MaxSessionsPer64 int
}

// RFC minimums and defaults of the NAT64 timers.
const (
	MinUDPTimeout            = 2 * time.Minute
	MinICMPTimeout           = 60 * time.Second
	MinTCPEstablishedTimeout = 2*time.Hour + 4*time.Minute
	MinTCPTransitoryTimeout  = 4 * time.Minute
	DefaultUDPTimeout        = 5 * time.Minute
	SYNHoldTime              = 6 * time.Second // TCP_INCOMING_SYN
)

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
	if o.Mode == 0 {
		o.Mode = ModeSIIT
	}
	if o.DynamicLease == 0 {
		o.DynamicLease = DefaultDynamicLease
	}
	if o.DynamicRetain == 0 {
		o.DynamicRetain = DefaultDynamicRetain
	}
	n := &o.NAT
	if n.UDPTimeout == 0 {
		n.UDPTimeout = DefaultUDPTimeout
	}
	if n.ICMPTimeout == 0 {
		n.ICMPTimeout = MinICMPTimeout
	}
	if n.TCPEstablishedTimeout == 0 {
		n.TCPEstablishedTimeout = MinTCPEstablishedTimeout
	}
	if n.TCPTransitoryTimeout == 0 {
		n.TCPTransitoryTimeout = MinTCPTransitoryTimeout
	}
	if n.MaxHeldSYNs == 0 {
		n.MaxHeldSYNs = 10
	}
}
