package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nat64br/nat64br/xlat"
)

// The NAT64 tables persist in data-dir/nat64.state (xlat.SaveNAT's
// format): written at every clean stop and every state-interval while
// running, loaded at start.

const natStateFile = "nat64.state"

// stateStore keeps a NAT64 translator's tables on disk.
type stateStore struct {
	path     string
	owner    int // the uid nat64br runs as after start (sandbox.go), if not root
	log      *slog.Logger
	mu       sync.Mutex   // one write at a time
	interval atomic.Int64 // state-interval in nanoseconds; 0: only at stop
	tick     time.Duration
	stop     chan struct{}
	done     chan struct{}
}

// newStateStore returns the store of dataDir, or nil if it is "".
func newStateStore(dataDir string, log *slog.Logger) *stateStore {
	if dataDir == "" {
		return nil
	}
	return &stateStore{path: filepath.Join(dataDir, natStateFile), log: log, tick: time.Second}
}

// load restores the saved tables into tr, a new translator, at now and
// logs what it did: one line, and a line for each entry skipped if
// perEntry (mapping-log) is set. A missing file is an empty start; a
// damaged one is logged, kept aside as nat64.state.bad, and the tables
// stay empty. It returns whether it loaded a file.
func (s *stateStore) load(tr *xlat.Translator, now time.Time, perEntry bool) bool {
	if err := checkDataDir(filepath.Dir(s.path), s.owner); err != nil {
		s.log.Error("NAT64 state: cannot use data-dir; sessions will not survive a restart", "data_dir", filepath.Dir(s.path), "err", err)
		return false
	}
	data, err := readFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.log.Info("NAT64 state: no saved tables, starting empty", "file", s.path)
		return false
	}
	if err != nil {
		s.log.Error("NAT64 state: cannot read the saved tables, starting empty", "file", s.path, "err", err)
		return false
	}
	start := time.Now()
	var dropped func(xlat.NATEntry, xlat.NATDrop)
	if perEntry {
		dropped = func(e xlat.NATEntry, why xlat.NATDrop) {
			s.log.Info("NAT64 state: entry skipped", entryAttrs(e, why)...)
		}
	}
	st, err := tr.LoadNAT(data, now, dropped)
	if err != nil {
		bad := s.path + ".bad"
		if rerr := os.Rename(s.path, bad); rerr != nil {
			bad = ""
		}
		s.log.Error("NAT64 state: the saved tables are damaged, starting empty", "file", s.path, "err", err, "kept_as", bad)
		return false
	}
	b, n := st.Dropped()
	s.log.Info("NAT64 state loaded", "file", s.path, "bytes", len(data), "took", time.Since(start).Round(time.Millisecond).String(),
		"bib", st.BIB, "sessions", st.Sessions, "skipped_bib", b, "skipped_sessions", n, "skipped_by_cause", dropCauses(&st))
	return true
}

// save writes tr's tables at now.
func (s *stateStore) save(tr *xlat.Translator, now time.Time) (xlat.NATStateStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st xlat.NATStateStats
	err := writeFileAtomic(s.path, 0o600, func(w io.Writer) error {
		var err error
		st, err = tr.SaveNAT(w, now)
		return err
	})
	return st, err
}

// start saves the tables of current() every state-interval (d, or what
// setInterval says later) until close.
func (s *stateStore) start(current func() *xlat.Translator, d time.Duration) {
	s.setInterval(d)
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.tick)
		defer t.Stop()
		last, failing := time.Now(), false
		for {
			select {
			case <-s.stop:
				return
			case now := <-t.C:
				d := time.Duration(s.interval.Load())
				if d == 0 || now.Sub(last) < d {
					continue
				}
				last = now
				st, err := s.save(current(), now)
				switch {
				case err != nil && !failing:
					s.log.Error("NAT64 state: cannot save the tables; a restart would lose them", "file", s.path, "err", err)
				case err == nil && failing:
					s.log.Info("NAT64 state: saving again", "file", s.path)
				case err == nil:
					s.log.Debug("NAT64 state saved", "file", s.path, "bib", st.BIB, "sessions", st.Sessions, "took", time.Since(now).String())
				}
				failing = err != nil
			}
		}
	}()
}

// setInterval changes the state-interval (a reload).
func (s *stateStore) setInterval(d time.Duration) { s.interval.Store(int64(d)) }

// close stops the periodic saves and waits for one under way.
func (s *stateStore) close() {
	if s == nil || s.stop == nil {
		return
	}
	close(s.stop)
	<-s.done
	s.stop = nil
}

// entryAttrs are the log attributes of a NAT64 entry skipped or expired.
func entryAttrs(e xlat.NATEntry, why xlat.NATDrop) []any {
	a := []any{"cause", why.String(), "proto", e.Proto, "ipv6", e.IPv6.String(), "ipv4", e.IPv4.String()}
	if e.Remote.IsValid() {
		a = append(a, "remote", e.Remote.String())
		if e.State != "" {
			a = append(a, "state", e.State)
		}
	} else {
		a = append(a, "static", e.Static, "sessions", e.Sessions)
	}
	return a
}

// dropCauses is "cause=bib/sessions ..." for the causes that dropped
// something, or "none".
func dropCauses(st *xlat.NATStateStats) string {
	var b strings.Builder
	for i := range st.DroppedBIB {
		if st.DroppedBIB[i] == 0 && st.DroppedSessions[i] == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d/%d", xlat.NATDrop(i), st.DroppedBIB[i], st.DroppedSessions[i])
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}
