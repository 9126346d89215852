package xlat

import "github.com/nat64br/nat64br/xlat/header"

// fragLayout returns the length of the header every fragment of pkt
// repeats and the data bytes each fragment of at most size bytes carries:
// a multiple of 8 (RFC 791 §2.3, RFC 8200 §4.5). An IPv4 packet repeats its
// own header; an IPv6 packet its IPv6 header and Fragment header.
func fragLayout(pkt []byte, size int) (hdr, per int) {
	if v4(pkt) {
		if hdr = header.IPv4(pkt).HeaderLen(); hdr < header.IPv4MinLen {
			return hdr, 0
		}
	} else {
		hdr = header.IPv6Len + header.FragmentLen
	}
	return hdr, (size - hdr) &^ 7
}

// v4 reports whether pkt is an IPv4 packet.
func v4(pkt []byte) bool { return len(pkt) > 0 && pkt[0]>>4 == header.IPv4Version }

// Fragments returns how many fragments of at most size bytes the packet pkt
// splits into. pkt is the output of a Forward verdict with a non-zero
// FragSize: an IPv6 header immediately followed by a Fragment header, or an
// IPv4 header without options and with DF clear.
func Fragments(pkt []byte, size int) int {
	hdr, per := fragLayout(pkt, size)
	if per <= 0 || len(pkt) < hdr {
		return 0
	}
	return (len(pkt) - hdr + per - 1) / per
}

// WriteFragment writes fragment i (0-based) of pkt, at most size bytes, into
// dst and returns its length (RFC 791 §3.2, RFC 8200 §4.5, RFC 7915 §4.1).
// The fragments keep pkt's Identification; their offsets continue from
// pkt's own offset and the last one keeps pkt's M (MF) flag, so a
// translated fragment splits correctly too. IPv4 fragments have DF clear
// and a header checksum of their own.
//
// Fragment 0 may be written into pkt itself, in place, but only after every
// other fragment has been written out of it.
func WriteFragment(dst, pkt []byte, size, i int) int {
	hdr, per := fragLayout(pkt, size)
	if per <= 0 || len(pkt) < hdr {
		return 0
	}
	data := pkt[hdr:]
	lo := i * per
	hi := min(lo+per, len(data))
	if lo >= len(data) || len(dst) < hdr+hi-lo {
		return 0
	}
	last := hi == len(data)
	if v4(pkt) {
		ip := header.IPv4(pkt)
		more, offset := !last || ip.MF(), ip.FragmentOffset()+uint16(lo/8)
		if i != 0 || &dst[0] != &pkt[0] {
			copy(dst[:hdr], pkt[:hdr])
			copy(dst[hdr:], data[lo:hi])
		}
		o := header.IPv4(dst)
		o.SetTotalLength(hdr + hi - lo)
		o.SetFragment(false, more, offset)
		o.SetChecksum(o.ComputeChecksum())
		return hdr + hi - lo
	}
	f := header.Fragment(pkt[header.IPv6Len:])
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
