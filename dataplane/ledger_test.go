package dataplane

import (
	"fmt"
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
	checkBooks(t, &c)
}

// books reports how c's books do not balance, or "": each side's
// ledger (or, on a shared port, the two together) accounts for every
// frame read, and the drops by reason are the ledger's drops and the late
// ones.
func books(c *Counters, shared bool) string {
	l6, l4 := c.Ledger(xlat.Side6), c.Ledger(xlat.Side4)
	if shared {
		l6 = Ledger{In: l6.In + l4.In, Link: l6.Link + l4.Link, Translated: l6.Translated + l4.Translated,
			Answered: l6.Answered + l4.Answered, FragmentHeld: l6.FragmentHeld + l4.FragmentHeld, Dropped: l6.Dropped + l4.Dropped}
		l4 = Ledger{}
	}
	for _, l := range []Ledger{l6, l4} {
		if l.Unaccounted() != 0 {
			return fmt.Sprintf("%d frames unaccounted: %+v", l.Unaccounted(), l)
		}
	}
	if d, l := c.Dropped(), c[InDropped6]+c[InDropped4]+c[LateDrops]; d != l {
		return fmt.Sprintf("%d drops by reason, but the ledger has %d (%d + %d + %d late)", d, l, c[InDropped6], c[InDropped4], c[LateDrops])
	}
	return ""
}

// checkBooks fails t unless c's books balance (books).
func checkBooks(t *testing.T, c *Counters) {
	t.Helper()
	if s := books(c, false); s != "" {
		t.Error(s)
	}
}

// waitBooks fails t unless p's books balance within 2 s (the workers
// publish their counters after each batch).
func waitBooks(t *testing.T, p *Plane) {
	t.Helper()
	s := ""
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c := p.Counters()
		if s = books(&c, p.shared); s == "" {
			return
		}
	}
	t.Error(s)
}
