package wire

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolGGRO is ETHTOOL_GGRO (include/uapi/linux/ethtool.h).
const ethtoolGGRO = 0x0000002b

// GROEnabled reports whether generic receive offload is on for the
// interface: the kernel then hands AF_PACKET sockets merged super-frames,
// which a PacketPort splits again in software.
func GROEnabled(name string) (bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	var val struct{ cmd, data uint32 }
	val.cmd = ethtoolGGRO
	var ifr [unix.IFNAMSIZ + 24]byte
	copy(ifr[:unix.IFNAMSIZ-1], name)
	*(*uintptr)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = uintptr(unsafe.Pointer(&val))
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		return false, e
	}
	return val.data != 0, nil
}
