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
	}
	ntagged = len(frames)
	return append(frames, tagged(src, dst, true, 4006)), ntagged // untagged, last
}

// TestPortVLANs sends tagged frames (VLAN 10 and 20, IPv4 and IPv6, an
// 802.1ad one) and an untagged one from a plain packet socket; a port with
// VLANs on hands them all over byte for byte, tags inline, through
// recvmmsg and through its rings in each way of reading them; with VLANs
// off only the untagged one comes, and the others are counted.
func TestPortVLANs(t *testing.T) {
	type reader func(bufs [][]byte, sizes []int) (frames [][]byte, n int, err error)
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
			var read reader
			var pl *wire.Poller
			if tc.ring == "" {
				read = func(bufs [][]byte, sizes []int) ([][]byte, int, error) {
					n, err := l.port.ReadBatch(bufs, sizes, 0)
					return bufs, n, err
				}
			} else {
				var qs []*wire.Queue
				if err := l.b.Do(func() (err error) {
					qs, err = l.port.OpenQueues(wire.QueueOptions{Frames: 64, PassGSO: tc.ring == "gso", Headroom: 64, Tailroom: 64})
					return err
				}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.port.Close(); l.port.ReleaseQueues() })
				q := qs[0]
				pl = newPoller(t, qs)
				frames, gso := make([][]byte, 8), make([]wire.GSO, 8)
				read = func(bufs [][]byte, sizes []int) ([][]byte, int, error) {
					if _, err := pl.WaitFor(100 * time.Millisecond); err != nil {
						return nil, 0, err
					}
					switch tc.ring {
					case "gso":
						n, err := q.ReadBatchGSO(bufs, sizes, gso, 0)
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
			tx, txIndex := rawSocket(t, l.a, "peer")
			frames, ntagged := vlanFrames(l.peerMAC, l.mac)
			want := map[string]bool{}
			for i, f := range frames {
				want[string(f)] = tc.vlans || i >= ntagged
			}
			last := string(frames[len(frames)-1])
			go func() {
				time.Sleep(100 * time.Millisecond)
				rawSend(t, tx, txIndex, frames...)
			}()
			timer := time.AfterFunc(5*time.Second, func() { l.port.Close() })
			defer timer.Stop()
			bufs, sizes := make([][]byte, 8), make([]int, 8)
			for i := range bufs {
				bufs[i] = make([]byte, 2048)
			}
			seen := map[string]bool{}
			for !seen[last] {
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

// TestPortWritesTagged: a tagged frame a port (and a queue) sends, full
// size, leaves as it is: a raw receiver on the other end gets it with its
// tag (in aux data, the kernel having untagged it).
func TestPortWritesTagged(t *testing.T) {
	l, qs := queueLab(t, 1)
	rx, _ := rawSocket(t, l.a, "peer")
	for _, tc := range []struct {
		name  string
		write func(f []byte) (int, error)
	}{
		{"port", func(f []byte) (int, error) { return l.port.WriteBatch([][]byte{f}, 0) }},
		{"queue", func(f []byte) (int, error) { return qs[0].WriteBatch([][]byte{f}, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A full-size frame: 1500 bytes of IP in a 1518-byte frame.
			f := tagged(l.mac, l.peerMAC, false, 5000, [2]uint16{0x8100, 20})
			f = append(f[:len(f):len(f)], make([]byte, 1518-len(f))...)
			binary.BigEndian.PutUint16(f[18+4:], 1500-40)
			binary.BigEndian.PutUint16(f[18+44:], 1500-40) // UDP length; the checksum does not matter here
			if n, err := tc.write(f); n != 1 || err != nil {
				t.Fatalf("write = %d, %v", n, err)
			}
			got, aux := rawRecv(t, rx, l.mac)
			untagged := append(append([]byte(nil), f[:12]...), f[16:]...)
			if !bytes.Equal(got, untagged) || aux.Status&tpStatusVLANValid == 0 || aux.Vlan_tci != 20 {
				t.Errorf("received %d bytes, tp_status %#x tci %d; want the %d-byte frame untagged with tci 20", len(got), aux.Status, aux.Vlan_tci, len(f))
			}
		})
	}
}
