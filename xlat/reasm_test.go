package xlat_test

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// echo4 is an ICMP echo request of n data bytes, DF clear: a datagram as
// the reassembler gives it back.
func echo4(src, dst string, id uint16, n int) []byte {
	ip := xlattest.IPv4(src, dst, layers.IPProtocolICMPv4)
	ip.Id = id
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: id}
	return xlattest.Serialize(ip, ic, xlattest.Payload(n))
}

// echo6 is an ICMPv6 echo request of n data bytes behind an atomic
// Fragment header of Identification id: a datagram as the reassembler
// gives it back.
func echo6(src, dst string, id uint32, n int) []byte {
	ip := xlattest.IPv6(src, dst, layers.IPProtocolIPv6Fragment)
	fh := &layers.IPv6Fragment{NextHeader: layers.IPProtocolICMPv6, Identification: id}
	ic := xlattest.ICMPv6(layers.ICMPv6TypeEchoRequest, 0, ip)
	return xlattest.Serialize(ip, fh, ic, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: uint16(id)}, xlattest.Payload(n))
}

// fragOf is the fragment of the datagram d (echo4 or echo6) that carries
// its data bytes [lo, hi); M is set unless hi is the end.
func fragOf(d []byte, lo, hi int) []byte {
	hl := 48 // IPv6 and Fragment headers
	if d[0]>>4 == 4 {
		hl = header.IPv4(d).HeaderLen()
	}
	data := d[hl:]
	f := append(append([]byte(nil), d[:hl]...), data[lo:hi]...)
	more := hi < len(data)
	if d[0]>>4 == 4 {
		ip := header.IPv4(f)
		ip.SetTotalLength(len(f))
		ip.SetFragment(false, more, uint16(lo/8))
		ip.SetChecksum(ip.ComputeChecksum())
		return f
	}
	header.IPv6(f).SetPayloadLength(len(f) - 40)
	fh := header.Fragment(f[40:])
	fh.Set(fh.NextHeader(), uint16(lo/8), more, fh.ID())
	return f
}

// split cuts n data bytes into pieces of per bytes.
func split(n, per int) [][2]int {
	var s [][2]int
	for lo := 0; lo < n; lo += per {
		s = append(s, [2]int{lo, min(lo+per, n)})
	}
	return s
}

// dataLen is the length of a datagram's data, after the headers fragOf
// repeats.
func dataLen(d []byte) int {
	if d[0]>>4 == 4 {
		return len(d) - header.IPv4(d).HeaderLen()
	}
	return len(d) - 48
}

// reasmStep is a fragment given to Add and what Add must answer.
type reasmStep struct {
	d       int // datagram (index in the case's datagrams)
	lo, hi  int
	at      time.Duration
	done    bool // completes datagram d
	reason  xlat.Reason
	dropped int
}

func TestReassembler(t *testing.T) {
	const (
		a4, b4, c4 = "192.0.2.1", "198.51.100.2", "192.0.2.9"
		a6, b6, c6 = "2001:db8::1", "64:ff9b::c633:6402", "2001:db8::9"
	)
	in4 := split(3008, 1480)   // ping -s 3000 over a 1500-byte MTU
	in6 := split(3008, 1232)   // and over 1280
	big6 := split(8008, 1232)  // ping -s 8000
	max4 := split(65515, 1480) // the largest IPv4 datagram, 45 fragments
	max6 := split(65527, 1496) // the largest IPv6 one (with the Fragment header), 44
	steps := func(d int, pieces [][2]int, order ...int) []reasmStep {
		if order == nil {
			for i := range pieces {
				order = append(order, i)
			}
		}
		var s []reasmStep
		for i, k := range order {
			s = append(s, reasmStep{d: d, lo: pieces[k][0], hi: pieces[k][1], done: i == len(order)-1})
		}
		return s
	}
	held := func(s []reasmStep) []reasmStep {
		for i := range s {
			s[i].done = false
		}
		return s
	}
	cat := func(ss ...[]reasmStep) []reasmStep {
		var out []reasmStep
		for _, s := range ss {
			out = append(out, s...)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		opts      xlat.ReassemblyOptions
		dgrams    [][]byte
		steps     []reasmStep
		sweep     time.Duration // then Sweep at this time, if set
		lone, old int           // and what it must drop
	}{
		{name: "IPv4 in order", dgrams: [][]byte{echo4(a4, b4, 1, 3000)}, steps: steps(0, in4)},
		{name: "IPv4 reverse order", dgrams: [][]byte{echo4(a4, b4, 1, 3000)}, steps: steps(0, in4, 2, 1, 0)},
		{name: "IPv4 last first", dgrams: [][]byte{echo4(a4, b4, 1, 3000)}, steps: steps(0, in4, 2, 0, 1)},
		{name: "IPv6 in order", dgrams: [][]byte{echo6(a6, b6, 1, 3000)}, steps: steps(0, in6)},
		{name: "IPv6 reverse order", dgrams: [][]byte{echo6(a6, b6, 1, 3000)}, steps: steps(0, in6, 2, 1, 0)},
		{name: "IPv6 8000 bytes shuffled", dgrams: [][]byte{echo6(a6, b6, 1, 8000)}, steps: steps(0, big6, 3, 6, 0, 5, 1, 4, 2)},
		{name: "IPv4 65535 bytes", dgrams: [][]byte{echo4(a4, b4, 1, 65515-8)}, steps: steps(0, max4)},
		{name: "IPv6 65535-byte payload", dgrams: [][]byte{echo6(a6, b6, 1, 65527-8)}, steps: steps(0, max6)},
		{name: "interleaved, same addresses", dgrams: [][]byte{echo4(a4, b4, 1, 3000), echo4(a4, b4, 2, 3000), echo6(a6, b6, 1, 3000), echo6(a6, b6, 2, 3000)},
			steps: []reasmStep{{d: 0, lo: 0, hi: 1480}, {d: 1, lo: 1480, hi: 2960}, {d: 2, lo: 0, hi: 1232}, {d: 3, lo: 2464, hi: 3008},
				{d: 1, lo: 0, hi: 1480}, {d: 0, lo: 2960, hi: 3008}, {d: 3, lo: 0, hi: 1232}, {d: 2, lo: 1232, hi: 2464},
				{d: 0, lo: 1480, hi: 2960, done: true}, {d: 1, lo: 2960, hi: 3008, done: true}, {d: 2, lo: 2464, hi: 3008, done: true}, {d: 3, lo: 1232, hi: 2464, done: true}}},
		{name: "duplicate", dgrams: [][]byte{echo4(a4, b4, 1, 3000)},
			steps: []reasmStep{{lo: 0, hi: 1480}, {lo: 0, hi: 1480, reason: xlat.ReasonFragmentDuplicate, dropped: 1},
				{lo: 2960, hi: 3008}, {lo: 2960, hi: 3008, reason: xlat.ReasonFragmentDuplicate, dropped: 1}, {lo: 1480, hi: 2960, done: true}}},
		{name: "IPv4 overlap drops the datagram", dgrams: [][]byte{echo4(a4, b4, 1, 3000)},
			steps: []reasmStep{{lo: 0, hi: 1480}, {lo: 2960, hi: 3008}, {lo: 1472, hi: 2960, reason: xlat.ReasonFragmentOverlap, dropped: 3},
				{lo: 1480, hi: 2960}}, // a new datagram begins
			sweep: 6 * time.Second, lone: 1},
		{name: "IPv6 overlap inside", dgrams: [][]byte{echo6(a6, b6, 1, 3000)},
			steps: []reasmStep{{lo: 0, hi: 1232}, {lo: 8, hi: 16, reason: xlat.ReasonFragmentOverlap, dropped: 2}}},
		{name: "a second last fragment", dgrams: [][]byte{echo4(a4, b4, 1, 3000), echo4(a4, b4, 1, 2000)},
			steps: []reasmStep{{lo: 2960, hi: 3008}, {d: 1, lo: 1480, hi: 2008, reason: xlat.ReasonFragmentOverlap, dropped: 2}}},
		{name: "data beyond the end", dgrams: [][]byte{echo4(a4, b4, 1, 3000), echo4(a4, b4, 1, 2000)},
			steps: []reasmStep{{lo: 1480, hi: 2960}, {d: 1, lo: 1480, hi: 2008, reason: xlat.ReasonFragmentOverlap, dropped: 2}}},
		{name: "a fragment after the end", dgrams: [][]byte{echo4(a4, b4, 1, 2000), echo4(a4, b4, 1, 3000)},
			steps: []reasmStep{{lo: 1480, hi: 2008}, {d: 1, lo: 2008, hi: 2960, reason: xlat.ReasonFragmentOverlap, dropped: 2}}},
		{name: "lone first", dgrams: [][]byte{echo4(a4, b4, 1, 3000), echo6(a6, b6, 1, 3000)},
			steps: []reasmStep{{lo: 0, hi: 1480}, {d: 1, lo: 0, hi: 1232}}, sweep: 5 * time.Second, lone: 2},
		{name: "lone last", dgrams: [][]byte{echo4(a4, b4, 1, 3000), echo6(a6, b6, 1, 3000)},
			steps: []reasmStep{{lo: 2960, hi: 3008}, {d: 1, lo: 2464, hi: 3008}}, sweep: 5 * time.Second, lone: 2},
		{name: "timeout", dgrams: [][]byte{echo4(a4, b4, 1, 3000), echo6(a6, b6, 1, 3000)},
			steps: []reasmStep{{lo: 0, hi: 1480}, {d: 1, lo: 0, hi: 1232}, {lo: 2960, hi: 3008, at: time.Second}, {d: 1, lo: 2464, hi: 3008, at: 2 * time.Second}},
			sweep: 5 * time.Second, old: 4},
		{name: "not yet timed out", dgrams: [][]byte{echo4(a4, b4, 1, 3000)},
			steps: []reasmStep{{lo: 0, hi: 1480}, {lo: 2960, hi: 3008, at: 4 * time.Second}}, sweep: 4999 * time.Millisecond},
		{name: "timeout option", opts: xlat.ReassemblyOptions{Timeout: 30 * time.Second}, dgrams: [][]byte{echo4(a4, b4, 1, 3000)},
			steps: []reasmStep{{lo: 0, hi: 1480}, {lo: 2960, hi: 3008, at: 20 * time.Second}, {lo: 1480, hi: 2960, at: 29 * time.Second, done: true}}},
		{name: "an expired datagram lives until the sweep", dgrams: [][]byte{echo4(a4, b4, 1, 3000)},
			steps: []reasmStep{{lo: 0, hi: 1480}, {lo: 1480, hi: 2960, at: 6 * time.Second}, {lo: 0, hi: 1480, at: 6 * time.Second, reason: xlat.ReasonFragmentDuplicate, dropped: 1}}},
		{name: "cap per source", opts: xlat.ReassemblyOptions{MaxBytesPerSource: 8 << 10},
			dgrams: [][]byte{echo6(a6, b6, 1, 8000), echo6(a6, b6, 2, 3000), echo6(c6, b6, 1, 8000)},
			steps: cat(held(steps(0, big6, 0, 1, 2, 3, 4, 5)), // [0, 7392): 8 blocks, the cap
				[]reasmStep{{d: 1, lo: 0, hi: 1232, reason: xlat.ReasonReassemblyFull, dropped: 1}}, // 2 more blocks
				steps(2, big6),    // another source is not held back
				steps(0, big6, 6), // and the first datagram completes
				steps(1, in6)),    // after which the source has room again
		},
		{name: "total cap", opts: xlat.ReassemblyOptions{MaxBytes: 13 << 10, MaxBytesPerSource: 8 << 10},
			dgrams: [][]byte{echo6(a6, b6, 1, 8000), echo4(a4, b4, 1, 3000), echo6(c6, b6, 1, 8000)},
			steps: cat(held(steps(0, big6, 0, 1, 2, 3, 4, 5)), // 8 blocks
				held(steps(1, in4, 0, 1)), // 3 blocks, 11 in all
				[]reasmStep{{d: 2, lo: 0, hi: 1232}, {d: 2, lo: 1232, hi: 2464, reason: xlat.ReasonReassemblyFull, dropped: 2}}, // 13, then 14
				steps(1, in4, 2), steps(0, big6, 6), steps(2, big6)),
		},
		{name: "cap drops the datagram", opts: xlat.ReassemblyOptions{MaxBytesPerSource: 4 << 10},
			dgrams: [][]byte{echo6(a6, b6, 1, 8000)},
			steps: cat(held(steps(0, big6, 0, 1, 2)), // 4 blocks, the cap
				[]reasmStep{{lo: 3696, hi: 4928, reason: xlat.ReasonReassemblyFull, dropped: 4}},
				held(steps(0, big6, 4))), // a new datagram
			sweep: time.Minute, lone: 1},
		{name: "too long IPv4", dgrams: [][]byte{echo4(a4, b4, 1, 3000)},
			steps: []reasmStep{{lo: 65536 - 1480, hi: 65536, reason: xlat.ReasonFragmentBadOffsets, dropped: 1}}},
		{name: "too long IPv6", dgrams: [][]byte{echo6(a6, b6, 1, 3000)},
			steps: []reasmStep{{lo: 65528 - 1232, hi: 65528, reason: xlat.ReasonFragmentBadOffsets, dropped: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := xlat.NewReassembler(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Unix(1_700_000_000, 0)
			dst := make([]byte, xlat.MaxReassembled)
			capBytes := tc.opts.MaxBytes
			if capBytes == 0 {
				capBytes = xlat.DefaultReassemblyMaxBytes
			}
			for i, s := range tc.steps {
				d := tc.dgrams[s.d]
				n, reason, dropped := r.Add(reasmFrag(d, s.lo, s.hi), dst, start.Add(s.at))
				if reason != s.reason || dropped != s.dropped || (n > 0) != s.done {
					t.Fatalf("step %d (datagram %d [%d, %d)): n %d, %v, %d dropped; want done %v, %v, %d dropped",
						i, s.d, s.lo, s.hi, n, reason, dropped, s.done, s.reason, s.dropped)
				}
				if n > 0 {
					checkReassembled(t, dst[:n], d)
				}
				if st := r.Stats(); st.Bytes > capBytes {
					t.Fatalf("step %d: %d bytes held", i, st.Bytes)
				}
			}
			if tc.sweep > 0 {
				lone, old := r.Sweep(start.Add(tc.sweep))
				if lone != tc.lone || old != tc.old {
					t.Fatalf("sweep: %d lone, %d timed out; want %d, %d", lone, old, tc.lone, tc.old)
				}
				if tc.lone+tc.old > 0 {
					if st := r.Stats(); st.Datagrams != 0 || st.Bytes != 0 {
						t.Fatalf("after the sweep: %+v", st)
					}
				}
			}
		})
	}
}

// reasmFrag is fragOf, except that ranges beyond the datagram get data of
// their own (the too-long rows).
func reasmFrag(d []byte, lo, hi int) []byte {
	if hi <= dataLen(d) {
		return fragOf(d, lo, hi)
	}
	hl := len(d) - dataLen(d)
	big := append(append([]byte(nil), d[:hl]...), make([]byte, hi)...)
	if big[0]>>4 == 4 {
		binary.BigEndian.PutUint16(big[2:], 0) // fragOf sets the lengths
	}
	f := fragOf(big, lo, hi)
	if f[0]>>4 == 4 {
		ip := header.IPv4(f)
		ip.SetFragment(false, true, uint16(lo/8))
		ip.SetChecksum(ip.ComputeChecksum())
	} else {
		fh := header.Fragment(f[40:])
		fh.Set(fh.NextHeader(), uint16(lo/8), true, fh.ID())
	}
	return f
}

// checkReassembled checks a reassembled datagram against the one that was
// fragmented, and with gopacket: lengths, no fragmentation left, the IPv4
// header checksum and the ICMP checksum.
func checkReassembled(t *testing.T, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("reassembled datagram differs: %s", xlattest.Diff(got, want))
	}
	if err := xlattest.Check(got, false); err != nil {
		t.Fatalf("reassembled datagram: %v", err)
	}
	if got[0]>>4 == 4 {
		p := gopacket.NewPacket(got, layers.LayerTypeIPv4, gopacket.Default)
		ip, _ := p.NetworkLayer().(*layers.IPv4)
		if ip == nil || int(ip.Length) != len(got) || ip.Flags != 0 || ip.FragOffset != 0 {
			t.Fatalf("reassembled IPv4 datagram: %v", p)
		}
		return
	}
	// gopacket leaves what follows a Fragment header undecoded: the
	// ICMPv6 message is decoded on its own.
	p := gopacket.NewPacket(got, layers.LayerTypeIPv6, gopacket.Default)
	fh, _ := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
	if fh == nil || fh.FragmentOffset != 0 || fh.MoreFragments || len(fh.Payload) != len(got)-48 {
		t.Fatalf("reassembled IPv6 datagram: %v", p)
	}
	if m := gopacket.NewPacket(fh.Payload, layers.LayerTypeICMPv6, gopacket.Default); m.Layer(layers.LayerTypeICMPv6Echo) == nil {
		t.Fatalf("reassembled IPv6 datagram: %v", m)
	}
}

// TestReassemblerMalformed: fragments that cannot be placed are dropped on
// their own, with the datagram they would join kept; packets that are not
// fragments come back whole.
func TestReassemblerMalformed(t *testing.T) {
	d4, d6 := echo4("192.0.2.1", "198.51.100.2", 1, 3000), echo6("2001:db8::1", "2001:db8::2", 1, 3000)
	odd := fragOf(d4, 0, 1480)
	header.IPv4(odd).SetTotalLength(20 + 1475)
	header.IPv4(odd).SetChecksum(header.IPv4(odd).ComputeChecksum())
	empty := fragOf(d4, 0, 8)[:20]
	header.IPv4(empty).SetTotalLength(20)
	hop := xlattest.Serialize(xlattest.IPv6("2001:db8::1", "2001:db8::2", layers.IPProtocolIPv6HopByHop),
		&layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 1, OptionData: make([]byte, 4)}}}, xlattest.Payload(4))
	hop[40] = header.ProtoFragment // a Fragment header follows, cut short
	for _, tc := range []struct {
		name   string
		pkt    []byte
		reason xlat.Reason
		whole  bool
	}{
		{"empty", nil, xlat.ReasonTruncated, false},
		{"version 5", []byte{0x50, 0, 0, 0}, xlat.ReasonBadVersion, false},
		{"IPv4 short", d4[:19], xlat.ReasonTruncated, false},
		{"IPv4 IHL 4", append([]byte{0x44}, d4[1:]...), xlat.ReasonBadHeaderLength, false},
		{"IPv4 total below IHL", append([]byte{0x45, 0, 0, 10}, d4[4:]...), xlat.ReasonBadLength, false},
		{"IPv4 truncated", fragOf(d4, 0, 1480)[:100], xlat.ReasonTruncated, false},
		{"IPv4 not a multiple of 8", odd, xlat.ReasonBadLength, false},
		{"IPv4 no data", empty, xlat.ReasonBadLength, false},
		{"IPv6 truncated", fragOf(d6, 0, 1232)[:100], xlat.ReasonTruncated, false},
		{"IPv6 Fragment header cut", hop, xlat.ReasonBadExtHeader, false},
		{"IPv4 whole", d4, xlat.ReasonNone, true},
		{"IPv6 atomic fragment", d6, xlat.ReasonNone, true},
		{"IPv6 no Fragment header", xlattest.Serialize(xlattest.IPv6("2001:db8::1", "2001:db8::2", layers.IPProtocolUDP), xlattest.Payload(9)), xlat.ReasonNone, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := xlat.NewReassembler(xlat.ReassemblyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]byte, xlat.MaxReassembled)
			n, reason, dropped := r.Add(tc.pkt, dst, time.Unix(0, 0))
			if reason != tc.reason || (n > 0) != tc.whole {
				t.Fatalf("n %d, %v, %d dropped; want whole %v, %v", n, reason, dropped, tc.whole, tc.reason)
			}
			if tc.whole && !bytes.Equal(dst[:n], tc.pkt) {
				t.Fatalf("a whole packet came back changed")
			}
			if !tc.whole && dropped != 1 {
				t.Fatalf("%d dropped, want 1", dropped)
			}
			if st := r.Stats(); st.Datagrams != 0 || st.Bytes != 0 {
				t.Fatalf("left %+v", st)
			}
		})
	}
}

func TestNewReassemblerOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts xlat.ReassemblyOptions
		ok   bool
	}{
		{"defaults", xlat.ReassemblyOptions{}, true},
		{"small total, default per source", xlat.ReassemblyOptions{MaxBytes: 64 << 10}, true},
		{"negative timeout", xlat.ReassemblyOptions{Timeout: -time.Second}, false},
		{"total below a block", xlat.ReassemblyOptions{MaxBytes: 1000}, false},
		{"per source above total", xlat.ReassemblyOptions{MaxBytes: 64 << 10, MaxBytesPerSource: 128 << 10}, false},
		{"per source below a block", xlat.ReassemblyOptions{MaxBytesPerSource: 100}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := xlat.NewReassembler(tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestReassemblerNoAllocs: once its blocks are made, reassembling
// allocates nothing.
func TestReassemblerNoAllocs(t *testing.T) {
	r, err := xlat.NewReassembler(xlat.ReassemblyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := echo6("2001:db8::1", "2001:db8::2", 1, 8000)
	var frags [][]byte
	for _, s := range split(8008, 1232) {
		frags = append(frags, fragOf(d, s[0], s[1]))
	}
	dst := make([]byte, xlat.MaxReassembled)
	now := time.Unix(0, 0)
	run := func() {
		for i := len(frags) - 1; i >= 0; i-- {
			if n, reason, _ := r.Add(frags[i], dst, now); reason != xlat.ReasonNone || (n > 0) != (i == 0) {
				t.Fatalf("fragment %d: %d %v", i, n, reason)
			}
		}
	}
	run()
	if allocs := testing.AllocsPerRun(50, run); allocs != 0 {
		t.Fatalf("%.1f allocations per datagram", allocs)
	}
}

// TestReassemblerConcurrent sends each fragment of many datagrams from a
// goroutine of its own, as workers fed by a fanout group would, with a
// sweep running (meant for -race): each datagram completes exactly once.
func TestReassemblerConcurrent(t *testing.T) {
	r, err := xlat.NewReassembler(xlat.ReassemblyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const datagrams = 300
	pieces := split(3008, 1232)
	frags := make([][][]byte, len(pieces))
	for i := range datagrams {
		var d []byte
		if i%2 == 0 {
			d = echo4("192.0.2."+strconv.Itoa(1+i%7), "198.51.100.2", uint16(i), 3000)
		} else {
			d = echo6("2001:db8::"+strconv.Itoa(1+i%7), "2001:db8::2", uint32(i), 3000)
		}
		for k, p := range pieces {
			frags[k] = append(frags[k], fragOf(d, p[0], p[1]))
		}
	}
	now := time.Unix(1_700_000_000, 0)
	var done atomic.Int64
	var wg sync.WaitGroup
	stop, swept := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(swept)
		for {
			select {
			case <-stop:
				return
			default:
				if lone, old := r.Sweep(now); lone+old != 0 {
					t.Errorf("the sweep dropped %d fragments", lone+old)
				}
			}
		}
	}()
	for k := range frags {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]byte, xlat.MaxReassembled)
			for _, f := range frags[k] {
				n, reason, _ := r.Add(f, dst, now)
				if reason != xlat.ReasonNone {
					t.Errorf("fragment %d: %v", k, reason)
				}
				if n > 0 {
					if err := xlattest.Check(dst[:n], false); err != nil {
						t.Errorf("reassembled: %v", err)
					}
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-swept
	if done.Load() != datagrams {
		t.Fatalf("%d datagrams completed, want %d", done.Load(), datagrams)
	}
	if st := r.Stats(); st.Datagrams != 0 || st.Bytes != 0 {
		t.Fatalf("left %+v", st)
	}
}
