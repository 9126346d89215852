// Package xlat is nat64br's translation core: address mapping (RFC 6052
// prefixes, RFC 7757 explicit address mappings), IP/ICMP header translation
// (RFC 7915) and the translator's own ICMP errors.
//
// xlat is pure: it does no I/O, reads no clock and allocates nothing per
// packet. A Translator translates one packet in place, inside a buffer that
// has Headroom bytes free before the packet, and returns a Verdict: forward
// the bytes it points at to a side, reply with an ICMP error out of the
// ingress side, or drop with a typed Reason that the caller counts.
//
// Each worker goroutine owns one Translator (see Translator.Clone); the
// immutable mapping tables are shared between clones.
package xlat
