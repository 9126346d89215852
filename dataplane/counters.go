package dataplane

import (
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"text/tabwriter"

	"github.com/nat64br/nat64br/xlat"
)

// Counter indexes the frame path's counters. Workers count in a plain
// array of their own and add it to the shared one once per batch: no
// atomic operation or lock per packet.
type Counter int

// The frame path's own counters; Drop and Reply give the translator's.
const (
	FramesIn6      Counter = iota // frames received on the IPv6 side
	FramesIn4                     // frames received on the IPv4 side
	FramesOut6                    // frames sent on the IPv6 side
	FramesOut4                    // frames sent on the IPv4 side
	Replies                       // ICMP errors and echo replies from the translator
	Fragments                     // fragments made of oversized packets
	ARPFrames                     // ARP frames handled
	NDFrames                      // Neighbor Discovery frames (and pings to the link-local address) handled
	LinkReplies                   // ARP and ND answers sent
	Held                          // frames queued while their next hop was resolved
	HoldDrop                      // frames dropped because a neighbor queue was full
	NoScratch                     // replies or fragments dropped for want of a scratch buffer
	GSOUnresolved                 // super-frames (passed through whole) dropped: next hop not resolved
	GSOTagged                     // super-frames (passed through whole) dropped: they would leave on a VLAN side
	Runt                          // frames shorter than an Ethernet header
	VLANTagged                    // frames of a VLAN no side serves (or untagged on a VLAN side, or 802.1ad / stacked tags)
	OtherEtherType                // other EtherTypes (not IPv4, IPv6, ARP), or not an IP packet on an IP link
	WrongPort                     // IPv4 or ARP on the IPv6 port, IPv6 on the IPv4 port
	ForHost                       // on a port shared with the host: packets to addresses nat64br does not translate, left to the kernel
	NotForUs                      // unicast frames for another MAC, or IP packets to a group MAC (broadcast, multicast)
	OwnSource                     // frames whose source is the port's own MAC (our own, looped back)
	NoNeighbor                    // packets to a next hop never resolved: the IPv4 subnet's network or broadcast address, a multicast one
	FragmentsHeld                 // fragments held for reassembly
	Reassembled                   // datagrams reassembled

	// The ledger: what became of each frame read, by the side it came in
	// on (Ledger). Besides ARP, ND and ForHost frames, each frame read
	// counts once: translated on, answered, held for reassembly or
	// dropped.
	InTranslated6   // translated towards the IPv4 side (sent, fragmented or held for the next hop)
	InTranslated4   // translated towards the IPv6 side
	InAnswered6     // answered by the translator, back on the IPv6 side
	InAnswered4     // answered by the translator, back on the IPv4 side
	InFragmentHeld6 // fragments held for reassembly (the last one takes its datagram's fate)
	InFragmentHeld4 //
	InDropped6      // dropped, whatever the reason
	InDropped4      //
	LateDrops       // drops of frames the ledger counted already (held fragments, held frames, fragments of a packet sent on)

	Batches  // batches read
	BytesIn6 // frame bytes, as the frame counters above
	BytesIn4
	BytesOut6
	BytesOut4
	Batch1 // batches of 1 frame, 2-4, 5-16 and 17-64 frames
	Batch4
	Batch16
	Batch64
	dropBase                                          // + xlat.Reason: dropped by the translator
	replyBase   = dropBase + Counter(xlat.NumReasons) // + xlat.Reason: answered by the translator
	NumCounters = replyBase + Counter(xlat.NumReasons)
)

// Drop returns the counter of frames the translator dropped for r.
func Drop(r xlat.Reason) Counter { return dropBase + Counter(r) }

// Reply returns the counter of frames the translator answered for r.
func Reply(r xlat.Reason) Counter { return replyBase + Counter(r) }

// Reason returns the translator's reason c counts, and whether c counts
// drops (true) or replies (false); ok is false for the frame path's own
// counters.
func (c Counter) Reason() (r xlat.Reason, drop, ok bool) {
	switch {
	case c >= dropBase && c < replyBase:
		return xlat.Reason(c - dropBase), true, true
	case c >= replyBase && c < NumCounters:
		return xlat.Reason(c - replyBase), false, true
	}
	return 0, false, false
}

var counterNames = [dropBase]string{
	FramesIn6: "frames_in_ipv6", FramesIn4: "frames_in_ipv4", FramesOut6: "frames_out_ipv6", FramesOut4: "frames_out_ipv4",
	Replies: "translator_replies", Fragments: "fragments_made", ARPFrames: "arp_frames", NDFrames: "nd_frames",
	LinkReplies: "arp_nd_answers", Held: "held_for_neighbor", HoldDrop: "neighbor_queue_full", NoScratch: "no_scratch_buffer",
	GSOUnresolved: "super_frame_unresolved", GSOTagged: "super_frame_vlan",
	Runt: "runt_frame", VLANTagged: "vlan_tagged", OtherEtherType: "other_ethertype", WrongPort: "wrong_port", ForHost: "for_host", Batches: "batches",
	NotForUs: "not_for_us", OwnSource: "own_mac_source", NoNeighbor: "no_neighbor",
	FragmentsHeld: "fragments_held", Reassembled: "datagrams_reassembled",
	InTranslated6: "in_ipv6_translated", InTranslated4: "in_ipv4_translated", InAnswered6: "in_ipv6_answered", InAnswered4: "in_ipv4_answered",
	InFragmentHeld6: "in_ipv6_fragment_held", InFragmentHeld4: "in_ipv4_fragment_held", InDropped6: "in_ipv6_dropped", InDropped4: "in_ipv4_dropped", LateDrops: "late_drops",
	BytesIn6: "bytes_in_ipv6", BytesIn4: "bytes_in_ipv4", BytesOut6: "bytes_out_ipv6", BytesOut4: "bytes_out_ipv4",
	Batch1: "batches_of_1", Batch4: "batches_of_2_to_4", Batch16: "batches_of_5_to_16", Batch64: "batches_of_17_to_64",
}

// BatchBucket is a batch size counter and the largest batch it counts.
type BatchBucket struct {
	Max     int
	Counter Counter
}

// batchBuckets are the batch size counters Batch1... in ascending order.
var batchBuckets = [...]BatchBucket{{1, Batch1}, {4, Batch4}, {16, Batch16}, {64, Batch64}}

// BatchBuckets returns the batch size counters in ascending order of size
// (a histogram's buckets).
func BatchBuckets() []BatchBucket { return batchBuckets[:] }

// countBatch counts a batch of n frames in c.
func (c *Counters) countBatch(n int) {
	c[Batches]++
	for _, b := range batchBuckets {
		if n <= b.Max {
			c[b.Counter]++
			return
		}
	}
	c[Batch64]++ // larger batches than the bounds (not made today)
}

// FrameDrops are the counters that are drops of the frame path itself.
var FrameDrops = []Counter{Runt, VLANTagged, OtherEtherType, WrongPort, HoldDrop, NoScratch, GSOUnresolved, GSOTagged, NotForUs, OwnSource, NoNeighbor}

// String returns the counter's name as operators see it: "frames_in_ipv6",
// "drop_" or "reply_" and a translator reason.
func (c Counter) String() string {
	switch {
	case c >= 0 && c < dropBase:
		return counterNames[c]
	case c >= dropBase && c < replyBase:
		return "drop_" + xlat.Reason(c-dropBase).String()
	case c >= replyBase && c < NumCounters:
		return "reply_" + xlat.Reason(c-replyBase).String()
	}
	return fmt.Sprintf("counter_%d", int(c))
}

// Counters are the plane's books, indexed by Counter.
type Counters [NumCounters]uint64

// sharedCounters are the totals of all workers, for readers on other
// goroutines.
type sharedCounters [NumCounters]atomic.Uint64

// add moves c into s and zeroes c (once per batch).
func (s *sharedCounters) add(c *Counters) {
	for i, v := range c {
		if v != 0 {
			s[i].Add(v)
			c[i] = 0
		}
	}
}

// load returns a copy of the totals.
func (s *sharedCounters) load() Counters {
	var c Counters
	for i := range s {
		c[i] = s[i].Load()
	}
	return c
}

// Dropped returns the frames dropped, by the frame path or the translator.
func (c *Counters) Dropped() uint64 {
	var n uint64
	for _, k := range FrameDrops {
		n += c[k]
	}
	for r := xlat.Reason(1); r < xlat.NumReasons; r++ {
		n += c[Drop(r)]
	}
	return n
}

// Ledger is what became of the frames read on one side: besides its
// link-layer frames (ARP, ND, ForHost), each frame read counts once in
// Translated, Answered, FragmentHeld or Dropped.
type Ledger struct {
	In, Link, Translated, Answered, FragmentHeld, Dropped uint64
}

// Ledger returns side s's ledger. Link is the ARP frames (IPv4 side) or
// the ND frames (IPv6 side) handled; the ForHost frames of a shared port
// are the IPv6 side's.
func (c *Counters) Ledger(s xlat.Side) Ledger {
	i := Counter(s - xlat.Side6)
	l := Ledger{In: c[FramesIn6+i], Translated: c[InTranslated6+i], Answered: c[InAnswered6+i],
		FragmentHeld: c[InFragmentHeld6+i], Dropped: c[InDropped6+i]}
	if s == xlat.Side6 {
		l.Link = c[NDFrames] + c[ForHost]
	} else {
		l.Link = c[ARPFrames]
	}
	return l
}

// Unaccounted returns the frames read that the ledger does not account
// for: In minus every fate (0 when the books balance).
func (l Ledger) Unaccounted() int64 {
	return int64(l.In) - int64(l.Link+l.Translated+l.Answered+l.FragmentHeld+l.Dropped)
}

// Print writes the counters as a table: the totals, then every non-zero
// drop and reply reason.
func (c *Counters) Print(w io.Writer) {
	fmt.Fprintf(w, "frames in:  ipv6 %d, ipv4 %d\n", c[FramesIn6], c[FramesIn4])
	fmt.Fprintf(w, "frames out: ipv6 %d, ipv4 %d (%d ICMP replies from the translator, %d fragments)\n",
		c[FramesOut6], c[FramesOut4], c[Replies], c[Fragments])
	if c[FragmentsHeld]+c[Reassembled] > 0 {
		fmt.Fprintf(w, "reassembly: %d fragments held, %d datagrams reassembled\n", c[FragmentsHeld], c[Reassembled])
	}
	if c[ARPFrames]+c[NDFrames] > 0 {
		fmt.Fprintf(w, "arp/nd:     %d ARP frames, %d ND frames, %d answers, %d frames held for a neighbor\n", c[ARPFrames], c[NDFrames], c[LinkReplies], c[Held])
	}
	fmt.Fprintf(w, "dropped:    %d\n", c.Dropped())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range FrameDrops {
		if c[k] != 0 {
			fmt.Fprintf(tw, "  drop\t%s\t%d\n", k, c[k])
		}
	}
	for r := xlat.Reason(1); r < xlat.NumReasons; r++ {
		if v := c[Drop(r)]; v != 0 {
			fmt.Fprintf(tw, "  drop\t%s\t%d\n", r, v)
		}
	}
	for r := xlat.Reason(1); r < xlat.NumReasons; r++ {
		if v := c[Reply(r)]; v != 0 {
			fmt.Fprintf(tw, "  reply\t%s\t%d\n", r, v)
		}
	}
	tw.Flush()
}

// counterExplanations say what the frame path's own counters count.
var counterExplanations = [dropBase]string{
	FramesIn6: "Ethernet frames received on the IPv6 port", FramesIn4: "Ethernet frames received on the IPv4 port",
	FramesOut6: "frames sent on the IPv6 port (translated, or answers)", FramesOut4: "frames sent on the IPv4 port (translated, or answers)",
	Replies: "ICMP errors and echo replies from the translator", Fragments: "fragments made of packets over the next hop's MTU (IPv6 ones of DF=0 IPv4 packets, and reassembled datagrams)",
	ARPFrames: "ARP frames handled", NDFrames: "Neighbor Discovery frames handled (and pings to the link-local address)",
	LinkReplies: "ARP replies and Neighbor Advertisements sent", Held: "frames queued while their next hop was resolved",
	HoldDrop: "dropped: the next hop's queue of waiting frames was full", NoScratch: "dropped: no scratch buffer for a reply or fragment in this batch",
	GSOUnresolved: "dropped: a TCP super-frame passed through whole whose next hop was not resolved yet (not held: the sender resends it)",
	GSOTagged:     "dropped: a TCP super-frame passed through whole that would leave on a VLAN side (turn data-path.gso off there)",
	Runt:          "dropped: shorter than an Ethernet header", VLANTagged: "dropped: of a VLAN no side serves, untagged where the side is a VLAN, or 802.1ad/stacked tags",
	OtherEtherType: "dropped: an EtherType other than IPv4, IPv6 and ARP", WrongPort: "dropped: IPv4 or ARP on the IPv6 port, or IPv6 on the IPv4 port",
	ForHost:       "one-armed: packets to addresses nat64br has no mapping for, on the port the host shares (the host's own traffic; the kernel takes them)",
	NotForUs:      "dropped: a unicast frame for another MAC address (a promiscuous port, a flooding switch), or an IP packet to a broadcast or multicast MAC address (ARP and Neighbor Discovery to those are handled)",
	OwnSource:     "dropped: a frame whose source is the port's own MAC address (one of nat64br's own, looped back by the segment): never answered nor learned",
	NoNeighbor:    "dropped: a packet whose next hop is never resolved (the IPv4 subnet's network or broadcast address, a multicast or unspecified address, the IPv6 subnet-router anycast address): no ARP or Neighbor Solicitation is sent for it",
	FragmentsHeld: "fragments held for reassembly (ICMP, and every fragment in NAT64); the datagrams they complete are translated whole",
	Reassembled:   "datagrams reassembled and translated whole",
	Batches:       "batches of frames read", BytesIn6: "bytes of the frames received on the IPv6 port", BytesIn4: "bytes of the frames received on the IPv4 port",
	BytesOut6: "bytes of the frames sent on the IPv6 port", BytesOut4: "bytes of the frames sent on the IPv4 port",
	Batch1: "batches of 1 frame", Batch4: "batches of 2 to 4 frames", Batch16: "batches of 5 to 16 frames", Batch64: "batches of 17 to 64 frames",

	InTranslated6:   "frames received on the IPv6 side and translated on (sent whole or in fragments, or held for the next hop)",
	InTranslated4:   "frames received on the IPv4 side and translated on (sent whole or in fragments, or held for the next hop)",
	InAnswered6:     "frames received on the IPv6 side that the translator answered (ICMP error, echo reply) instead",
	InAnswered4:     "frames received on the IPv4 side that the translator answered (ICMP error, echo reply) instead",
	InFragmentHeld6: "fragments received on the IPv6 side and held for reassembly (the last one of a datagram counts as the datagram went)",
	InFragmentHeld4: "fragments received on the IPv4 side and held for reassembly (the last one of a datagram counts as the datagram went)",
	InDropped6:      "frames received on the IPv6 side and dropped (the drop counters say why)",
	InDropped4:      "frames received on the IPv4 side and dropped (the drop counters say why)",
	LateDrops:       "drops of frames counted already as held or translated: fragments of a datagram that timed out or was refused, frames whose neighbor never answered, fragments of a packet sent on",
}

// CounterNamed returns the counter whose String is name.
func CounterNamed(name string) (Counter, bool) {
	for c := Counter(0); c < NumCounters; c++ {
		if c.String() == name {
			return c, true
		}
	}
	return 0, false
}

// Explain says what c counts.
func (c Counter) Explain() string {
	if r, drop, ok := c.Reason(); ok {
		if drop {
			return "dropped: " + r.Explain()
		}
		return "answered with an ICMP error: " + r.Explain()
	}
	if c >= 0 && c < dropBase {
		return counterExplanations[c]
	}
	return ""
}

// IsDrop reports whether c counts dropped frames: a frame path drop, or a
// translator drop reason other than none.
func (c Counter) IsDrop() bool {
	r, drop, ok := c.Reason()
	return ok && drop && r != 0 || slices.Contains(FrameDrops, c)
}
