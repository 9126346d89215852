package xlat

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestAddrSet checks the merging of ranges and the search on named shapes.
func TestAddrSet(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v4    bool
		ps    []string
		spans int
		in    []string
		notIn []string
	}{
		{"empty", true, nil, 0, nil, []string{"0.0.0.0", "255.255.255.255"}},
		{"one /24", true, []string{"198.51.100.0/24"}, 1, []string{"198.51.100.0", "198.51.100.255"}, []string{"198.51.99.255", "198.51.101.0"}},
		{"nested", true, []string{"10.0.0.0/8", "10.1.0.0/16"}, 1, []string{"10.1.2.3", "10.255.255.255"}, []string{"11.0.0.0", "9.255.255.255"}},
		{"adjacent merged", true, []string{"192.0.2.0/25", "192.0.2.128/25"}, 1, []string{"192.0.2.127", "192.0.2.128"}, []string{"192.0.3.0"}},
		{"disjoint", true, []string{"203.0.113.0/24", "10.0.0.0/8", "192.0.2.1/32"}, 3, []string{"192.0.2.1", "203.0.113.9", "10.0.0.0"}, []string{"192.0.2.0", "192.0.2.2", "100.64.0.1"}},
		{"everything", true, []string{"0.0.0.0/0", "10.0.0.0/8"}, 1, []string{"0.0.0.0", "255.255.255.255"}, nil},
		{"v6 adjacent across a /48", false, []string{"2001:db8:1::/64", "2001:db8:2::/64", "2001:db8:1::/48"}, 1, []string{"2001:db8:1::1", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", "2001:db8:2::1"}, []string{"2001:db8:2:1::1", "2001:db8::1"}},
		{"v6 all", false, []string{"::/0", "ffff::/16"}, 1, []string{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, nil},
		{"v6 high half", false, []string{"8000::/1", "::1/128"}, 2, []string{"8000::", "::1", "ffff::"}, []string{"::2", "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ps []netip.Prefix
			for _, p := range tc.ps {
				ps = append(ps, netip.MustParsePrefix(p))
			}
			s, err := newAddrSet(ps, tc.v4, "test")
			if err != nil {
				t.Fatal(err)
			}
			if len(s.spans) != tc.spans {
				t.Errorf("%d ranges, want %d: %v", len(s.spans), tc.spans, s.spans)
			}
			for _, list := range []struct {
				as   []string
				want bool
			}{{tc.in, true}, {tc.notIn, false}} {
				for _, a := range list.as {
					x := setAddr(netip.MustParseAddr(a))
					if got := !s.empty() && s.contains(x); got != list.want {
						t.Errorf("contains(%s) = %v", a, got)
					}
				}
			}
		})
	}
}

func setAddr(a netip.Addr) u128 {
	if a.Is4() {
		return u128From4(a.As4())
	}
	a16 := a.As16()
	return u128From16(&a16)
}

// TestAddrSetAgainstBruteForce compares the set with a linear scan of its
// prefixes, over random nested, overlapping and adjacent IPv4 prefixes.
func TestAddrSetAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 200; round++ {
		var ps []netip.Prefix
		for range 1 + r.IntN(12) {
			a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
			ps = append(ps, netip.PrefixFrom(a, 12+r.IntN(21)).Masked())
		}
		s, err := newAddrSet(ps, true, "test")
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(s.spans); i++ {
			if s.spans[i].first.cmp(s.spans[i-1].last.inc()) <= 0 {
				t.Fatalf("round %d: ranges %d and %d touch: %v", round, i-1, i, s.spans)
			}
		}
		for range 500 {
			a := netip.AddrFrom4([4]byte{10, byte(r.IntN(5)), byte(r.IntN(256)), byte(r.IntN(256))})
			want := false
			for _, p := range ps {
				want = want || p.Contains(a)
			}
			if got := s.contains(setAddr(a)); got != want {
				t.Fatalf("round %d: contains(%v) = %v, want %v; prefixes %v", round, a, got, want, ps)
			}
		}
	}
}
