package xlat_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// dynOptions is TAYGA's documented setup: a /96 prefix, the translator at
// 192.0.2.1 and 198.51.100.0/29 handed out to IPv6 hosts.
func dynOptions() xlat.Options {
	return xlat.Options{
		Prefix:            netip.MustParsePrefix("64:ff9b::/96"),
		AllowNonGlobalWKP: true,
		IPv4Addr:          netip.MustParseAddr("198.51.100.1"),
		IPv6Addr:          netip.MustParseAddr("2001:db8:ff::1"),
		EAM:               []xlat.EAM{{V4: netip.MustParsePrefix("198.51.100.2/32"), V6: netip.MustParsePrefix("2001:db8:1::2/128")}},
		DynamicPool:       netip.MustParsePrefix("198.51.100.0/29"),
		LogMappings:       true,
		IDSeed:            1,
	}
}

func srcOf(t testing.TB, out []byte) netip.Addr {
	t.Helper()
	s, _ := ends(t, out)
	return s.Addr()
}

func TestDynamicPool(t *testing.T) {
	r := newRig(t, dynOptions())
	const server = "64:ff9b::cb00:7105"
	// TAYGA's first choice for 2001:db8::69 in a /24 is .80 (the
	// conformance case tayga/mapping-202); in this /29, .0 is the network,
	// .1 ipv4-addr and .2 an EAM entry: never handed out.
	got := map[netip.Addr]string{}
	for _, h := range []string{"2001:db8:1::a", "2001:db8:1::b", "2001:db8:1::c", "2001:db8:1::d", "2001:db8:1::e"} {
		v, out := r.send(xlat.Side6, udp6(h, 1000, server, 53))
		want(t, v, xlat.Forward, xlat.Side4)
		a := srcOf(t, out)
		if !netip.MustParsePrefix("198.51.100.0/29").Contains(a) || a.As4()[3] < 3 {
			t.Fatalf("%s got %v", h, a)
		}
		if other, dup := got[a]; dup {
			t.Fatalf("%v given to %s and %s", a, other, h)
		}
		got[a] = h
	}
	// The pool is full: a sixth host is refused with ICMPv6 1/3.
	v, out := r.send(xlat.Side6, udp6("2001:db8:1::f", 1000, server, 53))
	if v.Action() != xlat.Reply || v.Reason() != xlat.ReasonDynamicExhausted || out[40] != 1 || out[41] != 3 {
		t.Fatalf("exhausted pool: %v %v", v.Action(), v.Reason())
	}
	// Replies reach each host; the address stays its own.
	for a, h := range got {
		v, out := r.send(xlat.Side4, udp4("203.0.113.5", 53, a.String(), 1000))
		want(t, v, xlat.Forward, xlat.Side6)
		if _, dst := ends(t, out); dst.Addr() != netip.MustParseAddr(h) {
			t.Fatalf("reply to %v went to %v, want %s", a, dst.Addr(), h)
		}
	}
	// After the lease, mappings go dormant: IPv4 packets no longer reach
	// the hosts, but a returning host gets its address back, and a new
	// host takes the longest-dormant one.
	var ah netip.Addr
	for a, h := range got {
		if h == "2001:db8:1::a" {
			ah = a
		}
	}
	r.now = r.now.Add(xlat.DefaultDynamicLease + time.Second)
	r.tr.Sweep(r.now)
	v, _ = r.send(xlat.Side4, udp4("203.0.113.5", 53, ah.String(), 1000))
	if v.Reason() != xlat.ReasonNoDynamicMapping {
		t.Fatalf("packet to a dormant mapping: %v %v", v.Action(), v.Reason())
	}
	_, out = r.send(xlat.Side6, udp6("2001:db8:1::a", 1000, server, 53))
	if srcOf(t, out) != ah {
		t.Fatalf("returning host got %v, want %v back", srcOf(t, out), ah)
	}
	_, out = r.send(xlat.Side6, udp6("2001:db8:1::f", 1000, server, 53))
	if a := srcOf(t, out); a == ah || got[a] == "" {
		t.Fatalf("newcomer got %v", a)
	}
	// Hairpinning between two hosts of the pool.
	_, out = r.send(xlat.Side6, udp6("2001:db8:1::a", 7, "64:ff9b::"+ah.String(), 7))
	if _, dst := ends(t, out); dst.Addr() != netip.MustParseAddr("2001:db8:1::a") {
		t.Fatalf("hairpin to %v", dst)
	}
	ev := make([]xlat.BIBEvent, 64)
	n, lost := r.tr.MappingEvents(ev)
	if lost != 0 || n < 7 || ev[0].Kind != xlat.MappingCreated || ev[0].Proto() != "" {
		t.Fatalf("%d events (%d lost): %v", n, lost, ev[:n])
	}
}

func TestDynamicPoolTAYGAHash(t *testing.T) {
	o := dynOptions()
	o.DynamicPool = netip.MustParsePrefix("169.254.0.0/24")
	r := newRig(t, o)
	ip := xlattest.IPv6("2001:db8::69", "64:ff9b::c0a8:102", layers.IPProtocolUDP)
	_, out := r.send(xlat.Side6, xlattest.Serialize(ip, xlattest.UDP(1, 2, ip), xlattest.Payload(8)))
	if a := srcOf(t, out); a != netip.MustParseAddr("169.254.0.80") {
		t.Fatalf("2001:db8::69 got %v, TAYGA gives 169.254.0.80", a)
	}
}

func TestDynamicPoolRestore(t *testing.T) {
	r := newRig(t, dynOptions())
	for _, h := range []string{"2001:db8:1::a", "2001:db8:1::b"} {
		r.send(xlat.Side6, udp6(h, 1000, "64:ff9b::cb00:7105", 53))
	}
	saved, gen := r.tr.DynamicMappings()
	if len(saved) != 2 || gen != 2 {
		t.Fatalf("%d mappings, generation %d", len(saved), gen)
	}
	// A restart: the new translator gets the mappings back, skips what
	// cannot be valid, and the hosts keep their addresses.
	r2 := newRig(t, dynOptions())
	r2.now = r.now.Add(time.Minute)
	bad := append(saved, xlat.DynamicMapping{IPv4: netip.MustParseAddr("198.51.100.1"), IPv6: netip.MustParseAddr("2001:db8:1::99"), LastUse: r.now},
		xlat.DynamicMapping{IPv4: netip.MustParseAddr("192.0.2.9"), IPv6: netip.MustParseAddr("2001:db8:1::98"), LastUse: r.now})
	n, errs := r2.tr.RestoreDynamicMappings(bad, r2.now)
	if n != 2 || len(errs) != 2 {
		t.Fatalf("restored %d, errors %v", n, errs)
	}
	for _, m := range saved {
		v, out := r2.send(xlat.Side4, udp4("203.0.113.5", 53, m.IPv4.String(), 1000))
		want(t, v, xlat.Forward, xlat.Side6)
		if _, dst := ends(t, out); dst.Addr() != m.IPv6 {
			t.Fatalf("%v reached %v after restore, want %v", m.IPv4, dst.Addr(), m.IPv6)
		}
	}
}

// TestDynamicPoolLazy translates for hosts of seed 004's pool, the whole
// of 100.64.0.0/10 (4 M addresses): the pool costs memory for the hosts
// that use it, not for its size.
func TestDynamicPoolLazy(t *testing.T) {
	const hosts = 100
	o := dynOptions()
	o.Prefix = netip.MustParsePrefix("64:ff9b::/96")
	o.IPv4Addr = netip.MustParseAddr("100.64.0.1")
	o.EAM = nil
	o.DynamicPool = netip.MustParsePrefix("100.64.0.0/10")
	pkts := make([][]byte, hosts)
	for i := range pkts {
		pkts[i] = udp6(fmt.Sprintf("2001:db8:1::%x", i+1), 1000, "64:ff9b::cb00:7105", 53)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := newRig(t, o)
	seen := map[netip.Addr]bool{}
	for _, p := range pkts {
		v, out := r.send(xlat.Side6, p)
		want(t, v, xlat.Forward, xlat.Side4)
		a := srcOf(t, out)
		if !o.DynamicPool.Contains(a) || a == o.IPv4Addr || seen[a] {
			t.Fatalf("source %v: outside the pool, ipv4-addr or given twice", a)
		}
		seen[a] = true
	}
	r.now = r.now.Add(time.Minute)
	r.tr.Sweep(r.now)
	runtime.GC()
	runtime.ReadMemStats(&after)
	ms, _ := r.tr.DynamicMappings()
	runtime.KeepAlive(r)
	if len(ms) != hosts {
		t.Fatalf("%d mappings, want %d", len(ms), hosts)
	}
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("translator with a /10 dynamic pool and %d hosts: %d bytes of heap", hosts, heap)
	if heap > 1<<20 {
		t.Errorf("heap grew by %d bytes for %d hosts of a /10 pool, want < 1 MiB", heap, hosts)
	}

	// Packets of mapped hosts, both ways, allocate nothing.
	reply := udp4("203.0.113.5", 53, ms[0].IPv4.String(), 1000)
	for _, c := range []struct {
		side xlat.Side
		pkt  []byte
	}{{xlat.Side6, pkts[0]}, {xlat.Side4, reply}} {
		buf := make([]byte, xlat.Headroom+len(c.pkt)+xlat.Tailroom)
		if a := testing.AllocsPerRun(100, func() {
			copy(buf[xlat.Headroom:], c.pkt)
			if v := r.tr.Translate(buf, xlat.Headroom, len(c.pkt), c.side, r.now); v.Action() != xlat.Forward {
				t.Fatalf("from %v: %v %v", c.side, v.Action(), v.Reason())
			}
		}); a != 0 {
			t.Errorf("from %v: %v allocations per packet, want 0", c.side, a)
		}
	}
}
