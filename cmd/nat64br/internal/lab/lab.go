package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/wire"
)

// The demo lab: three network namespaces joined by two veth pairs.
//
//	client ns "c6"                nat64br ns "x"               server ns "s4"
//	eth0 2001:db8:6::2/64  ---  n6 [nat64br run] n4  ---  eth0 192.0.2.2/24 (HTTP :80, UDP echo :7)
//	     2001:db8:6::80/64 (IPv6-only web server :8080)        192.0.2.3/24 (IPv4 client)
//
// nat64br's namespace has no addresses and no routes: the ports carry
// frames only. The IPv6 client reaches 192.0.2.2 as 64:ff9b::192.0.2.2;
// the IPv4 client reaches the IPv6-only server as 192.0.2.80 (EAM).

//go:embed demo.yaml
var demoConfig string

const (
	labClient6   = "2001:db8:6::2"
	labServer6   = "2001:db8:6::80"
	labServer4   = "192.0.2.2"
	labClient4   = "192.0.2.3"
	labVia6      = "64:ff9b::c000:202" // labServer4 in the Well-Known Prefix
	labServer6v4 = "192.0.2.80"        // the IPv6-only server's EAM address
	labClient6v4 = "192.0.2.6"         // the IPv6 client's EAM address
)

// Options configure one pass of the lab.
type Options struct {
	Offloads   bool          // leave the veth offloads at their defaults (else all off)
	PortTxCsum bool          // with Offloads: but transmit checksum offload off on nat64br's ports (the kernel must cut and sum in software what it passes whole)
	OnLink     bool          // route 64:ff9b::/96 on-link (proxy ND) instead of via nat64br's link-local
	RA         bool          // no static route: the client learns it from nat64br's Router Advertisements
	TakeOver   bool          // give the kernel an address and IPv6 on the ports, and let nat64br take them over
	Reload     bool          // check SIGHUP with a broken and a changed configuration
	HTTPBytes  int64         // size of the IPv6 client's download
	HTTP6Bytes int64         // size of the IPv4 client's download from the IPv6-only server
	UDPEchoes  int           // UDP echoes to send
	Garbage    time.Duration // malformed frames sent into both ports for this long
	Nat64br    string        // the nat64br executable, run as an operator would: nat64br run, status --json, ...
	Keep       bool          // leave the namespaces for inspection
	Wrap       []string      // a command nat64br runs under in its namespace, e.g. setpriv to start it as a user with ambient capabilities, as systemd does
	Soak       time.Duration // run the soak (soak.go) for this long instead of the pass's checks (stateless, or Stateful "nat64")

	// The stateful passes (nat64.go).
	Stateful  string                  // "nat64" or "dynamic": run that pass instead of the stateless one
	Clients   int                     // IPv6 client addresses sharing pool4
	Conns     int                     // concurrent TCP connections of each
	ConnBytes int64                   // bytes each connection downloads
	UDPExpiry bool                    // wait for a UDP binding to expire and send a late reply
	Config    func(dir string) string // the configuration, if not demo.yaml (dir: the pass's directory)

	// The one-armed passes (onearm.go): their own topology, behind a
	// Linux router.
	OneArm string // "router": one NIC shared with the host; "trunk": two VLANs of one trunk

	// The routed passes (routed.go): nat64br on two ports between two
	// Linux routers.
	Routed   string        // "learning", "ping", "access" or "state"
	Stream   time.Duration // the learning pass's receive-only UDP stream lasts this long
	Sessions int           // TCP sessions the state pass keeps across a restart

	// The flood pass (flood.go), mode nat64 in a memory cgroup.
	Flood       time.Duration // flood for this long (0: not this pass)
	FloodNets   int           // spoofed sources in this many /64s
	FloodRate   int           // new flows a second
	FloodConfig string        // added to the configuration (limits to compare)
	FloodPool4  string        // a prefix added to pool4 (routed to nat64br by the IPv4 server)
	FloodLoose  bool          // the client's new connections may be refused (a full table)
	MemoryLimit int64         // of nat64br's cgroup

	// The BGP pass (bgp.go): two nat64br boxes behind a BIRD 2 router
	// with equal-cost multipath.
	BGP     bool
	BGPReps int // repeat the SIGTERM and kill -9 failovers this many times and report medians (0: once)

	// NeighborFlood, when set, makes the pass the neighbor flood (nbrflood.go).
	NeighborFlood *NeighborFloodOptions
}

// labCheck is one line of the report.
type labCheck struct {
	name, result string
	ok           bool
}

// Report is what one pass found.
type Report struct {
	title      string
	skip       string // why the pass did not run (a tool is missing)
	checks     []labCheck
	counters   string
	namespaces []string
}

// Namespaces returns the names of the network namespaces the pass
// created (Run deletes them unless Options.Keep).
func (r *Report) Namespaces() []string { return r.namespaces }

func (r *Report) add(name string, ok bool, format string, args ...any) {
	r.checks = append(r.checks, labCheck{name, fmt.Sprintf(format, args...), ok})
}

// OK reports whether the pass made checks and every one passed.
func (r *Report) OK() bool {
	if r.skip != "" {
		return true
	}
	for _, c := range r.checks {
		if !c.ok {
			return false
		}
	}
	return len(r.checks) > 0
}

// Print writes the pass's title, a line per check and nat64br's final
// counters to w.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\n== %s\n", r.title)
	if r.skip != "" {
		fmt.Fprintf(w, "  SKIP %s\n", r.skip)
	}
	for _, c := range r.checks {
		mark := "ok  "
		if !c.ok {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %-46s %s\n", mark, c.name, c.result)
	}
	if r.counters != "" {
		fmt.Fprintf(w, "  nat64br counters: %s\n", r.counters)
	}
}

// labNS is a network namespace of the lab.
type labNS struct{ name string }

func (ns labNS) cmd(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.name}, args...)...)
}

func (ns labNS) run(args ...string) (string, error) {
	out, err := ns.cmd(args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// do runs fn on an OS thread inside the namespace; sockets it opens stay
// there.
func (ns labNS) do(fn func() error) error { return wire.InNetns(ns.name, fn) }

// transport is an HTTP transport whose connections d dials from inside
// the namespace, one per request.
func (ns labNS) transport(d *net.Dialer) *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = ns.do(func() error { c, err = d.DialContext(ctx, network, addr); return err })
		return c, err
	}, DisableKeepAlives: true}
}

// sysctl writes a /proc/sys/net value inside the namespace.
func (ns labNS) sysctl(key, value string) error {
	return ns.do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/")), []byte(value), 0o644)
	})
}

// lab is the running topology.
type lab struct {
	opts          Options
	c6, x, s4     labNS
	cleanups      []func()
	nat           *exec.Cmd
	natLog        *bytes.Buffer
	natMu         sync.Mutex
	n6mac         string
	linkLocal     string
	listeners     []io.Closer
	configPath    string
	controlSocket string
	natDone       chan error
	cgroup        *memCgroup // nat64br starts in it, if not nil (the flood pass)

	seenMu sync.Mutex
	seen   map[string]string // the IPv4 HTTP server's requests: path -> remote address

	nbrFlood *NeighborFloodResult // the flood pass's figures
}

func labName(role string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "nat64br-" + role + "-" + hex.EncodeToString(b)
}

func (l *lab) cleanup() {
	for i := len(l.cleanups) - 1; i >= 0; i-- {
		l.cleanups[i]()
	}
	l.cleanups = nil
}

func run1(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// build creates the namespaces and links, and starts the servers.
func (l *lab) build() error {
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("the lab needs the ip tool from iproute2 (apt-get install iproute2)")
	}
	l.c6, l.x, l.s4 = labNS{labName("c6")}, labNS{labName("x")}, labNS{labName("s4")}
	for _, ns := range []labNS{l.c6, l.x, l.s4} {
		if err := run1("ip", "netns", "add", ns.name); err != nil {
			return err
		}
		name := ns.name
		l.cleanups = append(l.cleanups, func() {
			if !l.opts.Keep {
				_ = exec.Command("ip", "netns", "del", name).Run()
			}
		})
		if _, err := ns.run("ip", "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	tmp := func() string { return "v" + labName("")[8:] }
	for _, link := range []struct {
		a  labNS
		an string
		b  labNS
		bn string
	}{{l.c6, "eth0", l.x, "n6"}, {l.s4, "eth0", l.x, "n4"}} {
		ta, tb := tmp(), tmp()
		for _, args := range [][]string{
			{"ip", "link", "add", ta, "type", "veth", "peer", "name", tb},
			{"ip", "link", "set", ta, "netns", link.a.name},
			{"ip", "link", "set", tb, "netns", link.b.name},
			{"ip", "-n", link.a.name, "link", "set", ta, "name", link.an},
			{"ip", "-n", link.b.name, "link", "set", tb, "name", link.bn},
		} {
			if err := run1(args...); err != nil {
				return err
			}
		}
	}
	// nat64br's ports carry no addresses and the kernel stays off them,
	// unless nat64br is to take them over.
	for _, dev := range []string{"n6", "n4"} {
		if l.opts.TakeOver {
			if _, err := l.x.run("ip", "addr", "add", "198.51.100.1/24", "dev", dev); err != nil {
				return err
			}
			continue
		}
		if err := l.x.sysctl("net.ipv6.conf."+dev+".disable_ipv6", "1"); err != nil {
			return err
		}
	}
	if err := l.s4.sysctl("net.ipv6.conf.eth0.disable_ipv6", "1"); err != nil { // IPv4-only
		return err
	}
	if l.opts.RA {
		if err := l.c6.sysctl("net.ipv6.conf.eth0.accept_ra_rt_info_max_plen", "96"); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		ns   labNS
		args []string
	}{
		{l.x, []string{"ip", "link", "set", "n6", "up"}},
		{l.x, []string{"ip", "link", "set", "n4", "up"}},
		{l.c6, []string{"ip", "-6", "addr", "add", labClient6 + "/64", "dev", "eth0", "nodad"}},
		{l.c6, []string{"ip", "-6", "addr", "add", labServer6 + "/64", "dev", "eth0", "nodad"}},
		{l.c6, []string{"ip", "link", "set", "eth0", "up"}},
		{l.s4, []string{"ip", "addr", "add", labServer4 + "/24", "dev", "eth0"}},
		{l.s4, []string{"ip", "addr", "add", labClient4 + "/24", "dev", "eth0"}},
		{l.s4, []string{"ip", "link", "set", "eth0", "up"}},
	} {
		if _, err := c.ns.run(c.args...); err != nil {
			return err
		}
	}
	if !l.opts.Offloads {
		for _, c := range []struct {
			ns  labNS
			dev string
		}{{l.c6, "eth0"}, {l.x, "n6"}, {l.x, "n4"}, {l.s4, "eth0"}} {
			if err := c.ns.do(func() error { return wire.SetOffloads(c.dev, false, wire.AllOffloads...) }); err != nil {
				return fmt.Errorf("offloads off on %s: %w", c.dev, err)
			}
		}
	} else if l.opts.PortTxCsum {
		for _, dev := range []string{"n6", "n4"} {
			if err := l.x.do(func() error { return wire.SetOffloads(dev, false, wire.OffloadTxCsum) }); err != nil {
				return fmt.Errorf("transmit checksum offload off on %s: %w", dev, err)
			}
		}
	}
	mac, err := l.x.run("cat", "/sys/class/net/n6/address")
	if err != nil {
		return err
	}
	l.n6mac = strings.TrimSpace(mac)
	hw, _ := net.ParseMAC(l.n6mac)
	l.linkLocal = fmt.Sprintf("fe80::%02x%02x:%02xff:fe%02x:%02x%02x", hw[0]^2, hw[1], hw[2], hw[3], hw[4], hw[5])
	return l.startServers()
}

// payload writes n deterministic pseudo-random bytes (seed) to w.
func payload(w io.Writer, seed uint64, n int64) error {
	r := mrand.NewChaCha8([32]byte{0: byte(seed), 1: byte(seed >> 8)})
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := int(min(int64(len(buf)), n))
		_, _ = r.Read(buf[:k])
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}

func payloadSHA(seed uint64, n int64) [32]byte {
	h := sha256.New()
	_ = payload(h, seed, n)
	return [32]byte(h.Sum(nil))
}

// serveHTTP starts an HTTP server on addr in ns that answers a GET with
// n bytes of payload seed (?bytes=N: N bytes; ?rate=R: at R bytes per
// second) and notes who asked for each path in l.seen.
func (l *lab) serveHTTP(ns labNS, network, addr string, seed uint64, n int64) error {
	var ln net.Listener
	if err := ns.do(func() (err error) { ln, err = net.Listen(network, addr); return err }); err != nil {
		return err
	}
	l.listeners = append(l.listeners, ln)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size, rate := n, int64(0)
		if s := r.URL.Query().Get("bytes"); s != "" {
			fmt.Sscan(s, &size)
		}
		if s := r.URL.Query().Get("rate"); s != "" {
			fmt.Sscan(s, &rate)
		}
		l.seenMu.Lock()
		if l.seen == nil {
			l.seen = map[string]string{}
		}
		l.seen[r.URL.Path] = r.RemoteAddr
		l.seenMu.Unlock()
		w.Header().Set("Content-Length", fmt.Sprint(size))
		if rate > 0 {
			_ = payload(&pacer{w: w, rate: rate, start: time.Now()}, seed, size)
			return
		}
		_ = payload(w, seed, size)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// pacer is a writer that holds writes back to rate bytes per second.
type pacer struct {
	w     io.Writer
	rate  int64
	start time.Time
	sent  int64
}

func (p *pacer) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.sent += int64(n)
	if ahead := time.Duration(p.sent*int64(time.Second)/p.rate) - time.Since(p.start); ahead > 0 {
		time.Sleep(ahead)
	}
	return n, err
}

// startServers starts the IPv4-only HTTP and UDP echo servers and the
// IPv6-only HTTP server, each with its socket in its namespace.
func (l *lab) startServers() error {
	if err := l.serveHTTP(l.s4, "tcp4", labServer4+":80", 1, l.opts.HTTPBytes); err != nil {
		return err
	}
	if err := l.serveHTTP(l.c6, "tcp6", "["+labServer6+"]:8080", 2, l.opts.HTTP6Bytes); err != nil {
		return err
	}
	return l.startEcho(l.s4, labServer4)
}

// startEcho starts a UDP echo server on addr port 7 in ns, and the
// cleanup that closes the lab's listeners.
func (l *lab) startEcho(ns labNS, addr string) error {
	if err := l.serveUDP(ns, addr, 7, func(uc *net.UDPConn, b []byte, from *net.UDPAddr) { _, _ = uc.WriteToUDP(b, from) }); err != nil {
		return err
	}
	l.cleanups = append(l.cleanups, func() {
		for _, c := range l.listeners {
			c.Close()
		}
	})
	return nil
}

// serveUDP listens on IPv4 addr:port in ns and calls handle with each
// datagram (b is valid until handle returns), until the lab closes its
// listeners.
func (l *lab) serveUDP(ns labNS, addr string, port int, handle func(uc *net.UDPConn, b []byte, from *net.UDPAddr)) error {
	var uc *net.UDPConn
	if err := ns.do(func() (err error) {
		uc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addr), Port: port})
		return err
	}); err != nil {
		return err
	}
	l.listeners = append(l.listeners, uc)
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := uc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			handle(uc, buf[:n], from)
		}
	}()
	return nil
}

// dialUDP6 opens a UDP socket in ns from src to [dst]:port.
func dialUDP6(ns labNS, src, dst string, port int) (c *net.UDPConn, err error) {
	err = ns.do(func() error {
		c, err = net.DialUDP("udp6", &net.UDPAddr{IP: net.ParseIP(src)}, &net.UDPAddr{IP: net.ParseIP(dst), Port: port})
		return err
	})
	return c, err
}

// startNat64br writes the configuration and starts nat64br in its
// namespace, then waits until it answers a ping.
func (l *lab) startNat64br(dir string) error {
	cfg := demoConfig
	if l.opts.Config != nil {
		cfg = l.opts.Config(dir)
	}
	if l.opts.TakeOver {
		cfg += "take-over: true\n"
	}
	if l.opts.RA {
		cfg += "router-advertisements:\n  enabled: true\n  interval: 5s\n"
	}
	l.controlSocket = filepath.Join(dir, "control.sock")
	cfg += "control-socket: " + l.controlSocket + "\n"
	l.configPath = filepath.Join(dir, "nat64br.yaml")
	if err := os.WriteFile(l.configPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	// nat64br reads the file again at a reload, as the user it switched
	// to after start (the nat64br user, where there is one).
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	run := append(append([]string{}, l.opts.Wrap...), l.opts.Nat64br, "run", "--config", l.configPath)
	if l.opts.NeighborFlood != nil && l.opts.NeighborFlood.Profile != "" {
		run = append(run, "--cpuprofile", l.opts.NeighborFlood.Profile)
	}
	l.nat = exec.Command("ip", append([]string{"netns", "exec", l.x.name}, run...)...)
	if l.cgroup != nil {
		// Into the cgroup before nat64br starts (it reads its budget
		// first); each exec keeps the PID. ip netns exec mounts a fresh
		// /sys, without the cgroup file systems: the hierarchy is mounted
		// again in its mount namespace, as a container has it.
		inner := append([]string{"sh", "-c", l.cgroup.mount() + ` /sys/fs/cgroup && exec "$@"`, "sh"}, run...)
		l.nat = exec.Command("sh", append([]string{"-c", `echo $$ > "$0" && exec "$@"`, l.cgroup.procs(), "ip", "netns", "exec", l.x.name}, inner...)...)
	}
	l.natLog = &bytes.Buffer{}
	w := &lockedWriter{mu: &l.natMu, w: l.natLog}
	l.nat.Stdout, l.nat.Stderr = w, w
	if err := l.nat.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	cmd := l.nat
	exited := make(chan struct{})
	go func() { done <- cmd.Wait(); close(exited) }()
	l.cleanups = append(l.cleanups, func() {
		select {
		case <-exited: // stopped already (a restart)
		default:
			_ = cmd.Process.Signal(unix.SIGTERM)
			waitOrKill(cmd.Process, exited, 5*time.Second)
		}
	})
	l.natDone = done
	// The routes to the prefix, then wait for nat64br.
	switch {
	case l.opts.RA, l.opts.OneArm != "", l.opts.Routed != "", l.opts.BGP: // the router's static route, or BGP
	case l.opts.OnLink:
		if _, err := l.c6.run("ip", "-6", "route", "replace", "64:ff9b::/96", "dev", "eth0"); err != nil {
			return err
		}
	default:
		if _, err := l.c6.run("ip", "-6", "route", "replace", "64:ff9b::/96", "via", l.linkLocal, "dev", "eth0"); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("nat64br exited: %v\n%s", err, l.natOutput())
		default:
		}
		if strings.Contains(l.natOutput(), "nat64br running") {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("nat64br did not start within 10 s:\n%s", l.natOutput())
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (l *lab) natOutput() string {
	l.natMu.Lock()
	defer l.natMu.Unlock()
	return l.natLog.String()
}

// stopNat64br stops nat64br with SIGTERM and returns its final counters.
func (l *lab) stopNat64br() (string, error) {
	if err := l.nat.Process.Signal(unix.SIGTERM); err != nil {
		return "", err
	}
	select {
	case err := <-l.natDone:
		if err != nil {
			return "", fmt.Errorf("nat64br exited with %v:\n%s", err, l.natOutput())
		}
	case <-time.After(10 * time.Second):
		_ = l.nat.Process.Kill()
		return "", fmt.Errorf("nat64br did not stop within 10 s of SIGTERM")
	}
	for _, line := range strings.Split(l.natOutput(), "\n") {
		if strings.Contains(line, "final counters") {
			return strings.TrimSpace(strings.TrimPrefix(line[strings.Index(line, "final counters")+len("final counters"):], `"`)), nil
		}
	}
	return "", fmt.Errorf("nat64br printed no final counters:\n%s", l.natOutput())
}

// reloadCheck breaks the configuration file and sends SIGHUP (nat64br must
// refuse it, name the line, and keep translating), then changes a setting
// and sends SIGHUP again (nat64br must apply it and say what changed).
func (l *lab) reloadCheck() (bool, string) {
	good, err := os.ReadFile(l.configPath)
	if err != nil {
		return false, err.Error()
	}
	broken := append(append([]byte(nil), good...), "mtu:\n  ipv6: 900\n"...)
	if err := os.WriteFile(l.configPath, broken, 0o644); err != nil {
		return false, err.Error()
	}
	_ = l.nat.Process.Signal(unix.SIGHUP)
	if !l.waitLog("reload refused", 5*time.Second) || !strings.Contains(l.natOutput(), "mtu.ipv6: 900 is outside") {
		return false, "a broken file was not refused with its line and key"
	}
	if rtts, _ := l.ping(labVia6, 2); len(rtts) != 2 {
		return false, "no translation after a refused reload"
	}
	changed := strings.Replace(string(good), "wkpf-strict: false", "wkpf-strict: false\nicmp-error-rate: 500", 1)
	if err := os.WriteFile(l.configPath, []byte(changed), 0o644); err != nil {
		return false, err.Error()
	}
	_ = l.nat.Process.Signal(unix.SIGHUP)
	if !l.waitLog("icmp-error-rate: 1000 -> 500", 5*time.Second) {
		return false, "a changed file was not reloaded"
	}
	if rtts, _ := l.ping(labVia6, 2); len(rtts) != 2 {
		return false, "no translation after a reload"
	}
	return true, "broken file refused with its line (translation went on); change applied and logged"
}

// waitLog waits until nat64br's log holds s.
func (l *lab) waitLog(s string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(l.natOutput(), s) {
			return true
		}
	}
	return false
}

// ping sends count ICMPv6 echo requests from the client namespace and
// returns the round-trip times of the replies.
func (l *lab) ping(dst string, count int) ([]time.Duration, error) {
	return l.pingData(dst, count, []byte("nat64br demo ping"))
}

// pingData is ping with data in each echo request.
func (l *lab) pingData(dst string, count int, data []byte) ([]time.Duration, error) {
	var c *icmp.PacketConn
	if err := l.c6.do(func() (err error) { c, err = icmp.ListenPacket("ip6:ipv6-icmp", labClient6); return err }); err != nil {
		return nil, err
	}
	defer c.Close()
	id := int(mrand.Uint32N(65535))
	var rtts []time.Duration
	buf := make([]byte, 65536)
	for seq := 1; seq <= count; seq++ {
		msg := icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: id, Seq: seq, Data: data}}
		b, _ := msg.Marshal(nil)
		start := time.Now()
		if _, err := c.WriteTo(b, &net.IPAddr{IP: net.ParseIP(dst)}); err != nil {
			return rtts, err
		}
		_ = c.SetReadDeadline(start.Add(time.Second))
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				break // timeout: lost
			}
			m, err := icmp.ParseMessage(58, buf[:n])
			if e, ok := m.Body.(*icmp.Echo); err == nil && m.Type == ipv6.ICMPTypeEchoReply && ok && e.ID == id && e.Seq == seq {
				rtts = append(rtts, time.Since(start))
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return rtts, nil
}

// download fetches url from namespace ns, bound to local, and returns the
// byte count, SHA-256 and duration.
func (l *lab) download(ns labNS, local, url string) (int64, [32]byte, time.Duration, error) {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	return fetch(&http.Client{Transport: ns.transport(dialer), Timeout: 5 * time.Minute}, url)
}

// fetch GETs url with cl and returns the byte count, SHA-256 and duration.
func fetch(cl *http.Client, url string) (int64, [32]byte, time.Duration, error) {
	start := time.Now()
	resp, err := cl.Get(url)
	if err != nil {
		return 0, [32]byte{}, 0, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	return n, [32]byte(h.Sum(nil)), time.Since(start), err
}

// udpEchoes sends n datagrams one after another and counts the echoes.
func (l *lab) udpEchoes(n int) (int, error) { return l.udpEchoesTo(labVia6, n) }

// udpEchoesTo sends n datagrams from the client to dst port 7 one after
// another and counts the echoes.
func (l *lab) udpEchoesTo(dst string, n int) (int, error) {
	c, err := dialUDP6(l.c6, labClient6, dst, 7)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	got := 0
	buf := make([]byte, 2048)
	for i := 0; i < n; i++ {
		msg := fmt.Appendf(nil, "nat64br demo echo %d", i)
		if _, err := c.Write(msg); err != nil {
			return got, err
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		for {
			k, err := c.Read(buf)
			if err != nil {
				break
			}
			if bytes.Equal(buf[:k], msg) {
				got++
				break
			}
		}
	}
	return got, nil
}

// neighbor returns the state of addr in ns's neighbor table and its MAC.
func (l *lab) neighbor(ns labNS, family, addr string) (string, string) {
	out, err := ns.run("ip", family, "neigh", "show", addr)
	if err != nil || strings.TrimSpace(out) == "" {
		return "absent", ""
	}
	f := strings.Fields(out)
	mac := ""
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			mac = f[i+1]
		}
	}
	return f[len(f)-1], mac
}

// bare reports whether nat64br's namespace has no address and no route
// outside the loopback.
func (l *lab) bare() (bool, string) {
	addrs, _ := l.x.run("ip", "-o", "addr", "show")
	var found []string
	for _, line := range strings.Split(addrs, "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[1] != "lo" {
			found = append(found, f[1]+" "+f[3])
		}
	}
	for _, fam := range []string{"-4", "-6"} {
		routes, _ := l.x.run("ip", fam, "route", "show")
		for _, r := range strings.Split(strings.TrimSpace(routes), "\n") {
			if r != "" {
				found = append(found, "route "+r)
			}
		}
	}
	if len(found) == 0 {
		return true, "no addresses, no routes"
	}
	return false, strings.Join(found, "; ")
}

// waitRA waits for the client to learn the route to the prefix from a
// Router Advertisement, and captures the advertisement's PREF64 option.
func (l *lab) waitRA() (route, pref64 string, err error) {
	var c *icmp.PacketConn
	if err := l.c6.do(func() (err error) { c, err = icmp.ListenPacket("ip6:ipv6-icmp", "::"); return err }); err != nil {
		return "", "", err
	}
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) && (route == "" || pref64 == "") {
		if route == "" {
			out, _ := l.c6.run("ip", "-6", "route", "show", "64:ff9b::/96")
			route = strings.TrimSpace(out)
		}
		if pref64 == "" {
			_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if n, _, err := c.ReadFrom(buf); err == nil && n > 16 && buf[0] == 134 {
				pref64 = parsePREF64(buf[16:n])
			}
		} else {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if route == "" || pref64 == "" {
		return route, pref64, fmt.Errorf("no route or PREF64 learned within 20 s (route %q, PREF64 %q)", route, pref64)
	}
	return route, pref64, nil
}

// parsePREF64 returns the prefix of the PREF64 option (RFC 8781) among RA
// options, or "".
func parsePREF64(opts []byte) string {
	for len(opts) >= 2 && opts[1] > 0 && int(opts[1])*8 <= len(opts) {
		l := int(opts[1]) * 8
		if opts[0] == 38 && l == 16 {
			plc := opts[3] & 7
			bits := map[byte]int{0: 96, 1: 64, 2: 56, 3: 48, 4: 40, 5: 32}[plc]
			var a [16]byte
			copy(a[:12], opts[4:16])
			return fmt.Sprintf("%s/%d", net.IP(a[:]), bits)
		}
		opts = opts[l:]
	}
	return ""
}

// garbage sends malformed frames into both of nat64br's ports for d, from
// the client and server namespaces.
func (l *lab) garbage(d time.Duration) (int, error) {
	x6, _ := net.ParseMAC(l.n6mac)
	n4mac, err := l.x.run("cat", "/sys/class/net/n4/address")
	if err != nil {
		return 0, err
	}
	x4, _ := net.ParseMAC(strings.TrimSpace(n4mac))
	var total int
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for _, side := range []struct {
		ns  labNS
		dst net.HardwareAddr
		v6  bool
	}{{l.c6, x6, true}, {l.s4, x4, false}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := injectGarbage(side.ns, side.dst, side.v6, d)
			mu.Lock()
			total += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total, firstErr
}

// Run builds the lab for one pass, runs its checks against opts.Nat64br
// and returns the report, with the error that cut the pass short if one
// did. It tears everything down, also on failure or when ctx is cancelled
// (Ctrl-C).
func Run(ctx context.Context, title string, opts Options) (*Report, error) {
	if opts.OneArm != "" {
		return runOneArm(ctx, title, opts)
	}
	if opts.Routed != "" {
		return runRouted(ctx, title, opts)
	}
	if opts.BGP {
		return runBGP(ctx, title, opts)
	}
	rep := &Report{title: title}
	l := &lab{opts: opts}
	defer l.cleanup()
	dir, err := os.MkdirTemp("", "nat64br-lab-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	stop := context.AfterFunc(ctx, func() { l.cleanup() })
	defer stop()
	err = l.build()
	for _, ns := range []labNS{l.c6, l.x, l.s4} {
		if ns.name != "" {
			rep.namespaces = append(rep.namespaces, ns.name)
		}
	}
	if err != nil {
		return rep, err
	}
	if opts.Flood > 0 {
		if l.cgroup, err = newMemCgroup(opts.MemoryLimit); err != nil {
			return rep, err
		}
		l.cleanups = append(l.cleanups, l.cgroup.remove) // after nat64br is stopped (cleanups run last first)
		l.opts.Config = floodConfig(opts.FloodPool4, opts.FloodConfig)
		if opts.FloodPool4 != "" {
			if _, err := l.s4.run("ip", "route", "add", opts.FloodPool4, "via", labPool4); err != nil {
				return rep, err
			}
		}
	}
	if err := l.startNat64br(dir); err != nil {
		return rep, err
	}
	if opts.Flood > 0 {
		return l.floodPass(ctx, rep, l.cgroup)
	}
	if opts.Soak > 0 {
		return l.soakPass(ctx, rep)
	}
	if opts.Stateful != "" {
		return l.statefulPass(ctx, rep, dir)
	}
	if opts.NeighborFlood != nil {
		return l.nbrFloodPass(ctx, rep)
	}
	check := func() error { return ctx.Err() }

	if opts.RA {
		route, pref64, err := l.waitRA()
		rep.add("route from Router Advertisement", route != "", "%s", orNone(route))
		rep.add("PREF64 from Router Advertisement", pref64 == "64:ff9b::/96", "%s", orNone(pref64))
		if err != nil {
			return rep, err
		}
	}
	rtts, err := l.ping(labVia6, 5)
	rep.add("ping "+labVia6, err == nil && len(rtts) == 5, "%d/5 replies, median %s", len(rtts), median(rtts))
	if err := check(); err != nil {
		return rep, err
	}
	// The metrics are scraped before, during and after the download.
	const out6 = `nat64br_bytes_total{direction="out",port="ipv6"}`
	before, _, _ := l.scrape()
	var during []float64
	stopScrape, scraped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stopScrape:
				return
			case <-time.After(50 * time.Millisecond):
				if text, _, err := l.scrape(); err == nil {
					during = append(during, metricValue(text, out6))
				}
			}
		}
	}()
	pins := l.watchPins()
	n, sum, dur, err := l.download(l.c6, labClient6, "http://["+labVia6+"]/demo.bin")
	close(stopScrape)
	<-scraped
	pinsOK, pinsWhat := true, ""
	if pins != nil {
		pinsOK, pinsWhat = pins.done()
	}
	want := payloadSHA(1, opts.HTTPBytes)
	rep.add(fmt.Sprintf("HTTP %d MB from %s (IPv6 client)", opts.HTTPBytes>>20, labServer4), err == nil && n == opts.HTTPBytes && sum == want,
		"%s, sha256 %s, %s", byteCount(n), shaVerdict(sum, want), rate(n, dur, err))
	if pins != nil {
		rep.add("busy workers not pinned", pinsOK, "%s", pinsWhat)
	}
	if opts.Config == nil { // the demo configuration serves metrics
		after, problems, err := l.scrape()
		b0, b1 := metricValue(before, out6), metricValue(after, out6)
		moving := 0 // samples taken while the download ran, strictly between before and after
		for _, v := range during {
			if v > b0 && v < b1 {
				moving++
			}
		}
		rep.add("metrics at http://"+labMetrics+"/metrics", err == nil && len(problems) == 0 && b0 >= 0 && b1-b0 >= float64(n) && (moving > 0 || opts.HTTPBytes < 50<<20),
			"%s; bytes out on the IPv6 port %.0f -> %.0f, %d scrapes in between saw them move", lintVerdict(err, problems), b0, b1, moving)
	}
	if err := check(); err != nil {
		return rep, err
	}
	echoes, err := l.udpEchoes(opts.UDPEchoes)
	rep.add(fmt.Sprintf("UDP echo to %s:7", labVia6), err == nil && echoes == opts.UDPEchoes, "%d/%d back", echoes, opts.UDPEchoes)
	if err := check(); err != nil {
		return rep, err
	}
	n, sum, dur, err = l.download(l.s4, labClient4, "http://"+labServer6v4+":8080/demo.bin")
	want = payloadSHA(2, opts.HTTP6Bytes)
	rep.add(fmt.Sprintf("HTTP %d MB from IPv6-only %s via %s", opts.HTTP6Bytes>>20, labServer6, labServer6v4), err == nil && n == opts.HTTP6Bytes && sum == want,
		"%s, sha256 %s, %s", byteCount(n), shaVerdict(sum, want), rate(n, dur, err))
	state, mac := l.neighbor(l.c6, "-6", neighborTarget(opts, l.linkLocal))
	rep.add("client neighbor "+neighborTarget(opts, l.linkLocal), mac == l.n6mac && (state == "REACHABLE" || state == "STALE" || state == "DELAY"), "%s %s", mac, state)
	n4mac, _ := l.x.run("cat", "/sys/class/net/n4/address")
	state, mac = l.neighbor(l.s4, "-4", labClient6v4)
	rep.add("server neighbor "+labClient6v4, mac == strings.TrimSpace(n4mac) && (state == "REACHABLE" || state == "STALE" || state == "DELAY"), "%s %s", mac, state)
	ok, what := l.bare()
	rep.add("nat64br namespace", ok, "%s", what)
	if opts.TakeOver {
		v6, _ := l.x.run("cat", "/proc/sys/net/ipv6/conf/n6/disable_ipv6")
		took := strings.Contains(l.natOutput(), "take-over: flushed addresses") && strings.TrimSpace(v6) == "1"
		rep.add("take-over of the ports", took, "kernel IPv6 off, addresses flushed: %v", took)
	}
	ok, what = l.ctlCheck()
	rep.add("operator commands", ok, "%s", what)
	if opts.Offloads {
		ok, what = l.superFrameCheck(opts.PortTxCsum)
		rep.add("TCP super-frames passed whole", ok, "%s", what)
	}
	if opts.Reload {
		ok, what := l.ctlReloadCheck()
		rep.add("nat64br reload", ok, "%s", what)
		ok, what = l.reloadCheck()
		rep.add("SIGHUP reload", ok, "%s", what)
	}
	if opts.Garbage > 0 {
		traced := l.startTrace(dir, 50)
		sent, err := l.garbage(opts.Garbage)
		rep.add(fmt.Sprintf("malformed frames for %s", opts.Garbage), err == nil && sent > 0, "%d sent", sent)
		rtts, err := l.ping(labVia6, 3)
		rep.add("ping after the malformed frames", err == nil && len(rtts) == 3, "%d/3 replies", len(rtts))
		ok, what := traced()
		rep.add("nat64br trace of dropped frames", ok, "%s", what)
	}
	counters, err := l.stopNat64br()
	rep.counters = counters
	rep.add("nat64br stopped on SIGTERM", err == nil, "%s", errString(err, "clean"))
	return rep, nil
}

func neighborTarget(o Options, linkLocal string) string {
	if o.OnLink {
		return labVia6
	}
	return linkLocal
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func errString(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}

func median(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(time.Microsecond).String()
}

func byteCount(n int64) string { return fmt.Sprintf("%d bytes", n) }

func shaVerdict(got, want [32]byte) string {
	if got == want {
		return "matches"
	}
	return "MISMATCH " + hex.EncodeToString(got[:4])
}

func rate(n int64, d time.Duration, err error) string {
	if err != nil {
		return err.Error()
	}
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f Gbit/s", float64(n)*8/d.Seconds()/1e9)
}
