package lab

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The stateful passes of the lab, in the same topology:
//
//   - nat64: the IPv6 clients (2001:db8:6::2 and Clients more addresses)
//     share 192.0.2.1 (pool4) to reach the IPv4 server; the IPv4 client
//     reaches the IPv6-only web server through a port forward (static BIB)
//     at 192.0.2.1:8080; a UDP binding expires and a late reply is refused.
//   - dynamic: TAYGA's dynamic pool, each IPv6 client its own address of
//     192.0.2.64/26, kept across a restart of nat64br.

//go:embed demo-nat64.yaml
var demoNAT64Config string

const (
	labPool4       = "192.0.2.1"
	labLatePort    = 9000
	labDynamicPool = "192.0.2.64/26"
)

// dynamicConfig is the dynamic pass's configuration, its mappings kept in
// dir/data; its frames are spread over the workers by the kernel's flow
// hash.
func dynamicConfig(dir string) string {
	return strings.Replace(demoConfig, "eam:\n", "dynamic-pool: "+labDynamicPool+"\ndata-dir: "+filepath.Join(dir, "data")+"\nmapping-log: true\ndata-path:\n  spread: hash\neam:\n", 1)
}

func nat64Config(string) string { return demoNAT64Config }

// labClientAddr is the i-th extra IPv6 client address.
func labClientAddr(i int) string { return fmt.Sprintf("2001:db8:6::1:%x", i+1) }

// statefulPass runs the checks of the nat64 or dynamic pass, then stops
// nat64br and reads its counters.
func (l *lab) statefulPass(ctx context.Context, rep *Report, dir string) (*Report, error) {
	var err error
	switch l.opts.Stateful {
	case "nat64":
		err = l.nat64Checks(ctx, rep)
	case "dynamic":
		err = l.dynamicChecks(ctx, rep, dir)
	default:
		err = fmt.Errorf("no stateful pass %q", l.opts.Stateful)
	}
	if err != nil {
		return rep, err
	}
	ok, what := l.bare()
	rep.add("nat64br namespace", ok, "%s", what)
	counters, err := l.stopNat64br()
	rep.counters = counters
	rep.add("nat64br stopped on SIGTERM", err == nil, "%s", errString(err, "clean"))
	if l.opts.Stateful == "nat64" && l.opts.UDPExpiry {
		// The late reply is counted (and answered with port unreachable).
		rep.add("late reply counted", strings.Contains(counters, "reply_nat64_no_bib_entry="), "%s", counterValue(counters, "reply_nat64_no_bib_entry"))
	}
	return rep, nil
}

// counterValue returns "name=value" from a counters line, or "name absent".
func counterValue(counters, name string) string {
	for _, f := range strings.Fields(counters) {
		if strings.HasPrefix(f, name+"=") {
			return f
		}
	}
	return name + " absent"
}

// addClients gives the client namespace n more IPv6 addresses.
func (l *lab) addClients(n int) error {
	for i := range n {
		if _, err := l.c6.run("ip", "-6", "addr", "add", labClientAddr(i)+"/64", "dev", "eth0", "nodad"); err != nil {
			return err
		}
	}
	return nil
}

func (l *lab) nat64Checks(ctx context.Context, rep *Report) error {
	o := l.opts
	if err := l.addClients(o.Clients); err != nil {
		return err
	}
	// The UDP binding whose reply comes too late: started first, checked
	// last, so the other checks run while its lifetime passes.
	var late *lateUDP
	if o.UDPExpiry {
		var err error
		if late, err = l.startLateUDP(2*time.Minute + 5*time.Second); err != nil {
			return err
		}
		rep.add("UDP binding to "+labVia6+":9000", late.early, "early reply %s", map[bool]string{true: "back", false: "LOST"}[late.early])
	}
	rtts, err := l.ping(labVia6, 3)
	rep.add("ping "+labVia6+" through pool4", err == nil && len(rtts) == 3, "%d/3 replies, median %s", len(rtts), median(rtts))

	// Clients × Conns concurrent downloads, all through one pool4 address.
	var clients []string
	for i := range o.Clients {
		clients = append(clients, labClientAddr(i))
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var good, bad int
	var firstErr error
	want := payloadSHA(1, o.ConnBytes)
	for i, c := range clients {
		for j := range o.Conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				url := fmt.Sprintf("http://[%s]/c%d-%d?bytes=%d", labVia6, i, j, o.ConnBytes)
				n, sum, _, err := l.download(l.c6, c, url)
				mu.Lock()
				defer mu.Unlock()
				if err == nil && n == o.ConnBytes && sum == want {
					good++
					return
				}
				bad++
				if firstErr == nil {
					firstErr = fmt.Errorf("%s %s: %d bytes, %v", c, url, n, err)
				}
			}()
		}
	}
	wg.Wait()
	total := o.Clients * o.Conns
	rep.add(fmt.Sprintf("%d clients x %d TCP connections at once", o.Clients, o.Conns), good == total,
		"%d/%d complete, sha256 ok, %s in %s%s", good, total, byteCount(int64(good)*o.ConnBytes),
		time.Since(start).Round(time.Millisecond), errSuffix(firstErr))
	// What the IPv4 server saw: one address, a port per connection.
	addrs, ports := map[string]bool{}, map[string]bool{}
	l.seenMu.Lock()
	for path, remote := range l.seen {
		if strings.HasPrefix(path, "/c") {
			ap, err := netip.ParseAddrPort(remote)
			if err == nil {
				addrs[ap.Addr().String()] = true
				ports[remote] = true
			}
		}
	}
	l.seenMu.Unlock()
	var seenAddrs []string
	for a := range addrs {
		seenAddrs = append(seenAddrs, a)
	}
	sort.Strings(seenAddrs)
	rep.add("the IPv4 server saw", len(seenAddrs) == 1 && seenAddrs[0] == labPool4 && len(ports) == total,
		"%d connections from %s, %d distinct ports", total, strings.Join(seenAddrs, ","), len(ports))
	// The closed connections' sessions linger (TCP transitory state), as
	// do their bindings: the metrics show them.
	text, problems, err := l.scrape()
	sess := metricValue(text, `nat64br_nat64_sessions{proto="tcp"}`)
	used := metricValue(text, `nat64br_pool4_ports_used{address="`+labPool4+`",proto="tcp"}`)
	okCtl, what := l.ctlNATCheck(total)
	rep.add("nat64br sessions, bib, pool", okCtl, "%s", what)
	rep.add("metrics: TCP sessions and pool4 ports", err == nil && len(problems) == 0 && sess >= float64(total) && used >= float64(total),
		"%s; %.0f TCP sessions, %.0f TCP ports of %s bound", lintVerdict(err, problems), sess, used, labPool4)
	if err := ctx.Err(); err != nil {
		return err
	}
	echoes, err := l.udpEchoes(o.UDPEchoes)
	rep.add(fmt.Sprintf("UDP echo to %s:7", labVia6), err == nil && echoes == o.UDPEchoes, "%d/%d back", echoes, o.UDPEchoes)

	// The port forward: the IPv4 client reaches the IPv6-only server.
	n, sum, dur, err := l.download(l.s4, labClient4, "http://"+labPool4+":8080/forward.bin")
	want = payloadSHA(2, o.HTTP6Bytes)
	rep.add("IPv4 client to "+labServer6+" via static BIB "+labPool4+":8080", err == nil && n == o.HTTP6Bytes && sum == want,
		"%s, sha256 %s, %s", byteCount(n), shaVerdict(sum, want), rate(n, dur, err))

	ok, what := l.reloadKeepsSessions()
	rep.add("SIGHUP reload keeps sessions", ok, "%s", what)

	if late != nil {
		wait := time.Until(late.deadline)
		if wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		got := late.result()
		expired := l.waitLog("event=bib-expired proto=udp ipv6=["+labClient6+"]:", 3*time.Second)
		created := strings.Contains(l.natOutput(), "event=bib-created proto=udp ipv6=["+labClient6+"]:")
		rep.add("UDP binding after its 2 min lifetime", !got && expired && created,
			"late reply (%s after the last packet) %s; mapping log: created %v, expired %v", late.delay,
			map[bool]string{true: "DELIVERED", false: "not delivered"}[got], created, expired)
	}
	return nil
}

// reloadKeepsSessions opens a TCP connection through the NAT64, reloads a
// changed configuration (a new TCP lifetime) and uses the connection again:
// its session must have survived. So must it a reload that adds a pool4
// address.
func (l *lab) reloadKeepsSessions() (bool, string) {
	good, err := os.ReadFile(l.configPath)
	if err != nil {
		return false, err.Error()
	}
	defer os.WriteFile(l.configPath, good, 0o644)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(labClient6)}, Timeout: 5 * time.Second}
	var conn net.Conn
	if err := l.c6.do(func() (err error) { conn, err = dialer.Dial("tcp6", "["+labVia6+"]:80"); return err }); err != nil {
		return false, err.Error()
	}
	defer conn.Close()
	get := func(path string) error {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(conn, "GET %s?bytes=100 HTTP/1.1\r\nHost: lab\r\n\r\n", path); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(io.LimitReader(conn, 1<<20)), nil)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}
	if err := get("/keep1"); err != nil {
		return false, "before the reload: " + err.Error()
	}
	changed := strings.Replace(string(good), "timeouts:\n", "timeouts:\n  tcp-transitory: 5m\n", 1)
	if err := os.WriteFile(l.configPath, []byte(changed), 0o644); err != nil {
		return false, err.Error()
	}
	_ = l.nat.Process.Signal(unix.SIGHUP)
	if !l.waitLog("TCPTransitory:5m0s", 5*time.Second) {
		return false, "the changed file was not reloaded"
	}
	if err := get("/keep2"); err != nil {
		return false, "the connection died with the reload: " + err.Error()
	}
	l.seenMu.Lock()
	same := l.seen["/keep1"] != "" && l.seen["/keep1"] == l.seen["/keep2"]
	l.seenMu.Unlock()
	if !same {
		return false, "the second request came from another binding"
	}
	grown := strings.Replace(changed, "pool4: [192.0.2.1/32]", "pool4: [192.0.2.1/32, 192.0.2.9/32]", 1)
	if err := os.WriteFile(l.configPath, []byte(grown), 0o644); err != nil {
		return false, err.Error()
	}
	_ = l.nat.Process.Signal(unix.SIGHUP)
	if !l.waitLog("pool4: [192.0.2.1/32] -> [192.0.2.1/32 192.0.2.9/32]", 5*time.Second) {
		return false, "the pool4 change was not reloaded"
	}
	if err := get("/keep3"); err != nil {
		return false, "the connection died with the pool4 reload: " + err.Error()
	}
	l.seenMu.Lock()
	same = l.seen["/keep3"] == l.seen["/keep1"]
	l.seenMu.Unlock()
	if !same {
		return false, "after the pool4 reload, the request came from another binding"
	}
	return true, "a TCP connection lived through reloads of new timeouts and of a pool4 address added"
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return "; first error: " + err.Error()
}

// lateUDP is a UDP exchange whose server answers twice: at once, and again
// after delay, when the binding should be gone.
type lateUDP struct {
	early    bool
	delay    time.Duration
	deadline time.Time // when to look for the late reply
	mu       sync.Mutex
	got      bool
}

func (u *lateUDP) result() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got
}

// startLateUDP starts the server in the IPv4 namespace and the client's
// exchange with it.
func (l *lab) startLateUDP(delay time.Duration) (*lateUDP, error) {
	var srv *net.UDPConn
	if err := l.s4.do(func() (err error) {
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(labServer4), Port: labLatePort})
		return err
	}); err != nil {
		return nil, err
	}
	l.listeners = append(l.listeners, srv)
	go func() {
		buf := make([]byte, 1500)
		n, from, err := srv.ReadFromUDP(buf)
		if err != nil {
			return
		}
		_, _ = srv.WriteToUDP(append([]byte("early "), buf[:n]...), from)
		time.AfterFunc(delay, func() { _, _ = srv.WriteToUDP(append([]byte("late "), buf[:n]...), from) })
	}()
	c, err := dialUDP6(l.c6, labClient6, labVia6, labLatePort)
	if err != nil {
		return nil, err
	}
	l.listeners = append(l.listeners, c)
	u := &lateUDP{delay: delay, deadline: time.Now().Add(delay + 5*time.Second)}
	if _, err := c.Write([]byte("hello")); err != nil {
		return nil, err
	}
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := c.Read(buf); err == nil && strings.HasPrefix(string(buf[:n]), "early ") {
		u.early = true
	}
	go func() {
		_ = c.SetReadDeadline(u.deadline)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if strings.HasPrefix(string(buf[:n]), "late ") {
				u.mu.Lock()
				u.got = true
				u.mu.Unlock()
			}
		}
	}()
	return u, nil
}

// dynamicChecks gives each client a dynamic-pool address, restarts
// nat64br, and checks every client still has its address.
func (l *lab) dynamicChecks(ctx context.Context, rep *Report, dir string) error {
	o := l.opts
	if err := l.addClients(o.Clients); err != nil {
		return err
	}
	pool := netip.MustParsePrefix(labDynamicPool)
	round := func(tag string) (map[string]string, error) {
		got := map[string]string{}
		for i := range o.Clients {
			c := labClientAddr(i)
			path := fmt.Sprintf("/%s%d", tag, i)
			if _, _, _, err := l.download(l.c6, c, "http://["+labVia6+"]"+path+"?bytes=1000"); err != nil {
				return got, fmt.Errorf("%s: %w", c, err)
			}
			l.seenMu.Lock()
			ap, err := netip.ParseAddrPort(l.seen[path])
			l.seenMu.Unlock()
			if err != nil {
				return got, err
			}
			got[c] = ap.Addr().String()
		}
		return got, nil
	}
	before, err := round("before")
	distinct := map[string]bool{}
	inPool := true
	for _, a := range before {
		distinct[a] = true
		inPool = inPool && pool.Contains(netip.MustParseAddr(a))
	}
	rep.add(fmt.Sprintf("%d IPv6 clients, an address each", o.Clients), err == nil && len(distinct) == o.Clients && inPool,
		"%d distinct addresses of %s%s", len(distinct), labDynamicPool, errSuffix(err))
	if err != nil {
		return nil
	}
	// This pass's configuration leaves the spreading to the kernel's flow
	// hash: no program, so no worker is pinned.
	st, _, ok := l.status()
	pinned := "none pinned"
	if len(st.WorkerCPUs) > 0 {
		pinned = fmt.Sprintf("pinned to CPUs %v", st.WorkerCPUs)
	}
	rep.add("data-path.spread: hash", ok && st.Spread == "hash" && len(st.WorkerCPUs) == 0,
		"status says %d worker(s), spread by %s, %s", st.Workers, orNone(st.Spread), pinned)
	if err := ctx.Err(); err != nil {
		return err
	}
	// Restart: the mappings go to data-dir/dynamic.map and come back.
	if _, err := l.stopNat64br(); err != nil {
		return err
	}
	saved, _ := os.ReadFile(filepath.Join(dir, "data", "dynamic.map"))
	lines := 0
	for _, line := range strings.Split(string(saved), "\n") {
		if line != "" && line[0] != '#' {
			lines++
		}
	}
	rep.add("dynamic.map written at shutdown", lines == o.Clients, "%d mappings in TAYGA's format", lines)
	if err := l.startNat64br(dir); err != nil {
		return err
	}
	loaded := l.waitLog("dynamic pool mappings loaded", 3*time.Second) && strings.Contains(l.natOutput(), fmt.Sprintf("mappings=%d", o.Clients))
	after, err := round("after")
	same := err == nil
	for c, a := range before {
		same = same && after[c] == a
	}
	rep.add("after a restart", loaded && same, "loaded %v, every client has its address back: %v%s", loaded, same, errSuffix(err))
	return nil
}
