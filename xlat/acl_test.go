package xlat_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// The access-control setup of these tests: clients in 2001:db8:1::/64,
// the host's own IPv4 network 198.51.100.0/24 denied, IPv4 servers in
// 203.0.113.0/24. In SIIT, 192.0.2.10 maps a client and 192.0.2.20 a host
// of 2001:db8:9::/64, which is no client.
const (
	aclClient    = "2001:db8:1::10"
	aclClient4   = "192.0.2.10" // its EAM address (SIIT)
	aclStranger  = "2001:db8:9::20"
	aclStranger4 = "192.0.2.20"
	aclServer4   = "203.0.113.7"
	aclServer6   = "64:ff9b::cb00:7107"
	aclDenied4   = "198.51.100.7"
	aclDenied6   = "64:ff9b::c633:6407"
	aclRouter6   = "2001:db8:ff::fe" // an IPv6 router outside clients
	aclRouter4   = "198.51.100.1"    // the IPv4 gateway, inside denylist4
)

func aclLists(o *xlat.Options) {
	o.Clients = []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64")}
	o.Denylist4 = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("10.0.0.0/8")}
}

func aclSIIT() xlat.Options {
	o := xlat.Options{
		Prefix:            netip.MustParsePrefix("64:ff9b::/96"),
		AllowNonGlobalWKP: true,
		IPv4Addr:          netip.MustParseAddr("192.0.2.1"),
		IPv6Addr:          netip.MustParseAddr("2001:db8:ff::1"),
		EAM: []xlat.EAM{
			{V4: netip.MustParsePrefix(aclClient4 + "/32"), V6: netip.MustParsePrefix(aclClient + "/128")},
			{V4: netip.MustParsePrefix(aclStranger4 + "/32"), V6: netip.MustParsePrefix(aclStranger + "/128")},
		},
		IDSeed: 1,
	}
	aclLists(&o)
	return o
}

func aclNAT64() xlat.Options {
	o := natOptions() // pool4 203.0.113.1
	aclLists(&o)
	return o
}

func aclEcho6(src, dst string) []byte {
	ip := xlattest.IPv6(src, dst, layers.IPProtocolICMPv6)
	return xlattest.Serialize(ip, xlattest.ICMPv6(128, 0, ip), &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1}, xlattest.Payload(16))
}

// fragment6 is the second fragment of a UDP datagram.
func fragment6(src, dst string) []byte {
	ip := xlattest.IPv6(src, dst, layers.IPProtocolIPv6Fragment)
	return xlattest.Serialize(ip, &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, FragmentOffset: 8, Identification: 9}, xlattest.Payload(40))
}

// err6 is an ICMPv6 error from src to dst quoting quoted.
func err6(src, dst string, typ, code uint8, quoted []byte) []byte {
	ip := xlattest.IPv6(src, dst, layers.IPProtocolICMPv6)
	return xlattest.Serialize(ip, xlattest.ICMPv6(typ, code, ip), gopacket.Payload(append([]byte{0, 0, 0, 0}, quoted...)))
}

// err4 is an ICMPv4 error from src to dst quoting quoted.
func err4(src, dst string, typ, code uint8, quoted []byte) []byte {
	return xlattest.Serialize(xlattest.IPv4(src, dst, layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}, gopacket.Payload(quoted))
}

type aclCase struct {
	name   string
	drop   bool // clients-refusal: drop
	from   xlat.Side
	pkt    []byte
	action xlat.Action
	side   xlat.Side
	reason xlat.Reason
}

// runACL sends each case through a fresh translator built from o and
// checks its verdict; an ICMPv6 refusal must be 1/1 to the sender.
func runACL(t *testing.T, o xlat.Options, cases []aclCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := o
			o.DropRefused = tc.drop
			r := newRig(t, o)
			v, out := r.send(tc.from, tc.pkt)
			if v.Action() != tc.action || v.Reason() != tc.reason || (tc.action != xlat.Drop && v.Side() != tc.side) {
				t.Fatalf("verdict %v to %v for %v, want %v to %v for %v", v.Action(), v.Side(), v.Reason(), tc.action, tc.side, tc.reason)
			}
			if tc.action == xlat.Reply && tc.reason != xlat.ReasonOwnAddress {
				if out[6] != 58 || out[40] != 1 || out[41] != 1 {
					t.Fatalf("refusal is next header %d, ICMPv6 %d/%d; want 1/1", out[6], out[40], out[41])
				}
				if _, dst := ends(t, out); dst.Addr() != netip.AddrFrom16([16]byte(tc.pkt[8:24])) {
					t.Fatalf("refusal sent to %v", dst.Addr())
				}
			}
		})
	}
}

// aclCommon are the cases whose outcome is the same in SIIT and NAT64.
func aclCommon() []aclCase {
	return []aclCase{
		{"client to a server", false, xlat.Side6, udp6(aclClient, 5000, aclServer6, 53), xlat.Forward, xlat.Side4, xlat.ReasonNone},
		{"client echo", false, xlat.Side6, aclEcho6(aclClient, aclServer6), xlat.Forward, xlat.Side4, xlat.ReasonNone},
		{"stranger refused with 1/1", false, xlat.Side6, udp6(aclStranger, 5000, aclServer6, 53), xlat.Reply, xlat.Side6, xlat.ReasonClientSrc6},
		{"stranger TCP SYN refused with 1/1", false, xlat.Side6, tcp6(aclStranger, 5000, aclServer6, 80, "S"), xlat.Reply, xlat.Side6, xlat.ReasonClientSrc6},
		{"stranger echo refused with 1/1", false, xlat.Side6, aclEcho6(aclStranger, aclServer6), xlat.Reply, xlat.Side6, xlat.ReasonClientSrc6},
		{"stranger without a mapping refused first", false, xlat.Side6, udp6("2001:db8:5::1", 5000, aclServer6, 53), xlat.Reply, xlat.Side6, xlat.ReasonClientSrc6},
		{"stranger dropped", true, xlat.Side6, udp6(aclStranger, 5000, aclServer6, 53), xlat.Drop, 0, xlat.ReasonClientSrc6},
		{"stranger's later fragment dropped", false, xlat.Side6, fragment6(aclStranger, aclServer6), xlat.Drop, 0, xlat.ReasonClientSrc6},
		{"stranger pings the translator", false, xlat.Side6, aclEcho6(aclStranger, "2001:db8:ff::1"), xlat.Reply, xlat.Side6, xlat.ReasonOwnAddress},
		{"client to denylist4 refused with 1/1", false, xlat.Side6, udp6(aclClient, 5000, aclDenied6, 53), xlat.Reply, xlat.Side6, xlat.ReasonDenylistDst4},
		{"client to denylist4 dropped", true, xlat.Side6, tcp6(aclClient, 5000, aclDenied6, 22, "S"), xlat.Drop, 0, xlat.ReasonDenylistDst4},
		{"client to 10.0.0.1 refused", false, xlat.Side6, aclEcho6(aclClient, "64:ff9b::a00:1"), xlat.Reply, xlat.Side6, xlat.ReasonDenylistDst4},
		{"stranger to denylist4: the source first", false, xlat.Side6, udp6(aclStranger, 5000, aclDenied6, 53), xlat.Reply, xlat.Side6, xlat.ReasonClientSrc6},
		// ICMPv6 errors: the router may be anyone; what counts is the host
		// the quoted packet was for and where the error goes.
		{"error about a packet to a stranger", false, xlat.Side6,
			err6(aclRouter6, aclServer6, 1, 0, udp6(aclServer6, 53, aclStranger, 5000)), xlat.Drop, 0, xlat.ReasonClientSrc6},
	}
}

func TestACLSIIT(t *testing.T) {
	cases := append(aclCommon(),
		aclCase{"router's error about a packet to a client", false, xlat.Side6,
			err6(aclRouter6, aclServer6, 1, 0, udp6(aclServer6, 53, aclClient, 5000)), xlat.Forward, xlat.Side4, xlat.ReasonNone},
		aclCase{"error to denylist4", false, xlat.Side6,
			err6(aclClient, aclDenied6, 1, 4, udp6(aclDenied6, 53, aclClient, 5000)), xlat.Drop, 0, xlat.ReasonDenylistDst4},
		aclCase{"server to a client", false, xlat.Side4, udp4(aclServer4, 53, aclClient4, 5000), xlat.Forward, xlat.Side6, xlat.ReasonNone},
		aclCase{"server to a stranger dropped", false, xlat.Side4, udp4(aclServer4, 53, aclStranger4, 5000), xlat.Drop, 0, xlat.ReasonClientDst6},
		aclCase{"denylist4 source dropped", false, xlat.Side4, udp4(aclDenied4, 53, aclClient4, 5000), xlat.Drop, 0, xlat.ReasonDenylistSrc4},
		aclCase{"denylist4 ping to the translator answered", false, xlat.Side4, xlattest.Serialize(xlattest.IPv4(aclDenied4, "192.0.2.1", layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, xlattest.Payload(8)), xlat.Reply, xlat.Side4, xlat.ReasonOwnAddress},
		// The IPv4 gateway is in denylist4, and its errors still reach
		// the clients.
		aclCase{"gateway's error about a client's packet", false, xlat.Side4,
			err4(aclRouter4, aclClient4, 3, 4, udp4(aclClient4, 5000, aclServer4, 53)), xlat.Forward, xlat.Side6, xlat.ReasonNone},
		aclCase{"error quoting a packet to denylist4", false, xlat.Side4,
			err4(aclServer4, aclClient4, 3, 3, udp4(aclClient4, 5000, aclDenied4, 53)), xlat.Drop, 0, xlat.ReasonDenylistSrc4},
		aclCase{"error to a stranger", false, xlat.Side4,
			err4(aclRouter4, aclStranger4, 3, 4, udp4(aclStranger4, 5000, aclServer4, 53)), xlat.Drop, 0, xlat.ReasonClientDst6},
		// Hairpinning (RFC 7757 §4) checks the IPv6 host it comes back to.
		aclCase{"client hairpins to a client", false, xlat.Side6, udp6(aclClient, 5000, "64:ff9b::c000:20a", 53), xlat.Forward, xlat.Side6, xlat.ReasonNone},
		aclCase{"client hairpins to a stranger", false, xlat.Side6, udp6(aclClient, 5000, "64:ff9b::c000:214", 53), xlat.Drop, 0, xlat.ReasonClientDst6},
	)
	runACL(t, aclSIIT(), cases)
}

func TestACLNAT64(t *testing.T) {
	runACL(t, aclNAT64(), append(aclCommon(),
		aclCase{"denylist4 source dropped", false, xlat.Side4, udp4(aclDenied4, 53, pub, 5000), xlat.Drop, 0, xlat.ReasonDenylistSrc4},
	))
	// Through a binding, in both directions.
	r := newRig(t, aclNAT64())
	v, sent := r.send(xlat.Side6, udp6(aclClient, 5000, aclServer6, 53))
	want(t, v, xlat.Forward, xlat.Side4)
	v, _ = r.send(xlat.Side4, udp4(aclServer4, 53, pub, 5000))
	want(t, v, xlat.Forward, xlat.Side6)
	// A host of denylist4 may not use the binding (endpoint-independent
	// filtering would let any other host).
	v, _ = r.send(xlat.Side4, udp4(aclDenied4, 53, pub, 5000))
	wantDrop(t, v, xlat.ReasonDenylistSrc4)
	// The IPv4 gateway's errors about it still reach the client, and an
	// IPv6 router's errors about the replies reach the server.
	v, _ = r.send(xlat.Side4, err4(aclRouter4, pub, 3, 4, sent))
	want(t, v, xlat.Forward, xlat.Side6)
	v, _ = r.send(xlat.Side6, err6(aclRouter6, aclServer6, 1, 0, udp6(aclServer6, 53, aclClient, 5000)))
	want(t, v, xlat.Forward, xlat.Side4)
	if st := r.tr.NATStats(); st.BIB != 1 || st.Sessions != 1 {
		t.Fatalf("%d BIB entries, %d sessions; want the client's 1 and 1", st.BIB, st.Sessions)
	}
}

// TestACLNoState: refused packets create no BIB entry, session, fragment
// entry or dynamic-pool mapping.
func TestACLNoState(t *testing.T) {
	refused := [][]byte{
		udp6(aclStranger, 5000, aclServer6, 53),
		tcp6(aclStranger, 5000, aclServer6, 80, "S"),
		aclEcho6(aclStranger, aclServer6),
		udp6(aclClient, 5000, aclDenied6, 53),
		tcp6(aclClient, 5000, aclDenied6, 80, "S"),
		aclEcho6(aclClient, aclDenied6),
	}
	// A first fragment from a stranger: its later fragment must not find
	// a fragment entry.
	ip := xlattest.IPv6(aclStranger, aclServer6, layers.IPProtocolIPv6Fragment)
	first := xlattest.Serialize(ip, &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, MoreFragments: true, Identification: 9}, xlattest.Payload(64))
	refused = append(refused, first, fragment6(aclStranger, aclServer6))
	for _, drop := range []bool{false, true} {
		o := aclNAT64()
		o.DropRefused = drop
		r := newRig(t, o)
		for i, p := range refused {
			v, _ := r.send(xlat.Side6, p)
			if v.Action() == xlat.Forward || (v.Reason() != xlat.ReasonClientSrc6 && v.Reason() != xlat.ReasonDenylistDst4) {
				t.Fatalf("drop %v, packet %d: %v for %v", drop, i, v.Action(), v.Reason())
			}
		}
		if st := r.tr.NATStats(); st.BIB != 0 || st.Sessions != 0 || st.BIBCreated != 0 || st.SessionsCreated != 0 {
			t.Fatalf("drop %v: NAT64 tables after refused packets: %+v", drop, st)
		}
	}
	// TAYGA's dynamic pool: a stranger gets no address.
	o := dynOptions()
	aclLists(&o)
	o.Denylist4 = []netip.Prefix{netip.MustParsePrefix("203.0.113.128/25")}
	r := newRig(t, o)
	v, _ := r.send(xlat.Side6, udp6(aclStranger, 5000, "64:ff9b::cb00:7105", 53))
	want(t, v, xlat.Reply, xlat.Side6)
	v, _ = r.send(xlat.Side6, udp6("2001:db8:1::a", 5000, "64:ff9b::cb00:7180", 53))
	want(t, v, xlat.Reply, xlat.Side6)
	if ms, _ := r.tr.DynamicMappings(); len(ms) != 0 {
		t.Fatalf("dynamic mappings after refused packets: %v", ms)
	}
	v, _ = r.send(xlat.Side6, udp6("2001:db8:1::a", 5000, "64:ff9b::cb00:7105", 53))
	want(t, v, xlat.Forward, xlat.Side4)
	if ms, _ := r.tr.DynamicMappings(); len(ms) != 1 {
		t.Fatalf("%d dynamic mappings for a client, want 1", len(ms))
	}
}

// TestACLRateLimit: the refusals share the translator's ICMP error
// budget (icmp-error-rate); those it suppresses are dropped and still
// counted for their reason.
func TestACLRateLimit(t *testing.T) {
	o := aclSIIT()
	o.ICMPErrorRate = 20 // burst 10
	r := newRig(t, o)
	pkt := udp6(aclStranger, 5000, aclServer6, 53)
	count := func(n int) (replies, drops int) {
		for range n {
			v, _ := r.send(xlat.Side6, pkt)
			if v.Reason() != xlat.ReasonClientSrc6 {
				t.Fatalf("reason %v", v.Reason())
			}
			switch v.Action() {
			case xlat.Reply:
				replies++
			case xlat.Drop:
				drops++
			}
		}
		return replies, drops
	}
	if rep, dr := count(50); rep != 10 || dr != 40 {
		t.Fatalf("a burst of 50: %d answered, %d dropped; want 10 and 40", rep, dr)
	}
	// Half a second refills 10 tokens, which the other errors share.
	r.now = r.now.Add(500 * time.Millisecond)
	v, _ := r.send(xlat.Side6, udp6(aclClient, 5000, aclDenied6, 53))
	want(t, v, xlat.Reply, xlat.Side6)
	if rep, dr := count(20); rep != 9 || dr != 11 {
		t.Fatalf("after 500 ms: %d answered, %d dropped; want 9 and 11", rep, dr)
	}
}

// TestACLReload: a translator for a configuration without the client,
// given the old one's state (a reload), cuts the client's session off in
// both directions.
func TestACLReload(t *testing.T) {
	o := aclNAT64()
	o.Clients = append(o.Clients, netip.MustParsePrefix("2001:db8:2::/64"))
	old := newRig(t, o)
	v, _ := old.send(xlat.Side6, udp6("2001:db8:2::5", 5000, aclServer6, 53))
	want(t, v, xlat.Forward, xlat.Side4)

	tr, err := xlat.New(aclNAT64())
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.KeepState(old.tr); err != nil {
		t.Fatal(err)
	}
	r := &natRig{t: t, tr: tr, now: old.now}
	v, _ = r.send(xlat.Side4, udp4(aclServer4, 53, pub, 5000))
	wantDrop(t, v, xlat.ReasonClientDst6)
	v, _ = r.send(xlat.Side6, udp6("2001:db8:2::5", 5000, aclServer6, 53))
	want(t, v, xlat.Reply, xlat.Side6)
	if v.Reason() != xlat.ReasonClientSrc6 {
		t.Fatalf("reason %v", v.Reason())
	}
}

func TestACLOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*xlat.Options)
	}{
		{"v4 client", func(o *xlat.Options) { o.Clients = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} }},
		{"4in6 client", func(o *xlat.Options) { o.Clients = []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.0/120")} }},
		{"v6 denylist4", func(o *xlat.Options) { o.Denylist4 = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")} }},
		{"host bits", func(o *xlat.Options) { o.Denylist4 = []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")} }},
		{"invalid", func(o *xlat.Options) { o.Clients = []netip.Prefix{{}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := aclSIIT()
			tc.set(&o)
			if _, err := xlat.New(o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	o := aclSIIT()
	for a, want := range map[string]bool{aclClient: true, aclStranger: false, "2001:db8:1:0:ffff::1": true} {
		if got := o.ClientAllowed(netip.MustParseAddr(a)); got != want {
			t.Errorf("ClientAllowed(%s) = %v", a, got)
		}
	}
	for a, want := range map[string]bool{aclDenied4: true, "10.1.2.3": true, aclServer4: false} {
		if got := o.Denied4(netip.MustParseAddr(a)); got != want {
			t.Errorf("Denied4(%s) = %v", a, got)
		}
	}
	if !(&xlat.Options{}).ClientAllowed(netip.MustParseAddr(aclStranger)) {
		t.Error("no clients list: a host is not allowed")
	}
}

// FuzzACL sends packets from both sides through SIIT and NAT64
// translators with clients and denylist4 set. Besides the checks every
// output gets, nothing may be forwarded to an IPv4 address of denylist4
// or to an IPv6 address outside clients.
func FuzzACL(f *testing.F) {
	seeds(f, 6)
	seeds(f, 4)
	for _, tc := range append(aclCommon(), aclCase{pkt: udp4(aclServer4, 53, aclClient4, 5000)}, aclCase{pkt: udp4(aclServer4, 53, pub, 5000)},
		aclCase{pkt: err4(aclRouter4, aclClient4, 3, 4, udp4(aclClient4, 5000, aclServer4, 53))}) {
		f.Add(tc.pkt)
	}
	var trs []*xlat.Translator
	for _, o := range []xlat.Options{aclSIIT(), aclNAT64()} {
		tr, err := xlat.New(o)
		if err != nil {
			f.Fatal(err)
		}
		trs = append(trs, tr)
	}
	o := aclSIIT()
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		now = now.Add(time.Second)
		from := xlat.Side6
		if data[0]>>4 == 4 {
			from = xlat.Side4
		} else if data[0]>>4 != 6 {
			return
		}
		for _, tr := range trs {
			v, out := checkVerdictAt(t, tr, data, from, now)
			if v.Action() != xlat.Forward {
				continue
			}
			switch v.Side() {
			case xlat.Side4:
				if dst := netip.AddrFrom4([4]byte(out[16:20])); o.Denied4(dst) {
					t.Fatalf("forwarded to %v, in denylist4", dst)
				}
			case xlat.Side6:
				if dst := netip.AddrFrom16([16]byte(out[24:40])); !o.ClientAllowed(dst) {
					t.Fatalf("forwarded to %v, not a client", dst)
				}
			}
		}
	})
}

// TestACLMemo sends a sequence whose addresses repeat, alternate and
// change through one translator, which remembers its last answers, and
// through a fresh one per packet: the verdicts must be the same.
func TestACLMemo(t *testing.T) {
	seq := []struct {
		from xlat.Side
		pkt  []byte
	}{
		{xlat.Side6, udp6(aclClient, 5000, aclServer6, 53)},
		{xlat.Side6, udp6(aclClient, 5000, aclServer6, 53)},
		{xlat.Side6, udp6(aclStranger, 5000, aclServer6, 53)},
		{xlat.Side6, udp6(aclClient, 5000, aclServer6, 53)},
		{xlat.Side6, udp6(aclClient, 5000, aclDenied6, 53)},
		{xlat.Side6, udp6(aclClient, 5000, aclServer6, 53)},
		{xlat.Side4, udp4(aclServer4, 53, aclClient4, 5000)},
		{xlat.Side4, udp4(aclServer4, 53, aclStranger4, 5000)},
		{xlat.Side4, udp4(aclDenied4, 53, aclClient4, 5000)},
		{xlat.Side4, udp4(aclServer4, 53, aclClient4, 5000)},
		{xlat.Side6, udp6(aclStranger, 5000, aclDenied6, 53)},
		{xlat.Side6, udp6(aclStranger, 5000, aclDenied6, 53)},
		{xlat.Side4, udp4(aclDenied4, 53, aclStranger4, 5000)},
	}
	shared := newRig(t, aclSIIT())
	for i, s := range seq {
		v, _ := shared.send(s.from, s.pkt)
		w, _ := newRig(t, aclSIIT()).send(s.from, s.pkt)
		if v.Action() != w.Action() || v.Reason() != w.Reason() {
			t.Fatalf("packet %d: %v for %v, a fresh translator says %v for %v", i, v.Action(), v.Reason(), w.Action(), w.Reason())
		}
	}
}

// TestACLBeforeReassembly: with reassembly on, the fragments of a refused
// host are refused as such, never handed to the reassembler to hold.
func TestACLBeforeReassembly(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    func() xlat.Options
		from xlat.Side
		frag []byte
		r    xlat.Reason
	}{
		{"NAT64 stranger's first fragment", aclNAT64, xlat.Side6, fragOf(echo6(aclStranger, aclServer6, 1, 3000), 0, 1232), xlat.ReasonClientSrc6},
		{"NAT64 stranger's later fragment", aclNAT64, xlat.Side6, fragOf(echo6(aclStranger, aclServer6, 1, 3000), 1232, 2464), xlat.ReasonClientSrc6},
		{"NAT64 fragment to denylist4", aclNAT64, xlat.Side6, fragOf(echo6(aclClient, aclDenied6, 1, 3000), 1232, 2464), xlat.ReasonDenylistDst4},
		{"SIIT ICMP fragment to denylist4", aclSIIT, xlat.Side6, fragOf(echo6(aclClient, aclDenied6, 1, 3000), 0, 1232), xlat.ReasonDenylistDst4},
		{"SIIT ICMPv4 fragment from denylist4", aclSIIT, xlat.Side4, fragOf(echo4(aclDenied4, aclClient4, 1, 3000), 1480, 2960), xlat.ReasonDenylistSrc4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o()
			o.Reassemble = true
			r := newRig(t, o)
			v, _ := r.send(tc.from, tc.frag)
			if v.Action() == xlat.Reassemble || v.Action() == xlat.Forward || v.Reason() != tc.r {
				t.Fatalf("%v %v, want %v refused", v.Action(), v.Reason(), tc.r)
			}
		})
	}
	// An allowed client's fragment still goes to reassembly.
	o := aclNAT64()
	o.Reassemble = true
	if v, _ := newRig(t, o).send(xlat.Side6, fragOf(echo6(aclClient, aclServer6, 1, 3000), 0, 1232)); v.Action() != xlat.Reassemble {
		t.Fatalf("a client's fragment: %v %v", v.Action(), v.Reason())
	}
}
