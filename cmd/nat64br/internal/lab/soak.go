package lab

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The soak pass (issue 23 item 8): the stateless lab (or, with Stateful
// "nat64", the stateful one) under a mix of TCP
// downloads both ways, UDP echoes (small, and large ones that go as
// fragments), pings (small, and large ones nat64br reassembles and
// fragments again), bursts of malformed frames and a SIGHUP reload at
// intervals, for Options.Soak. Then the traffic stops, the fragments
// still held time out, and the books must balance exactly, per port,
// from nat64br stats as an operator reads them:
//
//	frames_in = link frames (nd_frames on the IPv6 port, arp_frames on the IPv4 one)
//	          + in_*_translated + in_*_answered + in_*_fragment_held + in_*_dropped
//
// and every drop counter (whatever its reason: any counter nat64br stats
// --explain calls "dropped") adds up to in_ipv6_dropped + in_ipv4_dropped
// + late_drops. Frames the kernel dropped from a ring never reach
// nat64br: each port's kernel drops are in its books (PACKET_STATISTICS),
// and reported. The
// anonymous resident memory of nat64br, sampled every few seconds, must
// stay within soakRSSMargin of its value after the warm-up.

// soakRSSMargin is how much nat64br's anonymous resident memory may grow
// after the warm-up.
const soakRSSMargin = 0.10

// nat64br's own addresses in the demo configuration (ipv6-addr,
// ipv4-addr): the translator answers their pings.
const (
	labOwn6 = "2001:db8:6::1"
	labOwn4 = "192.0.2.1"
)

// soakWarmup is the warm-up of a soak of d: half of it. In a 10-minute
// soak nat64br's anonymous memory grew for about 5 minutes (4.8 to 16.7
// MiB, the Go heap in use by 3 MiB, the goroutines steady at 14) and by
// 2 % in the 5 after: its buffers are made as batches first need them
// (scratch buffers for replies and fragments, up to 256 a worker) and
// their pages become resident as frames first reach into them.
func soakWarmup(d time.Duration) time.Duration { return d / 2 }

// soakJudgeMemory is the shortest soak whose memory is judged: in a
// shorter one (make test's minute) the buffers nat64br makes as it needs
// them (a scratch buffer per reply or fragment of a batch, up to 256 a
// worker) are still being made, and the figures are reported only.
const soakJudgeMemory = 5 * time.Minute

// soakTally counts what a traffic loop of the soak did.
type soakTally struct{ sent, ok atomic.Int64 }

func (t *soakTally) String() string { return fmt.Sprintf("%d/%d", t.ok.Load(), t.sent.Load()) }

// soakPass runs the soak in the stateless lab.
func (l *lab) soakPass(ctx context.Context, rep *Report) (*Report, error) {
	d := l.opts.Soak
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	pid := l.nat.Process.Pid
	var tcp6, tcp4, udp, udpBig, closed, ping, pingBig, own6, own4, garbage, reloads soakTally
	var wg sync.WaitGroup
	loop := func(every time.Duration, fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				fn()
				select {
				case <-ctx.Done():
				case <-time.After(every):
				}
			}
		}()
	}
	// TCP both ways, paced so the rings keep up on a small machine.
	const tcpBytes = 2 << 20
	want1, want2 := payloadSHA(1, tcpBytes), payloadSHA(2, tcpBytes)
	download := func(t *soakTally, ns labNS, local, url string, want [32]byte) func() {
		return func() {
			t.sent.Add(1)
			if n, sum, _, err := l.download(ns, local, url); err == nil && n == tcpBytes && sum == want {
				t.ok.Add(1)
			}
		}
	}
	query := fmt.Sprintf("/soak.bin?bytes=%d&rate=%d", tcpBytes, 4<<20)
	server6 := labServer6v4 // the IPv6-only server: its EAM address, or NAT64's port forward
	if l.opts.Stateful == "nat64" {
		server6 = labPool4
	}
	loop(100*time.Millisecond, download(&tcp6, l.c6, labClient6, "http://["+labVia6+"]"+query, want1))
	loop(100*time.Millisecond, download(&tcp4, l.s4, labClient4, "http://"+server6+":8080"+query, want2))
	// UDP echoes, 64 and 1400 bytes, and 3000: IPv6 fragments nat64br
	// translates one by one.
	loop(20*time.Millisecond, func() { l.soakEcho(&udp, 64+int(udp.sent.Load()%2)*1336) })
	loop(200*time.Millisecond, func() { l.soakEcho(&udpBig, 3000) })
	// UDP to a closed port: the server's ICMP errors, translated.
	loop(100*time.Millisecond, func() { l.soakClosed(&closed) })
	// Pings, and 3000-byte ones: ICMP fragments, reassembled and
	// fragmented again both ways.
	pinger := func(t *soakTally, size int) func() {
		return func() {
			t.sent.Add(1)
			if rtts, err := l.pingData(labVia6, 1, soakData(size)); err == nil && len(rtts) == 1 {
				t.ok.Add(1)
			}
		}
	}
	loop(50*time.Millisecond, pinger(&ping, 56))
	loop(200*time.Millisecond, pinger(&pingBig, 3000))
	// Pings to nat64br's own addresses, which the translator answers.
	own := func(t *soakTally, ns labNS, src, dst string) func() {
		return func() {
			t.sent.Add(1)
			if rtts, _, err := pingFrom(ns, src, dst, 1); err == nil && len(rtts) == 1 {
				t.ok.Add(1)
			}
		}
	}
	loop(100*time.Millisecond, own(&own6, l.c6, labClient6, labOwn6))
	loop(100*time.Millisecond, own(&own4, l.s4, labClient4, labOwn4))
	// Malformed frames into both ports, a second every 15 s.
	loop(15*time.Second, func() {
		n, err := l.garbage(time.Second)
		garbage.sent.Add(int64(n))
		if err == nil {
			garbage.ok.Add(int64(n))
		}
	})
	// A reload every 20 s, each changing icmp-error-rate.
	good, err := os.ReadFile(l.configPath)
	if err != nil {
		return rep, err
	}
	loop(20*time.Second, func() {
		rate := 500 + 100*(reloads.sent.Load()%2)
		cfg := strings.Replace(string(good), "wkpf-strict: false", fmt.Sprintf("wkpf-strict: false\nicmp-error-rate: %d", rate), 1)
		if os.WriteFile(l.configPath, []byte(cfg), 0o644) == nil && l.nat.Process.Signal(unix.SIGHUP) == nil {
			reloads.sent.Add(1)
		}
	})
	// nat64br's resident memory every 5 s.
	// With it, the Go heap in use and the goroutines, from the metrics,
	// to tell a leak from the runtime's own growth.
	var mem []memSample
	var memMu sync.Mutex
	start := time.Now()
	loop(5*time.Second, func() {
		m, err := readMem(pid)
		if err != nil {
			return
		}
		m.heap, m.goroutines = -1, -1
		if text, _, err := l.scrape(); err == nil {
			m.heap, m.goroutines = metricValue(text, "go_memstats_heap_inuse_bytes"), metricValue(text, "go_goroutines")
		}
		memMu.Lock()
		mem = append(mem, m)
		memMu.Unlock()
	})
	wg.Wait()
	took := time.Since(start)
	if err := context.Cause(ctx); err != nil && err != context.DeadlineExceeded {
		return rep, err
	}
	reloads.ok.Store(int64(strings.Count(l.natOutput(), "configuration reloaded")))

	rep.add(fmt.Sprintf("soak traffic for %s", took.Round(time.Second)), tcp6.ok.Load() > 0 && tcp4.ok.Load() > 0 && tcp6.ok == tcp6.sent && tcp4.ok == tcp4.sent,
		"HTTP %d MB downloads: IPv6 client %s, IPv4 client %s", tcpBytes>>20, &tcp6, &tcp4)
	rep.add("soak UDP echoes and pings", mostly(&udp) && mostly(&udpBig) && mostly(&ping) && mostly(&pingBig) && mostly(&own6) && mostly(&own4) && closed.sent.Load() > 0,
		"UDP 64/1400 B %s, 3000 B %s; %d to a closed port; pings 56 B %s, 3000 B %s; to nat64br's own addresses %s (IPv6), %s (IPv4)",
		&udp, &udpBig, closed.sent.Load(), &ping, &pingBig, &own6, &own4)
	rep.add("soak malformed frames and reloads", garbage.ok.Load() > 0 && reloads.sent.Load() > 0 && reloads.ok.Load() >= reloads.sent.Load(),
		"%d malformed frames; %d reloads applied of %d SIGHUPs", garbage.ok.Load(), reloads.ok.Load(), reloads.sent.Load())

	// Quiet: the fragments still held time out (reassembly.timeout, 5 s),
	// then the books must hold still.
	time.Sleep(7 * time.Second)
	st, meaning, err := l.quietStats()
	if err != nil {
		return rep, err
	}
	l.soakBooks(rep, st, meaning)
	l.soakRSS(rep, mem, soakWarmup(d), d >= soakJudgeMemory)
	counters, err := l.stopNat64br()
	rep.counters = counters
	rep.add("nat64br stopped on SIGTERM", err == nil, "%s", errString(err, "clean"))
	return rep, nil
}

// mostly reports whether at least 90 % of t's tries worked (on a loaded
// 2-core machine 96 % of the 3000-byte pings came back).
func mostly(t *soakTally) bool { return t.sent.Load() > 0 && t.ok.Load()*100 >= t.sent.Load()*90 }

// soakData is size bytes of ping or echo data.
func soakData(size int) []byte { return bytes.Repeat([]byte("nat64br soak "), size/13+1)[:size] }

// soakEcho sends one UDP datagram of size bytes to the echo server and
// counts it in t, and its echo if it comes back within a second.
func (l *lab) soakEcho(t *soakTally, size int) {
	c, err := dialUDP6(l.c6, labClient6, labVia6, 7)
	t.sent.Add(1)
	if err != nil {
		return
	}
	defer c.Close()
	msg := soakData(size)
	if _, err := c.Write(msg); err != nil {
		return
	}
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := c.Read(buf); err == nil && bytes.Equal(buf[:n], msg) {
		t.ok.Add(1)
	}
}

// soakClosed sends a UDP datagram to a closed port of the IPv4 server,
// which answers with an ICMP port unreachable, and counts it in t.
func (l *lab) soakClosed(t *soakTally) {
	c, err := dialUDP6(l.c6, labClient6, labVia6, 9)
	if err != nil {
		return
	}
	defer c.Close()
	if _, err := c.Write(soakData(64)); err == nil {
		t.sent.Add(1)
	}
}

// memSample is one reading of nat64br's memory: VmRSS and its anonymous
// and file-backed parts, from /proc/PID/status, in KiB; the Go heap in
// use and the goroutines, from its metrics (-1 if the scrape failed).
type memSample struct {
	rss, anon, file  int64
	heap, goroutines float64
}

// readMem reads the /proc part of a memSample of process pid.
func readMem(pid int) (memSample, error) {
	m := memSample{rss: -1, anon: -1, file: -1}
	st, err := procStatus(pid)
	if err != nil {
		return m, err
	}
	for _, f := range []struct {
		key string
		v   *int64
	}{{"VmRSS", &m.rss}, {"RssAnon", &m.anon}, {"RssFile", &m.file}} {
		if n, ok := kiB(st, f.key); ok {
			*f.v = n
		}
	}
	if m.rss < 0 || m.anon < 0 || m.file < 0 {
		return m, fmt.Errorf("no VmRSS, RssAnon or RssFile in /proc/%d/status", pid)
	}
	return m, nil
}

// soakStats is what the soak reads of stats --json: every counter, and
// each port's own books (wire.Stats, all numbers).
type soakStats struct {
	Counters map[string]uint64            `json:"counters"`
	Ports    map[string]map[string]uint64 `json:"ports"`
}

// quietStats reads stats --json until two reads a second apart agree on
// every counter (no frame moved between them), at most 30 times, and the
// meaning of each counter from stats --explain --csv.
func (l *lab) quietStats() (soakStats, map[string]string, error) {
	read := func() (soakStats, error) {
		var s soakStats
		code, out := l.ctl("stats", "--json")
		if code != 0 {
			return s, fmt.Errorf("nat64br stats --json: exit %d: %s", code, out)
		}
		return s, json.Unmarshal([]byte(out), &s)
	}
	prev, err := read()
	for i := 0; err == nil && i < 30; i++ {
		time.Sleep(time.Second)
		var cur soakStats
		if cur, err = read(); err != nil {
			break
		}
		if fmt.Sprint(cur.Counters) == fmt.Sprint(prev.Counters) {
			meaning, err := l.counterMeanings()
			return cur, meaning, err
		}
		prev = cur
	}
	if err == nil {
		err = fmt.Errorf("nat64br's counters kept moving for 30 s after the traffic stopped")
	}
	return prev, nil, err
}

// counterMeanings returns what each counter counts, from stats --explain
// --csv (COUNTER,VALUE,MEANING).
func (l *lab) counterMeanings() (map[string]string, error) {
	code, out := l.ctl("stats", "--explain", "--csv")
	if code != 0 {
		return nil, fmt.Errorf("nat64br stats --explain --csv: exit %d: %s", code, out)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, r := range rows {
		if len(r) >= 3 {
			m[r[0]] = r[2]
		}
	}
	return m, nil
}

// soakBooks checks the ledger of each port and the drops by reason, and
// reports each port's figures.
func (l *lab) soakBooks(rep *Report, st soakStats, meaning map[string]string) {
	c := st.Counters
	var inDropped uint64
	for _, port := range []struct{ side, link string }{{"ipv6", "nd_frames"}, {"ipv4", "arp_frames"}} {
		in := c["frames_in_"+port.side]
		fates := map[string]uint64{"link": c[port.link]}
		for _, f := range []string{"translated", "answered", "fragment_held", "dropped"} {
			fates[f] = c["in_"+port.side+"_"+f]
		}
		inDropped += fates["dropped"]
		var sum uint64
		for _, v := range fates {
			sum += v
		}
		diff := int64(in) - int64(sum)
		// The port's own books: what the kernel's ring took is what the
		// port read or the kernel dropped; the port hands every frame it
		// read to nat64br's frame path but the 802.1Q frames the kernel
		// untagged (no side has a VLAN here: dropped) and those larger
		// than its buffers (the soak's veths have no offloads: no
		// super-frames).
		w := st.Ports[port.side]
		portDiff := int64(w["KernelPackets"]) - int64(w["KernelDrops"]+in+w["VLAN"]+w["Truncated"])
		rep.add("soak books of the "+port.side+" port", in > 0 && diff == 0 && portDiff == 0,
			"in %d = %s %d + translated %d + answered %d + fragment-held %d + dropped %d, difference %d; "+
				"ring %d = kernel drops %d + in + port drops (802.1Q %d, truncated %d), difference %d; out %d",
			in, port.link, fates["link"], fates["translated"], fates["answered"], fates["fragment_held"], fates["dropped"], diff,
			w["KernelPackets"], w["KernelDrops"], w["VLAN"], w["Truncated"], portDiff, c["frames_out_"+port.side])
	}
	// Every counter nat64br calls a drop, whatever its name.
	var drops uint64
	var reasons []string
	for name, v := range c {
		if strings.HasPrefix(meaning[name], "dropped:") {
			drops += v
			if v > 0 {
				reasons = append(reasons, fmt.Sprintf("%s %d", name, v))
			}
		}
	}
	sort.Strings(reasons)
	late := c["late_drops"]
	rep.add("soak drops by reason", len(meaning) > 0 && drops == inDropped+late,
		"%d = dropped on arrival %d + late %d (%s)", drops, inDropped, late, strings.Join(reasons, ", "))
	rep.add("soak answers and fragments", true, "translator replies %d, fragments made %d, fragments held %d, datagrams reassembled %d, held for a neighbor %d",
		c["translator_replies"], c["fragments_made"], c["fragments_held"], c["datagrams_reassembled"], c["held_for_neighbor"])
}

// soakRSS checks (if judge) that nat64br's anonymous resident memory
// (its heap and stacks: where a leak shows) after the warm-up stayed
// within soakRSSMargin of its value when the warm-up ended, and reports the
// series (one sample every 5 s, in MiB) of it and of VmRSS. VmRSS also
// counts file-backed pages: the binary's, and the packet rings', which
// the kernel maps once at start and nat64br's workers touch a block at a
// time as the kernel fills them, so it grows to the rings' size.
func (l *lab) soakRSS(rep *Report, mem []memSample, warmup time.Duration, judge bool) {
	first := int(warmup / (5 * time.Second))
	if first >= len(mem) {
		rep.add("soak resident memory", false, "%d samples, none after the %s warm-up", len(mem), warmup)
		return
	}
	base, peak := mem[first].anon, mem[first].anon
	var anon, rss []string
	mib := func(kb int64) string { return fmt.Sprintf("%.1f", float64(kb)/1024) }
	for i, m := range mem {
		anon, rss = append(anon, mib(m.anon)), append(rss, mib(m.rss))
		if i >= first {
			peak = max(peak, m.anon)
		}
	}
	last := mem[len(mem)-1]
	grew := float64(peak-base) / float64(base)
	verdict := "judged"
	if !judge {
		verdict = fmt.Sprintf("reported only: the soak is shorter than %s", soakJudgeMemory)
	}
	rep.add("soak resident memory", grew <= soakRSSMargin || !judge,
		verdict+"; anonymous %s MiB after the %s warm-up, peak %s MiB after (%+.1f %%, limit %+.0f %%); file-backed (binary, packet rings) %s -> %s MiB; MiB every 5 s, anonymous: %s; VmRSS: %s",
		mib(base), warmup, mib(peak), 100*grew, 100*soakRSSMargin, mib(mem[first].file), mib(last.file), strings.Join(anon, " "), strings.Join(rss, " "))
	rep.add("soak Go heap and goroutines", true, "heap in use %.1f -> %.1f MiB, goroutines %.0f -> %.0f (after the warm-up -> at the end)",
		mem[first].heap/(1<<20), last.heap/(1<<20), mem[first].goroutines, last.goroutines)
}
