package lab

import (
	"encoding/binary"
	mrand "math/rand/v2"
	"net"
	"time"

	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat/header"
)

// injectGarbage sends malformed frames to dst (nat64br's port) from a port
// on eth0 of ns for d: truncated and corrupt IPv4 and IPv6 headers, bad
// checksums, Neighbor Discovery with a hop limit other than 255, ARP for
// foreign addresses, VLAN tags, other EtherTypes and random bytes. It
// returns how many frames it sent.
func injectGarbage(ns labNS, dst net.HardwareAddr, v6 bool, d time.Duration) (int, error) {
	var p *wire.PacketPort
	if err := ns.do(func() (err error) { p, err = wire.ListenPacket("eth0", wire.PacketOptions{}); return err }); err != nil {
		return 0, err
	}
	defer p.Close()
	src := p.MAC()
	r := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))
	eth := func(et uint16, body []byte) []byte {
		f := append(append(append([]byte(nil), dst...), src...), byte(et>>8), byte(et))
		return append(f, body...)
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	ipv6 := func(nh byte, hl byte, payload []byte) []byte {
		h := make([]byte, 40)
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
		h[6], h[7] = nh, hl
		copy(h[8:], net.ParseIP(labClient6))
		copy(h[24:], net.ParseIP(labVia6))
		return append(h, payload...)
	}
	ipv4 := func(proto byte, payload []byte) []byte {
		h := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 192, 0, 2, 2, 192, 0, 2, 6}
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		return append(h, payload...)
	}
	kinds := []func() []byte{
		func() []byte { return random(r.IntN(1500)) },
		func() []byte { return eth(uint16(r.Uint32()), random(r.IntN(200))) },
		func() []byte { return eth(header.EtherTypeVLAN, random(60)) },
	}
	if v6 {
		kinds = append(kinds,
			func() []byte { return eth(header.EtherTypeIPv6, ipv6(17, 64, random(40))[:r.IntN(60)]) }, // truncated
			func() []byte {
				return eth(header.EtherTypeIPv6, ipv6(58, 64, append([]byte{135, 0, 0, 0}, random(28)...)))
			}, // NS, hop limit 64
			func() []byte {
				return eth(header.EtherTypeIPv6, ipv6(58, 255, append([]byte{135, 0, 0, 0}, random(28)...)))
			}, // NS, bad checksum
			func() []byte { return eth(header.EtherTypeIPv6, ipv6(0, 64, random(64))) },  // bogus extension headers
			func() []byte { return eth(header.EtherTypeIPv6, ipv6(17, 64, random(64))) }, // UDP with a bad checksum
			func() []byte { return eth(header.EtherTypeIPv4, ipv4(17, random(30))) },     // IPv4 on the IPv6 port
		)
	} else {
		kinds = append(kinds,
			func() []byte { return eth(header.EtherTypeIPv4, ipv4(17, random(30))[:r.IntN(28)]) }, // truncated
			func() []byte { return eth(header.EtherTypeIPv4, ipv4(6, random(40))) },               // bad header checksum
			func() []byte {
				a := []byte{0, 1, 8, 0, 6, 4, 0, 1}
				a = append(append(a, src...), 192, 0, 2, 2)
				a = append(append(a, make([]byte, 6)...), 198, 51, 100, byte(r.Uint32())) // ARP for a foreign address
				return eth(header.EtherTypeARP, a)
			},
			func() []byte { return eth(header.EtherTypeARP, random(r.IntN(40))) },        // malformed ARP
			func() []byte { return eth(header.EtherTypeIPv6, ipv6(17, 64, random(16))) }, // IPv6 on the IPv4 port
		)
	}
	batch := make([][]byte, 32)
	sent := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := range batch {
			f := kinds[r.IntN(len(kinds))]()
			if len(f) < 14 {
				f = append(f, make([]byte, 14-len(f))...)
			}
			batch[i] = f
		}
		n, err := p.WriteBatch(batch, 0)
		sent += n
		if err != nil {
			return sent, err
		}
		time.Sleep(2 * time.Millisecond)
	}
	return sent, nil
}
