package xlat

// reserved4 reports whether a is an IPv4 address nat64br never translates in
// either direction: "this network" 0.0.0.0/8, loopback 127.0.0.0/8,
// link-local 169.254.0.0/16, multicast 224.0.0.0/4 and the limited broadcast
// 255.255.255.255 (RFC 1812 §5.3.7, RFC 3927 §7). These packets are dropped
// silently, as TAYGA does. Class E (240.0.0.0/4) is translated.
func reserved4(a uint32) bool {
	switch b := a >> 24; {
	case b == 0, b == 127, b >= 224 && b < 240:
		return true
	case a>>16 == 0xa9fe:
		return true
	}
	return a == 0xffffffff
}

// nonGlobal4 reports whether a is not globally reachable according to the
// IANA IPv4 Special-Purpose Address Registry ("Globally Reachable: False"),
// which is what RFC 6052 §3.1 forbids behind the Well-Known Prefix. The
// deprecated 6to4 relay anycast block 192.88.99.0/24 is treated as global, as
// are the global exceptions 192.0.0.9 and 192.0.0.10 inside 192.0.0.0/24.
func nonGlobal4(v uint32) bool {
	for _, r := range nonGlobalRanges {
		if v&r.mask == r.net {
			if r.net == 0xc0000000 && (v == 0xc0000009 || v == 0xc000000a) {
				return false // PCP and TURN anycast: global
			}
			return true
		}
	}
	return false
}

type range4 struct{ net, mask uint32 }

var nonGlobalRanges = [...]range4{
	{0x00000000, 0xff000000}, // 0.0.0.0/8 "this network"
	{0x0a000000, 0xff000000}, // 10.0.0.0/8 private use
	{0x64400000, 0xffc00000}, // 100.64.0.0/10 shared address space
	{0x7f000000, 0xff000000}, // 127.0.0.0/8 loopback
	{0xa9fe0000, 0xffff0000}, // 169.254.0.0/16 link local
	{0xac100000, 0xfff00000}, // 172.16.0.0/12 private use
	{0xc0000000, 0xffffff00}, // 192.0.0.0/24 IETF protocol assignments (DS-Lite, NAT64 discovery, ...)
	{0xc0000200, 0xffffff00}, // 192.0.2.0/24 TEST-NET-1
	{0xc0a80000, 0xffff0000}, // 192.168.0.0/16 private use
	{0xc6120000, 0xfffe0000}, // 198.18.0.0/15 benchmarking
	{0xc6336400, 0xffffff00}, // 198.51.100.0/24 TEST-NET-2
	{0xcb007100, 0xffffff00}, // 203.0.113.0/24 TEST-NET-3
	{0xf0000000, 0xf0000000}, // 240.0.0.0/4 reserved, and 255.255.255.255
}

// reserved6 reports whether a is an IPv6 address nat64br never translates:
// the reserved block ::/8 (unspecified, loopback, IPv4-mapped and
// -compatible), link-local fe80::/10 and multicast ff00::/8 (RFC 4291).
// 64:ff9b::/32 (RFC 6052, RFC 8215) is inside ::/8's neighbour 0000::/8 and
// is explicitly allowed.
func reserved6(a u128) bool {
	switch top := a.hi >> 32; {
	case top>>24 == 0:
		return top != 0x0064ff9b
	case top>>24 == 0xff:
		return true
	case top>>22 == 0xfe80>>6:
		return true
	}
	return false
}
