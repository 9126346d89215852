package wire

import (
	"encoding/binary"
	"testing"

	"github.com/nat64br/nat64br/xlat/header"
)

// offloadCases are the frames the offload benchmarks and the zero-alloc test
// run on: a 64 KiB-class super-frame per GSO type, as TSO or GRO hands them
// over.
var offloadCases = []struct {
	name    string
	v6, udp bool
	gso     uint8
}{
	{"tcp4", false, false, gsoTCPv4},
	{"tcp6", true, false, gsoTCPv6},
	{"udp6", true, true, gsoUDPL4},
}

const offloadPayload = 42 * 1400 // 42 segments of a 1400-byte MSS

// hdrLen is the length of the Ethernet, IP and TCP headers of a superFrame.
func hdrLen(v6 bool) int {
	if v6 {
		return header.EthernetLen + 40 + 20
	}
	return header.EthernetLen + 20 + 20
}

// partialFrame returns a superFrame whose UDP or TCP checksum field holds
// only the pseudo-header sum, as CHECKSUM_PARTIAL leaves it, and the offsets
// completeChecksum takes.
func partialFrame(tb testing.TB, v6, udp bool, n int) (f []byte, start, off int) {
	f = superFrame(tb, v6, udp, n)
	start, off = header.EthernetLen+20, 16
	if v6 {
		start = header.EthernetLen + 40
	}
	if udp {
		off = 6
	}
	binary.BigEndian.PutUint16(f[start+off:], 0)
	return f, start, off
}

func BenchmarkSplit(b *testing.B) {
	for _, tc := range offloadCases {
		b.Run(tc.name, func(b *testing.B) {
			f := superFrame(b, tc.v6, tc.udp, offloadPayload)
			var s segmenter
			s.init(64, 1514)
			b.SetBytes(int64(len(f)))
			b.ReportAllocs()
			for b.Loop() {
				s.head, s.n = 0, 0
				if k, ok := s.split(f, tc.gso, 1400, 1500); !ok || k != 42 {
					b.Fatalf("split = %d, %v", k, ok)
				}
			}
		})
	}
}

func BenchmarkGSOHeader(b *testing.B) {
	for _, tc := range offloadCases[:2] {
		b.Run(tc.name, func(b *testing.B) {
			f := superFrame(b, tc.v6, false, offloadPayload)
			var h [vnetHdrLen]byte
			b.SetBytes(int64(hdrLen(tc.v6))) // it reads and writes the headers only
			b.ReportAllocs()
			for b.Loop() {
				if !gsoHeader(f, GSO{Size: 1448}, 1500, &h) {
					b.Fatal("refused")
				}
			}
		})
	}
}

func BenchmarkCompleteChecksum(b *testing.B) {
	for _, n := range []int{1400, offloadPayload} {
		b.Run(map[int]string{1400: "1500", offloadPayload: "64k"}[n], func(b *testing.B) {
			f, start, off := partialFrame(b, false, false, n)
			b.SetBytes(int64(len(f) - start))
			b.ReportAllocs()
			for b.Loop() {
				if !completeChecksum(f, start, off) {
					b.Fatal("refused")
				}
			}
		})
	}
}

// TestOffloadNoAllocs: splitting, describing and completing a frame are on
// the receive and send paths and must not allocate.
func TestOffloadNoAllocs(t *testing.T) {
	for _, tc := range offloadCases {
		f := superFrame(t, tc.v6, tc.udp, offloadPayload)
		var s segmenter
		s.init(64, 1514)
		if a := testing.AllocsPerRun(100, func() {
			s.head, s.n = 0, 0
			s.split(f, tc.gso, 1400, 1500)
		}); a != 0 {
			t.Errorf("%s: split allocates %.1f times", tc.name, a)
		}
		var h [vnetHdrLen]byte
		if a := testing.AllocsPerRun(100, func() { gsoHeader(f, GSO{Size: 1448}, 1500, &h) }); a != 0 {
			t.Errorf("%s: gsoHeader allocates %.1f times", tc.name, a)
		}
		p, start, off := partialFrame(t, tc.v6, tc.udp, 1400)
		if a := testing.AllocsPerRun(100, func() { completeChecksum(p, start, off) }); a != 0 {
			t.Errorf("%s: completeChecksum allocates %.1f times", tc.name, a)
		}
	}
}
