package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/xlat"
)

// fakeTree writes files (path relative to the root: contents) into a new
// directory and returns it.
func fakeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestReadMemBudget(t *testing.T) {
	const (
		meminfo = "MemTotal:        4194304 kB\nMemFree:         1000000 kB\n"
		mib     = 1 << 20
		// mountinfo of a cgroup v2 host, of this project's VM (hybrid:
		// v1 controllers, an empty v2 hierarchy at unified) and of an LXC
		// container (cgroup namespace: its cgroup is the root it sees).
		mountV2     = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
		mountHybrid = "40 30 0:35 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
			"41 30 0:36 / /sys/fs/cgroup/cpu\\040x rw,relatime - cgroup cgroup rw,cpu\n" +
			"42 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
	)
	for _, tc := range []struct {
		name   string
		files  map[string]string
		want   int64
		source string // a part of it
	}{
		{"v2 service limit", map[string]string{
			"proc/meminfo":        meminfo,
			"proc/self/mountinfo": mountV2,
			"proc/self/cgroup":    "0::/system.slice/nat64br.service\n",
			"sys/fs/cgroup/system.slice/nat64br.service/memory.max":  "268435456\n",
			"sys/fs/cgroup/system.slice/nat64br.service/memory.high": "max\n",
			"sys/fs/cgroup/system.slice/memory.max":                  "max\n",
		}, 256 * mib, "cgroup v2 memory.max of /system.slice/nat64br.service"},
		{"v2 parent lower", map[string]string{
			"proc/meminfo":        meminfo,
			"proc/self/mountinfo": mountV2,
			"proc/self/cgroup":    "0::/system.slice/nat64br.service\n",
			"sys/fs/cgroup/system.slice/nat64br.service/memory.max": "268435456\n",
			"sys/fs/cgroup/system.slice/memory.max":                 "134217728\n",
		}, 128 * mib, "memory.max of /system.slice"},
		{"v2 memory.high", map[string]string{
			"proc/meminfo":                meminfo,
			"proc/self/mountinfo":         mountV2,
			"proc/self/cgroup":            "0::/a\n",
			"sys/fs/cgroup/a/memory.max":  "268435456\n",
			"sys/fs/cgroup/a/memory.high": "201326592\n",
		}, 192 * mib, "memory.high of /a"},
		{"lxc namespace root", map[string]string{
			"proc/meminfo":             meminfo,
			"proc/self/mountinfo":      mountV2,
			"proc/self/cgroup":         "0::/\n",
			"sys/fs/cgroup/memory.max": "268435456\n",
		}, 256 * mib, "cgroup v2 memory.max of /"},
		{"v2 without mountinfo", map[string]string{
			"proc/meminfo":                     meminfo,
			"proc/self/cgroup":                 "0::/a\n",
			"sys/fs/cgroup/cgroup.controllers": "memory pids\n",
			"sys/fs/cgroup/a/memory.max":       "268435456\n",
		}, 256 * mib, "memory.max"},
		{"hybrid v1 limit", map[string]string{
			"proc/meminfo":        meminfo,
			"proc/self/mountinfo": mountHybrid,
			"proc/self/cgroup":    "4:memory:/lab\n1:cpu:/\n0::/\n",
			"sys/fs/cgroup/memory/lab/memory.limit_in_bytes": "268435456\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":     "9223372036854771712\n",
		}, 256 * mib, "cgroup v1 memory.limit_in_bytes of /lab"},
		{"hybrid v1 unlimited", map[string]string{
			"proc/meminfo":        meminfo,
			"proc/self/mountinfo": mountHybrid,
			"proc/self/cgroup":    "4:memory:/process_api/8d94\n0::/\n",
			"sys/fs/cgroup/memory/process_api/8d94/memory.limit_in_bytes": "9223372036854771712\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":                  "9223372036854771712\n",
		}, 1024 * mib, "1/4 of MemTotal 4096 MiB"},
		{"v1 mounted from a namespace", map[string]string{
			"proc/meminfo":        meminfo,
			"proc/self/mountinfo": "40 30 0:35 /lxc/ct1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			"proc/self/cgroup":    "4:memory:/lxc/ct1\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "268435456\n",
		}, 256 * mib, "memory.limit_in_bytes of /lxc/ct1"},
		{"limit above the RAM", map[string]string{
			"proc/meminfo":               meminfo,
			"proc/self/mountinfo":        mountV2,
			"proc/self/cgroup":           "0::/a\n",
			"sys/fs/cgroup/a/memory.max": "17179869184\n",
		}, 1024 * mib, "1/4 of MemTotal"},
		{"nothing readable", map[string]string{}, 1 << 30, "assumed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readMemBudget(fakeTree(t, tc.files))
			if got.Bytes != tc.want || !strings.Contains(got.Source, tc.source) {
				t.Errorf("got %d (%s), want %d (%s)", got.Bytes, got.Source, tc.want, tc.source)
			}
		})
	}
}

func TestSizeToMemory(t *testing.T) {
	seed004 := memBudget{256 << 20, "cgroup v2 memory.max of /"}
	for _, tc := range []struct {
		name   string
		doc    string
		budget memBudget
		want   config.Limits
		reasm  [2]int
		sized  []string
	}{
		{"seed 004: 256 MiB, one pool4 address", "mode: nat64\nprefix: 64:ff9b::/96\npool4: [192.0.2.1/32]\n", seed004,
			config.Limits{Sessions: 335544, BIBEntries: 335544, SessionsPerHost: 4095, SessionsPer64: 16383, Neighbors: 32768, NeighborLearnRate: 1000}, [2]int{8 << 20, 512 << 10},
			[]string{"limits.sessions=335544", "limits.bib-entries=335544", "limits.sessions-per-64=16383", "limits.sessions-per-host=4095", "limits.neighbors=32768", "reassembly.max-bytes=8388608", "reassembly.max-bytes-per-source=524288"}},
		{"big box: the ceilings", "mode: nat64\nprefix: 64:ff9b::/96\npool4: [192.0.2.0/24]\n", memBudget{6 << 30, "1/4 of MemTotal"},
			config.Limits{Sessions: 4 << 20, BIBEntries: 4 << 20, SessionsPerHost: 262144, SessionsPer64: 1 << 20, Neighbors: 262144, NeighborLearnRate: 1000}, [2]int{16 << 20, 1 << 20}, nil},
		{"tiny box: the floors", "mode: nat64\nprefix: 64:ff9b::/96\npool4: [192.0.2.1/32]\npool4-ports: {tcp: 1000-1099}\n", memBudget{1 << 20, "cgroup v1"},
			config.Limits{Sessions: 4096, BIBEntries: 4096, SessionsPerHost: 64, SessionsPer64: 64, Neighbors: 1024, NeighborLearnRate: 1000}, [2]int{1 << 20, 64 << 10}, nil},
		{"explicit keys win", "mode: nat64\nprefix: 64:ff9b::/96\npool4: [192.0.2.1/32]\nlimits: {sessions: 1000, sessions-per-host: 0}\nreassembly: {max-bytes: 2097152}\n", seed004,
			config.Limits{Sessions: 1000, BIBEntries: 335544, SessionsPerHost: 0, SessionsPer64: 250, Neighbors: 32768, NeighborLearnRate: 1000}, [2]int{2 << 20, 128 << 10},
			[]string{"limits.bib-entries=335544", "limits.sessions-per-64=250", "limits.neighbors=32768", "reassembly.max-bytes-per-source=131072"}},
		{"per host from the configuration's per /64", "mode: nat64\nprefix: 64:ff9b::/96\npool4: [192.0.2.1/32]\nlimits: {sessions-per-64: 1000}\n", seed004,
			config.Limits{Sessions: 335544, BIBEntries: 335544, SessionsPerHost: 250, SessionsPer64: 1000, Neighbors: 32768, NeighborLearnRate: 1000}, [2]int{8 << 20, 512 << 10}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse("t.yaml", []byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			sized := sizeToMemory(c, tc.budget)
			if c.Limits != tc.want {
				t.Errorf("limits %+v, want %+v", c.Limits, tc.want)
			}
			if got := [2]int{c.Reassembly.MaxBytes, c.Reassembly.MaxBytesPerSource}; got != tc.reasm {
				t.Errorf("reassembly %v, want %v", got, tc.reasm)
			}
			if tc.sized != nil && !slices.Equal(sized, tc.sized) {
				t.Errorf("sized %q, want %q", sized, tc.sized)
			}
			if _, err := newTranslator(c); err != nil {
				t.Errorf("the translator refuses the sized configuration: %v", err)
			}
			if _, err := xlat.NewReassembler(reassemblyOptions(c)); err != nil {
				t.Errorf("the reassembler refuses the sized configuration: %v", err)
			}
		})
	}
}
