package dataplane

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/xlat"
)

// TestClassify: which side takes a frame, by port, VLAN and EtherType, and
// under which counter the others are dropped.
func TestClassify(t *testing.T) {
	frame := func(tags []uint16, et uint16) []byte {
		f := make([]byte, 12, 64)
		for _, v := range tags {
			f = binary.BigEndian.AppendUint16(f, 0x8100)
			f = binary.BigEndian.AppendUint16(f, v)
		}
		f = binary.BigEndian.AppendUint16(f, et)
		return append(f, make([]byte, 20)...)
	}
	two := &Plane{}
	twoV := &Plane{vlan: [3]uint16{xlat.Side4: 20}}
	one := &Plane{shared: true}
	trunk := &Plane{shared: true, vlan: [3]uint16{xlat.Side6: 10, xlat.Side4: 20}}
	for _, tc := range []struct {
		name string
		p    *Plane
		port xlat.Side
		f    []byte
		side xlat.Side
		tag  int
		drop Counter // 0: taken
	}{
		{"two ports: IPv6", two, xlat.Side6, frame(nil, 0x86dd), xlat.Side6, 0, 0},
		{"two ports: IPv4 on the IPv6 port goes on to WrongPort", two, xlat.Side6, frame(nil, 0x0800), xlat.Side6, 0, 0},
		{"two ports: tagged", two, xlat.Side6, frame([]uint16{10}, 0x86dd), xlat.Side6, 4, VLANTagged},
		{"runt", two, xlat.Side4, make([]byte, 13), xlat.Side4, 0, Runt},
		{"runt tag", two, xlat.Side4, frame(nil, 0x8100)[:16], xlat.Side4, 0, Runt},
		{"IPv4 VLAN: tagged", twoV, xlat.Side4, frame([]uint16{20}, 0x0800), xlat.Side4, 4, 0},
		{"IPv4 VLAN: untagged", twoV, xlat.Side4, frame(nil, 0x0800), xlat.Side4, 0, VLANTagged},
		{"IPv4 VLAN: other VLAN", twoV, xlat.Side4, frame([]uint16{21}, 0x0800), xlat.Side4, 4, VLANTagged},
		{"one port: IPv6", one, xlat.Side6, frame(nil, 0x86dd), xlat.Side6, 0, 0},
		{"one port: IPv4", one, xlat.Side6, frame(nil, 0x0800), xlat.Side4, 0, 0},
		{"one port: ARP", one, xlat.Side6, frame(nil, 0x0806), xlat.Side4, 0, 0},
		{"one port: other EtherType", one, xlat.Side6, frame(nil, 0x88b5), xlat.Side6, 0, OtherEtherType},
		{"one port: 802.1ad", one, xlat.Side6, frame(nil, 0x88a8), xlat.Side6, 0, VLANTagged},
		{"trunk: VLAN 10", trunk, xlat.Side6, frame([]uint16{10}, 0x86dd), xlat.Side6, 4, 0},
		{"trunk: VLAN 20", trunk, xlat.Side6, frame([]uint16{20}, 0x0806), xlat.Side4, 4, 0},
		{"trunk: IPv4 on VLAN 10 goes on to WrongPort", trunk, xlat.Side6, frame([]uint16{10}, 0x0800), xlat.Side6, 4, 0},
		{"trunk: PCP bits are not the VLAN", trunk, xlat.Side6, frame([]uint16{0xe000 | 10}, 0x86dd), xlat.Side6, 4, 0},
		{"trunk: VLAN 30", trunk, xlat.Side6, frame([]uint16{30}, 0x86dd), xlat.Side6, 4, VLANTagged},
		{"trunk: untagged", trunk, xlat.Side6, frame(nil, 0x86dd), xlat.Side6, 0, VLANTagged},
		{"trunk: stacked tags", trunk, xlat.Side6, frame([]uint16{10, 20}, 0x86dd), xlat.Side6, 4, VLANTagged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, tag, drop, ok := tc.p.classify(tc.port, tc.f)
			if ok != (tc.drop == 0) || s != tc.side || tag != tc.tag || drop != tc.drop {
				t.Errorf("classify = side %v, tag %d, drop %v, ok %v; want side %v, tag %d, drop %v", s, tag, drop, ok, tc.side, tc.tag, tc.drop)
			}
		})
	}
}

// TestTagging: the tag comes off in place and goes on in front of a
// packet or an answer, with the side's VLAN.
func TestTagging(t *testing.T) {
	p := &Plane{vlan: [3]uint16{xlat.Side4: 20}, macs: [3]arpnd.MAC{xlat.Side4: {2, 0, 0, 0, 0, 4}}}
	f := []byte{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x81, 0, 0, 20, 0x08, 0, 0x45}
	u := untag(f)
	if want := []byte{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0, 0x45}; !bytes.Equal(u, want) {
		t.Errorf("untag = %x, want %x", u, want)
	}
	b := make([]byte, 64)
	b[40] = 0x45
	start := p.putLink(b, 40, xlat.Side4, arpnd.MAC{9, 9, 9, 9, 9, 9})
	if want := []byte{9, 9, 9, 9, 9, 9, 2, 0, 0, 0, 0, 4, 0x81, 0, 0, 20, 0x08, 0, 0x45}; start != 22 || !bytes.Equal(b[start:41], want) {
		t.Errorf("putLink = %d, %x", start, b[start:41])
	}
	if start := p.putLink(b, 40, xlat.Side6, arpnd.MAC{9, 9, 9, 9, 9, 9}); start != 26 {
		t.Errorf("putLink on an untagged side = %d, want 26", start)
	}
	a := make([]byte, 64)
	copy(a[32:], []byte{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x06, 0, 1})
	if got, want := p.tagFrame(a, 32, 16, xlat.Side4), []byte{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x81, 0, 0, 20, 0x08, 0x06, 0, 1}; !bytes.Equal(got, want) {
		t.Errorf("tagFrame = %x, want %x", got, want)
	}
}
