package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nat64br/nat64br/arpnd"
	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/dataplane"
	"github.com/nat64br/nat64br/wire"
	"github.com/nat64br/nat64br/xlat"
)

// cmdRun runs nat64br in the wire, in the foreground, until SIGINT or
// SIGTERM. SIGHUP reloads the configuration; SIGUSR1 logs the counters.
func cmdRun(in *invocation) int {
	stderr := in.stderr
	cfgPath, takeOver, cpuProfile, waitIfs := in.str("config"), in.bool("take-over"), in.str("cpuprofile"), in.duration("wait-for-interfaces")
	logFormat, logLevel := in.str("log-format"), in.str("log-level")
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	if logFormat != "" {
		cfg.LogFormat = logFormat
	}
	if logLevel != "" {
		cfg.LogLevel = logLevel
	}
	log, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 2
	}
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w)
	}
	mem := readMemBudget("/")
	sized := sizeToMemory(cfg, mem)
	logMemBudget(log, mem, sized)
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			log.Error("cannot write the CPU profile", "err", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Error("cannot write the CPU profile", "err", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				log.Error("cannot write the CPU profile", "err", err)
			}
		}()
	}
	if waitIfs > 0 {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		err := waitForInterfaces(log, waitIfs, sig, cfg.IPv6Interface, cfg.IPv4Interface)
		signal.Stop(sig)
		if err != nil {
			log.Error("cannot start", "err", err)
			return 1
		}
	}
	u, err := lookupSandboxUser(cfg.Sandbox)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	r := &runner{log: log, path: cfgPath, takeOver: takeOver || cfg.TakeOver, user: &u, mem: mem, sized: sized}
	if err := r.start(cfg); err != nil {
		r.unlock()
		log.Error("cannot start", "err", err)
		return 1
	}
	return r.loop()
}

// waitForInterfaces returns once ListenPacket can use every named interface
// (it exists and is up), or wire.UsableInterface's error for the first that
// is not when d has passed, or an error when a signal came on stop.
// Containerlab and "ip link set ... netns" add a container's links, and set
// them up, after its process started.
func waitForInterfaces(log *slog.Logger, d time.Duration, stop <-chan os.Signal, names ...string) error {
	const every = 100 * time.Millisecond
	deadline := time.Now().Add(d)
	logged := false
	for {
		var err error
		for _, n := range names {
			if n == "" {
				continue // start says that both are required
			}
			if _, err = wire.UsableInterface(n); err != nil {
				break
			}
		}
		if err == nil {
			return nil
		}
		if !logged {
			log.Info("waiting for the interfaces to be there and up", "waiting_for", err, "for", d)
			logged = true
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w, after waiting %v", err, d)
		}
		select {
		case s := <-stop:
			return fmt.Errorf("%v while waiting: %w", s, err)
		case <-time.After(every):
		}
	}
}

func printConfigError(w io.Writer, err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			fmt.Fprintln(w, p)
		}
		return
	}
	fmt.Fprintf(w, "nat64br: %v\n", err)
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, o)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", format)
}

// runner owns the running daemon: ports, data plane, configuration.
type runner struct {
	log      *slog.Logger
	path     string
	takeOver bool
	user     *sandboxUser // who to go on as once the sockets are open; nil: no sandbox (tests)
	locks    []*portLock  // one per interface, held from before the ports open until they are closed
	cfg      *config.Config
	ports    [3]*wire.PacketPort // one and the same when both sides share it
	shared   bool                // one port for both sides (one-armed)
	hostRead time.Time           // when the host's addresses were last read (shared port; timer goroutine)
	d        *dataplane.Plane
	started  time.Time

	dyn    *dynamicStore // nil without data-dir or dynamic pool
	state  *stateStore   // the NAT64 tables on disk; nil without data-dir or NAT64
	events []xlat.BIBEvent
	lost   uint64 // mapping events lost, as last logged

	bgp  speaker // the BGP speaker; nil without a bgp section
	gate *gate   // its health gate; nil without a bgp section

	aliveMu  sync.Mutex // guards the data plane's liveness (alive)
	aliveAt  time.Time
	aliveErr error

	metrics *metricsServer // nil unless metrics.listen is set
	control *controlServer // nil if control-socket is ""

	// Lock order: reloadMu, applyMu, mu. Only a reload takes reloadMu,
	// for as long as it runs (reading the file, validating it);
	// status, metrics and signals never wait for it.
	reloadMu                 sync.Mutex  // serializes reloads (SIGHUP, the control socket)
	applyMu                  sync.Mutex  // held while a reload applies a configuration, and by shutdown: none is applied once it stops
	stopping                 atomic.Bool // set by shutdown before it takes applyMu
	mu                       sync.Mutex  // guards cfg, reloadsOK and reloadsFailed, held only to read or set them
	reloadsOK, reloadsFailed uint64

	mem   memBudget // read at start; reloads size to it too
	sized []string  // the keys sized to mem (sizeToMemory); guarded by mu
}

func (r *runner) start(cfg *config.Config) error {
	if cfg.IPv6Interface == "" || cfg.IPv4Interface == "" {
		return fmt.Errorf("%s: ipv6-interface and ipv4-interface are required to run in the wire", cfg.Path)
	}
	if cfg.BGP != nil && !bgpBuilt {
		_, err := newSpeaker(r.log, cfg)
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	var err error
	if r.locks, err = lockPorts(cfg.IPv6Interface, cfg.IPv4Interface); err != nil {
		return err
	}
	if cfg.DataDir != "" && (cfg.DynamicPool.IsValid() || cfg.Mode == config.ModeNAT64) {
		// Before the ports open: a data-dir others may write to is
		// refused, and nat64br does not start without its state.
		if err := checkDataDir(cfg.DataDir, r.owner()); err != nil {
			return err
		}
	}
	r.shared = cfg.IPv6Interface == cfg.IPv4Interface
	if !r.shared {
		for _, name := range []string{cfg.IPv6Interface, cfg.IPv4Interface} {
			if err := r.kernelCheck(name); err != nil {
				return err
			}
		}
	} else {
		if r.takeOver {
			r.log.Warn("take-over is not done on a port both sides share: the host keeps its addresses there (give nat64br others)", "interface", cfg.IPv6Interface)
		}
		r.log.Info("one port for both sides (one-armed): the host's own addresses stay the kernel's; nat64br answers only for its own",
			"interface", cfg.IPv6Interface, "ipv6_vlan", cfg.IPv6VLAN, "ipv4_vlan", cfg.IPv4VLAN)
	}
	for _, p := range []struct {
		side xlat.Side
		name string
	}{{xlat.Side6, cfg.IPv6Interface}, {xlat.Side4, cfg.IPv4Interface}} {
		if r.shared && p.side == xlat.Side4 {
			r.ports[xlat.Side4] = r.ports[xlat.Side6]
			continue
		}
		opts := wire.PacketOptions{BatchSize: dataplane.BatchSize, Promiscuous: cfg.Promiscuous, AllMulticast: p.side == xlat.Side6 || r.shared, VLANs: cfg.IPv6VLAN != 0 || cfg.IPv4VLAN != 0}
		if r.ports[p.side], err = wire.ListenPacket(p.name, opts); err != nil {
			r.closePorts()
			return err
		}
		if gro, err := wire.GROEnabled(p.name); err == nil && gro {
			if cfg.DataPath.IO == "ring" && cfg.DataPath.PassGSO {
				r.log.Info("GRO is on: TCP super-frames go through whole (data-path.gso: pass), other ones are split in software", "interface", p.name)
			} else {
				r.log.Info("GRO is on: super-frames are split in software before translation; 'ethtool -K "+p.name+" gro off' saves that work", "interface", p.name)
			}
		}
	}
	var macs [3]arpnd.MAC
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		macs[s] = arpnd.MAC(r.ports[s].MAC())
	}
	opts := dataplane.Options{Log: r.log, MACs: macs, BusyPoll: cfg.DataPath.BusyPoll, OnTick: r.onTick, Reassembly: reassemblyOptions(cfg),
		ARP: arpOptions(cfg, macs[xlat.Side4]), ND: ndOptions(cfg, macs[xlat.Side6], r.ports[xlat.Side6].MTU())}
	opts.VLANs[xlat.Side6], opts.VLANs[xlat.Side4] = uint16(cfg.IPv6VLAN), uint16(cfg.IPv4VLAN)
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		opts.Ports[s] = r.ports[s]
	}
	if cfg.DataPath.IO == "ring" {
		if err := r.openLanes(cfg, &opts); err != nil {
			r.closePorts()
			return err
		}
	}
	tr, err := newTranslator(runTranslatorConfig(cfg, r.ports))
	if err != nil {
		r.closePorts()
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	opts.Translator = tr
	if cfg.DynamicPool.IsValid() {
		if r.dyn = newDynamicStore(cfg.DataDir); r.dyn != nil {
			r.dyn.owner = r.owner()
			n, problems, err := r.dyn.load(tr, time.Now())
			if err != nil {
				r.closePorts()
				return fmt.Errorf("dynamic map: %w", err)
			}
			for _, p := range problems {
				r.log.Warn("dynamic map: line skipped", "err", p)
			}
			r.log.Info("dynamic pool mappings loaded", "file", r.dyn.path, "mappings", n)
		} else {
			r.log.Warn("dynamic pool without data-dir: its mappings are lost at restart", "dynamic_pool", cfg.DynamicPool)
		}
	}
	if cfg.Mode == config.ModeNAT64 {
		if r.state = newStateStore(cfg.DataDir, r.log); r.state != nil {
			r.state.owner = r.owner()
			r.state.load(tr, time.Now(), cfg.MappingLog)
		} else {
			r.log.Warn("NAT64 sessions will not survive a restart: set data-dir to keep them", "key", "data-dir")
		}
	}
	if r.shared {
		opts.HostAddrs = r.hostAddrs(cfg.IPv6Interface)
		r.log.Info("the host's own addresses on the shared port stay the kernel's", "interface", cfg.IPv6Interface, "addresses", fmt.Sprint(opts.HostAddrs))
	}
	if r.d, err = dataplane.New(opts); err != nil {
		r.closePorts()
		return err
	}
	for _, g := range r.d.ND().Groups() {
		if err := r.ports[xlat.Side6].JoinGroup(g); err != nil {
			r.log.Warn("cannot join multicast group", "group", g, "err", err)
		}
	}
	r.cfg, r.started = cfg, time.Now()
	if cfg.Metrics.Listen != "" {
		if r.metrics, err = startMetrics(r, cfg.Metrics.Listen); err != nil {
			r.closePorts()
			return fmt.Errorf("metrics.listen: %w", err)
		}
	}
	if cfg.ControlSocket != "" {
		if r.control, err = startControl(r, cfg.ControlSocket); err != nil {
			r.metrics.close()
			r.closePorts()
			return fmt.Errorf("control-socket: %w", err)
		}
	}
	if cfg.BGP != nil {
		// The sessions open now; nothing is announced before the
		// health gate's first check passes, once the data plane runs.
		if r.bgp, err = newSpeaker(r.log, cfg); err != nil {
			r.control.close()
			r.metrics.close()
			r.closePorts()
			return err
		}
	}
	if r.user != nil {
		// Every socket is open (the BGP speaker's listener too): give
		// up what is not needed any more, before the workers and the
		// state saves start.
		if err := r.sandbox(cfg, *r.user); err != nil {
			if r.bgp != nil {
				ctx, cancel := context.WithTimeout(context.Background(), bgpStopTimeout)
				_ = r.bgp.close(ctx)
				cancel()
			}
			r.control.close()
			r.metrics.close()
			r.closePorts()
			return err
		}
	}
	r.d.Start()
	if r.bgp != nil {
		r.gate = startGate(r.log, r.bgp, r.unhealthy)
	}
	if r.state != nil {
		r.state.start(r.d.Translator, cfg.StateInterval)
	}
	if err := r.d.ARP().Announce(); err != nil {
		r.log.Warn("gratuitous ARP failed", "err", err)
	}
	if err := r.d.ND().Announce(); err != nil {
		r.log.Warn("unsolicited neighbor advertisement failed", "err", err)
	}
	r.log.Info("nat64br running", "version", version, "config", cfg.Path,
		"ipv6_port", cfg.IPv6Interface, "ipv6_mac", r.ports[xlat.Side6].MAC().String(), "link_local", r.d.ND().LinkLocal(),
		"ipv4_port", cfg.IPv4Interface, "ipv4_mac", r.ports[xlat.Side4].MAC().String(),
		"data_path", cfg.DataPath.IO, "workers", r.d.Workers(), "worker_cpus", fmt.Sprint(r.d.CPUs()), "spread", r.spread(cfg), "busy_poll", cfg.DataPath.BusyPoll, "hot_wait", r.d.HotWait(),
		"mode", cfg.Mode, "prefix", cfg.Prefix, "eam", len(cfg.EAM), "pool4", fmt.Sprint(cfg.Pool4), "dynamic_pool", cfg.DynamicPool,
		"ipv4_addr", cfg.IPv4Addr, "ipv6_addr", cfg.IPv6Addr, "router_advertisements", cfg.RA.Enabled, "metrics", cfg.Metrics.Listen, "control_socket", cfg.ControlSocket)
	return nil
}

// onTick runs on the timer goroutine after the translator's timers: it
// logs the mapping events (RFC 6888 §4: one line per binding made or
// gone) and, once a second, saves the dynamic pool.
func (r *runner) onTick(now time.Time, second bool) {
	if second && r.shared && now.Sub(r.hostRead) >= hostReadEvery {
		r.hostRead = now
		r.d.SetHostAddrs(r.hostAddrs(r.ports[xlat.Side6].Name()))
	}
	if r.events == nil {
		r.events = make([]xlat.BIBEvent, 256)
	}
	tr := r.d.Translator()
	for {
		n, lost := tr.MappingEvents(r.events)
		for _, e := range r.events[:n] {
			attrs := []any{"event", e.Kind.String()}
			if p := e.Proto(); p != "" {
				attrs = append(attrs, "proto", p, "ipv6", e.IPv6().String(), "ipv4", e.IPv4().String())
			} else {
				attrs = append(attrs, "ipv6", e.IPv6().Addr().String(), "ipv4", e.IPv4().Addr().String())
			}
			attrs = append(attrs, "at", e.When().UTC().Format(time.RFC3339Nano))
			r.log.Info("mapping", attrs...)
		}
		if lost != r.lost {
			r.log.Warn("mapping log fell behind: events lost", "lost", lost-r.lost)
			r.lost = lost
		}
		if n < len(r.events) {
			break
		}
	}
	if second && r.dyn != nil {
		if err := r.dyn.save(tr, now, false); err != nil {
			r.log.Error("cannot save the dynamic pool", "file", r.dyn.path, "err", err)
		}
	}
}

// hostReadEvery is how often the runner reads the host's addresses on a
// shared port again (an operator may add or change one).
const hostReadEvery = 5 * time.Second

// hostAddrs returns the addresses the host's kernel has on the interface
// name, which nat64br leaves to it when both sides share that port.
func (r *runner) hostAddrs(name string) []netip.Addr {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		r.log.Warn("cannot read the host's addresses on the shared port", "interface", name, "err", err)
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out
}

// runTranslatorConfig is cfg with the MTUs capped by the ports' own.
func runTranslatorConfig(cfg *config.Config, ports [3]*wire.PacketPort) *config.Config {
	c := *cfg
	c.MTU6 = min(c.MTU6, portMTU(ports[xlat.Side6], c.MTU6))
	c.MTU4 = min(c.MTU4, portMTU(ports[xlat.Side4], c.MTU4))
	if c.MTU6 < 1280 {
		c.MTU6 = 1280
	}
	return &c
}

// portMTU is the MTU of p, or def when no port is open: a runner whose
// data plane moves frames over memory ports, in tests.
func portMTU(p *wire.PacketPort, def int) int {
	if p == nil {
		return def
	}
	return p.MTU()
}

// arpOptions maps the configuration to the IPv4 side: nat64br answers ARP
// for its own address, for pool4 (NAT64) or the dynamic pool, and for the
// IPv4 addresses of EAM entries whose node lives on the IPv6 side (inside
// ipv6-subnets; all of them when no subnets are set, as with TAYGA map
// lines).
func arpOptions(cfg *config.Config, mac arpnd.MAC) arpnd.ARPOptions {
	o := arpnd.ARPOptions{MAC: mac, Addr: cfg.IPv4Addr, Subnet: cfg.IPv4Subnet, Gateway: cfg.Gateway, Cache: cacheOptions(cfg)}
	if cfg.Mode == config.ModeNAT64 {
		o.Owned = append(o.Owned, cfg.Pool4...)
	}
	if cfg.DynamicPool.IsValid() {
		o.Owned = append(o.Owned, cfg.DynamicPool)
	}
	for _, e := range cfg.EAM {
		if len(cfg.IPv6Subnets) == 0 || insideAny(e.IPv6, cfg.IPv6Subnets) {
			o.Owned = append(o.Owned, e.IPv4)
		}
	}
	return o
}

// ndOptions maps the configuration to the IPv6 side: nat64br answers
// Neighbor Solicitations for its own addresses, for the NAT64 prefix, and
// for EAM IPv6 prefixes whose node lives on the IPv4 side (outside
// ipv6-subnets, when those are set).
func ndOptions(cfg *config.Config, mac arpnd.MAC, mtu int) arpnd.NDOptions {
	o := arpnd.NDOptions{MAC: mac, Addr: cfg.IPv6Addr, Subnets: cfg.IPv6Subnets, Gateway: cfg.Gateway6, Cache: cacheOptions(cfg)}
	if !o.Addr.IsValid() && cfg.IPv4Addr.IsValid() && cfg.Prefix.IsValid() {
		o.Addr = embedded(cfg.Prefix, cfg.IPv4Addr)
	}
	if cfg.Prefix.IsValid() {
		o.Proxy = append(o.Proxy, cfg.Prefix)
	}
	var routes []netip.Prefix
	for _, e := range cfg.EAM {
		if len(cfg.IPv6Subnets) > 0 && !insideAny(e.IPv6, cfg.IPv6Subnets) {
			o.Proxy = append(o.Proxy, e.IPv6)
			routes = append(routes, e.IPv6)
		}
	}
	o.RA = arpnd.RAOptions{Enabled: cfg.RA.Enabled, Interval: cfg.RA.Interval, RouterLifetime: cfg.RA.RouterLifetime,
		Prefix: cfg.Prefix, Routes: routes, MTU: cfg.RA.MTU}
	return o
}

// cacheOptions maps limits.neighbors and limits.neighbor-learn-rate (0:
// no limit) to each port's neighbor cache.
func cacheOptions(cfg *config.Config) arpnd.CacheOptions {
	o := arpnd.CacheOptions{MaxEntries: cfg.Limits.Neighbors, LearnRate: cfg.Limits.NeighborLearnRate}
	if o.LearnRate == 0 {
		o.LearnRate = -1
	}
	return o
}

// embedded is ipv4 inside an RFC 6052 prefix, the way the translator
// derives its IPv6 address when ipv6-addr is not set.
func embedded(p netip.Prefix, v4 netip.Addr) netip.Addr {
	tr, err := xlat.New(xlat.Options{Prefix: p, IPv4Addr: v4, AllowNonGlobalWKP: true})
	if err != nil {
		return netip.Addr{}
	}
	return tr.IPv6Addr()
}

func insideAny(p netip.Prefix, in []netip.Prefix) bool {
	for _, s := range in {
		if s.Bits() <= p.Bits() && s.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// kernelCheck warns when the kernel also lives on a port: addresses on it,
// or IPv6 enabled (the kernel then answers Neighbor Solicitations and sends
// its own). With take-over it disables IPv6 and ARP there and flushes the
// IPv4 addresses, logging each change (takeOver).
func (r *runner) kernelCheck(name string) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, wire.ErrNoInterface)
	}
	addrs, _ := ifi.Addrs()
	v6, _ := os.ReadFile(filepath.Join("/proc/sys/net/ipv6/conf", name, "disable_ipv6"))
	v6on := len(v6) > 0 && bytes.TrimSpace(v6)[0] == '0'
	if len(addrs) == 0 && !v6on {
		return nil
	}
	var list []string
	for _, a := range addrs {
		list = append(list, a.String())
	}
	if !r.takeOver {
		r.log.Warn("the kernel is also on this port: it will answer ARP/ND and send packets of its own there; "+
			"use --take-over (or sysctl net.ipv6.conf."+name+".disable_ipv6=1 and ip addr flush dev "+name+")",
			"interface", name, "addresses", strings.Join(list, ","), "kernel_ipv6", v6on)
		return nil
	}
	takeOver(r.log, name, list)
	return nil
}

// loop waits for signals: SIGHUP reloads, SIGUSR1 logs the counters,
// SIGINT and SIGTERM stop. It returns the exit status.
func (r *runner) loop() int {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sig)
	r.notify("READY=1\nSTATUS=translating")
	stopWatchdog := make(chan struct{})
	if wd := sdWatchdog(); wd > 0 {
		go r.watchdog(wd/2, stopWatchdog)
	}
	return r.serveSignals(sig, func() { close(stopWatchdog) })
}

// stopBound is how long nat64br may take to stop once SIGTERM or SIGINT
// came (saving its state included); a second one, or this long, and it
// exits at once, with status 1.
const stopBound = 30 * time.Second

// serveSignals acts on the signals from sig until one says stop; then it
// calls stopping, shuts down and returns the exit status. A reload runs
// in a goroutine of its own (SIGHUPs that come meanwhile make one more),
// so that SIGUSR1 and SIGTERM are served while it reads and validates;
// shutdown waits only for a reload that is applying its configuration.
func (r *runner) serveSignals(sig chan os.Signal, stopping func()) int {
	reloads := make(chan struct{}, 1)
	go func() {
		for range reloads {
			r.reload()
		}
	}()
	defer close(reloads)
	for s := range sig {
		switch s {
		case syscall.SIGHUP:
			select {
			case reloads <- struct{}{}:
			default: // one is pending already: it will read the file as it is now
			}
		case syscall.SIGUSR1:
			r.logStats("counters")
		default:
			r.log.Info("stopping", "signal", s.String())
			stopping()
			r.notify("STOPPING=1")
			r.drain(sig)
			stopped := make(chan struct{})
			go r.forceStop(sig, stopped)
			r.shutdown()
			close(stopped)
			return 0
		}
	}
	return 0
}

// forceStop exits with status 1 if shutdown has not returned (closed
// stopped) within stopBound, or when a second SIGTERM or SIGINT comes.
func (r *runner) forceStop(sig <-chan os.Signal, stopped <-chan struct{}) {
	t := time.NewTimer(stopBound)
	defer t.Stop()
	for {
		select {
		case <-stopped:
			return
		case <-t.C:
			r.log.Error("stopping took too long: exiting without finishing", "bound", stopBound.String())
			os.Exit(1)
		case s := <-sig:
			if s == syscall.SIGTERM || s == syscall.SIGINT {
				r.log.Error("stopping: exiting without finishing", "signal", s.String())
				os.Exit(1)
			}
		}
	}
}

// watchdog tells systemd's watchdog (WatchdogSec=) that nat64br is alive
// every interval, as long as the data plane makes progress
// (dataplane.Plane.Alive: the timers tick, and each worker turns its loop
// or waits for frames), until stop is closed. When the plane stalls it
// stops telling, logs why and says so in the unit's status; systemd then
// kills nat64br with SIGABRT (a Go stack dump of every goroutine in the
// journal) once WatchdogSec has passed, and Restart= starts it again.
func (r *runner) watchdog(every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	stalled := false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if err := r.alive(); err != nil {
			if !stalled {
				r.log.Error("the data plane is stalled: no longer telling systemd's watchdog that nat64br is alive", "err", err)
				r.notify("STATUS=stalled: " + err.Error())
				stalled = true
			}
			continue
		}
		if stalled {
			r.log.Warn("the data plane moves again")
			r.notify("STATUS=translating")
			stalled = false
		}
		r.notify("WATCHDOG=1")
	}
}

// notify tells systemd (Type=notify) about the daemon's state.
func (r *runner) notify(state string) {
	if err := sdNotify(state); err != nil {
		r.log.Warn("cannot notify systemd", "err", err)
	}
}

// drain withdraws the BGP routes and translates on for bgp.drain, so
// that the routers send new flows to the other boxes while the
// established ones finish here. A second SIGINT or SIGTERM ends it at
// once; a reload waits for the next start.
func (r *runner) drain(sig <-chan os.Signal) {
	if r.gate == nil {
		return
	}
	r.gate.drain()
	d := r.config().BGP.Drain
	if d <= 0 {
		return
	}
	r.log.Info("BGP: routes withdrawn; translating on while established flows finish (SIGTERM again: stop now)", "drain", d.String())
	r.notify("STATUS=draining: IPv6 routes withdrawn, stopping in " + d.String())
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case s := <-sig:
			switch s {
			case syscall.SIGHUP:
				r.log.Warn("reload ignored: draining before stop")
			case syscall.SIGUSR1:
				r.logStats("counters")
			default:
				r.log.Info("stopping now, before the end of the drain", "signal", s.String())
				return
			}
		}
	}
}

// bgpStopTimeout bounds the BGP speaker's stop (its Cease notifications).
const bgpStopTimeout = 2 * time.Second

// shutdown closes the ports and waits for every goroutine. A reload that
// is still reading or validating is not waited for: it will find
// r.stopping set and apply nothing.
func (r *runner) shutdown() {
	r.stopping.Store(true)
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	if r.gate != nil {
		r.gate.close()
		ctx, cancel := context.WithTimeout(context.Background(), bgpStopTimeout)
		if err := r.bgp.close(ctx); err != nil {
			r.log.Warn("BGP: stopping the speaker", "err", err)
		}
		cancel()
	}
	r.metrics.close()
	r.control.close()
	r.state.close()
	ports := r.portStats()
	if err := r.d.Close(); err != nil {
		r.log.Warn("closing the ports", "err", err)
	}
	if r.state != nil {
		start := time.Now()
		if st, err := r.state.save(r.d.Translator(), start); err != nil {
			r.log.Error("cannot save the NAT64 state: a restart loses the sessions", "file", r.state.path, "err", err)
		} else {
			r.log.Info("NAT64 state saved", "file", r.state.path, "bib", st.BIB, "sessions", st.Sessions, "took", time.Since(start).Round(time.Millisecond).String())
		}
	}
	for _, p := range r.ports {
		if p != nil {
			p.ReleaseQueues()
		}
	}
	if r.dyn != nil {
		if err := r.dyn.save(r.d.Translator(), time.Now(), true); err != nil {
			r.log.Error("cannot save the dynamic pool", "file", r.dyn.path, "err", err)
		} else {
			r.log.Info("dynamic pool mappings saved", "file", r.dyn.path)
		}
	}
	r.logCounters("final counters", ports)
	r.unlock()
}

// unlock releases the ports' locks (lockPorts), once the ports are closed.
func (r *runner) unlock() {
	for _, l := range r.locks {
		l.close()
	}
	r.locks = nil
}

// owner is the uid nat64br runs as after start when it switches user
// (sandbox.go), else 0.
func (r *runner) owner() int {
	if r.user == nil || !r.user.switchTo {
		return 0
	}
	return r.user.uid
}

func (r *runner) closePorts() {
	for _, s := range r.portSides() {
		if r.ports[s] != nil {
			r.ports[s].Close()
		}
	}
}

// portSides returns a side of each port: both, or the IPv6 side of a
// shared port.
func (r *runner) portSides() []xlat.Side {
	if r.shared {
		return []xlat.Side{xlat.Side6}
	}
	return []xlat.Side{xlat.Side6, xlat.Side4}
}

// reload applies the configuration file again if it validates; otherwise
// the running one stays, and the log says why.
func (r *runner) reload() { r.reloadResult() }

// reloadResult reloads the configuration file and returns what changed,
// or the problems (each with its line and key) that kept the running
// configuration. SIGHUP and the control socket's reload (nat64br reload,
// the unit's ExecReload) both come here.
//
// systemd hears of a reload only once the new configuration has passed
// every check: RELOADING=1 then, READY=1 when it is applied. A refused one
// sends neither, only a STATUS= line saying that the previous
// configuration runs on: READY=1 would tell systemd that the reload went
// well. The control socket's reply tells nat64br reload, which exits 1,
// so that systemctl reload fails.
func (r *runner) reloadResult() (changed, problems []string) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	refuse := func(msg string, p ...string) ([]string, []string) {
		r.mu.Lock()
		r.reloadsFailed++
		r.mu.Unlock()
		r.log.Error("reload refused: the running configuration stays", "reason", msg, "problems", strings.Join(p, "; "))
		r.notify("STATUS=translating with the previous configuration: reload refused: " + msg)
		return nil, append([]string{msg}, p...)
	}
	cfg, err := loadConfig(r.path)
	if err != nil && !errors.Is(err, config.ErrInvalid) {
		return refuse("the file cannot be read", err.Error())
	}
	if err != nil {
		var b strings.Builder
		printConfigError(&b, err)
		return refuse("the file does not validate", strings.Split(strings.TrimSpace(b.String()), "\n")...)
	}
	sized := sizeToMemory(cfg, r.mem)
	if why := bgpRestartNeeded(r.cfg, cfg); why != "" {
		return refuse(why)
	}
	if cfg.IPv6Interface != r.cfg.IPv6Interface || cfg.IPv4Interface != r.cfg.IPv4Interface || cfg.IPv6VLAN != r.cfg.IPv6VLAN || cfg.IPv4VLAN != r.cfg.IPv4VLAN || cfg.Mode != r.cfg.Mode || cfg.DataPath != r.cfg.DataPath || cfg.Metrics != r.cfg.Metrics || cfg.ControlSocket != r.cfg.ControlSocket || cfg.Reassembly != r.cfg.Reassembly || cfg.Sandbox != r.cfg.Sandbox {
		return refuse("interfaces, VLANs, mode, data-path, metrics, control-socket, reassembly and sandbox change only with a restart")
	}
	tr, err := newTranslator(runTranslatorConfig(cfg, r.ports))
	if err == nil {
		// Bindings, sessions and dynamic mappings carry over.
		if kerr := tr.KeepState(r.d.Translator()); kerr != nil {
			err = fmt.Errorf("%w: restart to apply that", kerr)
		}
	}
	if err == nil && cfg.DataDir != r.cfg.DataDir {
		err = errors.New("data-dir changed: restart to apply that")
	}
	if err == nil {
		err = r.d.ARP().Reconfigure(arpOptions(cfg, r.d.MAC(xlat.Side4)))
	}
	if err == nil {
		err = r.d.ND().Reconfigure(ndOptions(cfg, r.d.MAC(xlat.Side6), portMTU(r.ports[xlat.Side6], cfg.MTU6)))
	}
	if err != nil {
		return refuse(err.Error())
	}
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	if r.stopping.Load() {
		return refuse("nat64br is stopping")
	}
	r.notify(sdReloading())
	r.reconcileNAT(tr, cfg)
	r.d.Swap(tr)
	if r.state != nil {
		r.state.setInterval(cfg.StateInterval)
	}
	changed = configDiff(r.cfg, cfg)
	r.mu.Lock()
	r.cfg, r.sized = cfg, sized
	if r.bgp != nil {
		// Announce the new prefixes, withdraw the gone ones, add,
		// remove and replace neighbors.
		if err := r.bgp.reconfigure(cfg); err != nil {
			r.log.Error("reload: BGP", "err", err)
		}
	}
	r.reloadsOK++
	r.mu.Unlock()
	r.log.Info("configuration reloaded", "config", cfg.Path, "changed", strings.Join(changed, ", "))
	r.notify("READY=1\nSTATUS=translating")
	return changed, nil
}

// reconcileNAT applies a reloaded configuration to the NAT64 tables that
// tr took over from the running translator (KeepState): entries it no
// longer allows are expired and logged (one line, and a line each with
// mapping-log).
func (r *runner) reconcileNAT(tr *xlat.Translator, cfg *config.Config) {
	var dropped func(xlat.NATEntry, xlat.NATDrop)
	if cfg.MappingLog {
		dropped = func(e xlat.NATEntry, why xlat.NATDrop) {
			r.log.Info("reload: NAT64 entry expired", entryAttrs(e, why)...)
		}
	}
	st, errs := tr.Reconcile(time.Now(), dropped)
	for _, err := range errs {
		r.log.Error("reload: static-bib entry not bound", "err", err)
	}
	if b, n := st.Dropped(); b+n > 0 {
		r.log.Info("reload: NAT64 entries the configuration no longer allows expired", "bib", b, "sessions", n,
			"by_cause", dropCauses(&st), "kept_bib", st.BIB, "kept_sessions", st.Sessions)
	}
}

// configDiff lists the settings that differ, for the reload log.
func configDiff(a, b *config.Config) []string {
	fa, fb := configFields(a), configFields(b)
	var out []string
	for _, k := range sortedKeys(fa, fb) {
		if fa[k] != fb[k] {
			out = append(out, fmt.Sprintf("%s: %s -> %s", k, fa[k], fb[k]))
		}
	}
	if len(out) == 0 {
		out = append(out, "nothing")
	}
	return out
}

func (r *runner) logStats(msg string) { r.logCounters(msg, r.portStats()) }

// portStats reads the ports' counters (the kernel part since the last read).
func (r *runner) portStats() [3]wire.Stats {
	var out [3]wire.Stats
	for _, s := range r.portSides() {
		if r.ports[s] != nil {
			out[s], _ = r.ports[s].Stats()
		}
	}
	return out // a shared port's books are all under the IPv6 side
}

// logCounters logs the counters as attributes: the totals, every non-zero
// drop and reply reason, and the ports' own books.
func (r *runner) logCounters(msg string, ports [3]wire.Stats) {
	c := r.d.Counters()
	attrs := []any{"uptime", time.Since(r.started).Round(time.Second).String()}
	for k := dataplane.Counter(0); k < dataplane.NumCounters; k++ {
		if c[k] != 0 || k <= dataplane.FramesOut4 {
			attrs = append(attrs, k.String(), c[k])
		}
	}
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		st := ports[s]
		attrs = append(attrs, slog.Group("port_"+s.String(), "kernel_drops", st.KernelDrops, "checksums_completed", st.ChecksumsCompleted,
			"super_frames", st.SuperFrames, "segments", st.Segments, "tx_errors", st.TxErrors+st.TxOversize, "truncated", st.Truncated, "vlan", st.VLAN))
	}
	a, n := r.d.ARP().Cache().Stats(), r.d.ND().Cache().Stats()
	attrs = append(attrs, "neighbors_ipv4", a.Entries, "neighbors_ipv6", n.Entries, "neighbor_failures", a.Failed+n.Failed,
		"neighbor_released", a.Released+n.Released, "neighbor_learn_limited", a.LearnLimited+n.LearnLimited,
		"neighbor_cache_full", a.Full+n.Full, "neighbor_evicted", a.Evicted+n.Evicted)
	cfg := r.config()
	if cfg.Mode == config.ModeNAT64 {
		s := r.d.Translator().NATStats()
		attrs = append(attrs, slog.Group("nat64", "sessions", s.Sessions, "bib", s.BIB, "held_syns", s.HeldSYNs,
			"sessions_created", s.SessionsCreated, "sessions_expired", s.SessionsExpired,
			"bib_created", s.BIBCreated, "bib_expired", s.BIBExpired, "table_bytes", s.TableBytes))
	}
	if cfg.DynamicPool.IsValid() {
		ms, _ := r.d.Translator().DynamicMappings()
		attrs = append(attrs, "dynamic_mappings", len(ms))
	}
	r.log.Info(msg, attrs...)
}

// spread says how the ring data path spreads frames over the workers:
// "ports" (the fanout program, wire.PortSpread), or "hash" (the kernel's
// flow hash, asked for or because the kernel refused the program); "" on
// the other data paths, which have one worker per port.
func (r *runner) spread(cfg *config.Config) string {
	if cfg.DataPath.IO != "ring" {
		return ""
	}
	if cfg.DataPath.Spread != "ports" {
		return cfg.DataPath.Spread
	}
	for _, p := range r.ports {
		if p != nil && p.SpreadError() != nil {
			return "hash"
		}
	}
	return "ports"
}

// openLanes opens the ring data path's receive queues, cfg.DataPath.Workers
// of each port (default: GOMAXPROCS, the CPUs or the container's CPU
// limit), and puts a lane per worker in opts. The two ports spread frames
// over their queues by the flows' ports, the IPv4 port one queue further
// on: a flow's two directions go to different workers (wire.PortSpread).
// Pinned idle workers take the ICMP their CPU receives, which only the
// program can do (docs/performance.md, "Latency"); spread: hash leaves
// both to the kernel's flow hash.
func (r *runner) openLanes(cfg *config.Config, opts *dataplane.Options) error {
	n := cfg.DataPath.Workers
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	opts.HotWait = cfg.DataPath.HotWait
	key := rand.Uint32() | 1
	if cfg.DataPath.Spread == "ports" {
		allowed, err := dataplane.AllowedCPUs()
		if err != nil {
			r.log.Warn("cannot read the CPUs nat64br may run on; the workers are not pinned", "err", err)
		}
		opts.CPUs = dataplane.WorkerCPUs(cfg.DataPath.PinWorkers, allowed, n)
	}
	var qs [3][]*wire.Queue
	for _, s := range []xlat.Side{xlat.Side6, xlat.Side4} {
		var spread *wire.PortSpread
		if cfg.DataPath.Spread == "ports" {
			spread = &wire.PortSpread{Key: key, CPUs: opts.CPUs}
			if s == xlat.Side4 {
				spread.Offset = 1
			}
		}
		var err error
		if r.shared && s == xlat.Side4 {
			qs[s] = qs[xlat.Side6]
			continue
		}
		// A super-frame passed whole cannot leave on a VLAN side: the
		// offload header describes an untagged frame.
		passGSO := cfg.DataPath.PassGSO && cfg.IPv6VLAN == 0 && cfg.IPv4VLAN == 0
		qs[s], err = r.ports[s].OpenQueues(wire.QueueOptions{Queues: n, QdiscBypass: cfg.DataPath.QdiscBypass, PassGSO: passGSO,
			Headroom: dataplane.Headroom, Tailroom: xlat.Tailroom, Spread: spread})
		if err != nil {
			return err
		}
		if err := r.ports[s].SpreadError(); err != nil {
			r.log.Warn("the kernel refused the fanout program; frames are spread by its flow hash, so a TCP flow's two directions share a worker about half the time",
				"interface", r.ports[s].Name(), "err", err)
		}
	}
	for i := 0; i < n; i++ {
		ring := []*wire.Queue{qs[xlat.Side6][i], qs[xlat.Side4][i]}
		if r.shared {
			ring = ring[:1]
		}
		pl, err := wire.NewPoller(ring...)
		if err != nil {
			for _, l := range opts.Lanes {
				l.Poller.Close()
			}
			return fmt.Errorf("cannot wait for the receive queues: %w", err)
		}
		opts.Lanes = append(opts.Lanes, dataplane.Lane{Queues: [3]dataplane.Queue{xlat.Side6: qs[xlat.Side6][i], xlat.Side4: qs[xlat.Side4][i]}, Poller: pl})
	}
	return nil
}
