package dataplane

import (
	"errors"
	"net"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
)

// sender is where a worker writes a side's batch: a queue's own socket,
// which may pass super-frames whole, or a port (plainSender).
type sender interface {
	WriteBatchGSO(bufs [][]byte, gso []wire.GSO) (int, error)
}

// plainSender sends through a port, which takes ordinary frames only
// (workers reading with ReadBatch have no super-frames).
type plainSender struct{ Port }

func (s plainSender) WriteBatchGSO(bufs [][]byte, _ []wire.GSO) (int, error) {
	return s.WriteBatch(bufs, 0)
}

// worker is the state of one goroutine of the frame path: the loop of a
// port, of a lane of queues, or a Sync plane's caller.
type worker struct {
	p       *Plane
	port    xlat.Side // the side of the port whose batch is being handled
	side    xlat.Side // the side of the frame being handled
	tr      *xlat.Translator
	gen     uint64
	c       Counters
	bufs    [][]byte // the worker's own buffers
	frames  [][]byte // of the batch: bufs, or ring slots read in place
	sizes   []int
	gso     []wire.GSO // of frames: super-frames passed through whole
	out     [3][][]byte
	outGSO  [3][]wire.GSO // of out
	tx      [3]sender     // where each side's output goes
	scratch [][]byte      // replies and fragments of the current batch
	used    int
	fate    fate // of the frame being handled, for the ledger
	// The last neighbor learned on each side, and resolved towards it.
	learned, resolved [3]arpnd.Hint
}

func (p *Plane) newWorker() *worker {
	w := &worker{p: p, port: xlat.Side6, side: xlat.Side6, bufs: make([][]byte, BatchSize), sizes: make([]int, BatchSize), gso: make([]wire.GSO, BatchSize)}
	for i := range w.bufs {
		w.bufs[i] = make([]byte, BufSize)
	}
	w.frames = slices.Clone(w.bufs)
	for s := range w.out {
		w.out[s] = make([][]byte, 0, 2*BatchSize)
		w.outGSO[s] = make([]wire.GSO, 0, 2*BatchSize)
	}
	w.tx[xlat.Side6], w.tx[xlat.Side4] = plainSender{p.ports[xlat.Side6]}, plainSender{p.ports[xlat.Side4]}
	return w
}

// batch handles the n frames just read from side s at time now and sends
// the results.
func (w *worker) batch(s xlat.Side, n int, now time.Time) {
	if g := w.p.gen.Load(); g.n != w.gen {
		w.tr, w.gen = g.tr.Clone(), g.n
	}
	w.port = s
	for i := 0; i < n; i++ {
		if w.sizes[i] > 0 {
			w.frame(w.frames[i], w.sizes[i], w.gso[i], now)
		}
	}
	w.flush()
	w.c.countBatch(n)
	w.p.stats.add(&w.c)
}

// portWorker reads side's port with ReadBatch until it is closed.
// hb is its liveness books.
func (p *Plane) portWorker(side xlat.Side, hb *beat) {
	defer p.wg.Done()
	w := p.newWorker()
	port := p.ports[side]
	errs := 0
	for {
		hb.park()
		n, err := port.ReadBatch(w.bufs, w.sizes, Headroom)
		hb.wake()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			errs++
			if errs <= 3 || errs%1000 == 0 {
				p.log.Error("read failed", "side", side, "err", err, "count", errs)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		w.batch(side, n, time.Now())
	}
}

// laneWorker serves a lane: queue l.Queues[Side6] of the IPv6 port and
// l.Queues[Side4] of the IPv4 port. It takes what both rings hold, and
// sleeps (its thread in epoll_wait) only when both have been empty for the
// busy-poll time (a quiet link then answers as fast as a busy one, at the
// price of that much polling after each burst, which yields the CPU to any
// thread that wants it).
//
// If cpu is not -1, a worker whose rings stay empty for pinAfter more sleeps
// pinned to cpu, where the fanout program sends the ICMP that CPU receives
// (wire.PortSpread.CPUs): an echo request wakes it on the CPU that is
// already awake, since it received the request. Once woken it may run
// anywhere again. Pinned for good, the workers cost one TCP stream with the
// veths' offloads on a sixth to a third in the bench lab: the scheduler
// could no longer put them beside iperf3 (docs/performance.md, "Latency").
// hb is its liveness books.
func (p *Plane) laneWorker(l *Lane, cpu int, hb *beat) {
	defer p.wg.Done()
	// The worker keeps one thread for its life (the thread ends with it,
	// pinned or not). Unlocked, the goroutine moved between threads after
	// each epoll_wait or preemption, and one TCP stream through SIIT ran
	// 20-29 % slower in the bench lab (docs/performance.md, "One thread per
	// worker").
	runtime.LockOSThread()
	pinned := false
	w := p.newWorker()
	w.tx[xlat.Side6], w.tx[xlat.Side4] = l.Queues[xlat.Side6], l.Queues[xlat.Side4]
	pl := l.Poller
	defer pl.Close()
	// Empty looks since the last frame. Between looks the worker yields
	// its CPU to any other thread ready to run there; the clock is read
	// when the rings first come up empty and every 16th look after. It
	// does not yield its P: the timers and the control plane run on the
	// Ps Start adds for hot waits, or when a worker sleeps cold, or after
	// the runtime preempts it (a runtime.Gosched every 16th look cost 4 %
	// of nat64br's CPU time in a UDP flood).
	const looksPerClock = 16
	looks := 0
	var idleSince time.Time
	for {
		hb.turn()
		got := 0
		for _, s := range p.portSides() {
			n, err := l.Queues[s].ReadBatchInPlace(w.frames, w.bufs, w.sizes, w.gso, Headroom, xlat.Tailroom)
			if err != nil {
				return // closed
			}
			if n > 0 {
				w.batch(s, n, time.Now())
				got += n
			}
		}
		if got > 0 {
			looks = 0
			if pinned {
				pinned = false
				if err := unix.SchedSetaffinity(0, &p.anywhere); err != nil {
					p.log.Warn("cannot unpin a worker", "cpu", cpu, "err", err)
					cpu = -1
				}
			}
			continue
		}
		if looks == 0 {
			idleSince = time.Now()
		}
		looks++
		if p.busyPoll > 0 && (looks%looksPerClock != 0 || time.Since(idleSince) < p.busyPoll) {
			wire.Yield()
			continue
		}
		if cpu >= 0 && !pinned {
			hb.park()
			ready, err := p.sleep(pl, pinAfter, idleSince)
			hb.wake()
			if err != nil {
				return
			}
			if ready {
				looks = 0
				continue
			}
			if err := pinThread(cpu); err != nil {
				p.log.Warn("cannot pin a worker to its CPU; it runs where the scheduler puts it", "cpu", cpu, "err", err)
				cpu = -1
			} else {
				pinned = true
			}
		}
		hb.park()
		_, err := p.sleep(pl, -1, idleSince)
		hb.wake()
		if err != nil {
			return
		}
		looks = 0
	}
}

// sleep waits until pl's rings have frames, or for at most limit (limit <
// 0: no limit), and reports which. Until hotWait after idleSince, when
// the rings last came up empty, it waits hot: a quiet link's next frame,
// a ping's say, wakes the worker ~30 µs sooner on the bench lab's VM
// (docs/performance.md, "Hot waits").
func (p *Plane) sleep(pl Poller, limit time.Duration, idleSince time.Time) (bool, error) {
	if hot := p.hotWait - time.Since(idleSince); hot > 0 {
		if limit >= 0 && limit <= hot {
			return pl.WaitHot(limit)
		}
		if ready, err := pl.WaitHot(hot); ready || err != nil {
			return ready, err
		}
		if limit >= 0 {
			limit = max(0, limit-hot)
		}
	}
	if limit < 0 {
		return true, pl.Wait()
	}
	return pl.WaitFor(limit)
}

// pinAfter is how long a worker with a CPU sleeps unpinned before it pins
// itself: a link this quiet has no throughput to lose.
const pinAfter = time.Millisecond

// flush writes the batch's output, then frees the scratch buffers.
func (w *worker) flush() {
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		if len(w.out[s]) > 0 {
			if _, err := w.tx[s].WriteBatchGSO(w.out[s], w.outGSO[s]); err != nil && !errors.Is(err, net.ErrClosed) {
				w.p.log.Error("write failed", "side", s, "err", err)
			}
			w.out[s] = w.out[s][:0]
			w.outGSO[s] = w.outGSO[s][:0]
		}
	}
	w.used = 0
}

// scratchBuf returns a buffer for a reply or a fragment, valid until the
// batch is flushed; nil when the batch has used them all.
func (w *worker) scratchBuf() []byte {
	if w.used == len(w.scratch) {
		if len(w.scratch) >= 4*BatchSize {
			return nil
		}
		w.scratch = append(w.scratch, make([]byte, BufSize))
	}
	w.used++
	return w.scratch[w.used-1]
}

// queue adds frame to side s's output; g describes it if it is a
// super-frame passed through whole.
func (w *worker) queue(s xlat.Side, frame []byte, g wire.GSO) {
	w.out[s] = append(w.out[s], frame)
	w.outGSO[s] = append(w.outGSO[s], g)
}

// forward queues a translated frame (or the translator's answer) for side
// s and counts it out.
func (w *worker) forward(s xlat.Side, frame []byte, g wire.GSO) {
	w.queue(s, frame, g)
	w.c[FramesOut6+Counter(s-xlat.Side6)]++
	w.c[BytesOut6+Counter(s-xlat.Side6)] += uint64(len(frame))
}

// fate is what became of a frame read, for the ledger (Counters.Ledger);
// ARP, ND and ForHost frames have none, having counters of their own.
type fate uint8

const (
	_ fate = iota
	fateTranslated
	fateAnswered
	fateFragmentHeld
	fateDropped
)

// counter returns the ledger's counter of f for frames read on side s.
func (f fate) counter(s xlat.Side) Counter {
	return InTranslated6 + 2*Counter(f-fateTranslated) + Counter(s-xlat.Side6)
}

// settle records the fate of the frame being handled, unless it has one
// already: a packet sent on in fragments was translated even if one
// fragment is dropped later.
func (w *worker) settle(f fate) {
	if w.fate == 0 {
		w.fate = f
	}
}

// frame handles the frame b[Headroom:Headroom+n] read from the port of
// side w.port and counts its fate in the ledger; g describes it if it is
// a TCP super-frame passed through whole.
func (w *worker) frame(b []byte, n int, g wire.GSO, now time.Time) {
	w.fate = 0
	w.handle(b, n, g, now)
	if w.fate != 0 {
		w.c[w.fate.counter(w.side)]++
	}
}

// handle is frame without the ledger.
func (w *worker) handle(b []byte, n int, g wire.GSO, now time.Time) {
	p := w.p
	off := Headroom
	f := b[off : off+n]
	w.side = w.port
	var srcMAC arpnd.MAC
	if p.links[w.port] == LinkEthernet {
		s, tag, drop, ok := p.classify(w.port, f)
		w.side = s
		w.c[FramesIn6+Counter(s-xlat.Side6)]++
		w.c[BytesIn6+Counter(s-xlat.Side6)] += uint64(n)
		if !ok {
			w.drop(drop, f)
			return
		}
		if tag != 0 {
			f = untag(f)
			off += tag
			n -= tag
		}
		if !w.link(f, now) {
			return
		}
		srcMAC = header.Ethernet(f).Src()
		off += header.EthernetLen
		n -= header.EthernetLen
		if p.shared && p.forHost(b[off:off+n]) {
			// One-armed: the host's own packet, which its kernel
			// receives too. The translator does not judge it (it
			// would count it, or answer it with an ICMP error).
			w.c[ForHost]++
			return
		}
	} else {
		w.c[FramesIn6+Counter(w.side-xlat.Side6)]++
		w.c[BytesIn6+Counter(w.side-xlat.Side6)] += uint64(n)
		if n > 0 && b[off]>>4 != 4 && b[off]>>4 != 6 {
			w.drop(OtherEtherType, f)
			return
		}
	}
	var v xlat.Verdict
	if g.Size == 0 {
		v = w.tr.Translate(b, off, n, w.side, now)
	} else {
		v = w.tr.TranslateGSO(b, off, n, w.side, now)
	}
	if v.Action() == xlat.Reassemble {
		// A fragment held, or the last one: then the datagram, in a
		// scratch buffer, is translated whole and goes on as any frame
		// (a reassembled datagram is never handed back again).
		if b, n = w.reassemble(b[v.Off:v.Off+v.Len], f, now); b == nil {
			return
		}
		f = b[Headroom : Headroom+n]
		v = w.tr.TranslateReassembled(b, Headroom, n, w.side, now)
	}
	if p.shared && v.Action() != xlat.Forward && (v.Reason() == xlat.ReasonNoRoute6 || v.Reason() == xlat.ReasonNoRoute4) {
		// One-armed: the host shares the port, and a packet nat64br has
		// no mapping for is the kernel's, which receives it too: no
		// drop, and above all no ICMP error from nat64br.
		w.c[ForHost]++
		return
	}
	switch v.Action() {
	case xlat.Drop:
		w.drop(Drop(v.Reason()), f)
	case xlat.Reply:
		// Back to whoever sent the frame, the way it came.
		w.c[Replies]++
		w.c[Reply(v.Reason())]++
		w.settle(fateAnswered)
		start := v.Off
		if p.links[w.side] == LinkEthernet {
			start = p.putLink(b, v.Off, w.side, srcMAC)
		}
		w.forward(w.side, b[start:v.Off+v.Len], wire.GSO{})
	case xlat.Forward:
		if v.FragSize == 0 {
			w.send(v.Side(), b, v.Off, v.Len, g, now)
			return
		}
		pkt := b[v.Off : v.Off+v.Len]
		nf := xlat.Fragments(pkt, v.FragSize)
		for i := 0; i < nf; i++ {
			fb := w.scratchBuf()
			if fb == nil {
				w.drop(NoScratch, pkt)
				return
			}
			m := xlat.WriteFragment(fb[linkRoom:], pkt, v.FragSize, i)
			w.send(v.Side(), fb, linkRoom, m, wire.GSO{}, now)
			w.c[Fragments]++
		}
	}
}

// reassemble gives the fragment pkt of the frame f to the plane's
// reassembler. If it completes its datagram, reassemble returns the
// scratch buffer the datagram is in, at Headroom, and its length;
// otherwise nil: the fragment is held, or dropped and counted.
func (w *worker) reassemble(pkt, f []byte, now time.Time) ([]byte, int) {
	rb := w.scratchBuf()
	if rb == nil {
		w.drop(NoScratch, f)
		return nil, 0
	}
	n, r, dropped := w.p.reasm.Add(pkt, rb[Headroom:], now)
	if n > 0 {
		w.c[Reassembled]++
		return rb, n
	}
	w.used-- // the scratch buffer was not needed
	if r == xlat.ReasonNone {
		w.c[FragmentsHeld]++
		w.settle(fateFragmentHeld)
		return nil, 0
	}
	w.drop(Drop(r), f)
	if dropped > 1 {
		w.c[Drop(r)] += uint64(dropped - 1) // the datagram's fragments held before
		w.c[LateDrops] += uint64(dropped - 1)
	}
	return nil, 0
}

// link handles the link layer of the Ethernet frame f: it answers ARP and
// Neighbor Discovery, learns the sender of an IP packet, and drops what
// is not for the translator. It reports whether f is an IP packet to
// translate. f is at least an Ethernet header long (classify saw to it).
func (w *worker) link(f []byte, now time.Time) bool {
	p := w.p
	eth := header.Ethernet(f)
	if eth.Src() == p.macs[w.side] {
		w.drop(OwnSource, f)
		return false
	}
	dst := eth.Dst()
	group := dst[0]&1 != 0
	if !group && dst != p.macs[w.side] && !p.anyMAC {
		w.drop(NotForUs, f)
		return false
	}
	switch eth.EtherType() {
	case header.EtherTypeIPv6:
		if w.side != xlat.Side6 {
			w.drop(WrongPort, f)
			return false
		}
		out := w.scratchBuf()
		if out == nil {
			w.drop(NoScratch, f)
			return false
		}
		if l, consumed := p.nd.Handle(f, out[Headroom:], now); consumed {
			w.c[NDFrames]++
			if l > 0 {
				w.c[LinkReplies]++
				w.queue(w.side, p.tagFrame(out, Headroom, l, w.side), wire.GSO{})
			}
			return false
		}
		w.used-- // the scratch buffer was not needed
		if p.shared && len(f) >= header.EthernetLen+40 && f[header.EthernetLen+24] == 0xff {
			// One-armed: multicast ND did not take (MLD reports, the
			// host's own groups) is the kernel's.
			w.c[ForHost]++
			return false
		}
		if group {
			w.drop(NotForUs, f)
			return false
		}
		p.nd.LearnHinted(&w.learned[xlat.Side6], f, now)
		return true
	case header.EtherTypeIPv4:
		if w.side != xlat.Side4 {
			w.drop(WrongPort, f)
			return false
		}
		if group {
			w.drop(NotForUs, f)
			return false
		}
		p.arp.LearnHinted(&w.learned[xlat.Side4], f, now)
		return true
	case header.EtherTypeARP:
		if w.side != xlat.Side4 {
			w.drop(WrongPort, f)
			return false
		}
		out := w.scratchBuf()
		if out == nil {
			w.drop(NoScratch, f)
			return false
		}
		w.c[ARPFrames]++
		if l := p.arp.Handle(f, out[Headroom:], now); l > 0 {
			w.c[LinkReplies]++
			w.queue(w.side, p.tagFrame(out, Headroom, l, w.side), wire.GSO{})
		} else {
			w.used--
		}
		return false
	case header.EtherTypeVLAN, header.EtherTypeQinQ:
		w.drop(VLANTagged, f)
	default:
		w.drop(OtherEtherType, f)
	}
	return false
}

// send queues the IP packet b[off:off+n] for side s. On an Ethernet side
// it puts the next hop's Ethernet header (and the side's VLAN tag) in
// front of it, or
// holds the frame in the neighbor cache until the next hop is resolved. g
// describes a super-frame passed through whole; those are not held.
func (w *worker) send(s xlat.Side, b []byte, off, n int, g wire.GSO, now time.Time) {
	p := w.p
	if p.links[s] != LinkEthernet {
		w.forward(s, b[off:off+n], g)
		w.settle(fateTranslated)
		return
	}
	if p.gsoTagged(g, s) {
		w.drop(GSOTagged, b[off:off+n])
		return
	}
	frame, cache, key, ok := p.frameTo(&w.resolved[s], s, b, off, n)
	if ok {
		w.forward(s, frame, g)
		w.settle(fateTranslated)
		return
	}
	if !cache.Resolvable(key) {
		w.drop(NoNeighbor, frame)
	} else if g.Size != 0 {
		// A held frame leaves through the port, which sends ordinary
		// frames only: resolve, drop, and let the sender's TCP resend.
		cache.Resolve(key, now)
		w.drop(GSOUnresolved, frame)
	} else if cache.Hold(key, frame, now) {
		w.c[Held]++
		w.settle(fateTranslated)
	} else {
		w.drop(HoldDrop, frame)
	}
}
