package xlat

//go:generate stringer -type=Reason -linecomment

// Reason says why a packet was dropped, or why the translator answered it
// with an ICMP error instead of translating it. Every Reason is counted by
// the caller; none is logged per packet.
type Reason uint8

// Reasons. The line comment is the stable name used in counters and metrics.
const (
	ReasonNone Reason = iota // none

	// Malformed input.
	ReasonTruncated       // truncated
	ReasonBadVersion      // bad_version
	ReasonBadHeaderLength // bad_header_length
	ReasonBadLength       // bad_length
	ReasonBadChecksum4    // bad_ipv4_checksum
	ReasonBadExtHeader    // bad_extension_header
	ReasonL4Truncated     // l4_truncated

	// Policy and forwarding decisions.
	ReasonExtAfterFragment   // extension_after_fragment
	ReasonSegmentsLeft       // segments_left
	ReasonSourceRoute        // source_route
	ReasonHopLimit           // hop_limit_exceeded
	ReasonTooBig             // too_big
	ReasonNoRoute6           // no_mapping_dst6
	ReasonNoRoute4           // no_mapping_dst4
	ReasonNoSource6          // no_mapping_src6
	ReasonNoSource4          // no_mapping_src4
	ReasonNonGlobalDst       // wkp_non_global_dst
	ReasonNonGlobalSrc       // wkp_non_global_src
	ReasonReservedAddr       // reserved_address
	ReasonFragmentedICMP     // fragmented_icmp
	ReasonICMPv6Info         // icmpv6_untranslatable_type
	ReasonICMPv4Info         // icmpv4_untranslatable_type
	ReasonICMPCode           // icmp_untranslatable_code
	ReasonICMPPointer        // icmp_untranslatable_pointer
	ReasonICMPChecksum       // icmp_error_bad_checksum
	ReasonICMPInnerBad       // icmp_error_bad_inner_packet
	ReasonICMPErrorInError   // icmp_error_in_error
	ReasonUDPZeroChecksum    // udp_zero_checksum
	ReasonUDPZeroChecksum6   // udp_zero_checksum_ipv6
	ReasonUDPZeroFragment    // udp_zero_checksum_fragment
	ReasonOwnAddress         // own_address
	ReasonOwnAddressUnreach  // own_address_unreachable
	ReasonNoErrorSource      // no_error_source_address
	ReasonNoRoom             // no_buffer_room
	ReasonWrongSide          // wrong_side
	ReasonFragmentBadOffsets // fragment_bad_offsets
	ReasonRateLimited        // icmp_error_rate_limited
	ReasonProtocol           // untranslatable_protocol
	ReasonNeighbor           // neighbor_unreachable

	// Stateful NAT64.
	ReasonNoSession         // nat64_no_session
	ReasonNoBIB             // nat64_no_bib_entry
	ReasonFiltered          // nat64_filtered
	ReasonPoolExhausted     // nat64_pool4_exhausted
	ReasonSessionLimit      // nat64_session_limit
	ReasonHostLimit         // nat64_host_limit
	ReasonPrefixLimit       // nat64_per64_limit
	ReasonExternalTCP       // nat64_externally_initiated_tcp
	ReasonICMPInfoFiltered  // nat64_icmpv6_info_dropped
	ReasonFragmentNoSession // nat64_fragment_without_first
	ReasonHeldSYN           // nat64_syn_held
	ReasonHoldFull          // nat64_syn_hold_full
	ReasonNoDynamicMapping  // dynamic_pool_no_mapping
	ReasonDynamicExhausted  // dynamic_pool_exhausted

	// Access control (clients, denylist4).
	ReasonClientSrc6   // clients_refused_src6
	ReasonClientDst6   // clients_refused_dst6
	ReasonDenylistDst4 // denylist4_refused_dst4
	ReasonDenylistSrc4 // denylist4_refused_src4

	// Reassembly.
	ReasonFragmentOverlap   // fragment_overlap
	ReasonFragmentDuplicate // fragment_duplicate
	ReasonFragmentLone      // fragment_lone
	ReasonReassemblyTimeout // reassembly_timeout
	ReasonReassemblyFull    // reassembly_full

	NumReasons // num_reasons
)

var explanations = [NumReasons]string{
	ReasonNone:               "not dropped",
	ReasonTruncated:          "the packet is shorter than its IP header or its length fields claim",
	ReasonBadVersion:         "the IP version nibble does not match the side the packet arrived on",
	ReasonBadHeaderLength:    "the IPv4 IHL is below 5 or beyond the packet",
	ReasonBadLength:          "the IP length fields are inconsistent (total length below the header, IPv6 jumbogram)",
	ReasonBadChecksum4:       "the IPv4 header checksum does not verify",
	ReasonBadExtHeader:       "an IPv6 extension header is truncated, misplaced, or the chain is too long",
	ReasonL4Truncated:        "the TCP, UDP or ICMP header is cut short, so its checksum cannot be updated",
	ReasonExtAfterFragment:   "an IPv6 extension header follows the Fragment header; it cannot be translated (RFC 7915 §5.1)",
	ReasonSegmentsLeft:       "an IPv6 Routing header has Segments Left > 0; answered with ICMPv6 Parameter Problem (RFC 7915 §5.1)",
	ReasonSourceRoute:        "an IPv4 packet carries an unexpired source route option; answered with ICMPv4 3/5 (RFC 7915 §4.1)",
	ReasonHopLimit:           "TTL or Hop Limit would reach zero; answered with ICMP Time Exceeded",
	ReasonTooBig:             "the translated packet would exceed the next-hop MTU and may not be fragmented; answered with Packet Too Big or Fragmentation Needed",
	ReasonNoRoute6:           "the IPv6 destination is neither in the RFC 6052 prefix nor in an EAM entry",
	ReasonNoRoute4:           "the IPv4 destination has no IPv6 mapping",
	ReasonNoSource6:          "the IPv6 source has no IPv4 mapping",
	ReasonNoSource4:          "the IPv4 source has no IPv6 mapping",
	ReasonNonGlobalDst:       "the destination is a non-global IPv4 address behind the Well-Known Prefix (RFC 6052 §3.1)",
	ReasonNonGlobalSrc:       "the source is a non-global IPv4 address behind the Well-Known Prefix (RFC 6052 §3.1)",
	ReasonReservedAddr:       "an address is unspecified, loopback, link-local, multicast or broadcast and is never translated",
	ReasonFragmentedICMP:     "the ICMP message is fragmented; its checksum cannot be translated without reassembly",
	ReasonICMPv6Info:         "ICMPv6 type with no ICMPv4 equivalent (ND, MLD, unknown informational) (RFC 7915 §5.2)",
	ReasonICMPv4Info:         "ICMPv4 type with no ICMPv6 equivalent (timestamp, information, address mask, router discovery, redirect, source quench) (RFC 7915 §4.2)",
	ReasonICMPCode:           "ICMP error code with no equivalent on the other side (RFC 7915 §4.2, §5.2)",
	ReasonICMPPointer:        "Parameter Problem pointer to a field that has no equivalent on the other side (RFC 7915 §4.2, §5.2)",
	ReasonICMPChecksum:       "ICMP error with a bad checksum: it would be recomputed, so it is not translated",
	ReasonICMPInnerBad:       "ICMP error whose quoted packet is malformed or cannot be translated",
	ReasonICMPErrorInError:   "ICMP error that quotes another ICMP error",
	ReasonUDPZeroChecksum:    "IPv4 UDP datagram without checksum, dropped as configured (udp-zero-checksum)",
	ReasonUDPZeroChecksum6:   "IPv6 UDP datagram with a zero checksum, which IPv6 forbids",
	ReasonUDPZeroFragment:    "fragmented IPv4 UDP datagram without checksum: the checksum cannot be computed",
	ReasonOwnAddress:         "packet addressed to the translator itself (answered if it is an echo request)",
	ReasonOwnAddressUnreach:  "packet addressed to the translator itself for a protocol it does not serve; answered with ICMP unreachable",
	ReasonNoErrorSource:      "an ICMP error was due but no source address (ipv4-addr, ipv6-addr) is configured",
	ReasonNoRoom:             "the buffer has too little headroom or tailroom to translate in place",
	ReasonWrongSide:          "the packet's IP version does not belong to the side it arrived on",
	ReasonFragmentBadOffsets: "the fragment would end beyond the 65535 bytes a datagram can hold",
	ReasonNeighbor:           "the next hop of a translated packet did not answer ARP or Neighbor Discovery; the sender got ICMP host unreachable",
	ReasonProtocol:           "the protocol number exists on one side only: ICMPv4 in IPv6, or an IPv6 extension header or ICMPv6 in IPv4",
	ReasonRateLimited:        "an ICMP error was due but the translator's error rate limit suppressed it (RFC 4443 §2.4(f))",
	ReasonNoSession:          "NAT64: a TCP segment other than a SYN, or an ICMP error quoting a packet, that matches no session",
	ReasonNoBIB:              "NAT64: an IPv4 packet for a pool4 address and port that no live BIB entry binds (UDP gets ICMP port unreachable); late replies after a session expired count here",
	ReasonFiltered:           "NAT64: address-dependent filtering refused an IPv4 packet from an address the IPv6 host has not contacted",
	ReasonPoolExhausted:      "NAT64: pool4 has no free port for a new BIB entry; answered with ICMPv6 address unreachable (RFC 6146 §3.5.1.1)",
	ReasonSessionLimit:       "NAT64: the table's session or BIB limit (limits.sessions, bib-entries) refused a new session; answered with ICMPv6 address unreachable",
	ReasonHostLimit:          "NAT64: the IPv6 host already has limits.sessions-per-host sessions; answered with ICMPv6 address unreachable",
	ReasonPrefixLimit:        "NAT64: the IPv6 host's /64 already has limits.sessions-per-64 sessions; answered with ICMPv6 address unreachable",
	ReasonExternalTCP:        "NAT64: an IPv4 SYN would open a session and drop-externally-initiated-tcp is on",
	ReasonICMPInfoFiltered:   "NAT64: an ICMPv6 echo dropped because drop-icmpv6-info is on",
	ReasonFragmentNoSession:  "NAT64: a later fragment arrived before its first fragment (or after 30 s), so its session is unknown",
	ReasonHeldSYN:            "NAT64: an unsolicited IPv4 SYN held 6 s for a simultaneous open (RFC 6146 §3.5.2.2); if none comes it is answered with port unreachable, counted again as a reply",
	ReasonHoldFull:           "NAT64: an unsolicited IPv4 SYN dropped because maximum-simultaneous-opens SYNs are already held",
	ReasonNoDynamicMapping:   "dynamic pool: an IPv4 packet for a dynamic-pool address that no IPv6 host holds now",
	ReasonDynamicExhausted:   "dynamic pool: no free address for a new IPv6 source; answered with ICMPv6 address unreachable",
	ReasonClientSrc6:         "access control: an IPv6 packet from a source outside clients; answered with ICMPv6 1/1 within icmp-error-rate unless clients-refusal is drop (counted as a drop when not answered); ICMPv6 errors quoting a packet to such a host are dropped",
	ReasonClientDst6:         "access control: an IPv4 packet or ICMPv4 error for an IPv6 host outside clients (a client removed by a reload, or a mapping to a host outside clients), dropped without an answer",
	ReasonDenylistDst4:       "access control: an IPv6 packet to an IPv4 destination inside denylist4; answered with ICMPv6 1/1 within icmp-error-rate unless clients-refusal is drop (counted as a drop when not answered); ICMPv6 errors to such an address are dropped",
	ReasonDenylistSrc4:       "access control: an IPv4 packet from a source inside denylist4, or an ICMPv4 error quoting a packet sent to one, dropped without an answer (nothing is translated to those networks, so nothing from them is either)",
	ReasonFragmentOverlap:    "reassembly: a fragment overlaps another of its datagram, or disagrees on where the datagram ends; the whole datagram is dropped, each fragment counted (RFC 5722)",
	ReasonFragmentDuplicate:  "reassembly: an exact copy of a fragment already held; the datagram is kept",
	ReasonFragmentLone:       "reassembly: a fragment whose datagram saw no other fragment within reassembly.timeout (a path that drops the others?)",
	ReasonReassemblyTimeout:  "reassembly: the fragments of a datagram that did not all arrive within reassembly.timeout, each counted",
	ReasonReassemblyFull:     "reassembly: reassembly.max-bytes or max-bytes-per-source is reached, or a datagram came in more than 64 fragments; the datagram is dropped, each fragment counted",
}

// Explain returns one sentence saying what r means.
func (r Reason) Explain() string {
	if r >= NumReasons {
		return "unknown reason"
	}
	return explanations[r]
}
