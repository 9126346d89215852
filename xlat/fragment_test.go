package xlat_test

import (
	"bytes"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// TestWriteFragment splits IPv4 and IPv6 packets, whole or fragments
// themselves, and checks each fragment with gopacket: lengths, offsets,
// flags, Identification and IPv4 header checksums, and that the data put
// back together is the packet's.
func TestWriteFragment(t *testing.T) {
	ip4 := func(mf bool, off uint16) []byte {
		ip := xlattest.IPv4("192.0.2.1", "198.51.100.2", layers.IPProtocolUDP)
		ip.Id, ip.FragOffset = 777, off
		if mf {
			ip.Flags = layers.IPv4MoreFragments
		}
		return xlattest.Serialize(ip, xlattest.Payload(3000))
	}
	ip6 := func(more bool, off uint16) []byte {
		fh := &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: off, MoreFragments: more, Identification: 0x10203}
		return xlattest.Serialize(xlattest.IPv6("2001:db8::1", "2001:db8::2", layers.IPProtocolIPv6Fragment), fh, xlattest.Payload(3000))
	}
	for _, tc := range []struct {
		name    string
		pkt     []byte
		size    int
		want    int    // fragments
		offset  uint16 // of the first, 8-byte units
		lastMF  bool
		wantHdr int
	}{
		{"IPv4 whole into 1500", ip4(false, 0), 1500, 3, 0, false, 20},
		{"IPv4 whole into 576", ip4(false, 0), 576, 6, 0, false, 20},
		{"IPv4 middle fragment", ip4(true, 100), 1500, 3, 100, true, 20},
		{"IPv6 whole into 1280", ip6(false, 0), 1280, 3, 0, false, 48},
		{"IPv6 middle fragment", ip6(true, 50), 1280, 3, 50, true, 48},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := xlat.Fragments(tc.pkt, tc.size)
			if n != tc.want {
				t.Fatalf("%d fragments, want %d", n, tc.want)
			}
			var data []byte
			next := tc.offset
			for i := range n {
				dst := make([]byte, tc.size+10)
				m := xlat.WriteFragment(dst, tc.pkt, tc.size, i)
				if m == 0 || m > tc.size {
					t.Fatalf("fragment %d: %d bytes", i, m)
				}
				f := dst[:m]
				if err := xlattest.Check(f, true); err != nil {
					t.Fatalf("fragment %d: %v", i, err)
				}
				var off uint16
				var more bool
				if tc.pkt[0]>>4 == 4 {
					p := gopacket.NewPacket(f, layers.LayerTypeIPv4, gopacket.Default)
					ip, _ := p.NetworkLayer().(*layers.IPv4)
					if ip == nil || int(ip.Length) != m || ip.Id != 777 || ip.Flags&layers.IPv4DontFragment != 0 {
						t.Fatalf("fragment %d: %v", i, p)
					}
					if header.IPv4(f).ComputeChecksum() != ip.Checksum {
						t.Fatalf("fragment %d: bad header checksum", i)
					}
					off, more = ip.FragOffset, ip.Flags&layers.IPv4MoreFragments != 0
				} else {
					p := gopacket.NewPacket(f, layers.LayerTypeIPv6, gopacket.Default)
					fh, _ := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
					if fh == nil || fh.Identification != 0x10203 || fh.NextHeader != layers.IPProtocolUDP {
						t.Fatalf("fragment %d: %v", i, p)
					}
					off, more = fh.FragmentOffset, fh.MoreFragments
				}
				if off != next {
					t.Fatalf("fragment %d at offset %d, want %d", i, off, next)
				}
				if wantMore := i < n-1 || tc.lastMF; more != wantMore {
					t.Fatalf("fragment %d: more %v, want %v", i, more, wantMore)
				}
				body := f[tc.wantHdr:]
				if more && len(body)%8 != 0 {
					t.Fatalf("fragment %d: %d data bytes", i, len(body))
				}
				next += uint16(len(body) / 8)
				data = append(data, body...)
			}
			if !bytes.Equal(data, tc.pkt[tc.wantHdr:]) {
				t.Fatalf("the fragments' data differs from the packet's")
			}
		})
	}
}
