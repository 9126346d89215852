package lab

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat/header"
)

// The flood pass: nat64br in mode nat64 runs in a cgroup with a memory
// limit (opts.MemoryLimit; seed 004's LXC has 256 MiB), and the client's
// namespace sends it, for opts.Flood, TCP SYNs and UDP datagrams from
// spoofed IPv6 sources, each a new flow: random hosts of opts.FloodNets
// /64s. Meanwhile the legitimate client pings through it with one echo
// identifier (an existing session) and downloads over new connections.
// The pass records nat64br's RSS and its cgroup's memory over time, the
// refusals by reason, the sessions, the client's ping loss and RTT and its
// download times.

// floodPort is where the flood goes, on the lab's IPv4 server: nothing
// listens, so it answers with RSTs and port unreachables, which go back
// to spoofed addresses nat64br has no next hop for.
const floodPort = 9

// floodResult is what a flood pass measured.
type floodResult struct {
	sent           int
	rssMax, rssEnd int64    // bytes
	cgroupPeak     int64    // the cgroup's own figure
	cgroupMax      int64    // the most sampled
	samples        []string // "t=RSS" every second
	sessionsMax    int64
	pings          []time.Duration
	pingsSent      int
	downloads      []time.Duration
	downloadErrs   int
	long           time.Duration // the paced download's time
	longErr        error
}

// floodLongRate is the paced download's rate, bytes a second.
const floodLongRate = 1 << 20

// memCgroup is a cgroup with a memory limit that nat64br is started in.
type memCgroup struct {
	dir, version string
}

// newMemCgroup creates a cgroup limited to limit bytes: cgroup v2 if its
// memory controller is enabled at the root, else cgroup v1's memory
// hierarchy (hybrid hosts such as this project's VM).
func newMemCgroup(limit int64) (*memCgroup, error) {
	name := labName("flood")
	if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control"); err == nil && slices.Contains(strings.Fields(string(b)), "memory") {
		dir := filepath.Join("/sys/fs/cgroup", name)
		if err := os.Mkdir(dir, 0o755); err == nil {
			if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
				os.Remove(dir)
				return nil, err
			}
			_ = os.WriteFile(filepath.Join(dir, "memory.swap.max"), []byte("0"), 0o644)
			return &memCgroup{dir, "v2"}, nil
		}
	}
	dir := filepath.Join("/sys/fs/cgroup/memory", name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("no cgroup v2 memory controller, and cgroup v1's: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		os.Remove(dir)
		return nil, err
	}
	_ = os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644)
	return &memCgroup{dir, "v1"}, nil
}

// mount is the command that mounts the cgroup's hierarchy (at the
// directory that follows).
func (c *memCgroup) mount() string {
	if c.version == "v2" {
		return "mount -t cgroup2 none"
	}
	return "mount -t cgroup -o memory none"
}

// procs is the file a process writes its PID to, to enter the cgroup.
func (c *memCgroup) procs() string { return filepath.Join(c.dir, "cgroup.procs") }

// usage returns the cgroup's memory now and at its peak.
func (c *memCgroup) usage() (now, peak int64) {
	read := func(f string) int64 {
		b, _ := os.ReadFile(filepath.Join(c.dir, f))
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n
	}
	if c.version == "v2" {
		return read("memory.current"), read("memory.peak")
	}
	return read("memory.usage_in_bytes"), read("memory.max_usage_in_bytes")
}

// oomKills returns how many processes the kernel killed in the cgroup
// for memory.
func (c *memCgroup) oomKills() int64 {
	f := "memory.events"
	if c.version == "v1" {
		f = "memory.oom_control"
	}
	b, _ := os.ReadFile(filepath.Join(c.dir, f))
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == "oom_kill" {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// remove deletes the cgroup, once its processes are gone.
func (c *memCgroup) remove() {
	for range 50 {
		if os.Remove(c.dir) == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rss returns the resident memory of process pid, or 0.
func rss(pid int) int64 {
	st, err := procStatus(pid)
	if err != nil {
		return 0
	}
	kb, _ := kiB(st, "VmRSS")
	return kb << 10
}

// floodConfig is the flood pass's configuration: the stateful demo's,
// with the client as the IPv6 gateway (as a router would be: the spoofed
// sources are then off-link, and are not learned as neighbors), pool4
// grown by pool (if not ""), and extra added (main's fixed limits, to
// compare).
func floodConfig(pool, extra string) func(string) string {
	cfg := demoNAT64Config
	if pool != "" {
		cfg = strings.Replace(cfg, "pool4: ["+labPool4+"/32]", "pool4: ["+labPool4+"/32, "+pool+"]", 1)
	}
	return func(string) string { return cfg + "gateway6: \"" + labClient6 + "\"\n" + extra }
}

// floodPass runs the flood; see the top of this file.
func (l *lab) floodPass(ctx context.Context, rep *Report, cg *memCgroup) (*Report, error) {
	o := l.opts
	pid := l.nat.Process.Pid
	_, _, ok := l.status()
	rep.add("memory budget read from the cgroup", ok && strings.Contains(l.natOutput(), "msg=\"memory budget\"") && strings.Contains(l.natOutput(), "cgroup "+cg.version),
		"%s", firstLine(l.natOutput(), "memory budget"))
	if rtts, err := l.ping(labVia6, 3); err != nil || len(rtts) != 3 {
		rep.add("ping before the flood", false, "%d/3 replies, %v", len(rtts), err)
		return rep, err
	}
	var res floodResult
	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, o.Flood)
	defer cancel()
	var wg sync.WaitGroup
	// RSS, cgroup memory and sessions, every 500 ms.
	wg.Go(func() {
		for i := 0; fctx.Err() == nil; i++ {
			r := rss(pid)
			res.rssMax = max(res.rssMax, r)
			now, _ := cg.usage()
			res.cgroupMax = max(res.cgroupMax, now)
			if i%2 == 0 {
				res.samples = append(res.samples, fmt.Sprintf("%ds:%d/%d", int(time.Since(start).Seconds()), r>>20, now>>20))
			}
			if code, out := l.ctl("stats", "--json"); code == 0 {
				var s statsJSON
				if json.Unmarshal([]byte(out), &s) == nil && s.NAT64 != nil {
					res.sessionsMax = max(res.sessionsMax, s.NAT64.Sessions)
				}
			}
			select {
			case <-fctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	// The legitimate client: one ping session and one paced download
	// (existing sessions) all along, and downloads over new connections
	// one after another once the table has filled.
	wg.Go(func() {
		n := int(o.Flood / (110 * time.Millisecond))
		res.pingsSent = n
		res.pings, _ = l.ping(labVia6, n)
	})
	longBytes := int64(floodLongRate) * int64((o.Flood + 5*time.Second).Seconds())
	wg.Go(func() {
		var sum [32]byte
		var n int64
		n, sum, res.long, res.longErr = l.download(l.c6, labClient6, fmt.Sprintf("http://[%s]/demo.bin?bytes=%d&rate=%d", labVia6, longBytes, floodLongRate))
		if res.longErr == nil && (n != longBytes || sum != payloadSHA(1, longBytes)) {
			res.longErr = fmt.Errorf("%s, sha256 %s", byteCount(n), shaVerdict(sum, payloadSHA(1, longBytes)))
		}
	})
	wg.Go(func() {
		time.Sleep(o.Flood / 4) // the table fills first
		for fctx.Err() == nil {
			n, _, d, err := l.download(l.c6, labClient6, "http://["+labVia6+"]/demo.bin")
			if err != nil || n != o.HTTPBytes {
				res.downloadErrs++
				time.Sleep(time.Second)
				continue
			}
			res.downloads = append(res.downloads, d)
		}
	})
	sent, err := l.flood(fctx, o.FloodNets, o.FloodRate)
	res.sent = sent
	wg.Wait()
	res.rssEnd = rss(pid)
	_, res.cgroupPeak = cg.usage()
	kills := cg.oomKills()
	alive, exit := true, ""
	select {
	case err := <-l.natDone:
		alive, exit = false, fmt.Sprintf("; nat64br exited: %v", err)
		if strings.Contains(exit, "killed") {
			exit += " (the kernel's OOM killer, if dmesg says so)"
		}
		l.natDone <- err
	default:
	}
	rep.add(fmt.Sprintf("flood of new flows from %d /64s for %s", o.FloodNets, o.Flood), err == nil && sent > 0, "%d frames sent (%.0f/s)%s", sent, float64(sent)/o.Flood.Seconds(), errSuffix(err))
	rep.add(fmt.Sprintf("nat64br alive in a %d MiB cgroup %s", o.MemoryLimit>>20, cg.version), alive && kills == 0,
		"OOM kills %d; RSS max %d MiB, at the end %d MiB; cgroup peak %d MiB (sampled %d); sessions max %d%s", kills, res.rssMax>>20, res.rssEnd>>20, res.cgroupPeak>>20, res.cgroupMax>>20, res.sessionsMax, exit)
	rep.add("RSS and cgroup memory over time (MiB)", true, "%s", strings.Join(res.samples, " "))
	lost := res.pingsSent - len(res.pings)
	rep.add("legitimate client's ping during the flood (one session)", len(res.pings) > 0 && lost*10 <= res.pingsSent,
		"%d/%d replies, median %s, max %s", len(res.pings), res.pingsSent, median(res.pings), slices.Max(append(res.pings, 0)))
	rep.add(fmt.Sprintf("legitimate client's paced download (%d KiB/s) across the flood (one session)", floodLongRate>>10), res.longErr == nil,
		"%s in %s", byteCount(longBytes), errString(res.longErr, res.long.Round(time.Millisecond).String()))
	rep.add(fmt.Sprintf("legitimate client's downloads of %d MB during the flood (new sessions)", o.HTTPBytes>>20), len(res.downloads) > 0 && res.downloadErrs == 0 || o.FloodLoose,
		"%d done, %d failed (a full table or pool4 refuses new sessions); times: median %s, max %s", len(res.downloads), res.downloadErrs, median(res.downloads), slices.Max(append(res.downloads, 0)))
	if !alive {
		return rep, nil
	}
	counters, err := l.stopNat64br()
	rep.counters = counters
	var refused []string
	for _, k := range []string{"reply_nat64_session_limit", "reply_nat64_per64_limit", "reply_nat64_host_limit", "reply_nat64_pool4_exhausted", "reply_icmp_error_rate_limited", "drop_icmp_error_rate_limited"} {
		refused = append(refused, counterValue(counters, k))
	}
	rep.add("refusals by reason", true, "%s", strings.Join(refused, ", "))
	rep.add("nat64br stopped on SIGTERM", err == nil, "%s", errString(err, "clean"))
	return rep, nil
}

// firstLine returns the first line of s that contains sub.
func firstLine(s, sub string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return strings.TrimSpace(line)
		}
	}
	return sub + ": not found"
}

// flood sends new flows from spoofed sources to nat64br's IPv6 port until
// ctx ends, at about rate frames a second: TCP SYNs and UDP datagrams,
// each from a random host of one of nets /64s (2001:db8:f000::/48 and
// on), from a random port. It returns how many frames it sent.
func (l *lab) flood(ctx context.Context, nets, rate int) (int, error) {
	var p *wire.PacketPort
	if err := l.c6.do(func() (err error) { p, err = wire.ListenPacket("eth0", wire.PacketOptions{}); return err }); err != nil {
		return 0, err
	}
	defer p.Close()
	dst, _ := net.ParseMAC(l.n6mac)
	src := p.MAC()
	r := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 64))
	via := net.ParseIP(labVia6).To16()
	const batch = 64
	frames := make([][]byte, batch)
	for i := range frames {
		frames[i] = make([]byte, 14+40+20)
	}
	every := time.Duration(float64(time.Second) * batch / float64(rate))
	sent := 0
	next := time.Now()
	for ctx.Err() == nil {
		for _, f := range frames {
			copy(f, dst)
			copy(f[6:], src)
			binary.BigEndian.PutUint16(f[12:], header.EtherTypeIPv6)
			ip := f[14:]
			ip[0], ip[1], ip[2], ip[3] = 0x60, 0, 0, 0
			ip[7] = 64
			// 2001:db8:f000::/64 + n, a random interface ID
			binary.BigEndian.PutUint64(ip[8:], 0x20010db8_f0000000+uint64(r.IntN(nets)))
			binary.BigEndian.PutUint64(ip[16:], r.Uint64())
			copy(ip[24:], via)
			l4 := ip[40:]
			binary.BigEndian.PutUint16(l4[0:], uint16(1024+r.IntN(64000)))
			binary.BigEndian.PutUint16(l4[2:], floodPort)
			var proto byte
			if r.IntN(2) == 0 {
				proto = 6
				binary.BigEndian.PutUint32(l4[4:], r.Uint32())
				binary.BigEndian.PutUint32(l4[8:], 0)
				l4[12], l4[13] = 5<<4, 0x02 // SYN
				binary.BigEndian.PutUint16(l4[14:], 64240)
				l4[16], l4[17], l4[18], l4[19] = 0, 0, 0, 0
				binary.BigEndian.PutUint16(ip[4:], 20)
			} else {
				proto = 17
				binary.BigEndian.PutUint16(l4[4:], 20)
				l4[6], l4[7] = 0, 0
				copy(l4[8:], "nat64br flood")
				binary.BigEndian.PutUint16(ip[4:], 20)
			}
			ip[6] = proto
			sum := l4Checksum(ip[8:40], proto, l4[:20])
			if proto == 6 {
				binary.BigEndian.PutUint16(l4[16:], sum)
			} else {
				binary.BigEndian.PutUint16(l4[6:], sum)
			}
		}
		n, err := p.WriteBatch(frames, 0)
		sent += n
		if err != nil {
			return sent, err
		}
		next = next.Add(every)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	return sent, nil
}

// l4Checksum returns the TCP or UDP checksum of seg, whose checksum field
// is zero, over the IPv6 pseudo-header of addrs (source and destination).
func l4Checksum(addrs []byte, proto byte, seg []byte) uint16 {
	var s uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
	}
	add(addrs)
	s += uint32(len(seg)) + uint32(proto)
	add(seg)
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	c := ^uint16(s)
	if c == 0 {
		c = 0xffff
	}
	return c
}
