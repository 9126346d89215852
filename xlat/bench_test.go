package xlat_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// benchCase is one translation path with a representative packet.
type benchCase struct {
	name string
	side xlat.Side
	pkt  []byte
}

func benchOptions() xlat.Options {
	return xlat.Options{
		Prefix:   netip.MustParsePrefix("2001:db8:64::/96"),
		EAM:      []xlat.EAM{{V4: netip.MustParsePrefix("192.0.2.10/32"), V6: netip.MustParsePrefix("2001:db8:6::10/128")}},
		IPv4Addr: netip.MustParseAddr("192.0.2.1"),
		IPv6Addr: netip.MustParseAddr("2001:db8:ff::1"),
		IDSeed:   1,
	}
}

func benchCases() []benchCase {
	const c6, s6, c4, s4 = "2001:db8:6::10", "2001:db8:64::cb00:7105", "192.0.2.10", "203.0.113.5"
	ip6 := func(nh layers.IPProtocol) *layers.IPv6 { return xlattest.IPv6(c6, s6, nh) }
	ip4 := func(p layers.IPProtocol) *layers.IPv4 { return xlattest.IPv4(s4, c4, p) }
	tcp6 := func() []byte {
		ip := ip6(layers.IPProtocolTCP)
		return xlattest.Serialize(ip, xlattest.TCP(40000, 80, ip), xlattest.Payload(1400))
	}
	udp6 := func(n int) []byte {
		ip := ip6(layers.IPProtocolUDP)
		return xlattest.Serialize(ip, xlattest.UDP(5000, 53, ip), xlattest.Payload(n))
	}
	tcp4 := func() []byte {
		ip := ip4(layers.IPProtocolTCP)
		return xlattest.Serialize(ip, xlattest.TCP(80, 40000, ip), xlattest.Payload(1400))
	}
	udp4 := func(n int) []byte {
		ip := ip4(layers.IPProtocolUDP)
		return xlattest.Serialize(ip, xlattest.UDP(53, 5000, ip), xlattest.Payload(n))
	}
	echo6 := func() []byte {
		ip := ip6(layers.IPProtocolICMPv6)
		return xlattest.Serialize(ip, xlattest.ICMPv6(128, 0, ip), &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}, xlattest.Payload(56))
	}
	echo4 := func() []byte {
		return xlattest.Serialize(ip4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 1, Seq: 1}, xlattest.Payload(56))
	}
	// An ICMPv6 port unreachable from s6 about a datagram c6 sent, and
	// its ICMPv4 counterpart.
	err6 := func() []byte {
		ip := xlattest.IPv6(s6, c6, layers.IPProtocolICMPv6)
		body := append([]byte{0, 0, 0, 0}, udp6(64)...)
		return xlattest.Serialize(ip, xlattest.ICMPv6(1, 4, ip), gopacket.Payload(body))
	}
	err4 := func() []byte {
		q := xlattest.IPv4(c4, s4, layers.IPProtocolUDP)
		quoted := xlattest.Serialize(q, xlattest.UDP(5000, 53, q), xlattest.Payload(64))
		return xlattest.Serialize(ip4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(quoted))
	}
	return []benchCase{
		{"TCP/6to4", xlat.Side6, tcp6()},
		{"TCP/4to6", xlat.Side4, tcp4()},
		{"UDP/6to4", xlat.Side6, udp6(64)},
		{"UDP/4to6", xlat.Side4, udp4(64)},
		{"ICMPEcho/6to4", xlat.Side6, echo6()},
		{"ICMPEcho/4to6", xlat.Side4, echo4()},
		{"ICMPError/6to4", xlat.Side6, err6()},
		{"ICMPError/4to6", xlat.Side4, err4()},
	}
}

// translateOnce restores the headers the last translation rewrote and
// translates the packet again. Translation only writes the first bytes of
// a packet (headers and the transport checksum: the first 64 bytes; the
// quoted packet too in ICMP errors: 192), so restoring them resets it
// without copying the payload on every iteration.
func translateOnce(tr *xlat.Translator, buf, pkt []byte, side xlat.Side, now time.Time) xlat.Verdict {
	dirty := 64
	if t := pkt[0] >> 4; t == 6 && pkt[6] == 58 && pkt[40] < 128 || t == 4 && pkt[9] == 1 && pkt[20] != 0 && pkt[20] != 8 {
		dirty = 192 // an ICMP error
	}
	copy(buf[xlat.Headroom:], pkt[:min(len(pkt), dirty)])
	return tr.Translate(buf, xlat.Headroom, len(pkt), side, now)
}

// aclBenchOptions are benchOptions with access control: the client's /64
// among a few client prefixes, and the private networks denied, which the
// server is outside of.
func aclBenchOptions() xlat.Options {
	o := benchOptions()
	for _, p := range []string{"2001:db8:2::/48", "2001:db8:4::/48", "2001:db8:6::/64", "2001:db8:8::/48", "2001:db8:a::/48"} {
		o.Clients = append(o.Clients, netip.MustParsePrefix(p))
	}
	for _, p := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "198.51.100.0/24"} {
		o.Denylist4 = append(o.Denylist4, netip.MustParsePrefix(p))
	}
	return o
}

// aclBenchCases are benchCases for aclBenchOptions, but for the ICMPv6
// error: one the client sends (port unreachable about a datagram of the
// server), since benchCases' quotes a packet to the prefix, which is no
// client, and is refused.
func aclBenchCases() []benchCase {
	const c6, s6 = "2001:db8:6::10", "2001:db8:64::cb00:7105"
	cs := benchCases()
	q := xlattest.IPv6(s6, c6, layers.IPProtocolUDP)
	body := append([]byte{0, 0, 0, 0}, xlattest.Serialize(q, xlattest.UDP(53, 5000, q), xlattest.Payload(64))...)
	ip := xlattest.IPv6(c6, s6, layers.IPProtocolICMPv6)
	for i := range cs {
		if cs[i].name == "ICMPError/6to4" {
			cs[i].pkt = xlattest.Serialize(ip, xlattest.ICMPv6(1, 4, ip), gopacket.Payload(body))
		}
	}
	return cs
}

func BenchmarkTranslate(b *testing.B) { benchTranslate(b, benchOptions(), benchCases()) }

// BenchmarkTranslateACL is BenchmarkTranslate with clients and denylist4
// set: every packet is looked up in both.
func BenchmarkTranslateACL(b *testing.B) { benchTranslate(b, aclBenchOptions(), aclBenchCases()) }

func benchTranslate(b *testing.B, o xlat.Options, cases []benchCase) {
	tr, err := xlat.New(o)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1, 0)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, xlat.Headroom+len(bc.pkt)+xlat.Tailroom)
			copy(buf[xlat.Headroom:], bc.pkt)
			if v := translateOnce(tr, buf, bc.pkt, bc.side, now); v.Action() != xlat.Forward {
				b.Fatalf("verdict %+v", v)
			}
			b.SetBytes(int64(len(bc.pkt)))
			b.ReportAllocs()
			for b.Loop() {
				translateOnce(tr, buf, bc.pkt, bc.side, now)
			}
		})
	}
}

// TestTranslateNoAllocs requires every translation path, the translator's
// own errors and fragmentation to allocate nothing.
func TestTranslateNoAllocs(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testNoAllocs(t, benchOptions(), benchCases()) })
	// With access control: the lookups, and a refusal answered with
	// ICMPv6 1/1.
	ip := xlattest.IPv6("2001:db8:7::10", "2001:db8:64::cb00:7105", layers.IPProtocolUDP)
	refused := xlattest.Serialize(ip, xlattest.UDP(5000, 53, ip), xlattest.Payload(64))
	t.Run("acl", func(t *testing.T) {
		testNoAllocs(t, aclBenchOptions(), append(aclBenchCases(), benchCase{"Refused/6to6", xlat.Side6, refused}))
	})
}

func testNoAllocs(t *testing.T, o xlat.Options, cases []benchCase) {
	tr, err := xlat.New(o)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1, 0)
	// Hop limit exceeded: an ICMPv6 error built by the translator.
	hl := append([]byte(nil), cases[2].pkt...)
	hl[7] = 1
	cases = append(cases, benchCase{"OwnError/6to6", xlat.Side6, hl})
	// DF=0 and too big for lowest-ipv6-mtu: split into fragments.
	big := append([]byte(nil), cases[1].pkt...)
	binary.BigEndian.PutUint16(big[6:], 0)
	big[10], big[11] = 0, 0
	var s uint32
	for i := 0; i < 20; i += 2 {
		s += uint32(binary.BigEndian.Uint16(big[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(big[10:], ^uint16(s))
	cases = append(cases, benchCase{"Fragment/4to6", xlat.Side4, big})
	frag := make([]byte, 2048)
	for _, bc := range cases {
		buf := make([]byte, xlat.Headroom+len(bc.pkt)+xlat.Tailroom)
		copy(buf[xlat.Headroom:], bc.pkt)
		allocs := testing.AllocsPerRun(100, func() {
			now = now.Add(time.Millisecond) // stay under the ICMP error rate limit
			copy(buf[xlat.Headroom:], bc.pkt)
			v := tr.Translate(buf, xlat.Headroom, len(bc.pkt), bc.side, now)
			if v.Action() == xlat.Drop {
				t.Fatalf("%s: dropped: %v", bc.name, v.Reason())
			}
			if v.FragSize > 0 {
				out := buf[v.Off : v.Off+v.Len]
				for i := 0; i < xlat.Fragments(out, v.FragSize); i++ {
					xlat.WriteFragment(frag, out, v.FragSize, i)
				}
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per packet, want 0", bc.name, allocs)
		}
	}
}

// TestMappingCache translates a sequence of packets whose addresses repeat,
// change and fail to map, with one Translator (whose last mappings are
// cached) and with a fresh one per packet: the verdicts and the packets
// must be the same, but for the IPv4 Identification and header checksum.
func TestMappingCache(t *testing.T) {
	opts := benchOptions()
	opts.EAM = append(opts.EAM, xlat.EAM{V4: netip.MustParsePrefix("198.51.100.0/24"), V6: netip.MustParsePrefix("2001:db8:7::/120")})
	udp6 := func(src, dst string) benchCase {
		ip := xlattest.IPv6(src, dst, layers.IPProtocolUDP)
		return benchCase{"6to4 " + src + " " + dst, xlat.Side6, xlattest.Serialize(ip, xlattest.UDP(5000, 53, ip), xlattest.Payload(16))}
	}
	udp4 := func(src, dst string) benchCase {
		ip := xlattest.IPv4(src, dst, layers.IPProtocolUDP)
		return benchCase{"4to6 " + src + " " + dst, xlat.Side4, xlattest.Serialize(ip, xlattest.UDP(53, 5000, ip), xlattest.Payload(16))}
	}
	seq := []benchCase{
		udp6("2001:db8:6::10", "2001:db8:64::cb00:7105"),
		udp6("2001:db8:6::10", "2001:db8:64::cb00:7105"),
		udp6("2001:db8:7::5", "2001:db8:64::cb00:7105"),
		udp6("2001:db8:99::1", "2001:db8:64::cb00:7105"), // no mapping for the source
		udp6("2001:db8:99::1", "2001:db8:64::cb00:7105"),
		udp6("2001:db8:6::10", "2001:db8:64::7f00:1"), // loopback behind the prefix
		udp6("2001:db8:6::10", "2001:db8:64::7f00:1"),
		udp6("2001:db8:6::10", "2001:db8:7::9"),
		udp6("2001:db8:6::10", "2001:db8:64::c633:6409"), // hairpinned: 198.51.100.9 is an EAM address
		udp4("192.0.2.10", "198.51.100.7"),
		udp6("2001:db8:7::9", "2001:db8:64::cb00:7105"),
		udp4("203.0.113.5", "192.0.2.10"),
		udp4("203.0.113.5", "192.0.2.10"),
		udp4("203.0.113.5", "198.51.100.7"),
		udp4("198.51.100.7", "192.0.2.10"),
		udp4("203.0.113.5", "192.0.2.11"), // no EAM for the destination
		udp4("203.0.113.5", "192.0.2.11"),
		udp4("127.0.0.1", "192.0.2.10"),
		udp4("127.0.0.1", "192.0.2.10"),
		udp4("203.0.113.5", "192.0.2.10"),
	}
	cached, err := xlat.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1, 0)
	for i, bc := range seq {
		fresh, err := xlat.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		var out [2][]byte
		var vs [2]xlat.Verdict
		for j, tr := range []*xlat.Translator{cached, fresh} {
			buf := make([]byte, xlat.Headroom+len(bc.pkt)+xlat.Tailroom)
			copy(buf[xlat.Headroom:], bc.pkt)
			vs[j] = tr.Translate(buf, xlat.Headroom, len(bc.pkt), bc.side, now)
			out[j] = buf[vs[j].Off : vs[j].Off+vs[j].Len]
			if vs[j].Action() != xlat.Drop && out[j][0]>>4 == 4 {
				copy(out[j][4:6], []byte{0, 0})
				copy(out[j][10:12], []byte{0, 0})
			}
		}
		if vs[0].Action() != vs[1].Action() || vs[0].Reason() != vs[1].Reason() || string(out[0]) != string(out[1]) {
			t.Errorf("packet %d (%s): cached %v/%v %x, fresh %v/%v %x", i, bc.name, vs[0].Action(), vs[0].Reason(), out[0], vs[1].Action(), vs[1].Reason(), out[1])
		}
		now = now.Add(time.Second) // stay under the ICMP error rate limit
	}
}
