package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The lab's checks of the operator commands, run against the nat64br it
// started (the control socket is a file, reachable from any namespace).

// The parts of the --json replies the lab reads, decoded here rather than
// with nat64br's own types: the lab reads what an operator's script would.

// statusJSON is what the lab reads of status --json.
type statusJSON struct {
	PID        int    `json:"pid"`
	Workers    int    `json:"workers"`
	WorkerCPUs []int  `json:"worker_cpus"`
	Spread     string `json:"spread"`
	Ports      []struct {
		Link string `json:"link"`
	} `json:"ports"`
}

// statsJSON is what the lab reads of stats --json: the counters, and the
// ports' frame I/O counters (wire.Stats, whose fields carry no JSON tags).
type statsJSON struct {
	Counters map[string]uint64 `json:"counters"`
	Ports    map[string]struct {
		SuperFrames, SuperFramesPassed, SuperFramesSent, QdiscBypassOff, BadOffload, VLAN uint64
	} `json:"ports"`
	NAT64 *struct {
		Sessions, BIB int64 // now
	} `json:"nat64"`
}

// natListJSON is what the lab reads of bib --json and sessions --json.
type natListJSON struct {
	Entries []json.RawMessage `json:"entries"`
}

// ctl runs an operator command of the lab's nat64br binary against its
// control socket and returns its exit status and output.
func (l *lab) ctl(args ...string) (int, string) {
	out, err := exec.Command(l.opts.Nat64br, append(args, "--socket", l.controlSocket)...).CombinedOutput()
	code := 0
	if err != nil {
		code = -1
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			out = append(out, err.Error()...)
		}
	}
	return code, string(out)
}

// status runs status --json; ok is false if it failed or printed no
// status, out is what it printed.
func (l *lab) status() (st statusJSON, out string, ok bool) {
	code, out := l.ctl("status", "--json")
	ok = code == 0 && json.Unmarshal([]byte(out), &st) == nil
	return st, out, ok
}

// ctlCheck runs status, stats, neighbors and pool, in table and JSON form.
func (l *lab) ctlCheck() (bool, string) {
	code, out := l.ctl("status")
	if code != 0 || !strings.Contains(out, "n6") || !strings.Contains(out, "n4") || !strings.Contains(out, l.configPath) {
		return false, "status: " + out
	}
	st, out, ok := l.status()
	if !ok || len(st.Ports) != 2 || st.Ports[0].Link != "up" {
		return false, "status --json: " + out
	}
	var stats statsJSON
	if code, out = l.ctl("stats", "--json"); code != 0 || json.Unmarshal([]byte(out), &stats) != nil || stats.Counters["frames_in_ipv6"] == 0 {
		return false, "stats --json: " + out
	}
	if code, out = l.ctl("stats", "--explain"); code != 0 || !strings.Contains(out, "frames_in_ipv6") {
		return false, "stats --explain: " + out
	}
	var ns []json.RawMessage
	if code, out = l.ctl("neighbors", "--json"); code != 0 || json.Unmarshal([]byte(out), &ns) != nil || len(ns) == 0 {
		return false, "neighbors --json: " + out
	}
	if code, out = l.ctl("neighbors"); code != 0 || !strings.Contains(out, labServer4) {
		return false, "neighbors: " + out
	}
	if code, out = l.ctl("pool", "--json"); code != 0 || !json.Valid([]byte(out)) {
		return false, "pool --json: " + out
	}
	pinned := "workers not pinned"
	if len(st.WorkerCPUs) > 0 {
		if ok, what := idlePinned(st.PID, st.WorkerCPUs); !ok {
			return false, what
		}
		pinned = fmt.Sprintf("idle workers pinned to CPUs %v", st.WorkerCPUs)
	}
	return true, fmt.Sprintf("status (links %s/%s), stats (%d counters), neighbors (%d), pool: tables and --json; %s", st.Ports[0].Link, st.Ports[1].Link, len(stats.Counters), len(ns), pinned)
}

// idlePinned waits up to a second for each of cpus to have a thread of
// process pid that may run on it alone: a worker of an idle link pins
// itself to its CPU (nat64br's queueWorker).
func idlePinned(pid int, cpus []int) (bool, string) {
	for deadline := time.Now().Add(time.Second); ; time.Sleep(50 * time.Millisecond) {
		missing, alone := pinnedAlone(pid, cpus)
		if missing == 0 {
			return true, ""
		}
		if time.Now().After(deadline) {
			return false, fmt.Sprintf("status says the workers are pinned to CPUs %v, but %d of them have no thread pinned to them after a second of idle link (threads by allowed CPUs: %v)", cpus, missing, alone)
		}
	}
}

// pinnedAlone reads the allowed CPUs of each thread of process pid and
// returns how many of cpus have no thread that may run on that CPU alone,
// and the number of threads for each allowed-CPU list.
func pinnedAlone(pid int, cpus []int) (missing int, alone map[string]int) {
	alone = map[string]int{}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				alone[strings.TrimSpace(v)]++
			}
		}
	}
	for _, c := range cpus {
		if alone[strconv.Itoa(c)] == 0 {
			missing++
		}
	}
	return missing, alone
}

// pinWatch samples, while traffic flows, how many of the workers' CPUs
// have a thread pinned to them: a worker that has frames to translate
// must not stay pinned (nat64br's queueWorker), or the scheduler cannot move it
// away from the sender and receiver sharing its CPU.
type pinWatch struct {
	cpus          []int
	stop, stopped chan struct{}
	samples       int
	unpinned      int // samples in which some worker CPU had no thread pinned to it
}

// watchPins starts sampling nat64br's threads every 10 ms; it returns nil
// if status names no worker CPUs.
func (l *lab) watchPins() *pinWatch {
	st, _, ok := l.status()
	if !ok || len(st.WorkerCPUs) == 0 {
		return nil
	}
	w := &pinWatch{cpus: st.WorkerCPUs, stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
				if missing, _ := pinnedAlone(st.PID, w.cpus); missing > 0 {
					w.unpinned++
				}
				w.samples++
			}
		}
	}()
	return w
}

// minPinSamples is how many samples a transfer must last for the watch to
// judge it: the first and last may fall before the first frame or after
// the workers went back to sleep.
const minPinSamples = 4

// done stops the sampling and judges it.
func (w *pinWatch) done() (ok bool, what string) {
	close(w.stop)
	<-w.stopped
	if w.samples < minPinSamples {
		return true, fmt.Sprintf("transfer too short to judge: %d samples of the workers' CPUs %v", w.samples, w.cpus)
	}
	return w.unpinned > 0, fmt.Sprintf("%d of %d samples during the transfer had a worker CPU %v with no thread pinned to it", w.unpinned, w.samples, w.cpus)
}

// superFrameCheck reads the ports' counters: with the veths' offloads on,
// the senders' TCP super-frames must have gone through whole, none with
// offload metadata nat64br could not use; with portTxCsum, the ports
// could not take them as they were, and sending must have left
// PACKET_QDISC_BYPASS for the kernel's segmentation.
func (l *lab) superFrameCheck(portTxCsum bool) (bool, string) {
	var st statsJSON
	code, out := l.ctl("stats", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Ports) != 2 {
		return false, "stats --json: " + out
	}
	var passed, sent, bad, off, split uint64
	for _, p := range st.Ports {
		passed += p.SuperFramesPassed
		sent += p.SuperFramesSent
		bad += p.BadOffload
		off += p.QdiscBypassOff
		split += p.SuperFrames
	}
	ok := passed > 0 && sent > 0 && bad == 0 && (!portTxCsum || off > 0)
	return ok, fmt.Sprintf("%d received whole, %d sent whole, %d split in software, %d bad; queues that left qdisc bypass: %d", passed, sent, split, bad, off)
}

// ctlReloadCheck breaks the configuration file, asks for a reload with
// the CLI (refused, exit 1, the problem with its line), then restores it
// with a change (applied, and named).
func (l *lab) ctlReloadCheck() (bool, string) {
	good, err := os.ReadFile(l.configPath)
	if err != nil {
		return false, err.Error()
	}
	if err := os.WriteFile(l.configPath, append(append([]byte(nil), good...), "mtu:\n  ipv6: 900\n"...), 0o644); err != nil {
		return false, err.Error()
	}
	code, out := l.ctl("reload")
	if code != 1 || !strings.Contains(out, "reload refused") || !strings.Contains(out, "nat64br.yaml:") || !strings.Contains(out, "mtu.ipv6: 900 is outside") {
		return false, fmt.Sprintf("broken file: exit %d: %s", code, out)
	}
	changed := strings.Replace(string(good), "ipv4-addr:", "icmp-error-rate: 250\nipv4-addr:", 1)
	if err := os.WriteFile(l.configPath, []byte(changed), 0o644); err != nil {
		return false, err.Error()
	}
	code, out = l.ctl("reload")
	if code != 0 || !strings.Contains(out, "icmp-error-rate") {
		return false, fmt.Sprintf("changed file: exit %d: %s", code, out)
	}
	// Back to the lab's configuration.
	if err := os.WriteFile(l.configPath, good, 0o644); err != nil {
		return false, err.Error()
	}
	if code, out = l.ctl("reload"); code != 0 {
		return false, fmt.Sprintf("restoring the file: exit %d: %s", code, out)
	}
	return true, "broken file refused with its line (exit 1); a change applied and named"
}

// ctlNATCheck lists the NAT64 sessions and BIB entries and the pool.
func (l *lab) ctlNATCheck(minSessions int) (bool, string) {
	var sess natListJSON
	code, out := l.ctl("sessions", "--proto", "tcp", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &sess) != nil || len(sess.Entries) < minSessions {
		return false, fmt.Sprintf("sessions --proto tcp --json: exit %d, %.200s", code, out)
	}
	code, out = l.ctl("sessions", "--proto", "tcp", "--addr", labPool4)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d entries", len(sess.Entries))) {
		return false, "sessions --addr: " + lastLine(out)
	}
	var bib natListJSON
	if code, out = l.ctl("bib", "--json"); code != 0 || json.Unmarshal([]byte(out), &bib) != nil || len(bib.Entries) < minSessions {
		return false, "bib --json: " + lastLine(out)
	}
	if code, out = l.ctl("pool"); code != 0 || !strings.Contains(out, labPool4) {
		return false, "pool: " + out
	}
	return true, fmt.Sprintf("%d TCP sessions, %d BIB entries, pool4 %s listed", len(sess.Entries), len(bib.Entries), labPool4)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// startTrace runs nat64br trace for n dropped frames of any reason into
// a file of dir; wait returns the check's verdict once the frames came.
func (l *lab) startTrace(dir string, n int) (wait func() (bool, string)) {
	path := filepath.Join(dir, "drops.pcapng")
	done := make(chan string, 1)
	go func() {
		code, out := l.ctl("trace", "--count", fmt.Sprint(n), "--timeout", "30s", "--pcap", path)
		done <- fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(out))
	}()
	return func() (bool, string) {
		res := <-done
		f, err := os.Open(path)
		if err != nil {
			return false, res
		}
		defer f.Close()
		r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return false, err.Error()
		}
		reasons := map[string]int{}
		got := 0
		for {
			data, _, opts, err := r.ReadPacketDataWithOptions()
			if err != nil {
				break
			}
			if gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeEthernet) == nil || len(opts.Comments) != 1 {
				return false, "a traced frame without Ethernet header or reason"
			}
			got++
			if f := strings.Fields(opts.Comments[0]); len(f) > 2 {
				reasons[strings.TrimSuffix(f[2], ":")]++
			}
		}
		what := fmt.Sprintf("%d frames with their reasons (%d reasons)", got, len(reasons))
		if _, err := exec.LookPath("tshark"); err == nil {
			out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-e", "frame.comment").Output()
			lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1
			if err != nil || lines != got {
				return false, fmt.Sprintf("%s; tshark read %d comments: %v", what, lines, err)
			}
			what += "; tshark decodes them"
		}
		return got == n, what
	}
}
