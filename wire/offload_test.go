package wire

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

var (
	macA = []byte{0x02, 0, 0, 0, 0, 0xa}
	macB = []byte{0x02, 0, 0, 0, 0, 0xb}
)

func ether(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
}

// superFrame builds an Ethernet frame carrying one TCP or UDP segment with n
// bytes of payload, as a sender with TSO would hand it over.
func superFrame(t testing.TB, v6, udp bool, n int) []byte {
	t.Helper()
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	et := layers.EthernetTypeIPv4
	proto := layers.IPProtocolTCP
	if udp {
		proto = layers.IPProtocolUDP
	}
	if v6 {
		h := xlattest.IPv6("2001:db8::1", "2001:db8::2", proto)
		ip, ipl, et = h, h, layers.EthernetTypeIPv6
	} else {
		h := xlattest.IPv4("192.0.2.1", "192.0.2.2", proto)
		h.Flags = layers.IPv4DontFragment
		ip, ipl = h, h
	}
	var l4 gopacket.SerializableLayer
	if udp {
		l4 = xlattest.UDP(4000, 5000, ip)
	} else {
		tcp := xlattest.TCP(4000, 80, ip)
		tcp.Seq, tcp.FIN, tcp.PSH, tcp.CWR = 1000, true, true, true
		l4 = tcp
	}
	return xlattest.Serialize(ether(et), ipl, l4, xlattest.Payload(n))
}

func TestSplitSuperFrames(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v6, udp bool
		gso     uint8
	}{
		{"tcp4", false, false, gsoTCPv4},
		{"tcp6", true, false, gsoTCPv6},
		{"udp4", false, true, gsoUDPL4},
		{"udp6", true, true, gsoUDPL4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const payload, mss = 5000, 1400
			f := superFrame(t, tc.v6, tc.udp, payload)
			var s segmenter
			s.init(64, 1514)
			k, ok := s.split(f, tc.gso, mss, 1500)
			if !ok || k != 4 {
				t.Fatalf("split = %d, %v; want 4 segments", k, ok)
			}
			bufs := make([][]byte, 8)
			for i := range bufs {
				bufs[i] = make([]byte, 2048)
			}
			sizes := make([]int, 8)
			if n := s.pop(bufs, sizes, 0); n != 4 {
				t.Fatalf("pop = %d", n)
			}
			var got []byte
			hdr := header.EthernetLen + 20 + 20
			if tc.v6 {
				hdr += 20
			}
			if tc.udp {
				hdr -= 12
			}
			for i := 0; i < 4; i++ {
				seg := bufs[i][:sizes[i]]
				if len(seg) > 1514 {
					t.Fatalf("segment %d is %d bytes", i, len(seg))
				}
				if err := xlattest.Check(seg[header.EthernetLen:], false); err != nil {
					t.Fatalf("segment %d: %v", i, err)
				}
				got = append(got, seg[hdr:]...)
				if !tc.udp {
					tcp := seg[hdr-20:]
					if seq := binary.BigEndian.Uint32(tcp[4:]); seq != 1000+uint32(i*mss) {
						t.Errorf("segment %d: seq %d", i, seq)
					}
					last := i == 3
					if fl := tcp[13]; (fl&tcpFIN != 0) != last || (fl&tcpPSH != 0) != last || (fl&tcpCWR != 0) != (i == 0) {
						t.Errorf("segment %d: flags %#x", i, fl)
					}
				}
				if !tc.v6 {
					if id := binary.BigEndian.Uint16(seg[18:]); id != 0x1234+uint16(i) {
						t.Errorf("segment %d: IPv4 ID %#x", i, id)
					}
				}
			}
			if !bytes.Equal(got, f[hdr:]) {
				t.Fatalf("payload changed in splitting")
			}
		})
	}
}

func TestSplitRefusesNonsense(t *testing.T) {
	var s segmenter
	s.init(8, 1514)
	f := superFrame(t, false, false, 3000)
	for name, fn := range map[string]func() (int, bool){
		"udp gso on tcp": func() (int, bool) { return s.split(f, gsoUDPL4, 1400, 1500) },
		"zero size":      func() (int, bool) { return s.split(f, gsoTCPv4, 0, 1500) },
		"runt":           func() (int, bool) { return s.split(f[:20], gsoTCPv4, 1400, 1500) },
		"not ip": func() (int, bool) {
			return s.split(append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 6}, f[header.EthernetLen:]...), gsoTCPv4, 1400, 1500)
		},
	} {
		if _, ok := fn(); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	// A queue that fills up drops the rest and counts it.
	k, _ := s.split(superFrame(t, false, false, 20000), gsoTCPv4, 1400, 1500)
	if k != 8 || s.dropped.Load() == 0 {
		t.Errorf("full queue: %d segments, %d dropped", k, s.dropped.Load())
	}
}

// TestCompleteChecksum fills the checksum field with the pseudo-header sum
// only, as CHECKSUM_PARTIAL leaves it, and finishes it.
func TestCompleteChecksum(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		f := superFrame(t, v6, true, 100)
		l4 := header.EthernetLen + 20
		if v6 {
			l4 = header.EthernetLen + 40
		}
		var ps uint64
		if v6 {
			for i := header.EthernetLen + 8; i < header.EthernetLen+40; i += 2 {
				ps += uint64(binary.BigEndian.Uint16(f[i:]))
			}
		} else {
			for i := header.EthernetLen + 12; i < header.EthernetLen+20; i += 2 {
				ps += uint64(binary.BigEndian.Uint16(f[i:]))
			}
		}
		ps += 17 + uint64(len(f)-l4)
		binary.BigEndian.PutUint16(f[l4+6:], header.Fold(ps))
		if err := xlattest.Check(f[header.EthernetLen:], false); err == nil {
			t.Fatalf("v6=%v: partial checksum already verifies", v6)
		}
		if !completeChecksum(f, l4, 6) {
			t.Fatalf("v6=%v: refused", v6)
		}
		if err := xlattest.Check(f[header.EthernetLen:], false); err != nil {
			t.Fatalf("v6=%v: %v", v6, err)
		}
	}
	if completeChecksum(make([]byte, 40), 30, 16) {
		t.Errorf("offsets past the frame accepted")
	}
}

func FuzzSplit(f *testing.F) {
	f.Add(superFrame(&testing.T{}, false, false, 3000), uint8(gsoTCPv4), uint16(1400))
	f.Add(superFrame(&testing.T{}, true, false, 3000), uint8(gsoTCPv6), uint16(1400))
	f.Add(superFrame(&testing.T{}, true, true, 3000), uint8(gsoUDPL4), uint16(1200))
	f.Fuzz(func(t *testing.T, frame []byte, gso uint8, size uint16) {
		var s segmenter
		s.init(256, 1514)
		k, ok := s.split(frame, gso, int(size), 1500)
		bufs := [][]byte{make([]byte, 2048)}
		sizes := []int{0}
		for i := 0; i < k; i++ {
			if s.pop(bufs, sizes, 0) != 1 {
				t.Fatalf("segment %d missing", i)
			}
			if sizes[0] > 1514 {
				t.Fatalf("segment %d is %d bytes", i, sizes[0])
			}
		}
		_ = ok
	})
}

func vnetHeader(gso uint8, size uint16) []byte {
	h := make([]byte, vnetHdrLen)
	h[0], h[1] = vnetNeedsCsum, gso
	binary.NativeEndian.PutUint16(h[4:], size)
	return h
}

// TestPassable: TCP super-frames in plain IPv4 and IPv6 packets go through
// whole; anything else is left to the segmenter.
func TestPassable(t *testing.T) {
	tcp4, tcp6, udp6 := superFrame(t, false, false, 5000), superFrame(t, true, false, 5000), superFrame(t, true, true, 5000)
	frag := append([]byte(nil), tcp4...)
	frag[header.EthernetLen+6] |= 0x20 // MF
	short := tcp6[:len(tcp6)-1]
	ext := append([]byte(nil), tcp6...)
	ext[header.EthernetLen+6] = 60 // Destination Options first
	for _, tc := range []struct {
		name  string
		h, f  []byte
		want  GSO
		wantO bool
	}{
		{"tcp4", vnetHeader(gsoTCPv4, 1448), tcp4, GSO{Size: 1448}, true},
		{"tcp6 ecn", vnetHeader(gsoTCPv6|gsoECN, 1428), tcp6, GSO{Size: 1428, ECN: true}, true},
		{"udp", vnetHeader(gsoUDPL4, 1400), udp6, GSO{}, false},
		{"tcp type on udp", vnetHeader(gsoTCPv6, 1400), udp6, GSO{}, false},
		{"fragment", vnetHeader(gsoTCPv4, 1448), frag, GSO{}, false},
		{"length mismatch", vnetHeader(gsoTCPv6, 1428), short, GSO{}, false},
		{"extension header", vnetHeader(gsoTCPv6, 1428), ext, GSO{}, false},
		{"size 0", vnetHeader(gsoTCPv4, 0), tcp4, GSO{}, false},
	} {
		g, ok := passable(tc.h, tc.f)
		if ok != tc.wantO || g != tc.want {
			t.Errorf("%s: passable = %+v, %v; want %+v, %v", tc.name, g, ok, tc.want, tc.wantO)
		}
	}
}

// TestGSOHeader: the header describes the super-frame, the segment size
// fits the MTU, and the checksum the kernel will finish from the partial
// one is the frame's true checksum.
func TestGSOHeader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v6      bool
		size    uint16
		mtu     int
		wantTyp byte
		wantMSS int
	}{
		{"tcp4", false, 1448, 1500, gsoTCPv4, 1448},
		{"tcp6 from a 1460-byte IPv4 MSS", true, 1460, 1500, gsoTCPv6, 1500 - 40 - 20},
		{"tcp4 small mtu", false, 1440, 1280, gsoTCPv4, 1280 - 20 - 20},
	} {
		f := superFrame(t, tc.v6, false, 7000)
		l4 := header.EthernetLen + 20
		if tc.v6 {
			l4 = header.EthernetLen + 40
		}
		want := binary.BigEndian.Uint16(f[l4+16:])
		var h [vnetHdrLen]byte
		if !gsoHeader(f, GSO{Size: tc.size, ECN: true}, tc.mtu, &h) {
			t.Fatalf("%s: refused", tc.name)
		}
		if h[0] != vnetNeedsCsum || h[1] != tc.wantTyp|gsoECN {
			t.Errorf("%s: flags %#x type %#x", tc.name, h[0], h[1])
		}
		hdrLen, mss := binary.NativeEndian.Uint16(h[2:]), binary.NativeEndian.Uint16(h[4:])
		start, off := binary.NativeEndian.Uint16(h[6:]), binary.NativeEndian.Uint16(h[8:])
		if int(hdrLen) != l4+20 || int(mss) != tc.wantMSS || int(start) != l4 || off != 16 {
			t.Errorf("%s: hdr_len %d gso_size %d csum_start %d csum_offset %d; want %d %d %d 16", tc.name, hdrLen, mss, start, off, l4+20, tc.wantMSS, l4)
		}
		// What the device (or skb_checksum_help) does with it.
		if got := header.Checksum(f[start:], 0); got != want {
			t.Errorf("%s: finished checksum %#04x, want %#04x", tc.name, got, want)
		}
	}
	// Not TCP: refused.
	var h [vnetHdrLen]byte
	if gsoHeader(superFrame(t, true, true, 3000), GSO{Size: 1400}, 1500, &h) {
		t.Error("UDP frame accepted")
	}
	// Tagged: refused (the offsets would be 4 bytes off).
	f := superFrame(t, false, false, 3000)
	f = append(append(append([]byte(nil), f[:12]...), 0x81, 0x00, 0x00, 0x0a), f[12:]...)
	if gsoHeader(f, GSO{Size: 1400}, 1500, &h) {
		t.Error("tagged frame accepted")
	}
}

func FuzzGSO(f *testing.F) {
	f.Add(vnetHeader(gsoTCPv4, 1448), superFrame(f, false, false, 3000))
	f.Add(vnetHeader(gsoTCPv6|gsoECN, 1428), superFrame(f, true, false, 3000))
	f.Add(vnetHeader(gsoTCPv6, 1428), superFrame(f, true, true, 3000))
	f.Fuzz(func(t *testing.T, h, fr []byte) {
		if len(h) < vnetHdrLen {
			return
		}
		if g, ok := passable(h, fr); ok {
			var vh [vnetHdrLen]byte
			gsoHeader(fr, g, 1500, &vh)
		}
		var vh [vnetHdrLen]byte
		gsoHeader(fr, GSO{Size: 1000}, 1500, &vh)
	})
}
