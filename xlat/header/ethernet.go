package header

import "encoding/binary"

// Ethernet is a view of an Ethernet II header (IEEE 802.3 §3.1.1, with the
// Type interpretation of the Length/Type field; RFC 894 for IPv4, RFC 2464
// §3 for IPv6):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Destination Address (48 bits)                 |
//	+                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|                   Source Address (48 bits)                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           EtherType           |  Payload ...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The view covers an untagged header: an 802.1Q or 802.1ad tag shows as
// EtherType EtherTypeVLAN or EtherTypeQinQ, and the caller decides what to
// do with it. The frame check sequence is not part of it (AF_PACKET and
// pcap frames end before it). Accessors need len(b) >= EthernetLen.
type Ethernet []byte

// EthernetLen is the length of an Ethernet header without VLAN tags.
const EthernetLen = 14

// EtherTypes nat64br looks at (IEEE 802 numbers, as IANA lists them).
// Values below EtherTypeMin are 802.3 lengths, not types.
const (
	EtherTypeMin  = 0x0600 // the smallest EtherType; below it the field is a length (IEEE 802.3 §3.2.6)
	EtherTypeIPv4 = 0x0800 // RFC 894
	EtherTypeARP  = 0x0806 // RFC 826
	EtherTypeVLAN = 0x8100 // IEEE 802.1Q customer VLAN tag
	EtherTypeIPv6 = 0x86dd // RFC 2464
	EtherTypeQinQ = 0x88a8 // IEEE 802.1ad service VLAN tag
)

// MAC is an Ethernet (EUI-48) address. It is an array, so it is comparable
// and pointer-free, and serves as a map key or table field as it is.
type MAC [6]byte

// BroadcastMAC is the Ethernet broadcast address, ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// String formats m as aa:bb:cc:dd:ee:ff. It allocates: it is for logs and
// the control plane, not the frame path.
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i, v := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i], b[3*i+1] = hex[v>>4], hex[v&15]
	}
	return string(b[:])
}

// ParseEthernet returns the view of the Ethernet II header at the start of
// b, and true if b holds one: at least EthernetLen bytes, whose type field
// is an EtherType (at least EtherTypeMin) rather than an 802.3 length.
// Otherwise it returns nil and false; a caller that counts the two cases
// apart tells them by len(b) < EthernetLen. The view aliases b.
func ParseEthernet(b []byte) (Ethernet, bool) {
	if len(b) < EthernetLen || binary.BigEndian.Uint16(b[12:]) < EtherTypeMin {
		return nil, false
	}
	return Ethernet(b), true
}

// Dst returns the destination address.
func (b Ethernet) Dst() MAC { return MAC(b[0:6]) }

// Src returns the source address.
func (b Ethernet) Src() MAC { return MAC(b[6:12]) }

// EtherType returns the EtherType field.
func (b Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(b[12:]) }

// Payload returns what follows the header, b[EthernetLen:].
func (b Ethernet) Payload() []byte { return b[EthernetLen:] }

// SetDst sets the destination address.
func (b Ethernet) SetDst(m MAC) { copy(b[0:6], m[:]) }

// SetSrc sets the source address.
func (b Ethernet) SetSrc(m MAC) { copy(b[6:12], m[:]) }

// SetEtherType sets the EtherType field.
func (b Ethernet) SetEtherType(et uint16) { binary.BigEndian.PutUint16(b[12:], et) }

// Set writes the whole header: destination, source and EtherType.
func (b Ethernet) Set(dst, src MAC, et uint16) {
	_ = b[EthernetLen-1]
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], et)
}
