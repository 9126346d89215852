package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
)

// Frame layout of the buffers the engine translates in: frameHeadroom bytes
// before the frame leave room for the translator's growth (xlat.Headroom)
// plus an Ethernet header in front of the translated packet.
const (
	frameHeadroom = 128
	ethLen        = 14
	maxFrame      = 65535 + ethLen
	bufSize       = frameHeadroom + maxFrame + xlat.Tailroom
)

// EtherTypes the frame path looks at.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8
)

// frameReason says why the frame path dropped a frame before translation.
type frameReason uint8

const (
	frameRunt  frameReason = iota // frame shorter than its link header
	frameVLAN                     // 802.1Q/802.1ad tagged
	frameNotIP                    // ethertype or version is neither IPv4 nor IPv6
	numFrameReasons
)

var frameReasonNames = [numFrameReasons]string{"runt_frame", "vlan_tagged", "not_ip"}

// counters are the frame path's books, per side (index by xlat.Side).
type counters struct {
	in, out   [3]uint64
	replies   uint64
	fragments uint64
	frameDrop [numFrameReasons]uint64
	drop      [xlat.NumReasons]uint64
	reply     [xlat.NumReasons]uint64
}

func (c *counters) dropped() uint64 {
	var n uint64
	for _, v := range c.frameDrop {
		n += v
	}
	for _, v := range c.drop {
		n += v
	}
	return n
}

// print writes the counters as a table.
func (c *counters) print(w io.Writer) {
	fmt.Fprintf(w, "frames in:  ipv6 %d, ipv4 %d\n", c.in[xlat.Side6], c.in[xlat.Side4])
	fmt.Fprintf(w, "frames out: ipv6 %d, ipv4 %d (%d ICMP replies from the translator, %d IPv6 fragments)\n",
		c.out[xlat.Side6], c.out[xlat.Side4], c.replies, c.fragments)
	fmt.Fprintf(w, "dropped:    %d\n", c.dropped())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for r, v := range c.frameDrop {
		if v != 0 {
			fmt.Fprintf(tw, "  drop\t%s\t%d\n", frameReasonNames[r], v)
		}
	}
	for r, v := range c.drop {
		if v != 0 {
			fmt.Fprintf(tw, "  drop\t%s\t%d\n", xlat.Reason(r), v)
		}
	}
	for r, v := range c.reply {
		if v != 0 {
			fmt.Fprintf(tw, "  reply\t%s\t%d\n", xlat.Reason(r), v)
		}
	}
	tw.Flush()
}

// output is where the engine sends frames of one side.
type output interface {
	send(frame []byte, at time.Time) error
}

// engine runs frames through the translator: it strips and rebuilds the
// link header, translates, splits oversized IPv6 packets into fragments,
// and hands the results to the outputs. It is used by replay; it owns its
// scratch buffers and is not safe for concurrent use.
type engine struct {
	t    *xlat.Translator
	c    counters
	link [3]wire.LinkType // input link type per side
	out  [3]output
	frag []byte // scratch for fragments
}

// process handles the frame buf[frameHeadroom:frameHeadroom+n] that arrived
// on side from at time at. buf must be bufSize bytes.
func (e *engine) process(buf []byte, n int, from xlat.Side, at time.Time) error {
	e.c.in[from]++
	off := frameHeadroom
	var mac [12]byte
	eth := e.link[from] == wire.LinkEthernet
	if eth {
		if n < ethLen {
			e.c.frameDrop[frameRunt]++
			return nil
		}
		copy(mac[:], buf[off:off+12])
		switch binary.BigEndian.Uint16(buf[off+12:]) {
		case etherTypeIPv4, etherTypeIPv6:
		case etherTypeVLAN, etherTypeQinQ:
			e.c.frameDrop[frameVLAN]++
			return nil
		default:
			e.c.frameDrop[frameNotIP]++
			return nil
		}
		off += ethLen
		n -= ethLen
	}
	if n > 0 {
		if v := buf[off] >> 4; v != 4 && v != 6 {
			e.c.frameDrop[frameNotIP]++
			return nil
		}
	}
	v := e.t.Translate(buf, off, n, from, at)
	switch v.Action() {
	case xlat.Drop:
		e.c.drop[v.Reason()]++
		return nil
	case xlat.Reply:
		e.c.replies++
		e.c.reply[v.Reason()]++
	}
	if v.FragSize == 0 {
		return e.emit(buf, v.Off, v.Len, v.Side(), eth, &mac, v.Action() == xlat.Reply, at)
	}
	pkt := buf[v.Off : v.Off+v.Len]
	nf := xlat.Fragments(pkt, v.FragSize)
	if e.frag == nil {
		e.frag = make([]byte, bufSize)
	}
	for i := 0; i < nf; i++ {
		m := xlat.WriteFragment(e.frag[frameHeadroom:], pkt, v.FragSize, i)
		if err := e.emit(e.frag, frameHeadroom, m, v.Side(), eth, &mac, false, at); err != nil {
			return err
		}
	}
	e.c.fragments += uint64(nf)
	return nil
}

// emit frames the packet buf[off:off+n] for its side's link type and sends
// it.
func (e *engine) emit(buf []byte, off, n int, side xlat.Side, eth bool, mac *[12]byte, reply bool, at time.Time) error {
	if eth {
		off -= ethLen
		n += ethLen
		h := buf[off:]
		if reply {
			copy(h[0:6], mac[6:12])
			copy(h[6:12], mac[0:6])
		} else {
			copy(h[0:12], mac[:])
		}
		et := uint16(etherTypeIPv4)
		if buf[off+ethLen]>>4 == 6 {
			et = etherTypeIPv6
		}
		binary.BigEndian.PutUint16(h[12:], et)
	}
	e.c.out[side]++
	return e.out[side].send(buf[off:off+n], at)
}
