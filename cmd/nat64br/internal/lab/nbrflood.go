package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat/header"
)

// NeighborFloodOptions configure the neighbor flood pass (issue 23): frames from
// many distinct on-link IPv6 sources, each a new neighbor, sent into
// nat64br's IPv6 port while the lab's client pings and downloads through
// it and a new client (the IPv4 client, to the IPv6-only server nat64br
// has not resolved yet) downloads too.
type NeighborFloodOptions struct {
	Sources  int           // distinct source addresses (and MACs), cycled
	Duration time.Duration // how long the flood lasts
	Rate     int           // frames per second; 0: as fast as the generator sends
	NS       bool          // Neighbor Solicitations for nat64br's address instead of UDP
	// Limits, when set, are limits.neighbors and
	// limits.neighbor-learn-rate for the configuration (unset: nat64br's
	// defaults, or a binary that predates them).
	Neighbors, LearnRate int
	// Profile, when set, is where nat64br writes a CPU profile of the run
	// (--cpuprofile); the report shows its top functions.
	Profile string
}

// NeighborFloodResult is what the flood pass measured.
type NeighborFloodResult struct {
	Sent, FramesIn, KernelDrops    float64
	LearnRate, LearnFull, Evicted  float64
	Neighbors                      float64
	Pings, PingsOK                 int
	PingMedian, PingMax            time.Duration
	Download, NewClient            time.Duration
	DownloadOK, NewClientOK        bool
	CPU                            time.Duration // nat64br's CPU time during the flood
	ProfileTop                     string
	DownloadErr, NewClientErr      string
	FloodErr                       string
	LearnLimitedOK, NeighborsOK    bool
	ExpectLimits                   bool
	SentPerSecond, FramesPerSecond float64
}

// nbrFloodConfig is demo.yaml with fo's limits.
func nbrFloodConfig(fo *NeighborFloodOptions) func(string) string {
	return func(string) string {
		cfg := demoConfig
		if fo.Neighbors > 0 || fo.LearnRate > 0 {
			cfg += "limits:\n"
			if fo.Neighbors > 0 {
				cfg += fmt.Sprintf("  neighbors: %d\n", fo.Neighbors)
			}
			if fo.LearnRate > 0 {
				cfg += fmt.Sprintf("  neighbor-learn-rate: %d\n", fo.LearnRate)
			}
		}
		return cfg
	}
}

// nbrFloodPass runs the flood and the legitimate traffic beside it.
func (l *lab) nbrFloodPass(ctx context.Context, rep *Report) (*Report, error) {
	fo := *l.opts.NeighborFlood
	res := &NeighborFloodResult{ExpectLimits: fo.Neighbors > 0}
	l.nbrFlood = res
	// The client is known before the flood, as an established one is.
	rtts, err := l.ping(labVia6, 2)
	rep.add("ping before the flood", err == nil && len(rtts) == 2, "%d/2 replies", len(rtts))
	before, _, _ := l.scrape()
	cpu0 := procCPU(l.nat.Process.Pid)
	x6, _ := net.ParseMAC(l.n6mac)
	var wg sync.WaitGroup
	var sent int
	var floodErr error
	floodCtx, stopFlood := context.WithTimeout(ctx, fo.Duration)
	defer stopFlood()
	start := time.Now()
	wg.Add(4)
	go func() {
		defer wg.Done()
		sent, floodErr = injectFlood(floodCtx, l.c6, x6, fo)
	}()
	var pings []time.Duration
	go func() {
		defer wg.Done()
		n := max(5, int(fo.Duration/(200*time.Millisecond)))
		res.Pings = n
		pings, _ = l.ping(labVia6, n)
	}()
	go func() {
		defer wg.Done()
		time.Sleep(fo.Duration / 10)
		res.Download, res.DownloadOK, res.DownloadErr = l.checkedDownload(l.c6, labClient6, "http://["+labVia6+"]/demo.bin", 1, l.opts.HTTPBytes)
	}()
	go func() {
		defer wg.Done()
		// A new client: the IPv4 client's first contact with the
		// IPv6-only server, which nat64br must resolve in the flooded
		// cache.
		time.Sleep(fo.Duration / 3)
		res.NewClient, res.NewClientOK, res.NewClientErr = l.checkedDownload(l.s4, labClient4, "http://"+labServer6v4+":8080/demo.bin", 2, l.opts.HTTP6Bytes)
	}()
	wg.Wait()
	elapsed := time.Since(start)
	res.CPU = procCPU(l.nat.Process.Pid) - cpu0
	after, _, _ := l.scrape()
	res.Sent = float64(sent)
	res.FloodErr = errString(floodErr, "")
	diff := func(series string) float64 { return metricValue(after, series) - max(0, metricValue(before, series)) }
	res.FramesIn = diff(`nat64br_frames_total{direction="in",port="ipv6"}`)
	res.KernelDrops = diff(`nat64br_port_kernel_drops_total{port="ipv6"}`)
	res.LearnRate = diff(`nat64br_neighbor_learn_drops_total{port="ipv6",reason="rate"}`)
	res.LearnFull = diff(`nat64br_neighbor_learn_drops_total{port="ipv6",reason="full"}`)
	res.Evicted = diff(`nat64br_neighbor_evicted_total{port="ipv6"}`)
	res.Neighbors = metricValue(after, `nat64br_neighbors{port="ipv6"}`)
	res.SentPerSecond, res.FramesPerSecond = res.Sent/elapsed.Seconds(), res.FramesIn/elapsed.Seconds()
	res.PingsOK = len(pings)
	if len(pings) > 0 {
		s := append([]time.Duration(nil), pings...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		res.PingMedian, res.PingMax = s[len(s)/2], s[len(s)-1]
	}
	kind := "UDP"
	if fo.NS {
		kind = "Neighbor Solicitations"
	}
	rep.add(fmt.Sprintf("flood: %s from %d sources for %s", kind, fo.Sources, fo.Duration), floodErr == nil && sent > 0,
		"%d sent (%.0f/s); nat64br took %.0f frames (%.0f/s), the kernel dropped %.0f; CPU %s (%.0f%% of one core)",
		sent, res.SentPerSecond, res.FramesIn, res.FramesPerSecond, res.KernelDrops, res.CPU.Round(time.Millisecond), 100*res.CPU.Seconds()/elapsed.Seconds())
	rep.add("ping during the flood", res.PingsOK*10 >= res.Pings*9, "%d/%d replies, median %s, max %s", res.PingsOK, res.Pings,
		res.PingMedian.Round(time.Microsecond), res.PingMax.Round(time.Microsecond))
	rep.add(fmt.Sprintf("HTTP %d MB during the flood (IPv6 client)", l.opts.HTTPBytes>>20), res.DownloadOK, "%s %s", res.Download.Round(time.Millisecond), res.DownloadErr)
	rep.add(fmt.Sprintf("HTTP %d MB during the flood (new IPv4 client to %s)", l.opts.HTTP6Bytes>>20, labServer6v4), res.NewClientOK, "%s %s", res.NewClient.Round(time.Millisecond), res.NewClientErr)
	if res.ExpectLimits {
		res.LearnLimitedOK = res.LearnRate > 0 || fo.LearnRate == 0
		res.NeighborsOK = res.Neighbors >= 0 && res.Neighbors <= float64(fo.Neighbors)
		rep.add("neighbor learning limited and bounded", res.LearnLimitedOK && res.NeighborsOK,
			"%.0f refused over the rate, %.0f refused full, %.0f evicted; %.0f neighbors (limit %d)", res.LearnRate, res.LearnFull, res.Evicted, res.Neighbors, fo.Neighbors)
	}
	rtts, err = l.ping(labVia6, 3)
	rep.add("ping after the flood", err == nil && len(rtts) == 3, "%d/3 replies", len(rtts))
	counters, err := l.stopNat64br()
	rep.counters = counters
	rep.add("nat64br stopped on SIGTERM", err == nil, "%s", errString(err, "clean"))
	if fo.Profile != "" {
		out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=12", l.opts.Nat64br, fo.Profile).CombinedOutput()
		res.ProfileTop = string(out)
		rep.add("CPU profile "+fo.Profile, err == nil, "\n%s", out)
	}
	return rep, nil
}

// checkedDownload downloads url as download does and reports how long it
// took, whether it brought the size bytes of payload seed, and its error.
func (l *lab) checkedDownload(ns labNS, local, url string, seed uint64, size int64) (time.Duration, bool, string) {
	n, sum, d, err := l.download(ns, local, url)
	return d, err == nil && n == size && sum == payloadSHA(seed, size), errString(err, "")
}

// procCPU returns the user and system CPU time process pid has used.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// injectFlood sends fo's frames to dst (nat64br's IPv6 port) from eth0 of
// ns until ctx is done, and returns how many it sent. Each frame comes from
// a source address of 2001:db8:6::/64 and a MAC of its own, cycling
// through fo.Sources of them: UDP to the server's mapped address, or a
// Neighbor Solicitation for nat64br's own address (with the source's
// link-layer address option).
func injectFlood(ctx context.Context, ns labNS, dst net.HardwareAddr, fo NeighborFloodOptions) (int, error) {
	var p *wire.PacketPort
	if err := ns.do(func() (err error) { p, err = wire.ListenPacket("eth0", wire.PacketOptions{}); return err }); err != nil {
		return 0, err
	}
	defer p.Close()
	const batch = 64
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, header.EthernetLen+header.IPv6Len+32)
	}
	via := [16]byte(net.ParseIP(labVia6).To16())
	own := [16]byte(net.ParseIP("2001:db8:6::1").To16())
	snm := [16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: own[13], 14: own[14], 15: own[15]}
	frame := func(b []byte, i int) {
		mac := [6]byte{0x02, 0xf1, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		src := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 6, 8: 0xf1}
		binary.BigEndian.PutUint32(src[12:], uint32(i)+0x10000)
		ip := b[header.EthernetLen:]
		ip[0], ip[1], ip[2], ip[3] = 0x60, 0, 0, 0
		copy(ip[8:24], src[:])
		m := ip[header.IPv6Len:]
		clear(m[:32])
		var d [16]byte
		if fo.NS {
			d = snm
			copy(b[0:6], []byte{0x33, 0x33, snm[12], snm[13], snm[14], snm[15]})
			binary.BigEndian.PutUint16(ip[4:], 32)
			ip[6], ip[7] = 58, 255
			m[0] = 135
			copy(m[8:24], own[:])
			m[24], m[25] = 1, 1
			copy(m[26:32], mac[:])
			copy(ip[24:40], d[:])
			binary.BigEndian.PutUint16(m[2:], header.Checksum(m[:32], header.PseudoSum6(&src, &d, 58, 32)))
		} else {
			d = via
			copy(b[0:6], dst)
			binary.BigEndian.PutUint16(ip[4:], 16)
			ip[6], ip[7] = 17, 64
			binary.BigEndian.PutUint16(m[0:], 40000)
			binary.BigEndian.PutUint16(m[2:], 9) // discard
			binary.BigEndian.PutUint16(m[4:], 16)
			copy(ip[24:40], d[:])
			binary.BigEndian.PutUint16(m[6:], header.Checksum(m[:16], header.PseudoSum6(&src, &d, 17, 16)))
		}
		copy(b[6:12], mac[:])
		binary.BigEndian.PutUint16(b[12:], header.EtherTypeIPv6)
	}
	n := header.EthernetLen + header.IPv6Len + 16
	if fo.NS {
		n += 16
	}
	sent, next := 0, 0
	start := time.Now()
	for ctx.Err() == nil {
		if fo.Rate > 0 {
			if ahead := time.Duration(float64(sent)/float64(fo.Rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		for i := range bufs {
			frame(bufs[i], next%fo.Sources)
			bufs[i] = bufs[i][:n]
			next++
		}
		k, err := p.WriteBatch(bufs, 0)
		sent += k
		if err != nil && ctx.Err() == nil {
			if sent == 0 {
				return sent, err
			}
			time.Sleep(time.Millisecond) // ENOBUFS: the veth's queue is full
		}
	}
	return sent, nil
}
