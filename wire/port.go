package wire

//go:generate stringer -type=LinkType -linecomment

// Port is a source and sink of frames, moved in batches (after wireguard-go's
// tun.Device).
type Port interface {
	// ReadBatch reads up to len(bufs) frames into bufs[i][offset:], sets
	// sizes[i] to each frame's length and returns how many it read. It
	// blocks until at least one frame is available. After Close it returns
	// net.ErrClosed; at the end of a file it returns io.EOF.
	ReadBatch(bufs [][]byte, sizes []int, offset int) (int, error)

	// WriteBatch writes the frames bufs[i][offset:] and returns how many
	// were written.
	WriteBatch(bufs [][]byte, offset int) (int, error)

	// BatchSize is the number of frames a call moves at most.
	BatchSize() int

	// LinkType is the framing of the frames the port moves.
	LinkType() LinkType

	// Close releases the port; blocked calls return net.ErrClosed.
	Close() error
}

// LinkType is the framing of a port's frames, numbered as pcap link types
// (https://www.tcpdump.org/linktypes.html).
type LinkType uint16

// Link types nat64br reads and writes.
const (
	LinkEthernet LinkType = 1   // ethernet
	LinkRaw      LinkType = 101 // raw
	LinkIPv4     LinkType = 228 // ipv4
	LinkIPv6     LinkType = 229 // ipv6
)

// Counterpart returns the link type for the other side's output when that
// side has no input to copy it from: Ethernet and raw IP stay as they are,
// the IPv4-only and IPv6-only types swap.
func (l LinkType) Counterpart() LinkType {
	switch l {
	case LinkIPv4:
		return LinkIPv6
	case LinkIPv6:
		return LinkIPv4
	}
	return l
}
