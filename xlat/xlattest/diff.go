package xlattest

import (
	"bytes"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// field names by byte offset, per header.
var (
	ipv4Fields = []string{0: "version/IHL", 1: "TOS", 2: "total length", 3: "total length", 4: "identification", 5: "identification",
		6: "flags/fragment offset", 7: "fragment offset", 8: "TTL", 9: "protocol", 10: "header checksum", 11: "header checksum",
		12: "source", 13: "source", 14: "source", 15: "source", 16: "destination", 17: "destination", 18: "destination", 19: "destination"}
	ipv6Fields = []string{0: "version/traffic class", 1: "traffic class/flow label", 2: "flow label", 3: "flow label",
		4: "payload length", 5: "payload length", 6: "next header", 7: "hop limit"}
	fragFields = []string{0: "next header", 1: "reserved", 2: "offset", 3: "offset/M flag", 4: "identification", 5: "identification", 6: "identification", 7: "identification"}
	tcpFields  = []string{0: "source port", 1: "source port", 2: "destination port", 3: "destination port", 4: "sequence", 5: "sequence", 6: "sequence", 7: "sequence",
		8: "acknowledgment", 9: "acknowledgment", 10: "acknowledgment", 11: "acknowledgment", 12: "data offset", 13: "flags",
		14: "window", 15: "window", 16: "checksum", 17: "checksum", 18: "urgent pointer", 19: "urgent pointer"}
	udpFields  = []string{0: "source port", 1: "source port", 2: "destination port", 3: "destination port", 4: "length", 5: "length", 6: "checksum", 7: "checksum"}
	icmpFields = []string{0: "type", 1: "code", 2: "checksum", 3: "checksum", 4: "rest of header", 5: "rest of header", 6: "rest of header", 7: "rest of header"}
)

func fieldName(lt gopacket.LayerType, i int) string {
	var t []string
	switch lt {
	case layers.LayerTypeIPv4:
		t = ipv4Fields
		if i >= 20 {
			return "options"
		}
	case layers.LayerTypeIPv6:
		t = ipv6Fields
		switch {
		case i >= 8 && i < 24:
			return "source"
		case i >= 24 && i < 40:
			return "destination"
		}
	case layers.LayerTypeIPv6Fragment:
		t = fragFields
	case layers.LayerTypeTCP:
		t = tcpFields
		if i >= 20 {
			return "options"
		}
	case layers.LayerTypeUDP:
		t = udpFields
	case layers.LayerTypeICMPv4, layers.LayerTypeICMPv6:
		t = icmpFields
	}
	if i < len(t) && t[i] != "" {
		return t[i]
	}
	return fmt.Sprintf("byte %d", i)
}

// Diff compares two bare IP packets and returns "" if they are equal, or
// the first differing field, decoded with gopacket, as "IPv6 hop limit: got
// 63, want 64".
func Diff(got, want []byte) string {
	return diff(got, want, "")
}

func diff(got, want []byte, prefix string) string {
	if bytes.Equal(got, want) {
		return ""
	}
	if len(got) == 0 || len(want) == 0 {
		return fmt.Sprintf("%slength %d, want %d", prefix, len(got), len(want))
	}
	first := layers.LayerTypeIPv4
	if want[0]>>4 == 6 {
		first = layers.LayerTypeIPv6
	}
	pg := gopacket.NewPacket(got, first, gopacket.DecodeOptions{NoCopy: true, Lazy: false})
	pw := gopacket.NewPacket(want, first, gopacket.DecodeOptions{NoCopy: true, Lazy: false})
	lg, lw := pg.Layers(), pw.Layers()
	off := 0
	for i := 0; i < len(lw); i++ {
		w := lw[i]
		name := prefix + w.LayerType().String()
		if i >= len(lg) || lg[i].LayerType() != w.LayerType() {
			g := "nothing"
			if i < len(lg) {
				g = lg[i].LayerType().String()
			}
			return fmt.Sprintf("%slayer %d: got %s, want %s", prefix, i, g, w.LayerType())
		}
		gc, wc := lg[i].LayerContents(), w.LayerContents()
		if _, ok := w.(*gopacket.Payload); ok || w.LayerType() == gopacket.LayerTypePayload {
			gc, wc = got[min(off, len(got)):], want[off:]
		}
		for j := 0; j < min(len(gc), len(wc)); j++ {
			if gc[j] != wc[j] {
				return fmt.Sprintf("%s %s (byte %d): got %#02x, want %#02x", name, fieldName(w.LayerType(), j), off+j, gc[j], wc[j])
			}
		}
		if len(gc) != len(wc) {
			return fmt.Sprintf("%s length %d, want %d", name, len(gc), len(wc))
		}
		// The packet an ICMP error quotes is compared field by field too.
		if t := w.LayerType(); (t == layers.LayerTypeICMPv4 || t == layers.LayerTypeICMPv6) && len(wc) >= 4 && isError(t, wc[0]) {
			q := off + 8
			if q <= len(got) && q <= len(want) {
				return diff(got[q:], want[q:], prefix+"quoted ")
			}
		}
		off += len(wc)
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%slength %d, want %d", prefix, len(got), len(want))
	}
	for j := off; j < len(want); j++ {
		if got[j] != want[j] {
			return fmt.Sprintf("%sbyte %d: got %#02x, want %#02x", prefix, j, got[j], want[j])
		}
	}
	return fmt.Sprintf("%spackets differ", prefix)
}

func isError(t gopacket.LayerType, typ uint8) bool {
	if t == layers.LayerTypeICMPv4 {
		return typ == 3 || typ == 11 || typ == 12
	}
	return typ < 128
}
