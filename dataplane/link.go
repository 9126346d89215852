package dataplane

import (
	"encoding/binary"

	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
)

// IEEE 802.1Q: a tagged Ethernet header carries, between the source
// address and the EtherType, the TPID 0x8100 and a 16-bit TCI whose low
// 12 bits are the VLAN ID.
//
//	dst(6) src(6) 0x8100(2) PCP/DEI/VID(2) EtherType(2)
const (
	tagLen = 4
	// linkRoom is the most a link header takes in front of an IP packet:
	// an Ethernet header with one 802.1Q tag.
	linkRoom = header.EthernetLen + tagLen
)

// classify finds the side of the Ethernet frame f that arrived on the
// port of side port: by its VLAN (0 when untagged) among the sides that
// port serves and, when both sides share the port and the VLAN, by its
// EtherType (IPv6 is the IPv6 side's; IPv4 and ARP the IPv4 side's). It
// returns that side and the length of the frame's 802.1Q tag (0 or
// tagLen); ok is false, with the counter to drop f under, if no side
// takes it.
func (p *Plane) classify(port xlat.Side, f []byte) (s xlat.Side, tag int, drop Counter, ok bool) {
	if len(f) < header.EthernetLen {
		return port, 0, Runt, false
	}
	et := header.Ethernet(f).EtherType()
	var vid uint16
	if et == header.EtherTypeVLAN {
		if len(f) < header.EthernetLen+tagLen {
			return port, 0, Runt, false
		}
		vid, et, tag = binary.BigEndian.Uint16(f[14:])&0xfff, binary.BigEndian.Uint16(f[16:]), tagLen
	}
	if et == header.EtherTypeVLAN || et == header.EtherTypeQinQ {
		return port, tag, VLANTagged, false // stacked tags, 802.1ad
	}
	if !p.shared {
		if p.vlan[port] != vid {
			return port, tag, VLANTagged, false
		}
		return port, tag, 0, true
	}
	m6, m4 := p.vlan[xlat.Side6] == vid, p.vlan[xlat.Side4] == vid
	switch {
	case m6 && m4:
		switch et {
		case header.EtherTypeIPv6:
			return xlat.Side6, tag, 0, true
		case header.EtherTypeIPv4, header.EtherTypeARP:
			return xlat.Side4, tag, 0, true
		}
		return port, tag, OtherEtherType, false
	case m6:
		return xlat.Side6, tag, 0, true
	case m4:
		return xlat.Side4, tag, 0, true
	}
	return port, tag, VLANTagged, false
}

// untag makes the tagged frame f an untagged one in place, 4 bytes
// further on: the addresses move over the tag.
func untag(f []byte) []byte {
	copy(f[tagLen:tagLen+12], f[0:12])
	return f[tagLen:]
}

// putLink writes side s's link header for dst in front of the packet at
// b[off:] (which starts with the IP version nibble) and returns where the
// frame starts: off-14, or off-18 with side s's VLAN tag.
func (p *Plane) putLink(b []byte, off int, s xlat.Side, dst header.MAC) int {
	et := etherTypeOf(b[off])
	if p.vlan[s] == 0 {
		off -= header.EthernetLen
		header.Ethernet(b[off:]).Set(dst, p.macs[s], uint16(et))
		return off
	}
	off -= linkRoom
	header.Ethernet(b[off:]).Set(dst, p.macs[s], header.EtherTypeVLAN)
	binary.BigEndian.PutUint16(b[off+14:], p.vlan[s])
	binary.BigEndian.PutUint16(b[off+16:], uint16(et))
	return off
}

// tagFrame puts side s's VLAN tag, if it has one, into the untagged frame
// b[start:start+n] (an answer arpnd wrote), moving its addresses 4 bytes
// back into the room before start; it returns the frame.
func (p *Plane) tagFrame(b []byte, start, n int, s xlat.Side) []byte {
	if p.vlan[s] == 0 {
		return b[start : start+n]
	}
	et := binary.BigEndian.Uint16(b[start+12:])
	copy(b[start-tagLen:start-tagLen+12], b[start:start+12])
	start -= tagLen
	binary.BigEndian.PutUint16(b[start+12:], header.EtherTypeVLAN)
	binary.BigEndian.PutUint16(b[start+14:], p.vlan[s])
	binary.BigEndian.PutUint16(b[start+16:], et)
	return b[start : start+n+tagLen]
}

// tagSender is the port of a VLAN side as arpnd sees it: the frames arpnd
// makes (requests, solicitations, advertisements) are untagged, and get
// the side's tag on their way out; frames that carry a tag already (those
// the neighbor cache held) go as they are. It runs on the control path
// and copies.
type tagSender struct {
	Port
	vid uint16
}

func (t tagSender) WriteBatch(bufs [][]byte, offset int) (int, error) {
	out := make([][]byte, len(bufs))
	for i, b := range bufs {
		f := b[offset:]
		if len(f) < header.EthernetLen || header.Ethernet(f).EtherType() == header.EtherTypeVLAN {
			out[i] = f
			continue
		}
		tagged := make([]byte, len(f)+tagLen)
		copy(tagged, f[:12])
		binary.BigEndian.PutUint16(tagged[12:], header.EtherTypeVLAN)
		binary.BigEndian.PutUint16(tagged[14:], t.vid)
		copy(tagged[16:], f[12:])
		out[i] = tagged
	}
	return t.Port.WriteBatch(out, 0)
}

// gsoTagged reports whether a super-frame passed whole would leave on a
// VLAN side: the ports cannot send those (their offload header describes
// an untagged frame).
func (p *Plane) gsoTagged(g wire.GSO, s xlat.Side) bool { return g.Size != 0 && p.vlan[s] != 0 }
