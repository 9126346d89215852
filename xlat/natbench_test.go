package xlat_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nat64br/nat64br/xlat"
)

// natBenchOptions: a /20 of pool4, enough ports for any b.N of new flows.
func natBenchOptions() xlat.Options {
	o := natOptions("203.0.112.0/20")
	o.IPv4Addr = netip.Addr{}
	return o
}

// setFlow writes host number i and port p into the IPv6 UDP or TCP packet
// pkt (source address and port) and fixes the transport checksum.
func setFlow(pkt []byte, i uint32, p uint16) {
	old := binary.BigEndian.Uint32(pkt[20:24])
	oldPort := binary.BigEndian.Uint16(pkt[40:42])
	binary.BigEndian.PutUint32(pkt[20:24], i)
	binary.BigEndian.PutUint16(pkt[40:42], p)
	csAt := 40 + 6 // UDP
	if pkt[6] == 6 {
		csAt = 40 + 16
	}
	s := uint32(^binary.BigEndian.Uint16(pkt[csAt:]))
	s += uint32(^uint16(old>>16)) + uint32(^uint16(old)) + uint32(^oldPort)
	s += i>>16 + i&0xffff + uint32(p)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	cs := ^uint16(s)
	if cs == 0 && pkt[6] == 17 {
		cs = 0xffff // UDP: zero means no checksum
	}
	binary.BigEndian.PutUint16(pkt[csAt:], cs)
}

// BenchmarkNAT measures stateful NAT64 per packet: the first packet of a
// flow (a BIB entry and a session created), and packets of an established
// flow in each direction. It reports the table memory per session.
func BenchmarkNAT(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	b.Run("NewFlow/6to4", func(b *testing.B) {
		tr, err := xlat.New(natBenchOptions())
		if err != nil {
			b.Fatal(err)
		}
		pkt := udp6(cli, 1, srv6, 53)
		buf := make([]byte, xlat.Headroom+len(pkt)+xlat.Tailroom)
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		i := uint32(0)
		for b.Loop() {
			i++
			setFlow(pkt, i>>12, uint16(1024+i&0xfff))
			copy(buf[xlat.Headroom:], pkt)
			if v := tr.Translate(buf, xlat.Headroom, len(pkt), xlat.Side6, now); v.Action() != xlat.Forward {
				b.Fatalf("flow %d: %v %v", i, v.Action(), v.Reason())
			}
		}
		st := tr.NATStats()
		b.ReportMetric(float64(st.TableBytes)/float64(max(1, st.Sessions)), "table-B/session")
	})
	for _, d := range []struct {
		name string
		side xlat.Side
		pkt  func(pub netip.AddrPort) []byte
	}{
		{"Established/UDP/6to4", xlat.Side6, func(netip.AddrPort) []byte { return udp6(cli, 5000, srv6, 53) }},
		{"Established/UDP/4to6", xlat.Side4, func(p netip.AddrPort) []byte { return udp4(srv4, 53, p.Addr().String(), p.Port()) }},
		{"Established/TCP/6to4", xlat.Side6, func(netip.AddrPort) []byte { return tcp6(cli, 5000, srv6, 80, "A") }},
		{"Established/TCP/4to6", xlat.Side4, func(p netip.AddrPort) []byte { return tcp4(srv4, 80, p.Addr().String(), p.Port(), "A") }},
	} {
		b.Run(d.name, func(b *testing.B) {
			r := newRig(b, natBenchOptions())
			r.send(xlat.Side6, udp6(cli, 5000, srv6, 53))
			_, out := r.send(xlat.Side6, tcp6(cli, 5000, srv6, 80, "S"))
			r.send(xlat.Side4, tcp4(srv4, 80, netip.AddrFrom4([4]byte(out[12:16])).String(), 5000, "SA"))
			pub, _ := ends(b, out)
			pkt := d.pkt(pub)
			buf := make([]byte, xlat.Headroom+len(pkt)+xlat.Tailroom)
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			for b.Loop() {
				if v := translateOnce(r.tr, buf, pkt, d.side, r.now); v.Action() != xlat.Forward {
					b.Fatalf("%v %v", v.Action(), v.Reason())
				}
			}
		})
	}
}

// BenchmarkNATSweep measures the expiry sweep over 100,000 sessions, per
// session: when none has expired (the sweep of every second) and when all
// have.
func BenchmarkNATSweep(b *testing.B) {
	const n = 100_000
	now := time.Unix(1_700_000_000, 0)
	fill := func(b *testing.B) *xlat.Translator { return natFilled(b, n, now) }
	b.Run("Idle", func(b *testing.B) {
		tr := fill(b)
		b.ReportAllocs()
		for b.Loop() {
			tr.Sweep(now)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/session")
	})
	b.Run("AllExpired", func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			b.StopTimer()
			tr := fill(b)
			b.StartTimer()
			start := time.Now()
			if got := tr.Sweep(now.Add(time.Hour)); got != n {
				b.Fatalf("swept %d", got)
			}
			total += time.Since(start)
		}
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/n, "ns/session")
	})
}

// natFilled returns a translator of natBenchOptions with n UDP sessions,
// each with its own BIB entry: 1024 ports of each host.
func natFilled(b *testing.B, n uint32, now time.Time) *xlat.Translator {
	tr, err := xlat.New(natBenchOptions())
	if err != nil {
		b.Fatal(err)
	}
	pkt := udp6(cli, 1, srv6, 53)
	buf := make([]byte, xlat.Headroom+len(pkt)+xlat.Tailroom)
	for i := uint32(0); i < n; i++ {
		setFlow(pkt, i>>10, uint16(1024+i&0x3ff))
		copy(buf[xlat.Headroom:], pkt)
		tr.Translate(buf, xlat.Headroom, len(pkt), xlat.Side6, now)
	}
	return tr
}

// TestNATNoAllocs requires the packets of established flows, and the
// creation of flows once the tables have grown, to allocate nothing.
func TestNATNoAllocs(t *testing.T) {
	r := newRig(t, natBenchOptions())
	_, out := r.send(xlat.Side6, udp6(cli, 5000, srv6, 53))
	pub, _ := ends(t, out)
	for _, c := range []struct {
		name string
		side xlat.Side
		pkt  []byte
	}{
		{"UDP/6to4", xlat.Side6, udp6(cli, 5000, srv6, 53)},
		{"UDP/4to6", xlat.Side4, udp4(srv4, 53, pub.Addr().String(), pub.Port())},
		{"NoBIB/4to4", xlat.Side4, udp4(srv4, 53, pub.Addr().String(), pub.Port()+1)},
	} {
		buf := make([]byte, xlat.Headroom+len(c.pkt)+xlat.Tailroom)
		if a := testing.AllocsPerRun(100, func() {
			r.now = r.now.Add(time.Millisecond)
			translateOnce(r.tr, buf, c.pkt, c.side, r.now)
		}); a != 0 {
			t.Errorf("%s: %v allocations per packet", c.name, a)
		}
	}
	// New flows: once the slabs and buckets have grown, creating and
	// expiring flows reuses their memory.
	pkt := udp6(cli, 1, srv6, 53)
	buf := make([]byte, xlat.Headroom+len(pkt)+xlat.Tailroom)
	flow := func(i uint32) {
		setFlow(pkt, i>>8, uint16(1024+i&0xff))
		copy(buf[xlat.Headroom:], pkt)
		if v := r.tr.Translate(buf, xlat.Headroom, len(pkt), xlat.Side6, r.now); v.Action() != xlat.Forward {
			t.Fatalf("flow %d: %v %v", i, v.Action(), v.Reason())
		}
	}
	for i := range uint32(20000) {
		flow(i)
	}
	r.now = r.now.Add(time.Hour)
	r.tr.Sweep(r.now)
	i := uint32(0)
	if a := testing.AllocsPerRun(1000, func() { i++; flow(i) }); a != 0 {
		t.Errorf("new flow: %v allocations", a)
	}
}

// BenchmarkNATState measures the state file of 10,000 and 1,000,000 UDP
// sessions, each with its own BIB entry (the common case): writing it
// (SaveNAT, to memory) and reading it into new tables (New and LoadNAT).
// It reports the file's size, and per session. Sessions with a BIB entry
// of their own are the worst case for the size: 42 bytes each.
func BenchmarkNATState(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	for _, n := range []uint32{10_000, 1_000_000} {
		if n > 10_000 && testing.Short() {
			continue
		}
		tr := natFilled(b, n, now)
		var file bytes.Buffer
		if st, err := tr.SaveNAT(&file, now); err != nil || st.Sessions != int(n) {
			b.Fatalf("saved %d sessions: %v", st.Sessions, err)
		}
		name := fmt.Sprint(n)
		b.Run("Save/"+name, func(b *testing.B) {
			b.SetBytes(int64(file.Len()))
			var w bytes.Buffer
			for b.Loop() {
				w.Reset()
				if _, err := tr.SaveNAT(&w, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(file.Len()), "file-B")
			b.ReportMetric(float64(file.Len())/float64(n), "B/session")
		})
		b.Run("Load/"+name, func(b *testing.B) {
			b.SetBytes(int64(file.Len()))
			for b.Loop() {
				next, err := xlat.New(natBenchOptions())
				if err != nil {
					b.Fatal(err)
				}
				if st, err := next.LoadNAT(file.Bytes(), now.Add(time.Second), nil); err != nil || st.Sessions != int(n) {
					b.Fatalf("loaded %d sessions: %v", st.Sessions, err)
				}
			}
		})
	}
}
