package dataplane

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
)

// Liveness, for a service manager's watchdog (systemd's WatchdogSec): a
// plane is alive while its timers tick and each worker either turns its
// loop or waits for frames with nothing to do.
//
// The timer goroutine counts its ticks (every 100 ms). Each worker counts
// the turns of its loop, and says when it is parked: asleep in its
// poller (epoll_wait) or in a port's ReadBatch, waiting for frames. Leaving
// the wait counts as a turn, so a worker that just woke is never taken
// for a stuck one. Alive compares the books with what it saw at its
// previous call. A worker blocked anywhere else (a send that never
// returns, a lock) or looping without coming back to the top of its loop,
// and timers held up (OnTick's disk writes, the control lock), show as
// no progress between two calls. A worker asleep although its rings hold
// frames (a lost wake-up) is not caught.
//
// The books cost a worker one atomic store per turn of its loop and two
// per wait, on a cache line of its own; the timers one per tick.

// ErrStalled is returned, wrapped, by Alive when the plane made no
// progress since the previous call.
var ErrStalled = errors.New("dataplane: stalled")

// beat is one worker's books, alone on its cache line.
type beat struct {
	turns  atomic.Uint64
	parked atomic.Bool
	_      [64 - 12]byte
}

// turn counts a turn of the worker's loop.
func (b *beat) turn() { b.turns.Store(b.turns.Load() + 1) }

// park says the worker waits for frames.
func (b *beat) park() { b.parked.Store(true) }

// wake says the wait is over, which counts as a turn.
func (b *beat) wake() {
	b.turn()
	b.parked.Store(false)
}

// liveness is what Alive saw at its previous call.
type liveness struct {
	checked bool
	ticks   uint64
	turns   []uint64
}

// Alive reports whether the plane made progress since the previous call
// to Alive (or since Start): its timers ticked at least once, and every
// worker turned its loop or is waiting for frames. Call it from one
// goroutine, at intervals well above the timers' 100 ms (a second or
// more); it returns an error wrapping ErrStalled that names what did not
// move, or net.ErrClosed once the plane is closed.
func (p *Plane) Alive() error {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	if !p.started {
		return fmt.Errorf("%w: not started", ErrStalled)
	}
	if p.closed {
		return net.ErrClosed
	}
	l := &p.live
	if l.turns == nil {
		l.turns = make([]uint64, len(p.beats))
	}
	var err error
	ticks := p.ticks.Load()
	if l.checked && ticks == l.ticks {
		err = fmt.Errorf("%w: the timers have not ticked since the last check", ErrStalled)
	}
	for i := range p.beats {
		b := &p.beats[i]
		parked, turns := b.parked.Load(), b.turns.Load()
		if err == nil && l.checked && !parked && turns == l.turns[i] {
			err = fmt.Errorf("%w: worker %d has not come round its loop since the last check, and does not wait for frames", ErrStalled, i)
		}
		l.turns[i] = turns
	}
	l.ticks, l.checked = ticks, true
	return err
}
