// Package arpnd will answer ARP (RFC 826) and IPv6 Neighbor Discovery (RFC
// 4861) for the addresses nat64br owns, resolve next hops and keep the
// neighbor cache, so that nat64br can sit between two Ethernet segments with
// nothing configured in the host kernel.
//
// It is empty so far: the translation core (xlat) and replay came first. The
// in-the-wire issue fills it in.
package arpnd
