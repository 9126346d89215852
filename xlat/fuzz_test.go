package xlat_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// fuzzOptions exercise most features at once: a prefix, nested EAMs,
// RFC 6791 pools, a small IPv4 MTU, checksum calculation, and a dynamic
// pool that unmapped sources fill.
func fuzzOptions() xlat.Options {
	return xlat.Options{
		Prefix: netip.MustParsePrefix("2001:db8:64::/96"),
		EAM: []xlat.EAM{
			{V4: netip.MustParsePrefix("192.0.2.10/32"), V6: netip.MustParsePrefix("2001:db8:6::10/128")},
			{V4: netip.MustParsePrefix("198.51.100.0/24"), V6: netip.MustParsePrefix("2001:db8:46::/120")},
			{V4: netip.MustParsePrefix("198.51.100.128/25"), V6: netip.MustParsePrefix("2001:db8:47::/72")},
		},
		IPv4Addr:        netip.MustParseAddr("192.0.2.1"),
		IPv6Addr:        netip.MustParseAddr("2001:db8:ff::1"),
		MTU4:            1400,
		RFC6791v4:       netip.MustParsePrefix("203.0.113.200/30"),
		RFC6791v6:       netip.MustParsePrefix("2001:db8:6791::/120"),
		UDPZeroChecksum: xlat.UDPZeroCalculate,
		DynamicPool:     netip.MustParsePrefix("198.18.0.0/28"),
		IDSeed:          1,
	}
}

// seeds adds every golden input of the given IP version to f.
func seeds(f *testing.F, version byte) {
	files, _ := filepath.Glob("../testdata/golden/*.in.pcap")
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			f.Fatal(err)
		}
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			f.Fatal(err)
		}
		for {
			data, _, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Fatal(err)
			}
			if len(data) > 0 && data[0]>>4 == version {
				f.Add(data)
			}
		}
		fh.Close()
	}
}

// checkVerdict runs one packet through t and checks the properties every
// output must have: it lies inside the buffer, parses in gopacket, its
// lengths agree and its checksums verify (transport checksums only if the
// input's did).
func checkVerdict(t *testing.T, tr *xlat.Translator, data []byte, from xlat.Side) (xlat.Verdict, []byte) {
	t.Helper()
	return checkVerdictAt(t, tr, data, from, time.Unix(1, 0))
}

// checkVerdictAt is checkVerdict at time now.
func checkVerdictAt(t *testing.T, tr *xlat.Translator, data []byte, from xlat.Side, now time.Time) (xlat.Verdict, []byte) {
	t.Helper()
	if len(data) > 65535 {
		return xlat.Verdict{}, nil
	}
	buf := make([]byte, xlat.Headroom+len(data)+xlat.Tailroom)
	copy(buf[xlat.Headroom:], data)
	inputOK := xlattest.Check(data, false) == nil
	v := tr.Translate(buf, xlat.Headroom, len(data), from, now)
	switch v.Action() {
	case xlat.Drop:
		if v.Reason() == xlat.ReasonNone || v.Reason() >= xlat.NumReasons {
			t.Fatalf("drop with reason %d", v.Reason())
		}
		return v, nil
	case xlat.Forward, xlat.Reply:
	default:
		t.Fatalf("action %v", v.Action())
	}
	if v.Off < 0 || v.Len <= 0 || v.Off+v.Len > len(buf) {
		t.Fatalf("verdict %+v outside the %d-byte buffer", v, len(buf))
	}
	out := buf[v.Off : v.Off+v.Len]
	if v.FragSize == 0 {
		if err := xlattest.Check(out, !inputOK); err != nil {
			t.Fatalf("%v output does not check: %v\nin  %x\nout %x", v.Action(), err, data, out)
		}
		return v, out
	}
	n := xlat.Fragments(out, v.FragSize)
	if n < 2 {
		t.Fatalf("FragSize %d but %d fragment(s)", v.FragSize, n)
	}
	frag := make([]byte, v.FragSize)
	for i := 0; i < n; i++ {
		m := xlat.WriteFragment(frag, out, v.FragSize, i)
		if m == 0 || m > v.FragSize {
			t.Fatalf("fragment %d: %d bytes, limit %d", i, m, v.FragSize)
		}
		if err := xlattest.Check(frag[:m], true); err != nil {
			t.Fatalf("fragment %d does not check: %v", i, err)
		}
	}
	return v, out
}

func FuzzTranslate6to4(f *testing.F) {
	seeds(f, 6)
	f.Add(xlattest.Serialize(xlattest.IPv6("2001:db8:6::10", "2001:db8:64::cb00:7105", layers.IPProtocolNoNextHeader)))
	tr, err := xlat.New(fuzzOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 0 && data[0]>>4 == 6 {
			checkVerdict(t, tr, data, xlat.Side6)
		}
	})
}

func FuzzTranslate4to6(f *testing.F) {
	seeds(f, 4)
	tr, err := xlat.New(fuzzOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 0 && data[0]>>4 == 4 {
			checkVerdict(t, tr, data, xlat.Side4)
		}
	})
}

// FuzzICMPErrors starts from ICMP errors of both versions: the path that
// rewrites a packet inside a packet, with RFC 4884 extensions.
func FuzzICMPErrors(f *testing.F) {
	files, _ := filepath.Glob("../testdata/golden/icmp*.in.pcap")
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			f.Fatal(err)
		}
		r, _ := pcapgo.NewReader(fh)
		for r != nil {
			data, _, err := r.ReadPacketData()
			if err != nil {
				break
			}
			f.Add(data)
		}
		fh.Close()
	}
	tr, err := xlat.New(fuzzOptions())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		switch data[0] >> 4 {
		case 6:
			checkVerdict(t, tr, data, xlat.Side6)
		case 4:
			checkVerdict(t, tr, data, xlat.Side4)
		}
	})
}

// FuzzRoundTrip translates IPv6 packets to IPv4 and back: what comes back
// must be the same upper-layer bytes, between the same addresses, two hops
// older.
func FuzzRoundTrip(f *testing.F) {
	seeds(f, 6)
	opts := fuzzOptions()
	opts.MTU4 = 1500
	opts.UDPZeroChecksum = xlat.UDPZeroForward
	tr, err := xlat.New(opts)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 48 || data[0]>>4 != 6 || (data[6] == 17 && data[46] == 0 && data[47] == 0) {
			return // zero UDP checksums are carried on purpose (forward mode)
		}
		if n := 40 + int(data[4])<<8 | int(data[5]); n < len(data) {
			data = data[:n] // bytes past the IPv6 payload are link padding
		}
		v, out4 := checkVerdict(t, tr, data, xlat.Side6)
		if v.Action() != xlat.Forward || v.Side() != xlat.Side4 || v.FragSize != 0 {
			return
		}
		// Only plain datagrams make the trip unchanged: ICMP errors get
		// RFC 6791 sources, extension headers are gone for good.
		if out4[9] != 6 && out4[9] != 17 && !(out4[9] == 1 && (out4[20] == 0 || out4[20] == 8)) {
			return
		}
		if data[6] != out4[9] && !(data[6] == 58 && out4[9] == 1) {
			return
		}
		if out4[8] <= 1 {
			return
		}
		v2, back := checkVerdict(t, tr, out4, xlat.Side4)
		if v2.Action() != xlat.Forward || v2.Side() != xlat.Side6 {
			t.Fatalf("4->6 of the translation: %+v", v2)
		}
		if back[7] != data[7]-2 {
			t.Fatalf("hop limit %d after two hops from %d", back[7], data[7])
		}
		if len(back) != len(data) {
			t.Fatalf("length %d after the round trip, was %d", len(back), len(data))
		}
		// Mappings that ignore low IPv6 bits (an EAM whose IPv6 suffix is
		// longer than its IPv4 suffix) bring back other addresses, and so
		// another transport checksum; everything else must be identical.
		// A checksum of 0xffff may come back as 0x0000 and the reverse:
		// the two zeros of one's complement verify alike (RFC 1624 §3).
		got, want := append([]byte(nil), back[40:]...), append([]byte(nil), data[40:]...)
		if at := map[byte]int{6: 16, 17: 6, 58: 2}[data[6]]; at+2 <= len(got) {
			for _, b := range [][]byte{got, want} {
				if b[at] == 0xff && b[at+1] == 0xff && data[6] != 17 {
					b[at], b[at+1] = 0, 0
				}
			}
			if !bytes.Equal(back[8:40], data[8:40]) {
				got[at], got[at+1], want[at], want[at+1] = 0, 0, 0, 0
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("upper layer changed:\nin   %x\nback %x", data[40:], back[40:])
		}
	})
}

// FuzzNAT64 sends packets from both sides through a stateful translator
// whose tables fill as the fuzzer goes: bindings, sessions, held SYNs and
// ICMP errors quoting bound flows. Every output must check.
func FuzzNAT64(f *testing.F) {
	seeds(f, 6)
	seeds(f, 4)
	for _, p := range [][]byte{
		udp6(cli, 5000, srv6, 53), udp4(srv4, 53, pub, 5000), tcp6(cli, 40000, srv6, 80, "S"),
		tcp4(srv4, 80, pub, 40000, "SA"), tcp4(srv4, 81, pub, 2000, "S"), tcp6(cli, 2000, "64:ff9b::cb00:7101", 80, "S"),
	} {
		f.Add(p)
	}
	o := natOptions("203.0.113.0/30")
	o.NAT.UDPPorts = xlat.PortRange{Lo: 2000, Hi: 2100}
	o.NAT.StaticBIB = []xlat.StaticBIB{{17, netip.MustParseAddrPort("[2001:db8:1::80]:53"), netip.MustParseAddrPort(pub + ":53")}}
	tr, err := xlat.New(o)
	if err != nil {
		f.Fatal(err)
	}
	buf := make([]byte, 2048)
	// The clock moves a second per input, so bindings come and go (the
	// transitory TCP lifetime is 240 inputs) and held SYNs are answered.
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		now = now.Add(time.Second)
		switch data[0] >> 4 {
		case 6:
			checkVerdictAt(t, tr, data, xlat.Side6, now)
		case 4:
			checkVerdictAt(t, tr, data, xlat.Side4, now)
		}
		if v := tr.Expire(buf, xlat.Headroom, now); v.Action() == xlat.Reply {
			if err := xlattest.Check(buf[v.Off:v.Off+v.Len], true); err != nil {
				t.Fatalf("held SYN answer: %v", err)
			}
		}
		if now.Unix()%64 == 0 {
			tr.Sweep(now)
		}
	})
}
