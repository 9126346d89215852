package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
)

// Frame layout of the buffers the plane translates in: Headroom bytes
// before the frame leave room for the translator's growth (xlat.Headroom)
// plus a link header in front of the translated packet.
const (
	Headroom = 128
	maxFrame = 65535 + header.EthernetLen
	// BufSize is the size of a frame buffer: Headroom, the largest frame
	// and the translator's tailroom.
	BufSize = Headroom + maxFrame + xlat.Tailroom
	// BatchSize is the most frames a worker reads or writes in one call.
	BatchSize = 64
)

// Link is how a side of the plane frames its packets.
type Link int

const (
	_ Link = iota
	// LinkEthernet frames carry an Ethernet header; the plane answers ARP
	// or Neighbor Discovery on that side and resolves next hops.
	LinkEthernet
	// LinkIP frames are bare IP packets (pcap link types 101, 228, 229):
	// no link header, no neighbors.
	LinkIP
)

func (l Link) String() string {
	switch l {
	case LinkEthernet:
		return "ethernet"
	case LinkIP:
		return "ip"
	}
	return "link(?)"
}

// Port is a link the plane reads frames from and writes frames to: an
// AF_PACKET socket, a pair of pcap files, an in-memory link.
type Port interface {
	// ReadBatch reads up to len(bufs) frames into bufs[i][offset:] and
	// sets sizes[i]; after Close it returns net.ErrClosed, at the end of
	// a file io.EOF.
	ReadBatch(bufs [][]byte, sizes []int, offset int) (int, error)
	// WriteBatch writes the frames bufs[i][offset:].
	WriteBatch(bufs [][]byte, offset int) (int, error)
	// Close releases the port; blocked calls return net.ErrClosed.
	Close() error
}

// Queue is one receive queue of a port whose frames are read in place (a
// TPACKET ring), with a socket of its own to send on that may pass TCP
// super-frames whole (wire.Queue).
type Queue interface {
	// ReadBatchInPlace sets frames[i] to each frame (in the ring, or
	// copied into bufs[i]) with offset bytes before it and tail after it,
	// sizes[i] to its length and gso[i] to its super-frame description.
	// The frames stay valid until the next call.
	ReadBatchInPlace(frames, bufs [][]byte, sizes []int, gso []wire.GSO, offset, tail int) (int, error)
	// WriteBatchGSO writes the frames bufs[i], each a super-frame if
	// gso[i] says so.
	WriteBatchGSO(bufs [][]byte, gso []wire.GSO) (int, error)
}

// Poller waits for a worker's queues to have frames (wire.Poller).
type Poller interface {
	Wait() error
	WaitFor(d time.Duration) (bool, error)
	WaitHot(d time.Duration) (bool, error)
	Close() error
}

// Lane is what one ring worker serves: a receive queue of each side's
// port and the poller that waits on both.
type Lane struct {
	Queues [3]Queue // by xlat.Side
	Poller Poller
}

// Options configure a plane. Ports is required; the zero value of every
// other field means its default.
type Options struct {
	Log *slog.Logger // nil: discard

	// Ports are the two sides' links, by xlat.Side. The plane owns them
	// from New on: Close closes them.
	Ports [3]Port
	// Both sides may share one port (Ports[Side6] == Ports[Side4]):
	// one-armed, its frames are the IPv6 side's or the IPv4 side's by
	// their VLAN, then by their EtherType (IPv6; IPv4 and ARP), and
	// leave by that port.

	// Links are the sides' link modes (default LinkEthernet); a shared
	// port has one.
	Links [3]Link
	// VLANs are the sides' 802.1Q VLAN IDs (1-4094) on their Ethernet
	// ports, 0 for untagged. Frames of other VLANs are counted
	// (VLANTagged) and dropped. The ports hand over tagged frames with
	// the tag inline (as on the wire) and send them so.
	VLANs [3]uint16
	// MACs are the Ethernet sides' own addresses.
	MACs [3]arpnd.MAC
	// ARP and ND configure the Ethernet sides' neighbor protocols.
	ARP arpnd.ARPOptions
	ND  arpnd.NDOptions

	// Translator is the first generation's translator; Swap replaces it.
	Translator *xlat.Translator

	// Reassembly configures the reassembly of the fragments the
	// translator hands back (xlat.Options.Reassemble); the zero value
	// means xlat's defaults. The workers share one xlat.Reassembler,
	// which the timers sweep.
	Reassembly xlat.ReassemblyOptions

	// Lanes, when set, are the ring data path: worker i serves Lanes[i]
	// (queues of a PACKET_FANOUT group) instead of one worker per port
	// reading with ReadBatch.
	Lanes []Lane
	// BusyPoll is how long a ring worker polls its empty rings before it
	// sleeps.
	BusyPoll time.Duration
	// HotWait is how long after its rings' last frame a ring worker
	// sleeps hot (wire.Poller.WaitHot): GOMAXPROCS grows by a P per
	// worker while the plane runs. Off without asynchronous preemption.
	HotWait time.Duration
	// CPUs, when set, is the CPU each ring worker pins its thread to while
	// idle (WorkerCPUs).
	CPUs []int

	// HostAddrs are the addresses the host's kernel owns on a port both
	// sides share (one-armed): packets to them are the host's, counted
	// as ForHost and never translated nor answered. SetHostAddrs
	// replaces them.
	HostAddrs []netip.Addr

	// AnyMAC makes the Ethernet sides take unicast frames for any
	// destination MAC address, not only their own (a replay of captures
	// made in front of another translator). Otherwise those are counted
	// (NotForUs) and dropped.
	AnyMAC bool

	// OnTick, if set, runs on the timer goroutine after the timers of each
	// tick; second is true once a second.
	OnTick func(now time.Time, second bool)
}

// Plane is a running frame path between two ports.
type Plane struct {
	log    *slog.Logger
	ports  [3]Port
	links  [3]Link
	vlan   [3]uint16
	shared bool // both sides on one port
	anyMAC bool // Options.AnyMAC
	macs   [3]arpnd.MAC
	arp    *arpnd.ARP // IPv4 side, if Ethernet
	nd     *arpnd.ND  // IPv6 side, if Ethernet
	gen    atomic.Pointer[generation]
	reasm  *xlat.Reassembler
	stats  sharedCounters
	wg     sync.WaitGroup
	stop   chan struct{}

	ctrlMu   sync.Mutex // serializes the control goroutines' use of ctrlTr
	ctrlTr   *xlat.Translator
	ctrlG    uint64
	timerBuf []byte // the timers' packet buffer, under ctrlMu

	onTick    func(now time.Time, second bool)
	lanes     []Lane
	busyPoll  time.Duration
	hotWait   time.Duration
	cpus      []int
	anywhere  unix.CPUSet
	prevProcs int // GOMAXPROCS before Start raised it for hot waits

	started, closed bool // under liveMu

	// The liveness books (liveness.go): the timers' ticks, each
	// worker's beat, and what Alive saw last.
	ticks  atomic.Uint64
	beats  []beat
	liveMu sync.Mutex
	live   liveness

	// host holds the host's addresses on a shared port (SetHostAddrs).
	host atomic.Pointer[hostAddrs]

	// trace, when set, is the running drop trace (trace.go).
	trace atomic.Pointer[Trace]
}

// generation is one configuration's translator, swapped on reload; each
// worker clones it when it sees a new one (checked once per batch).
type generation struct {
	n  uint64
	tr *xlat.Translator
}

// ErrNoPort is returned by New when a side has no port.
var ErrNoPort = errors.New("dataplane: a side has no port")

// New makes a plane, not started, from opts.
func New(opts Options) (*Plane, error) {
	if opts.Ports[xlat.Side6] == nil || opts.Ports[xlat.Side4] == nil {
		return nil, ErrNoPort
	}
	if opts.Translator == nil {
		return nil, errors.New("dataplane: no translator")
	}
	p := &Plane{log: opts.Log, ports: opts.Ports, links: opts.Links, vlan: opts.VLANs, macs: opts.MACs, onTick: opts.OnTick,
		lanes: opts.Lanes, busyPoll: opts.BusyPoll, hotWait: opts.HotWait, cpus: opts.CPUs, anyMAC: opts.AnyMAC, stop: make(chan struct{})}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		if p.links[s] == 0 {
			p.links[s] = LinkEthernet
		}
	}
	if len(p.lanes) > 0 && (p.links[xlat.Side6] != LinkEthernet || p.links[xlat.Side4] != LinkEthernet) {
		return nil, errors.New("dataplane: ring lanes need Ethernet on both sides")
	}
	p.shared = p.ports[xlat.Side6] == p.ports[xlat.Side4]
	if p.shared && p.links[xlat.Side6] != p.links[xlat.Side4] {
		return nil, errors.New("dataplane: the two sides share a port but not its link mode")
	}
	var senders [3]arpnd.Sender
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		if p.vlan[s] > 4094 || p.vlan[s] != 0 && p.links[s] != LinkEthernet {
			return nil, fmt.Errorf("dataplane: VLAN %d on the %v side: VLAN IDs are 1-4094, on Ethernet", p.vlan[s], s)
		}
		senders[s] = p.ports[s]
		if p.vlan[s] != 0 {
			senders[s] = tagSender{p.ports[s], p.vlan[s]}
		}
	}
	p.gen.Store(&generation{n: 1, tr: opts.Translator})
	p.SetHostAddrs(opts.HostAddrs)
	var err error
	if p.reasm, err = xlat.NewReassembler(opts.Reassembly); err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	if p.links[xlat.Side4] == LinkEthernet {
		if p.arp, err = arpnd.NewARP(opts.ARP, senders[xlat.Side4], func(b []byte) { p.neighborFailed(xlat.Side4, b) }); err != nil {
			return nil, err
		}
	}
	if p.links[xlat.Side6] == LinkEthernet {
		if p.nd, err = arpnd.NewND(opts.ND, senders[xlat.Side6], func(b []byte) { p.neighborFailed(xlat.Side6, b) }); err != nil {
			return nil, err
		}
	}
	if len(p.cpus) > 0 {
		if err := unix.SchedGetaffinity(0, &p.anywhere); err != nil {
			p.log.Warn("cannot read the CPUs nat64br may run on; the workers are not pinned", "err", err)
			p.cpus = nil
		}
	}
	return p, nil
}

// hostAddrs are the host's own addresses, by family.
type hostAddrs struct {
	v6 [][16]byte
	v4 [][4]byte
}

// SetHostAddrs replaces the addresses the host's kernel owns on a shared
// port (Options.HostAddrs). Any goroutine may call it.
func (p *Plane) SetHostAddrs(addrs []netip.Addr) {
	h := &hostAddrs{}
	for _, a := range addrs {
		if a.Is4() || a.Is4In6() {
			h.v4 = append(h.v4, a.Unmap().As4())
		} else if a.Is6() {
			h.v6 = append(h.v6, a.As16())
		}
	}
	p.host.Store(h)
}

// forHost reports whether the IP packet ip (version 4 or 6, at least a
// header long) is addressed to the host's own addresses.
func (p *Plane) forHost(ip []byte) bool {
	h := p.host.Load()
	if len(ip) == 0 {
		return false
	}
	if ip[0]>>4 == 6 {
		if len(ip) < 40 {
			return false
		}
		for i := range h.v6 {
			if [16]byte(ip[24:40]) == h.v6[i] {
				return true
			}
		}
		return false
	}
	if len(ip) < 20 {
		return false
	}
	for i := range h.v4 {
		if [4]byte(ip[16:20]) == h.v4[i] {
			return true
		}
	}
	return false
}

// MAC returns side s's own MAC address.
func (p *Plane) MAC(s xlat.Side) arpnd.MAC { return p.macs[s] }

// ARP returns the IPv4 side's ARP, nil if that side is not Ethernet.
func (p *Plane) ARP() *arpnd.ARP { return p.arp }

// ND returns the IPv6 side's Neighbor Discovery, nil if that side is not
// Ethernet.
func (p *Plane) ND() *arpnd.ND { return p.nd }

// Reassembly returns the figures of the reassembly the workers share.
func (p *Plane) Reassembly() xlat.ReassemblyStats { return p.reasm.Stats() }

// Translator returns the current generation's translator (its tables are
// shared with every worker's clone).
func (p *Plane) Translator() *xlat.Translator { return p.gen.Load().tr }

// Swap makes tr the translator of the frames that follow: each worker
// clones it before its next batch. Reload carries the state over first
// (xlat.Translator.KeepState).
func (p *Plane) Swap(tr *xlat.Translator) {
	g := p.gen.Load()
	p.gen.Store(&generation{n: g.n + 1, tr: tr})
}

// Counters returns the totals of every worker, as published after each
// batch.
func (p *Plane) Counters() Counters { return p.stats.load() }

// Workers returns the number of workers serving each port: one per lane,
// or the one that reads the port.
func (p *Plane) Workers() int { return max(1, len(p.lanes)) }

// CPUs returns the CPU each ring worker pins itself to while idle, or nil.
func (p *Plane) CPUs() []int { return p.cpus }

// HotWait returns how long the ring workers wait hot after traffic (0 when
// off).
func (p *Plane) HotWait() time.Duration { return p.hotWait }

// Start runs the workers (one per lane, or one per port) and the timers.
func (p *Plane) Start() {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	if p.started {
		return
	}
	p.started = true
	if n := len(p.lanes); n > 0 {
		p.beats = make([]beat, n)
		if p.hotWait > 0 && strings.Contains(os.Getenv("GODEBUG"), "asyncpreemptoff=1") {
			p.log.Warn("GODEBUG=asyncpreemptoff=1: data-path.hot-wait is off (a hot wait would hold up garbage collections)")
			p.hotWait = 0
		}
		if p.hotWait > 0 {
			// A hot wait keeps its P: the rest of the process keeps
			// the Ps it had.
			p.prevProcs = runtime.GOMAXPROCS(0)
			runtime.GOMAXPROCS(p.prevProcs + n)
		}
		for i := range p.lanes {
			cpu := -1
			if i < len(p.cpus) {
				cpu = p.cpus[i]
			}
			p.wg.Add(1)
			go p.laneWorker(&p.lanes[i], cpu, &p.beats[i])
		}
	} else {
		p.beats = make([]beat, len(p.portSides()))
		for i, s := range p.portSides() {
			p.wg.Add(1)
			go p.portWorker(s, &p.beats[i])
		}
	}
	p.wg.Add(1)
	go p.tick()
}

// Close stops the plane: it closes the ports, waits for the workers and
// the timers, and gives back the Ps hot waits took.
func (p *Plane) Close() error {
	p.liveMu.Lock()
	closed := p.closed
	p.closed = true
	p.liveMu.Unlock()
	if closed {
		return net.ErrClosed
	}
	close(p.stop)
	var err error
	for _, s := range p.portSides() {
		if cerr := p.ports[s].Close(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	}
	p.wg.Wait()
	if p.prevProcs > 0 {
		runtime.GOMAXPROCS(p.prevProcs)
	}
	return err
}

// portSides returns a side of each port: both, or the IPv6 side of a
// shared port.
func (p *Plane) portSides() []xlat.Side {
	if p.shared {
		return []xlat.Side{xlat.Side6}
	}
	return []xlat.Side{xlat.Side6, xlat.Side4}
}

// tick runs the timers every 100 ms until the plane stops.
func (p *Plane) tick() {
	defer p.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var lastSweep time.Time
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.ticks.Add(1)
			second := now.Sub(lastSweep) >= time.Second
			if second {
				lastSweep = now
			}
			p.timers(now, second)
		}
	}
}

// timers runs the neighbor caches' timers, the Router Advertisements and
// the translator's: the held IPv4 SYNs whose 6 seconds are over are
// answered and, when sweep is set, expired NAT64 sessions and
// dynamic-pool mappings are swept. Datagrams whose reassembly timed out
// are dropped at every tick (a tenth of a second: the timeout is seconds).
// Then OnTick.
func (p *Plane) timers(now time.Time, sweep bool) {
	if lone, old := p.reasm.Sweep(now); lone+old > 0 {
		var c Counters
		c[Drop(xlat.ReasonFragmentLone)] += uint64(lone)
		c[Drop(xlat.ReasonReassemblyTimeout)] += uint64(old)
		c[LateDrops] += uint64(lone + old) // counted as held when they came
		p.stats.add(&c)
	}
	if p.arp != nil {
		p.arp.Cache().Tick(now)
	}
	if p.nd != nil {
		p.nd.Cache().Tick(now)
		p.nd.Tick(now)
	}
	p.control(func(tr *xlat.Translator) {
		if sweep {
			tr.Sweep(now)
		}
		for {
			if p.timerBuf == nil {
				p.timerBuf = make([]byte, BufSize)
			}
			v := tr.Expire(p.timerBuf, Headroom, now)
			if v.Action() == 0 {
				return
			}
			if v.Action() == xlat.Drop {
				var c Counters
				c[Drop(v.Reason())]++
				c[LateDrops]++ // a held SYN, counted when it came
				p.stats.add(&c)
				continue
			}
			p.sendControl(p.timerBuf, v, now)
		}
	})
	if p.onTick != nil {
		p.onTick(now, sweep)
	}
}

// control runs f with the control goroutines' translator, a clone of the
// current generation's: the neighbor caches' callbacks and the timers
// share it, one at a time.
func (p *Plane) control(f func(tr *xlat.Translator)) {
	p.ctrlMu.Lock()
	defer p.ctrlMu.Unlock()
	if g := p.gen.Load(); p.ctrlTr == nil || g.n != p.ctrlG {
		p.ctrlTr, p.ctrlG = g.tr.Clone(), g.n
	}
	f(p.ctrlTr)
}

// neighborFailed answers a packet held for a next hop on side to that never
// answered: an ICMP host unreachable goes back across the translator to its
// sender. It runs on the timer goroutine.
func (p *Plane) neighborFailed(to xlat.Side, pkt []byte) {
	if p.vlan[to] != 0 {
		// The cache took the untagged header's 14 bytes off the frame;
		// the tag's 4 are left.
		if len(pkt) < tagLen {
			return
		}
		pkt = pkt[tagLen:]
	}
	p.control(func(tr *xlat.Translator) {
		b := make([]byte, BufSize)
		at := 4 * xlat.Headroom
		copy(b[at:], pkt)
		now := time.Now()
		v := tr.Unreachable(b, at, len(pkt), to, now)
		if v.Action() != xlat.Forward {
			var c Counters
			c[Drop(v.Reason())]++
			c[LateDrops]++ // counted as translated when it came
			p.stats.add(&c)
			return
		}
		p.sendControl(b, v, now)
	})
}

// sendControl sends a packet a control goroutine made, b[v.Off:v.Off+v.Len]
// with room for a link header before it, towards its destination on v.Side(); it is
// counted as the translator's reply for v.Reason().
func (p *Plane) sendControl(b []byte, v xlat.Verdict, now time.Time) {
	var c Counters
	c[Replies]++
	c[Reply(v.Reason())]++
	s := v.Side()
	frame := b[v.Off : v.Off+v.Len]
	ok := true
	if p.links[s] == LinkEthernet {
		var h arpnd.Hint
		var cache *arpnd.Cache
		var key [16]byte
		frame, cache, key, ok = p.frameTo(&h, s, b, v.Off, v.Len)
		if !ok {
			switch {
			case !cache.Resolvable(key):
				c[NoNeighbor]++
			case cache.Hold(key, frame, now):
				c[Held]++
			default:
				c[HoldDrop]++
				c[LateDrops]++ // an answer to a frame counted when it came
			}
		}
	}
	if ok {
		_, _ = p.ports[s].WriteBatch([][]byte{frame}, 0)
		c[FramesOut6+Counter(s-xlat.Side6)]++
		c[BytesOut6+Counter(s-xlat.Side6)] += uint64(len(frame))
	}
	p.stats.add(&c)
}

// frameTo puts the link header of side s's next hop for the IP packet
// b[off:off+n] in front of it (the neighbor's MAC if it is resolved) and
// returns the frame, the neighbor cache and key to hold it under, and
// whether the next hop is resolved; h is the caller's hint for side s.
func (p *Plane) frameTo(h *arpnd.Hint, s xlat.Side, b []byte, off, n int) (frame []byte, cache *arpnd.Cache, key [16]byte, ok bool) {
	cache, key, mac, ok := p.resolve(h, s, b[off:off+n])
	return b[p.putLink(b, off, s, mac) : off+n], cache, key, ok
}

// resolve returns the neighbor cache of side s, the next hop for the IP
// packet b and, if that neighbor is resolved, its MAC address; h is the
// caller's hint for side s.
func (p *Plane) resolve(h *arpnd.Hint, s xlat.Side, b []byte) (cache *arpnd.Cache, key [16]byte, mac arpnd.MAC, ok bool) {
	if s == xlat.Side4 {
		key, mac, ok = p.arp.Resolve(h, [4]byte(b[16:20]))
		return p.arp.Cache(), key, mac, ok
	}
	key, mac, ok = p.nd.Resolve(h, [16]byte(b[24:40]))
	return p.nd.Cache(), key, mac, ok
}

func etherTypeOf(version byte) uint16 {
	if version>>4 == 6 {
		return header.EtherTypeIPv6
	}
	return header.EtherTypeIPv4
}
