package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 is a view of an IPv6 fixed header (RFC 8200 §3):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Traffic Class |           Flow Label                  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Payload Length        |  Next Header  |   Hop Limit   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Source Address (128 bits)             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                      Destination Address (128 bits)           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Accessors need len(b) >= IPv6Len.
type IPv6 []byte

// IPv6 header constants.
const (
	IPv6Len     = 40
	IPv6Version = 6
)

// IPv6 next header values nat64br looks at (IANA protocol numbers).
const (
	ProtoHopByHop  = 0
	ProtoICMPv4    = 1
	ProtoTCP       = 6
	ProtoUDP       = 17
	ProtoRouting   = 43
	ProtoFragment  = 44
	ProtoESP       = 50
	ProtoAH        = 51
	ProtoICMPv6    = 58
	ProtoNoNext    = 59
	ProtoDestOpts  = 60
	ProtoMobility  = 135
	ProtoHIP       = 139
	ProtoShim6     = 140
	ProtoExpTest1  = 253
	ProtoExpTest2  = 254
	ProtoReserved6 = 255
)

// Version returns the version field.
func (b IPv6) Version() uint8 { return b[0] >> 4 }

// TrafficClass returns the Traffic Class byte.
func (b IPv6) TrafficClass() uint8 { return b[0]<<4 | b[1]>>4 }

// FlowLabel returns the 20-bit Flow Label.
func (b IPv6) FlowLabel() uint32 { return binary.BigEndian.Uint32(b[0:]) & 0xfffff }

// PayloadLength returns the Payload Length field.
func (b IPv6) PayloadLength() int { return int(binary.BigEndian.Uint16(b[4:])) }

// NextHeader returns the Next Header field.
func (b IPv6) NextHeader() uint8 { return b[6] }

// HopLimit returns the Hop Limit field.
func (b IPv6) HopLimit() uint8 { return b[7] }

// Src returns the source address.
func (b IPv6) Src() [16]byte { return [16]byte(b[8:24]) }

// Dst returns the destination address.
func (b IPv6) Dst() [16]byte { return [16]byte(b[24:40]) }

// SrcAddr returns the source address as a netip.Addr.
func (b IPv6) SrcAddr() netip.Addr { return netip.AddrFrom16(b.Src()) }

// DstAddr returns the destination address as a netip.Addr.
func (b IPv6) DstAddr() netip.Addr { return netip.AddrFrom16(b.Dst()) }

// SetVersionClassFlow sets the version to 6, the traffic class and the flow
// label.
func (b IPv6) SetVersionClassFlow(tc uint8, flow uint32) {
	binary.BigEndian.PutUint32(b[0:], IPv6Version<<28|uint32(tc)<<20|flow&0xfffff)
}

// SetPayloadLength sets the Payload Length field.
func (b IPv6) SetPayloadLength(n int) { binary.BigEndian.PutUint16(b[4:], uint16(n)) }

// SetNextHeader sets the Next Header field.
func (b IPv6) SetNextHeader(v uint8) { b[6] = v }

// SetHopLimit sets the Hop Limit field.
func (b IPv6) SetHopLimit(v uint8) { b[7] = v }

// SetSrc sets the source address.
func (b IPv6) SetSrc(a *[16]byte) { copy(b[8:24], a[:]) }

// SetDst sets the destination address.
func (b IPv6) SetDst(a *[16]byte) { copy(b[24:40], a[:]) }

// Fragment is a view of an IPv6 Fragment header (RFC 8200 §4.5):
//
//	+---------------+---------------+---------------------------+-+-+
//	|  Next Header  |   Reserved    |      Fragment Offset      |Res|M|
//	+---------------+---------------+---------------------------+-+-+
//	|                         Identification                        |
//	+---------------+---------------+---------------+---------------+
type Fragment []byte

// FragmentLen is the length of a Fragment header.
const FragmentLen = 8

// NextHeader returns the Next Header field.
func (b Fragment) NextHeader() uint8 { return b[0] }

// Offset returns the fragment offset in 8-byte units.
func (b Fragment) Offset() uint16 { return binary.BigEndian.Uint16(b[2:]) >> 3 }

// More reports whether the M (more fragments) flag is set.
func (b Fragment) More() bool { return b[3]&1 != 0 }

// ID returns the Identification field.
func (b Fragment) ID() uint32 { return binary.BigEndian.Uint32(b[4:]) }

// Set writes every field of the Fragment header.
func (b Fragment) Set(nh uint8, offset uint16, more bool, id uint32) {
	b[0] = nh
	b[1] = 0
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	binary.BigEndian.PutUint32(b[4:], id)
}

// ExtLen returns the length in bytes of the Hop-by-Hop, Routing or
// Destination Options header at the start of b ((Hdr Ext Len + 1) × 8), or of
// an Authentication Header ((Payload Len + 2) × 4). len(b) must be >= 2.
func ExtLen(nh uint8, b []byte) int {
	if nh == ProtoAH {
		return (int(b[1]) + 2) * 4
	}
	return (int(b[1]) + 1) * 8
}
