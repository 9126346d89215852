package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/xlat/header"
)

// Kernel constants x/sys/unix may not have.
const (
	packetIgnoreOutgoing = 0x17 // PACKET_IGNORE_OUTGOING (Linux >= 4.20)
	packetVnetHdr        = 0xf  // PACKET_VNET_HDR
	ethPAll              = 0x0003
	vnetHdrLen           = 10 // struct virtio_net_hdr

	tpStatusVLANValid = 1 << 4 // TP_STATUS_VLAN_VALID in tpacket_auxdata
	tpStatusCsumNR    = 1 << 3 // TP_STATUS_CSUMNOTREADY
	tpStatusTPIDValid = 1 << 6 // TP_STATUS_VLAN_TPID_VALID

	// Offsets in struct tpacket_auxdata.
	auxStatusOff = 0
	auxTCIOff    = 16 // tp_vlan_tci
	auxTPIDOff   = 18 // tp_vlan_tpid
	auxDataLen   = 20
)

// virtio_net_hdr flags and GSO types (include/uapi/linux/virtio_net.h).
const (
	vnetNeedsCsum = 1
	gsoNone       = 0
	gsoTCPv4      = 1
	gsoUDP        = 3
	gsoTCPv6      = 4
	gsoUDPL4      = 5
	gsoECN        = 0x80
)

// mmsghdr is struct mmsghdr as this architecture lays it out: 64 bytes
// with a tail pad on 64-bit Linux, 32 and none on 32-bit (recvmmsg and
// sendmmsg walk arrays of it, so the stride must be the kernel's).
type mmsghdr = unix.Mmsghdr

// auxLen is the room for one PACKET_AUXDATA control message.
var auxLen = unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{})))

// PacketOptions configure an AF_PACKET port. The zero value is valid.
type PacketOptions struct {
	// BatchSize is the number of frames one recvmmsg or sendmmsg moves at
	// most (default 64).
	BatchSize int

	// Promiscuous receives unicast frames for any MAC address, not only the
	// port's own.
	Promiscuous bool

	// AllMulticast receives every multicast frame (needed to proxy Neighbor
	// Discovery for a whole prefix, whose solicited-node groups are too
	// many to join one by one).
	AllMulticast bool

	// Multicast lists link-layer groups to join (all-nodes, solicited-node
	// groups of the port's addresses).
	Multicast []net.HardwareAddr

	// SocketBuffer sets SO_RCVBUFFORCE and SO_SNDBUFFORCE (default 4 MiB),
	// or SO_RCVBUF and SO_SNDBUF where those are not permitted.
	SocketBuffer int

	// MaxSegments bounds how many segments of split super-frames wait for
	// the next ReadBatch (default 1024).
	MaxSegments int

	// VLANs hands 802.1Q-tagged frames over as they were on the wire, tag
	// inline (the kernel takes the tag out of every frame it receives and
	// reports it beside the frame; the port puts it back), 4 bytes longer
	// than the untagged frame. Without it such frames are counted
	// (Stats.VLAN) and dropped. Tagged super-frames are dropped either way
	// (Stats.UnsupportedSuperFrames). Queues opened with OpenQueues do as
	// their port does.
	VLANs bool
}

// PacketPort is a Port on a network interface: an AF_PACKET socket bound to
// it, moving frames with recvmmsg and sendmmsg through the Go netpoller.
//
// It hides the interface's offloads from its user: it asks the kernel for a
// virtio-net header with every frame (PACKET_VNET_HDR), completes transport
// checksums that the sender left to offload (CHECKSUM_PARTIAL), and splits
// TCP and UDP super-frames (GSO, or GRO on the port) into frames that fit
// the MTU. VLAN-tagged frames (the kernel strips the tag on receive) are
// counted, and dropped unless PacketOptions.VLANs puts the tag back.
//
// ReadBatch must be called from one goroutine at a time; WriteBatch may be
// called from several (it locks per batch).
type PacketPort struct {
	name string
	ifi  *net.Interface
	conn *packet.Conn
	rc   syscall.RawConn
	mtu  int

	rx     []mmsghdr
	rxIov  []unix.Iovec
	rxVnet [][vnetHdrLen]byte
	rxAux  [][]byte

	kmu              sync.Mutex // guards the kernel totals, summed by Stats
	kpackets, kdrops uint64

	txMu  sync.Mutex
	tx    []mmsghdr
	txIov []unix.Iovec
	vnet0 [vnetHdrLen]byte // an all-zero header for every frame sent

	seg    segmenter
	segMax int

	promisc   bool
	vlans     bool     // PacketOptions.VLANs
	queues    []*Queue // receive queues, if OpenQueues was called
	spreadErr error    // see SpreadError
	wake      int      // eventfd that Close makes readable, to wake Pollers

	stats  portCounters
	closed atomic.Bool
}

// portCounters are the port's own books, beside the kernel's.
type portCounters struct {
	rxFrames, txFrames     atomic.Uint64
	csumCompleted          atomic.Uint64
	superFrames, segments  atomic.Uint64
	segmentDrops           atomic.Uint64
	truncated, vlan        atomic.Uint64
	txErrors, txOversize   atomic.Uint64
	badOffload, rxBatches  atomic.Uint64
	txBatches, rxBatchSum  atomic.Uint64
	lastTxErrno            atomic.Uint64
	unsupportedSuperFrames atomic.Uint64
	superPassed, gsoSent   atomic.Uint64
	bypassOff              atomic.Uint64
}

// ErrNoInterface is returned for an interface that does not exist.
var ErrNoInterface = errors.New("no such network interface")

// ErrInterfaceDown is returned for an interface that is administratively
// down.
var ErrInterfaceDown = errors.New("network interface is down")

// UsableInterface returns the interface called name if ListenPacket can
// open a port on it as far as existence and state go: it exists
// (ErrNoInterface otherwise) and is up (ErrInterfaceDown).
func UsableInterface(name string) (*net.Interface, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNoInterface)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("%s: %w (ip link set %s up)", name, ErrInterfaceDown, name)
	}
	return ifi, nil
}

// ListenPacket opens an AF_PACKET port on the interface called name.
func ListenPacket(name string, opts PacketOptions) (*PacketPort, error) {
	ifi, err := UsableInterface(name)
	if err != nil {
		return nil, err
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%s: not an Ethernet interface (hardware address %q)", name, ifi.HardwareAddr)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 64
	}
	if opts.SocketBuffer == 0 {
		opts.SocketBuffer = 4 << 20
	}
	if opts.MaxSegments <= 0 {
		opts.MaxSegments = 1024
	}
	filter, err := Filter(ifi.HardwareAddr, opts.Promiscuous)
	if err != nil {
		return nil, err
	}
	conn, err := packet.Listen(ifi, packet.Raw, ethPAll, &packet.Config{Filter: filter})
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("%s: opening a packet socket needs CAP_NET_RAW (run as root or grant the capability): %w", name, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &PacketPort{name: name, ifi: ifi, conn: conn, mtu: ifi.MTU, promisc: opts.Promiscuous, vlans: opts.VLANs, segMax: opts.MaxSegments, wake: -1}
	if err := p.setup(opts); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if p.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: eventfd: %w", name, err)
	}
	p.seg.init(opts.MaxSegments, p.mtu+header.EthernetLen)
	return p, nil
}

func (p *PacketPort) setup(opts PacketOptions) error {
	rc, err := p.conn.SyscallConn()
	if err != nil {
		return err
	}
	p.rc = rc
	var serr error
	err = rc.Control(func(fd uintptr) {
		set := func(level, opt, v int, name string) {
			if serr == nil {
				if e := unix.SetsockoptInt(int(fd), level, opt, v); e != nil {
					serr = fmt.Errorf("%s: %w", name, e)
				}
			}
		}
		set(unix.SOL_PACKET, packetIgnoreOutgoing, 1, "PACKET_IGNORE_OUTGOING")
		set(unix.SOL_PACKET, packetVnetHdr, 1, "PACKET_VNET_HDR")
		set(unix.SOL_PACKET, unix.PACKET_AUXDATA, 1, "PACKET_AUXDATA")
		// The FORCE options need CAP_NET_ADMIN in the initial user
		// namespace, which root in an unprivileged container lacks:
		// then the plain ones, capped by net.core.[rw]mem_max, do.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, opts.SocketBuffer) != nil {
			set(unix.SOL_SOCKET, unix.SO_RCVBUF, opts.SocketBuffer, "SO_RCVBUF")
		}
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, opts.SocketBuffer) != nil {
			set(unix.SOL_SOCKET, unix.SO_SNDBUF, opts.SocketBuffer, "SO_SNDBUF")
		}
		if opts.AllMulticast && serr == nil {
			mreq := unix.PacketMreq{Ifindex: int32(p.ifi.Index), Type: unix.PACKET_MR_ALLMULTI}
			if e := unix.SetsockoptPacketMreq(int(fd), unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); e != nil {
				serr = fmt.Errorf("PACKET_MR_ALLMULTI: %w", e)
			}
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	if opts.Promiscuous {
		if err := p.conn.SetPromiscuous(true); err != nil {
			return fmt.Errorf("promiscuous mode: %w", err)
		}
	}
	for _, g := range opts.Multicast {
		if err := p.conn.JoinGroup(g); err != nil {
			return fmt.Errorf("join %s: %w", g, err)
		}
	}
	n := opts.BatchSize
	p.rx = make([]mmsghdr, n)
	p.rxIov = make([]unix.Iovec, 2*n)
	p.rxVnet = make([][vnetHdrLen]byte, n)
	p.rxAux = make([][]byte, n)
	p.tx = make([]mmsghdr, n)
	p.txIov = make([]unix.Iovec, 2*n)
	for i := 0; i < n; i++ {
		p.rxAux[i] = make([]byte, auxLen)
		p.rxIov[2*i].Base = &p.rxVnet[i][0]
		p.rxIov[2*i].SetLen(vnetHdrLen)
		p.rx[i].Hdr.Iov = &p.rxIov[2*i]
		p.rx[i].Hdr.SetIovlen(2)
		p.txIov[2*i].Base = &p.vnet0[0]
		p.txIov[2*i].SetLen(vnetHdrLen)
		p.tx[i].Hdr.Iov = &p.txIov[2*i]
		p.tx[i].Hdr.SetIovlen(2)
	}
	return nil
}

// Name returns the interface name.
func (p *PacketPort) Name() string { return p.name }

// MAC returns the interface's hardware address.
func (p *PacketPort) MAC() net.HardwareAddr { return p.ifi.HardwareAddr }

// MTU returns the interface's MTU.
func (p *PacketPort) MTU() int { return p.mtu }

// Index returns the interface index.
func (p *PacketPort) Index() int { return p.ifi.Index }

// LinkType is LinkEthernet.
func (p *PacketPort) LinkType() LinkType { return LinkEthernet }

// BatchSize returns the number of frames a call moves at most.
func (p *PacketPort) BatchSize() int { return len(p.rx) }

// JoinGroup joins a link-layer multicast group.
func (p *PacketPort) JoinGroup(mac net.HardwareAddr) error { return p.conn.JoinGroup(mac) }

// ReadBatch reads up to len(bufs) frames into bufs[i][offset:] and sets
// sizes[i]. A size of 0 means that slot holds nothing the caller should
// look at (a super-frame that was split: its segments come first in the
// next call; a truncated frame, or a VLAN-tagged one without
// PacketOptions.VLANs: counted and dropped). A tagged frame comes with its
// tag inline, so it needs 4 bytes more room than its untagged length. It
// blocks until a frame arrives; after Close it returns net.ErrClosed.
func (p *PacketPort) ReadBatch(bufs [][]byte, sizes []int, offset int) (int, error) {
	if n := p.seg.pop(bufs, sizes, offset); n > 0 {
		return n, nil
	}
	n := min(len(bufs), len(p.rx))
	for i := 0; i < n; i++ {
		b := bufs[i][offset:]
		p.rxIov[2*i+1].Base = &b[0]
		p.rxIov[2*i+1].SetLen(len(b))
		p.rx[i].Hdr.Control = &p.rxAux[i][0]
		p.rx[i].Hdr.SetControllen(len(p.rxAux[i]))
		p.rx[i].Hdr.Flags = 0
	}
	var got int
	var rerr error
	err := p.rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&p.rx[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			got = int(r)
			return true
		case unix.EAGAIN:
			return false
		case unix.EINTR:
			return true
		}
		rerr = e
		return true
	})
	if err != nil {
		return 0, p.closedErr(err)
	}
	if rerr != nil {
		return 0, &net.OpError{Op: "recvmmsg", Net: "packet", Err: rerr}
	}
	p.stats.rxBatches.Add(1)
	p.stats.rxBatchSum.Add(uint64(got))
	c := rxCounts{frames: uint64(got)}
	for i := 0; i < got; i++ {
		sizes[i] = p.finish(i, bufs[i][offset:], &c)
	}
	p.stats.add(&c)
	return got, nil
}

// finish checks frame i of the last batch against its virtio-net header and
// auxiliary data: it completes an offloaded checksum in place, or splits a
// super-frame into the segment queue. It returns the frame's usable length.
func (p *PacketPort) finish(i int, b []byte, c *rxCounts) int {
	m := &p.rx[i]
	n := int(m.Len) - vnetHdrLen
	if n <= 0 || m.Hdr.Flags&unix.MSG_TRUNC != 0 || n > len(b) {
		c.truncated++
		return 0
	}
	if a, ok := parseAux(p.rxAux[i][:m.Hdr.Controllen]); ok && a.status&tpStatusVLANValid != 0 {
		c.vlan++
		if !p.vlans || a.noTag {
			return 0
		}
		return retag(p.rxVnet[i][:], b, 0, n, a.tag(), c)
	}
	return undoOffloads(p.rxVnet[i][:], b[:n], &p.seg, p.mtu, c)
}

// rxCounts are the receive books of one batch, kept in plain integers by
// the reading goroutine and added to the shared atomics once per batch.
type rxCounts struct {
	frames, csum, super, segments, badOffload, unsupported, truncated, vlan uint64
	passed                                                                  uint64 // super-frames passed through whole
}

// add publishes c into the port's counters.
func (s *portCounters) add(c *rxCounts) {
	if c.frames != 0 {
		s.rxFrames.Add(c.frames)
	}
	if c.csum != 0 {
		s.csumCompleted.Add(c.csum)
	}
	if c.super != 0 {
		s.superFrames.Add(c.super)
		s.segments.Add(c.segments)
	}
	if c.passed != 0 {
		s.superPassed.Add(c.passed)
	}
	if c.badOffload != 0 {
		s.badOffload.Add(c.badOffload)
	}
	if c.unsupported != 0 {
		s.unsupportedSuperFrames.Add(c.unsupported)
	}
	if c.truncated != 0 {
		s.truncated.Add(c.truncated)
	}
	if c.vlan != 0 {
		s.vlan.Add(c.vlan)
	}
	*c = rxCounts{}
}

// undoOffloads applies the virtio-net header h of frame: it completes a
// checksum the sender left to offload, in place, or splits a super-frame
// into seg. It returns the frame's usable length, 0 for a super-frame
// (its segments wait in seg) or a bad one.
func undoOffloads(h, frame []byte, seg *segmenter, mtu int, c *rxCounts) int {
	flags, gso := h[0], h[1]&^gsoECN
	if gso != gsoNone {
		c.super++
		switch gso {
		case gsoTCPv4, gsoTCPv6, gsoUDPL4:
			gsoSize := int(binary.NativeEndian.Uint16(h[4:]))
			k, ok := seg.split(frame, gso, gsoSize, mtu)
			if !ok {
				c.badOffload++
			}
			c.segments += uint64(k)
		default:
			c.unsupported++
		}
		return 0
	}
	if flags&vnetNeedsCsum != 0 {
		csumStart, csumOff := int(binary.NativeEndian.Uint16(h[6:])), int(binary.NativeEndian.Uint16(h[8:]))
		if !completeChecksum(frame, csumStart, csumOff) {
			c.badOffload++
			return 0
		}
		c.csum++
	}
	return len(frame)
}

// aux is what a port reads of a frame's tpacket_auxdata (or of its
// tpacket2_hdr on a ring).
type aux struct {
	status    uint32
	tci, tpid uint16
	noTag     bool // TP_STATUS_VLAN_VALID without tp_vlan_tci
}

// tag returns the 802.1Q tag the kernel took out of the frame: its TPID
// (0x8100 unless the kernel says otherwise) and TCI.
func (a aux) tag() vlanTag {
	t := vlanTag{tpid: header.EtherTypeVLAN, tci: a.tci}
	if a.status&tpStatusTPIDValid != 0 && a.tpid != 0 {
		t.tpid = a.tpid
	}
	return t
}

// parseAux reads a PACKET_AUXDATA control message: tp_status, and the
// VLAN fields if the message holds them.
func parseAux(cmsg []byte) (aux, bool) {
	for len(cmsg) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&cmsg[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(cmsg) {
			return aux{}, false
		}
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && l >= unix.CmsgLen(4) {
			d := cmsg[unix.CmsgLen(0):l]
			a := aux{status: binary.NativeEndian.Uint32(d[auxStatusOff:])}
			switch {
			case a.status&tpStatusVLANValid == 0: // the common case: no tag to read
			case len(d) >= auxDataLen:
				a.tci, a.tpid = binary.NativeEndian.Uint16(d[auxTCIOff:]), binary.NativeEndian.Uint16(d[auxTPIDOff:])
			default:
				a.noTag = true // tagged, but the message is too short to say with what
			}
			return a, true
		}
		cmsg = cmsg[unix.CmsgSpace(l-unix.SizeofCmsghdr):]
	}
	return aux{}, false
}

// WriteBatch sends the frames bufs[i][offset:] and returns how many left.
// A frame the kernel refuses (larger than the MTU, say) is counted and
// skipped; the others still go. Frames go out as they are, an inline
// 802.1Q tag included. The kernel allows 4 bytes over the MTU for a tag
// with TPID 0x8100 only (packet_extra_vlan_len_allowed): in an 802.1ad
// or QinQ frame the tags count against the MTU, and a full-size one is
// refused (TxOversize).
func (p *PacketPort) WriteBatch(bufs [][]byte, offset int) (int, error) {
	p.txMu.Lock()
	defer p.txMu.Unlock()
	sent := 0
	for len(bufs) > 0 {
		n := min(len(bufs), len(p.tx))
		for i := 0; i < n; i++ {
			b := bufs[i][offset:]
			p.txIov[2*i+1].Base = &b[0]
			p.txIov[2*i+1].SetLen(len(b))
		}
		done, err := p.sendmmsg(n)
		sent += done
		if err != nil {
			return sent, err
		}
		bufs = bufs[n:]
	}
	return sent, nil
}

// sendmmsg sends the first n prepared messages, skipping any the kernel
// refuses.
func (p *PacketPort) sendmmsg(n int) (int, error) {
	sent, at := 0, 0
	var werr error
	for at < n {
		err := p.rc.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&p.tx[at])), uintptr(n-at), unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case 0:
				sent += int(r)
				at += int(r)
				return true
			case unix.EAGAIN, unix.ENOBUFS:
				return false
			case unix.EINTR:
				return true
			case unix.EMSGSIZE:
				p.stats.txOversize.Add(1)
			default:
				p.stats.txErrors.Add(1)
				p.stats.lastTxErrno.Store(uint64(e))
				if e == unix.ENETDOWN || e == unix.ENXIO || e == unix.ENODEV {
					werr = &net.OpError{Op: "sendmmsg", Net: "packet", Err: e}
					at = n
					return true
				}
			}
			at++ // skip the frame the kernel refused
			return true
		})
		if err != nil {
			return sent, p.closedErr(err)
		}
	}
	p.stats.txBatches.Add(1)
	p.stats.txFrames.Add(uint64(sent))
	return sent, werr
}

// closedErr turns the error of a call interrupted by Close into
// net.ErrClosed (the socket package reports "use of closed file").
func (p *PacketPort) closedErr(err error) error {
	if p.closed.Load() || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		return net.ErrClosed
	}
	return err
}

// Close closes the socket; a blocked ReadBatch returns net.ErrClosed, and
// so do the queues' ReadBatch and WriteBatch; a waiting Poller wakes up.
// The queues' memory stays until ReleaseQueues, so that their goroutines
// may finish the batch they are in.
func (p *PacketPort) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(p.wake, one[:])
	return p.conn.Close()
}

// ReleaseQueues frees the receive queues of a closed port, once no
// goroutine uses them any more.
func (p *PacketPort) ReleaseQueues() {
	if !p.closed.Load() {
		return
	}
	for _, q := range p.queues {
		q.close()
	}
	p.queues = nil
	if p.wake >= 0 {
		unix.Close(p.wake)
		p.wake = -1
	}
}

// Stats are a port's counters: the kernel's (frames it dropped because the
// socket queue was full) and the port's own.
type Stats struct {
	KernelPackets, KernelDrops uint64 // PACKET_STATISTICS of all the port's sockets, since the port opened
	RxFrames, TxFrames         uint64
	RxBatches, TxBatches       uint64
	ChecksumsCompleted         uint64 // CHECKSUM_PARTIAL frames finished in software
	SuperFrames, Segments      uint64 // GSO/GRO super-frames split in software, and the segments made of them
	SuperFramesPassed          uint64 // super-frames received and passed through whole (not split)
	SuperFramesSent            uint64 // super-frames sent whole, for the kernel to segment
	QdiscBypassOff             uint64 // queues that turned PACKET_QDISC_BYPASS off: the device could not take a super-frame as it was
	SegmentDrops               uint64 // segments that found the queue full
	UnsupportedSuperFrames     uint64 // super-frames of a kind nat64br cannot split
	BadOffload                 uint64 // offload metadata that did not match the frame
	Truncated                  uint64 // frames larger than the receive buffer
	VLAN                       uint64 // 802.1Q frames the kernel untagged: dropped, or retagged with PacketOptions.VLANs
	TxErrors, TxOversize       uint64
	LastTxErrno                uint64
}

// Stats returns the port's counters since it opened. (The kernel resets
// its socket statistics at each read; the port adds them up.)
func (p *PacketPort) Stats() (Stats, error) {
	s := Stats{
		RxFrames: p.stats.rxFrames.Load(), TxFrames: p.stats.txFrames.Load(),
		RxBatches: p.stats.rxBatches.Load(), TxBatches: p.stats.txBatches.Load(),
		ChecksumsCompleted: p.stats.csumCompleted.Load(),
		SuperFrames:        p.stats.superFrames.Load(), Segments: p.stats.segments.Load(),
		SuperFramesPassed: p.stats.superPassed.Load(), SuperFramesSent: p.stats.gsoSent.Load(), QdiscBypassOff: p.stats.bypassOff.Load(),
		SegmentDrops: p.stats.segmentDrops.Load() + p.seg.dropped.Load(), UnsupportedSuperFrames: p.stats.unsupportedSuperFrames.Load(),
		BadOffload: p.stats.badOffload.Load(), Truncated: p.stats.truncated.Load(), VLAN: p.stats.vlan.Load(),
		TxErrors: p.stats.txErrors.Load(), TxOversize: p.stats.txOversize.Load(), LastTxErrno: p.stats.lastTxErrno.Load(),
	}
	p.kmu.Lock()
	defer p.kmu.Unlock()
	for _, q := range p.queues {
		if q.fd >= 0 {
			pk, dr := q.kernelStats()
			p.kpackets += pk
			p.kdrops += dr
		}
	}
	ks, err := p.conn.Stats()
	if err == nil {
		p.kpackets += uint64(ks.Packets)
		p.kdrops += uint64(ks.Drops)
	}
	s.KernelPackets, s.KernelDrops = p.kpackets, p.kdrops
	return s, err
}

// Filter returns the classic BPF program a port attaches: it passes
// broadcast and multicast frames, and unicast frames for mac (any unicast
// frame if promiscuous), so that traffic between other hosts of a shared
// segment never reaches user space. Every EtherType passes: the frame path
// counts what it does not handle.
//
// 802.1Q tags do not shift its offsets: the kernel takes the tag out of a
// received frame (skb_vlan_untag in __netif_receive_skb_core, before any
// packet socket sees it, 8021q module or not) and the filter runs on the
// untagged frame, whose destination MAC is at 0..5 as in the tagged one.
// TestQueuesSpreadTagged checks it.
func Filter(mac net.HardwareAddr, promiscuous bool) ([]bpf.RawInstruction, error) {
	if promiscuous {
		return bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 262144}})
	}
	hi := uint32(binary.BigEndian.Uint16(mac[0:2]))
	lo := binary.BigEndian.Uint32(mac[2:6])
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 0, Size: 1},                         // first byte of the destination
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x01, SkipTrue: 4}, // group bit: broadcast or multicast
		bpf.LoadAbsolute{Off: 2, Size: 4},                         // destination bytes 2..5
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: lo, SkipTrue: 3},  // not ours
		bpf.LoadAbsolute{Off: 0, Size: 2},                         // destination bytes 0..1
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: hi, SkipTrue: 1},  // not ours
		bpf.RetConstant{Val: 262144},                              // accept
		bpf.RetConstant{Val: 0},                                   // drop
	})
}
