package xlat

import (
	"time"

	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// TestPool6RFC6052Examples checks the examples of RFC 6052 §2.4, both ways.
func TestPool6RFC6052Examples(t *testing.T) {
	v4 := u32(t, "192.0.2.33")
	for _, tc := range []struct{ prefix, want string }{
		{"2001:db8::/32", "2001:db8:c000:221::"},
		{"2001:db8:100::/40", "2001:db8:1c0:2:21::"},
		{"2001:db8:122::/48", "2001:db8:122:c000:2:2100::"},
		{"2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"},
		{"2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"},
		{"2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"},
		{"64:ff9b::/96", "64:ff9b::192.0.2.33"},
	} {
		t.Run(tc.prefix, func(t *testing.T) {
			p, err := newPool6(netip.MustParsePrefix(tc.prefix))
			if err != nil {
				t.Fatal(err)
			}
			got := p.embed(v4)
			if got.addr6() != netip.MustParseAddr(tc.want) {
				t.Fatalf("embed = %v, want %v", got.addr6(), tc.want)
			}
			if !p.contains(got) {
				t.Fatalf("prefix does not contain %v", tc.want)
			}
			if back := p.extract(got); back != v4 {
				t.Fatalf("extract = %v, want 192.0.2.33", addr4(back))
			}
			// Suffix and u-octet bits are ignored on extraction.
			dirty := got
			if p.bits != 96 {
				dirty.lo |= 0x5a<<56 | 1
			}
			if back := p.extract(dirty); back != v4 {
				t.Fatalf("extract with suffix bits = %v", addr4(back))
			}
		})
	}
}

func TestPool6Rejects(t *testing.T) {
	for _, s := range []string{"2001:db8::/33", "2001:db8::/128", "192.0.2.0/24", "2001:db8::1/96", "2001:db8:0:0:ff00::/64"} {
		if _, err := newPool6(netip.MustParsePrefix(s)); err == nil {
			t.Errorf("newPool6(%s) accepted", s)
		}
	}
	p, _ := newPool6(netip.MustParsePrefix("64:ff9b:1::/48"))
	if p.wkp {
		t.Errorf("64:ff9b:1::/48 (RFC 8215) taken for the Well-Known Prefix")
	}
	p, _ = newPool6(netip.MustParsePrefix("64:ff9b::/96"))
	if !p.wkp {
		t.Errorf("64:ff9b::/96 not taken for the Well-Known Prefix")
	}
}

func TestSpecialRanges(t *testing.T) {
	for _, tc := range []struct {
		addr                string
		reserved, nonGlobal bool
	}{
		{"0.0.0.1", true, true},
		{"10.1.2.3", false, true},
		{"100.64.0.1", false, true},
		{"100.128.0.1", false, false},
		{"127.0.0.1", true, true},
		{"169.254.1.1", true, true},
		{"172.16.0.1", false, true},
		{"172.32.0.1", false, false},
		{"192.0.0.7", false, true},
		{"192.0.0.9", false, false},
		{"192.0.0.10", false, false},
		{"192.0.0.170", false, true},
		{"192.0.2.1", false, true},
		{"192.88.99.1", false, false},
		{"192.168.1.1", false, true},
		{"198.18.0.1", false, true},
		{"198.19.255.255", false, true},
		{"198.20.0.1", false, false},
		{"198.51.100.1", false, true},
		{"203.0.113.1", false, true},
		{"224.0.0.1", true, false},
		{"239.255.255.255", true, false},
		{"240.0.0.1", false, true},
		{"255.255.255.255", true, true},
		{"8.8.8.8", false, false},
	} {
		a := u32(t, tc.addr)
		if got := reserved4(a); got != tc.reserved {
			t.Errorf("reserved4(%s) = %v", tc.addr, got)
		}
		if got := nonGlobal4(a); got != tc.nonGlobal && !tc.reserved {
			t.Errorf("nonGlobal4(%s) = %v", tc.addr, got)
		}
	}
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"::", true}, {"::1", true}, {"::ffff:192.0.2.1", true}, {"fe80::1", true}, {"febf::1", true},
		{"fec0::1", false}, {"ff02::1", true}, {"64:ff9b::1", false}, {"64:ff9b:1::1", false}, {"2001:db8::1", false},
	} {
		if got := reserved6(u6(t, tc.addr)); got != tc.want {
			t.Errorf("reserved6(%s) = %v", tc.addr, got)
		}
	}
}

func mustEAM(t testing.TB, pairs ...string) eamTable {
	t.Helper()
	var es []EAM
	for i := 0; i < len(pairs); i += 2 {
		es = append(es, EAM{netip.MustParsePrefix(pairs[i]), netip.MustParsePrefix(pairs[i+1])})
	}
	tab, err := newEAMTable(es)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestEAMLongestPrefixMatch(t *testing.T) {
	tab := mustEAM(t,
		"192.0.2.0/24", "2001:db8:aaaa::/120",
		"192.0.2.128/25", "2001:db8:bbbb::/121",
		"192.0.2.200/32", "2001:db8:cccc::1/128",
		"198.51.100.0/24", "2001:db8:1c6:3364::/72", // RFC 7757 §3.2: suffix follows the prefix
	)
	for _, tc := range []struct{ v4, v6 string }{
		{"192.0.2.1", "2001:db8:aaaa::1"},
		{"192.0.2.127", "2001:db8:aaaa::7f"},
		{"192.0.2.128", "2001:db8:bbbb::"},
		{"192.0.2.199", "2001:db8:bbbb::47"},
		{"192.0.2.200", "2001:db8:cccc::1"},
		{"192.0.2.201", "2001:db8:bbbb::49"},
		{"198.51.100.2", "2001:db8:1c6:3364:2::"},
	} {
		v4 := u32(t, tc.v4)
		got, ok := tab.to6(v4)
		if !ok || got.addr6() != netip.MustParseAddr(tc.v6) {
			t.Errorf("to6(%s) = %v %v, want %s", tc.v4, got.addr6(), ok, tc.v6)
		}
		back, ok := tab.to4(u6(t, tc.v6))
		if !ok || back != v4 {
			t.Errorf("to4(%s) = %v %v, want %s", tc.v6, addr4(back), ok, tc.v4)
		}
	}
	for _, miss := range []string{"192.0.1.255", "192.0.3.0", "10.0.0.1"} {
		if _, ok := tab.to6(u32(t, miss)); ok {
			t.Errorf("to6(%s) matched", miss)
		}
	}
}

func TestEAMRejects(t *testing.T) {
	for _, tc := range [][2]string{
		{"192.0.2.0/24", "2001:db8::/128"},     // IPv4 suffix longer than IPv6 suffix
		{"192.0.2.1/24", "2001:db8::/120"},     // host bits
		{"2001:db8::/120", "2001:db8::/120"},   // not IPv4
		{"192.0.2.0/24", "::ffff:0.0.0.0/120"}, // IPv4-mapped
	} {
		_, err := newEAMTable([]EAM{{netip.MustParsePrefix(tc[0]), netip.MustParsePrefix(tc[1])}})
		if err == nil {
			t.Errorf("EAM %s %s accepted", tc[0], tc[1])
		}
	}
	_, err := newEAMTable([]EAM{
		{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/120")},
		{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:1::/120")},
	})
	if err == nil {
		t.Errorf("duplicate IPv4 prefix accepted")
	}
}

// TestLPMAgainstBruteForce compares the sorted-array LPM with a linear scan
// over random nested and disjoint IPv4 prefixes.
func TestLPMAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 50; round++ {
		var es []lpmEntry
		seen := map[netip.Prefix]bool{}
		for len(es) < 40 {
			bits := 8 + r.IntN(25)
			a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
			p := netip.PrefixFrom(a, bits).Masked()
			if seen[p] {
				continue
			}
			seen[p] = true
			first := u128From4(p.Addr().As4())
			es = append(es, lpmEntry{first, first.or(hostMask(32 - bits)), int32(len(es))})
		}
		ref := append([]lpmEntry(nil), es...)
		tab := newLPM(es)
		for q := 0; q < 2000; q++ {
			x := u128From4([4]byte{10, byte(r.IntN(5)), byte(r.IntN(256)), byte(r.IntN(256))})
			want, wantSize := int32(-1), u128{^uint64(0), ^uint64(0)}
			for _, e := range ref {
				if e.first.cmp(x) <= 0 && x.cmp(e.last) <= 0 {
					if size := (u128{e.last.hi - e.first.hi, e.last.lo - e.first.lo}); size.cmp(wantSize) < 0 {
						want, wantSize = e.value, size
					}
				}
			}
			if got := tab.lookup(x); got != want {
				t.Fatalf("round %d: lookup(%v) = %d, want %d", round, addr4(uint32(x.lo)), got, want)
			}
		}
	}
}

func u32(t testing.TB, s string) uint32 {
	t.Helper()
	a := netip.MustParseAddr(s).As4()
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func u6(t testing.TB, s string) u128 {
	t.Helper()
	a := netip.MustParseAddr(s).As16()
	return u128From16(&a)
}

// TestUnreachable answers a translated packet whose IPv4 next hop did not
// answer: the IPv6 sender gets ICMPv6 1/3 (address unreachable, as a
// router says) about its own packet, with a valid checksum.
func TestUnreachable(t *testing.T) {
	tr, err := New(Options{
		Prefix:   netip.MustParsePrefix("64:ff9b::/96"),
		EAM:      []EAM{{V4: netip.MustParsePrefix("192.0.2.10/32"), V6: netip.MustParsePrefix("2001:db8:6::10/128")}},
		IPv4Addr: netip.MustParseAddr("192.0.2.1"), AllowNonGlobalWKP: true, IDSeed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	// An IPv4 UDP packet from 192.0.2.10 (the IPv6 client) to 192.0.2.2.
	pkt := []byte{0x45, 0, 0, 28, 0, 1, 0, 0, 63, 17, 0, 0, 192, 0, 2, 10, 192, 0, 2, 2, 0x13, 0x88, 0, 53, 0, 8, 0, 0}
	ck := ^header.Fold(header.Sum(pkt[:20], 0))
	pkt[10], pkt[11] = byte(ck>>8), byte(ck)
	b := make([]byte, 512)
	copy(b[256:], pkt)
	v := tr.Unreachable(b, 256, len(pkt), Side4, time.Unix(1, 0))
	if v.Action() != Forward || v.Side() != Side6 || v.Reason() != ReasonNeighbor {
		t.Fatalf("verdict %v %v %v", v.Action(), v.Side(), v.Reason())
	}
	out := b[v.Off : v.Off+v.Len]
	if out[40] != 1 || out[41] != 3 || get6(out[24:]).addr6() != netip.MustParseAddr("2001:db8:6::10") {
		t.Fatalf("ICMPv6 %d/%d to %v", out[40], out[41], get6(out[24:]).addr6())
	}
	if err := xlattest.Check(out, false); err != nil {
		t.Fatal(err)
	}
}
