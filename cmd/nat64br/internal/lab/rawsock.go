package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/wire"
)

// The lab's own raw AF_PACKET sockets: captures that count frames of
// interest on a link, and the tagging switch of the trunk pass (this
// kernel may lack 802.1Q, so the lab tags and untags frames itself).

const ethPAllBE = 0x0300 // htons(ETH_P_ALL)

// rawSocket opens an AF_PACKET socket bound to dev in ns, that wakes up
// every 200 ms to look at its stop flag. snap, if not 0, trims what is
// queued to that many bytes (a BPF program returning snap).
func rawSocket(ns labNS, dev string, snap uint32) (fd, index int, err error) {
	err = ns.do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		index = ifi.Index
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, ethPAllBE)
		return err
	})
	if err != nil {
		return -1, 0, err
	}
	fail := func(what string, err error) (int, int, error) {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("%s on %s: %w", what, dev, err)
	}
	if snap > 0 {
		prog := []unix.SockFilter{{Code: 0x06, K: snap}} // BPF_RET|BPF_K
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &prog[0]}); err != nil {
			return fail("SO_ATTACH_FILTER", err)
		}
	}
	// A super-frame takes its whole truesize in the queue, trimmed or not.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
		return fail("SO_RCVBUFFORCE", err)
	}
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPAllBE, Ifindex: index}); err != nil {
		return fail("bind", err)
	}
	return fd, index, nil
}

// capture counts, on one link, the frames its classify function names:
// a plain AF_PACKET socket seeing both directions, each frame trimmed to
// its first 256 bytes.
type capture struct {
	fd       int
	stop     atomic.Bool
	done     chan struct{}
	mu       sync.Mutex
	counts   map[string]int
	frames   int
	classify func(out bool, f []byte) []string
}

// startCapture starts counting on dev in ns. classify gets each frame
// (out: sent by the namespace's end of the link; with inOnly, only
// received frames are captured) and returns the labels to count it
// under.
func startCapture(ns labNS, dev string, inOnly bool, classify func(out bool, f []byte) []string) (*capture, error) {
	fd, _, err := rawSocket(ns, dev, 256)
	if err != nil {
		return nil, err
	}
	if inOnly {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("PACKET_IGNORE_OUTGOING on %s: %w", dev, err)
		}
	}
	c := &capture{fd: fd, done: make(chan struct{}), counts: map[string]int{}, classify: classify}
	go func() {
		defer close(c.done)
		buf := make([]byte, 512)
		for !c.stop.Load() {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					continue
				}
				return
			}
			sll, _ := from.(*unix.SockaddrLinklayer)
			out := sll != nil && sll.Pkttype == unix.PACKET_OUTGOING
			labels := c.classify(out, buf[:min(n, len(buf))])
			c.mu.Lock()
			c.frames++
			for _, l := range labels {
				c.counts[l]++
			}
			c.mu.Unlock()
		}
	}()
	return c, nil
}

// finish stops the capture and returns its counts, the frames it saw and
// the frames the kernel dropped for want of room in its queue.
func (c *capture) finish() (counts map[string]int, frames int, drops uint32) {
	c.stop.Store(true)
	<-c.done
	if st, err := unix.GetsockoptTpacketStats(c.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		drops = st.Drops
	}
	unix.Close(c.fd)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts, c.frames, drops
}

// ipOf returns the EtherType of the Ethernet frame f (past one 802.1Q
// tag) and its IP source and destination, if it is IPv4 or IPv6.
func ipOf(f []byte) (et uint16, src, dst net.IP) {
	if len(f) < 14 {
		return 0, nil, nil
	}
	et, l3 := binary.BigEndian.Uint16(f[12:]), 14
	if et == 0x8100 && len(f) >= 18 {
		et, l3 = binary.BigEndian.Uint16(f[16:]), 18
	}
	ip := f[l3:]
	switch {
	case et == 0x86dd && len(ip) >= 40:
		return et, net.IP(ip[8:24]), net.IP(ip[24:40])
	case et == 0x0800 && len(ip) >= 20:
		return et, net.IP(ip[12:16]).To4(), net.IP(ip[16:20]).To4()
	}
	return et, nil, nil
}

// vlanSwitch joins a trunk to one access port per VLAN: it tags what
// the access ports receive and sends it on the trunk, and sends what the
// trunk receives with a VLAN's tag (which the kernel took off into the
// frame's auxiliary data) untagged on that VLAN's access port. Untagged
// frames and frames of other VLANs from the trunk go nowhere.
type vlanSwitch struct {
	ns       labNS
	trunk    int
	access   map[uint16]*wire.PacketPort
	stop     atomic.Bool
	wg       sync.WaitGroup
	tagged   atomic.Uint64 // frames sent on the trunk
	untagged atomic.Uint64 // frames sent on an access port
	other    atomic.Uint64 // frames from the trunk untagged or of another VLAN, dropped
}

// startSwitch opens the trunk and access ports (dev names by VLAN ID) in
// ns and starts moving frames.
func startSwitch(ns labNS, trunk string, access map[uint16]string) (*vlanSwitch, error) {
	fd, index, err := rawSocket(ns, trunk, 0)
	if err != nil {
		return nil, err
	}
	s := &vlanSwitch{ns: ns, trunk: fd, access: map[uint16]*wire.PacketPort{}}
	for _, opt := range []struct{ opt, v int }{{unix.PACKET_AUXDATA, 1}, {unix.PACKET_IGNORE_OUTGOING, 1}} {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, opt.opt, opt.v); err != nil {
			s.close()
			return nil, fmt.Errorf("switch trunk %s: %w", trunk, err)
		}
	}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &unix.PacketMreq{Ifindex: int32(index), Type: unix.PACKET_MR_PROMISC}); err != nil {
		s.close()
		return nil, fmt.Errorf("switch trunk %s: promiscuous: %w", trunk, err)
	}
	for vid, dev := range access {
		var p *wire.PacketPort
		if err := ns.do(func() (err error) {
			p, err = wire.ListenPacket(dev, wire.PacketOptions{Promiscuous: true, AllMulticast: true})
			return err
		}); err != nil {
			s.close()
			return nil, fmt.Errorf("switch access port %s: %w", dev, err)
		}
		s.access[vid] = p
	}
	for vid, p := range s.access {
		s.wg.Add(1)
		go s.toTrunk(vid, p)
	}
	s.wg.Add(1)
	go s.fromTrunk()
	return s, nil
}

// toTrunk tags the frames access port p receives with vid and sends them
// on the trunk. (The port finishes offloaded checksums and cuts
// super-frames: what reaches the trunk fits its MTU.)
func (s *vlanSwitch) toTrunk(vid uint16, p *wire.PacketPort) {
	defer s.wg.Done()
	const room = 4
	bufs, sizes := make([][]byte, p.BatchSize()), make([]int, p.BatchSize())
	for i := range bufs {
		bufs[i] = make([]byte, room+64<<10)
	}
	for {
		n, err := p.ReadBatch(bufs, sizes, room)
		if err != nil {
			return
		}
		for i := range n {
			if sizes[i] < 14 {
				continue
			}
			b := bufs[i][:room+sizes[i]]
			copy(b[0:12], b[room:room+12])
			binary.BigEndian.PutUint16(b[12:], 0x8100)
			binary.BigEndian.PutUint16(b[14:], vid)
			if _, err := unix.Write(s.trunk, b); err == nil {
				s.tagged.Add(1)
			}
		}
	}
}

// fromTrunk reads the trunk and sends each frame of a known VLAN, without
// its tag, on the VLAN's access port.
func (s *vlanSwitch) fromTrunk() {
	defer s.wg.Done()
	buf, oob := make([]byte, 64<<10+64), make([]byte, 128)
	for !s.stop.Load() {
		n, oobn, _, _, err := unix.Recvmsg(s.trunk, buf, oob, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		f := buf[:n]
		vid, tagged := uint16(0), false
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				// struct tpacket_auxdata: tp_status, tp_len, tp_snaplen (u32),
				// tp_mac, tp_net, tp_vlan_tci, tp_vlan_tpid (u16).
				if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= 20 &&
					binary.NativeEndian.Uint32(m.Data)&unix.TP_STATUS_VLAN_VALID != 0 {
					vid, tagged = binary.NativeEndian.Uint16(m.Data[16:])&0xfff, true
				}
			}
		}
		if !tagged && len(f) >= 18 && binary.BigEndian.Uint16(f[12:]) == 0x8100 { // the tag left inline
			vid, tagged = binary.BigEndian.Uint16(f[14:])&0xfff, true
			copy(f[4:16], f[0:12])
			f = f[4:]
		}
		p := s.access[vid]
		if !tagged || p == nil {
			s.other.Add(1)
			continue
		}
		if k, _ := p.WriteBatch([][]byte{f}, 0); k == 1 {
			s.untagged.Add(1)
		}
	}
}

// inject sends frame f on the trunk as it is.
func (s *vlanSwitch) inject(f []byte) error {
	_, err := unix.Write(s.trunk, f)
	return err
}

// close stops the switch and closes its sockets.
func (s *vlanSwitch) close() {
	s.stop.Store(true)
	for _, p := range s.access {
		p.Close()
	}
	s.wg.Wait()
	unix.Close(s.trunk)
}
