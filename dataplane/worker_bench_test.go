package dataplane

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// discard is a sender that counts what it is given and keeps a copy
// of the last frame.
type discard struct {
	frames int
	last   []byte
}

func (d *discard) WriteBatchGSO(bufs [][]byte, _ []wire.GSO) (int, error) {
	d.frames += len(bufs)
	d.last = append(d.last[:0], bufs[len(bufs)-1]...)
	return len(bufs), nil
}

// benchWorker is a worker of an unstarted data plane with the SIIT or the
// NAT64 demo configuration, both neighbors resolved, writing to out, and a
// TCP segment with 1440 bytes of payload for each side to hand it
// (frames[xlat.Side6] from the lab's client, frames[xlat.Side4] from its
// server). In NAT64 the server's segment answers the session a SYN has
// just made.
func benchWorker(tb testing.TB, nat64 bool) (w *worker, out *discard, frames [3][]byte) {
	tb.Helper()
	p, _, _ := memPlane(tb, labOptions(tb, nat64), 16)
	now := time.Now()
	p.arp.Cache().Learn(arpnd.Key4([4]byte(xlattest.IP(labServer4).To4())), srvMAC, now)
	p.nd.Cache().Learn([16]byte(xlattest.IP(labClient6)), hostMAC, now)
	w = p.newWorker()
	out = &discard{}
	w.tx[xlat.Side6], w.tx[xlat.Side4] = out, out
	frames[xlat.Side6] = tcp6Frame(&layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 1, Ack: 1, ACK: true, Window: 512}, 1440)
	if !nat64 {
		frames[xlat.Side4] = tcp4Frame(labClient6v4, 40000)
		return w, out, frames
	}
	// Only a SYN makes a session (RFC 6146).
	syn := tcp6Frame(&layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 0, SYN: true, Window: 512}, 0)
	copy(w.bufs[0][Headroom:], syn)
	w.sizes[0] = len(syn)
	w.batch(xlat.Side6, 1, now)
	if out.frames != 1 || len(out.last) < header.EthernetLen+40 {
		tb.Fatalf("the SYN was not translated (%d frames out)", out.frames)
	}
	out.frames = 0
	frames[xlat.Side4] = tcp4Frame(labPool4, binary.BigEndian.Uint16(out.last[header.EthernetLen+20:])) // the source port pool4 gave it
	return w, out, frames
}

// tcp6Frame is the Ethernet frame of tcp with n bytes of payload from the
// lab's client to the server's mapped address.
func tcp6Frame(tcp *layers.TCP, n int) []byte {
	ip6 := xlattest.IPv6(labClient6, labVia6, layers.IPProtocolTCP)
	tcp.SetNetworkLayerForChecksum(ip6)
	return xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetTypeIPv6), ip6, tcp, xlattest.Payload(n))
}

// tcp4Frame is the Ethernet frame of a TCP segment with 1440 bytes of
// payload, DF set, from the lab's server port 5201 to dst port dport.
func tcp4Frame(dst string, dport uint16) []byte {
	ip4 := xlattest.IPv4(labServer4, dst, layers.IPProtocolTCP)
	ip4.Flags = layers.IPv4DontFragment
	tcp4 := &layers.TCP{SrcPort: 5201, DstPort: layers.TCPPort(dport), Seq: 1, Ack: 1, ACK: true, Window: 512}
	tcp4.SetNetworkLayerForChecksum(ip4)
	return xlattest.Serialize(eth(mac4, srvMAC, layers.EthernetTypeIPv4), ip4, tcp4, xlattest.Payload(1440))
}

// BenchmarkWorkerBatch measures a worker's whole handling of a batch of 64
// full-size TCP segments, as the ring path hands it over: Ethernet,
// neighbor learning, translation, next hop and Ethernet header out, and the
// counters, with the writes going nowhere. Reported per frame.
func BenchmarkWorkerBatch(b *testing.B) {
	for _, mode := range []struct {
		name  string
		nat64 bool
	}{{"SIIT", false}, {"NAT64", true}} {
		for _, dir := range []struct {
			name string
			side xlat.Side
		}{{"6to4", xlat.Side6}, {"4to6", xlat.Side4}} {
			b.Run(mode.name+"/"+dir.name, func(b *testing.B) {
				w, out, frames := benchWorker(b, mode.nat64)
				f := frames[dir.side]
				for i := range w.bufs {
					copy(w.bufs[i][Headroom:], f)
					w.sizes[i] = len(f)
				}
				const hdr = header.EthernetLen + 60 + 20 // the bytes translation rewrites
				b.ReportAllocs()
				b.SetBytes(int64(BatchSize * len(f)))
				for b.Loop() {
					for i := range w.bufs {
						copy(w.bufs[i][Headroom:Headroom+hdr], f)
					}
					w.batch(dir.side, BatchSize, time.Now())
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*BatchSize), "ns/frame")
				if out.frames != b.N*BatchSize {
					b.Fatalf("%d frames out of %d", out.frames, b.N*BatchSize)
				}
			})
		}
	}
}

// TestWorkerBatchNoAllocs: a worker handles a batch of translated TCP
// segments, both modes and directions, without allocating.
func TestWorkerBatchNoAllocs(t *testing.T) {
	for _, nat64 := range []bool{false, true} {
		w, out, frames := benchWorker(t, nat64)
		for _, side := range []xlat.Side{xlat.Side6, xlat.Side4} {
			f := frames[side]
			out.frames = 0
			allocs := testing.AllocsPerRun(20, func() {
				for i := range w.bufs {
					copy(w.bufs[i][Headroom:], f)
					w.sizes[i] = len(f)
				}
				w.batch(side, BatchSize, time.Now())
			})
			if out.frames != 21*BatchSize { // AllocsPerRun runs it once more first
				t.Fatalf("nat64 %v side %v: %d frames out of %d", nat64, side, out.frames, 21*BatchSize)
			}
			if allocs != 0 {
				t.Errorf("nat64 %v side %v: %.1f allocations per batch", nat64, side, allocs)
			}
		}
	}
}
