package dataplane

import (
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/header"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// TestNoScratchCountedOnce: a frame that finds no scratch buffer left in
// its batch is counted once, as a no_scratch_buffer drop, and no longer
// as an ARP frame handled too.
func TestNoScratchCountedOnce(t *testing.T) {
	p, w, out := reasmWorker(t, false, xlat.ReassemblyOptions{})
	arp := xlattest.Serialize(eth(header.BroadcastMAC, srvMAC, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
		SourceHwAddress: srvMAC[:], SourceProtAddress: xlattest.IP(labServer4).To4(), DstHwAddress: make([]byte, 6), DstProtAddress: xlattest.IP(labClient6v4).To4()})
	// Every scratch buffer of the batch is taken.
	for w.scratchBuf() != nil {
	}
	copy(w.bufs[0][Headroom:], arp)
	w.port = xlat.Side4
	w.frame(w.bufs[0], len(arp), wire.GSO{}, time.Now())
	w.flush()
	w.p.stats.add(&w.c)
	c := p.Counters()
	if c[NoScratch] != 1 || c[ARPFrames] != 0 || c[LinkReplies] != 0 || c.Dropped() != 1 || out.frames != 0 {
		t.Errorf("no_scratch_buffer %d, arp_frames %d, arp_nd_answers %d, dropped %d, frames out %d; want 1, 0, 0, 1, 0",
			c[NoScratch], c[ARPFrames], c[LinkReplies], c.Dropped(), out.frames)
	}
}
