package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nat64br/nat64br/xlat"
)

// The dynamic pool's mappings persist in data-dir/dynamic.map, in TAYGA's
// format, so a TAYGA data-dir carries over as it is: one mapping a line,
// "IPv4<TAB>IPv6<TAB>last use in unix seconds", '#' starting a comment.

const dynamicMapFile = "dynamic.map"

// loadDynamicMap reads a dynamic.map. A missing file is no mapping; a
// malformed line is skipped and reported with its line number.
func loadDynamicMap(path string) ([]xlat.DynamicMapping, []error, error) {
	f, err := openRead(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var out []xlat.DynamicMapping
	var bad []error
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			bad = append(bad, fmt.Errorf("%s:%d: want IPv4, IPv6 and a time, got %q", path, n, line))
			continue
		}
		a4, err4 := netip.ParseAddr(fields[0])
		a6, err6 := netip.ParseAddr(fields[1])
		secs, errT := strconv.ParseInt(fields[2], 10, 64)
		if err4 != nil || err6 != nil || errT != nil || !a4.Is4() || !a6.Is6() || secs <= 0 {
			bad = append(bad, fmt.Errorf("%s:%d: malformed line %q", path, n, line))
			continue
		}
		out = append(out, xlat.DynamicMapping{IPv4: a4, IPv6: a6, LastUse: time.Unix(secs, 0)})
	}
	return out, bad, sc.Err()
}

// saveDynamicMap writes the mappings to path atomically (writeFileAtomic),
// so a crash leaves the old file or the new one.
func saveDynamicMap(path string, ms []xlat.DynamicMapping, now time.Time) error {
	return writeFileAtomic(path, 0o644, func(w io.Writer) error {
		fmt.Fprintf(w, "###\n### nat64br dynamic map database (TAYGA's format)\n###\n### Last written: %s\n###\n\n", now.UTC().Format(time.RFC1123))
		for _, m := range ms {
			if _, err := fmt.Fprintf(w, "%s\t%s\t%d\n", m.IPv4, m.IPv6, m.LastUse.Unix()); err != nil {
				return err
			}
		}
		return nil
	})
}

// dynamicStore keeps a translator's dynamic pool on disk: loaded at start,
// written when a mapping was made (checked every second), every minute
// for the last-use times, and at shutdown.
type dynamicStore struct {
	path    string
	owner   int // the uid nat64br runs as after start (sandbox.go), if not root
	gen     uint64
	written time.Time
}

func newDynamicStore(dataDir string) *dynamicStore {
	if dataDir == "" {
		return nil
	}
	return &dynamicStore{path: filepath.Join(dataDir, dynamicMapFile)}
}

// load restores the saved mappings into tr and returns how many it loaded
// and the problems it skipped.
func (s *dynamicStore) load(tr *xlat.Translator, now time.Time) (int, []error, error) {
	if err := checkDataDir(filepath.Dir(s.path), s.owner); err != nil {
		return 0, nil, err
	}
	ms, bad, err := loadDynamicMap(s.path)
	if err != nil {
		return 0, bad, err
	}
	n, errs := tr.RestoreDynamicMappings(ms, now)
	_, s.gen = tr.DynamicMappings()
	s.written = now
	return n, append(bad, errs...), nil
}

// save writes the mappings if a new one was made, if a minute went by, or
// if force is set.
func (s *dynamicStore) save(tr *xlat.Translator, now time.Time, force bool) error {
	ms, gen := tr.DynamicMappings()
	if !force && gen == s.gen && now.Sub(s.written) < time.Minute {
		return nil
	}
	s.gen, s.written = gen, now
	return saveDynamicMap(s.path, ms, now)
}
