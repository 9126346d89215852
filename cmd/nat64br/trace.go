package main

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nat64br/nat64br/xlat"
)

// Drop tracing (nat64br trace): the next N frames dropped for a reason,
// written to a pcapng file with the reason as each packet's comment.
//
// When no trace runs, dataplane.trace is nil and a dropped frame costs one
// atomic pointer load more; frames that are not dropped cost nothing.

// traceAny matches every drop.
const traceAny counter = -1

// tracer is an armed trace: workers offer it their dropped frames.
type tracer struct {
	match counter
	left  atomic.Int64 // frames still wanted
	ch    chan tracedFrame
	lost  atomic.Uint64 // frames that found ch full
}

type tracedFrame struct {
	side xlat.Side
	c    counter
	at   time.Time
	data []byte
}

func newTracer(match counter, n int) *tracer {
	t := &tracer{match: match, ch: make(chan tracedFrame, min(n, 1024))}
	t.left.Store(int64(n))
	return t
}

// offer hands the tracer a copy of frame f, dropped on side s and counted
// as c, if it matches and more frames are wanted.
func (t *tracer) offer(s xlat.Side, c counter, f []byte) {
	if t.match != traceAny && c != t.match {
		return
	}
	if t.left.Add(-1) < 0 {
		return
	}
	select {
	case t.ch <- tracedFrame{s, c, time.Now(), append([]byte(nil), f...)}:
	default:
		t.lost.Add(1)
	}
}

// drop counts frame f as dropped for c and offers it to a running trace.
func (w *worker) drop(c counter, f []byte) {
	w.c[c]++
	if t := w.d.trace.Load(); t != nil {
		t.offer(w.side, c, f)
	}
}

// dropCounter returns the drop counter named name ("any", a reason as
// nat64br stats names it, with or without "drop_").
func dropCounter(name string) (counter, bool) {
	if name == "any" {
		return traceAny, true
	}
	c, ok := counterNamed(name)
	if !ok {
		c, ok = counterNamed("drop_" + name)
	}
	if ok && (c > cDropBase && c < cReplyBase || slices.Contains(frameDrops, c)) {
		return c, true
	}
	return 0, false
}

// maxTrace bounds the frames of one trace.
const maxTrace = 100000

// serveTrace arms a trace for the request's reason and count, and streams
// the frames as pcapng until it has count of them, the timeout passes or
// the client goes away.
func (d *dataplane) serveTrace(w http.ResponseWriter, q *http.Request, names [3]string) {
	v := q.URL.Query()
	c, ok := dropCounter(v.Get("reason"))
	if !ok {
		reply(w, nil, fmt.Errorf("reason %q: use any, or a drop reason as nat64br stats --explain lists them", v.Get("reason")))
		return
	}
	n, err := strconv.Atoi(v.Get("count"))
	if err != nil || n < 1 || n > maxTrace {
		reply(w, nil, fmt.Errorf("count %q: a number of frames from 1 to %d", v.Get("count"), maxTrace))
		return
	}
	timeout, err := time.ParseDuration(v.Get("timeout"))
	if err != nil || timeout <= 0 {
		reply(w, nil, fmt.Errorf("timeout %q: a duration such as 60s", v.Get("timeout")))
		return
	}
	t := newTracer(c, n)
	if !d.trace.CompareAndSwap(nil, t) {
		reply(w, nil, fmt.Errorf("another trace is running"))
		return
	}
	defer d.trace.CompareAndSwap(t, nil)

	w.Header().Set("Content-Type", "application/octet-stream")
	fl, _ := w.(http.Flusher)
	intf := func(s xlat.Side) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: names[s], Description: "nat64br " + s.String() + " port, dropped frames", LinkType: layers.LinkTypeEthernet}
	}
	pw, err := pcapgo.NewNgWriterInterface(w, intf(xlat.Side6), pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "nat64br " + version}})
	if err != nil {
		return
	}
	id4, err := pw.AddInterface(intf(xlat.Side4))
	if err != nil {
		return
	}
	flush := func() bool {
		if pw.Flush() != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	if !flush() {
		return
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for got := 0; got < n; got++ {
		select {
		case f := <-t.ch:
			ci := gopacket.CaptureInfo{Timestamp: f.at, CaptureLength: len(f.data), Length: len(f.data)}
			if f.side == xlat.Side4 {
				ci.InterfaceIndex = id4
			}
			comment := "nat64br dropped: " + f.c.String() + ": " + counterExplanation(f.c.String())
			if pw.WritePacketWithOptions(ci, f.data, pcapgo.NgPacketOptions{Comments: []string{comment}}) != nil || !flush() {
				return
			}
		case <-deadline.C:
			return
		case <-q.Context().Done():
			return
		}
	}
}
