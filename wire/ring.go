package wire

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/xlat/header"
)

// Receive queues: a port's frames spread over several packet sockets of one
// PACKET_FANOUT group (by the kernel's flow hash or by PortSpread's
// program, so a flow stays on one queue), each
// with a TPACKET_V2 receive ring: the kernel writes frames into memory shared
// with us and flips a status word per frame, so reading a busy queue costs
// no system call at all, and an idle one a poll(2). Each queue sends with a
// socket of its own (PACKET_QDISC_BYPASS, sendmmsg), so queues never share a
// lock. TPACKET_V2 rather than V3: V3 hands frames over in blocks on a
// retire timer of at least a millisecond, which costs that much latency on
// a quiet link (../shared/bench/RESULTS.md measured it).

// TPACKET_V2 constants and offsets (linux/if_packet.h).
const (
	packetVersion     = 10 // PACKET_VERSION
	packetRxRing      = 5  // PACKET_RX_RING
	packetReserve     = 12 // PACKET_RESERVE
	packetCopyThresh  = 7  // PACKET_COPY_THRESH
	packetFanout      = 18 // PACKET_FANOUT
	packetQdiscBypass = 20 // PACKET_QDISC_BYPASS
	packetFanoutData  = 22 // PACKET_FANOUT_DATA
	tpacketV2         = 1
	fanoutHash        = 0 // PACKET_FANOUT_HASH
	fanoutCBPF        = 6 // PACKET_FANOUT_CBPF

	tpStatusKernel = 0
	tpStatusUser   = 1 << 0
	tpStatusCopy   = 1 << 1 // truncated; the whole frame waits on the socket's queue

	tp2Status   = 0  // tpacket2_hdr.tp_status
	tp2Len      = 4  // .tp_len
	tp2Snaplen  = 8  // .tp_snaplen
	tp2Mac      = 12 // .tp_mac
	tp2VLANTCI  = 24 // .tp_vlan_tci
	tp2VLANTPID = 26 // .tp_vlan_tpid
	tp2HdrLen   = 32 // sizeof(struct tpacket2_hdr): in-place frames never reach into it
)

// tpacketReq is struct tpacket_req.
type tpacketReq struct {
	BlockSize, BlockNr, FrameSize, FrameNr uint32
}

// QueueOptions configure a port's receive queues.
type QueueOptions struct {
	// Queues is the number of queues (fanout members), one per worker
	// (default 1).
	Queues int

	// Frames is the number of frames each queue's ring holds (default
	// 4096).
	Frames int

	// QdiscBypass sends without the interface's queueing discipline
	// (PACKET_QDISC_BYPASS), as a bump in the wire may: a full device
	// queue then drops instead of queueing.
	QdiscBypass bool

	// PassGSO lets TCP super-frames (GSO/GRO) through whole: ReadBatchGSO
	// describes them instead of splitting them, and WriteBatchGSO hands
	// them to the kernel with a virtio-net header, to be segmented on
	// the way out (or not at all, on a veth whose peer takes them). The
	// sockets of every port a super-frame may leave by need it.
	PassGSO bool

	// Headroom and Tailroom are the free bytes ReadBatchInPlace must
	// leave before and after a frame it hands over in its ring slot (the
	// translator writes there); the ring's frames are made that much
	// larger (PACKET_RESERVE for the room before).
	Headroom, Tailroom int

	// Spread, if set, picks each frame's queue by its transport ports
	// (see PortSpread) rather than by the kernel's flow hash.
	Spread *PortSpread
}

// Queue is one receive queue of a PacketPort and the socket it sends with.
// One goroutine uses a Queue: ReadBatch never blocks (a Poller waits), and
// WriteBatch blocks until the kernel took the frames (its socket is a
// blocking one: a send takes microseconds, and never waits for a peer).
type Queue struct {
	p         *PacketPort
	fd, txfd  int
	ring      []byte
	frameSize int
	frames    int
	next      int

	seg    segmenter
	counts rxCounts
	msg    unix.Msghdr // for frames the ring truncated (TP_STATUS_COPY)
	iov    [2]unix.Iovec
	vnet   [vnetHdrLen]byte

	tx    []mmsghdr
	txIov []unix.Iovec

	// passGSO: super-frames may go through whole (QueueOptions.PassGSO);
	// the sending socket then takes a virtio-net header before every
	// frame, txVnet[i] for message i.
	passGSO bool
	txVnet  [][vnetHdrLen]byte
	txSuper []bool // message i is a super-frame
	bypass  bool   // PACKET_QDISC_BYPASS is on

	// held is how many ring frames before next the last read handed over
	// in place; the next read gives them back.
	held int
}

// OpenQueues gives the port n receive queues (see Queue) and stops its own
// socket from receiving: from then on frames come through the queues;
// WriteBatch on the port still sends (for the control plane).
func (p *PacketPort) OpenQueues(opts QueueOptions) ([]*Queue, error) {
	if opts.Queues <= 0 {
		opts.Queues = 1
	}
	if opts.Frames <= 0 {
		opts.Frames = 4096
	}
	filter, err := Filter(p.ifi.HardwareAddr, p.promisc)
	if err != nil {
		return nil, err
	}
	group := (os.Getpid()^p.ifi.Index<<8)&0xffff | fanoutHash<<16
	var spread []bpf.RawInstruction
	if opts.Spread != nil {
		group = group&0xffff | fanoutCBPF<<16
		if spread, err = opts.Spread.program(); err != nil {
			return nil, fmt.Errorf("%s: fanout program: %w", p.name, err)
		}
	}
	var qs []*Queue
	fail := func(err error) ([]*Queue, error) {
		for _, q := range qs {
			q.close()
		}
		return nil, fmt.Errorf("%s: receive queues: %w", p.name, err)
	}
	p.spreadErr = nil
	for i := 0; i < opts.Queues; i++ {
		q, err := p.openQueue(opts, filter, group)
		if err == nil && i == 0 && spread != nil {
			if err = setFanoutData(q.fd, spread); err != nil {
				q.close()
			}
		}
		if err != nil && i == 0 && spread != nil {
			// A kernel without PACKET_FANOUT_CBPF (before 4.3), or one
			// that refuses the program: spread by the flow hash.
			p.spreadErr = err
			spread, group = nil, group&0xffff|fanoutHash<<16
			q, err = p.openQueue(opts, filter, group)
		}
		if err != nil {
			return fail(err)
		}
		qs = append(qs, q)
	}
	// The port's own socket keeps sending but receives nothing any more.
	none, _ := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err := p.conn.SetBPF(none); err != nil {
		return fail(err)
	}
	p.queues = qs
	return qs, nil
}

// SpreadError says why the last OpenQueues spread frames by the kernel's
// flow hash although QueueOptions.Spread asked for a program; nil if it
// did not.
func (p *PacketPort) SpreadError() error { return p.spreadErr }

// fanoutDataOpt is PACKET_FANOUT_DATA; a variable so that a test can make
// the kernel refuse it.
var fanoutDataOpt = packetFanoutData

// setFanoutData gives the fanout group of the socket fd its program
// (PACKET_FANOUT_DATA).
func setFanoutData(fd int, prog []bpf.RawInstruction) error {
	if err := setProgram(fd, unix.SOL_PACKET, fanoutDataOpt, prog); err != nil {
		return fmt.Errorf("PACKET_FANOUT_DATA: %w", err)
	}
	return nil
}

// setProgram hands the classic BPF program prog to socket option opt of
// fd (SO_ATTACH_FILTER, PACKET_FANOUT_DATA).
func setProgram(fd, level, opt int, prog []bpf.RawInstruction) error {
	ins := make([]unix.SockFilter, len(prog))
	for i, x := range prog {
		ins[i] = unix.SockFilter{Code: x.Op, Jt: x.Jt, Jf: x.Jf, K: x.K}
	}
	return unix.SetsockoptSockFprog(fd, level, opt, &unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]})
}

// openQueue opens one queue and joins it to the fanout group (the id in
// the low 16 bits, the mode above).
func (p *PacketPort) openQueue(opts QueueOptions, filter []bpf.RawInstruction, group int) (*Queue, error) {
	q := &Queue{p: p, fd: -1, txfd: -1}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	q.fd = fd
	// The ring's frames: the header, room for the virtio-net header, the
	// frame itself; a power of two (TPACKET_V2 wants frames aligned).
	// PACKET_RESERVE moves the frame that many bytes further into its
	// slot, making room for ReadBatchInPlace's callers.
	q.frameSize = 2048
	for q.frameSize < 128+opts.Headroom+vnetHdrLen+header.EthernetLen+4+p.mtu+opts.Tailroom {
		q.frameSize *= 2
	}
	for _, o := range []struct {
		opt, v int
		name   string
	}{
		{packetVersion, tpacketV2, "PACKET_VERSION"},
		{packetVnetHdr, 1, "PACKET_VNET_HDR"},
		{packetIgnoreOutgoing, 1, "PACKET_IGNORE_OUTGOING"},
		{packetCopyThresh, 1, "PACKET_COPY_THRESH"},
		{packetReserve, opts.Headroom, "PACKET_RESERVE"},
	} {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, o.opt, o.v); err != nil {
			q.close()
			return nil, fmt.Errorf("%s: %w", o.name, err)
		}
	}
	// The socket's own queue holds the frames too big for the ring
	// (super-frames, read with recvmsg).
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
	if err := setProgram(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, filter); err != nil {
		q.close()
		return nil, fmt.Errorf("SO_ATTACH_FILTER: %w", err)
	}
	perBlock := max(1, (1<<16)/q.frameSize)
	blocks := (opts.Frames + perBlock - 1) / perBlock
	req := tpacketReq{BlockSize: uint32(perBlock * q.frameSize), BlockNr: uint32(blocks), FrameSize: uint32(q.frameSize), FrameNr: uint32(blocks * perBlock)}
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_PACKET, packetRxRing, uintptr(unsafe.Pointer(&req)), unsafe.Sizeof(req), 0); e != 0 {
		q.close()
		return nil, fmt.Errorf("PACKET_RX_RING: %w", e)
	}
	q.frames = int(req.FrameNr)
	if q.ring, err = unix.Mmap(fd, 0, int(req.BlockSize)*int(req.BlockNr), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		q.close()
		return nil, fmt.Errorf("mmap: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethPAll), Ifindex: p.ifi.Index}); err != nil {
		q.close()
		return nil, fmt.Errorf("bind: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, packetFanout, group); err != nil {
		q.close()
		return nil, fmt.Errorf("PACKET_FANOUT: %w", err)
	}

	// The sending socket: bound to the interface with protocol 0, so it
	// receives nothing.
	if q.txfd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
		q.close()
		return nil, err
	}
	if opts.QdiscBypass {
		if err := unix.SetsockoptInt(q.txfd, unix.SOL_PACKET, packetQdiscBypass, 1); err != nil {
			q.close()
			return nil, fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
		}
		q.bypass = true
	}
	_ = unix.SetsockoptInt(q.txfd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	if err := unix.Bind(q.txfd, &unix.SockaddrLinklayer{Protocol: 0, Ifindex: p.ifi.Index}); err != nil {
		q.close()
		return nil, fmt.Errorf("bind: %w", err)
	}
	n := p.BatchSize()
	q.tx = make([]mmsghdr, n)
	q.txIov = make([]unix.Iovec, n)
	for i := range q.tx {
		q.tx[i].Hdr.Iov = &q.txIov[i]
		q.tx[i].Hdr.SetIovlen(1)
	}
	if opts.PassGSO {
		if err := unix.SetsockoptInt(q.txfd, unix.SOL_PACKET, packetVnetHdr, 1); err != nil {
			q.close()
			return nil, fmt.Errorf("PACKET_VNET_HDR: %w", err)
		}
		q.passGSO = true
		q.txVnet = make([][vnetHdrLen]byte, n)
		q.txSuper = make([]bool, n)
		q.txIov = make([]unix.Iovec, 2*n)
		for i := range q.tx {
			q.txIov[2*i].Base = &q.txVnet[i][0]
			q.txIov[2*i].SetLen(vnetHdrLen)
			q.tx[i].Hdr.Iov = &q.txIov[2*i]
			q.tx[i].Hdr.SetIovlen(2)
		}
	}
	q.iov[0].Base = &q.vnet[0]
	q.iov[0].SetLen(vnetHdrLen)
	q.msg.Iov = &q.iov[0]
	q.msg.SetIovlen(2)
	q.seg.init(p.segMax, p.mtu+header.EthernetLen)
	return q, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (q *Queue) close() {
	if q.ring != nil {
		_ = unix.Munmap(q.ring)
		q.ring = nil
	}
	for _, fd := range []*int{&q.fd, &q.txfd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

// ReadBatch reads up to len(bufs) frames into bufs[i][offset:] and sets
// sizes[i], as PacketPort.ReadBatch does (a size of 0 is a slot to skip),
// but never blocks: it returns 0 when the queue is empty. After the port is
// closed it returns net.ErrClosed.
func (q *Queue) ReadBatch(bufs [][]byte, sizes []int, offset int) (int, error) {
	return q.ReadBatchGSO(bufs, sizes, nil, offset)
}

// ReadBatchGSO is ReadBatch that, on queues opened with PassGSO, hands TCP
// super-frames over whole instead of splitting them: gso[i] describes
// frame i (Size 0: an ordinary frame). Such a frame must leave through
// WriteBatchGSO with its GSO. With gso nil it is ReadBatch.
func (q *Queue) ReadBatchGSO(bufs [][]byte, sizes []int, gso []GSO, offset int) (int, error) {
	return q.read(nil, bufs, sizes, gso, offset, 0)
}

// ReadBatchInPlace is ReadBatchGSO without the copy out of the ring: it
// sets frames[i] to the ring slot that holds frame i, the frame at
// frames[i][offset:] with tail free bytes after it, or, where the slot
// has not that much room or the frame did not come through the ring (a
// super-frame read from the socket, a segment) or not as it was on the
// wire (an 802.1Q-tagged one with PacketOptions.VLANs: its tag goes back
// in as it is copied), to bufs[i] with the frame copied there. The slots are the caller's, to translate in and send
// from, until its next read from the queue, which gives them back to the
// kernel. QueueOptions.Headroom and Tailroom make the room.
func (q *Queue) ReadBatchInPlace(frames, bufs [][]byte, sizes []int, gso []GSO, offset, tail int) (int, error) {
	return q.read(frames, bufs, sizes, gso, offset, tail)
}

func (q *Queue) read(frames, bufs [][]byte, sizes []int, gso []GSO, offset, tail int) (int, error) {
	q.release()
	if q.p.closed.Load() {
		return 0, net.ErrClosed
	}
	if !q.passGSO {
		gso = nil
	}
	if n := q.seg.pop(bufs, sizes, offset); n > 0 {
		if gso != nil {
			clear(gso[:n])
		}
		if frames != nil {
			copy(frames, bufs[:n])
		}
		return n, nil
	}
	k := 0
	c := &q.counts
	for k < len(bufs) {
		f := q.ring[q.next*q.frameSize : (q.next+1)*q.frameSize]
		st := (*uint32)(unsafe.Pointer(&f[tp2Status]))
		status := atomic.LoadUint32(st)
		if status&tpStatusUser == 0 {
			break
		}
		var g *GSO
		if gso != nil {
			g = &gso[k]
			*g = GSO{}
		}
		if frames != nil {
			frames[k], sizes[k] = q.inPlace(f, status, bufs[k], offset, tail, g, c)
			q.held++
		} else {
			sizes[k] = q.frame(f, status, bufs[k][offset:], g, c)
			atomic.StoreUint32(st, tpStatusKernel)
		}
		q.next++
		if q.next == q.frames {
			q.next = 0
		}
		k++
	}
	if k > 0 {
		c.frames += uint64(k)
		q.p.stats.rxBatches.Add(1)
		q.p.stats.rxBatchSum.Add(uint64(k))
		q.p.stats.add(c)
	}
	return k, nil
}

// release gives the ring frames the last in-place read handed over back to
// the kernel.
func (q *Queue) release() {
	for ; q.held > 0; q.held-- {
		i := q.next - q.held
		if i < 0 {
			i += q.frames
		}
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&q.ring[i*q.frameSize+tp2Status])), tpStatusKernel)
	}
}

// inPlace is frame for ReadBatchInPlace: it returns the ring slot f itself
// as the buffer when the frame is in it whole with offset bytes before it
// (past the slot's tpacket2_hdr) and tail after it, else buf with the
// frame copied in.
func (q *Queue) inPlace(f []byte, status uint32, buf []byte, offset, tail int, g *GSO, c *rxCounts) ([]byte, int) {
	if status&(tpStatusVLANValid|tpStatusCopy) == 0 {
		if mac, snap, ok := slot(f); ok && mac-offset >= tp2HdrLen && mac+snap+tail <= len(f) {
			b := f[mac-offset:]
			return b, q.offloads(f[mac-vnetHdrLen:mac], b[offset:offset+snap], g, c)
		}
	}
	return buf, q.frame(f, status, buf[offset:], g, c)
}

// slot returns where the frame in ring slot f starts (its virtio-net
// header just before) and its length; ok is false if the kernel cut it
// short or the header points outside the slot.
func slot(f []byte) (mac, snap int, ok bool) {
	l := int(binary.NativeEndian.Uint32(f[tp2Len:]))
	snap = int(binary.NativeEndian.Uint32(f[tp2Snaplen:]))
	mac = int(binary.NativeEndian.Uint16(f[tp2Mac:]))
	return mac, snap, l == snap && mac >= vnetHdrLen && mac+snap <= len(f)
}

// frame copies the ring frame f (status st) into b and undoes its
// offloads, or, if g is not nil and it is a TCP super-frame that can go
// through whole, describes it in g; it returns the usable length.
func (q *Queue) frame(f []byte, status uint32, b []byte, g *GSO, c *rxCounts) int {
	if status&tpStatusVLANValid != 0 {
		c.vlan++
		if !q.p.vlans {
			if status&tpStatusCopy != 0 {
				q.recv(b) // take the whole frame off the socket's queue too
			}
			return 0
		}
		return q.tagged(f, status, b, c)
	}
	if status&tpStatusCopy != 0 {
		// Too big for the ring (a super-frame): the whole frame, with its
		// virtio-net header, is on the socket's own queue.
		n := q.recv(b)
		if n <= 0 {
			c.truncated++
			return 0
		}
		return q.offloads(q.vnet[:], b[:n], g, c)
	}
	mac, snap, ok := slot(f)
	if !ok || snap > len(b) {
		c.truncated++
		return 0
	}
	n := copy(b, f[mac:mac+snap])
	return q.offloads(f[mac-vnetHdrLen:mac], b[:n], g, c)
}

// tagged is frame for a frame the kernel untagged, on a port with
// PacketOptions.VLANs: it copies the untagged frame 4 bytes into b, undoes
// its offloads there, and moves the MAC addresses back over the gap to put
// the tag (from the ring slot's header) between them and the EtherType.
// Tagged super-frames never go through whole.
func (q *Queue) tagged(f []byte, status uint32, b []byte, c *rxCounts) int {
	a := aux{status: status, tci: binary.NativeEndian.Uint16(f[tp2VLANTCI:]), tpid: binary.NativeEndian.Uint16(f[tp2VLANTPID:])}
	if len(b) <= vlanLen {
		if status&tpStatusCopy != 0 {
			q.recv(b)
		}
		c.truncated++
		return 0
	}
	d := b[vlanLen:]
	if status&tpStatusCopy != 0 {
		n := q.recv(d)
		if n <= 0 {
			c.truncated++
			return 0
		}
		return retag(q.vnet[:], b, vlanLen, n, a.tag(), c)
	}
	mac, snap, ok := slot(f)
	if !ok || snap > len(d) {
		c.truncated++
		return 0
	}
	n := copy(d, f[mac:mac+snap])
	return retag(f[mac-vnetHdrLen:mac], b, vlanLen, n, a.tag(), c)
}

// offloads is undoOffloads, but for a TCP super-frame that may go through
// whole (g not nil).
func (q *Queue) offloads(h, frame []byte, g *GSO, c *rxCounts) int {
	if g != nil && h[1]&^gsoECN != gsoNone {
		if p, ok := passable(h, frame); ok {
			*g = p
			c.passed++
			return len(frame)
		}
	}
	return undoOffloads(h, frame, &q.seg, q.p.mtu, c)
}

// recv reads the next frame of the socket's queue (one the ring could not
// hold) into b, its virtio-net header into q.vnet. With b empty it takes
// the frame off the queue and returns 0.
func (q *Queue) recv(b []byte) int {
	q.iov[1].Base = nil
	if len(b) > 0 {
		q.iov[1].Base = &b[0]
	}
	q.iov[1].SetLen(len(b))
	q.msg.Flags = 0
	r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(q.fd), uintptr(unsafe.Pointer(&q.msg)), unix.MSG_DONTWAIT)
	if e != 0 || q.msg.Flags&unix.MSG_TRUNC != 0 {
		return 0
	}
	return int(r) - vnetHdrLen
}

// WriteBatch sends the frames bufs[i][offset:] with sendmmsg on the queue's
// own socket and returns how many left. A frame the kernel refuses is
// counted and skipped. Tagged frames go out as they are, with the room
// PacketPort.WriteBatch describes.
func (q *Queue) WriteBatch(bufs [][]byte, offset int) (int, error) {
	return q.writeBatch(bufs, offset, nil)
}

// WriteBatchGSO is WriteBatch for frames of which some are super-frames
// ReadBatchGSO passed through (gso[i].Size != 0), translated: each goes
// out whole, and the kernel (or the device) cuts it into segments that fit
// the port's MTU. A super-frame this port cannot describe is counted as a
// bad offload and not sent.
func (q *Queue) WriteBatchGSO(bufs [][]byte, gso []GSO) (int, error) {
	return q.writeBatch(bufs, 0, gso)
}

func (q *Queue) writeBatch(bufs [][]byte, offset int, gso []GSO) (int, error) {
	if q.p.closed.Load() {
		return 0, net.ErrClosed
	}
	sent := 0
	for len(bufs) > 0 {
		n := min(len(bufs), len(q.tx))
		k := 0 // messages filled; frames that cannot go are skipped
		for i := 0; i < n; i++ {
			b := bufs[i][offset:]
			iov := &q.txIov[k]
			if q.passGSO {
				h := &q.txVnet[k]
				super := gso != nil && gso[i].Size != 0
				if super {
					if !gsoHeader(b, gso[i], q.p.mtu, h) {
						q.p.stats.badOffload.Add(1)
						continue
					}
					q.p.stats.gsoSent.Add(1)
				} else {
					*h = [vnetHdrLen]byte{}
				}
				q.txSuper[k] = super
				iov = &q.txIov[2*k+1]
			}
			iov.Base = &b[0]
			iov.SetLen(len(b))
			k++
		}
		if gso != nil {
			gso = gso[n:]
		}
		bufs = bufs[n:]
		n = k
		at := 0
		for at < n {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(q.txfd), uintptr(unsafe.Pointer(&q.tx[at])), uintptr(n-at), 0, 0, 0)
			switch e {
			case 0:
				at += int(r)
				sent += int(r)
				continue
			case unix.EINTR:
				continue
			case unix.EMSGSIZE:
				q.p.stats.txOversize.Add(1)
			case unix.ENOBUFS:
				if q.passGSO && q.txSuper[at] && q.leaveBypass() {
					continue // the same frame again
				}
				fallthrough
			default:
				q.p.stats.txErrors.Add(1)
				q.p.stats.lastTxErrno.Store(uint64(e))
				if e == unix.ENETDOWN || e == unix.ENXIO || e == unix.ENODEV || e == unix.EBADF {
					return sent, &net.OpError{Op: "sendmmsg", Net: "packet", Err: e}
				}
			}
			at++ // skip the frame the kernel refused
		}
	}
	q.p.stats.txBatches.Add(1)
	q.p.stats.txFrames.Add(uint64(sent))
	return sent, nil
}

// leaveBypass turns PACKET_QDISC_BYPASS off on the sending socket, if it
// was on, and reports whether it did. With bypass the kernel drops a
// super-frame the device cannot take as it is (dev_direct_xmit refuses
// what validate_xmit_skb had to segment); through the queueing discipline
// it segments it. The queue sends that way from then on: one socket, so
// the frames stay in order.
func (q *Queue) leaveBypass() bool {
	if !q.bypass || unix.SetsockoptInt(q.txfd, unix.SOL_PACKET, packetQdiscBypass, 0) != nil {
		return false
	}
	q.bypass = false
	q.p.stats.bypassOff.Add(1)
	return true
}

// kernelStats reads and resets the queue's PACKET_STATISTICS.
func (q *Queue) kernelStats() (packets, drops uint64) {
	var st [2]uint32 // struct tpacket_stats
	l := uint32(unsafe.Sizeof(st))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(q.fd), unix.SOL_PACKET, unix.PACKET_STATISTICS,
		uintptr(unsafe.Pointer(&st[0])), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
		return 0, 0
	}
	return uint64(st[0]), uint64(st[1])
}

// Poller waits until one of its queues has frames. Its goroutine's thread
// sleeps in epoll_wait itself, so a frame wakes exactly that thread. (In
// Go's netpoller a frame woke the runtime's polling thread, which then
// woke another to run the worker: the profile of a TCP stream showed the
// scheduler and netpoll at 7 % of nat64br's CPU time, against 0.5 % for
// the copy loop, which blocks in poll(2).) A sleeping Poller holds its
// thread, not its P: the runtime hands the P on as for any system call.
type Poller struct {
	epfd   int
	events []unix.EpollEvent
	wakes  []int
}

// NewPoller returns a Poller for qs; their ports' Close wakes it. Close
// the Poller when done.
func NewPoller(qs ...*Queue) (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	pl := &Poller{epfd: epfd, events: make([]unix.EpollEvent, len(qs)+2)}
	add := func(fd int) error {
		return unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
	}
	seen := map[*PacketPort]bool{}
	for _, q := range qs {
		if err := add(q.fd); err != nil {
			unix.Close(epfd)
			return nil, err
		}
		if !seen[q.p] {
			seen[q.p] = true
			if err := add(q.p.wake); err != nil {
				unix.Close(epfd)
				return nil, err
			}
			pl.wakes = append(pl.wakes, q.p.wake)
		}
	}
	return pl, nil
}

// Wait blocks until a queue has frames; after a port was closed it
// returns net.ErrClosed.
func (pl *Poller) Wait() error {
	_, err := pl.wait(-1)
	return err
}

// WaitFor is Wait for at most d (rounded up to a millisecond; d <= 0 only
// looks); it reports whether a queue has frames.
func (pl *Poller) WaitFor(d time.Duration) (bool, error) {
	return pl.wait(timeoutMillis(d))
}

// timeoutMillis is d for epoll_wait: whole milliseconds, rounded up, and
// never negative, which epoll_wait would take as no timeout at all.
func timeoutMillis(d time.Duration) int {
	return max(0, int((d+time.Millisecond-1)/time.Millisecond))
}

// WaitHot is WaitFor, but the goroutine keeps its P while it waits: the
// runtime sees it running, not in a system call, so sysmon does not take
// the P away and the wake-up needs no trip through the scheduler (nor a
// wake-up of sysmon), about 30 µs less per wake on the bench lab's VM.
// The price: the P is lost to other goroutines for as long as the wait,
// so the caller must leave GOMAXPROCS room for them; and sysmon, seeing a
// goroutine run for more than 10 ms, preempts it with a signal, which
// interrupts the wait (then WaitHot yields, and waits again), about 100
// times a second. A stop of the world (garbage collection) interrupts it
// the same way, so it depends on asynchronous preemption
// (GODEBUG=asyncpreemptoff=1 would stall a collection for up to d).
func (pl *Poller) WaitHot(d time.Duration) (bool, error) {
	return pl.waitWith(timeoutMillis(d), true)
}

func (pl *Poller) wait(ms int) (bool, error) { return pl.waitWith(ms, false) }

func (pl *Poller) waitWith(ms int, hot bool) (bool, error) {
	// Preemption interrupts a hot wait every 10 ms: it keeps its deadline.
	var deadline time.Time
	if hot && ms > 0 {
		deadline = time.Now().Add(time.Duration(ms) * time.Millisecond)
	}
	for {
		n, err := pl.epollWait(ms, hot)
		if err == unix.EINTR {
			if hot {
				runtime.Gosched() // a preemption, maybe for a stop of the world: let it happen
				if !deadline.IsZero() {
					ms = timeoutMillis(time.Until(deadline))
				}
			}
			continue // otherwise a signal; the rest of a timeout starts anew
		}
		if err != nil {
			return false, err
		}
		for _, e := range pl.events[:n] {
			if slices.Contains(pl.wakes, int(e.Fd)) {
				return false, net.ErrClosed
			}
		}
		return n > 0, nil
	}
}

// epollWait is epoll_wait(2) on pl's events; hot, through RawSyscall6,
// which keeps the goroutine's P (see WaitHot). The hot call is
// epoll_pwait with no signal mask, which is epoll_wait and, unlike it,
// exists on every architecture (arm64, riscv64 and loong64 have no
// epoll_wait).
func (pl *Poller) epollWait(ms int, hot bool) (int, error) {
	if !hot {
		return unix.EpollWait(pl.epfd, pl.events, ms)
	}
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(pl.epfd), uintptr(unsafe.Pointer(&pl.events[0])), uintptr(len(pl.events)), uintptr(ms), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// Close releases the Poller.
func (pl *Poller) Close() error { return unix.Close(pl.epfd) }

// Yield offers the CPU to any other thread ready to run on it
// (sched_yield(2)) and returns at once if there is none. A worker
// busy-polling its rings yields between looks: a sender or receiver
// sharing its CPU then runs at once instead of after the spin, and the
// spin needs no trip through Go's scheduler.
func Yield() { _, _, _ = unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
