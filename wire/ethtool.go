package wire

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolGGRO is ETHTOOL_GGRO (include/uapi/linux/ethtool.h).
const ethtoolGGRO = 0x0000002b

// Offload is an offload "ethtool -K" turns on or off, by its ETHTOOL_S*
// command (include/uapi/linux/ethtool.h).
type Offload uint32

// Offloads.
const (
	OffloadRxCsum Offload = 0x15 // rx
	OffloadTxCsum Offload = 0x17 // tx
	OffloadSG     Offload = 0x19 // sg
	OffloadTSO    Offload = 0x1f // tso
	OffloadGSO    Offload = 0x24 // gso
	OffloadGRO    Offload = 0x2c // gro
)

// AllOffloads are checksum offload, scatter-gather, TSO, GSO and GRO:
// "ethtool -K IF rx off tx off sg off tso off gso off gro off" leaves a
// veth moving frames no bigger than the MTU, with finished checksums.
var AllOffloads = []Offload{OffloadRxCsum, OffloadTxCsum, OffloadSG, OffloadTSO, OffloadGSO, OffloadGRO}

// ethtool runs the ethtool command cmd with data on the interface and
// returns the data the kernel wrote back.
func ethtool(name string, cmd, data uint32) (uint32, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	val := struct{ cmd, data uint32 }{cmd, data}
	var ifr [unix.IFNAMSIZ + 24]byte
	copy(ifr[:unix.IFNAMSIZ-1], name)
	*(*uintptr)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = uintptr(unsafe.Pointer(&val))
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		return 0, e
	}
	return val.data, nil
}

// GROEnabled reports whether generic receive offload is on for the
// interface: the kernel then hands AF_PACKET sockets merged super-frames.
func GROEnabled(name string) (bool, error) {
	v, err := ethtool(name, ethtoolGGRO, 0)
	return v != 0, err
}

// SetOffloads turns offloads on or off on the interface, as "ethtool -K"
// does, without the ethtool tool. An offload the device does not have is
// skipped.
func SetOffloads(name string, on bool, offloads ...Offload) error {
	var data uint32
	if on {
		data = 1
	}
	for _, o := range offloads {
		if _, err := ethtool(name, uint32(o), data); err != nil && err != unix.EOPNOTSUPP {
			return fmt.Errorf("%s: ethtool command %#x: %w", name, uint32(o), err)
		}
	}
	return nil
}
