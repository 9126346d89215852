package wire

import (
	"bytes"
	"strconv"
	"testing"
)

func TestInsertTag(t *testing.T) {
	frame := func(n int) []byte { // an untagged frame of n bytes: MACs 0..11, EtherType 0x0800, then n-14 bytes
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		if n >= 14 {
			b[12], b[13] = 0x08, 0x00
		}
		return b
	}
	tagged := func(n int) []byte { // frame(n) with tag 0x8100/0xa00a
		f := frame(n)
		return append(append(append([]byte(nil), f[:12]...), 0x81, 0x00, 0xa0, 0x0a), f[12:]...)
	}
	tag := vlanTag{tpid: 0x8100, tci: 0xa00a}
	for _, tc := range []struct {
		name   string
		n, at  int
		room   int // len(b)
		want   int
		result []byte
	}{
		{"moved on", 60, 0, 100, 64, tagged(60)},
		{"moved back", 60, 4, 100, 64, tagged(60)},
		{"exact fit", 60, 0, 64, 64, tagged(60)},
		{"exact fit, moved back", 60, 4, 64, 64, tagged(60)},
		{"header only", 14, 0, 18, 18, tagged(14)},
		{"no room", 60, 0, 63, 0, nil},
		{"no room, moved back", 60, 4, 63, 0, nil},
		{"short frame", 13, 0, 100, 0, nil},
		{"empty frame", 0, 0, 100, 0, nil},
		{"bad gap", 60, 2, 100, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, tc.room)
			copy(b[tc.at:], frame(tc.n))
			got := insertTag(b, tc.at, tc.n, tag)
			if got != tc.want {
				t.Fatalf("insertTag = %d, want %d", got, tc.want)
			}
			if got > 0 && !bytes.Equal(b[:got], tc.result) {
				t.Errorf("frame\n got %x\nwant %x", b[:got], tc.result)
			}
		})
	}
}

// TestRetag: offloads are undone on the untagged frame, then the tag goes
// in; super-frames and frames with no room are counted and dropped.
func TestRetag(t *testing.T) {
	tag := vlanTag{tpid: 0x88a8, tci: 20}
	for _, tc := range []struct {
		name                          string
		h                             [vnetHdrLen]byte
		n, room                       int
		want                          int
		super, unsupported, truncated uint64
	}{
		{"plain", [vnetHdrLen]byte{}, 60, 64, 64, 0, 0, 0},
		{"tcp super-frame", [vnetHdrLen]byte{1: gsoTCPv4}, 60, 64, 0, 1, 1, 0},
		{"udp super-frame", [vnetHdrLen]byte{1: gsoUDPL4}, 60, 64, 0, 1, 1, 0},
		{"no room", [vnetHdrLen]byte{}, 61, 64, 0, 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, tc.room)
			var c rxCounts
			if got := retag(tc.h[:], b, 0, tc.n, tag, &c); got != tc.want {
				t.Errorf("retag = %d, want %d", got, tc.want)
			}
			if c.super != tc.super || c.unsupported != tc.unsupported || c.truncated != tc.truncated {
				t.Errorf("counts %+v", c)
			}
		})
	}
}

func TestInsertTagAllocs(t *testing.T) {
	b := make([]byte, 2048)
	var c rxCounts
	h := make([]byte, vnetHdrLen)
	if a := testing.AllocsPerRun(100, func() { retag(h, b, 0, 1514, vlanTag{0x8100, 10}, &c) }); a != 0 {
		t.Errorf("retag: %v allocations", a)
	}
}

func BenchmarkInsertTag(b *testing.B) {
	for _, at := range []int{0, vlanLen} {
		b.Run([]string{"moved on", "moved back"}[at/vlanLen], func(b *testing.B) {
			buf := make([]byte, 2048)
			b.ReportAllocs()
			b.SetBytes(1514)
			for range b.N {
				insertTag(buf, at, 1514, vlanTag{0x8100, 10})
			}
		})
	}
}

// BenchmarkReceiveTagged is BenchmarkReceive for a frame the kernel
// untagged, on a port with PacketOptions.VLANs: the tag goes back in.
func BenchmarkReceiveTagged(b *testing.B) {
	for _, size := range []int{64, 1514} {
		for _, ring := range []bool{false, true} {
			b.Run(map[bool]string{false: "mmsg", true: "ring"}[ring]+"/"+strconv.Itoa(size), func(b *testing.B) {
				r := newRxBench(b, size, tpStatusVLANValid|tpStatusTPIDValid, 10, 0x8100)
				r.p.vlans = true
				r.run(b, ring, size+vlanLen)
			})
		}
	}
}

// TestQueueFrameNoRoom: a ring frame that will not fit the caller's buffer
// is counted as truncated, even when the buffer is empty and the frame
// waits on the socket's queue (TP_STATUS_COPY), tagged or not.
func TestQueueFrameNoRoom(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status uint32
		vlans  bool
		room   int
		want   rxCounts
	}{
		{"tagged, copy, empty buffer", tpStatusVLANValid | tpStatusCopy, true, 0, rxCounts{vlan: 1, truncated: 1}},
		{"tagged, copy, tag only", tpStatusVLANValid | tpStatusCopy, true, vlanLen, rxCounts{vlan: 1, truncated: 1}},
		{"tagged, copy, no room", tpStatusVLANValid | tpStatusCopy, true, 60, rxCounts{vlan: 1, truncated: 1}},
		{"tagged, empty buffer", tpStatusVLANValid, true, 0, rxCounts{vlan: 1, truncated: 1}},
		{"tagged, no room for the tag", tpStatusVLANValid, true, 1514, rxCounts{vlan: 1, truncated: 1}},
		{"tagged, option off, copy, empty buffer", tpStatusVLANValid | tpStatusCopy, false, 0, rxCounts{vlan: 1}},
		{"untagged, copy, empty buffer", tpStatusCopy, false, 0, rxCounts{truncated: 1}},
		{"untagged, empty buffer", 0, false, 0, rxCounts{truncated: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRxBench(t, 1514, tc.status, 10, 0x8100)
			r.p.vlans = tc.vlans
			r.q.fd = -1 // recvmsg fails: the copy is not on the socket's queue
			var c rxCounts
			if n := r.q.frame(r.slot, tc.status|tpStatusUser, make([]byte, tc.room), nil, &c); n != 0 {
				t.Errorf("frame = %d, want 0", n)
			}
			if c != tc.want {
				t.Errorf("counts %+v, want %+v", c, tc.want)
			}
		})
	}
}
