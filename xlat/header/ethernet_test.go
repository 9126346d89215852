package header

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	testDst = MAC{0x02, 0x64, 0, 0, 0, 6}
	testSrc = MAC{0x02, 0, 0, 0, 0, 0x66}
)

// frame returns an Ethernet header from testSrc to testDst with type field
// et, followed by n bytes of payload.
func frame(et uint16, n int) []byte {
	b := make([]byte, EthernetLen+n)
	copy(b, testDst[:])
	copy(b[6:], testSrc[:])
	binary.BigEndian.PutUint16(b[12:], et)
	for i := EthernetLen; i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

func TestParseEthernet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b      []byte
		ok     bool
		wantET uint16
	}{
		{"empty", nil, false, 0},
		{"13 bytes", frame(EtherTypeIPv4, 0)[:13], false, 0},
		{"802.3 length 46", frame(46, 46), false, 0},
		{"802.3 length 1500", frame(1500, 46), false, 0},
		{"type field 0x05ff", frame(EtherTypeMin-1, 46), false, 0},
		{"type field 0x0600", frame(EtherTypeMin, 0), true, EtherTypeMin},
		{"header only", frame(EtherTypeIPv6, 0), true, EtherTypeIPv6},
		{"ipv4", frame(EtherTypeIPv4, 20), true, EtherTypeIPv4},
		{"ipv6", frame(EtherTypeIPv6, 40), true, EtherTypeIPv6},
		{"arp", frame(EtherTypeARP, 28), true, EtherTypeARP},
		{"802.1q tag", frame(EtherTypeVLAN, 4+20), true, EtherTypeVLAN},
		{"802.1ad tag", frame(EtherTypeQinQ, 8+20), true, EtherTypeQinQ},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := ParseEthernet(tc.b)
			if ok != tc.ok {
				t.Fatalf("ParseEthernet(% x) ok = %v, want %v", tc.b, ok, tc.ok)
			}
			if !ok {
				if e != nil {
					t.Fatalf("rejected frame gave a view % x", e)
				}
				return
			}
			if e.Dst() != testDst || e.Src() != testSrc || e.EtherType() != tc.wantET {
				t.Errorf("dst %s src %s type %#04x; want %s %s %#04x", e.Dst(), e.Src(), e.EtherType(), testDst, testSrc, tc.wantET)
			}
			if !bytes.Equal(e.Payload(), tc.b[EthernetLen:]) || len(e) != len(tc.b) || &e[0] != &tc.b[0] {
				t.Errorf("view does not alias the frame")
			}
		})
	}
}

func TestEthernetSetters(t *testing.T) {
	b := make([]byte, EthernetLen+2)
	b[EthernetLen], b[EthernetLen+1] = 0xab, 0xcd
	e := Ethernet(b)
	e.Set(testDst, testSrc, EtherTypeARP)
	want := []byte{0x02, 0x64, 0, 0, 0, 6, 0x02, 0, 0, 0, 0, 0x66, 0x08, 0x06, 0xab, 0xcd}
	if !bytes.Equal(b, want) {
		t.Fatalf("Set wrote % x, want % x", b, want)
	}
	e.SetDst(BroadcastMAC)
	e.SetSrc(testDst)
	e.SetEtherType(EtherTypeIPv6)
	if e.Dst() != BroadcastMAC || e.Src() != testDst || e.EtherType() != EtherTypeIPv6 || b[EthernetLen] != 0xab {
		t.Fatalf("after setters: % x", b)
	}
}

func TestMACString(t *testing.T) {
	for _, tc := range []struct {
		m    MAC
		want string
	}{
		{MAC{}, "00:00:00:00:00:00"},
		{BroadcastMAC, "ff:ff:ff:ff:ff:ff"},
		{MAC{0x02, 0x64, 0x0a, 0xb0, 0xc9, 0x1f}, "02:64:0a:b0:c9:1f"},
	} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%v.String() = %q, want %q", [6]byte(tc.m), got, tc.want)
		}
		if std := net.HardwareAddr(tc.m[:]).String(); std != tc.want {
			t.Errorf("net.HardwareAddr says %q, want %q", std, tc.want)
		}
	}
}

// TestEthernetNoAllocs: parsing, reading and writing a header are on the
// frame path and must not allocate.
func TestEthernetNoAllocs(t *testing.T) {
	b := frame(EtherTypeIPv6, 40)
	var sink uint16
	if a := testing.AllocsPerRun(1000, func() {
		e, ok := ParseEthernet(b)
		if !ok {
			t.Fatal("rejected")
		}
		src, dst := e.Src(), e.Dst()
		e.Set(src, dst, e.EtherType())
		sink += e.EtherType()
	}); a != 0 {
		t.Errorf("Ethernet allocates %.1f times per frame", a)
	}
	_ = sink
}

// BenchmarkEthernet is what the frame path does with the header of each
// frame: parse, read the type and source, and write the header of the reply.
func BenchmarkEthernet(b *testing.B) {
	f := frame(EtherTypeIPv6, 40)
	b.SetBytes(EthernetLen)
	b.ReportAllocs()
	var sink uint16
	for b.Loop() {
		e, ok := ParseEthernet(f)
		if !ok {
			b.Fatal("rejected")
		}
		sink += e.EtherType()
		e.Set(e.Src(), testDst, EtherTypeIPv6)
	}
	_ = sink
}

// FuzzEthernet checks the view against gopacket's decoder, an independent
// codec: the same frames are accepted, with the same addresses and type,
// and a header written with Set decodes as written.
func FuzzEthernet(f *testing.F) {
	for _, b := range [][]byte{
		frame(EtherTypeIPv4, 20), frame(EtherTypeIPv6, 40), frame(EtherTypeARP, 28),
		frame(EtherTypeVLAN, 24), frame(EtherTypeQinQ, 28), frame(1500, 46), frame(EtherTypeMin, 0),
		frame(EtherTypeIPv4, 0)[:13], nil,
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := ParseEthernet(b)
		var g layers.Ethernet
		err := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
		// gopacket decodes an 802.3 length field as EthernetTypeLLC; the
		// view accepts Ethernet II only.
		gOK := err == nil && g.EthernetType != layers.EthernetTypeLLC
		if ok != gOK {
			t.Fatalf("ParseEthernet ok = %v, gopacket err %v type %v", ok, err, g.EthernetType)
		}
		if !ok {
			return
		}
		if d, s := e.Dst(), e.Src(); !bytes.Equal(d[:], g.DstMAC) || !bytes.Equal(s[:], g.SrcMAC) ||
			e.EtherType() != uint16(g.EthernetType) || !bytes.Equal(e.Payload(), g.Payload) {
			t.Fatalf("view %s > %s %#04x, gopacket %s > %s %v", e.Src(), e.Dst(), e.EtherType(), g.SrcMAC, g.DstMAC, g.EthernetType)
		}
		if e.Src().String() != g.SrcMAC.String() {
			t.Fatalf("MAC.String %q, net.HardwareAddr %q", e.Src(), g.SrcMAC)
		}
		// Round trip: write the header back swapped, as a reply would be.
		out := make([]byte, len(b))
		copy(out, b)
		Ethernet(out).Set(e.Src(), e.Dst(), e.EtherType())
		r, ok := ParseEthernet(out)
		if !ok || r.Dst() != e.Src() || r.Src() != e.Dst() || r.EtherType() != e.EtherType() || !bytes.Equal(r.Payload(), e.Payload()) {
			t.Fatalf("round trip: % x from % x", out, b)
		}
	})
}
