// Package arpnd answers ARP (RFC 826, RFC 5227) on nat64br's IPv4 side and
// Neighbor Discovery (RFC 4861) on its IPv6 side, for the translator's own
// addresses and, by proxy, for the addresses it translates; it resolves the
// next hops of translated packets and keeps a neighbor cache per side; and
// it sends Router Advertisements with a Route Information option (RFC 4191)
// and PREF64 (RFC 8781) for the NAT64 prefix when asked to.
//
// Frames are byte slices with their Ethernet header; arpnd parses and
// builds them itself with xlat/header's views (header.Ethernet, header.IPv6;
// no allocation on the data path) and sends its own frames through a
// Sender, the port it serves.
package arpnd
