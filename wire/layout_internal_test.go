package wire

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestKernelLayouts checks the structures the data path hands the kernel
// by pointer against their C layout on this architecture. Run it on a
// 32-bit one too (GOARCH=386 go test ./wire runs on amd64): a 64-bit
// mmsghdr there made recvmmsg fail with EMSGSIZE.
func TestKernelLayouts(t *testing.T) {
	ptr := unsafe.Sizeof(uintptr(0))
	// struct msghdr: name, namelen, iov, iovlen, control, controllen,
	// flags, each padded to a pointer; struct mmsghdr adds msg_len and
	// pads the whole to a pointer.
	msghdr := 7 * ptr
	mmsg := (msghdr + 4 + ptr - 1) / ptr * ptr
	var h tpacketReq
	var hdr unix.Tpacket2Hdr
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(struct msghdr)", unsafe.Sizeof(unix.Msghdr{}), msghdr},
		{"sizeof(struct mmsghdr)", unsafe.Sizeof(mmsghdr{}), mmsg},
		{"offsetof(mmsghdr, msg_len)", unsafe.Offsetof(mmsghdr{}.Len), msghdr},
		{"sizeof(struct iovec)", unsafe.Sizeof(unix.Iovec{}), 2 * ptr},
		{"sizeof(struct tpacket_req)", unsafe.Sizeof(h), unsafe.Sizeof(unix.TpacketReq{})},
		{"sizeof(struct tpacket2_hdr)", tp2HdrLen, unix.SizeofTpacket2Hdr},
		{"tp_status", tp2Status, unsafe.Offsetof(hdr.Status)},
		{"tp_len", tp2Len, unsafe.Offsetof(hdr.Len)},
		{"tp_snaplen", tp2Snaplen, unsafe.Offsetof(hdr.Snaplen)},
		{"tp_mac", tp2Mac, unsafe.Offsetof(hdr.Mac)},
		{"tp_vlan_tci", tp2VLANTCI, unsafe.Offsetof(hdr.Vlan_tci)},
		{"tp_vlan_tpid", tp2VLANTPID, unsafe.Offsetof(hdr.Vlan_tpid)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
			}
		})
	}
}
