package main

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// discard is a batchWriter that counts what it is given and keeps a copy
// of the last frame.
type discard struct {
	frames int
	last   []byte
}

func (d *discard) WriteBatch(bufs [][]byte, _ int) (int, error) {
	d.frames += len(bufs)
	d.last = append(d.last[:0], bufs[len(bufs)-1]...)
	return len(bufs), nil
}

// benchWorker is a worker of a dataplane that is not started: the
// benchmark hands it batches itself. The neighbors on both sides are
// resolved.
func benchWorker(tb testing.TB, yaml string) (*worker, *discard) {
	tb.Helper()
	d, _, _, _, _ := memDataplane(tb, "bench.yaml", yaml, 16)
	now := time.Now()
	d.arp.Cache().Learn(arpnd.Key4([4]byte(xlattest.IP(labServer4).To4())), srvMAC, now)
	d.nd.Cache().Learn([16]byte(xlattest.IP(labClient6)), hostMAC, now)
	w := d.newWorker(xlat.Side6)
	out := &discard{}
	w.tx[xlat.Side6], w.tx[xlat.Side4] = out, out
	return w, out
}

// benchFrames returns a TCP segment with 1440 bytes of payload each way
// between the lab's client and server, as Ethernet frames to nat64br.
func benchFrames(tb testing.TB, nat64 bool) (from6, from4 []byte) {
	tb.Helper()
	ip6 := xlattest.IPv6(labClient6, labVia6, layers.IPProtocolTCP)
	tcp6 := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 1, Ack: 1, ACK: true, Window: 512}
	tcp6.SetNetworkLayerForChecksum(ip6)
	from6 = xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetTypeIPv6), ip6, tcp6, xlattest.Payload(1440))
	dst4 := labClient6v4
	if nat64 {
		dst4 = "192.0.2.1" // pool4
	}
	ip4 := xlattest.IPv4(labServer4, dst4, layers.IPProtocolTCP)
	ip4.Flags = layers.IPv4DontFragment
	tcp4 := &layers.TCP{SrcPort: 5201, DstPort: 40000, Seq: 1, Ack: 1, ACK: true, Window: 512}
	tcp4.SetNetworkLayerForChecksum(ip4)
	from4 = xlattest.Serialize(eth(mac4, srvMAC, layers.EthernetTypeIPv4), ip4, tcp4, xlattest.Payload(1440))
	return from6, from4
}

// BenchmarkWorkerBatch measures a worker's whole handling of a batch of 64
// full-size TCP segments, as the ring path hands it over: Ethernet,
// neighbor learning, translation, next hop and Ethernet header out, and the
// counters, with the writes going nowhere. Reported per frame.
func BenchmarkWorkerBatch(b *testing.B) {
	for _, mode := range []struct {
		name string
		yaml string
	}{{"SIIT", demoConfig}, {"NAT64", demoNAT64Config}} {
		for _, dir := range []struct {
			name string
			side xlat.Side
		}{{"6to4", xlat.Side6}, {"4to6", xlat.Side4}} {
			b.Run(mode.name+"/"+dir.name, func(b *testing.B) {
				w, out := benchWorker(b, mode.yaml)
				from6, from4 := benchFrames(b, mode.name == "NAT64")
				if mode.name == "NAT64" {
					from4 = natReturn(b, w, out)
				}
				f := from6
				if dir.side == xlat.Side4 {
					f = from4
				}
				for i := range w.bufs {
					copy(w.bufs[i][frameHeadroom:], f)
					w.sizes[i] = len(f)
				}
				const hdr = ethLen + 60 + 20 // the bytes translation rewrites
				b.ReportAllocs()
				b.SetBytes(int64(batchSize * len(f)))
				for b.Loop() {
					for i := range w.bufs {
						copy(w.bufs[i][frameHeadroom:frameHeadroom+hdr], f)
					}
					w.batch(dir.side, batchSize)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batchSize), "ns/frame")
				if out.frames != b.N*batchSize {
					b.Fatalf("%d frames out of %d", out.frames, b.N*batchSize)
				}
			})
		}
	}
}

// natReturn sends a SYN through w's NAT64 translator and returns the
// server's answer to the session it made.
func natReturn(tb testing.TB, w *worker, out *discard) []byte {
	tb.Helper()
	// Only a SYN makes a session (RFC 6146).
	ip6 := xlattest.IPv6(labClient6, labVia6, layers.IPProtocolTCP)
	syn := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 0, SYN: true, Window: 512}
	syn.SetNetworkLayerForChecksum(ip6)
	f := xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetTypeIPv6), ip6, syn)
	copy(w.bufs[0][frameHeadroom:], f)
	w.sizes[0] = len(f)
	w.batch(xlat.Side6, 1)
	if out.frames != 1 || len(out.last) < ethLen+40 {
		tb.Fatalf("the first segment was not translated (%d frames out)", out.frames)
	}
	out.frames = 0
	port := binary.BigEndian.Uint16(out.last[ethLen+20:]) // the source port pool4 gave it
	ip4 := xlattest.IPv4(labServer4, "192.0.2.1", layers.IPProtocolTCP)
	ip4.Flags = layers.IPv4DontFragment
	tcp4 := &layers.TCP{SrcPort: 5201, DstPort: layers.TCPPort(port), Seq: 1, Ack: 1, ACK: true, Window: 512}
	tcp4.SetNetworkLayerForChecksum(ip4)
	return xlattest.Serialize(eth(mac4, srvMAC, layers.EthernetTypeIPv4), ip4, tcp4, xlattest.Payload(1440))
}

// TestWorkerBatchNoAllocs: a worker handles a batch of translated TCP
// segments, both modes and directions, without allocating.
func TestWorkerBatchNoAllocs(t *testing.T) {
	for _, nat64 := range []bool{false, true} {
		yaml := demoConfig
		if nat64 {
			yaml = demoNAT64Config
		}
		w, out := benchWorker(t, yaml)
		from6, from4 := benchFrames(t, nat64)
		if nat64 {
			from4 = natReturn(t, w, out)
		}
		for _, side := range []xlat.Side{xlat.Side6, xlat.Side4} {
			f := from6
			if side == xlat.Side4 {
				f = from4
			}
			out.frames = 0
			allocs := testing.AllocsPerRun(20, func() {
				for i := range w.bufs {
					copy(w.bufs[i][frameHeadroom:], f)
					w.sizes[i] = len(f)
				}
				w.batch(side, batchSize)
			})
			if out.frames != 21*batchSize { // AllocsPerRun runs it once more first
				t.Fatalf("nat64 %v side %v: %d frames out of %d", nat64, side, out.frames, 21*batchSize)
			}
			if allocs != 0 {
				t.Errorf("nat64 %v side %v: %.1f allocations per batch", nat64, side, allocs)
			}
		}
	}
}
