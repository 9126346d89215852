package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/xlat"
)

// memBudget is the memory nat64br may use and where that figure comes
// from. The keys a configuration leaves out that bound memory (config.Sized)
// take a share of it each (sizeToMemory).
type memBudget struct {
	Bytes  int64  `json:"bytes"`
	Source string `json:"source"`
}

// Shares of the budget. What they leave, a little under half, is for the
// Go runtime, the packet rings and buffers, the neighbor caches and the
// garbage collector's headroom.
const (
	// The NAT64 tables take half, at xlat.SessionBytes a session (the
	// worst case: a flood from spoofed sources).
	sessionsShare = 2
	// Reassembly takes 1/32; its bookkeeping can double what max-bytes
	// counts (xlat.ReassemblyOptions).
	reassemblyShare = 32
	// The neighbor caches (ARP and ND) take 1/16 between them, at
	// arpnd.BytesPerNeighbor an entry.
	neighborsShare = 16
	// The bounds of limits.neighbors sized to the budget (each cache).
	minNeighbors, maxNeighbors = 1024, 262144
	// Without a cgroup limit, nat64br may use a quarter of the RAM.
	ramShare = 4
	// The budget assumed when neither /proc/meminfo nor a cgroup limit
	// can be read.
	assumedBudget = 1 << 30
)

// Bounds of the sized values. The ceilings are the fixed defaults of
// before, which a budget of 3.125 GiB reaches.
const (
	minSessions, maxSessions     = 4096, 4 << 20
	minPer64                     = 64
	minReassembly, maxReassembly = 1 << 20, 16 << 20
	minReassemblyPerSource       = 64 << 10 // config's lowest
)

// share returns 1/div of the budget.
func (b memBudget) share(div int64) int64 { return b.Bytes / div }

func (b memBudget) String() string {
	return fmt.Sprintf("%d MiB (%s)", b.Bytes>>20, b.Source)
}

// logMemBudget logs the budget and the values sized to it at start. When
// the budget is a cgroup's limit, past which the kernel kills nat64br, it
// also sets the Go runtime's soft memory limit to 3/4 of it (unless
// GOMEMLIMIT is set), so that the collector works harder rather than let
// garbage take the rest.
func logMemBudget(log *slog.Logger, b memBudget, sized []string) {
	attrs := []any{"budget", b.String(), "sized", strings.Join(sized, " ")}
	if strings.HasPrefix(b.Source, "cgroup") && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(b.Bytes / 4 * 3)
		attrs = append(attrs, "go_memory_limit", b.Bytes/4*3)
	}
	log.Info("memory budget", attrs...)
}

// readMemBudget returns the memory nat64br may use, read under root ("/",
// or a fake tree in tests): the lowest cgroup memory limit of the
// process's cgroup and its ancestors (cgroup v2 memory.max and
// memory.high; cgroup v1 memory.limit_in_bytes; hybrid hierarchies have
// both) when it is below the RAM, else 1/ramShare of MemTotal.
func readMemBudget(root string) memBudget {
	ram := memTotal(root)
	limit, source := cgroupLimit(root)
	if limit > 0 && (ram == 0 || limit < ram) {
		return memBudget{limit, source}
	}
	if ram == 0 {
		return memBudget{assumedBudget, "assumed: no cgroup memory limit, /proc/meminfo unreadable"}
	}
	return memBudget{ram / ramShare, fmt.Sprintf("1/%d of MemTotal %d MiB, no cgroup memory limit", ramShare, ram>>20)}
}

// memTotal returns MemTotal from /proc/meminfo in bytes, or 0.
func memTotal(root string) int64 {
	b, err := os.ReadFile(filepath.Join(root, "proc/meminfo"))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cgroupMount is where a cgroup hierarchy is mounted: dir in the file
// system, showing the hierarchy from its root cgroup path (mountinfo's
// fourth field; "/" unless mounted from a cgroup namespace's view).
type cgroupMount struct{ dir, root string }

// cgroupLimit returns the lowest memory limit over the process's cgroups
// and their ancestors, and the file it comes from, or 0.
func cgroupLimit(root string) (int64, string) {
	v2, v1 := cgroupMounts(root)
	paths := map[string]string{} // "" for cgroup v2, "memory" for v1
	if b, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup")); err == nil {
		for line := range strings.Lines(string(b)) {
			f := strings.SplitN(strings.TrimSpace(line), ":", 3)
			if len(f) != 3 {
				continue
			}
			switch {
			case f[0] == "0" && f[1] == "":
				paths[""] = f[2]
			case containsWord(f[1], "memory"):
				paths["memory"] = f[2]
			}
		}
	}
	var best int64
	var source string
	try := func(m cgroupMount, cg, file, version string) {
		if m.dir == "" {
			return
		}
		rel, ok := strings.CutPrefix(path.Clean(cg), m.root)
		if !ok || strings.Contains(rel, "..") {
			rel = "/" // outside the mount's view: its root is what we can see
		}
		for dir := path.Join("/", rel); ; dir = path.Dir(dir) {
			if n := readLimit(filepath.Join(root, m.dir, dir, file)); n > 0 && (best == 0 || n < best) {
				best, source = n, fmt.Sprintf("cgroup %s %s of %s", version, file, path.Join(m.root, dir))
			}
			if dir == "/" {
				return
			}
		}
	}
	if cg, ok := paths[""]; ok {
		try(v2, cg, "memory.max", "v2")
		try(v2, cg, "memory.high", "v2")
	}
	if cg, ok := paths["memory"]; ok {
		try(v1, cg, "memory.limit_in_bytes", "v1")
	}
	return best, source
}

// cgroupMounts finds the cgroup v2 hierarchy and cgroup v1's memory
// hierarchy in /proc/self/mountinfo, or at their usual places.
func cgroupMounts(root string) (v2, v1 cgroupMount) {
	if b, err := os.ReadFile(filepath.Join(root, "proc/self/mountinfo")); err == nil {
		for line := range strings.Lines(string(b)) {
			// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
			pre, post, ok := strings.Cut(line, " - ")
			f, g := strings.Fields(pre), strings.Fields(post)
			if !ok || len(f) < 5 || len(g) < 3 {
				continue
			}
			m := cgroupMount{dir: unescapeMount(f[4]), root: unescapeMount(f[3])}
			switch {
			case g[0] == "cgroup2" && v2.dir == "":
				v2 = m
			case g[0] == "cgroup" && containsWord(g[2], "memory") && v1.dir == "":
				v1 = m
			}
		}
		return v2, v1
	}
	for _, d := range []string{"sys/fs/cgroup", "sys/fs/cgroup/unified"} {
		if _, err := os.Stat(filepath.Join(root, d, "cgroup.controllers")); err == nil {
			v2 = cgroupMount{dir: "/" + d, root: "/"}
			break
		}
	}
	if _, err := os.Stat(filepath.Join(root, "sys/fs/cgroup/memory/memory.limit_in_bytes")); err == nil {
		v1 = cgroupMount{dir: "/sys/fs/cgroup/memory", root: "/"}
	}
	return v2, v1
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// containsWord reports whether the comma-separated list s holds w.
func containsWord(s, w string) bool {
	for f := range strings.SplitSeq(s, ",") {
		if f == w {
			return true
		}
	}
	return false
}

// readLimit returns the limit a cgroup memory file holds, or 0 for none
// ("max", cgroup v1's near-2^63 "unlimited", or no file).
func readLimit(file string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	b = bytes.TrimSpace(b)
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0
	}
	return n
}

// sizeToMemory replaces the values of the keys c leaves out that bound
// memory (c.Sized) with values sized to b, and returns them as "key=value"
// for the log, check-config and status.
//
//   - limits.sessions: half the budget at xlat.SessionBytes a session,
//     within 4096..4194304; limits.bib-entries the same (a session has at
//     most one BIB entry of its own).
//   - limits.sessions-per-64: a quarter of the smallest protocol's pool4
//     ports, and at most a quarter of limits.sessions, so that one /64
//     (one subscriber, or one spoofing attacker) can never take a
//     protocol's pool nor the table; at least 64.
//   - limits.sessions-per-host: a quarter of sessions-per-64, at least 64.
//   - reassembly.max-bytes: 1/32 of the budget, within 1..16 MiB;
//     max-bytes-per-source a sixteenth of it, at least 64 KiB.
func sizeToMemory(c *config.Config, b memBudget) []string {
	var sized []string
	set := func(on bool, key string, v *int, n int64) {
		if on {
			*v = int(n)
			sized = append(sized, fmt.Sprintf("%s=%d", key, n))
		}
	}
	s, l := c.Sized, &c.Limits
	sessions := min(max(b.share(sessionsShare)/xlat.SessionBytes, minSessions), maxSessions)
	set(s.Sessions, "limits.sessions", &l.Sessions, sessions)
	set(s.BIBEntries, "limits.bib-entries", &l.BIBEntries, sessions)
	per64 := poolPorts(c) / 4
	if l.Sessions > 0 {
		per64 = min(per64, int64(l.Sessions)/4)
	}
	per64 = max(per64, minPer64)
	set(s.SessionsPer64, "limits.sessions-per-64", &l.SessionsPer64, per64)
	if l.SessionsPer64 > 0 {
		per64 = int64(l.SessionsPer64) // the configuration's, if it sets one
	}
	set(s.SessionsPerHost, "limits.sessions-per-host", &l.SessionsPerHost, max(per64/4, minPer64))
	set(s.Neighbors, "limits.neighbors", &l.Neighbors, min(max(b.share(neighborsShare)/arpnd.BytesPerNeighbor/2, minNeighbors), maxNeighbors))
	re := &c.Reassembly
	reasm := min(max(b.share(reassemblyShare), minReassembly), maxReassembly) / xlat.ReassemblyBlock * xlat.ReassemblyBlock
	set(s.ReassemblyMaxBytes, "reassembly.max-bytes", &re.MaxBytes, reasm)
	set(s.ReassemblyMaxBytesPerSource, "reassembly.max-bytes-per-source", &re.MaxBytesPerSource, min(max(int64(re.MaxBytes)/16, minReassemblyPerSource), int64(re.MaxBytes)))
	return sized
}

// poolPorts returns the transport addresses (addresses × ports) of pool4
// for the protocol that has the fewest, or a large number without pool4.
func poolPorts(c *config.Config) int64 {
	var addrs int64
	for _, p := range c.Pool4 {
		if p.Addr().Is4() {
			addrs += 1 << (32 - p.Bits())
		}
	}
	if addrs == 0 {
		return 1 << 40
	}
	ports := int64(1 << 16)
	for _, r := range []config.PortRange{c.Pool4Ports.TCP, c.Pool4Ports.UDP, c.Pool4Ports.ICMP} {
		ports = min(ports, int64(r.Hi)-int64(r.Lo)+1)
	}
	return addrs * ports
}
