package xlat_test

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// TestTranslateGSO: a TCP super-frame bigger than the MTU is answered with
// Packet Too Big / Fragmentation Needed by Translate, and translated whole,
// without a Fragment header, by TranslateGSO.
func TestTranslateGSO(t *testing.T) {
	tr, err := xlat.New(benchOptions())
	if err != nil {
		t.Fatal(err)
	}
	const c6, s6, c4, s4 = "2001:db8:6::10", "2001:db8:64::cb00:7105", "192.0.2.10", "203.0.113.5"
	ip6 := xlattest.IPv6(c6, s6, layers.IPProtocolTCP)
	big6 := xlattest.Serialize(ip6, xlattest.TCP(40000, 80, ip6), xlattest.Payload(20000))
	ip4 := xlattest.IPv4(s4, c4, layers.IPProtocolTCP)
	ip4.Flags = layers.IPv4DontFragment
	big4 := xlattest.Serialize(ip4, xlattest.TCP(80, 40000, ip4), xlattest.Payload(20000))
	now := time.Unix(1, 0)
	for _, tc := range []struct {
		name      string
		side      xlat.Side
		pkt       []byte
		wantLen   int
		tooBigFor xlat.Reason
	}{
		{"6to4", xlat.Side6, big6, len(big6) - 20, xlat.ReasonTooBig},
		{"4to6", xlat.Side4, big4, len(big4) + 20, xlat.ReasonTooBig},
	} {
		buf := make([]byte, xlat.Headroom+len(tc.pkt)+xlat.Tailroom)
		copy(buf[xlat.Headroom:], tc.pkt)
		if v := tr.Translate(buf, xlat.Headroom, len(tc.pkt), tc.side, now); v.Action() != xlat.Reply || v.Reason() != tc.tooBigFor {
			t.Errorf("%s: Translate: %v %v, want a %v reply", tc.name, v.Action(), v.Reason(), tc.tooBigFor)
		}
		copy(buf[xlat.Headroom:], tc.pkt)
		v := tr.TranslateGSO(buf, xlat.Headroom, len(tc.pkt), tc.side, now)
		if v.Action() != xlat.Forward || v.Len != tc.wantLen || v.FragSize != 0 {
			t.Fatalf("%s: TranslateGSO: %v %v len %d frag %d, want forward, len %d", tc.name, v.Action(), v.Reason(), v.Len, v.FragSize, tc.wantLen)
		}
		out := buf[v.Off : v.Off+v.Len]
		if tc.side == xlat.Side6 {
			if ip := header.IPv4(out); int(ip.TotalLength()) != len(out) || ip.Protocol() != header.ProtoTCP {
				t.Errorf("%s: IPv4 total %d protocol %d", tc.name, ip.TotalLength(), ip.Protocol())
			}
		} else if ip := header.IPv6(out); ip.PayloadLength()+40 != len(out) || ip.NextHeader() != header.ProtoTCP {
			t.Errorf("%s: IPv6 payload %d next header %d (a Fragment header?)", tc.name, ip.PayloadLength(), ip.NextHeader())
		}
		// The next ordinary packet is checked against the MTU again.
		copy(buf[xlat.Headroom:], tc.pkt)
		if v := tr.Translate(buf, xlat.Headroom, len(tc.pkt), tc.side, now); v.Action() != xlat.Reply {
			t.Errorf("%s: Translate after TranslateGSO: %v", tc.name, v.Action())
		}
	}
}
