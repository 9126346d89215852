package header

import "encoding/binary"

// ICMP is a view of the 8-byte header shared by ICMPv4 (RFC 792) and ICMPv6
// (RFC 4443):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|            Rest of header (identifier/sequence, MTU,          |
//	|            pointer, RFC 4884 length)                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type ICMP []byte

// ICMPLen is the length of the ICMP header.
const ICMPLen = 8

// ICMPv4 message types (RFC 792, RFC 950, RFC 1256).
const (
	ICMPv4EchoReply      = 0
	ICMPv4DestUnreach    = 3
	ICMPv4SourceQuench   = 4
	ICMPv4Redirect       = 5
	ICMPv4Echo           = 8
	ICMPv4RouterAdvert   = 9
	ICMPv4RouterSolicit  = 10
	ICMPv4TimeExceeded   = 11
	ICMPv4ParamProblem   = 12
	ICMPv4Timestamp      = 13
	ICMPv4TimestampReply = 14
	ICMPv4InfoRequest    = 15
	ICMPv4InfoReply      = 16
	ICMPv4MaskRequest    = 17
	ICMPv4MaskReply      = 18
)

// ICMPv4 Destination Unreachable codes (RFC 792, RFC 1122, RFC 1812).
const (
	ICMPv4NetUnreach       = 0
	ICMPv4HostUnreach      = 1
	ICMPv4ProtoUnreach     = 2
	ICMPv4PortUnreach      = 3
	ICMPv4FragNeeded       = 4
	ICMPv4SourceRouteFail  = 5
	ICMPv4NetUnknown       = 6
	ICMPv4HostUnknown      = 7
	ICMPv4HostIsolated     = 8
	ICMPv4NetProhibited    = 9
	ICMPv4HostProhibited   = 10
	ICMPv4NetTOSUnreach    = 11
	ICMPv4HostTOSUnreach   = 12
	ICMPv4AdminProhibited  = 13
	ICMPv4PrecedenceViol   = 14
	ICMPv4PrecedenceCutoff = 15
)

// ICMPv6 message types (RFC 4443, RFC 4861, RFC 2710).
const (
	ICMPv6DestUnreach  = 1
	ICMPv6PacketTooBig = 2
	ICMPv6TimeExceeded = 3
	ICMPv6ParamProblem = 4
	ICMPv6EchoRequest  = 128
	ICMPv6EchoReply    = 129
)

// ICMPv6 Destination Unreachable codes (RFC 4443 §3.1).
const (
	ICMPv6NoRoute         = 0
	ICMPv6AdminProhibited = 1
	ICMPv6BeyondScope     = 2
	ICMPv6AddrUnreach     = 3
	ICMPv6PortUnreach     = 4
	ICMPv6SrcPolicyFail   = 5
	ICMPv6RejectRoute     = 6
)

// ICMPv6 Parameter Problem codes (RFC 4443 §3.4).
const (
	ICMPv6ErroneousHeader = 0
	ICMPv6UnknownNext     = 1
	ICMPv6UnknownOption   = 2
)

// Type returns the Type field.
func (b ICMP) Type() uint8 { return b[0] }

// Code returns the Code field.
func (b ICMP) Code() uint8 { return b[1] }

// Checksum returns the Checksum field.
func (b ICMP) Checksum() uint16 { return binary.BigEndian.Uint16(b[2:]) }

// Rest returns the 32-bit rest-of-header word.
func (b ICMP) Rest() uint32 { return binary.BigEndian.Uint32(b[4:]) }

// SetTypeCode sets the Type and Code fields.
func (b ICMP) SetTypeCode(t, c uint8) { b[0], b[1] = t, c }

// SetChecksum sets the Checksum field.
func (b ICMP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(b[2:], v) }

// SetRest sets the 32-bit rest-of-header word.
func (b ICMP) SetRest(v uint32) { binary.BigEndian.PutUint32(b[4:], v) }

// TypeCode returns Type and Code as one 16-bit checksum word.
func (b ICMP) TypeCode() uint16 { return binary.BigEndian.Uint16(b[0:]) }

// Offsets of the checksum fields of the transport headers nat64br updates.
const (
	TCPChecksumOffset = 16
	UDPChecksumOffset = 6
	TCPMinLen         = 20
	UDPLen            = 8
)

// Port returns the 16-bit big-endian value at b[i:], the way TCP and UDP
// ports and checksums are stored.
func Port(b []byte, i int) uint16 { return binary.BigEndian.Uint16(b[i:]) }

// PutPort stores v big-endian at b[i:].
func PutPort(b []byte, i int, v uint16) { binary.BigEndian.PutUint16(b[i:], v) }
