package wire_test

import (
	"encoding/binary"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// queueLab is lab with n receive queues on the port.
func queueLab(t *testing.T, n int) (*lab, []*wire.Queue) {
	return queueLabOpts(t, wire.QueueOptions{Queues: n, Frames: 256, QdiscBypass: true})
}

func queueLabOpts(t *testing.T, opts wire.QueueOptions) (*lab, []*wire.Queue) {
	l := newLab(t, wire.PacketOptions{})
	var qs []*wire.Queue
	if err := l.b.Do(func() (err error) {
		qs, err = l.port.OpenQueues(opts)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.port.Close(); l.port.ReleaseQueues() })
	return l, qs
}

// collect reads the queues until match has seen want frames or 5 s pass;
// it returns the matching frames and how many came through each queue.
func collect(t *testing.T, qs []*wire.Queue, want int, match func([]byte) bool) ([][]byte, []int) {
	t.Helper()
	var got [][]byte
	per := collectEach(t, qs, want, func(_ int, f []byte) bool {
		if !match(f) {
			return false
		}
		got = append(got, append([]byte(nil), f...))
		return true
	})
	return got, per
}

// collectEach reads the queues until take has taken want frames or 5 s
// pass; take gets each frame read and the index of its queue. It returns
// how many frames take took from each queue.
func collectEach(t *testing.T, qs []*wire.Queue, want int, take func(qi int, f []byte) bool) []int {
	t.Helper()
	pl := newPoller(t, qs)
	bufs := make([][]byte, 16)
	for i := range bufs {
		bufs[i] = make([]byte, 70000) // a super-frame is read whole
	}
	sizes := make([]int, len(bufs))
	per := make([]int, len(qs))
	taken := 0
	deadline := time.Now().Add(5 * time.Second)
	for taken < want && time.Now().Before(deadline) {
		idle := true
		for qi, q := range qs {
			n, err := q.ReadBatch(bufs, sizes, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				if sizes[i] > 0 && take(qi, bufs[i][:sizes[i]]) {
					per[qi]++
					taken++
				}
			}
			idle = idle && n == 0
		}
		if idle {
			if _, err := pl.WaitFor(time.Until(deadline)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return per
}

// newPoller returns a Poller for qs, closed when the test ends.
func newPoller(t *testing.T, qs []*wire.Queue) *wire.Poller {
	t.Helper()
	pl, err := wire.NewPoller(qs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	return pl
}

// sendUDP sends, after 100 ms, n datagrams from the kernel's stack of the
// peer namespace, from source ports first, first+1, ... to port dst.
func sendUDP(l *lab, first, n, dst int) {
	time.Sleep(100 * time.Millisecond)
	_ = l.a.Do(func() error {
		for p := first; p < first+n; p++ {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: p}, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: dst})
			if err != nil {
				return err
			}
			_, _ = c.Write([]byte("nat64br-queue-test"))
			c.Close()
		}
		return nil
	})
}

// TestQueuesReceive sends UDP from 16 source ports of the kernel's stack
// (transmit checksum offload on, the veth default): every datagram comes
// out of one of the 2 queues, with its checksum completed.
func TestQueuesReceive(t *testing.T) {
	l, qs := queueLab(t, 2)
	go sendUDP(l, 40000, 16, 9998)
	got, per := collect(t, qs, 16, isUDPTo(9998))
	st, _ := l.port.Stats()
	t.Logf("stats: %+v", st)
	if len(got) < 16 {
		t.Fatalf("%d of 16 datagrams came through", len(got))
	}
	for _, f := range got {
		if err := xlattest.Check(f[header.EthernetLen:], false); err != nil {
			t.Fatalf("frame does not check: %v", err)
		}
	}
	t.Logf("frames per queue: %v", per)
}

// TestQueuesInPlace reads 3 rounds of 200 datagrams, more than the ring's
// 256 frames, with ReadBatchInPlace: each must come in its ring slot, with
// the room asked for around it (written over here, as the translator
// would), and its checksum completed there; the slots must go back to the
// kernel at the next read, or the ring fills and the third round is lost.
func TestQueuesInPlace(t *testing.T) {
	const head, tail, rounds, per = 128, 160, 3, 200
	l, qs := queueLabOpts(t, wire.QueueOptions{Queues: 1, Frames: 256, Headroom: head, Tailroom: tail})
	q := qs[0]
	next := make(chan bool)
	sent := make(chan error, 1)
	go func() {
		sent <- l.a.Do(func() error {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000}, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 9997})
			if err != nil {
				return err
			}
			defer c.Close()
			for r := 0; r < rounds; r++ {
				if !<-next {
					return nil
				}
				for i := 0; i < per; i++ {
					if _, err := c.Write(binary.BigEndian.AppendUint32([]byte("nat64br-in-place"), uint32(r*per+i))); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}()
	bufs := make([][]byte, 16)
	for i := range bufs {
		bufs[i] = make([]byte, 70000)
	}
	frames := make([][]byte, len(bufs))
	sizes := make([]int, len(bufs))
	gso := make([]wire.GSO, len(bufs))
	match := isUDPTo(9997)
	got, inPlace := 0, 0
	for r := 0; r < rounds; r++ {
		next <- true
		deadline := time.Now().Add(5 * time.Second)
		for got < (r+1)*per && time.Now().Before(deadline) {
			n, err := q.ReadBatchInPlace(frames, bufs, sizes, gso, head, tail)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				time.Sleep(time.Millisecond)
			}
			for i := 0; i < n; i++ {
				b := frames[i]
				f := b[head : head+sizes[i]]
				if sizes[i] == 0 || !match(f) {
					continue
				}
				if err := xlattest.Check(f[header.EthernetLen:], false); err != nil {
					t.Fatalf("datagram %d does not check: %v", got, err)
				}
				if seq := binary.BigEndian.Uint32(f[len(f)-4:]); seq != uint32(got) {
					t.Fatalf("datagram %d came as number %d", seq, got)
				}
				if &b[0] != &bufs[i][0] {
					inPlace++
				}
				clear(b[:head])
				clear(b[head+sizes[i] : head+sizes[i]+tail])
				got++
			}
		}
	}
	close(next)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	st, _ := l.port.Stats()
	t.Logf("stats: %+v", st)
	if got != rounds*per || inPlace != got {
		t.Fatalf("%d of %d datagrams came through, %d of them in place", got, rounds*per, inPlace)
	}
}

// TestQueuesSuperFrame sends one UDP GSO super-frame (UDP_SEGMENT) from
// the kernel: too big for a ring frame, it must come through the socket's
// queue and leave split into its 8 segments.
func TestQueuesSuperFrame(t *testing.T) {
	l, qs := queueLab(t, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = l.a.Do(func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			if err := unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, 1000); err != nil {
				return err
			}
			return unix.Sendto(fd, make([]byte, 8000), 0, &unix.SockaddrInet4{Port: 9997, Addr: [4]byte{192, 0, 2, 2}})
		})
	}()
	got, _ := collect(t, qs, 8, isUDPTo(9997))
	st, _ := l.port.Stats()
	t.Logf("stats: %+v", st)
	if len(got) != 8 {
		t.Fatalf("%d segments, want 8", len(got))
	}
	for _, f := range got {
		if len(f) != header.EthernetLen+20+8+1000 {
			t.Fatalf("segment of %d bytes", len(f))
		}
		if err := xlattest.Check(f[header.EthernetLen:], false); err != nil {
			t.Fatalf("segment does not check: %v", err)
		}
	}
	if st.SuperFrames == 0 {
		t.Log("the kernel segmented before the port (no UDP GSO through veth here)")
	}
}

// TestQueuesWrite sends an echo request with a queue's own socket; the
// kernel's answer comes back through the queue.
func TestQueuesWrite(t *testing.T) {
	l, qs := queueLab(t, 1)
	ip := xlattest.IPv4("192.0.2.2", "192.0.2.1", layers.IPProtocolICMPv4)
	req := xlattest.Serialize(&layers.Ethernet{SrcMAC: l.mac, DstMAC: l.peerMAC, EthernetType: layers.EthernetTypeIPv4},
		ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 78, Seq: 1}, xlattest.Payload(32))
	if n, err := qs[0].WriteBatch([][]byte{req}, 0); n != 1 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got, _ := collect(t, qs, 1, func(f []byte) bool {
		return len(f) >= header.EthernetLen+28 && f[header.EthernetLen+9] == 1 && f[header.EthernetLen+20] == 0 && binary.BigEndian.Uint16(f[header.EthernetLen+24:]) == 78
	})
	if len(got) != 1 {
		t.Fatal("no echo reply")
	}
}

// TestQueuesClose: Close wakes a waiting Poller, and the queues then say
// net.ErrClosed.
func TestQueuesClose(t *testing.T) {
	l, qs := queueLab(t, 2)
	pl := newPoller(t, qs)
	done := make(chan error, 1)
	go func() {
		for {
			if err := pl.Wait(); err != nil {
				done <- err
				return
			}
			if _, err := qs[0].ReadBatch([][]byte{make([]byte, 2048)}, []int{0}, 0); err != nil {
				done <- err
				return
			}
		}
	}()
	closeAndExpect(t, l.port, done, "Poller.Wait")
}

// TestPollerWaitFor: WaitFor times out on empty queues, and reports a
// frame that arrives while it waits.
func TestPollerWaitFor(t *testing.T) {
	l, qs := queueLab(t, 2)
	pl := newPoller(t, qs)
	// The kernel may send the link's own frames (ND, MLD) at first; the
	// queues are drained until a wait times out.
	buf := [][]byte{make([]byte, 2048)}
	timedOut := false
	for i := 0; i < 50 && !timedOut; i++ {
		start := time.Now()
		ready, err := pl.WaitFor(20 * time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if !ready {
			if d := time.Since(start); d < 20*time.Millisecond {
				t.Fatalf("WaitFor(20ms) timed out after %v", d)
			}
			timedOut = true
		}
		for _, q := range qs {
			for n, _ := q.ReadBatch(buf, []int{0}, 0); n > 0; n, _ = q.ReadBatch(buf, []int{0}, 0) {
			}
		}
	}
	if !timedOut {
		t.Fatal("WaitFor never timed out on a quiet link")
	}
	go sendUDP(l, 42000, 1, 9996)
	start := time.Now()
	ready, err := pl.WaitFor(5 * time.Second)
	if err != nil || !ready {
		t.Fatalf("WaitFor = %v, %v with a datagram sent", ready, err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("WaitFor returned after %v", d)
	}
}

// TestPollerWaitHot: a hot wait on a quiet link keeps its deadline through
// sysmon's preemptions, lets garbage collections stop the world while it
// waits (each would take until the wait's end otherwise), and returns when
// a datagram comes.
func TestPollerWaitHot(t *testing.T) {
	l, qs := queueLab(t, 1)
	pl := newPoller(t, qs)
	drain := func() {
		buf := [][]byte{make([]byte, 2048)}
		for n, _ := qs[0].ReadBatch(buf, []int{0}, 0); n > 0; n, _ = qs[0].ReadBatch(buf, []int{0}, 0) {
		}
	}
	type result struct {
		ready bool
		err   error
		took  time.Duration
	}
	hot := func(d time.Duration) <-chan result {
		c := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // as the workers do
			defer runtime.UnlockOSThread()
			start := time.Now()
			ready, err := pl.WaitHot(d)
			c <- result{ready, err, time.Since(start)}
		}()
		return c
	}
	// The kernel may send the link's own frames (ND, MLD) at first.
	var r result
	for i := 0; i < 50; i++ {
		drain()
		if r = <-hot(50 * time.Millisecond); !r.ready {
			break
		}
	}
	if r.err != nil || r.ready || r.took < 50*time.Millisecond || r.took > time.Second {
		t.Fatalf("WaitHot(50ms) on a quiet link: %+v", r)
	}
	// Hot waits of 3 s, one after another for 3 s (the kernel's frames
	// may end one early), while the test collects garbage.
	waiting := make(chan struct{})
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		close(waiting)
		var r result
		for start := time.Now(); time.Since(start) < 3*time.Second && r.err == nil; r.took = time.Since(start) {
			drain()
			r.ready, r.err = pl.WaitHot(3*time.Second - time.Since(start))
		}
		c <- r
	}()
	<-waiting
	time.Sleep(20 * time.Millisecond)
	for i := range 5 {
		start := time.Now()
		runtime.GC()
		if d := time.Since(start); d > time.Second {
			t.Fatalf("garbage collection %d took %v during a hot wait", i, d)
		}
	}
	if r = <-c; r.err != nil || r.took > 4*time.Second {
		t.Fatalf("hot waits for 3 s, through 5 collections: %+v", r)
	}
	drain()
	c5 := hot(5 * time.Second)
	go sendUDP(l, 42100, 1, 9996)
	if r = <-c5; r.err != nil || !r.ready || r.took > 4*time.Second {
		t.Fatalf("WaitHot(5s) with a datagram sent: %+v", r)
	}
}

// TestTimeoutMillis: WaitFor's timeout rounds up to whole milliseconds,
// and a deadline already past only looks, rather than waiting for ever as
// a negative timeout would make epoll_wait do.
func TestTimeoutMillis(t *testing.T) {
	for d, want := range map[time.Duration]int{
		-time.Second: 0, -time.Nanosecond: 0, 0: 0, time.Nanosecond: 1,
		time.Millisecond: 1, time.Millisecond + 1: 2, 50 * time.Millisecond: 50,
	} {
		if got := wire.TimeoutMillis(d); got != want {
			t.Errorf("timeoutMillis(%v) = %d, want %d", d, got, want)
		}
	}
}

// TestQueuesWriteSuperFrame sends one TCP super-frame whole with
// WriteBatchGSO from a port whose transmit checksum offload is off: the
// kernel must segment it and finish each segment's checksum, which needs
// PACKET_QDISC_BYPASS turned off first. The peer sees 7 segments of at
// most 1000 bytes of payload, in order, each checking.
func TestQueuesWriteSuperFrame(t *testing.T) {
	l := newLab(t, wire.PacketOptions{})
	var qs []*wire.Queue
	if err := l.b.Do(func() (err error) {
		if err := wire.SetOffloads("port", false, wire.OffloadTxCsum); err != nil {
			return err
		}
		qs, err = l.port.OpenQueues(wire.QueueOptions{Queues: 1, Frames: 256, QdiscBypass: true, PassGSO: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.port.Close(); l.port.ReleaseQueues() })
	peer := l.peerPort(t)

	ip := xlattest.IPv4("192.0.2.2", "192.0.2.1", layers.IPProtocolTCP)
	tcp := xlattest.TCP(4000, 9996, ip)
	tcp.Seq, tcp.ACK, tcp.PSH = 5000, true, true
	frame := xlattest.Serialize(&layers.Ethernet{SrcMAC: l.mac, DstMAC: l.peerMAC, EthernetType: layers.EthernetTypeIPv4},
		ip, tcp, xlattest.Payload(7000))
	binary.BigEndian.PutUint16(frame[header.EthernetLen+20+16:], 0x1234) // whatever is there is replaced
	if n, err := qs[0].WriteBatchGSO([][]byte{frame}, []wire.GSO{{Size: 1000}}); n != 1 || err != nil {
		t.Fatalf("WriteBatchGSO = %d, %v", n, err)
	}
	// The peer's reads block: a timer closes the port if the segments
	// do not come.
	stop := time.AfterFunc(5*time.Second, func() { peer.Close() })
	defer stop.Stop()
	bufs := [][]byte{make([]byte, 70000)}
	sizes := make([]int, 1)
	var segs [][]byte
	for len(segs) < 7 {
		n, err := peer.ReadBatch(bufs, sizes, 0)
		if err != nil {
			break
		}
		if f := bufs[0][:sizes[0]]; n == 1 && len(f) > header.EthernetLen+40 && f[header.EthernetLen+9] == 6 && binary.BigEndian.Uint16(f[header.EthernetLen+22:]) == 9996 {
			segs = append(segs, append([]byte(nil), f...))
		}
	}
	st, _ := l.port.Stats()
	t.Logf("stats: %+v", st)
	if len(segs) != 7 {
		t.Fatalf("%d segments, want 7", len(segs))
	}
	for i, f := range segs {
		if err := xlattest.Check(f[header.EthernetLen:], false); err != nil {
			t.Fatalf("segment %d does not check: %v", i, err)
		}
		if seq := binary.BigEndian.Uint32(f[header.EthernetLen+24:]); len(f) != header.EthernetLen+40+1000 || seq != 5000+uint32(1000*i) {
			t.Fatalf("segment %d: %d bytes, seq %d", i, len(f), seq)
		}
	}
	if st.SuperFramesSent != 1 || st.QdiscBypassOff != 1 || st.TxErrors != 0 {
		t.Errorf("sent %d whole, bypass left %d times, %d send errors; want 1, 1, 0", st.SuperFramesSent, st.QdiscBypassOff, st.TxErrors)
	}
}

// TestQueuesSpread injects frames of every kind the fanout program tells
// apart (TCP, UDP and ICMP over IPv4 and IPv6, an IPv4 fragment, an IPv6
// packet with an extension header, ARP) into a port with 3 queues spread
// by PortSpread: each frame must come out of the queue the program's Go
// model picks; by the model, the two directions of a translated TCP flow
// must go to different queues, an echo request and its reply to the same.
func TestQueuesSpread(t *testing.T) {
	const n = 3
	spread := wire.PortSpread{Key: 0x9e3779b1, Offset: 1}
	l, qs := queueLabOpts(t, wire.QueueOptions{Queues: n, Frames: 256, Spread: &spread})
	inj := l.peerPort(t)
	eth := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: l.peerMAC, DstMAC: l.mac, EthernetType: typ}
	}
	var frames [][]byte
	for p := uint16(40000); p < 40024; p++ {
		ip4 := xlattest.IPv4("192.0.2.1", "198.51.100.7", layers.IPProtocolUDP)
		frames = append(frames, xlattest.Serialize(eth(layers.EthernetTypeIPv4), ip4, xlattest.UDP(p, 53, ip4), xlattest.Payload(int(p%7))))
		t4 := xlattest.IPv4("192.0.2.1", "198.51.100.7", layers.IPProtocolTCP)
		frames = append(frames, xlattest.Serialize(eth(layers.EthernetTypeIPv4), t4, xlattest.TCP(443, p, t4), xlattest.Payload(1)))
		ip6 := xlattest.IPv6("2001:db8:6::2", "64:ff9b::c633:6407", layers.IPProtocolUDP)
		frames = append(frames, xlattest.Serialize(eth(layers.EthernetTypeIPv6), ip6, xlattest.UDP(53, p, ip6), xlattest.Payload(2)))
		t6 := xlattest.IPv6("2001:db8:6::2", "64:ff9b::c633:6407", layers.IPProtocolTCP)
		frames = append(frames, xlattest.Serialize(eth(layers.EthernetTypeIPv6), t6, xlattest.TCP(p, 80, t6), xlattest.Payload(3)))
		e4 := xlattest.IPv4("192.0.2.1", "198.51.100.7", layers.IPProtocolICMPv4)
		frames = append(frames, xlattest.Serialize(eth(layers.EthernetTypeIPv4), e4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: p, Seq: 1}, xlattest.Payload(4)))
		e6 := xlattest.IPv6("2001:db8:6::2", "64:ff9b::c633:6407", layers.IPProtocolICMPv6)
		frames = append(frames, xlattest.Serialize(eth(layers.EthernetTypeIPv6), e6, xlattest.ICMPv6(128, 0, e6), &layers.ICMPv6Echo{Identifier: p, SeqNumber: 1}, xlattest.Payload(4)))
		f4 := xlattest.IPv4("192.0.2.1", "198.51.100.7", layers.IPProtocolUDP)
		f4.Flags, f4.FragOffset, f4.SrcIP = layers.IPv4MoreFragments, 0, xlattest.IP("192.0.2."+itoa(int(p-39990)))
		frames = append(frames, xlattest.Serialize(eth(layers.EthernetTypeIPv4), f4, xlattest.UDP(p, 53, f4), xlattest.Payload(24)))
		x6 := xlattest.IPv6("2001:db8:6::"+itoa(int(p-39990)), "64:ff9b::c633:6407", layers.IPProtocolIPv6HopByHop)
		hbh := &layers.IPv6HopByHop{}
		hbh.NextHeader = layers.IPProtocolUDP
		hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionData: make([]byte, 4)}}
		frames = append(frames, xlattest.Serialize(eth(layers.EthernetTypeIPv6), x6, hbh, xlattest.UDP(p, 53, x6), xlattest.Payload(5)))
	}
	frames = append(frames, xlattest.Serialize(eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: l.peerMAC, SourceProtAddress: []byte{192, 0, 2, 1},
		DstHwAddress: make([]byte, 6), DstProtAddress: []byte{192, 0, 2, 2}}))
	per := checkQueues(t, qs, frames, func() { writeAll(inj, frames) }, func(f []byte) int { return spread.Queue(f, n, -1) })
	for qi, c := range per {
		if c == 0 {
			t.Errorf("queue %d got nothing", qi)
		}
	}

	// Both directions of a translated flow: an IPv6 frame from port p to
	// 80 and its IPv4 reply from 80 to p give the same sum, so the other
	// port's Offset decides.
	a := xlattest.IPv6("2001:db8:6::2", "64:ff9b::c633:6407", layers.IPProtocolTCP)
	b := xlattest.IPv4("198.51.100.7", "192.0.2.6", layers.IPProtocolTCP)
	for p := uint16(1024); p < 1100; p++ {
		f6 := xlattest.Serialize(eth(layers.EthernetTypeIPv6), a, xlattest.TCP(p, 80, a))
		f4 := xlattest.Serialize(eth(layers.EthernetTypeIPv4), b, xlattest.TCP(80, p, b))
		q6 := wire.PortSpread{Key: spread.Key, Offset: 0}.Queue(f6, 2, -1)
		q4 := wire.PortSpread{Key: spread.Key, Offset: 1}.Queue(f4, 2, -1)
		if q6 == q4 {
			t.Fatalf("port %d: both directions on queue %d", p, q6)
		}
		// An echo request and its translated reply share a queue.
		ea := xlattest.IPv6("2001:db8:6::2", "64:ff9b::c633:6407", layers.IPProtocolICMPv6)
		e6 := xlattest.Serialize(eth(layers.EthernetTypeIPv6), ea, xlattest.ICMPv6(128, 0, ea), &layers.ICMPv6Echo{Identifier: p, SeqNumber: 1})
		e4 := xlattest.Serialize(eth(layers.EthernetTypeIPv4), xlattest.IPv4("198.51.100.7", "192.0.2.6", layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: p, Seq: 1})
		if q6, q4 := (wire.PortSpread{Key: spread.Key, Offset: 0}).Queue(e6, 2, -1), (wire.PortSpread{Key: spread.Key, Offset: 1}).Queue(e4, 2, -1); q6 != q4 {
			t.Fatalf("echo id %d: request on queue %d, reply on %d", p, q6, q4)
		}
	}
}

// writeAll sends frames on p, 16 at a time.
func writeAll(p *wire.PacketPort, frames [][]byte) {
	for i := 0; i < len(frames); i += 16 {
		_, _ = p.WriteBatch(frames[i:min(i+16, len(frames))], 0)
	}
}

// checkQueues reads qs until every frame of frames (which must differ) has
// come out, after send has been called on a goroutine of its own, and fails
// the test for each frame that comes out of another queue than want says,
// or at all if want says -1 (a frame the filter must drop). It returns how
// many of frames each queue gave.
func checkQueues(t *testing.T, qs []*wire.Queue, frames [][]byte, send func(), want func([]byte) int) []int {
	t.Helper()
	wants := map[string]int{}
	expect := 0
	for _, f := range frames {
		w := want(f)
		wants[string(f)] = w
		if w >= 0 {
			expect++
		}
	}
	if len(wants) != len(frames) {
		t.Fatalf("%d distinct frames of %d", len(wants), len(frames))
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		send()
	}()
	per := collectEach(t, qs, expect, func(qi int, f []byte) bool {
		w, ok := wants[string(f)]
		if !ok {
			return false // the kernel's own traffic
		}
		if w < 0 {
			t.Errorf("frame %x came out of queue %d, but should not come at all", f[:min(len(f), 60)], qi)
			return false
		}
		if w != qi {
			t.Errorf("frame %x came out of queue %d, the model says %d", f[:min(len(f), 60)], qi, w)
		}
		return true
	})
	seen := 0
	for _, c := range per {
		seen += c
	}
	if seen < expect {
		t.Fatalf("%d of %d frames came through", seen, expect)
	}
	t.Logf("frames per queue: %v", per)
	return per
}

// TestQueuesSpreadByCPU: with the workers' CPUs given, ICMP goes to the
// queue whose worker is on the CPU that received it (on veth, the
// sender's), and TCP and UDP still go by their ports. The queues' CPUs
// are given crosswise, so that queue numbers equal to CPU numbers would
// fail.
func TestQueuesSpreadByCPU(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	var cpus []int
	for c := 0; c < 1024 && len(cpus) < 2; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		t.Skip("needs two CPUs to send from")
	}
	spread := wire.PortSpread{Key: 0x9e3779b1, Offset: 1, CPUs: []int{cpus[1], cpus[0]}}
	l, qs := queueLabOpts(t, wire.QueueOptions{Queues: 2, Frames: 256, Spread: &spread})
	inj := l.peerPort(t)
	eth := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: l.peerMAC, DstMAC: l.mac, EthernetType: typ}
	}
	byCPU := map[int][][]byte{}
	cpuOf := map[string]int{}
	for _, c := range cpus {
		for id := uint16(0); id < 16; id++ {
			id := id + uint16(c)*100
			e4 := xlattest.IPv4("192.0.2.1", "198.51.100.7", layers.IPProtocolICMPv4)
			e6 := xlattest.IPv6("2001:db8:6::2", "64:ff9b::c633:6407", layers.IPProtocolICMPv6)
			u4 := xlattest.IPv4("192.0.2.1", "198.51.100.7", layers.IPProtocolUDP)
			byCPU[c] = append(byCPU[c],
				xlattest.Serialize(eth(layers.EthernetTypeIPv4), e4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: id, Seq: 1}),
				xlattest.Serialize(eth(layers.EthernetTypeIPv6), e6, xlattest.ICMPv6(128, 0, e6), &layers.ICMPv6Echo{Identifier: id, SeqNumber: 1}),
				xlattest.Serialize(eth(layers.EthernetTypeIPv4), u4, xlattest.UDP(40000+id, 53, u4)))
		}
		for _, f := range byCPU[c] {
			cpuOf[string(f)] = c
		}
	}
	var frames [][]byte
	for _, c := range cpus {
		frames = append(frames, byCPU[c]...)
	}
	send := func() {
		for _, c := range cpus {
			done := make(chan struct{})
			go func() {
				// The thread ends with the goroutine, pinned as it is.
				runtime.LockOSThread()
				defer close(done)
				var one unix.CPUSet
				one.Set(c)
				if err := unix.SchedSetaffinity(0, &one); err != nil {
					t.Error(err)
					return
				}
				writeAll(inj, byCPU[c])
			}()
			<-done
		}
	}
	per := checkQueues(t, qs, frames, send, func(f []byte) int { return spread.Queue(f, 2, cpuOf[string(f)]) })
	if per[0] < 32 || per[1] < 32 {
		t.Errorf("frames per queue %v: each queue should have had at least the 32 echoes sent from its CPU", per)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestQueuesSpreadFallback: when the kernel refuses the fanout program, as
// one without PACKET_FANOUT_CBPF would, the queues open with the flow hash,
// say why, and receive.
func TestQueuesSpreadFallback(t *testing.T) {
	wire.RefuseFanoutData(t.Cleanup)
	l, qs := queueLabOpts(t, wire.QueueOptions{Queues: 2, Frames: 256, Spread: &wire.PortSpread{Key: 1, Offset: 1}})
	if err := l.port.SpreadError(); err == nil {
		t.Fatal("SpreadError is nil, although the program was refused")
	} else {
		t.Logf("SpreadError: %v", err)
	}
	go sendUDP(l, 41000, 16, 9997)
	if got, per := collect(t, qs, 16, isUDPTo(9997)); len(got) < 16 {
		t.Fatalf("%d of 16 datagrams came through (per queue %v)", len(got), per)
	}
}
