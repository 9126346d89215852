package xlat_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// siitReasmOptions is a SIIT translator whose EAM maps cli to cli4.
func siitReasmOptions() xlat.Options {
	return xlat.Options{Prefix: netip.MustParsePrefix("64:ff9b::/96"), AllowNonGlobalWKP: true, IPv4Addr: netip.MustParseAddr("203.0.113.1"),
		IPv6Addr: netip.MustParseAddr("2001:db8:ff::1"), IDSeed: 1, Reassemble: true,
		EAM: []xlat.EAM{{V4: netip.MustParsePrefix(cli4 + "/32"), V6: netip.MustParsePrefix(cli + "/128")}}}
}

const cli4 = "192.0.2.10" // cli's EAM address in SIIT

// udp4Of is a UDP datagram of n data bytes, DF clear.
func udp4Of(src, dst string, n int) []byte {
	ip := xlattest.IPv4(src, dst, layers.IPProtocolUDP)
	ip.Id = 99
	return xlattest.Serialize(ip, xlattest.UDP(4000, 53, ip), xlattest.Payload(n))
}

// udp6Of is a UDP datagram of n data bytes behind an atomic Fragment
// header.
func udp6Of(src, dst string, n int) []byte {
	ip := xlattest.IPv6(src, dst, layers.IPProtocolIPv6Fragment)
	fh := &layers.IPv6Fragment{NextHeader: layers.IPProtocolUDP, Identification: 99}
	return xlattest.Serialize(ip, fh, xlattest.UDP(4000, 53, ip), xlattest.Payload(n))
}

// TestTranslateFragments: with Options.Reassemble, ICMP fragments (first
// or not) and, in NAT64, all fragments are handed back for reassembly,
// unchanged; SIIT keeps translating other fragments one by one. Without
// it, nothing changes.
func TestTranslateFragments(t *testing.T) {
	nat := natOptions()
	nat.Reassemble = true
	siitOff := siitReasmOptions()
	siitOff.Reassemble = false
	e4, e6 := echo4(srv4, cli4, 5, 3000), echo6(cli, srv6, 5, 3000)
	n4, n6 := echo4(srv4, pub, 5, 3000), echo6(cli, srv6, 5, 3000)
	u4, u6 := udp4Of(srv4, cli4, 3000), udp6Of(cli, srv6, 3000)
	nu4 := udp4Of(srv4, pub, 3000)
	for _, tc := range []struct {
		name   string
		opts   xlat.Options
		side   xlat.Side
		pkt    []byte
		action xlat.Action
		reason xlat.Reason
	}{
		{"SIIT ICMPv4 first", siitReasmOptions(), xlat.Side4, fragOf(e4, 0, 1480), xlat.Reassemble, xlat.ReasonNone},
		{"SIIT ICMPv4 middle", siitReasmOptions(), xlat.Side4, fragOf(e4, 1480, 2960), xlat.Reassemble, xlat.ReasonNone},
		{"SIIT ICMPv4 last", siitReasmOptions(), xlat.Side4, fragOf(e4, 2960, 3008), xlat.Reassemble, xlat.ReasonNone},
		{"SIIT ICMPv6 first", siitReasmOptions(), xlat.Side6, fragOf(e6, 0, 1232), xlat.Reassemble, xlat.ReasonNone},
		{"SIIT ICMPv6 last", siitReasmOptions(), xlat.Side6, fragOf(e6, 2464, 3008), xlat.Reassemble, xlat.ReasonNone},
		{"SIIT UDPv4 first", siitReasmOptions(), xlat.Side4, fragOf(u4, 0, 1480), xlat.Forward, xlat.ReasonNone},
		{"SIIT UDPv4 last", siitReasmOptions(), xlat.Side4, fragOf(u4, 2960, 3008), xlat.Forward, xlat.ReasonNone},
		{"SIIT UDPv6 last", siitReasmOptions(), xlat.Side6, fragOf(u6, 2464, 3008), xlat.Forward, xlat.ReasonNone},
		{"SIIT ICMPv4 whole", siitReasmOptions(), xlat.Side4, echo4(srv4, cli4, 5, 1000), xlat.Forward, xlat.ReasonNone},
		{"SIIT ICMPv6 atomic", siitReasmOptions(), xlat.Side6, echo6(cli, srv6, 5, 1000), xlat.Forward, xlat.ReasonNone},
		{"NAT64 ICMPv6 first", nat, xlat.Side6, fragOf(n6, 0, 1232), xlat.Reassemble, xlat.ReasonNone},
		{"NAT64 ICMPv4 last", nat, xlat.Side4, fragOf(n4, 2960, 3008), xlat.Reassemble, xlat.ReasonNone},
		{"NAT64 UDPv6 last", nat, xlat.Side6, fragOf(u6, 2464, 3008), xlat.Reassemble, xlat.ReasonNone},
		{"NAT64 UDPv4 first", nat, xlat.Side4, fragOf(nu4, 0, 1480), xlat.Reassemble, xlat.ReasonNone},
		{"NAT64 UDPv4 to no pool4 address", nat, xlat.Side4, fragOf(u4, 0, 1480), xlat.Drop, xlat.ReasonNoRoute4},
		{"off: SIIT ICMPv4 first", siitOff, xlat.Side4, fragOf(e4, 0, 1480), xlat.Drop, xlat.ReasonFragmentedICMP},
		{"off: SIIT ICMPv6 first", siitOff, xlat.Side6, fragOf(e6, 0, 1232), xlat.Drop, xlat.ReasonFragmentedICMP},
		{"off: NAT64 UDPv6 last", natOptions(), xlat.Side6, fragOf(u6, 2464, 3008), xlat.Drop, xlat.ReasonFragmentNoSession},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := xlat.New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, xlat.Headroom+len(tc.pkt)+xlat.Tailroom)
			copy(b[xlat.Headroom:], tc.pkt)
			v := tr.Translate(b, xlat.Headroom, len(tc.pkt), tc.side, time.Unix(1_700_000_000, 0))
			if v.Action() != tc.action || v.Reason() != tc.reason {
				t.Fatalf("%v %v, want %v %v", v.Action(), v.Reason(), tc.action, tc.reason)
			}
			if v.Action() == xlat.Reassemble {
				if v.Side() != tc.side || v.Off != xlat.Headroom || string(b[v.Off:v.Off+v.Len]) != string(tc.pkt) {
					t.Fatalf("the fragment was not handed back as it came: side %v, at %d, %d bytes", v.Side(), v.Off, v.Len)
				}
			}
		})
	}
}

// TestTranslateReassembled: a reassembled datagram over the next hop's MTU
// is fragmented again on the way out, 6->4 to the IPv4 MTU (not answered
// with Packet Too Big) and 4->6 to the lowest IPv6 MTU, and a datagram
// that would not fit an IPv4 packet is dropped.
func TestTranslateReassembled(t *testing.T) {
	for _, tc := range []struct {
		name     string
		side     xlat.Side
		pkt      []byte
		action   xlat.Action
		reason   xlat.Reason
		fragSize int
	}{
		{"6to4 3000", xlat.Side6, echo6(cli, srv6, 5, 3000), xlat.Forward, xlat.ReasonNone, 1500},
		{"6to4 8000", xlat.Side6, echo6(cli, srv6, 5, 8000), xlat.Forward, xlat.ReasonNone, 1500},
		{"6to4 fits", xlat.Side6, echo6(cli, srv6, 5, 1000), xlat.Forward, xlat.ReasonNone, 0},
		{"6to4 UDP 8000", xlat.Side6, udp6Of(cli, srv6, 8000), xlat.Forward, xlat.ReasonNone, 1500},
		{"6to4 over 65535 in IPv4", xlat.Side6, echo6(cli, srv6, 5, 65527-8), xlat.Drop, xlat.ReasonFragmentBadOffsets, 0},
		{"4to6 3000", xlat.Side4, echo4(srv4, cli4, 5, 3000), xlat.Forward, xlat.ReasonNone, 1280},
		{"4to6 8000", xlat.Side4, echo4(srv4, cli4, 5, 8000), xlat.Forward, xlat.ReasonNone, 1280},
		{"4to6 fits", xlat.Side4, echo4(srv4, cli4, 5, 1000), xlat.Forward, xlat.ReasonNone, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := xlat.New(siitReasmOptions())
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, xlat.Headroom+len(tc.pkt)+xlat.Tailroom)
			copy(b[xlat.Headroom:], tc.pkt)
			v := tr.TranslateReassembled(b, xlat.Headroom, len(tc.pkt), tc.side, time.Unix(1_700_000_000, 0))
			if v.Action() != tc.action || v.Reason() != tc.reason || v.FragSize != tc.fragSize {
				t.Fatalf("%v %v frag %d, want %v %v frag %d", v.Action(), v.Reason(), v.FragSize, tc.action, tc.reason, tc.fragSize)
			}
			if v.Action() != xlat.Forward {
				return
			}
			out := b[v.Off : v.Off+v.Len]
			if err := xlattest.Check(out, false); err != nil {
				t.Fatalf("translated datagram: %v", err)
			}
			if out[0]>>4 == 4 && header.IPv4(out).DF() {
				t.Fatalf("a reassembled datagram left with DF set")
			}
			if v.FragSize == 0 {
				return
			}
			// Cut and put back together, the datagram is the same.
			r, err := xlat.NewReassembler(xlat.ReassemblyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]byte, xlat.MaxReassembled)
			frag := make([]byte, v.FragSize)
			nf := xlat.Fragments(out, v.FragSize)
			for i := range nf {
				m := xlat.WriteFragment(frag, out, v.FragSize, i)
				n, reason, _ := r.Add(frag[:m], dst, time.Unix(0, 0))
				if reason != xlat.ReasonNone || (n > 0) != (i == nf-1) {
					t.Fatalf("fragment %d of %d: %d %v", i, nf, n, reason)
				}
				if n > 0 {
					if err := xlattest.Check(dst[:n], false); err != nil {
						t.Fatalf("the fragments put back together: %v", err)
					}
				}
			}
		})
	}
}

// TestTranslateReassembledNAT64: a 3000-byte echo request reassembled and
// translated 6->4 opens its session; the reply, reassembled 4->6, reaches
// the host with its identifier back.
func TestTranslateReassembledNAT64(t *testing.T) {
	o := natOptions()
	o.Reassemble = true
	r := newRig(t, o)
	buf := make([]byte, xlat.Headroom+9000+xlat.Tailroom)
	req := echo6(cli, srv6, 5, 3000)
	copy(buf[xlat.Headroom:], req)
	v := r.tr.TranslateReassembled(buf, xlat.Headroom, len(req), xlat.Side6, r.now)
	if v.Action() != xlat.Forward || v.FragSize != 1500 {
		t.Fatalf("request: %v %v frag %d", v.Action(), v.Reason(), v.FragSize)
	}
	out := buf[v.Off : v.Off+v.Len]
	if err := xlattest.Check(out, false); err != nil {
		t.Fatal(err)
	}
	id := header.Port(out[20:], 4)
	ip := xlattest.IPv4(srv4, pub, layers.IPProtocolICMPv4)
	reply := xlattest.Serialize(ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: id, Seq: 5}, xlattest.Payload(3000))
	copy(buf[xlat.Headroom:], reply)
	v = r.tr.TranslateReassembled(buf, xlat.Headroom, len(reply), xlat.Side4, r.now)
	if v.Action() != xlat.Forward || v.FragSize != 1280 {
		t.Fatalf("reply: %v %v frag %d", v.Action(), v.Reason(), v.FragSize)
	}
	out = buf[v.Off : v.Off+v.Len]
	if err := xlattest.Check(out, false); err != nil {
		t.Fatal(err)
	}
	if dst := netip.AddrFrom16([16]byte(out[24:40])); dst != netip.MustParseAddr(cli) || header.Port(out[48:], 4) != 7 {
		t.Fatalf("reply to %v identifier %d", dst, header.Port(out[48:], 4))
	}
}
