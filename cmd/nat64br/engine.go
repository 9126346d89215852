package main

import (
	"encoding/binary"
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

	timer     []byte // scratch for the packets timers produce
	nextSweep time.Time
}

// timers runs the translator's timers up to now, on the packet clock: it
// sweeps expired NAT64 sessions once a second and sends the answers to
// held SYNs whose time is over.
func (e *engine) timers(now time.Time) error {
	if !now.Before(e.nextSweep) {
		e.t.Sweep(now)
		e.nextSweep = now.Truncate(time.Second).Add(time.Second)
	}
	for {
		if e.timer == nil {
			e.timer = make([]byte, bufSize)
		}
		v := e.t.Expire(e.timer, frameHeadroom, now)
		switch v.Action() {
		case 0:
			return nil
		case xlat.Drop:
			e.c[cDropBase+counter(v.Reason())]++
			continue
		}
		e.c[cReplies]++
		e.c[cReplyBase+counter(v.Reason())]++
		var mac [12]byte
		if err := e.emit(e.timer, v.Off, v.Len, v.Side(), e.link[v.Side()] == wire.LinkEthernet, &mac, true, now); err != nil {
			return err
		}
	}
}

// process handles the frame buf[frameHeadroom:frameHeadroom+n] that arrived
// on side from at time at. buf must be bufSize bytes.
func (e *engine) process(buf []byte, n int, from xlat.Side, at time.Time) error {
	e.c[cIn6+counter(from-xlat.Side6)]++
	off := frameHeadroom
	var mac [12]byte
	eth := e.link[from] == wire.LinkEthernet
	if eth {
		if n < ethLen {
			e.c[cRunt]++
			return nil
		}
		copy(mac[:], buf[off:off+12])
		switch binary.BigEndian.Uint16(buf[off+12:]) {
		case etherTypeIPv4, etherTypeIPv6:
		case etherTypeVLAN, etherTypeQinQ:
			e.c[cVLAN]++
			return nil
		default:
			e.c[cOther]++
			return nil
		}
		off += ethLen
		n -= ethLen
	}
	if n > 0 {
		if v := buf[off] >> 4; v != 4 && v != 6 {
			e.c[cOther]++
			return nil
		}
	}
	v := e.t.Translate(buf, off, n, from, at)
	switch v.Action() {
	case xlat.Drop:
		e.c[cDropBase+counter(v.Reason())]++
		return nil
	case xlat.Reply:
		e.c[cReplies]++
		e.c[cReplyBase+counter(v.Reason())]++
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
	e.c[cFragments] += uint64(nf)
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
	e.c[cOut6+counter(side-xlat.Side6)]++
	return e.out[side].send(buf[off:off+n], at)
}
