package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 is a view of an IPv4 header (RFC 791 §3.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|         Identification        |Flags|      Fragment Offset    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Source Address                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Destination Address                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Accessors of the fixed header need len(b) >= IPv4MinLen.
type IPv4 []byte

// IPv4 header constants.
const (
	IPv4MinLen  = 20
	IPv4MaxLen  = 60
	IPv4Version = 4

	ipv4FlagDF     = 0x4000
	ipv4FlagMF     = 0x2000
	ipv4OffsetMask = 0x1fff
)

// IPv4 option types that carry a source route (RFC 791 §3.1).
const (
	IPv4OptEnd  = 0
	IPv4OptNop  = 1
	IPv4OptLSRR = 131
	IPv4OptSSRR = 137
)

// Version returns the version field.
func (b IPv4) Version() uint8 { return b[0] >> 4 }

// HeaderLen returns the header length in bytes (IHL × 4).
func (b IPv4) HeaderLen() int { return int(b[0]&0xf) * 4 }

// TOS returns the Type of Service byte.
func (b IPv4) TOS() uint8 { return b[1] }

// TotalLength returns the Total Length field.
func (b IPv4) TotalLength() int { return int(binary.BigEndian.Uint16(b[2:])) }

// ID returns the Identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[4:]) }

// DF reports whether the Don't Fragment flag is set.
func (b IPv4) DF() bool { return binary.BigEndian.Uint16(b[6:])&ipv4FlagDF != 0 }

// MF reports whether the More Fragments flag is set.
func (b IPv4) MF() bool { return binary.BigEndian.Uint16(b[6:])&ipv4FlagMF != 0 }

// FragmentOffset returns the Fragment Offset field, in 8-byte units.
func (b IPv4) FragmentOffset() uint16 { return binary.BigEndian.Uint16(b[6:]) & ipv4OffsetMask }

// IsFragment reports whether the packet is a fragment of a larger datagram.
func (b IPv4) IsFragment() bool {
	return binary.BigEndian.Uint16(b[6:])&(ipv4FlagMF|ipv4OffsetMask) != 0
}

// TTL returns the Time to Live field.
func (b IPv4) TTL() uint8 { return b[8] }

// Protocol returns the Protocol field.
func (b IPv4) Protocol() uint8 { return b[9] }

// Checksum returns the Header Checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[10:]) }

// Src returns the source address.
func (b IPv4) Src() [4]byte { return [4]byte(b[12:16]) }

// Dst returns the destination address.
func (b IPv4) Dst() [4]byte { return [4]byte(b[16:20]) }

// Src32 returns the source address as a big-endian integer.
func (b IPv4) Src32() uint32 { return binary.BigEndian.Uint32(b[12:]) }

// Dst32 returns the destination address as a big-endian integer.
func (b IPv4) Dst32() uint32 { return binary.BigEndian.Uint32(b[16:]) }

// SetSrc32 sets the source address from a big-endian integer.
func (b IPv4) SetSrc32(a uint32) { binary.BigEndian.PutUint32(b[12:], a) }

// SetDst32 sets the destination address from a big-endian integer.
func (b IPv4) SetDst32(a uint32) { binary.BigEndian.PutUint32(b[16:], a) }

// SrcAddr returns the source address as a netip.Addr.
func (b IPv4) SrcAddr() netip.Addr { return netip.AddrFrom4(b.Src()) }

// DstAddr returns the destination address as a netip.Addr.
func (b IPv4) DstAddr() netip.Addr { return netip.AddrFrom4(b.Dst()) }

// Options returns the options area, b[20:HeaderLen()].
func (b IPv4) Options() []byte { return b[IPv4MinLen:b.HeaderLen()] }

// SetVersionIHL sets the version to 4 and the header length to n bytes.
func (b IPv4) SetVersionIHL(n int) { b[0] = IPv4Version<<4 | uint8(n/4) }

// SetTOS sets the Type of Service byte.
func (b IPv4) SetTOS(v uint8) { b[1] = v }

// SetTotalLength sets the Total Length field.
func (b IPv4) SetTotalLength(n int) { binary.BigEndian.PutUint16(b[2:], uint16(n)) }

// SetID sets the Identification field.
func (b IPv4) SetID(v uint16) { binary.BigEndian.PutUint16(b[4:], v) }

// SetFragment sets the flags and the fragment offset (in 8-byte units).
func (b IPv4) SetFragment(df, mf bool, offset uint16) {
	v := offset & ipv4OffsetMask
	if df {
		v |= ipv4FlagDF
	}
	if mf {
		v |= ipv4FlagMF
	}
	binary.BigEndian.PutUint16(b[6:], v)
}

// SetTTL sets the Time to Live field.
func (b IPv4) SetTTL(v uint8) { b[8] = v }

// SetProtocol sets the Protocol field.
func (b IPv4) SetProtocol(v uint8) { b[9] = v }

// SetChecksum sets the Header Checksum field.
func (b IPv4) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[10:], v) }

// SetSrc sets the source address.
func (b IPv4) SetSrc(a [4]byte) { copy(b[12:16], a[:]) }

// SetDst sets the destination address.
func (b IPv4) SetDst(a [4]byte) { copy(b[16:20], a[:]) }

// Fields20 are the fields of an IPv4 header without options.
type Fields20 struct {
	TOS      uint8
	Total    uint16
	ID       uint16
	DF, MF   bool
	Offset   uint16 // 8-byte units
	TTL      uint8
	Protocol uint8
	Src, Dst uint32
}

// Set20 writes a 20-byte IPv4 header with the fields f and its checksum,
// summed from f rather than read back from b: on the data path this is
// cheaper than ComputeChecksum, whose loads would wait for the stores just
// made.
func (b IPv4) Set20(f *Fields20) {
	frag := f.Offset & ipv4OffsetMask
	if f.DF {
		frag |= ipv4FlagDF
	}
	if f.MF {
		frag |= ipv4FlagMF
	}
	w0 := uint32(0x45)<<24 | uint32(f.TOS)<<16 | uint32(f.Total)
	w1 := uint32(f.ID)<<16 | uint32(frag)
	w2 := uint16(f.TTL)<<8 | uint16(f.Protocol)
	cs := ^Fold(uint64(w0) + uint64(w1) + uint64(w2) + uint64(f.Src) + uint64(f.Dst))
	_ = b[19]
	binary.BigEndian.PutUint32(b[0:], w0)
	binary.BigEndian.PutUint32(b[4:], w1)
	binary.BigEndian.PutUint32(b[8:], uint32(w2)<<16|uint32(cs))
	binary.BigEndian.PutUint32(b[12:], f.Src)
	binary.BigEndian.PutUint32(b[16:], f.Dst)
}

// ComputeChecksum returns the header checksum of the first HeaderLen() bytes,
// computed as if the checksum field were zero.
func (b IPv4) ComputeChecksum() uint16 {
	n := b.HeaderLen()
	if n == IPv4MinLen && len(b) >= IPv4MinLen {
		// The common case, unrolled: five words minus the checksum field.
		acc := uint64(binary.BigEndian.Uint32(b[0:])) + uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint16(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:])) +
			uint64(binary.BigEndian.Uint32(b[16:]))
		return ^Fold(acc)
	}
	acc := Sum(b[:10], 0)
	return Checksum(b[12:n], acc)
}

// ValidChecksum reports whether the header checksum verifies.
func (b IPv4) ValidChecksum() bool {
	if b.HeaderLen() == IPv4MinLen && len(b) >= IPv4MinLen {
		acc := uint64(binary.BigEndian.Uint32(b[0:])) + uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:])) +
			uint64(binary.BigEndian.Uint32(b[16:]))
		return Fold(acc) == 0xffff
	}
	return Fold(Sum(b[:b.HeaderLen()], 0)) == 0xffff
}
