// Package dataplane is nat64br's frame path: workers that read frames from
// ports in batches, hand ARP and Neighbor Discovery to arpnd (RFC 826, RFC
// 4861) and IP packets to the translator (xlat: RFC 7915, RFC 6146), put
// the next hop's link header on the results, hold frames whose next hop is
// being resolved, and write the batch out. Nothing is bridged: a frame the
// plane neither translates nor answers is counted under a drop reason.
//
// The same worker serves live ports (AF_PACKET sockets and rings, package
// wire) and pcap replay: New takes ports through the small interfaces this
// package declares (Port, Queue, Poller), so a new kind of port is a new
// type in wire and one line in the command that composes them. Each side
// of the plane has a link mode: Ethernet, with ARP/ND and neighbor caches,
// or bare IP packets (pcap link types 101, 228, 229). Both sides may share
// one port (one-armed), told apart by IEEE 802.1Q VLAN and by EtherType,
// and each Ethernet side may be a VLAN, its tag carried inline.
//
// Concurrency: one goroutine per worker owns its buffers, translator clone
// and counters, and publishes the counters once per batch. The timers
// (neighbor caches, Router Advertisements, NAT64 expiry) run on one
// goroutine of their own, or on the caller's for a Sync plane (replay).
package dataplane
