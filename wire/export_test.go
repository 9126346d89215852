package wire

import (
	"encoding/binary"
	"time"

	"github.com/nat64br/nat64br/xlat/header"
)

// RefuseFanoutData makes PACKET_FANOUT_DATA an option the kernel does not
// know until the test ends, as on a kernel without PACKET_FANOUT_CBPF.
func RefuseFanoutData(cleanup func(func())) {
	fanoutDataOpt = 9999
	cleanup(func() { fanoutDataOpt = packetFanoutData })
}

// Queue exposes the Go model of the fanout program to the tests: the queue
// of a frame received on CPU cpu.
func (s PortSpread) Queue(frame []byte, n, cpu int) int { return s.queue(frame, n, cpu) }

// queue is what the program returns for a frame (Ethernet header first)
// received on CPU cpu, modulo n: a model of it for tests.
func (s PortSpread) queue(frame []byte, n, cpu int) int {
	echo := func(id uint16) int {
		for q, c := range s.CPUs {
			if c == cpu {
				return q % n
			}
		}
		return int((uint32(id) * s.Key >> 16) % uint32(n))
	}
	if len(frame) < header.EthernetLen {
		return int(s.Offset % uint32(n))
	}
	ip := frame[header.EthernetLen:]
	be := binary.BigEndian
	var a, b uint32
	short := func(need int) bool { return len(ip) < need }
	switch header.Ethernet(frame).EtherType() {
	case header.EtherTypeIPv4:
		if short(20) {
			return 0
		}
		ihl := int(ip[0]&0xf) * 4
		switch {
		case be.Uint16(ip[6:])&0x3fff == 0 && (ip[9] == 6 || ip[9] == 17):
			if short(ihl + 4) {
				return 0
			}
			a, b = uint32(be.Uint16(ip[ihl:])), uint32(be.Uint16(ip[ihl+2:]))
		case be.Uint16(ip[6:])&0x3fff == 0 && ip[9] == 1:
			if short(ihl + 6) {
				return 0
			}
			return echo(be.Uint16(ip[ihl+4:]))
		default:
			a, b = be.Uint32(ip[12:]), be.Uint32(ip[16:])
		}
	case header.EtherTypeIPv6:
		if short(40) {
			return 0
		}
		switch ip[6] {
		case 6, 17:
			if short(44) {
				return 0
			}
			a, b = uint32(be.Uint16(ip[40:])), uint32(be.Uint16(ip[42:]))
		case 58:
			if short(46) {
				return 0
			}
			return echo(be.Uint16(ip[44:]))
		default:
			a, b = be.Uint32(ip[20:]), be.Uint32(ip[36:])
		}
	default:
		return int(s.Offset % uint32(n))
	}
	return int(((a+b)*s.Key>>16 + s.Offset) % uint32(n))
}

// Program exposes the assembled fanout program to the tests.
func (s PortSpread) Program() (int, error) {
	p, err := s.program()
	return len(p), err
}

// TimeoutMillis exposes timeoutMillis to the tests.
func TimeoutMillis(d time.Duration) int { return timeoutMillis(d) }
