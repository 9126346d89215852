package main

import (
	"net"
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/dataplane"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
)

// The Prometheus endpoint (metrics.listen). Everything is read at scrape
// time from what the daemon keeps anyway: the workers' counters, which
// they publish once per batch, the ports' and caches' counters and the
// NAT64 tables' counts. The data path does no extra work for it.

// collector reads a running daemon's counters at each scrape.
type collector struct {
	r *runner

	frames, bytes, drops, replies, fragments       *prometheus.Desc
	arp, nd, linkAnswers, held                     *prometheus.Desc
	neighbors, neighborFailed, neighborReleased    *prometheus.Desc
	neighborRefused, neighborEvicted               *prometheus.Desc
	kernelDrops, csum, superFrames, segments, txEr *prometheus.Desc
	superPassed, superSent                         *prometheus.Desc
	batch                                          *prometheus.Desc
	sessions, bib, sessCreated, sessExpired        *prometheus.Desc
	bibCreated, bibExpired, heldSYNs, tableBytes   *prometheus.Desc
	poolUsed, poolSize, dynMappings, dynSize       *prometheus.Desc
	info, start, reloads                           *prometheus.Desc
	fragsHeld, reassembled, reasmBytes             *prometheus.Desc
	memBudget, sessLimit                           *prometheus.Desc
	bgpHealthy, bgpSession, bgpSent, bgpAnnounced  *prometheus.Desc
	fates, lateDrops                               *prometheus.Desc
}

func newCollector(r *runner) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("nat64br_"+name, help, labels, nil)
	}
	return &collector{
		r:                r,
		frames:           d("frames_total", "Ethernet frames received (in) and sent (out) on each port, translated or answered.", "port", "direction"),
		bytes:            d("bytes_total", "Bytes of the Ethernet frames counted by nat64br_frames_total.", "port", "direction"),
		drops:            d("drops_total", "Frames dropped, by reason (nat64br stats --explain, or docs: the reason names of the translator and of the frame path).", "reason"),
		replies:          d("translator_replies_total", "ICMP errors and echo replies the translator answered with, by reason.", "reason"),
		fragments:        d("fragments_made_total", "Fragments made of packets larger than the next hop's MTU (IPv6 ones of DF=0 IPv4 packets, and reassembled datagrams)."),
		arp:              d("arp_frames_total", "ARP frames handled on the IPv4 port."),
		nd:               d("nd_frames_total", "Neighbor Discovery frames handled on the IPv6 port (and pings to its link-local address)."),
		linkAnswers:      d("arp_nd_answers_total", "ARP replies and Neighbor Advertisements sent."),
		held:             d("held_for_neighbor_total", "Frames queued while their next hop was being resolved."),
		neighbors:        d("neighbors", "Entries in the neighbor cache of each port.", "port"),
		neighborFailed:   d("neighbor_resolutions_failed_total", "Neighbor resolutions that got no answer (their held frames were answered with ICMP unreachable).", "port"),
		neighborReleased: d("neighbor_held_released_total", "Held frames sent once their next hop answered.", "port"),
		neighborRefused:  d("neighbor_learn_drops_total", "New neighbors not learned from received frames, by reason: over limits.neighbor-learn-rate (rate), or the cache full of confirmed entries (full; resolutions refused too).", "port", "reason"),
		neighborEvicted:  d("neighbor_evicted_total", "Learned neighbors never confirmed, removed from a full cache to make room.", "port"),
		kernelDrops:      d("port_kernel_drops_total", "Frames the kernel dropped because nat64br's receive sockets or rings were full (PACKET_STATISTICS).", "port"),
		csum:             d("port_checksums_completed_total", "Frames whose offloaded (CHECKSUM_PARTIAL) checksum nat64br finished.", "port"),
		superFrames:      d("port_super_frames_total", "GSO/GRO super-frames received and split in software.", "port"),
		segments:         d("port_segments_total", "Segments made of super-frames.", "port"),
		superPassed:      d("port_super_frames_passed_total", "TCP super-frames received and passed through whole (data-path.gso: pass).", "port"),
		superSent:        d("port_super_frames_sent_total", "TCP super-frames sent whole, for the kernel or the device to segment.", "port"),
		txEr:             d("port_tx_errors_total", "Frames the kernel refused to send.", "port"),
		batch:            d("batch_frames", "Frames per batch read from a port or receive queue."),
		sessions:         d("nat64_sessions", "Stateful NAT64 sessions, by protocol.", "proto"),
		bib:              d("nat64_bib_entries", "Stateful NAT64 BIB entries (bindings), by protocol.", "proto"),
		sessCreated:      d("nat64_sessions_created_total", "Stateful NAT64 sessions created."),
		sessExpired:      d("nat64_sessions_expired_total", "Stateful NAT64 sessions expired."),
		bibCreated:       d("nat64_bib_created_total", "Dynamic BIB entries created."),
		bibExpired:       d("nat64_bib_expired_total", "Dynamic BIB entries expired."),
		heldSYNs:         d("nat64_held_syns", "Unsolicited IPv4 SYNs held (RFC 6146 simultaneous open)."),
		tableBytes:       d("nat64_table_bytes", "Memory of the NAT64 tables (slabs and hash buckets)."),
		poolUsed:         d("pool4_ports_used", "Ports (ICMP: identifiers) bound on a pool4 address, for the addresses that have bound any.", "address", "proto"),
		poolSize:         d("pool4_ports", "Ports (ICMP: identifiers) of a pool4 address's range.", "address", "proto"),
		dynMappings:      d("dynamic_pool_mappings", "Mappings of TAYGA's dynamic pool in use."),
		dynSize:          d("dynamic_pool_addresses", "Addresses of TAYGA's dynamic pool."),
		info:             d("build_info", "nat64br's version, the Go version and the running mode.", "version", "goversion", "mode", "data_path"),
		start:            d("start_time_seconds", "When nat64br started, in Unix seconds."),
		reloads:          d("config_reloads_total", "Configuration reloads, by result.", "result"),
		fragsHeld:        d("reassembly_fragments_held_total", "Fragments held for reassembly (ICMP; every fragment in NAT64)."),
		reassembled:      d("reassembly_datagrams_total", "Datagrams reassembled and translated whole."),
		reasmBytes:       d("reassembly_bytes", "Memory held by the datagrams being reassembled (1 KiB blocks)."),
		memBudget:        d("memory_budget_bytes", "The memory nat64br may use (its cgroup's limit, else a quarter of the RAM), which the limits left out of the configuration are sized to."),
		sessLimit:        d("nat64_sessions_limit", "limits.sessions in effect (0: none)."),
		bgpHealthy:       d("bgp_healthy", "1 while nat64br can translate and announces its prefixes with BGP, 0 while they are withdrawn."),
		bgpSession:       d("bgp_session_established", "1 while the BGP session with the neighbor is established.", "neighbor"),
		bgpSent:          d("bgp_prefixes_sent", "Prefixes announced to the BGP neighbor.", "neighbor"),
		bgpAnnounced:     d("bgp_announced", "1 while the prefix is announced with BGP, 0 while withdrawn (every prefix the configuration derives).", "prefix", "family"),
		fates:            d("frame_fates_total", "What became of the frames received on each port: link (ARP, ND), translated, answered, fragment_held or dropped; they add up to nat64br_frames_total in.", "port", "fate"),
		lateDrops:        d("late_drops_total", "Drops (in nat64br_drops_total) of frames already counted as held or translated: held fragments that timed out, frames whose neighbor never answered."),
	}
}

// Describe sends nothing: the metrics depend on the mode (an unchecked
// collector).
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	r.mu.Lock()
	cfg, reloadsOK, reloadsFailed := r.cfg, r.reloadsOK, r.reloadsFailed
	r.mu.Unlock()
	if r.mem.Bytes > 0 {
		ch <- prometheus.MustNewConstMetric(c.memBudget, prometheus.GaugeValue, float64(r.mem.Bytes))
	}
	d, ports := r.d, r.ports
	cnt := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}

	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, version, runtime.Version(), string(cfg.Mode), cfg.DataPath.IO)
	gauge(c.start, float64(r.started.UnixNano())/1e9)
	cnt(c.reloads, reloadsOK, "applied")
	cnt(c.reloads, reloadsFailed, "refused")

	k := d.Counters()
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		i := dataplane.Counter(s - xlat.Side6)
		cnt(c.frames, k[dataplane.FramesIn6+i], s.String(), "in")
		cnt(c.frames, k[dataplane.FramesOut6+i], s.String(), "out")
		cnt(c.bytes, k[dataplane.BytesIn6+i], s.String(), "in")
		cnt(c.bytes, k[dataplane.BytesOut6+i], s.String(), "out")
		l := k.Ledger(s)
		cnt(c.fates, l.Link, s.String(), "link")
		cnt(c.fates, l.Translated, s.String(), "translated")
		cnt(c.fates, l.Answered, s.String(), "answered")
		cnt(c.fates, l.FragmentHeld, s.String(), "fragment_held")
		cnt(c.fates, l.Dropped, s.String(), "dropped")
	}
	cnt(c.lateDrops, k[dataplane.LateDrops])
	for _, f := range dataplane.FrameDrops {
		cnt(c.drops, k[f], f.String())
	}
	for rs := xlat.Reason(1); rs < xlat.NumReasons; rs++ {
		cnt(c.drops, k[dataplane.Drop(rs)], rs.String())
		cnt(c.replies, k[dataplane.Reply(rs)], rs.String())
	}
	cnt(c.fragments, k[dataplane.Fragments])
	cnt(c.arp, k[dataplane.ARPFrames])
	cnt(c.nd, k[dataplane.NDFrames])
	cnt(c.linkAnswers, k[dataplane.LinkReplies])
	cnt(c.held, k[dataplane.Held])
	cnt(c.fragsHeld, k[dataplane.FragmentsHeld])
	cnt(c.reassembled, k[dataplane.Reassembled])
	gauge(c.reasmBytes, float64(d.Reassembly().Bytes))
	buckets := map[float64]uint64{}
	var cum uint64
	for _, b := range dataplane.BatchBuckets() {
		cum += k[b.Counter]
		buckets[float64(b.Max)] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.batch, k[dataplane.Batches], float64(k[dataplane.FramesIn6]+k[dataplane.FramesIn4]), buckets)

	a, n := d.ARP().Cache().Stats(), d.ND().Cache().Stats()
	gauge(c.neighbors, float64(n.Entries), "ipv6")
	gauge(c.neighbors, float64(a.Entries), "ipv4")
	cnt(c.neighborFailed, n.Failed, "ipv6")
	cnt(c.neighborFailed, a.Failed, "ipv4")
	cnt(c.neighborReleased, n.Released, "ipv6")
	cnt(c.neighborReleased, a.Released, "ipv4")
	for _, s := range []struct {
		port string
		st   arpnd.CacheStats
	}{{"ipv6", n}, {"ipv4", a}} {
		cnt(c.neighborRefused, s.st.LearnLimited, s.port, "rate")
		cnt(c.neighborRefused, s.st.Full, s.port, "full")
		cnt(c.neighborEvicted, s.st.Evicted, s.port)
	}

	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		var st wire.Stats
		if ports[s] != nil {
			st, _ = ports[s].Stats()
		}
		cnt(c.kernelDrops, st.KernelDrops, s.String())
		cnt(c.csum, st.ChecksumsCompleted, s.String())
		cnt(c.superFrames, st.SuperFrames, s.String())
		cnt(c.segments, st.Segments, s.String())
		cnt(c.superPassed, st.SuperFramesPassed, s.String())
		cnt(c.superSent, st.SuperFramesSent, s.String())
		cnt(c.txEr, st.TxErrors+st.TxOversize, s.String())
	}

	tr := d.Translator()
	if cfg.Mode == config.ModeNAT64 {
		s := tr.NATStats()
		for i, p := range xlat.NATProtocols {
			gauge(c.sessions, float64(s.SessionsByProto[i]), p)
			gauge(c.bib, float64(s.BIBByProto[i]), p)
		}
		cnt(c.sessCreated, s.SessionsCreated)
		cnt(c.sessExpired, s.SessionsExpired)
		cnt(c.bibCreated, s.BIBCreated)
		cnt(c.bibExpired, s.BIBExpired)
		gauge(c.heldSYNs, float64(s.HeldSYNs))
		gauge(c.tableBytes, float64(s.TableBytes))
		gauge(c.sessLimit, float64(cfg.Limits.Sessions))
	}
	p := r.pool()
	for _, u := range p.Pool4 {
		gauge(c.poolUsed, float64(u.Used), u.Addr.String(), u.Proto)
		gauge(c.poolSize, float64(u.Size), u.Addr.String(), u.Proto)
	}
	if p.Dynamic != nil {
		gauge(c.dynMappings, float64(p.Dynamic.Mappings))
		gauge(c.dynSize, float64(p.Dynamic.Addresses))
	}
	if r.gate != nil {
		c.collectBGP(ch, cfg, gauge)
	}
}

// collectBGP reads the BGP speaker's sessions and announcements.
func (c *collector) collectBGP(ch chan<- prometheus.Metric, cfg *config.Config, gauge func(*prometheus.Desc, float64, ...string)) {
	st := c.r.gate.status(0)
	gauge(c.bgpHealthy, b2f(st.Healthy))
	for _, s := range st.Sessions {
		gauge(c.bgpSession, b2f(s.State == "established"), s.Neighbor)
		gauge(c.bgpSent, float64(s.Sent), s.Neighbor)
	}
	announced := map[string]bool{}
	for _, a := range st.Announced {
		announced[a.Prefix] = true
	}
	v6, v4 := cfg.Announcements()
	for _, p := range v6 {
		gauge(c.bgpAnnounced, b2f(announced[p.String()]), p.String(), "ipv6-unicast")
	}
	for _, p := range v4 {
		gauge(c.bgpAnnounced, b2f(announced[p.String()]), p.String(), "ipv4-unicast")
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricsServer serves /metrics on addr until closed.
type metricsServer struct {
	srv *http.Server
	ln  net.Listener
}

func startMetrics(r *runner, addr string) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(r), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{r}}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &metricsServer{srv: r.serveHTTP(ln, mux, "metrics endpoint", metricsLimits), ln: ln}, nil
}

func (m *metricsServer) close() {
	if m != nil {
		m.srv.Close()
	}
}

// slogPrinter lets promhttp log through the daemon's logger.
type slogPrinter struct{ r *runner }

func (p slogPrinter) Println(v ...any) { p.r.log.Error("metrics", "err", v) }
