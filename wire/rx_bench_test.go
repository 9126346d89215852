package wire

import (
	"encoding/binary"
	"strconv"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/xlat/header"
)

// rxBench is what the receive benchmarks hand the per-frame work of a
// port: a port whose last recvmmsg batch held one frame (virtio-net
// header, PACKET_AUXDATA with tp_status status, tci and tpid), a queue on
// it, and a ring slot holding the same frame.
type rxBench struct {
	p    *PacketPort
	q    *Queue
	slot []byte
	f    []byte // the frame, untagged
}

// tp2Mac of the benchmark's ring slot: its tpacket2_hdr, then the
// virtio-net header just before the frame.
const rxBenchMac = 64

func newRxBench(tb testing.TB, size int, status uint32, tci, tpid uint16) *rxBench {
	f := superFrame(tb, false, true, size-header.EthernetLen-20-8)
	p := &PacketPort{mtu: 1500, rx: make([]mmsghdr, 1), rxVnet: make([][vnetHdrLen]byte, 1), rxAux: [][]byte{make([]byte, auxLen)}}
	p.seg.init(1, p.mtu+header.EthernetLen)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&p.rxAux[0][0]))
	h.Level, h.Type = unix.SOL_PACKET, unix.PACKET_AUXDATA
	h.SetLen(unix.CmsgLen(int(unsafe.Sizeof(unix.TpacketAuxdata{}))))
	d := p.rxAux[0][unix.CmsgLen(0):]
	binary.NativeEndian.PutUint32(d[0:], status)
	binary.NativeEndian.PutUint16(d[16:], tci)
	binary.NativeEndian.PutUint16(d[18:], tpid)
	p.rx[0].Hdr.SetControllen(auxLen)
	p.rx[0].Len = uint32(vnetHdrLen + len(f))
	q := &Queue{p: p}
	q.seg.init(1, p.mtu+header.EthernetLen)
	s := make([]byte, 4096)
	binary.NativeEndian.PutUint32(s[tp2Status:], status|tpStatusUser)
	binary.NativeEndian.PutUint32(s[tp2Len:], uint32(len(f)))
	binary.NativeEndian.PutUint32(s[tp2Snaplen:], uint32(len(f)))
	binary.NativeEndian.PutUint16(s[tp2Mac:], rxBenchMac)
	binary.NativeEndian.PutUint16(s[24:], tci) // tp_vlan_tci
	binary.NativeEndian.PutUint16(s[26:], tpid)
	copy(s[rxBenchMac:], f)
	return &rxBench{p: p, q: q, slot: s, f: f}
}

// run measures the receive path's per-frame work on r's frame: finish
// (after recvmmsg), or frame (the ring's copy out of a slot). For finish
// the frame is put back in b first, as recvmmsg would have left it.
func (r *rxBench) run(b *testing.B, ring bool, want int) {
	buf := make([]byte, 2048)
	status := binary.NativeEndian.Uint32(r.slot[tp2Status:])
	var c rxCounts
	b.ReportAllocs()
	b.SetBytes(int64(len(r.f)))
	b.ResetTimer()
	for range b.N {
		var n int
		if ring {
			n = r.q.frame(r.slot, status, buf, nil, &c)
		} else {
			copy(buf, r.f)
			n = r.p.finish(0, buf, &c)
		}
		if n != want {
			b.Fatalf("got a %d-byte frame, want %d", n, want)
		}
	}
}

// BenchmarkReceive is the per-frame work of a port on an ordinary
// (untagged, no offload) frame, through recvmmsg ("mmsg": the frame is
// copied into the buffer first, as the kernel would) and through a ring
// ("ring": copied out of the slot).
func BenchmarkReceive(b *testing.B) {
	for _, size := range []int{64, 1514} {
		for _, ring := range []bool{false, true} {
			b.Run(map[bool]string{false: "mmsg", true: "ring"}[ring]+"/"+strconv.Itoa(size), func(b *testing.B) {
				r := newRxBench(b, size, 0, 0, 0)
				r.run(b, ring, size)
			})
		}
	}
}
