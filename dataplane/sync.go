package dataplane

import (
	"time"

	"github.com/nat64br/nat64br/xlat"
)

// Sync drives a plane from its caller's goroutine on the caller's clock:
// the replay of capture files, where the pcap timestamps are the time. It
// runs the same worker as Start, reading one side's port per call; the
// plane must not be started.
type Sync struct {
	p         *Plane
	w         *worker
	nextSweep time.Time
}

// Sync returns the plane's synchronous driver.
func (p *Plane) Sync() *Sync { return &Sync{p: p, w: p.newWorker()} }

// Read reads a batch from side s's port and handles it at time now. It
// returns the port's error (io.EOF at the end of a file).
func (s *Sync) Read(side xlat.Side, now time.Time) (int, error) {
	n, err := s.p.ports[side].ReadBatch(s.w.bufs, s.w.sizes, Headroom)
	if n > 0 {
		clear(s.w.gso[:n])
		s.w.batch(side, n, now)
	}
	return n, err
}

// Timers runs the timers at now: the neighbor caches', the Router
// Advertisements' and the translator's (held SYNs answered; expired
// sessions and mappings swept once per second of the clock).
func (s *Sync) Timers(now time.Time) {
	sweep := !now.Before(s.nextSweep)
	if sweep {
		s.nextSweep = now.Truncate(time.Second).Add(time.Second)
	}
	s.p.timers(now, sweep)
}
