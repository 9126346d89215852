package header

import (
	"encoding/binary"
	"math/bits"
)

// The Internet checksum (RFC 1071) is the one's complement of the one's
// complement sum of 16-bit words. The functions here keep a running sum in a
// uint64 accumulator: any value congruent modulo 0xffff represents the same
// sum, so words may be added 64 bits at a time and folded at the end. A
// running sum is only meaningful between Sum-family calls on segments of even
// length; only the last segment of a checksummed region may be odd.

func add(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	return s + c // cannot overflow: c == 1 implies s <= 2^64-2
}

// Add adds two running sums (one's complement, end-around carry).
func Add(a, b uint64) uint64 { return add(a, b) }

// Sum adds the bytes of b to the running sum acc and returns the new sum.
func Sum(b []byte, acc uint64) uint64 {
	for len(b) >= 32 {
		acc = add(acc, binary.BigEndian.Uint64(b))
		acc = add(acc, binary.BigEndian.Uint64(b[8:]))
		acc = add(acc, binary.BigEndian.Uint64(b[16:]))
		acc = add(acc, binary.BigEndian.Uint64(b[24:]))
		b = b[32:]
	}
	for len(b) >= 8 {
		acc = add(acc, binary.BigEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) >= 4 {
		acc = add(acc, uint64(binary.BigEndian.Uint32(b)))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc = add(acc, uint64(binary.BigEndian.Uint16(b)))
		b = b[2:]
	}
	if len(b) == 1 {
		acc = add(acc, uint64(b[0])<<8)
	}
	return acc
}

// SumNeg subtracts the bytes of b from the running sum acc. len(b) must be
// even.
func SumNeg(b []byte, acc uint64) uint64 {
	for len(b) >= 8 {
		acc = add(acc, ^binary.BigEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) >= 4 {
		acc = add(acc, uint64(^binary.BigEndian.Uint32(b)))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc = add(acc, uint64(^binary.BigEndian.Uint16(b)))
	}
	return acc
}

// Sum16 adds the 16-bit word v to the running sum acc.
func Sum16(v uint16, acc uint64) uint64 { return add(acc, uint64(v)) }

// Neg16 subtracts the 16-bit word v from the running sum acc.
func Neg16(v uint16, acc uint64) uint64 { return add(acc, uint64(^v)) }

// Fold reduces a running sum to 16 bits, with end-around carry.
func Fold(acc uint64) uint16 {
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 32) + (acc & 0xffffffff)
	acc = (acc >> 16) + (acc & 0xffff)
	acc = (acc >> 16) + (acc & 0xffff)
	return uint16(acc)
}

// Checksum returns the Internet checksum of b, with acc (for example a
// pseudo-header sum) added in.
func Checksum(b []byte, acc uint64) uint16 { return ^Fold(Sum(b, acc)) }

// Update applies delta, a running sum of the words added minus the words
// removed, to the checksum csum (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
func Update(csum uint16, delta uint64) uint16 {
	return ^Fold(add(uint64(^csum), delta))
}

// PseudoSum4 returns the running sum of an IPv4 pseudo-header (RFC 768, RFC
// 793) for an upper-layer segment of length n and protocol proto.
func PseudoSum4(src, dst [4]byte, proto uint8, n int) uint64 {
	acc := uint64(binary.BigEndian.Uint32(src[:])) + uint64(binary.BigEndian.Uint32(dst[:]))
	return acc + uint64(proto) + uint64(n)
}

// PseudoSum6 returns the running sum of an IPv6 pseudo-header (RFC 8200
// §8.1) for an upper-layer packet of length n and next header nh.
func PseudoSum6(src, dst *[16]byte, nh uint8, n int) uint64 {
	// Unrolled rather than Sum's loop: this runs per translated packet and
	// per segment of a split super-frame.
	acc := add(binary.BigEndian.Uint64(src[0:]), binary.BigEndian.Uint64(src[8:]))
	acc = add(acc, binary.BigEndian.Uint64(dst[0:]))
	acc = add(acc, binary.BigEndian.Uint64(dst[8:]))
	return add(acc, uint64(nh)+uint64(n))
}
