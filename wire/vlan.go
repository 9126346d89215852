package wire

import (
	"encoding/binary"

	"github.com/nat64br/nat64br/xlat/header"
)

// 802.1Q tags, put back. Linux takes the tag out of every frame it
// receives, in its core receive path (skb_vlan_untag, with or without the
// 8021q module), before a packet socket sees the frame; it reports the tag
// beside it: TP_STATUS_VLAN_VALID with tp_vlan_tci and tp_vlan_tpid, in
// tpacket_auxdata (recvmsg) or in the ring's tpacket2_hdr. With
// PacketOptions.VLANs a port writes the tag back into the frame, so its
// user sees the frame as it was on the wire:
//
//	dst MAC (6) | src MAC (6) | TPID (2) | TCI (2) | EtherType (2) | payload
//
// The virtio-net header's offsets (checksum start) count from the
// untagged frame, so offloads are undone first and the tag goes in after.

// vlanLen is the length of an 802.1Q tag (TPID and TCI).
const vlanLen = 4

// vlanTag is an 802.1Q tag: its TPID (EtherType) and TCI (PCP, DEI, VID).
type vlanTag struct {
	tpid, tci uint16
}

// insertTag writes tag t into the untagged frame of n bytes at b[at:],
// where at is 0 (the frame moves 4 bytes on from its MAC addresses) or
// vlanLen (the MAC addresses move 4 bytes back), and returns the tagged
// frame's length, n+4, at b[0:]. It returns 0 if the frame is shorter than
// an Ethernet header or b has no room for it tagged.
func insertTag(b []byte, at, n int, t vlanTag) int {
	if n < header.EthernetLen || (at != 0 && at != vlanLen) || n+vlanLen > len(b) {
		return 0
	}
	if at == 0 {
		copy(b[12+vlanLen:n+vlanLen], b[12:n])
	} else {
		copy(b[:12], b[vlanLen:12+vlanLen])
	}
	binary.BigEndian.PutUint16(b[12:], t.tpid)
	binary.BigEndian.PutUint16(b[14:], t.tci)
	return n + vlanLen
}

// retag undoes the offloads (virtio-net header h) of the untagged frame of
// n bytes at b[at:] and puts tag t back into it (see insertTag). A tagged
// super-frame is counted as one nat64br cannot split, and dropped: split,
// its segments would have to be tagged one by one. A frame with no room
// for the tag is counted as truncated. It returns the tagged frame's
// length, or 0.
func retag(h, b []byte, at, n int, t vlanTag, c *rxCounts) int {
	if h[1]&^gsoECN != gsoNone {
		c.super++
		c.unsupported++
		return 0
	}
	if at+n > len(b) || undoOffloads(h, b[at:at+n], nil, 0, c) == 0 {
		return 0
	}
	k := insertTag(b, at, n, t)
	if k == 0 {
		c.truncated++
	}
	return k
}
