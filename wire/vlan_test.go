package wire_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/wire/wiretest"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// rawSocket opens a plain AF_PACKET socket in ns, bound to dev for every
// EtherType, with PACKET_AUXDATA on; it is closed when the test ends.
func rawSocket(t *testing.T, ns *wiretest.NS, dev string) (fd, ifindex int) {
	t.Helper()
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		ifindex = ifi.Index
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL))); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return err
		}
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5})
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd, ifindex
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// rawSend sends frames as they are with the raw socket fd; it may run on
// a goroutine of its own.
func rawSend(t *testing.T, fd, ifindex int, frames ...[]byte) {
	t.Helper()
	for _, f := range frames {
		if err := unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
			t.Errorf("sendto: %v", err) // may run on a goroutine of its own
			return
		}
	}
}

// rawRecv reads frames with the raw socket fd until one comes from src
// (5 s at most); it returns the frame and its tpacket_auxdata.
func rawRecv(t *testing.T, fd int, src net.HardwareAddr) ([]byte, unix.TpacketAuxdata) {
	t.Helper()
	b, oob := make([]byte, 9000), make([]byte, 256)
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, b, oob, 0)
		if err != nil {
			t.Fatalf("recvmsg: %v", err)
		}
		if n < 14 || !bytes.Equal(b[6:12], src) {
			continue
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
				return b[:n], *(*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
			}
		}
		t.Fatal("no PACKET_AUXDATA with the frame")
	}
}

const tpStatusVLANValid = 1 << 4

// tagged returns an Ethernet frame to dst carrying a UDP datagram over
// IPv4 (v4) or IPv6 with the given tags (TPID, TCI), outermost first.
func tagged(src, dst net.HardwareAddr, v4 bool, sport uint16, tags ...[2]uint16) []byte {
	var ls []gopacket.SerializableLayer
	next := layers.EthernetTypeIPv6
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	if v4 {
		next = layers.EthernetTypeIPv4
		l := xlattest.IPv4("192.0.2.1", "192.0.2.2", layers.IPProtocolUDP)
		ip, ipl = l, l
	} else {
		l := xlattest.IPv6("2001:db8::1", "2001:db8::2", layers.IPProtocolUDP)
		ip, ipl = l, l
	}
	first := next
	if len(tags) > 0 {
		first = layers.EthernetType(tags[0][0])
	}
	ls = append(ls, &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: first})
	for i, tg := range tags {
		typ := next
		if i+1 < len(tags) {
			typ = layers.EthernetType(tags[i+1][0])
		}
		ls = append(ls, &layers.Dot1Q{Priority: uint8(tg[1] >> 13), DropEligible: tg[1]&0x1000 != 0, VLANIdentifier: tg[1] & 0xfff, Type: typ})
	}
	ls = append(ls, ipl, xlattest.UDP(sport, 9, ip), xlattest.Payload(64))
	return xlattest.Serialize(ls...)
}

// TestKernelStripsVLANTag is the experiment the VLANs option rests on: a
// tagged frame sent over a veth reaches a packet socket on the other end
// without its tag, and the tag comes in PACKET_AUXDATA (the kernel here
// has no 8021q module: the untagging is core code).
func TestKernelStripsVLANTag(t *testing.T) {
	wiretest.NeedRoot(t)
	a, b := wiretest.NewNS(t, "nat64br-va"), wiretest.NewNS(t, "nat64br-vb")
	wiretest.Veth(t, a, "peer", b, "port")
	src, _ := net.ParseMAC(a.MAC(t, "peer"))
	dst, _ := net.ParseMAC(b.MAC(t, "port"))
	tx, txIndex := rawSocket(t, a, "peer")
	rx, _ := rawSocket(t, b, "port")
	f := tagged(src, dst, true, 4000, [2]uint16{0x8100, 0xa00a}) // PCP 5, VID 10
	rawSend(t, tx, txIndex, f)
	got, aux := rawRecv(t, rx, src)
	untagged := append(append([]byte(nil), f[:12]...), f[16:]...)
	t.Logf("sent %d bytes, received %d; tp_status %#x tci %#x tpid %#x", len(f), len(got), aux.Status, aux.Vlan_tci, aux.Vlan_tpid)
	if !bytes.Equal(got, untagged) {
		t.Errorf("received frame is not the untagged one:\n got %x\nwant %x", got, untagged)
	}
	if aux.Status&tpStatusVLANValid == 0 || aux.Vlan_tci != 0xa00a || aux.Vlan_tpid != 0x8100 {
		t.Errorf("aux data: status %#x tci %#x tpid %#x, want VLAN_VALID, 0xa00a, 0x8100", aux.Status, aux.Vlan_tci, aux.Vlan_tpid)
	}
}

// vlanFrames are the frames TestPortVLANs sends, tagged and not.
func vlanFrames(src, dst net.HardwareAddr) (frames [][]byte, ntagged int) {
	frames = [][]byte{
		tagged(src, dst, true, 4001, [2]uint16{0x8100, 10}),
		tagged(src, dst, false, 4002, [2]uint16{0x8100, 10}),
		tagged(src, dst, true, 4003, [2]uint16{0x8100, 20}),
		tagged(src, dst, false, 4004, [2]uint16{0x8100, 0xe014}), // PCP 7, VID 20
		tagged(src, dst, true, 4005, [2]uint16{0x88a8, 30}),      // 802.1ad: the kernel says which TPID
		// QinQ: the kernel takes the outer tag out, the inner one stays.
		tagged(src, dst, false, 4006, [2]uint16{0x88a8, 100}, [2]uint16{0x8100, 10}),
	}
	ntagged = len(frames)
	return append(frames, tagged(src, dst, true, 4009)), ntagged // untagged, last
}

// reader reads a batch of frames; it returns the slices that hold them
// (from offset 0).
type reader func(bufs [][]byte, sizes []int) (frames [][]byte, n int, err error)

// vlanReader reads l's port with ReadBatch (ring ""), or opens a queue on
// it and reads that: ring is copy (ReadBatch), gso (ReadBatchGSO) or
// inplace (ReadBatchInPlace).
func vlanReader(t *testing.T, l *lab, ring string) reader {
	t.Helper()
	if ring == "" {
		return func(bufs [][]byte, sizes []int) ([][]byte, int, error) {
			n, err := l.port.ReadBatch(bufs, sizes, 0)
			return bufs, n, err
		}
	}
	var qs []*wire.Queue
	if err := l.b.Do(func() (err error) {
		qs, err = l.port.OpenQueues(wire.QueueOptions{Frames: 64, PassGSO: ring == "gso", Headroom: 64, Tailroom: 64})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.port.Close(); l.port.ReleaseQueues() })
	q := qs[0]
	pl := newPoller(t, qs)
	frames, gso := make([][]byte, 8), make([]wire.GSO, 8)
	return func(bufs [][]byte, sizes []int) ([][]byte, int, error) {
		if _, err := pl.WaitFor(100 * time.Millisecond); err != nil {
			return nil, 0, err
		}
		switch ring {
		case "gso":
			n, err := q.ReadBatchGSO(bufs, sizes, gso, 0)
			for i := range n {
				if gso[i].Size != 0 {
					t.Errorf("frame %d passed as a super-frame", i)
				}
			}
			return bufs, n, err
		case "inplace":
			n, err := q.ReadBatchInPlace(frames, bufs, sizes, gso, 64, 64)
			for i := range n {
				frames[i] = frames[i][64:]
			}
			return frames, n, err
		}
		n, err := q.ReadBatch(bufs, sizes, 0)
		return bufs, n, err
	}
}

// readUntil reads until the frame last came, or 5 s passed (then it
// closes the port and fails the test); it returns the frames of want that
// came, and fails the test for one that came although want says false.
func readUntil(t *testing.T, l *lab, read reader, want map[string]bool, last []byte) map[string]bool {
	t.Helper()
	timer := time.AfterFunc(5*time.Second, func() { l.port.Close() })
	defer timer.Stop()
	bufs, sizes := make([][]byte, 8), make([]int, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 70000) // a super-frame is read whole
	}
	seen := map[string]bool{}
	for !seen[string(last)] {
		got, n, err := read(bufs, sizes)
		if err != nil {
			t.Fatalf("read: %v (seen %d frames)", err, len(seen))
		}
		for i := range n {
			if sizes[i] == 0 {
				continue
			}
			f := string(got[i][:sizes[i]])
			if w, ok := want[f]; ok { // else the kernel's own traffic
				if !w {
					t.Errorf("frame %x came through", f)
				}
				seen[f] = true
			}
		}
	}
	return seen
}

// TestPortVLANs sends tagged frames (VLAN 10 and 20, IPv4 and IPv6, an
// 802.1ad one, a QinQ one) and an untagged one from a plain packet socket; a port with
// VLANs on hands them all over byte for byte, tags inline, through
// recvmmsg and through its rings in each way of reading them; with VLANs
// off only the untagged one comes, and the others are counted.
func TestPortVLANs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		vlans bool
		ring  string // "", or how to read the queue: copy, gso, inplace
	}{
		{"mmsg", true, ""},
		{"mmsg off", false, ""},
		{"ring copy", true, "copy"},
		{"ring gso", true, "gso"},
		{"ring in place", true, "inplace"},
		{"ring off", false, "copy"},
		{"ring in place off", false, "inplace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, wire.PacketOptions{VLANs: tc.vlans})
			read := vlanReader(t, l, tc.ring)
			tx, txIndex := rawSocket(t, l.a, "peer")
			frames, ntagged := vlanFrames(l.peerMAC, l.mac)
			want := map[string]bool{}
			for i, f := range frames {
				want[string(f)] = tc.vlans || i >= ntagged
			}
			go func() {
				time.Sleep(100 * time.Millisecond)
				rawSend(t, tx, txIndex, frames...)
			}()
			seen := readUntil(t, l, read, want, frames[len(frames)-1])
			for f, w := range want {
				if w && !seen[f] {
					t.Errorf("frame %x did not come through", f[:40])
				}
			}
			st, _ := l.port.Stats()
			if st.VLAN != uint64(ntagged) {
				t.Errorf("Stats.VLAN = %d, want %d", st.VLAN, ntagged)
			}
			if st.Truncated != 0 || st.BadOffload != 0 {
				t.Errorf("Stats: %d truncated, %d bad offloads", st.Truncated, st.BadOffload)
			}
		})
	}
}

// TestPortWritesTagged: a tagged frame a port (and a queue) sends leaves
// as it is: a raw receiver on the other end gets it with its tag (in aux
// data, the kernel having untagged it). A full-size frame may carry an
// 802.1Q tag, not an 802.1ad one.
func TestPortWritesTagged(t *testing.T) {
	l, qs := queueLab(t, 1)
	rx, _ := rawSocket(t, l.a, "peer")
	writers := []struct {
		name  string
		write func(f []byte) (int, error)
	}{
		{"port", func(f []byte) (int, error) { return l.port.WriteBatch([][]byte{f}, 0) }},
		{"queue", func(f []byte) (int, error) { return qs[0].WriteBatch([][]byte{f}, 0) }},
	}
	for _, tc := range []struct {
		name string
		tpid uint16
		ip   int  // bytes of IP: 1500 makes a full-size frame
		sent bool // false: the kernel refuses it (EMSGSIZE), counted in TxOversize
	}{
		{"802.1Q full size", 0x8100, 1500, true},
		{"802.1ad", 0x88a8, 1496, true},
		// The kernel allows 4 bytes over the MTU for 0x8100 only
		// (packet_extra_vlan_len_allowed).
		{"802.1ad full size", 0x88a8, 1500, false},
	} {
		for _, w := range writers {
			t.Run(tc.name+"/"+w.name, func(t *testing.T) {
				f := tagged(l.mac, l.peerMAC, false, 5000, [2]uint16{tc.tpid, 20})
				f = append(f[:len(f):len(f)], make([]byte, 18+tc.ip-len(f))...)
				binary.BigEndian.PutUint16(f[18+4:], uint16(tc.ip-40))
				binary.BigEndian.PutUint16(f[18+44:], uint16(tc.ip-40)) // UDP length; the checksum does not matter here
				st0, _ := l.port.Stats()
				n, err := w.write(f)
				if err != nil {
					t.Fatal(err)
				}
				st, _ := l.port.Stats()
				if !tc.sent {
					if n != 0 || st.TxOversize != st0.TxOversize+1 {
						t.Errorf("write = %d, TxOversize +%d; want 0, +1", n, st.TxOversize-st0.TxOversize)
					}
					return
				}
				if n != 1 {
					t.Fatalf("write = %d (TxOversize +%d, TxErrors +%d)", n, st.TxOversize-st0.TxOversize, st.TxErrors-st0.TxErrors)
				}
				got, aux := rawRecv(t, rx, l.mac)
				untagged := append(append([]byte(nil), f[:12]...), f[16:]...)
				if !bytes.Equal(got, untagged) || aux.Status&tpStatusVLANValid == 0 || aux.Vlan_tci != 20 || aux.Vlan_tpid != tc.tpid {
					t.Errorf("received %d bytes, tp_status %#x tci %d tpid %#x; want the %d-byte frame untagged with tci 20, tpid %#x",
						len(got), aux.Status, aux.Vlan_tci, aux.Vlan_tpid, len(f), tc.tpid)
				}
			})
		}
	}
}

// vnetSocket is rawSocket with PACKET_VNET_HDR: every frame sent starts
// with a virtio-net header.
func vnetSocket(t *testing.T, ns *wiretest.NS, dev string) (fd, ifindex int) {
	t.Helper()
	fd, ifindex = rawSocket(t, ns, dev)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		t.Fatal(err)
	}
	return fd, ifindex
}

// vnet returns a virtio-net header: flags, GSO type, hdr_len, gso_size,
// csum_start, csum_offset.
func vnet(flags, gso uint8, hdrLen, size, start, off uint16) []byte {
	h := make([]byte, 10)
	h[0], h[1] = flags, gso
	binary.NativeEndian.PutUint16(h[2:], hdrLen)
	binary.NativeEndian.PutUint16(h[4:], size)
	binary.NativeEndian.PutUint16(h[6:], start)
	binary.NativeEndian.PutUint16(h[8:], off)
	return h
}

// partial returns f (tagged, IPv4 at 18, then UDP or TCP) as a sender with
// checksum offload leaves it: the transport checksum field, at offset
// off, holding only the pseudo-header sum.
func partial(f []byte, off int) []byte {
	p := append([]byte(nil), f...)
	ip := p[18:]
	l4 := ip[20:]
	s := uint32(ip[9]) + uint32(len(l4))
	for i := 12; i < 20; i += 2 {
		s += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], uint16(s))
	return p
}

// TestPortVLANOffloads: the offloads of a tagged frame are undone before
// its tag goes back. A tagged UDP frame with its checksum left to offload
// (CHECKSUM_PARTIAL, sent with a virtio-net header) comes out whole and
// checksummed; a tagged TCP super-frame is dropped and counted, never
// split into untagged segments nor passed whole.
func TestPortVLANOffloads(t *testing.T) {
	for _, ring := range []string{"", "copy", "gso", "inplace"} {
		t.Run("ring="+ring, func(t *testing.T) {
			l := newLab(t, wire.PacketOptions{VLANs: true})
			read := vlanReader(t, l, ring)
			tx, txIndex := vnetSocket(t, l.a, "peer")
			udp := tagged(l.peerMAC, l.mac, true, 4100, [2]uint16{0x8100, 10})
			ip := xlattest.IPv4("192.0.2.1", "192.0.2.2", layers.IPProtocolTCP)
			tcp := xlattest.TCP(4101, 80, ip)
			super := xlattest.Serialize(&layers.Ethernet{SrcMAC: l.peerMAC, DstMAC: l.mac, EthernetType: layers.EthernetTypeDot1Q},
				&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}, ip, tcp, xlattest.Payload(3000))
			last := tagged(l.peerMAC, l.mac, true, 4102)
			want := map[string]bool{string(udp): true, string(last): true, string(super): false}
			st0, _ := l.port.Stats()
			go func() {
				time.Sleep(100 * time.Millisecond)
				rawSend(t, tx, txIndex,
					append(vnet(1, 0, 0, 0, 18+20, 6), partial(udp, 6)...),
					append(vnet(1, 1, 18+40, 1000, 18+20, 16), partial(super, 16)...), // VIRTIO_NET_HDR_GSO_TCPV4
					append(vnet(0, 0, 0, 0, 0, 0), last...))
			}()
			seen := readUntil(t, l, read, want, last)
			if !seen[string(udp)] {
				t.Error("the tagged UDP frame did not come through with its checksum")
			}
			st, _ := l.port.Stats()
			t.Logf("checksums completed %d, super-frames %d (unsupported %d), VLAN %d", st.ChecksumsCompleted-st0.ChecksumsCompleted,
				st.SuperFrames-st0.SuperFrames, st.UnsupportedSuperFrames-st0.UnsupportedSuperFrames, st.VLAN-st0.VLAN)
			if st.ChecksumsCompleted == st0.ChecksumsCompleted {
				t.Error("the kernel completed the checksum itself: nothing tested")
			}
			if st.UnsupportedSuperFrames-st0.UnsupportedSuperFrames != 1 || st.Segments != st0.Segments || st.SuperFramesPassed != 0 {
				t.Errorf("super-frame: %d unsupported, %d segments, %d passed; want 1, 0, 0",
					st.UnsupportedSuperFrames-st0.UnsupportedSuperFrames, st.Segments-st0.Segments, st.SuperFramesPassed)
			}
		})
	}
}

// untag returns f without its outer 802.1Q or 802.1ad tag, as the kernel
// holds it on receive.
func untag(f []byte) []byte {
	if et := binary.BigEndian.Uint16(f[12:]); et != 0x8100 && et != 0x88a8 {
		return f
	}
	return append(append([]byte(nil), f[:12]...), f[16:]...)
}

// TestQueuesSpreadTagged: the port's filter and fanout program run on the
// frame the kernel untagged, so tags do not shift their offsets. Tagged
// TCP and UDP frames over IPv4 and IPv6 come out of the queue the Go model
// of the fanout program picks for them untagged (by ports, not as non-IP
// frames), tags inline; a QinQ frame, whose inner tag stays in the frame,
// goes to the non-IP queue; a tagged frame to another MAC is filtered.
func TestQueuesSpreadTagged(t *testing.T) {
	const n = 3
	spread := wire.PortSpread{Key: 0x9e3779b1, Offset: 1}
	l := newLab(t, wire.PacketOptions{VLANs: true})
	var qs []*wire.Queue
	if err := l.b.Do(func() (err error) {
		qs, err = l.port.OpenQueues(wire.QueueOptions{Queues: n, Frames: 256, Spread: &spread})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.port.Close(); l.port.ReleaseQueues() })
	inj := l.peerPort(t)
	other, _ := net.ParseMAC("02:00:5e:00:53:99")
	foreign := tagged(l.peerMAC, other, true, 39999, [2]uint16{0x8100, 10})
	frames := [][]byte{tagged(l.peerMAC, l.mac, true, 39998, [2]uint16{0x88a8, 100}, [2]uint16{0x8100, 10})}
	for p := uint16(40000); p < 40024; p++ {
		vid := [2]uint16{0x8100, 10 + 10*(p%2)}
		frames = append(frames, tagged(l.peerMAC, l.mac, true, p, vid), tagged(l.peerMAC, l.mac, false, p, vid))
		for _, v4 := range []bool{true, false} {
			var ip gopacket.NetworkLayer
			var ipl gopacket.SerializableLayer
			if v4 {
				x := xlattest.IPv4("192.0.2.1", "198.51.100.7", layers.IPProtocolTCP)
				ip, ipl = x, x
			} else {
				x := xlattest.IPv6("2001:db8:6::2", "64:ff9b::c633:6407", layers.IPProtocolTCP)
				ip, ipl = x, x
			}
			et := layers.EthernetTypeIPv6
			if v4 {
				et = layers.EthernetTypeIPv4
			}
			frames = append(frames, xlattest.Serialize(&layers.Ethernet{SrcMAC: l.peerMAC, DstMAC: l.mac, EthernetType: layers.EthernetTypeDot1Q},
				&layers.Dot1Q{VLANIdentifier: vid[1], Type: et}, ipl, xlattest.TCP(p, 443, ip), xlattest.Payload(1)))
		}
	}
	if q := spread.Queue(untag(frames[0]), n, -1); q != int(spread.Offset%n) {
		t.Fatalf("the model sends the QinQ frame to queue %d, not to the non-IP one", q)
	}
	per := checkQueues(t, qs, append([][]byte{foreign}, frames...), func() { writeAll(inj, append([][]byte{foreign}, frames...)) }, func(f []byte) int {
		if bytes.Equal(f, foreign) {
			return -1 // the filter drops it
		}
		return spread.Queue(untag(f), n, -1)
	})
	for qi, c := range per {
		if c == 0 {
			t.Errorf("queue %d got nothing", qi)
		}
	}
	if st, _ := l.port.Stats(); st.VLAN != uint64(len(frames)) {
		t.Errorf("Stats.VLAN = %d, want %d", st.VLAN, len(frames))
	}
}
