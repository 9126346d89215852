package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/xlat"
)

// Measurements of the control plane's bounds, run by hand (make
// measure-control, docs/operation.md): they take minutes and gigabytes
// on the unbounded code, so they are skipped unless NAT64BR_MEASURE is
// set.

// statusKB returns a field of /proc/self/status, in kB.
func statusKB(field string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(procStatus(field)[field], " kB"))
	return n
}

func measureSkip(t *testing.T) {
	if os.Getenv("NAT64BR_MEASURE") == "" {
		t.Skip("a measurement: set NAT64BR_MEASURE=1 (make measure-control)")
	}
}

// TestMeasureListings fills the NAT64 tables with NAT64BR_SESSIONS
// sessions (1,000,000), serves them on a control socket, runs
// NAT64BR_CLIENTS (100) 'nat64br sessions --json' at once with the binary
// NAT64BR_BIN, and reports this process's peak RSS meanwhile and the
// slowest Translate of a packet of an existing session.
func TestMeasureListings(t *testing.T) {
	measureSkip(t)
	bin := os.Getenv("NAT64BR_BIN")
	if bin == "" {
		t.Fatal("NAT64BR_BIN: the nat64br binary the clients run")
	}
	n, clients := envInt("NAT64BR_SESSIONS", 1_000_000), envInt("NAT64BR_CLIENTS", 100)
	cfg, err := config.Parse("measure.yaml", []byte("mode: nat64\nprefix: 2001:db8:64::/96\npool4: [\"198.51.100.0/24\"]\n"+
		"ipv4-addr: 192.0.2.1\nlimits: {sessions: 4000000, bib-entries: 4000000, sessions-per-host: 0}\ncontrol-socket: /unused\n"))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newTranslator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	start := time.Now()
	buf := make([]byte, 2048)
	var probe []byte
	const perHost = 1000
	for h := 0; h*perHost < n; h++ {
		host := fmt.Sprintf("2001:db8:1::%x:%x", h>>16, h&0xffff)
		pkt := udpPkt(v6(host, s6, 64), 1024, 53, 10)
		if probe == nil {
			probe = slices.Clone(pkt)
		}
		for p := 0; p < perHost && h*perHost+p < n; p++ {
			pkt[40], pkt[41] = byte((1024+p)>>8), byte(1024+p) // the source port; the checksum is not checked
			copy(buf[128:], pkt)
			if v := tr.Translate(buf, 128, len(pkt), xlat.Side6, now); v.Action() != xlat.Forward {
				t.Fatalf("session %d: %v", h*perHost+p, v.Reason())
			}
		}
	}
	st := tr.NATStats()
	t.Logf("%d sessions made in %v (table %d MB)", st.Sessions, time.Since(start).Round(time.Millisecond), st.TableBytes>>20)
	// A walk of the whole table: the 256 longest gaps between two entries
	// are the shards' copies, each made under that shard's lock (and any
	// preemption meanwhile).
	var gaps []time.Duration
	last := time.Now()
	tr.Sessions(xlat.NATFilter{}, func(xlat.NATEntry) bool {
		gaps = append(gaps, time.Since(last))
		last = time.Now()
		return true
	})
	slices.Sort(gaps)
	slices.Reverse(gaps)
	t.Logf("a walk of %d sessions: a shard's copy under its lock (the 256 longest gaps between two entries): median %v, max %v",
		len(gaps), gaps[min(128, len(gaps)-1)], gaps[0])
	l := newMemLabWith(t, cfg, tr)
	r := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), cfg: cfg, d: l.d, started: time.Now()}
	sock := filepath.Join(t.TempDir(), "control.sock")
	c, err := startControl(r, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	runtime.GC()
	rssBefore := statusKB("VmRSS")
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets VmHWM
	guard := rssGuard(t, envInt("NAT64BR_MEASURE_MAX_MB", 6000))
	defer close(guard)

	// The data path meanwhile: a packet of an existing session, again and
	// again, timed.
	stop := make(chan struct{})
	var lat []time.Duration
	var probeDone sync.WaitGroup
	probeDone.Add(1)
	go func() {
		defer probeDone.Done()
		pb := make([]byte, 2048)
		for {
			select {
			case <-stop:
				return
			default:
			}
			copy(pb[128:], probe)
			s := time.Now()
			tr.Translate(pb, 128, len(probe), xlat.Side6, now)
			lat = append(lat, time.Since(s))
			time.Sleep(100 * time.Microsecond)
		}
	}()

	start = time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed, bytes int
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bin, "sessions", "--json", "--socket", sock)
			out, _ := cmd.StdoutPipe()
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Error(err)
				return
			}
			k, _ := io.Copy(io.Discard, out)
			err := cmd.Wait()
			mu.Lock()
			bytes += int(k)
			if err != nil {
				failed++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(stop)
	probeDone.Wait()
	slices.Sort(lat)
	q := func(f float64) time.Duration { return lat[int(f*float64(len(lat)-1))] }
	t.Logf("%d clients in %v, %d failed, %d MB listed; RSS %d MB before, peak %d MB, %d MB after",
		clients, took.Round(time.Millisecond), failed, bytes>>20, rssBefore>>10, statusKB("VmHWM")>>10, statusKB("VmRSS")>>10)
	t.Logf("Translate of an existing session meanwhile: %d probes, median %v, p99 %v, p99.9 %v, max %v", len(lat), q(0.5), q(0.99), q(0.999), q(1))
}

// TestMeasureMetricsConns has a child process (TestMeasureMetricsClients)
// open NAT64BR_CONNS (19,900: the descriptor limit here is 20,000)
// connections to the metrics endpoint, each sending a request and then
// keeping its connection open, and reports the descriptors and RSS of
// this process that are the server's, and whether a scrape still gets an
// answer.
func TestMeasureMetricsConns(t *testing.T) {
	measureSkip(t)
	n := envInt("NAT64BR_CONNS", 19900)
	l := newMemLab(t)
	r := l.runner(t, t.TempDir())
	m, err := startMetrics(r, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	runtime.GC()
	fds := func() int { e, _ := os.ReadDir("/proc/self/fd"); return len(e) }
	fdBefore, rssBefore := fds(), statusKB("VmRSS")
	child := exec.Command(os.Args[0], "-test.run=^TestMeasureMetricsClients$", "-test.v")
	child.Env = append(os.Environ(), "NAT64BR_MEASURE_ADDR="+m.ln.Addr().String(), "NAT64BR_CONNS="+strconv.Itoa(n))
	in, _ := child.StdinPipe()
	out, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer in.Close()
	start := time.Now()
	sc := bufio.NewScanner(out)
	opened := ""
	for sc.Scan() {
		if o, ok := strings.CutPrefix(sc.Text(), "opened: "); ok {
			opened = o
			break
		}
	}
	peak := 0
	for range 30 { // 3 s
		peak = max(peak, fds()-fdBefore)
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s, in %v; the server's descriptors: %d at most in the next 3 s, %d now; RSS %d MB before, %d MB now",
		opened, time.Since(start).Round(time.Millisecond), peak, fds()-fdBefore, rssBefore>>10, statusKB("VmRSS")>>10)
	if f, err := os.Open("/proc/self/status"); err != nil {
		t.Logf("opening a file meanwhile: %v", err)
	} else {
		f.Close()
	}
	s := time.Now()
	c, err := net.DialTimeout("tcp", m.ln.Addr().String(), 5*time.Second)
	got := "no connection: " + fmt.Sprint(err)
	if err == nil {
		c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err = bufio.NewReader(c).ReadString('\n')
		if err != nil {
			got = err.Error()
		}
		c.Close()
	}
	t.Logf("a scrape meanwhile: %q after %v", strings.TrimSpace(got), time.Since(s).Round(time.Millisecond))
}

// TestMeasureMetricsClients is TestMeasureMetricsConns's child: it opens
// the connections, says how many, and holds them until its input ends.
func TestMeasureMetricsClients(t *testing.T) {
	addr := os.Getenv("NAT64BR_MEASURE_ADDR")
	if addr == "" {
		t.Skip("the child of TestMeasureMetricsConns")
	}
	n := envInt("NAT64BR_CONNS", 19900)
	var conns []net.Conn
	var mu sync.Mutex
	refused := 0
	start := time.Now()
	var wg sync.WaitGroup
	const dialers = 200
	for d := range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := d; i < n && time.Since(start) < 2*time.Minute; i += dialers {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				mu.Lock()
				if err != nil {
					refused++
				} else {
					c.Write([]byte("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"))
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("opened: %d connections open, %d not within 1 s\n", len(conns), refused)
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// rssGuard exits the test binary, saying so, if its RSS passes maxMB
// (the machine is shared): the unbounded listings grew to 11.9 GB. It
// stops when the returned channel is closed.
func rssGuard(t *testing.T, maxMB int) chan struct{} {
	stop := make(chan struct{})
	start := time.Now()
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if rss := statusKB("VmRSS") >> 10; rss > maxMB {
				fmt.Printf("RSS %d MB passed NAT64BR_MEASURE_MAX_MB (%d) after %v: stopped\n", rss, maxMB, time.Since(start).Round(time.Millisecond))
				os.Exit(3)
			}
		}
	}()
	return stop
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
