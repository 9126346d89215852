// Package header provides byte-slice views of the Ethernet (IEEE 802.3),
// IPv4, IPv6, ICMP, TCP and UDP headers nat64br reads and translates, the
// MAC address type, and the Internet checksum (RFC 1071) with incremental
// updates (RFC 1624).
//
// A view is a named []byte whose accessors read and write fixed offsets. Views
// do not check lengths: the caller validates a packet once, at the edge, and
// may then use any accessor whose offset lies inside the validated length.
// ParseEthernet is that check for the link-layer header of a frame.
// Views never allocate and never copy; they alias the caller's buffer.
//
// header is a leaf package: it imports only the standard library.
package header
