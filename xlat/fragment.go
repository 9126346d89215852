package xlat

import "github.com/nat64br/nat64br/xlat/header"

// fragData returns the data bytes each fragment of size at most size
// carries: a multiple of 8 (RFC 8200 §4.5).
func fragData(size int) int { return (size - header.IPv6Len - header.FragmentLen) &^ 7 }

// Fragments returns how many IPv6 fragments of at most size bytes the packet
// pkt splits into. pkt is the output of a Forward verdict with a non-zero
// FragSize: an IPv6 header immediately followed by a Fragment header.
func Fragments(pkt []byte, size int) int {
	data := len(pkt) - header.IPv6Len - header.FragmentLen
	per := fragData(size)
	if per <= 0 {
		return 0
	}
	return (data + per - 1) / per
}

// WriteFragment writes fragment i (0-based) of pkt, at most size bytes, into
// dst and returns its length (RFC 8200 §4.5, RFC 7915 §4.1). The fragments
// keep pkt's Identification; their offsets continue from pkt's own offset
// and the last one keeps pkt's M flag, so a translated IPv4 fragment splits
// correctly too.
//
// Fragment 0 may be written into pkt itself, in place, but only after every
// other fragment has been written out of it.
func WriteFragment(dst, pkt []byte, size, i int) int {
	per := fragData(size)
	hdr := header.IPv6Len + header.FragmentLen
	data := pkt[hdr:]
	lo := i * per
	hi := min(lo+per, len(data))
	if per <= 0 || lo >= len(data) || len(dst) < hdr+hi-lo {
		return 0
	}
	f := header.Fragment(pkt[header.IPv6Len:])
	last := hi == len(data)
	more := !last || f.More()
	offset, nh, id := f.Offset()+uint16(lo/8), f.NextHeader(), f.ID()
	if i != 0 || &dst[0] != &pkt[0] {
		copy(dst[:hdr], pkt[:hdr])
		copy(dst[hdr:], data[lo:hi])
	}
	header.IPv6(dst).SetPayloadLength(header.FragmentLen + hi - lo)
	header.Fragment(dst[header.IPv6Len:]).Set(nh, offset, more, id)
	return hdr + hi - lo
}
