package main

import (
	"fmt"
	"io"
	"sync/atomic"
	"text/tabwriter"

	"github.com/nat64br/nat64br/xlat"
)

// counter indexes the frame path's counters. Workers count in a plain array
// of their own and add it to the shared one once per batch: no atomic
// operation or lock per packet.
type counter int

const (
	cIn6 counter = iota
	cIn4
	cOut6
	cOut4
	cReplies   // ICMP errors and echo replies from the translator
	cFragments // IPv6 fragments made of oversized packets
	cARP       // ARP frames handled
	cND        // Neighbor Discovery frames (and pings to the link-local address) handled
	cLinkReply // ARP and ND answers sent
	cHeld      // frames queued while their next hop was resolved
	cHoldDrop  // frames dropped because a neighbor queue was full
	cNoScratch // replies or fragments dropped for want of a scratch buffer
	cGSOHold   // super-frames (passed through whole) dropped: next hop not resolved
	cRunt      // frames shorter than an Ethernet header
	cVLAN      // 802.1Q / 802.1ad tagged frames
	cOther     // other EtherTypes (not IPv4, IPv6, ARP)
	cWrongSide // IPv4 or ARP on the IPv6 port, IPv6 on the IPv4 port
	cBatches
	cBytesIn6 // Ethernet frame bytes, as the frame counters above
	cBytesIn4
	cBytesOut6
	cBytesOut4
	cBatch1 // batches of 1 frame, 2-4, 5-16 and 17-64 frames
	cBatch4
	cBatch16
	cBatch64
	cDropBase                                          // + xlat.Reason: dropped by the translator
	cReplyBase  = cDropBase + counter(xlat.NumReasons) // + xlat.Reason: answered by the translator
	numCounters = cReplyBase + counter(xlat.NumReasons)
)

var counterNames = [cDropBase]string{
	cIn6: "frames_in_ipv6", cIn4: "frames_in_ipv4", cOut6: "frames_out_ipv6", cOut4: "frames_out_ipv4",
	cReplies: "translator_replies", cFragments: "fragments_made", cARP: "arp_frames", cND: "nd_frames",
	cLinkReply: "arp_nd_answers", cHeld: "held_for_neighbor", cHoldDrop: "neighbor_queue_full", cNoScratch: "no_scratch_buffer",
	cGSOHold: "super_frame_unresolved",
	cRunt:    "runt_frame", cVLAN: "vlan_tagged", cOther: "other_ethertype", cWrongSide: "wrong_port", cBatches: "batches",
	cBytesIn6: "bytes_in_ipv6", cBytesIn4: "bytes_in_ipv4", cBytesOut6: "bytes_out_ipv6", cBytesOut4: "bytes_out_ipv4",
	cBatch1: "batches_of_1", cBatch4: "batches_of_2_to_4", cBatch16: "batches_of_5_to_16", cBatch64: "batches_of_17_to_64",
}

// batchBuckets are the upper bounds of the batch size counters cBatch1...
var batchBuckets = [...]struct {
	le int
	c  counter
}{{1, cBatch1}, {4, cBatch4}, {16, cBatch16}, {64, cBatch64}}

// countBatch counts a batch of n frames in c.
func (c *counters) countBatch(n int) {
	c[cBatches]++
	for _, b := range batchBuckets {
		if n <= b.le {
			c[b.c]++
			return
		}
	}
	c[cBatch64]++ // larger batches than the bounds (not made today)
}

// frameDrops are the counters that are drops of the frame path itself.
var frameDrops = []counter{cRunt, cVLAN, cOther, cWrongSide, cHoldDrop, cNoScratch, cGSOHold}

func (c counter) String() string {
	switch {
	case c < cDropBase:
		return counterNames[c]
	case c < cReplyBase:
		return "drop_" + xlat.Reason(c-cDropBase).String()
	case c < numCounters:
		return "reply_" + xlat.Reason(c-cReplyBase).String()
	}
	return fmt.Sprintf("counter_%d", int(c))
}

// counters is one worker's books.
type counters [numCounters]uint64

// sharedCounters are the totals of all workers, for readers on other
// goroutines.
type sharedCounters [numCounters]atomic.Uint64

// add moves c into s and zeroes c (once per batch).
func (s *sharedCounters) add(c *counters) {
	for i, v := range c {
		if v != 0 {
			s[i].Add(v)
			c[i] = 0
		}
	}
}

// load returns a copy of the totals.
func (s *sharedCounters) load() counters {
	var c counters
	for i := range s {
		c[i] = s[i].Load()
	}
	return c
}

func (c *counters) dropped() uint64 {
	var n uint64
	for _, k := range frameDrops {
		n += c[k]
	}
	for r := xlat.Reason(1); r < xlat.NumReasons; r++ {
		n += c[cDropBase+counter(r)]
	}
	return n
}

// print writes the counters as a table: the totals, then every non-zero
// drop and reply reason.
func (c *counters) print(w io.Writer) {
	fmt.Fprintf(w, "frames in:  ipv6 %d, ipv4 %d\n", c[cIn6], c[cIn4])
	fmt.Fprintf(w, "frames out: ipv6 %d, ipv4 %d (%d ICMP replies from the translator, %d IPv6 fragments)\n",
		c[cOut6], c[cOut4], c[cReplies], c[cFragments])
	if c[cARP]+c[cND] > 0 {
		fmt.Fprintf(w, "arp/nd:     %d ARP frames, %d ND frames, %d answers, %d frames held for a neighbor\n", c[cARP], c[cND], c[cLinkReply], c[cHeld])
	}
	fmt.Fprintf(w, "dropped:    %d\n", c.dropped())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range frameDrops {
		if c[k] != 0 {
			fmt.Fprintf(tw, "  drop\t%s\t%d\n", k, c[k])
		}
	}
	for r := xlat.Reason(1); r < xlat.NumReasons; r++ {
		if v := c[cDropBase+counter(r)]; v != 0 {
			fmt.Fprintf(tw, "  drop\t%s\t%d\n", r, v)
		}
	}
	for r := xlat.Reason(1); r < xlat.NumReasons; r++ {
		if v := c[cReplyBase+counter(r)]; v != 0 {
			fmt.Fprintf(tw, "  reply\t%s\t%d\n", r, v)
		}
	}
	tw.Flush()
}

// counterExplanations say what the frame path's own counters count.
var counterExplanations = map[counter]string{
	cIn6: "Ethernet frames received on the IPv6 port", cIn4: "Ethernet frames received on the IPv4 port",
	cOut6: "frames sent on the IPv6 port (translated, or answers)", cOut4: "frames sent on the IPv4 port (translated, or answers)",
	cReplies: "ICMP errors and echo replies from the translator", cFragments: "IPv6 fragments made of IPv4 packets over the IPv6 MTU",
	cARP: "ARP frames handled", cND: "Neighbor Discovery frames handled (and pings to the link-local address)",
	cLinkReply: "ARP replies and Neighbor Advertisements sent", cHeld: "frames queued while their next hop was resolved",
	cHoldDrop: "dropped: the next hop's queue of waiting frames was full", cNoScratch: "dropped: no scratch buffer for a reply or fragment in this batch",
	cGSOHold: "dropped: a TCP super-frame passed through whole whose next hop was not resolved yet (not held: the sender resends it)",
	cRunt:    "dropped: shorter than an Ethernet header", cVLAN: "dropped: 802.1Q/802.1ad tagged (VLANs are not served)",
	cOther: "dropped: an EtherType other than IPv4, IPv6 and ARP", cWrongSide: "dropped: IPv4 or ARP on the IPv6 port, or IPv6 on the IPv4 port",
	cBatches: "batches of frames read", cBytesIn6: "bytes of the frames received on the IPv6 port", cBytesIn4: "bytes of the frames received on the IPv4 port",
	cBytesOut6: "bytes of the frames sent on the IPv6 port", cBytesOut4: "bytes of the frames sent on the IPv4 port",
	cBatch1: "batches of 1 frame", cBatch4: "batches of 2 to 4 frames", cBatch16: "batches of 5 to 16 frames", cBatch64: "batches of 17 to 64 frames",
}

// counterNamed returns the counter whose String is name.
func counterNamed(name string) (counter, bool) {
	for c := counter(0); c < numCounters; c++ {
		if c.String() == name {
			return c, true
		}
	}
	return 0, false
}

// counterExplanation says what the counter named name counts.
func counterExplanation(name string) string {
	c, ok := counterNamed(name)
	switch {
	case !ok:
		return ""
	case c < cDropBase:
		return counterExplanations[c]
	case c < cReplyBase:
		return "dropped: " + xlat.Reason(c-cDropBase).Explain()
	default:
		return "answered with an ICMP error: " + xlat.Reason(c-cReplyBase).Explain()
	}
}
