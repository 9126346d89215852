package header

import (
	"net/netip"
	"testing"
)

func TestIPv4View(t *testing.T) {
	b := make(IPv4, 24)
	b.SetVersionIHL(24)
	b.SetTOS(0xb8)
	b.SetTotalLength(1234)
	b.SetID(0xbeef)
	b.SetFragment(true, false, 0)
	b.SetTTL(63)
	b.SetProtocol(ProtoTCP)
	b.SetSrc([4]byte{192, 0, 2, 1})
	b.SetDst([4]byte{203, 0, 113, 9})
	b.SetChecksum(b.ComputeChecksum())
	switch {
	case b.Version() != 4, b.HeaderLen() != 24, b.TOS() != 0xb8, b.TotalLength() != 1234, b.ID() != 0xbeef:
		t.Fatalf("fixed fields: %x", []byte(b))
	case !b.DF(), b.MF(), b.FragmentOffset() != 0, b.IsFragment():
		t.Fatalf("flags: %x", []byte(b))
	case b.TTL() != 63, b.Protocol() != ProtoTCP:
		t.Fatalf("ttl/protocol: %x", []byte(b))
	case b.SrcAddr() != netip.MustParseAddr("192.0.2.1"), b.DstAddr() != netip.MustParseAddr("203.0.113.9"):
		t.Fatalf("addresses: %v %v", b.SrcAddr(), b.DstAddr())
	case !b.ValidChecksum():
		t.Fatalf("checksum does not verify")
	case len(b.Options()) != 4:
		t.Fatalf("options: %d bytes", len(b.Options()))
	}
	b.SetFragment(false, true, 185)
	if b.DF() || !b.MF() || b.FragmentOffset() != 185 || !b.IsFragment() {
		t.Fatalf("fragment fields: %x", []byte(b[6:8]))
	}
}

// TestSet20 checks Set20 against the field setters and ComputeChecksum.
func TestSet20(t *testing.T) {
	for i, f := range []Fields20{
		{TOS: 0xb8, Total: 1234, ID: 0xbeef, DF: true, TTL: 63, Protocol: ProtoTCP, Src: 0xc0000201, Dst: 0xcb007109},
		{Total: 0xffff, ID: 0xffff, MF: true, Offset: 0x1fff, TTL: 0xff, Protocol: 0xff, Src: 0xffffffff, Dst: 0xffffffff},
		{Total: 20, DF: true, MF: true, Offset: 185, Protocol: ProtoUDP},
	} {
		got, want := make(IPv4, 20), make(IPv4, 20)
		for j := range got {
			got[j] = 0xaa // Set20 must write every byte
		}
		got.Set20(&f)
		want.SetVersionIHL(20)
		want.SetTOS(f.TOS)
		want.SetTotalLength(int(f.Total))
		want.SetID(f.ID)
		want.SetFragment(f.DF, f.MF, f.Offset)
		want.SetTTL(f.TTL)
		want.SetProtocol(f.Protocol)
		want.SetSrc32(f.Src)
		want.SetDst32(f.Dst)
		want.SetChecksum(want.ComputeChecksum())
		if string(got) != string(want) || !got.ValidChecksum() {
			t.Errorf("case %d: Set20 wrote %x, want %x", i, []byte(got), []byte(want))
		}
	}
}

func TestIPv6View(t *testing.T) {
	b := make(IPv6, IPv6Len)
	src := netip.MustParseAddr("2001:db8::1").As16()
	dst := netip.MustParseAddr("64:ff9b::c000:201").As16()
	b.SetVersionClassFlow(0xb8, 0xabcde)
	b.SetPayloadLength(1000)
	b.SetNextHeader(ProtoUDP)
	b.SetHopLimit(64)
	b.SetSrc(&src)
	b.SetDst(&dst)
	switch {
	case b.Version() != 6, b.TrafficClass() != 0xb8, b.FlowLabel() != 0xabcde:
		t.Fatalf("first word: %x", []byte(b[:4]))
	case b.PayloadLength() != 1000, b.NextHeader() != ProtoUDP, b.HopLimit() != 64:
		t.Fatalf("second word: %x", []byte(b[4:8]))
	case b.Src() != src, b.Dst() != dst, b.DstAddr().String() != "64:ff9b::c000:201":
		t.Fatalf("addresses")
	}
	f := make(Fragment, FragmentLen)
	f.Set(ProtoTCP, 8191, true, 0xdeadbeef)
	if f.NextHeader() != ProtoTCP || f.Offset() != 8191 || !f.More() || f.ID() != 0xdeadbeef {
		t.Fatalf("fragment header: %x", []byte(f))
	}
}

func TestExtLen(t *testing.T) {
	if got := ExtLen(ProtoDestOpts, []byte{0, 2}); got != 24 {
		t.Errorf("destination options length 2 = %d bytes, want 24", got)
	}
	if got := ExtLen(ProtoAH, []byte{0, 4}); got != 24 {
		t.Errorf("AH payload length 4 = %d bytes, want 24", got)
	}
}
