package header

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// refChecksum is RFC 1071 written the slow, obvious way.
func refChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := Checksum(b, 0), refChecksum(b); got != want {
			t.Fatalf("len %d: Checksum = %#04x, want %#04x", n, got, want)
		}
	}
	// All ones and all zeros are the edge cases of end-around carry.
	for _, fill := range []byte{0x00, 0xff} {
		b := make([]byte, 1500)
		for i := range b {
			b[i] = fill
		}
		if got, want := Checksum(b, 0), refChecksum(b); got != want {
			t.Errorf("fill %#x: Checksum = %#04x, want %#04x", fill, got, want)
		}
	}
}

func TestChecksumKnownVector(t *testing.T) {
	// RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Fold(Sum(b, 0)); got != 0xddf2 {
		t.Fatalf("sum = %#04x, want 0xddf2", got)
	}
}

// TestUpdateMatchesRecompute changes random 16-bit-aligned words of a
// message and checks that the incremental update (RFC 1624) verifies like a
// recomputed checksum.
func TestUpdateMatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 2000; iter++ {
		n := 8 + 2*r.IntN(200)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		binary.BigEndian.PutUint16(b[0:], 0)
		binary.BigEndian.PutUint16(b[0:], Checksum(b, 0))
		// Replace a random even-length span.
		at := 2 + 2*r.IntN((n-4)/2)
		l := min(n-at, 2+2*r.IntN(16))
		old := append([]byte(nil), b[at:at+l]...)
		for i := at; i < at+l; i++ {
			b[i] = byte(r.Uint32())
		}
		d := SumNeg(old, 0)
		d = Sum(b[at:at+l], d)
		binary.BigEndian.PutUint16(b[0:], Update(binary.BigEndian.Uint16(b), d))
		if Fold(Sum(b, 0)) != 0xffff {
			t.Fatalf("iteration %d: updated checksum does not verify", iter)
		}
	}
}

func TestPseudoSums(t *testing.T) {
	// The IPv4 and IPv6 pseudo-headers differ only in their addresses, so
	// a checksum moves between them by the address delta.
	src4, dst4 := [4]byte{192, 0, 2, 1}, [4]byte{198, 51, 100, 2}
	var src6, dst6 [16]byte
	copy(src6[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	copy(dst6[:], []byte{0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 198, 51, 100, 2})
	data := []byte("0123456789abcdef0123")
	c4 := Checksum(data, PseudoSum4(src4, dst4, ProtoUDP, len(data)))
	d := Sum(src6[:], 0)
	d = Sum(dst6[:], d)
	d = SumNeg(src4[:], d)
	d = SumNeg(dst4[:], d)
	c6 := Checksum(data, PseudoSum6(&src6, &dst6, ProtoUDP, len(data)))
	if got := Update(c4, d); got != c6 && !(got == 0 && c6 == 0xffff) && !(got == 0xffff && c6 == 0) {
		t.Fatalf("Update(c4, delta) = %#04x, want %#04x", got, c6)
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Checksum(buf, 0)
	}
}

func BenchmarkPseudoSum6(b *testing.B) {
	src := [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}
	dst := [16]byte{0x00, 0x64, 0xff, 0x9b, 12: 192, 13: 0, 14: 2, 15: 1}
	b.SetBytes(2 * 16)
	b.ReportAllocs()
	var acc uint64
	for b.Loop() {
		acc += PseudoSum6(&src, &dst, ProtoTCP, 1440)
	}
	_ = acc
}
