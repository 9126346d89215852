package xlat_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// natOptions: IPv6 hosts in 2001:db8:1::/64 share 203.0.113.1 (and .2 if
// two addresses are asked for) to reach IPv4 servers at 64:ff9b::/96.
func natOptions(pool ...string) xlat.Options {
	if len(pool) == 0 {
		pool = []string{"203.0.113.1/32"}
	}
	o := xlat.Options{
		Mode:              xlat.ModeNAT64,
		Prefix:            netip.MustParsePrefix("64:ff9b::/96"),
		AllowNonGlobalWKP: true,
		IPv4Addr:          netip.MustParseAddr("203.0.113.1"),
		IPv6Addr:          netip.MustParseAddr("2001:db8:ff::1"),
		IDSeed:            1,
	}
	for _, p := range pool {
		o.NAT.Pool4 = append(o.NAT.Pool4, netip.MustParsePrefix(p))
	}
	return o
}

// natRig sends packets through one translator on a settable clock.
type natRig struct {
	t   testing.TB
	tr  *xlat.Translator
	now time.Time
}

func newRig(t testing.TB, o xlat.Options) *natRig {
	t.Helper()
	tr, err := xlat.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &natRig{t: t, tr: tr, now: time.Unix(1_700_000_000, 0)}
}

// send translates pkt from side and returns the verdict and a copy of the
// output, which must check (lengths, checksums).
func (r *natRig) send(from xlat.Side, pkt []byte) (xlat.Verdict, []byte) {
	r.t.Helper()
	buf := make([]byte, xlat.Headroom+len(pkt)+xlat.Tailroom)
	copy(buf[xlat.Headroom:], pkt)
	v := r.tr.Translate(buf, xlat.Headroom, len(pkt), from, r.now)
	if v.Action() == xlat.Drop {
		return v, nil
	}
	out := append([]byte(nil), buf[v.Off:v.Off+v.Len]...)
	if err := xlattest.Check(out, false); err != nil {
		r.t.Fatalf("%v output does not check: %v\n%x", v.Action(), err, out)
	}
	return v, out
}

func udp6(src string, sport uint16, dst string, dport uint16) []byte {
	ip := xlattest.IPv6(src, dst, layers.IPProtocolUDP)
	return xlattest.Serialize(ip, xlattest.UDP(sport, dport, ip), xlattest.Payload(20))
}

func udp4(src string, sport uint16, dst string, dport uint16) []byte {
	ip := xlattest.IPv4(src, dst, layers.IPProtocolUDP)
	return xlattest.Serialize(ip, xlattest.UDP(sport, dport, ip), xlattest.Payload(20))
}

func tcp6(src string, sport uint16, dst string, dport uint16, flags string) []byte {
	ip := xlattest.IPv6(src, dst, layers.IPProtocolTCP)
	return xlattest.Serialize(ip, tcpFlags(xlattest.TCP(sport, dport, ip), flags), xlattest.Payload(10))
}

func tcp4(src string, sport uint16, dst string, dport uint16, flags string) []byte {
	ip := xlattest.IPv4(src, dst, layers.IPProtocolTCP)
	return xlattest.Serialize(ip, tcpFlags(xlattest.TCP(sport, dport, ip), flags), xlattest.Payload(10))
}

func tcpFlags(t *layers.TCP, flags string) *layers.TCP {
	t.ACK = false
	for _, f := range flags {
		switch f {
		case 'S':
			t.SYN = true
		case 'A':
			t.ACK = true
		case 'F':
			t.FIN = true
		case 'R':
			t.RST = true
		}
	}
	return t
}

// ends decodes the transport endpoints of an output packet.
func ends(t testing.TB, pkt []byte) (src, dst netip.AddrPort) {
	t.Helper()
	first := layers.LayerTypeIPv4
	if pkt[0]>>4 == 6 {
		first = layers.LayerTypeIPv6
	}
	p := gopacket.NewPacket(pkt, first, gopacket.Default)
	var sa, da netip.Addr
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		sa, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		da, _ = netip.AddrFromSlice(ip.DstIP.To4())
	case *layers.IPv6:
		sa, _ = netip.AddrFromSlice(ip.SrcIP)
		da, _ = netip.AddrFromSlice(ip.DstIP)
	}
	var sp, dp uint16
	switch l := p.TransportLayer().(type) {
	case *layers.UDP:
		sp, dp = uint16(l.SrcPort), uint16(l.DstPort)
	case *layers.TCP:
		sp, dp = uint16(l.SrcPort), uint16(l.DstPort)
	}
	if e, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		sp, dp = e.Id, e.Id
	}
	if e, ok := p.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo); ok {
		sp, dp = e.Identifier, e.Identifier
	}
	return netip.AddrPortFrom(sa, sp), netip.AddrPortFrom(da, dp)
}

func want(t testing.TB, v xlat.Verdict, a xlat.Action, s xlat.Side) {
	t.Helper()
	if v.Action() != a || v.Side() != s {
		t.Fatalf("verdict %v to %v (reason %v), want %v to %v", v.Action(), v.Side(), v.Reason(), a, s)
	}
}

func wantDrop(t testing.TB, v xlat.Verdict, r xlat.Reason) {
	t.Helper()
	if v.Action() != xlat.Drop || v.Reason() != r {
		t.Fatalf("verdict %v (reason %v), want a drop for %v", v.Action(), v.Reason(), r)
	}
}

const (
	cli  = "2001:db8:1::10"
	cli2 = "2001:db8:1::20"
	srv4 = "198.51.100.7"
	srv6 = "64:ff9b::c633:6407" // 198.51.100.7
	pub  = "203.0.113.1"
)

func TestNATUDPMapping(t *testing.T) {
	r := newRig(t, natOptions())
	v, out := r.send(xlat.Side6, udp6(cli, 5000, srv6, 53))
	want(t, v, xlat.Forward, xlat.Side4)
	src, dst := ends(t, out)
	if src != netip.MustParseAddrPort(pub+":5000") || dst != netip.MustParseAddrPort(srv4+":53") {
		t.Fatalf("6to4: %v -> %v, want the source port kept on %s", src, dst, pub)
	}
	// The reply comes back to the IPv6 host.
	v, out = r.send(xlat.Side4, udp4(srv4, 53, pub, 5000))
	want(t, v, xlat.Forward, xlat.Side6)
	src, dst = ends(t, out)
	if src != netip.MustParseAddrPort("["+srv6+"]:53") || dst != netip.MustParseAddrPort("["+cli+"]:5000") {
		t.Fatalf("4to6: %v -> %v", src, dst)
	}
	// Endpoint-independent filtering: another IPv4 host may use the binding.
	v, _ = r.send(xlat.Side4, udp4("198.51.100.8", 4000, pub, 5000))
	want(t, v, xlat.Forward, xlat.Side6)
	// Endpoint-independent mapping: the same source to another server
	// keeps its IPv4 transport address.
	_, out = r.send(xlat.Side6, udp6(cli, 5000, "64:ff9b::c633:6409", 53))
	if src, _ := ends(t, out); src != netip.MustParseAddrPort(pub+":5000") {
		t.Fatalf("second session from %v, want the same binding", src)
	}
	// A port without a binding: ICMPv4 port unreachable from the pool4
	// address.
	v, out = r.send(xlat.Side4, udp4(srv4, 53, pub, 5001))
	want(t, v, xlat.Reply, xlat.Side4)
	if v.Reason() != xlat.ReasonNoBIB || out[20] != 3 || out[21] != 3 {
		t.Fatalf("no-BIB answer: reason %v, ICMP %d/%d", v.Reason(), out[20], out[21])
	}
	if s, _ := ends(t, out); s.Addr() != netip.MustParseAddr(pub) {
		t.Fatalf("error from %v, want %s", s.Addr(), pub)
	}
}

func TestNATAddressDependentFiltering(t *testing.T) {
	o := natOptions()
	o.NAT.AddressDependentFiltering = true
	r := newRig(t, o)
	r.send(xlat.Side6, udp6(cli, 5000, srv6, 53))
	v, _ := r.send(xlat.Side4, udp4(srv4, 999, pub, 5000)) // same address, other port: allowed
	want(t, v, xlat.Forward, xlat.Side6)
	v, _ = r.send(xlat.Side4, udp4("198.51.100.8", 53, pub, 5000))
	wantDrop(t, v, xlat.ReasonFiltered)
}

func TestNATTimeouts(t *testing.T) {
	o := natOptions()
	o.NAT.UDPTimeout = 3 * time.Minute
	o.LogMappings = true
	r := newRig(t, o)
	r.send(xlat.Side6, udp6(cli, 5000, srv6, 53))
	if st := r.tr.NATStats(); st.SessionsByProto != [3]int64{0, 1, 0} || st.BIBByProto != [3]int64{0, 1, 0} || xlat.NATProtocols[1] != "udp" {
		t.Fatalf("per protocol: sessions %v, BIB %v", st.SessionsByProto, st.BIBByProto)
	}
	if u := r.tr.Pool4Usage(nil); len(u) != 1 || u[0].Addr != netip.MustParseAddr(pub) || u[0].Proto != "udp" || u[0].Used != 1 || u[0].Size < 1 {
		t.Fatalf("pool4 usage: %+v", u)
	}
	var sess, bib []xlat.NATEntry
	r.tr.Sessions(xlat.NATFilter{Now: r.now}, func(e xlat.NATEntry) bool { sess = append(sess, e); return true })
	r.tr.BIB(xlat.NATFilter{Proto: "udp", Addr: netip.MustParseAddr(cli)}, func(e xlat.NATEntry) bool { bib = append(bib, e); return true })
	if len(sess) != 1 || sess[0].Proto != "udp" || sess[0].IPv6 != netip.MustParseAddrPort("["+cli+"]:5000") || sess[0].IPv4.Addr() != netip.MustParseAddr(pub) ||
		sess[0].Remote != netip.MustParseAddrPort(srv4+":53") || !sess[0].Expires.After(r.now) {
		t.Fatalf("sessions: %+v", sess)
	}
	if len(bib) != 1 || bib[0].Sessions != 1 || bib[0].Static || bib[0].IPv4 != sess[0].IPv4 {
		t.Fatalf("BIB: %+v", bib)
	}
	none := 0
	r.tr.Sessions(xlat.NATFilter{Proto: "tcp"}, func(xlat.NATEntry) bool { none++; return true })
	r.tr.Sessions(xlat.NATFilter{Now: r.now.Add(time.Hour)}, func(xlat.NATEntry) bool { none++; return true })
	if none != 0 {
		t.Fatalf("%d sessions through filters that select none", none)
	}
	r.now = r.now.Add(3*time.Minute - time.Second)
	v, _ := r.send(xlat.Side4, udp4(srv4, 53, pub, 5000)) // refreshes (both directions do)
	want(t, v, xlat.Forward, xlat.Side6)
	r.now = r.now.Add(3*time.Minute + time.Second)
	// The late reply: the session and its binding are gone, even before
	// a sweep, and the drop is counted under its own reason.
	v, _ = r.send(xlat.Side4, udp4(srv4, 53, pub, 5000))
	if v.Reason() != xlat.ReasonNoBIB {
		t.Fatalf("late reply: %v %v, want no BIB entry", v.Action(), v.Reason())
	}
	if n := r.tr.Sweep(r.now); n != 1 {
		t.Fatalf("sweep removed %d sessions, want 1", n)
	}
	st := r.tr.NATStats()
	if st.Sessions != 0 || st.BIB != 0 || st.SessionsExpired != 1 || st.BIBExpired != 1 || st.SessionsByProto != [3]int64{} || st.BIBByProto != [3]int64{} {
		t.Fatalf("stats after expiry: %+v", st)
	}
	if u := r.tr.Pool4Usage(nil); len(u) != 1 || u[0].Used != 0 {
		t.Fatalf("pool4 usage after expiry: %+v", u)
	}
	ev := make([]xlat.BIBEvent, 4)
	n, _ := r.tr.MappingEvents(ev)
	if n != 2 || ev[0].Kind != xlat.BIBCreated || ev[1].Kind != xlat.BIBExpired {
		t.Fatalf("events: %v", ev[:n])
	}
	if ev[0].Proto() != "udp" || ev[0].IPv6() != netip.MustParseAddrPort("["+cli+"]:5000") || ev[0].IPv4() != netip.MustParseAddrPort(pub+":5000") {
		t.Fatalf("created event: %s %v %v", ev[0].Proto(), ev[0].IPv6(), ev[0].IPv4())
	}
	// Timeouts below the RFC minimums are refused.
	o.NAT.UDPTimeout = time.Minute
	if _, err := xlat.New(o); err == nil {
		t.Fatal("a 1-minute UDP timeout was accepted")
	}
}

func TestNATTCPStates(t *testing.T) {
	r := newRig(t, natOptions())
	step := func(from xlat.Side, flags string, wantFwd bool) {
		t.Helper()
		var pkt []byte
		if from == xlat.Side6 {
			pkt = tcp6(cli, 40000, srv6, 80, flags)
		} else {
			pkt = tcp4(srv4, 80, pub, 40000, flags)
		}
		v, _ := r.send(from, pkt)
		if (v.Action() == xlat.Forward) != wantFwd {
			t.Fatalf("%v %s: %v %v, forward %v", from, flags, v.Action(), v.Reason(), wantFwd)
		}
	}
	// No session, not a SYN: dropped.
	step(xlat.Side6, "A", false)
	step(xlat.Side6, "S", true)  // V6 INIT, 4 min
	step(xlat.Side4, "SA", true) // ESTABLISHED, 2 h 4 min
	r.now = r.now.Add(2 * time.Hour)
	step(xlat.Side6, "A", true) // still there, refreshed
	r.now = r.now.Add(2 * time.Hour)
	step(xlat.Side4, "A", true)
	step(xlat.Side6, "FA", true) // V6 FIN RCV
	step(xlat.Side4, "FA", true) // both FINs: 4 min left
	r.now = r.now.Add(4*time.Minute + time.Second)
	step(xlat.Side6, "A", false) // gone
	r.tr.Sweep(r.now)

	// A RST makes a session transitory.
	step(xlat.Side6, "S", true)
	step(xlat.Side4, "SA", true)
	step(xlat.Side4, "R", true)
	r.now = r.now.Add(4*time.Minute + time.Second)
	step(xlat.Side6, "A", false)
	if st := r.tr.NATStats(); st.Sessions != 0 {
		t.Fatalf("%d sessions left", st.Sessions)
	}
}

func TestNATHeldSYN(t *testing.T) {
	r := newRig(t, natOptions())
	buf := make([]byte, 2048)
	expire := func() xlat.Verdict { return r.tr.Expire(buf, xlat.Headroom, r.now) }

	// An unsolicited SYN is held, then answered with port unreachable.
	v, _ := r.send(xlat.Side4, tcp4(srv4, 3000, pub, 2222, "S"))
	wantDrop(t, v, xlat.ReasonHeldSYN)
	r.now = r.now.Add(5 * time.Second)
	if v := expire(); v.Action() != 0 {
		t.Fatalf("answered after 5 s: %v", v.Action())
	}
	r.now = r.now.Add(time.Second)
	v = expire()
	want(t, v, xlat.Reply, xlat.Side4)
	out := buf[v.Off : v.Off+v.Len]
	if err := xlattest.Check(out, false); err != nil {
		t.Fatal(err)
	}
	if out[20] != 3 || out[21] != 3 || netip.AddrFrom4([4]byte(out[12:16])).String() != pub {
		t.Fatalf("held SYN answer: ICMP %d/%d from %v", out[20], out[21], netip.AddrFrom4([4]byte(out[12:16])))
	}
	if v := expire(); v.Action() != 0 {
		t.Fatal("answered twice")
	}

	// Simultaneous open: the IPv6 SYN of the same flow takes the held
	// SYN's port and the held SYN is dropped.
	r.send(xlat.Side4, tcp4(srv4, 3001, pub, 2600, "S"))
	v, out = r.send(xlat.Side6, tcp6(cli, 41000, srv6, 3001, "S"))
	want(t, v, xlat.Forward, xlat.Side4)
	if src, _ := ends(t, out); src.Port() != 2600 {
		t.Fatalf("simultaneous open left from port %d, want 2600", src.Port())
	}
	r.now = r.now.Add(7 * time.Second)
	if v := expire(); v.Action() != 0 {
		t.Fatal("the held SYN of a simultaneous open was answered")
	}

	// drop-externally-initiated-tcp: IPv4 SYNs do not open sessions, even
	// through a static binding.
	o := natOptions()
	o.NAT.DropExternallyInitiatedTCP = true
	o.NAT.StaticBIB = []xlat.StaticBIB{{6, netip.MustParseAddrPort("[2001:db8:1::80]:80"), netip.MustParseAddrPort(pub + ":80")}}
	r2 := newRig(t, o)
	v, _ = r2.send(xlat.Side4, tcp4(srv4, 3000, pub, 80, "S"))
	wantDrop(t, v, xlat.ReasonExternalTCP)
}

func TestNATStaticBIBAndEAM(t *testing.T) {
	o := natOptions()
	o.EAM = []xlat.EAM{{V4: netip.MustParsePrefix("203.0.113.50/32"), V6: netip.MustParsePrefix("2001:db8:1::50/128")}}
	o.NAT.StaticBIB = []xlat.StaticBIB{{6, netip.MustParseAddrPort("[2001:db8:1::80]:8080"), netip.MustParseAddrPort(pub + ":80")}}
	r := newRig(t, o)
	// An IPv4 client reaches the IPv6 server through the port forward.
	v, out := r.send(xlat.Side4, tcp4(srv4, 50000, pub, 80, "S"))
	want(t, v, xlat.Forward, xlat.Side6)
	if _, dst := ends(t, out); dst != netip.MustParseAddrPort("[2001:db8:1::80]:8080") {
		t.Fatalf("port forward to %v", dst)
	}
	v, out = r.send(xlat.Side6, tcp6("2001:db8:1::80", 8080, srv6, 50000, "SA"))
	want(t, v, xlat.Forward, xlat.Side4)
	if src, _ := ends(t, out); src != netip.MustParseAddrPort(pub+":80") {
		t.Fatalf("port forward answered from %v", src)
	}
	// The EAM host is translated statelessly, before any binding.
	v, out = r.send(xlat.Side6, udp6("2001:db8:1::50", 7, srv6, 7))
	want(t, v, xlat.Forward, xlat.Side4)
	if src, _ := ends(t, out); src != netip.MustParseAddrPort("203.0.113.50:7") {
		t.Fatalf("EAM host left as %v", src)
	}
	v, _ = r.send(xlat.Side4, udp4(srv4, 7, "203.0.113.50", 7))
	want(t, v, xlat.Forward, xlat.Side6)
	if st := r.tr.NATStats(); st.Sessions != 1 {
		t.Fatalf("%d sessions; the EAM flow must not make one", st.Sessions)
	}
	// Configuration mistakes.
	bad := o
	bad.NAT.StaticBIB = []xlat.StaticBIB{{6, netip.MustParseAddrPort("[2001:db8:1::80]:80"), netip.MustParseAddrPort("198.51.100.1:80")}}
	if _, err := xlat.New(bad); err == nil {
		t.Error("a static BIB entry outside pool4 was accepted")
	}
	bad = o
	bad.EAM = []xlat.EAM{{V4: netip.MustParsePrefix("203.0.113.0/24"), V6: netip.MustParsePrefix("2001:db8:1::/120")}}
	if _, err := xlat.New(bad); err == nil {
		t.Error("pool4 inside an EAM entry was accepted")
	}
}

func TestNATPairedPoolingAndPorts(t *testing.T) {
	o := natOptions("203.0.113.1/32", "203.0.113.2/32")
	o.NAT.UDPPorts = xlat.PortRange{Lo: 1024, Hi: 1031} // 8 ports an address
	r := newRig(t, o)
	// Port preservation inside the range.
	_, out := r.send(xlat.Side6, udp6("2001:db8:1::30", 1030, srv6, 53))
	if src, _ := ends(t, out); src.Port() != 1030 {
		t.Fatalf("port 1030 became %d", src.Port())
	}
	addrOf := map[string]netip.Addr{}
	for i := range 3 { // 7 flows in all: they fit one address even if both hosts share it
		for _, c := range []string{cli, cli2} {
			v, out := r.send(xlat.Side6, udp6(c, uint16(6000+i), srv6, 53))
			want(t, v, xlat.Forward, xlat.Side4)
			src, _ := ends(t, out)
			if a, ok := addrOf[c]; ok && a != src.Addr() {
				t.Fatalf("%s left from %v and %v: paired pooling broken", c, a, src.Addr())
			}
			addrOf[c] = src.Addr()
			if src.Port() < 1024 || src.Port() > 1031 {
				t.Fatalf("port %d outside the range", src.Port()) // parity: TestPortSetTake
			}
		}
	}
	// Exhaustion: 16 ports in all; the rest get ICMPv6 address unreachable.
	exhausted := 0
	for i := range 20 {
		v, out := r.send(xlat.Side6, udp6("2001:db8:1::40", uint16(7000+i), srv6, 53))
		if v.Action() == xlat.Reply {
			if v.Reason() != xlat.ReasonPoolExhausted || out[40] != 1 || out[41] != 3 {
				t.Fatalf("exhausted: reason %v ICMPv6 %d/%d", v.Reason(), out[40], out[41])
			}
			exhausted++
		}
	}
	if st := r.tr.NATStats(); st.BIB != 16 || exhausted != 20-(16-7) {
		t.Fatalf("%d BIB entries, %d refused", st.BIB, exhausted)
	}
}

func TestNATLimits(t *testing.T) {
	o := natOptions()
	o.NAT.MaxSessionsPerHost = 2
	o.NAT.MaxSessionsPer64 = 3
	r := newRig(t, o)
	sendFrom := func(c string, port uint16) xlat.Verdict {
		v, _ := r.send(xlat.Side6, udp6(c, port, srv6, 53))
		return v
	}
	want(t, sendFrom(cli, 1), xlat.Forward, xlat.Side4)
	want(t, sendFrom(cli, 2), xlat.Forward, xlat.Side4)
	v := sendFrom(cli, 3)
	if v.Action() != xlat.Reply || v.Reason() != xlat.ReasonHostLimit {
		t.Fatalf("third session of a host: %v %v", v.Action(), v.Reason())
	}
	want(t, sendFrom(cli2, 1), xlat.Forward, xlat.Side4)
	if v := sendFrom(cli2, 2); v.Action() != xlat.Reply || v.Reason() != xlat.ReasonPrefixLimit {
		t.Fatalf("fourth session of a /64: %v %v", v.Action(), v.Reason())
	}
	want(t, sendFrom("2001:db8:2::1", 1), xlat.Forward, xlat.Side4) // another /64
	// Existing sessions are not limited.
	want(t, sendFrom(cli, 1), xlat.Forward, xlat.Side4)
}

func TestNATEchoAndErrors(t *testing.T) {
	r := newRig(t, natOptions())
	ip := xlattest.IPv6(cli, srv6, layers.IPProtocolICMPv6)
	echo := xlattest.Serialize(ip, xlattest.ICMPv6(128, 0, ip), &layers.ICMPv6Echo{Identifier: 77, SeqNumber: 1}, xlattest.Payload(16))
	v, out := r.send(xlat.Side6, echo)
	want(t, v, xlat.Forward, xlat.Side4)
	id := binary.BigEndian.Uint16(out[24:])
	ip4 := xlattest.IPv4(srv4, pub, layers.IPProtocolICMPv4)
	reply := xlattest.Serialize(ip4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: id, Seq: 1}, xlattest.Payload(16))
	v, out = r.send(xlat.Side4, reply)
	want(t, v, xlat.Forward, xlat.Side6)
	if got := binary.BigEndian.Uint16(out[44:]); got != 77 {
		t.Fatalf("echo reply identifier %d, want 77", got)
	}
	// A ping to the translator's own (pool4) address with no binding is
	// answered.
	ping := xlattest.Serialize(xlattest.IPv4(srv4, pub, layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 999, Seq: 1}, xlattest.Payload(8))
	v, _ = r.send(xlat.Side4, ping)
	want(t, v, xlat.Reply, xlat.Side4)

	// An ICMPv4 error about a translated datagram goes to its IPv6 host,
	// with the quoted packet translated back.
	_, sent := r.send(xlat.Side6, udp6(cli, 5353, srv6, 53))
	ip4 = xlattest.IPv4("198.51.100.254", pub, layers.IPProtocolICMPv4)
	icmpErr := xlattest.Serialize(ip4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 1)}, gopacket.Payload(sent))
	v, out = r.send(xlat.Side4, icmpErr)
	want(t, v, xlat.Forward, xlat.Side6)
	src, dst := ends(t, out)
	if dst.Addr() != netip.MustParseAddr(cli) || src.Addr() != netip.MustParseAddr("64:ff9b::c633:64fe") {
		t.Fatalf("error %v -> %v", src, dst)
	}
	if qs := binary.BigEndian.Uint16(out[88:]); qs != 5353 {
		t.Fatalf("quoted source port %d, want 5353", qs)
	}
	// RFC 6146 strict source: the quoted packet's destination.
	o := natOptions()
	o.NAT.StrictICMPErrorSource = true
	r2 := newRig(t, o)
	r2.send(xlat.Side6, udp6(cli, 5353, srv6, 53))
	_, out = r2.send(xlat.Side4, icmpErr)
	if src, _ := ends(t, out); src.Addr() != netip.MustParseAddr(srv6) {
		t.Fatalf("strict error source %v", src.Addr())
	}
	// drop-icmpv6-info.
	o = natOptions()
	o.NAT.DropICMPv6Info = true
	v, _ = newRig(t, o).send(xlat.Side6, echo)
	wantDrop(t, v, xlat.ReasonICMPInfoFiltered)
}

func TestNATHairpin(t *testing.T) {
	o := natOptions()
	o.NAT.StaticBIB = []xlat.StaticBIB{{17, netip.MustParseAddrPort("[2001:db8:1::80]:53"), netip.MustParseAddrPort(pub + ":53")}}
	r := newRig(t, o)
	// cli reaches the IPv6 server through the pool4 address.
	v, out := r.send(xlat.Side6, udp6(cli, 5000, "64:ff9b::cb00:7101", 53))
	want(t, v, xlat.Forward, xlat.Side6)
	src, dst := ends(t, out)
	if dst != netip.MustParseAddrPort("[2001:db8:1::80]:53") || src != netip.MustParseAddrPort("[64:ff9b::cb00:7101]:5000") {
		t.Fatalf("hairpinned %v -> %v", src, dst)
	}
	// And the answer comes back the same way.
	v, out = r.send(xlat.Side6, udp6("2001:db8:1::80", 53, "64:ff9b::cb00:7101", 5000))
	want(t, v, xlat.Forward, xlat.Side6)
	if src, dst := ends(t, out); dst != netip.MustParseAddrPort("["+cli+"]:5000") || src.Port() != 53 {
		t.Fatalf("hairpinned answer %v -> %v", src, dst)
	}
}

func TestNATFragments(t *testing.T) {
	r := newRig(t, natOptions())
	// An IPv6 datagram in two fragments: the second carries no ports and
	// must leave from the same address as the first.
	ip := xlattest.IPv6(cli, srv6, layers.IPProtocolIPv6Fragment)
	full := xlattest.Serialize(xlattest.IPv6(cli, srv6, layers.IPProtocolUDP), xlattest.UDP(5000, 53, xlattest.IPv6(cli, srv6, layers.IPProtocolUDP)), xlattest.Payload(64))
	udp := full[40:]
	frag := func(off int, more bool, data []byte) []byte {
		fh := &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: uint16(off / 8), MoreFragments: more, Identification: 4242}
		return xlattest.Serialize(ip, fh, gopacket.Payload(data))
	}
	v, _ := r.send(xlat.Side6, frag(32, false, udp[32:]))
	wantDrop(t, v, xlat.ReasonFragmentNoSession) // before its first fragment
	buf := func(p []byte) (xlat.Verdict, []byte) {
		b := make([]byte, xlat.Headroom+len(p)+xlat.Tailroom)
		copy(b[xlat.Headroom:], p)
		v := r.tr.Translate(b, xlat.Headroom, len(p), xlat.Side6, r.now)
		return v, b[v.Off : v.Off+v.Len]
	}
	v, out := buf(frag(0, true, udp[:32]))
	want(t, v, xlat.Forward, xlat.Side4)
	first := netip.AddrFrom4([4]byte(out[12:16]))
	v, out = buf(frag(32, false, udp[32:]))
	want(t, v, xlat.Forward, xlat.Side4)
	if second := netip.AddrFrom4([4]byte(out[12:16])); second != first || first.String() != pub {
		t.Fatalf("fragments left from %v and %v", first, second)
	}
}

// TestNATConcurrent runs many flows from both sides and the sweeper at
// once (meant for -race): every reply must reach the host that sent the
// request.
func TestNATConcurrent(t *testing.T) {
	o := natOptions("203.0.113.0/30")
	tr, err := xlat.New(o)
	if err != nil {
		t.Fatal(err)
	}
	const hosts, flows = 8, 200
	start := time.Unix(1_700_000_000, 0)
	var wg sync.WaitGroup
	errs := make(chan error, hosts)
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				tr.Sweep(start.Add(time.Duration(i) * time.Millisecond))
				runtime.Gosched()
			}
		}
	}()
	for h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := tr.Clone()
			host := fmt.Sprintf("2001:db8:1::%x", h+1)
			buf := make([]byte, 2048)
			for f := range flows {
				pkt := udp6(host, uint16(10000+f), srv6, 53)
				copy(buf[xlat.Headroom:], pkt)
				v := w.Translate(buf, xlat.Headroom, len(pkt), xlat.Side6, start)
				if v.Action() != xlat.Forward {
					errs <- fmt.Errorf("host %d flow %d: %v %v", h, f, v.Action(), v.Reason())
					return
				}
				out := buf[v.Off : v.Off+v.Len]
				pubAddr := netip.AddrFrom4([4]byte(out[12:16]))
				pubPort := binary.BigEndian.Uint16(out[20:])
				reply := udp4(srv4, 53, pubAddr.String(), pubPort)
				copy(buf[xlat.Headroom:], reply)
				v = w.Translate(buf, xlat.Headroom, len(reply), xlat.Side4, start)
				out = buf[v.Off : v.Off+v.Len]
				if v.Action() != xlat.Forward || netip.AddrFrom16([16]byte(out[24:40])).String() != host ||
					binary.BigEndian.Uint16(out[42:]) != uint16(10000+f) {
					errs <- fmt.Errorf("host %d flow %d: reply %v %v went astray", h, f, v.Action(), v.Reason())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := tr.NATStats(); st.Sessions != hosts*flows {
		t.Errorf("%d sessions, want %d", st.Sessions, hosts*flows)
	}
}
