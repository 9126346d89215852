package wire

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/nat64br/nat64br/xlat/header"
)

// Offloads, undone in software. A sender with transmit checksum offload
// leaves the TCP or UDP checksum holding only its pseudo-header sum
// (CHECKSUM_PARTIAL); a sender with TSO/GSO, or a port with GRO, hands over
// one super-frame for many segments. The virtio-net header of each frame
// (PACKET_VNET_HDR) says which, and where.

// completeChecksum finishes a CHECKSUM_PARTIAL frame: the checksum field at
// start+off holds the pseudo-header sum, and the checksum covers the frame
// from start to its end. It returns false if the offsets do not fit.
func completeChecksum(f []byte, start, off int) bool {
	if start < header.EthernetLen || start+off+2 > len(f) {
		return false
	}
	c := header.Checksum(f[start:], 0)
	if c == 0 && off == 6 { // UDP: zero means "no checksum"
		c = 0xffff
	}
	binary.BigEndian.PutUint16(f[start+off:], c)
	return true
}

// pseudoSum is the running sum of the transport pseudo-header (RFC 768,
// RFC 793, RFC 8200 §8.1) of the IPv4 (v4) or IPv6 header ip, for n bytes
// of protocol proto.
func pseudoSum(ip []byte, v4 bool, proto uint8, n int) uint64 {
	if v4 {
		h := header.IPv4(ip)
		return header.PseudoSum4(h.Src(), h.Dst(), proto, n)
	}
	// The addresses are summed where they lie, not copied out.
	return header.PseudoSum6((*[16]byte)(ip[8:24]), (*[16]byte)(ip[24:40]), proto, n)
}

// segmenter holds the segments of split super-frames until ReadBatch hands
// them out, in order, in its next calls. Its buffers are made once.
type segmenter struct {
	buf     [][]byte
	size    []int
	head, n int
	dropped atomic.Uint64
}

func (s *segmenter) init(max, frame int) {
	s.buf = make([][]byte, max)
	s.size = make([]int, max)
	for i := range s.buf {
		s.buf[i] = make([]byte, frame)
	}
}

// pop copies waiting segments into bufs[i][offset:].
func (s *segmenter) pop(bufs [][]byte, sizes []int, offset int) int {
	k := 0
	for k < len(bufs) && s.n > 0 {
		sizes[k] = copy(bufs[k][offset:], s.buf[s.head][:s.size[s.head]])
		s.head = (s.head + 1) % len(s.buf)
		s.n--
		k++
	}
	return k
}

// next returns the buffer for one more segment, or nil if the queue is full.
func (s *segmenter) next(n int) []byte {
	if s.n == len(s.buf) || n > len(s.buf[0]) {
		s.dropped.Add(1)
		return nil
	}
	i := (s.head + s.n) % len(s.buf)
	s.size[i] = n
	s.n++
	return s.buf[i][:n]
}

// TCP flags that belong to one segment only.
const (
	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpCWR = 0x80
)

// split cuts the Ethernet super-frame f into segments of at most gsoSize
// bytes of TCP or UDP payload (and no bigger than mtu), as the sender's TSO
// or GSO would have: lengths, IPv4 identifications, TCP sequence numbers
// and flags, and every checksum set. It returns how many it queued, and
// false if f is not what its GSO type says.
func (s *segmenter) split(f []byte, gso uint8, gsoSize, mtu int) (int, bool) {
	if len(f) < header.EthernetLen+20 || gsoSize <= 0 {
		return 0, false
	}
	l3 := header.EthernetLen
	var ipLen, proto int
	v4 := false
	switch header.Ethernet(f).EtherType() {
	case header.EtherTypeIPv4:
		ipLen, proto, v4 = int(f[l3]&0x0f)*4, int(f[l3+9]), true
		if ipLen < 20 || f[l3+6]&0x3f != 0 || f[l3+7] != 0 { // fragments cannot be super-frames
			return 0, false
		}
	case header.EtherTypeIPv6:
		ipLen, proto = 40, int(f[l3+6])
	default:
		return 0, false
	}
	l4 := l3 + ipLen
	var l4Len int
	switch {
	case proto == 6 && (gso == gsoTCPv4 || gso == gsoTCPv6):
		if l4+20 > len(f) {
			return 0, false
		}
		l4Len = int(f[l4+12]>>4) * 4
	case proto == 17 && gso == gsoUDPL4:
		l4Len = 8
	default:
		return 0, false
	}
	hdr := l4 + l4Len
	if l4Len < 8 || hdr > len(f) {
		return 0, false
	}
	mss := min(gsoSize, mtu-(hdr-header.EthernetLen))
	if mss <= 0 {
		return 0, false
	}
	data := f[hdr:]
	var seq uint32
	var flags byte
	if proto == 6 {
		seq, flags = binary.BigEndian.Uint32(f[l4+4:]), f[l4+13]
	}
	var id uint16
	if v4 {
		id = binary.BigEndian.Uint16(f[l3+4:])
	}
	k := 0
	for off := 0; off < len(data) || (off == 0 && len(data) == 0); off += mss {
		end := min(off+mss, len(data))
		seg := s.next(hdr + end - off)
		if seg == nil {
			return k, true
		}
		copy(seg, f[:hdr])
		copy(seg[hdr:], data[off:end])
		ip := seg[l3:]
		if v4 {
			ip4 := header.IPv4(ip)
			ip4.SetTotalLength(len(seg) - l3)
			ip4.SetID(id + uint16(k))
			ip4.SetChecksum(ip4.ComputeChecksum())
		} else {
			header.IPv6(ip).SetPayloadLength(len(seg) - l4)
		}
		t := seg[l4:]
		csumAt := 6
		if proto == 6 {
			csumAt = 16
			binary.BigEndian.PutUint32(t[4:], seq+uint32(off))
			fl := flags
			if end < len(data) {
				fl &^= tcpFIN | tcpPSH
			}
			if k > 0 {
				fl &^= tcpCWR
			}
			t[13] = fl
		} else {
			binary.BigEndian.PutUint16(t[4:], uint16(len(t)))
		}
		// The pseudo-header, then the segment.
		ps := pseudoSum(ip, v4, uint8(proto), len(t))
		t[csumAt], t[csumAt+1] = 0, 0
		c := header.Checksum(t, ps)
		if c == 0 && proto == 17 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(t[csumAt:], c)
		k++
		if len(data) == 0 {
			break
		}
	}
	return k, true
}

// GSO describes a TCP super-frame passed through whole rather than split
// (QueueOptions.PassGSO): Size is the segment payload its sender asked for
// (gso_size), 0 for an ordinary frame; ECN says the sender's segments carry
// ECN (CWR on the first only).
type GSO struct {
	Size uint16
	ECN  bool
}

// passable returns the GSO description of the super-frame f (virtio-net
// header h) if it can go through whole: a TCP super-frame in a plain IPv4
// packet, or an IPv6 packet whose next header is TCP, small enough that
// either translation of it still has a 16-bit length. Everything else is
// split as before.
func passable(h, f []byte) (GSO, bool) {
	gso := h[1] &^ gsoECN
	size := binary.NativeEndian.Uint16(h[4:])
	if gso != gsoTCPv4 && gso != gsoTCPv6 || size == 0 || len(f) < header.EthernetLen+40 {
		return GSO{}, false
	}
	l3 := f[header.EthernetLen:]
	var l4 []byte
	switch header.Ethernet(f).EtherType() {
	case header.EtherTypeIPv4:
		ihl := int(l3[0]&0x0f) * 4
		if l3[0]>>4 != 4 || ihl < 20 || l3[9] != 6 || l3[6]&0x3f != 0 || l3[7] != 0 ||
			int(binary.BigEndian.Uint16(l3[2:])) != len(l3) || ihl+20 > len(l3) {
			return GSO{}, false
		}
		l4 = l3[ihl:]
	case header.EtherTypeIPv6:
		if l3[0]>>4 != 6 || l3[6] != 6 || int(binary.BigEndian.Uint16(l3[4:]))+40 != len(l3) || len(l3)-40 > 65535-20 || len(l3) < 60 {
			return GSO{}, false
		}
		l4 = l3[40:]
	default:
		return GSO{}, false
	}
	if thl := int(l4[12]>>4) * 4; thl < 20 || thl > len(l4) {
		return GSO{}, false
	}
	return GSO{Size: size, ECN: h[1]&gsoECN != 0}, true
}

// gsoHeader prepares the translated super-frame f to be sent whole: its TCP
// checksum becomes the pseudo-header sum the kernel completes per segment
// (CHECKSUM_PARTIAL), and h the virtio-net header saying so, with a segment
// size that fits mtu. It returns false if f is not a TCP packet it can
// describe, which includes a TCP packet behind a VLAN tag.
func gsoHeader(f []byte, g GSO, mtu int, h *[vnetHdrLen]byte) bool {
	if len(f) < header.EthernetLen+40 {
		return false
	}
	if et := header.Ethernet(f).EtherType(); et != header.EtherTypeIPv4 && et != header.EtherTypeIPv6 {
		return false // a tagged super-frame, say: its offsets would be 4 bytes off
	}
	l3 := f[header.EthernetLen:]
	var l3Len int
	var typ byte
	switch l3[0] >> 4 {
	case 4:
		l3Len = int(l3[0]&0x0f) * 4
		if l3Len < 20 || l3[9] != 6 {
			return false
		}
		typ = gsoTCPv4
	case 6:
		l3Len = 40
		if l3[6] != 6 {
			return false
		}
		typ = gsoTCPv6
	default:
		return false
	}
	if l3Len+20 > len(l3) {
		return false
	}
	l4 := l3[l3Len:]
	thl := int(l4[12]>>4) * 4
	mss := min(int(g.Size), mtu-l3Len-thl)
	if thl < 20 || thl > len(l4) || mss <= 0 {
		return false
	}
	binary.BigEndian.PutUint16(l4[16:], header.Fold(pseudoSum(l3, typ == gsoTCPv4, header.ProtoTCP, len(l4))))
	if g.ECN {
		typ |= gsoECN
	}
	start := header.EthernetLen + l3Len
	h[0], h[1] = vnetNeedsCsum, typ
	binary.NativeEndian.PutUint16(h[2:], uint16(start+thl)) // hdr_len
	binary.NativeEndian.PutUint16(h[4:], uint16(mss))
	binary.NativeEndian.PutUint16(h[6:], uint16(start)) // csum_start
	binary.NativeEndian.PutUint16(h[8:], 16)            // csum_offset
	return true
}
