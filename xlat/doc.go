// Package xlat is nat64br's translation core: address mapping (RFC 6052
// prefixes, RFC 7757 explicit address mappings, TAYGA's dynamic pool),
// IP/ICMP header translation (RFC 7915), stateful NAT64 (RFC 6146: pool4,
// the BIB and session tables, the TCP state machine) and the translator's
// own ICMP errors.
//
// xlat is pure: it does no I/O, reads no clock and allocates nothing per
// packet. A Translator translates one packet in place, inside a buffer that
// has Headroom bytes free before the packet, and returns a Verdict: forward
// the bytes it points at to a side, reply with an ICMP error out of the
// ingress side, or drop with a typed Reason that the caller counts. Time is
// an argument: the packet's arrival time drives NAT64 lifetimes, and the
// caller runs the timers (Sweep, Expire) on the same clock, so replaying a
// capture is deterministic.
//
// Each worker goroutine owns one Translator (see Translator.Clone); the
// immutable mapping tables are shared between clones, and so are the NAT64
// tables, which are sharded and locked (see nattable.go for the lock
// order).
package xlat
