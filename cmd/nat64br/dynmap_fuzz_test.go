package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadDynamicMapMalformed names the shapes of line the fuzz target
// starts from.
func TestLoadDynamicMapMalformed(t *testing.T) {
	path := filepath.Join(t.TempDir(), dynamicMapFile)
	for _, tc := range []struct {
		name, data string
		ok, bad    int
		err        bool
	}{
		{name: "TAYGA's file", data: taygaMap, ok: 2, bad: 1},
		{name: "spaces, CRLF and the largest time", data: "  192.0.2.2 2001:db8::2 9223372036854775807  \r\n", ok: 1},
		{name: "time zero or negative", data: "192.0.2.1 2001:db8::1 0\n192.0.2.1 2001:db8::1 -5\n", bad: 2},
		{name: "IPv4-mapped IPv6 as the IPv4", data: "::ffff:192.0.2.1 2001:db8::1 5\n", bad: 1},
		{name: "IPv4 as the IPv6", data: "192.0.2.1 192.0.2.2 5\n", bad: 1},
		{name: "four or one fields", data: "192.0.2.1 2001:db8::1 5 x\n192.0.2.1\n", bad: 2},
		// A line longer than a bufio.Scanner takes (64 KiB) fails the
		// load instead of being read into memory.
		{name: "line longer than 64 KiB", data: strings.Repeat("x", 70000) + "\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			ms, bad, err := loadDynamicMap(path)
			if (err != nil) != tc.err || !tc.err && (len(ms) != tc.ok || len(bad) != tc.bad) {
				t.Fatalf("%d mappings, problems %v, error %v; want %d, %d, %v", len(ms), bad, err, tc.ok, tc.bad, tc.err)
			}
		})
	}
}

// FuzzLoadDynamicMap loads arbitrary dynamic.map files: it must not panic,
// each line gives at most one mapping or one problem naming the file and
// the line, each mapping is an IPv4 address, an IPv6 address and a time
// after 1970, and what it loads round-trips through saveDynamicMap.
// saveDynamicMap syncs the file and its directory: run it with TMPDIR on
// a tmpfs, or it measures the disk.
func FuzzLoadDynamicMap(f *testing.F) {
	f.Add([]byte(taygaMap))
	f.Add([]byte("192.0.2.1\t2001:db8::1\t1\n# c\n\n  192.0.2.2 2001:db8::2 9223372036854775807  \r\n"))
	f.Add([]byte("192.0.2.1 2001:db8::1 0\n192.0.2.1 2001:db8::1 -5\n::ffff:192.0.2.1 2001:db8::1 5\n192.0.2.1 192.0.2.2 5\n"))
	f.Add([]byte("192.0.2.1 fe80::1%eth0 5\n192.0.2.1 2001:db8::1 5 extra\n192.0.2.1\n"))
	dir := f.TempDir()
	in, out := filepath.Join(dir, "in.map"), filepath.Join(dir, dynamicMapFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(in, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ms, bad, err := loadDynamicMap(in)
		if err != nil {
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		if len(ms)+len(bad) > lines {
			t.Fatalf("%d mappings and %d problems from %d lines", len(ms), len(bad), lines)
		}
		for _, e := range bad {
			var n int
			if _, serr := fmt.Sscanf(strings.TrimPrefix(e.Error(), in+":"), "%d:", &n); serr != nil || n < 1 || n > lines {
				t.Fatalf("problem without the file and a line number: %q", e)
			}
		}
		for _, m := range ms {
			if !m.IPv4.Is4() || !m.IPv6.Is6() || m.LastUse.Unix() <= 0 {
				t.Fatalf("malformed mapping %+v", m)
			}
		}
		if err := saveDynamicMap(out, ms, time.Unix(1795435200, 0)); err != nil {
			t.Fatal(err)
		}
		ms2, bad2, err := loadDynamicMap(out)
		if err != nil || len(bad2) != 0 {
			t.Fatalf("reloading the saved map: %v %v", err, bad2)
		}
		if len(ms2) != len(ms) {
			t.Fatalf("%d mappings saved, %d reloaded", len(ms), len(ms2))
		}
		for i := range ms {
			if ms[i].IPv4 != ms2[i].IPv4 || ms[i].IPv6 != ms2[i].IPv6 || !ms[i].LastUse.Equal(ms2[i].LastUse) {
				t.Fatalf("mapping %d: saved %+v, reloaded %+v", i, ms[i], ms2[i])
			}
		}
	})
}
