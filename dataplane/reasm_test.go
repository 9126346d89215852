package dataplane

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/ip6defrag"
	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/wire/wiretest"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// reasmOptions are the lab's SIIT or NAT64 plane options with a
// translator that hands fragments to reassembly, configured by ro.
func reasmOptions(t *testing.T, nat64 bool, ro xlat.ReassemblyOptions) Options {
	t.Helper()
	opts := labOptions(t, nat64)
	xo := labXlatOptions(nat64)
	xo.Reassemble = true
	tr, err := xlat.New(xo)
	if err != nil {
		t.Fatal(err)
	}
	opts.Translator, opts.Reassembly = tr, ro
	return opts
}

// reasmPlane is a started plane with the lab's SIIT or NAT64 translator
// and reassembly on, both neighbors resolved, on in-memory links.
func reasmPlane(t *testing.T, nat64 bool, ro xlat.ReassemblyOptions) (p *Plane, peer6, peer4 *wire.MemoryPort) {
	t.Helper()
	opts := reasmOptions(t, nat64, ro)
	p, peer6, peer4 = memPlane(t, opts, 1024)
	now := time.Now()
	p.arp.Cache().Learn(arpnd.Key4([4]byte(xlattest.IP(labServer4).To4())), srvMAC, now)
	p.nd.Cache().Learn([16]byte(xlattest.IP(labClient6)), hostMAC, now)
	p.Start()
	t.Cleanup(func() { p.Close() })
	return p, peer6, peer4
}

// pingData is the data of the lab's echoes: ping -s size.
func pingData(size int) gopacket.Payload {
	d := make([]byte, size)
	for i := range d {
		d[i] = byte(i*31 + 7)
	}
	return d
}

// fragments6 is an ICMPv6 echo request of data from ip6 cut as a host
// with a 1280-byte MTU sends it: Ethernet frames of IPv6 fragments.
func fragments6(ip6 *layers.IPv6, echo *layers.ICMPv6Echo, data gopacket.Payload, id uint32) [][]byte {
	ip6.NextHeader = layers.IPProtocolICMPv6
	msg := xlattest.Serialize(ip6, xlattest.ICMPv6(layers.ICMPv6TypeEchoRequest, 0, ip6), echo, data)[40:]
	var frames [][]byte
	for lo := 0; lo < len(msg); lo += 1232 {
		hi := min(lo+1232, len(msg))
		ip := *ip6
		ip.NextHeader = layers.IPProtocolIPv6Fragment
		fh := &layers.IPv6Fragment{NextHeader: layers.IPProtocolICMPv6, FragmentOffset: uint16(lo / 8), MoreFragments: hi < len(msg), Identification: id}
		frames = append(frames, xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetTypeIPv6), &ip, fh, gopacket.Payload(msg[lo:hi])))
	}
	return frames
}

// fragments4 is the IPv4 packet ip4 carrying ls, DF clear, cut as a host
// with a 1500-byte MTU sends it.
func fragments4(ip4 *layers.IPv4, ls ...gopacket.SerializableLayer) [][]byte {
	msg := xlattest.Serialize(append([]gopacket.SerializableLayer{ip4}, ls...)...)[20:]
	var frames [][]byte
	for lo := 0; lo < len(msg); lo += 1480 {
		hi := min(lo+1480, len(msg))
		ip := *ip4
		ip.FragOffset, ip.Flags = uint16(lo/8), 0
		if hi < len(msg) {
			ip.Flags = layers.IPv4MoreFragments
		}
		frames = append(frames, xlattest.Serialize(eth(mac4, srvMAC, layers.EthernetTypeIPv4), &ip, gopacket.Payload(msg[lo:hi])))
	}
	return frames
}

// collect reads fragments from peer until gopacket's own defragmenters
// complete a datagram (the fragments of each family must fit mtu), and
// returns it as a packet whose checksums xlattest.Check verifies.
func collect(t *testing.T, peer *wire.MemoryPort, v6 bool, mtu int) (gopacket.Packet, int) {
	t.Helper()
	d4, d6 := ip4defrag.NewIPv4Defragmenter(), ip6defrag.NewIPv6Defragmenter()
	var whole []byte
	n := 0
	for whole == nil {
		wiretest.Expect(t, peer, "a translated fragment", func(p gopacket.Packet) bool {
			if v6 {
				ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
				if !ok || ip.NextHeader == layers.IPProtocolICMPv6 && ip.Payload[0] >= 128 && len(ip.Payload) < 100 {
					return false // not ours (a Router Advertisement)
				}
				if len(ip.Contents)+len(ip.Payload) > mtu {
					t.Errorf("an IPv6 packet of %d bytes leaves a %d-byte MTU", len(ip.Contents)+len(ip.Payload), mtu)
				}
				n++
				fh, ok := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
				if !ok {
					whole = ipOf(p)
					return true
				}
				if out := d6.DefragIPv6(ip, fh); out != nil {
					whole = xlattest.Serialize(&layers.IPv6{Version: 6, HopLimit: out.HopLimit, NextHeader: out.NextHeader, SrcIP: out.SrcIP, DstIP: out.DstIP},
						gopacket.Payload(out.Payload))
				}
				return true
			}
			ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if !ok {
				return false
			}
			if int(ip.Length) > mtu || ip.Flags&layers.IPv4DontFragment != 0 && ip.Flags&layers.IPv4MoreFragments != 0 {
				t.Errorf("an IPv4 fragment of %d bytes, flags %v, leaves a %d-byte MTU", ip.Length, ip.Flags, mtu)
			}
			n++
			out, err := d4.DefragIPv4(ip)
			if err != nil {
				t.Fatalf("gopacket's defragmenter: %v", err)
			}
			if out != nil {
				whole = xlattest.Serialize(&layers.IPv4{Version: 4, TTL: out.TTL, Protocol: out.Protocol, SrcIP: out.SrcIP, DstIP: out.DstIP, Id: out.Id},
					gopacket.Payload(out.Payload))
			}
			return true
		})
	}
	if err := xlattest.Check(whole, false); err != nil {
		t.Fatalf("the translated datagram put back together: %v", err)
	}
	first := layers.LayerTypeIPv4
	if v6 {
		first = layers.LayerTypeIPv6
	}
	return gopacket.NewPacket(whole, first, gopacket.Default), n
}

// TestReassemblyPing sends ping -s 3000 and -s 8000 through SIIT and
// NAT64: the request fragmented from the IPv6 host (1280-byte MTU), the
// reply from the IPv4 server (1500). Each is reassembled, translated whole
// and fragmented again for the other side; gopacket's defragmenters put
// the output back together and its checksums must verify.
func TestReassemblyPing(t *testing.T) {
	for _, nat64 := range []bool{false, true} {
		for _, size := range []int{3000, 8000} {
			name := fmt.Sprintf("SIIT/%d", size)
			if nat64 {
				name = fmt.Sprintf("NAT64/%d", size)
			}
			t.Run(name, func(t *testing.T) {
				p, peer6, peer4 := reasmPlane(t, nat64, xlat.ReassemblyOptions{})
				data := pingData(size)

				// The request, 6->4, its fragments in reverse order.
				frames := fragments6(xlattest.IPv6(labClient6, labVia6, 0), &layers.ICMPv6Echo{Identifier: 0x1234, SeqNumber: 1}, data, 0xabcdef)
				for i := len(frames) - 1; i >= 0; i-- {
					wiretest.Send(t, peer6, frames[i])
				}
				req, n := collect(t, peer4, false, 1500)
				ip4 := req.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				ic4, ok := req.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
				if !ok || ic4.TypeCode.Type() != layers.ICMPv4TypeEchoRequest || !bytes.Equal(ic4.Payload, data) || ip4.DstIP.String() != labServer4 {
					t.Fatalf("translated request: %v", req)
				}
				if want := (size + 8 + 1479) / 1480; n != want {
					t.Errorf("the request left in %d IPv4 fragments, want %d", n, want)
				}
				if nat64 && ip4.SrcIP.String() != labPool4 || !nat64 && ip4.SrcIP.String() != labClient6v4 {
					t.Errorf("translated request from %v", ip4.SrcIP)
				}

				// The reply, 4->6, in order.
				r4 := xlattest.IPv4(labServer4, ip4.SrcIP.String(), layers.IPProtocolICMPv4)
				r4.Id = 4242
				frames = fragments4(r4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: ic4.Id, Seq: 1}, data)
				for _, f := range frames {
					wiretest.Send(t, peer4, f)
				}
				rep, n := collect(t, peer6, true, 1280)
				ip6 := rep.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
				ic6, ok := rep.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
				echo, _ := rep.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
				if !ok || ic6.TypeCode.Type() != layers.ICMPv6TypeEchoReply || echo == nil || echo.Identifier != 0x1234 ||
					!bytes.Equal(echo.Payload, data) || ip6.DstIP.String() != labClient6 || ip6.SrcIP.String() != labVia6 {
					t.Fatalf("translated reply: %v", rep)
				}
				if want := (size + 8 + 1231) / 1232; n != want {
					t.Errorf("the reply left in %d IPv6 fragments, want %d", n, want)
				}

				c := p.Counters()
				for deadline := time.Now().Add(2 * time.Second); c[Reassembled] < 2 && time.Now().Before(deadline); c = p.Counters() {
					time.Sleep(10 * time.Millisecond)
				}
				held := uint64((size+8+1231)/1232 + (size+8+1479)/1480 - 2)
				if c[Reassembled] != 2 || c[FragmentsHeld] != held || c.Dropped() != 0 {
					var b bytes.Buffer
					c.Print(&b)
					t.Errorf("counters: %d reassembled, %d held (want 2, %d)\n%s", c[Reassembled], c[FragmentsHeld], held, b.String())
				}
				if st := p.Reassembly(); st.Datagrams != 0 || st.Bytes != 0 {
					t.Errorf("reassembly holds %+v", st)
				}
				waitBooks(t, p)
			})
		}
	}
}

// reasmWorker is a worker of an unstarted plane with reassembly on, both
// neighbors resolved, writing to out.
func reasmWorker(t *testing.T, nat64 bool, ro xlat.ReassemblyOptions) (*Plane, *worker, *discard) {
	t.Helper()
	opts := reasmOptions(t, nat64, ro)
	p, _, _ := memPlane(t, opts, 16)
	t.Cleanup(func() { p.Close() })
	now := time.Now()
	p.arp.Cache().Learn(arpnd.Key4([4]byte(xlattest.IP(labServer4).To4())), srvMAC, now)
	p.nd.Cache().Learn([16]byte(xlattest.IP(labClient6)), hostMAC, now)
	w := p.newWorker()
	out := &discard{}
	w.tx[xlat.Side6], w.tx[xlat.Side4] = out, out
	return p, w, out
}

// keepFirst is a sender that keeps a copy of the first frame of its first
// batch.
type keepFirst struct{ frame []byte }

func (k *keepFirst) WriteBatchGSO(bufs [][]byte, _ []wire.GSO) (int, error) {
	if k.frame == nil {
		k.frame = append([]byte(nil), bufs[0]...)
	}
	return len(bufs), nil
}

// feed hands the frames to w as one batch from side s at now.
func feed(w *worker, s xlat.Side, now time.Time, frames ...[]byte) {
	for i, f := range frames {
		copy(w.bufs[i][Headroom:], f)
		w.sizes[i] = len(f)
	}
	w.batch(s, len(frames), now)
}

// TestReassemblyDrops: what reassembly refuses is counted under its
// reason, each fragment once, and no fragment of an ICMP message leaves
// on its own.
func TestReassemblyDrops(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	req := func(size int, id uint32) [][]byte {
		return fragments6(xlattest.IPv6(labClient6, labVia6, 0), &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}, pingData(size), id)
	}
	for _, tc := range []struct {
		name   string
		nat64  bool
		ro     xlat.ReassemblyOptions
		frames [][]byte
		sweep  time.Duration
		want   map[Counter]uint64
	}{
		{name: "lone first", frames: req(3000, 1)[:1], sweep: 5 * time.Second,
			want: map[Counter]uint64{FragmentsHeld: 1, Drop(xlat.ReasonFragmentLone): 1}},
		{name: "lone last, NAT64", nat64: true, frames: req(3000, 1)[2:], sweep: 5 * time.Second,
			want: map[Counter]uint64{FragmentsHeld: 1, Drop(xlat.ReasonFragmentLone): 1}},
		{name: "not yet", frames: req(3000, 1)[:2], sweep: 4 * time.Second,
			want: map[Counter]uint64{FragmentsHeld: 2}},
		{name: "timeout", frames: req(3000, 1)[:2], sweep: 5 * time.Second,
			want: map[Counter]uint64{FragmentsHeld: 2, Drop(xlat.ReasonReassemblyTimeout): 2}},
		{name: "timeout option", ro: xlat.ReassemblyOptions{Timeout: 2 * time.Second}, frames: req(3000, 1)[:2], sweep: 2 * time.Second,
			want: map[Counter]uint64{FragmentsHeld: 2, Drop(xlat.ReasonReassemblyTimeout): 2}},
		{name: "duplicate", frames: [][]byte{req(3000, 1)[0], req(3000, 1)[0]},
			want: map[Counter]uint64{FragmentsHeld: 1, Drop(xlat.ReasonFragmentDuplicate): 1}},
		{name: "overlap", frames: [][]byte{req(3000, 1)[0], req(3000, 1)[1], req(2000, 1)[1]},
			want: map[Counter]uint64{FragmentsHeld: 2, Drop(xlat.ReasonFragmentOverlap): 3}},
		{name: "per-source cap", ro: xlat.ReassemblyOptions{MaxBytesPerSource: 4096}, frames: req(8000, 1),
			// Three fragments take 4 blocks; the 4th needs a 5th, and the
			// datagram goes; the last three begin another.
			want: map[Counter]uint64{FragmentsHeld: 6, Drop(xlat.ReasonReassemblyFull): 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, w, out := reasmWorker(t, tc.nat64, tc.ro)
			feed(w, xlat.Side6, t0, tc.frames...)
			if tc.sweep > 0 {
				p.timers(t0.Add(tc.sweep), false)
			}
			c := p.Counters()
			for k, v := range tc.want {
				if c[k] != v {
					var b bytes.Buffer
					c.Print(&b)
					t.Errorf("%v: %d, want %d\n%s", k, c[k], v, b.String())
				}
			}
			var drops uint64
			for k, v := range tc.want {
				if k.IsDrop() {
					drops += v
				}
			}
			if c.Dropped() != drops || out.frames != 0 {
				t.Errorf("%d dropped, %d frames out; want %d, 0", c.Dropped(), out.frames, drops)
			}
			checkBooks(t, &c)
		})
	}
}

// TestReassemblyNoAllocs: once its buffers are made, a worker
// reassembles, translates and fragments again a ping -s 3000 each way
// without allocating.
func TestReassemblyNoAllocs(t *testing.T) {
	for _, nat64 := range []bool{false, true} {
		_, w, out := reasmWorker(t, nat64, xlat.ReassemblyOptions{})
		now := time.Now()
		req := fragments6(xlattest.IPv6(labClient6, labVia6, 0), &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}, pingData(3000), 7)
		first := &keepFirst{}
		w.tx[xlat.Side4] = first
		feed(w, xlat.Side6, now, req...)
		w.tx[xlat.Side4] = out
		if first.frame == nil {
			t.Fatalf("nat64 %v: the request was not translated", nat64)
		}
		src, id := labClient6v4, uint16(1)
		if nat64 {
			// The identifier pool4 gave it, from its first fragment.
			src, id = labPool4, uint16(first.frame[14+20+4])<<8|uint16(first.frame[14+20+5])
		}
		r4 := xlattest.IPv4(labServer4, src, layers.IPProtocolICMPv4)
		rep := fragments4(r4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: id, Seq: 1}, pingData(3000))
		out.frames = 0
		allocs := testing.AllocsPerRun(20, func() {
			feed(w, xlat.Side6, now, req...)
			feed(w, xlat.Side4, now, rep...)
		})
		if out.frames != 21*6 {
			t.Fatalf("nat64 %v: %d frames out, want %d", nat64, out.frames, 21*6)
		}
		if allocs != 0 {
			t.Errorf("nat64 %v: %.1f allocations per ping", nat64, allocs)
		}
	}
}
