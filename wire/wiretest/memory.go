package wiretest

import (
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/wire"
)

// Eth is an Ethernet layer from src to dst, for gopacket's serializer.
func Eth(dst, src [6]byte, et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{DstMAC: net.HardwareAddr(dst[:]), SrcMAC: net.HardwareAddr(src[:]), EthernetType: et}
}

// Send writes the frame f into p, failing the test if p is closed.
func Send(tb testing.TB, p *wire.MemoryPort, f []byte) {
	tb.Helper()
	if _, err := p.WriteBatch([][]byte{f}, 0); err != nil {
		tb.Fatal(err)
	}
}

// Expect reads Ethernet frames from p until match accepts one and returns
// it decoded, or fails the test after 5 s or when p is closed. Frames that
// do not match are consumed.
func Expect(tb testing.TB, p *wire.MemoryPort, what string, match func(gopacket.Packet) bool) gopacket.Packet {
	tb.Helper()
	ch := make(chan gopacket.Packet, 1)
	go func() {
		bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
		for {
			if _, err := p.ReadBatch(bufs, sizes, 0); err != nil {
				close(ch)
				return
			}
			pk := gopacket.NewPacket(append([]byte(nil), bufs[0][:sizes[0]]...), layers.LayerTypeEthernet, gopacket.Default)
			if match(pk) {
				ch <- pk
				return
			}
		}
	}()
	select {
	case pk, ok := <-ch:
		if !ok {
			tb.Fatalf("port closed while waiting for %s", what)
		}
		return pk
	case <-time.After(5 * time.Second):
		tb.Fatalf("no %s within 5 s", what)
	}
	return nil
}
