package main

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
)

// dataplane moves frames between the two ports: one goroutine per port
// reads a batch, hands ARP and Neighbor Discovery to arpnd and everything
// else to the translator, puts an Ethernet header from the neighbor cache
// on each result and writes the batch out, to the other port or back out
// of the one it came from. Nothing is bridged: a frame nat64br does not
// translate or answer is counted and dropped.
type dataplane struct {
	log   *slog.Logger
	ports [3]wire.Port // by xlat.Side
	macs  [3]arpnd.MAC // the ports' addresses
	arp   *arpnd.ARP   // IPv4 side
	nd    *arpnd.ND    // IPv6 side
	gen   atomic.Pointer[generation]
	stats sharedCounters
	wg    sync.WaitGroup

	ctrlMu   sync.Mutex // serializes the control goroutines' use of ctrlTr
	ctrlTr   *xlat.Translator
	ctrlG    uint64
	timerBuf []byte // the timers' packet buffer, under ctrlMu

	// onTick, if set, runs after the timers of each tick (the runner logs
	// mapping events and saves the dynamic pool there).
	onTick func(now time.Time, second bool)

	// queues, when set, are the ports' receive queues (TPACKET rings in a
	// fanout group): worker i serves queue i of both ports instead of the
	// one-goroutine-per-port loop.
	queues   [3][]*wire.Queue
	busyPoll time.Duration
	// hotWait is how long after its rings' last frame a worker sleeps
	// hot (wire.Poller.WaitHot); the runner left it GOMAXPROCS room.
	hotWait time.Duration
	// cpus, when set, is the CPU each queue worker pins its thread to
	// while idle, and anywhere the CPUs it may run on otherwise.
	cpus     []int
	anywhere unix.CPUSet

	// trace, when set, is the running drop trace (trace.go).
	trace atomic.Pointer[tracer]
}

// generation is one configuration's translator, swapped on reload; each
// worker clones it when it sees a new one (checked once per batch).
type generation struct {
	n  uint64
	tr *xlat.Translator
}

const batchSize = 64

// start runs the workers: one per pair of receive queues, or one per port.
func (d *dataplane) start() {
	if n := len(d.queues[xlat.Side6]); n > 0 {
		for i := 0; i < n; i++ {
			d.wg.Add(1)
			cpu := -1
			if i < len(d.cpus) {
				cpu = d.cpus[i]
			}
			go d.queueWorker(d.queues[xlat.Side6][i], d.queues[xlat.Side4][i], cpu)
		}
		return
	}
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		d.wg.Add(1)
		go d.worker(s)
	}
}

// worker is the loop of the port on side s, or of a pair of queues.
type worker struct {
	d       *dataplane
	side    xlat.Side // the side of the batch being handled
	tr      *xlat.Translator
	gen     uint64
	c       counters
	bufs    [][]byte // the worker's own buffers
	frames  [][]byte // of the batch: bufs, or ring slots read in place
	sizes   []int
	gso     []wire.GSO // of frames: super-frames passed through whole
	out     [3][][]byte
	outGSO  [3][]wire.GSO  // of out
	tx      [3]batchWriter // where each side's output goes
	scratch [][]byte       // replies and fragments of the current batch
	used    int
	// The last neighbor learned on each side, and resolved towards it.
	learned, resolved [3]arpnd.Hint
}

// batchWriter is a port, or a queue's own sending socket.
type batchWriter interface {
	WriteBatch(bufs [][]byte, offset int) (int, error)
}

func (d *dataplane) newWorker(side xlat.Side) *worker {
	w := &worker{d: d, side: side, bufs: make([][]byte, batchSize), sizes: make([]int, batchSize), gso: make([]wire.GSO, batchSize)}
	for i := range w.bufs {
		w.bufs[i] = make([]byte, bufSize)
	}
	w.frames = slices.Clone(w.bufs)
	for s := range w.out {
		w.out[s] = make([][]byte, 0, 2*batchSize)
		w.outGSO[s] = make([]wire.GSO, 0, 2*batchSize)
	}
	w.tx[xlat.Side6], w.tx[xlat.Side4] = d.ports[xlat.Side6], d.ports[xlat.Side4]
	return w
}

// batch handles the n frames just read from side s and sends the results.
func (w *worker) batch(s xlat.Side, n int) {
	if g := w.d.gen.Load(); g.n != w.gen {
		w.tr, w.gen = g.tr.Clone(), g.n
	}
	w.side = s
	now := time.Now()
	for i := 0; i < n; i++ {
		if w.sizes[i] > 0 {
			w.frame(w.frames[i], w.sizes[i], w.gso[i], now)
		}
	}
	w.flush()
	w.c.countBatch(n)
	w.d.stats.add(&w.c)
}

// queueWorker serves queue q6 of the IPv6 port and q4 of the IPv4 port: it
// takes what both rings hold, and sleeps (its thread in epoll_wait) only
// when both have been empty for the busy-poll time (a quiet link then
// answers as fast as a busy one, at the price of that much polling after
// each burst, which yields the CPU to any thread that wants it).
//
// If cpu is not -1, a worker whose rings stay empty for pinAfter more sleeps
// pinned to cpu, where the fanout program sends the ICMP that CPU receives
// (wire.PortSpread.CPUs): an echo request wakes it on the CPU that is
// already awake, since it received the request. Once woken it may run
// anywhere again. Pinned for good, the workers cost one TCP stream with the
// veths' offloads on a sixth to a third in the bench lab: the scheduler
// could no longer put them beside iperf3 (docs/performance.md, "Latency").
func (d *dataplane) queueWorker(q6, q4 *wire.Queue, cpu int) {
	defer d.wg.Done()
	// The worker keeps one thread for its life (the thread ends with it,
	// pinned or not). Unlocked, the goroutine moved between threads after
	// each epoll_wait or preemption, and one TCP stream through SIIT ran
	// 20-29 % slower in the bench lab (docs/performance.md, "One thread per
	// worker").
	runtime.LockOSThread()
	pinned := false
	w := d.newWorker(xlat.Side6)
	w.tx[xlat.Side6], w.tx[xlat.Side4] = q6, q4
	qs := [3]*wire.Queue{xlat.Side6: q6, xlat.Side4: q4}
	pl, err := wire.NewPoller(q6, q4)
	if err != nil {
		d.log.Error("cannot wait for the receive queues", "err", err)
		return
	}
	defer pl.Close()
	// Empty looks since the last frame. Between looks the worker yields
	// its CPU to any other thread ready to run there; the clock is read
	// when the rings first come up empty and every 16th look after. It
	// does not yield its P: the timers and the control plane run on the
	// Ps the runner adds for hot waits, or when a worker sleeps cold, or
	// after the runtime preempts it (a runtime.Gosched every 16th look
	// cost 4 % of nat64br's CPU time in a UDP flood).
	const looksPerClock = 16
	looks := 0
	var idleSince time.Time
	for {
		got := 0
		for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
			n, err := qs[s].ReadBatchInPlace(w.frames, w.bufs, w.sizes, w.gso, frameHeadroom, xlat.Tailroom)
			if err != nil {
				return // closed
			}
			if n > 0 {
				w.batch(s, n)
				got += n
			}
		}
		if got > 0 {
			looks = 0
			if pinned {
				pinned = false
				if err := unix.SchedSetaffinity(0, &d.anywhere); err != nil {
					d.log.Warn("cannot unpin a worker", "cpu", cpu, "err", err)
					cpu = -1
				}
			}
			continue
		}
		if looks == 0 {
			idleSince = time.Now()
		}
		looks++
		if d.busyPoll > 0 && (looks%looksPerClock != 0 || time.Since(idleSince) < d.busyPoll) {
			wire.Yield()
			continue
		}
		if cpu >= 0 && !pinned {
			ready, err := d.sleep(pl, pinAfter, idleSince)
			if err != nil {
				return
			}
			if ready {
				looks = 0
				continue
			}
			if err := pinThread(cpu); err != nil {
				d.log.Warn("cannot pin a worker to its CPU; it runs where the scheduler puts it", "cpu", cpu, "err", err)
				cpu = -1
			} else {
				pinned = true
			}
		}
		if _, err := d.sleep(pl, -1, idleSince); err != nil {
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
func (d *dataplane) sleep(pl *wire.Poller, limit time.Duration, idleSince time.Time) (bool, error) {
	if hot := d.hotWait - time.Since(idleSince); hot > 0 {
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

func (d *dataplane) worker(side xlat.Side) {
	defer d.wg.Done()
	w := d.newWorker(side)
	port := d.ports[side]
	errs := 0
	for {
		n, err := port.ReadBatch(w.bufs, w.sizes, frameHeadroom)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			errs++
			if errs <= 3 || errs%1000 == 0 {
				d.log.Error("read failed", "side", side, "err", err, "count", errs)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		w.batch(side, n)
	}
}

// flush writes the batch's output, then frees the scratch buffers.
func (w *worker) flush() {
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		if len(w.out[s]) > 0 {
			var err error
			if q, ok := w.tx[s].(*wire.Queue); ok {
				_, err = q.WriteBatchGSO(w.out[s], w.outGSO[s]) // it may hold super-frames
			} else {
				_, err = w.tx[s].WriteBatch(w.out[s], 0)
			}
			if err != nil && !errors.Is(err, net.ErrClosed) {
				w.d.log.Error("write failed", "side", s, "err", err)
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
		if len(w.scratch) >= 4*batchSize {
			return nil
		}
		w.scratch = append(w.scratch, make([]byte, bufSize))
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

// frame handles the frame b[frameHeadroom:frameHeadroom+n]; g describes it
// if it is a TCP super-frame passed through whole.
func (w *worker) frame(b []byte, n int, g wire.GSO, now time.Time) {
	d := w.d
	w.c[cIn6+counter(w.side-xlat.Side6)]++
	w.c[cBytesIn6+counter(w.side-xlat.Side6)] += uint64(n)
	off := frameHeadroom
	f := b[off : off+n]
	if n < ethLen {
		w.drop(cRunt, f)
		return
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case etherTypeIPv6:
		if w.side != xlat.Side6 {
			w.drop(cWrongSide, f)
			return
		}
		out := w.scratchBuf()
		if out == nil {
			w.c[cNoScratch]++
			return
		}
		if l, consumed := d.nd.Handle(f, out[frameHeadroom:], now); consumed {
			w.c[cND]++
			if l > 0 {
				w.c[cLinkReply]++
				w.queue(w.side, out[frameHeadroom:frameHeadroom+l], wire.GSO{})
			}
			return
		}
		w.used-- // the scratch buffer was not needed
		d.nd.LearnHinted(&w.learned[xlat.Side6], f, now)
	case etherTypeIPv4:
		if w.side != xlat.Side4 {
			w.drop(cWrongSide, f)
			return
		}
		d.arp.LearnHinted(&w.learned[xlat.Side4], f, now)
	case arpnd.EtherTypeARP:
		if w.side != xlat.Side4 {
			w.drop(cWrongSide, f)
			return
		}
		w.c[cARP]++
		out := w.scratchBuf()
		if out == nil {
			w.c[cNoScratch]++
			return
		}
		if l := d.arp.Handle(f, out, now); l > 0 {
			w.c[cLinkReply]++
			w.queue(w.side, out[:l], wire.GSO{})
		} else {
			w.used--
		}
		return
	case etherTypeVLAN, etherTypeQinQ:
		w.drop(cVLAN, f)
		return
	default:
		w.drop(cOther, f)
		return
	}
	srcMAC := arpnd.EthSrc(f)
	var v xlat.Verdict
	if g.Size == 0 {
		v = w.tr.Translate(b, off+ethLen, n-ethLen, w.side, now)
	} else {
		v = w.tr.TranslateGSO(b, off+ethLen, n-ethLen, w.side, now)
	}
	switch v.Action() {
	case xlat.Drop:
		w.drop(cDropBase+counter(v.Reason()), f)
	case xlat.Reply:
		// Back to whoever sent the frame, the way it came.
		w.c[cReplies]++
		w.c[cReplyBase+counter(v.Reason())]++
		fr := b[v.Off-ethLen : v.Off+v.Len]
		arpnd.PutEth(fr, srcMAC, d.macs[w.side], etherTypeOf(b[v.Off]))
		w.queue(w.side, fr, wire.GSO{})
		w.c[cOut6+counter(w.side-xlat.Side6)]++
		w.c[cBytesOut6+counter(w.side-xlat.Side6)] += uint64(len(fr))
	case xlat.Forward:
		if v.FragSize == 0 {
			w.send(v.Side(), b[v.Off-ethLen:v.Off+v.Len], g, now)
			return
		}
		pkt := b[v.Off : v.Off+v.Len]
		nf := xlat.Fragments(pkt, v.FragSize)
		for i := 0; i < nf; i++ {
			fb := w.scratchBuf()
			if fb == nil {
				w.c[cNoScratch]++
				return
			}
			m := xlat.WriteFragment(fb[ethLen:], pkt, v.FragSize, i)
			w.send(v.Side(), fb[:ethLen+m], wire.GSO{}, now)
			w.c[cFragments]++
		}
	}
}

// send puts the Ethernet header of the next hop on frame (an IP packet
// after 14 free bytes) and queues it for side s, or holds it in the
// neighbor cache until the next hop is resolved. g describes a super-frame
// passed through whole; those are not held.
func (w *worker) send(s xlat.Side, frame []byte, g wire.GSO, now time.Time) {
	d := w.d
	cache, key, mac, ok := d.resolve(&w.resolved[s], s, frame[ethLen:])
	arpnd.PutEth(frame, mac, d.macs[s], etherTypeOf(frame[ethLen]))
	if ok {
		w.queue(s, frame, g)
		w.c[cOut6+counter(s-xlat.Side6)]++
		w.c[cBytesOut6+counter(s-xlat.Side6)] += uint64(len(frame))
		return
	}
	if g.Size != 0 {
		// A held frame leaves through the port, which sends ordinary
		// frames only: resolve, drop, and let the sender's TCP resend.
		cache.Resolve(key, now)
		w.drop(cGSOHold, frame)
	} else if cache.Hold(key, frame, now) {
		w.c[cHeld]++
	} else {
		w.drop(cHoldDrop, frame)
	}
}

// resolve returns the neighbor cache of side s, the next hop for the IP
// packet p and, if that neighbor is resolved, its MAC address; h is the
// caller's hint for side s.
func (d *dataplane) resolve(h *arpnd.Hint, s xlat.Side, p []byte) (cache *arpnd.Cache, key [16]byte, mac arpnd.MAC, ok bool) {
	if s == xlat.Side4 {
		key, mac, ok = d.arp.Resolve(h, [4]byte(p[16:20]))
		return d.arp.Cache(), key, mac, ok
	}
	key, mac, ok = d.nd.Resolve(h, [16]byte(p[24:40]))
	return d.nd.Cache(), key, mac, ok
}

func etherTypeOf(version byte) uint16 {
	if version>>4 == 6 {
		return etherTypeIPv6
	}
	return etherTypeIPv4
}

// control runs f with the control goroutines' translator, a clone of the
// current generation's: the neighbor caches' callbacks and the timers
// share it, one at a time.
func (d *dataplane) control(f func(tr *xlat.Translator)) {
	d.ctrlMu.Lock()
	defer d.ctrlMu.Unlock()
	if g := d.gen.Load(); d.ctrlTr == nil || g.n != d.ctrlG {
		d.ctrlTr, d.ctrlG = g.tr.Clone(), g.n
	}
	f(d.ctrlTr)
}

// neighborFailed answers a packet held for a next hop on side to that never
// answered: an ICMP host unreachable goes back across the translator to its
// sender. It runs on the control goroutine.
func (d *dataplane) neighborFailed(to xlat.Side, pkt []byte) {
	d.control(func(tr *xlat.Translator) {
		b := make([]byte, bufSize)
		at := 4 * xlat.Headroom
		copy(b[at:], pkt)
		now := time.Now()
		v := tr.Unreachable(b, at, len(pkt), to, now)
		if v.Action() != xlat.Forward {
			var c counters
			c[cDropBase+counter(v.Reason())]++
			d.stats.add(&c)
			return
		}
		d.sendControl(b, v, now)
	})
}

// sendControl sends a packet a control goroutine made, b[v.Off:v.Off+v.Len]
// with 14 free bytes before it, towards its destination on v.Side(); it is
// counted as the translator's reply for v.Reason().
func (d *dataplane) sendControl(b []byte, v xlat.Verdict, now time.Time) {
	var c counters
	c[cReplies]++
	c[cReplyBase+counter(v.Reason())]++
	frame := b[v.Off-ethLen : v.Off+v.Len]
	var h arpnd.Hint
	cache, key, mac, ok := d.resolve(&h, v.Side(), frame[ethLen:])
	arpnd.PutEth(frame, mac, d.macs[v.Side()], etherTypeOf(frame[ethLen]))
	if ok {
		_, _ = d.ports[v.Side()].WriteBatch([][]byte{frame}, 0)
		c[cOut6+counter(v.Side()-xlat.Side6)]++
		c[cBytesOut6+counter(v.Side()-xlat.Side6)] += uint64(len(frame))
	} else if cache.Hold(key, frame, now) {
		c[cHeld]++
	} else {
		c[cHoldDrop]++
	}
	d.stats.add(&c)
}

// natTimers runs the translator's timers: the held IPv4 SYNs whose 6
// seconds are over are answered, and, once a second, expired NAT64
// sessions and dynamic-pool mappings are swept.
func (d *dataplane) natTimers(now time.Time, sweep bool) {
	d.control(func(tr *xlat.Translator) {
		if sweep {
			tr.Sweep(now)
		}
		for {
			if d.timerBuf == nil {
				d.timerBuf = make([]byte, bufSize)
			}
			v := tr.Expire(d.timerBuf, frameHeadroom, now)
			if v.Action() == 0 {
				return
			}
			if v.Action() == xlat.Drop {
				var c counters
				c[cDropBase+counter(v.Reason())]++
				d.stats.add(&c)
				continue
			}
			d.sendControl(d.timerBuf, v, now)
		}
	})
	if d.onTick != nil {
		d.onTick(now, sweep)
	}
}

// tick runs the neighbor caches' timers, the Router Advertisements and
// the translator's timers until stop is closed.
func (d *dataplane) tick(stop <-chan struct{}) {
	defer d.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var lastSweep time.Time
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			d.arp.Cache().Tick(now)
			d.nd.Cache().Tick(now)
			d.nd.Tick(now)
			second := now.Sub(lastSweep) >= time.Second
			if second {
				lastSweep = now
			}
			d.natTimers(now, second)
		}
	}
}
