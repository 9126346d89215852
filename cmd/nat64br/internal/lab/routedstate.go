package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The routed state pass: `data-dir` and `state-interval` keep the NAT64's
// sessions across a restart (SIGTERM, then the same command and file
// again, as systemctl restart does), and a pool4 reload leaves the
// sessions of the addresses it keeps alone.

const (
	rtTransfer     = 40 << 20 // bytes of a live transfer
	rtTransferRate = 5 << 20  // its bytes per second: 8 s
)

// stateConfig is the state pass's configuration, its state in dir. Its
// one client opens opts.Sessions (10,000) TCP connections, more than the
// per-host and per-/64 limits sized to pool4 allow (4095 and 16383 for its
// one address), so it lifts them as an operator would for such a host.
func stateConfig(dir string) string {
	return routedConfig("nat64", false, "data-dir: "+dir+"\nstate-interval: 1s\nlimits: {sessions-per-host: 0, sessions-per-64: 0}\n")
}

// stateChecks runs the pool4 reload check with the plain NAT64
// configuration (it needs no new key), then the restart checks with
// data-dir and state-interval.
func (r *routedLab) stateChecks(ctx context.Context, rep *Report) error {
	if r.start(rep, "NAT64 configuration", routedConfig("nat64", false, "")) {
		r.reloadTransfer(rep)
		r.stop(rep, "pool4 reloads")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data := filepath.Join(r.dir, "state")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	if !r.start(rep, "configuration with data-dir and state-interval", stateConfig(data)) {
		return nil
	}
	if err := r.restartTransfer(rep, data); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.manySessions(ctx, rep); err != nil {
		return err
	}
	r.stop(rep, "state")
	return nil
}

// transfer is a paced download from the server running in the background.
type transfer struct {
	done chan struct{}
	n    int64
	sum  [32]byte
	dur  time.Duration
	err  error
}

// startTransfer starts downloading rtTransfer bytes at rtTransferRate from
// the server's path; it is given up after a minute, or when no byte came
// for 15 s (a session lost for good).
func (r *routedLab) startTransfer(path string) *transfer {
	t := &transfer{done: make(chan struct{})}
	url := fmt.Sprintf("http://[%s]%s?bytes=%d&rate=%d", armVia6, path, rtTransfer, rtTransferRate)
	tr := r.c6.transport(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(labClient6)}, Timeout: 10 * time.Second})
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return stallConn{c, 15 * time.Second}, nil
	}
	go func() {
		defer close(t.done)
		t.n, t.sum, t.dur, t.err = fetch(&http.Client{Transport: tr, Timeout: time.Minute}, url)
	}()
	return t
}

// stallConn is a connection whose reads fail after stall without data.
type stallConn struct {
	net.Conn
	stall time.Duration
}

func (c stallConn) Read(b []byte) (int, error) {
	_ = c.SetReadDeadline(time.Now().Add(c.stall))
	return c.Conn.Read(b)
}

// verdict waits for the transfer and judges it.
func (t *transfer) verdict() (bool, string) {
	<-t.done
	want := payloadSHA(1, rtTransfer)
	ok := t.err == nil && t.n == rtTransfer && t.sum == want
	what := fmt.Sprintf("%s of %d MB at %d MB/s, sha256 %s in %s", byteCount(t.n), rtTransfer>>20, rtTransferRate>>20,
		shaVerdict(t.sum, want), t.dur.Round(100*time.Millisecond))
	return ok, what + errSuffix(t.err)
}

// sessionCounts says how many TCP sessions nat64br has: listed by
// sessions --proto tcp --json (and how many of those are established),
// and counted by stats --json.
func (r *routedLab) sessionCounts() string {
	code, out := r.ctl("sessions", "--proto", "tcp", "--json")
	var list struct {
		Entries []struct{ State string } `json:"entries"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		return fmt.Sprintf("sessions --json: exit %d: %s", code, lastLines(out, 1))
	}
	states := map[string]int{}
	for _, e := range list.Entries {
		states[strings.ToLower(e.State)]++
	}
	what := fmt.Sprintf("%d listed (", len(list.Entries))
	var keys []string
	for k := range states {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			what += ", "
		}
		what += fmt.Sprintf("%d %s", states[k], k)
	}
	what += ")"
	if st, err := r.counters(); err == nil && st.NAT64 != nil {
		what += fmt.Sprintf(", stats %d", st.NAT64.Sessions)
	}
	return what
}

// restart stops nat64br with SIGTERM and starts it again with the same
// file, as systemctl restart does, and returns how long it was away.
func (r *routedLab) restart() (time.Duration, error) {
	start := time.Now()
	if _, err := r.stopNat64br(); err != nil {
		return 0, err
	}
	if err := r.startNat64br(r.dir); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// restartTransfer restarts nat64br under a live TCP transfer: the transfer
// must complete with the right SHA-256.
func (r *routedLab) restartTransfer(rep *Report, data string) error {
	t := r.startTransfer("/restart")
	time.Sleep(2 * time.Second)
	before := r.sessionCounts()
	away, err := r.restart()
	if err != nil {
		<-t.done
		return err
	}
	after := r.sessionCounts()
	ok, what := t.verdict()
	rep.add("TCP transfer across a restart", ok, "%s; nat64br away %s; TCP sessions before: %s; after: %s; data-dir: %s",
		what, away.Round(time.Millisecond), before, after, dirList(data))
	return nil
}

// dirList names the files of dir and their sizes.
func dirList(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	var files []string
	for _, e := range ents {
		if info, err := e.Info(); err == nil {
			files = append(files, fmt.Sprintf("%s (%d bytes)", e.Name(), info.Size()))
		}
	}
	if len(files) == 0 {
		return "empty"
	}
	return strings.Join(files, ", ")
}

// reloadTransfer adds a second pool4 address with a reload under a live
// TCP transfer, then removes it (unused) with another: both reloads must
// be applied (nat64br answers router4's ARP for the address, then no
// longer), and the transfer must survive them.
func (r *routedLab) reloadTransfer(rep *Report) {
	good, err := os.ReadFile(r.configPath)
	if err != nil {
		rep.add("pool4 reloads", false, "%v", err)
		return
	}
	defer os.WriteFile(r.configPath, good, 0o644)
	n4, _ := r.x.run("cat", "/sys/class/net/n4/address")
	n4 = strings.TrimSpace(n4)
	t := r.startTransfer("/reload")
	reload := func(cfg string, owned bool) (bool, string) {
		if err := os.WriteFile(r.configPath, []byte(cfg), 0o644); err != nil {
			return false, err.Error()
		}
		code, out := r.ctl("reload")
		// Router4 asks anew who has the address.
		_, _ = r.r4.run("ip", "neigh", "del", rtPool4b, "dev", "x4")
		_, _ = pingTool(r.r4, "-4", "-c", "1", rtPool4b)
		state, mac := r.neighbor(r.r4, "-4", rtPool4b)
		answered := mac == n4
		return code == 0 && answered == owned, fmt.Sprintf("reload exit %d: %s; router4's neighbor %s: %s %s (nat64br's n4 is %s)",
			code, lastLines(out, 1), rtPool4b, orNone(mac), state, n4)
	}
	time.Sleep(1500 * time.Millisecond)
	grown := strings.Replace(string(good), "pool4: ["+armNat4+"/32]", "pool4: ["+armNat4+"/32, "+rtPool4b+"/32]", 1)
	ok, what := reload(grown, true)
	rep.add("pool4 reload: add "+rtPool4b, ok, "%s", what)
	ok, what = reload(string(good), false)
	rep.add("pool4 reload: remove "+rtPool4b+" (unused)", ok, "%s", what)
	ok, what = t.verdict()
	rep.add("TCP transfer across both pool4 reloads", ok, "%s", what)
}

// openFiles makes sure this process may open n files, raising its soft
// limit up to the hard one if need be.
func openFiles(n uint64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= n {
		return nil
	}
	if lim.Max < n {
		return fmt.Errorf("RLIMIT_NOFILE: this process may open %d files, it needs %d", lim.Max, n)
	}
	lim.Cur = n
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
}

// manySessions opens opts.Sessions TCP connections from the client to a
// line echo on the server and keeps them open across a restart of
// nat64br: each must still carry data after it.
func (r *routedLab) manySessions(ctx context.Context, rep *Report) error {
	n := r.opts.Sessions
	what := fmt.Sprintf("%d TCP sessions across a restart", n)
	// The server ends are the echo helper's; the client ends are ours.
	if err := openFiles(uint64(n + 1024)); err != nil {
		rep.add(what, false, "%v", err)
		return nil
	}
	if err := r.startEchoChild(r.s4, fmt.Sprintf("%s:%d", armServer4, rtEcho)); err != nil {
		rep.add(what, false, "%v", err)
		return nil
	}
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	// Open them, 64 at a time, within 2 minutes.
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(labClient6)}, Timeout: 10 * time.Second}
	dst := fmt.Sprintf("[%s]:%d", armVia6, rtEcho)
	opened, firstErr := parallel(dctx, n, 64, func(i int) error {
		return r.c6.do(func() (err error) { conns[i], err = dialer.DialContext(dctx, "tcp6", dst); return err })
	})
	cancel()
	dialed := time.Since(start)
	if opened < n {
		rep.add(what, false, "%d/%d connections opened in %s%s", opened, n, dialed.Round(time.Millisecond), errSuffix(firstErr))
		return ctx.Err()
	}
	// A line each way on every connection before the restart (the setup
	// works), and after it (the sessions were kept).
	echoedBefore, tookBefore, errBefore := echoAll(ctx, conns)
	if echoedBefore < n {
		rep.add(what, false, "%d opened in %s; only %d/%d echoed a line before the restart, in %s%s",
			opened, dialed.Round(time.Millisecond), echoedBefore, n, tookBefore.Round(time.Millisecond), errSuffix(errBefore))
		return ctx.Err()
	}
	before := r.sessionCounts()
	away, err := r.restart()
	if err != nil {
		return err
	}
	after := r.sessionCounts()
	echoed, took, firstErr := echoAll(ctx, conns)
	rep.add(what, echoed == n, "%d opened in %s, each echoed a line (%s); TCP sessions before the restart: %s; after: %s; nat64br away %s; %d/%d echoed a line after it, in %s%s",
		opened, dialed.Round(time.Millisecond), tookBefore.Round(time.Millisecond), before, after, away.Round(time.Millisecond),
		echoed, n, took.Round(time.Millisecond), errSuffix(firstErr))
	return ctx.Err()
}

// echoAll sends a line on each of conns, 128 at a time, and reads it back
// from the echo, all within 30 s; it returns how many came back, how long
// it took and the first error.
func echoAll(ctx context.Context, conns []net.Conn) (int, time.Duration, error) {
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	echoed, err := parallel(ctx, len(conns), 128, func(i int) error {
		c := conns[i]
		_ = c.SetDeadline(deadline)
		msg := fmt.Appendf(nil, "%d\n", i)
		if _, err := c.Write(msg); err != nil {
			return err
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if string(got) != string(msg) {
			return fmt.Errorf("connection %d echoed %q", i, got)
		}
		return nil
	})
	return echoed, time.Since(start), err
}

// parallel runs fn(0) to fn(n-1) on workers goroutines until ctx is done
// or 200 calls failed, and returns how many succeeded and the first error.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) (int, error) {
	var next, good, bad atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && bad.Load() < 200 {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					bad.Add(1)
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					continue
				}
				good.Add(1)
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return int(good.Load()), first
}
