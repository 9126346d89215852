package wire_test

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/wire/wiretest"
	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// lab is a veth pair: "peer" in namespace a (the kernel's own stack, with
// 192.0.2.1/24) and "port" in namespace b, where the test opens a
// PacketPort with 192.0.2.2 reachable through a static neighbor entry.
type lab struct {
	a, b    *wiretest.NS
	port    *wire.PacketPort
	mac     net.HardwareAddr
	peerMAC net.HardwareAddr
}

func newLab(t *testing.T, opts wire.PacketOptions) *lab {
	wiretest.NeedRoot(t)
	l := &lab{a: wiretest.NewNS(t, "nat64br-wa"), b: wiretest.NewNS(t, "nat64br-wb")}
	wiretest.Veth(t, l.a, "peer", l.b, "port")
	l.b.Run(t, "sysctl", "-qw", "net.ipv6.conf.port.disable_ipv6=1")
	l.a.Run(t, "ip", "addr", "add", "192.0.2.1/24", "dev", "peer")
	err := l.b.Do(func() error {
		p, err := wire.ListenPacket("port", opts)
		l.port = p
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.port.Close() })
	l.mac = l.port.MAC()
	l.peerMAC, _ = net.ParseMAC(l.a.MAC(t, "peer"))
	l.a.Run(t, "ip", "neigh", "replace", "192.0.2.2", "lladdr", l.mac.String(), "dev", "peer", "nud", "permanent")
	return l
}

// peerPort opens a port on the peer's end of the veth, to inject frames
// with; it is closed when the test ends.
func (l *lab) peerPort(t *testing.T) *wire.PacketPort {
	t.Helper()
	var p *wire.PacketPort
	if err := l.a.Do(func() (err error) {
		p, err = wire.ListenPacket("peer", wire.PacketOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// readFrame reads frames until match returns true or the deadline passes.
func (l *lab) readFrame(t *testing.T, match func([]byte) bool) []byte {
	t.Helper()
	type res struct {
		f   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		bufs := [][]byte{make([]byte, 70000), make([]byte, 70000)}
		sizes := make([]int, 2)
		for {
			n, err := l.port.ReadBatch(bufs, sizes, 0)
			if err != nil {
				ch <- res{nil, err}
				return
			}
			for i := 0; i < n; i++ {
				if f := bufs[i][:sizes[i]]; sizes[i] > 0 && match(f) {
					ch <- res{append([]byte(nil), f...), nil}
					return
				}
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.f
	case <-time.After(5 * time.Second):
		l.port.Close() // unblocks the reader
		t.Fatal("no matching frame within 5 s")
	}
	return nil
}

func isUDPTo(port uint16) func([]byte) bool {
	return func(f []byte) bool {
		return len(f) >= header.EthernetLen+28 && header.Ethernet(f).EtherType() == header.EtherTypeIPv4 && f[header.EthernetLen+9] == 17 && binary.BigEndian.Uint16(f[header.EthernetLen+22:]) == port
	}
}

// TestPacketPortChecksumOffload sends UDP from the kernel's stack with the
// veth's default transmit checksum offload: the frame reaches the port with
// only the pseudo-header sum in the checksum, and must leave ReadBatch with
// a valid one.
func TestPacketPortChecksumOffload(t *testing.T) {
	l := newLab(t, wire.PacketOptions{})
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = l.a.Cmd("bash", "-c", "for i in 1 2 3 4 5; do echo nat64br-offload-test > /dev/udp/192.0.2.2/9999; sleep 0.1; done").Run()
	}()
	f := l.readFrame(t, isUDPTo(9999))
	if err := xlattest.Check(f[header.EthernetLen:], false); err != nil {
		t.Fatalf("received frame does not check: %v", err)
	}
	st, err := l.port.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats: %+v", st)
	if st.ChecksumsCompleted == 0 {
		t.Logf("no CHECKSUM_PARTIAL frame seen (transmit checksum offload off on this kernel?)")
	}
}

// TestPacketPortFilter checks that unicast frames for another MAC do not
// reach the port, and broadcast frames do.
func TestPacketPortFilter(t *testing.T) {
	l := newLab(t, wire.PacketOptions{})
	inj := l.peerPort(t)
	udp := func(dst net.HardwareAddr, port uint16) []byte {
		ip := xlattest.IPv4("192.0.2.1", "192.0.2.2", layers.IPProtocolUDP)
		return xlattest.Serialize(&layers.Ethernet{SrcMAC: l.peerMAC, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4},
			ip, xlattest.UDP(1, port, ip), xlattest.Payload(10))
	}
	other, _ := net.ParseMAC("02:00:00:00:99:99")
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = inj.WriteBatch([][]byte{udp(other, 7001), udp(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 7002), udp(l.mac, 7003)}, 0)
	}()
	seen := map[uint16]bool{}
	l.readFrame(t, func(f []byte) bool {
		if isUDPTo(7001)(f) || isUDPTo(7002)(f) || isUDPTo(7003)(f) {
			seen[binary.BigEndian.Uint16(f[header.EthernetLen+22:])] = true
		}
		return seen[7003]
	})
	if seen[7001] {
		t.Errorf("a unicast frame for another MAC reached the port")
	}
	if !seen[7002] {
		t.Errorf("the broadcast frame did not reach the port")
	}
}

// TestPacketPortWrite sends an ICMP echo request with WriteBatch; the
// kernel in the other namespace answers it.
func TestPacketPortWrite(t *testing.T) {
	l := newLab(t, wire.PacketOptions{})
	ip := xlattest.IPv4("192.0.2.2", "192.0.2.1", layers.IPProtocolICMPv4)
	req := xlattest.Serialize(&layers.Ethernet{SrcMAC: l.mac, DstMAC: l.peerMAC, EthernetType: layers.EthernetTypeIPv4},
		ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 77, Seq: 1}, xlattest.Payload(32))
	go func() {
		time.Sleep(100 * time.Millisecond)
		if n, err := l.port.WriteBatch([][]byte{req}, 0); n != 1 || err != nil {
			t.Errorf("WriteBatch = %d, %v", n, err)
		}
	}()
	f := l.readFrame(t, func(f []byte) bool {
		return len(f) >= header.EthernetLen+28 && f[header.EthernetLen+9] == 1 && f[header.EthernetLen+20] == 0 && binary.BigEndian.Uint16(f[header.EthernetLen+24:]) == 77
	})
	if err := xlattest.Check(f[header.EthernetLen:], false); err != nil {
		t.Fatal(err)
	}
}

func TestPacketPortErrors(t *testing.T) {
	wiretest.NeedRoot(t)
	if _, err := wire.ListenPacket("nat64br-no-such-if", wire.PacketOptions{}); !errors.Is(err, wire.ErrNoInterface) {
		t.Errorf("missing interface: %v", err)
	}
	ns := wiretest.NewNS(t, "nat64br-wd")
	ns.Run(t, "ip", "link", "add", "down0", "type", "veth", "peer", "name", "down1")
	err := ns.Do(func() error {
		_, err := wire.ListenPacket("down0", wire.PacketOptions{})
		return err
	})
	if !errors.Is(err, wire.ErrInterfaceDown) {
		t.Errorf("interface down: %v", err)
	}
}

// TestPacketPortClose unblocks a reader.
func TestPacketPortClose(t *testing.T) {
	l := newLab(t, wire.PacketOptions{})
	done := make(chan error, 1)
	go func() {
		for {
			// The peer's IPv6 chatter may arrive first.
			if _, err := l.port.ReadBatch([][]byte{make([]byte, 2048)}, []int{0}, 0); err != nil {
				done <- err
				return
			}
		}
	}()
	closeAndExpect(t, l.port, done, "ReadBatch")
}

// closeAndExpect closes port while a reader (what) is blocked on it, and
// requires the reader to return net.ErrClosed on done promptly.
func closeAndExpect(t *testing.T, port *wire.PacketPort, done <-chan error, what string) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	port.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("%s after Close: %v", what, err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("%s still blocked after Close", what)
	}
}
