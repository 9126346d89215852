package xlat

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

func TestTCPStep(t *testing.T) {
	const (
		v6, v4 = true, false
		S, F   = tcpSYN, tcpFIN
		R, A   = tcpRST, tcpFlags(0)
	)
	for _, tc := range []struct {
		from  TCPState
		from6 bool
		f     tcpFlags
		to    TCPState
		life  lifetime
	}{
		{TCPV6Init, v4, S, TCPEstablished, lifeEst},
		{TCPV6Init, v6, S, TCPV6Init, lifeTrans},
		{TCPV6Init, v4, A, TCPV6Init, lifeKeep},
		{TCPV6Init, v6, R, TCPV6Init, lifeKeep},
		{TCPV4Init, v6, S, TCPEstablished, lifeEst},
		{TCPV4Init, v4, S, TCPV4Init, lifeKeep},
		{TCPEstablished, v6, A, TCPEstablished, lifeEst},
		{TCPEstablished, v4, F, TCPV4FinRcv, lifeEst},
		{TCPEstablished, v6, F, TCPV6FinRcv, lifeEst},
		{TCPEstablished, v4, R, TCPTrans, lifeTrans},
		{TCPEstablished, v6, R | F, TCPTrans, lifeTrans},
		{TCPV4FinRcv, v6, F, TCPV4V6FinRcv, lifeTrans},
		{TCPV4FinRcv, v4, F, TCPV4FinRcv, lifeEst},
		{TCPV6FinRcv, v4, F, TCPV4V6FinRcv, lifeTrans},
		{TCPV6FinRcv, v6, A, TCPV6FinRcv, lifeEst},
		{TCPV4V6FinRcv, v6, A, TCPV4V6FinRcv, lifeKeep},
		{TCPTrans, v4, A, TCPEstablished, lifeEst},
		{TCPTrans, v6, R, TCPTrans, lifeKeep},
	} {
		to, life := tcpStep(tc.from, tc.from6, tc.f)
		if to != tc.to || life != tc.life {
			t.Errorf("%v from6=%v flags=%b: %v/%d, want %v/%d", tc.from, tc.from6, tc.f, to, life, tc.to, tc.life)
		}
	}
}

func TestPortSetTake(t *testing.T) {
	r := PortRange{Lo: 1000, Hi: 1100}
	p := pool4{addrs: []uint32{1}, ranges: [natProtos]PortRange{r, r, r}, sets: make([]portSet, natProtos)}
	s := p.set(0, natUDP)
	if p, ok := s.take(r, 1050, 7); !ok || p != 1050 {
		t.Fatalf("free port 1050 became %d", p)
	}
	for i := range 10 {
		p, ok := s.take(r, 1050, uint64(i))
		if !ok || p%2 != 0 || p < 1000 || p > 1100 {
			t.Fatalf("taken port %d: wrong parity or range", p)
		}
	}
	// Range classes (RFC 6146 §3.5.1.1): a port below 1024 gets one below
	// 1024 while there is one.
	if p, _ := s.take(r, 80, 3); p >= 1024 || p%2 != 0 {
		t.Fatalf("port 80 became %d", p)
	}
	// Exhaustion, then release.
	n := s.free
	for range n {
		if _, ok := s.take(r, 1, 5); !ok {
			t.Fatal("ran out early")
		}
	}
	if _, ok := s.take(r, 1, 5); ok {
		t.Fatal("took a port from a full set")
	}
	p.release(natUDP, 1, 1077)
	if got, ok := p.set(0, natUDP).take(r, 1077, 0); !ok || got != 1077 {
		t.Fatalf("released port came back as %d", got)
	}
}

func TestSlabLocate(t *testing.T) {
	var s slab[uint32]
	seen := map[[2]uint32]bool{}
	for range 5000 {
		i := s.grow()
		k, off := locate(i)
		if seen[[2]uint32{k, off}] || off >= 16<<k {
			t.Fatalf("index %d at chunk %d offset %d", i, k, off)
		}
		seen[[2]uint32{k, off}] = true
		*s.at(i) = i
	}
	for i := uint32(1); i <= 5000; i++ {
		if *s.at(i) != i {
			t.Fatalf("entry %d holds %d", i, *s.at(i))
		}
	}
}

// TestMillionSessions holds 1,000,000 UDP sessions, each with its own BIB
// entry (a client port talking to one server, the common case), and
// reports the heap they take.
func TestMillionSessions(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("1,000,000 sessions take 40 s under the race detector; make test runs this test without it")
	}
	const n = 1_000_000
	pool, err := newPool4([]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, [natProtos]PortRange{})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	nt := newNATTable(pool, natLimits{}, 10, nil)
	to := &natTimeouts{tcpEst: 7440, tcpTrans: 240}
	to.proto[natUDP], to.proto[natICMP] = 300, 60
	now := uint32(1000)
	for i := range n {
		x := u128{0x20010db8_00010000, uint64(i / 100)}
		if _, _, res := nt.out6(natUDP, x, uint16(10000+i%100), 0xcb007105, 53, 0, now, 0, to); res != natOK {
			t.Fatalf("session %d: %v", i, res)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d sessions (and BIB entries): %.0f bytes of heap each", nt.nsess.Load(), per)
	if nt.nsess.Load() != n || nt.nbib.Load() != n {
		t.Fatalf("%d sessions, %d BIB entries", nt.nsess.Load(), nt.nbib.Load())
	}
	if per > 200 {
		t.Errorf("%.0f bytes a session, goal under 200", per)
	}
	// Expire them all: the memory stays (slabs are reused) and the
	// sweep must leave the tables empty.
	start := time.Now()
	if got := nt.sweep(now+301, 0); got != n {
		t.Fatalf("sweep removed %d", got)
	}
	t.Logf("sweeping %d sessions took %v", n, time.Since(start))
	if nt.nsess.Load() != 0 || nt.nbib.Load() != 0 {
		t.Fatalf("left %d sessions, %d BIB entries", nt.nsess.Load(), nt.nbib.Load())
	}
	runtime.KeepAlive(nt)
}

// BenchmarkRebind measures what a reload that changes pool4 does with
// every natShard6 lock held: moving the ports of 1,000,000 bindings to
// the new pool. The data path waits that long for a new binding (or a
// packet of a flow in a shard).
func BenchmarkRebind(b *testing.B) {
	const n = 1_000_000
	nets := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
	pool, err := newPool4(nets, [natProtos]PortRange{})
	if err != nil {
		b.Fatal(err)
	}
	nt := newNATTable(pool, natLimits{}, 10, nil)
	to := &natTimeouts{tcpEst: 7440, tcpTrans: 240}
	to.proto[natUDP], to.proto[natICMP] = 300, 60
	for i := range n {
		x := u128{0x20010db8_00010000, uint64(i / 100)}
		if _, _, res := nt.out6(natUDP, x, uint16(10000+i%100), 0xcb007105, 53, 0, 1000, 0, to); res != natOK {
			b.Fatalf("session %d: %v", i, res)
		}
	}
	o := &Options{Prefix: netip.MustParsePrefix("64:ff9b::/96"), NAT: NATOptions{Pool4: append(nets, netip.MustParsePrefix("192.0.2.0/24"))}}
	f := newNATFilter(o, o.Prefix)
	for b.Loop() {
		b.StopTimer()
		p, err := newPool4(o.NAT.Pool4, [natProtos]PortRange{})
		if err != nil {
			b.Fatal(err)
		}
		next := newNATTable(p, natLimits{}, 10, nil)
		b.StartTimer()
		nt.lockAll()
		nt.rebind(next, f)
		nt.unlockAll()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/binding")
}

// TestSessionBytes measures the heap a NAT64 session takes in the worst
// case a flood of spoofed sources makes: every session has its own BIB
// entry, host and /64 (so its own host and /64 counters), and the table
// stops just past the size where the slabs add a chunk and the bucket
// arrays double. SessionBytes, which sizes limits.sessions to the memory
// nat64br may use, must cover it.
func TestSessionBytes(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("fills tables of 140,000 sessions; make test runs this test without the race detector")
	}
	pool, err := newPool4([]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, [natProtos]PortRange{})
	if err != nil {
		t.Fatal(err)
	}
	to := &natTimeouts{tcpEst: 7440, tcpTrans: 240}
	to.proto[natUDP], to.proto[natICMP] = 300, 60
	worst := 0.0
	// 256 shards of 496 entries fill the slabs' first five chunks, and of
	// 512 fill bucket arrays of 512: just above, both double.
	for _, n := range []int{125_000, 256 * 512, 135_000, 140_000} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		nt := newNATTable(pool, natLimits{perHost: 1 << 20, per64: 1 << 20}, 10, nil)
		for i := range n {
			x := u128{0x20010db8_00000000 | uint64(i), 1}
			if _, _, res := nt.out6(natUDP, x, 10000, 0xcb007105, 53, 0, 1000, 0, to); res != natOK {
				t.Fatalf("session %d: %v", i, res)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		t.Logf("%d sessions, each with its own BIB entry, host and /64: %.0f bytes of heap each", n, per)
		worst = max(worst, per)
		runtime.KeepAlive(nt)
	}
	if worst > SessionBytes {
		t.Errorf("%.0f bytes a session, above SessionBytes (%d)", worst, SessionBytes)
	}
}
