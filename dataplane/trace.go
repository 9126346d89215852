package dataplane

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/nat64br/nat64br/xlat"
)

// Drop tracing: the next N frames dropped for a counter, handed to the
// caller (nat64br trace writes them to a pcapng file).
//
// When no trace runs, a dropped frame costs one atomic pointer load more;
// frames that are not dropped cost nothing.

// AnyDrop matches every drop in StartTrace.
const AnyDrop Counter = -1

// ErrTraceRunning is returned by StartTrace while another trace runs.
var ErrTraceRunning = errors.New("another trace is running")

// Trace is an armed drop trace: workers offer it copies of their dropped
// frames.
type Trace struct {
	p     *Plane
	match Counter
	left  atomic.Int64 // frames still wanted
	ch    chan TracedFrame
	lost  atomic.Uint64 // frames that found ch full
}

// TracedFrame is a copy of a dropped frame.
type TracedFrame struct {
	Side    xlat.Side // where it arrived
	Counter Counter   // why it was dropped
	At      time.Time
	Data    []byte // the frame, owned by the receiver
}

// StartTrace arms a trace of the next n frames dropped and counted as
// match (or AnyDrop). Stop it when done.
func (p *Plane) StartTrace(match Counter, n int) (*Trace, error) {
	t := &Trace{p: p, match: match, ch: make(chan TracedFrame, min(n, 1024))}
	t.left.Store(int64(n))
	if !p.trace.CompareAndSwap(nil, t) {
		return nil, ErrTraceRunning
	}
	return t, nil
}

// Tracing reports whether a trace is armed.
func (p *Plane) Tracing() bool { return p.trace.Load() != nil }

// Frames delivers the traced frames.
func (t *Trace) Frames() <-chan TracedFrame { return t.ch }

// Lost returns the frames that matched but found the channel full.
func (t *Trace) Lost() uint64 { return t.lost.Load() }

// Stop disarms the trace.
func (t *Trace) Stop() { t.p.trace.CompareAndSwap(t, nil) }

// offer hands the trace a copy of frame f, dropped on side s and counted
// as c, if it matches and more frames are wanted.
func (t *Trace) offer(s xlat.Side, c Counter, f []byte) {
	if t.match != AnyDrop && c != t.match {
		return
	}
	if t.left.Add(-1) < 0 {
		return
	}
	select {
	case t.ch <- TracedFrame{s, c, time.Now(), append([]byte(nil), f...)}:
	default:
		t.lost.Add(1)
	}
}

// drop counts frame f as dropped for c and offers it to a running trace.
func (w *worker) drop(c Counter, f []byte) {
	w.c[c]++
	if w.fate == 0 {
		w.fate = fateDropped
	} else {
		w.c[LateDrops]++ // a fragment of a packet sent on
	}
	if t := w.p.trace.Load(); t != nil {
		t.offer(w.side, c, f)
	}
}

// DropCounter returns the drop counter named name ("any", or a reason as
// nat64br stats names it, with or without "drop_").
func DropCounter(name string) (Counter, bool) {
	if name == "any" {
		return AnyDrop, true
	}
	c, ok := CounterNamed(name)
	if !ok {
		c, ok = CounterNamed("drop_" + name)
	}
	if ok && c.IsDrop() {
		return c, true
	}
	return 0, false
}
