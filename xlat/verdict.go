package xlat

//go:generate stringer -type=Side,Action -linecomment

// Side is one of the translator's two sides.
type Side uint8

// Sides.
const (
	_     Side = iota // invalid
	Side6             // ipv6
	Side4             // ipv4
)

// Action is what the caller does with a packet after translation.
type Action uint8

// Actions.
const (
	_ Action = iota // invalid

	// Forward sends the packet out of Verdict.Side.
	Forward // forward

	// Reply sends the packet, an ICMP error or echo reply the translator
	// built in place of the input, back out of the side it arrived on
	// (Verdict.Side).
	Reply // reply

	// Drop discards the packet; Verdict.Reason says why.
	Drop // drop

	// Reassemble says that the packet, b[Off:Off+Len] as it arrived from
	// Verdict.Side, is a fragment of a datagram that must be translated
	// whole (Options.Reassemble): give it to a Reassembler, and the
	// datagram it completes to TranslateReassembled.
	Reassemble // reassemble
)

// Verdict is the result of translating one packet.
//
// For Forward and Reply, the output packet is b[Off:Off+Len] of the buffer
// given to Translate; it may start before or after the input (the buffer's
// headroom absorbs the growth). For Reply, and for Drop, Reason says why the
// input was not translated.
//
// A Verdict has four fields so that it is returned in registers (larger
// structs go through memory, which costs more than the translation of a
// header); Action, Side and Reason share one word.
type Verdict struct {
	Off int
	Len int

	// FragSize, when non-zero, says that the packet at b[Off:Off+Len] is
	// larger than the next hop allows and must be sent as fragments of at
	// most FragSize bytes: see Fragments and WriteFragment. It is an IPv6
	// packet with a Fragment header, or an IPv4 packet with DF clear that
	// was reassembled (TranslateReassembled).
	FragSize int

	code uint32 // Action | Side<<8 | Reason<<16
}

// Action returns what to do with the packet.
func (v Verdict) Action() Action { return Action(v.code) }

// Side returns the side the packet leaves on.
func (v Verdict) Side() Side { return Side(v.code >> 8) }

// Reason returns why the packet was dropped or answered.
func (v Verdict) Reason() Reason { return Reason(v.code >> 16) }

func verdict(a Action, s Side, r Reason, off, n, frag int) Verdict {
	return Verdict{Off: off, Len: n, FragSize: frag, code: uint32(a) | uint32(s)<<8 | uint32(r)<<16}
}

func drop(r Reason) Verdict { return Verdict{code: uint32(Drop) | uint32(r)<<16} }
