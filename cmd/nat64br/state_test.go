package main

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/xlat"
)

// syncBuffer is a log destination goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestLog() (*slog.Logger, *syncBuffer) {
	var b syncBuffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// natTranslator is a translator of cfgNAT64 with data-dir dir and the
// extra keys more.
func natTranslator(t *testing.T, dir, more string) (*xlat.Translator, *config.Config) {
	t.Helper()
	cfg, err := config.Parse("nat.yaml", []byte(cfgNAT64+"data-dir: \""+dir+"\"\n"+more))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := newTranslator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr, cfg
}

// natFlows sends a UDP flow from each of the hosts (source port 5000) and
// returns the IPv4 transport address each left from.
func natFlows(t *testing.T, tr *xlat.Translator, now time.Time, hosts ...string) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	buf := make([]byte, 2048)
	for _, h := range hosts {
		pkt := udpPkt(v6(h, s6, 64), 5000, 53, 10)
		copy(buf[128:], pkt)
		v := tr.Translate(buf, 128, len(pkt), xlat.Side6, now)
		if v.Action() != xlat.Forward {
			t.Fatalf("flow from %s: %v %v", h, v.Action(), v.Reason())
		}
		b := buf[v.Off:]
		out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), uint16(b[20])<<8|uint16(b[21])))
	}
	return out
}

// replyReaches sends the IPv4 server's reply to pub and reports whether
// it reaches host:5000.
func replyReaches(t *testing.T, tr *xlat.Translator, now time.Time, pub netip.AddrPort, host string) bool {
	t.Helper()
	pkt := udpPkt(v4(s4, pub.Addr().String(), 64), 53, pub.Port(), 10)
	buf := make([]byte, 2048)
	copy(buf[128:], pkt)
	v := tr.Translate(buf, 128, len(pkt), xlat.Side4, now)
	b := buf[v.Off:]
	return v.Action() == xlat.Forward && netip.AddrFrom16([16]byte(b[24:40])) == netip.MustParseAddr(host) && uint16(b[42])<<8|uint16(b[43]) == 5000
}

// TestNATStateRestart saves the tables at a stop and loads them at the
// next start: the hosts keep their bindings, and the replies find them.
func TestNATStateRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	tr, _ := natTranslator(t, dir, "")
	hosts := []string{"2001:db8:6::10", "2001:db8:6::11", "2001:db8:6::12"}
	pubs := natFlows(t, tr, now, hosts...)
	log, logged := newTestLog()
	s := newStateStore(dir, log)
	st, err := s.save(tr, now)
	if err != nil || st.Sessions != 3 || st.BIB != 3 {
		t.Fatalf("saved %+v: %v", st, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, natStateFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}

	tr2, _ := natTranslator(t, dir, "")
	later := now.Add(30 * time.Second)
	if !newStateStore(dir, log).load(tr2, later, false) {
		t.Fatalf("not loaded:\n%s", logged)
	}
	if !strings.Contains(logged.String(), `msg="NAT64 state loaded"`) || !strings.Contains(logged.String(), "bib=3 sessions=3 skipped_bib=0 skipped_sessions=0 skipped_by_cause=none") {
		t.Errorf("log:\n%s", logged)
	}
	for i, h := range hosts {
		if !replyReaches(t, tr2, later, pubs[i], h) {
			t.Errorf("the reply to %v does not reach %s after the restart", pubs[i], h)
		}
	}
	// A new host does not get a restored binding's port.
	if p := natFlows(t, tr2, later, "2001:db8:6::13")[0]; p == pubs[0] || p == pubs[1] || p == pubs[2] {
		t.Errorf("the new host got %v, a restored binding", p)
	}
}

// TestNATStateLoadProblems starts without a file, with a damaged one, and
// with one the configuration has changed under.
func TestNATStateLoadProblems(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := func(t *testing.T, dir string) {
		// The second host's port 5000 is taken: it gets another, kept
		// out of the narrowed range 6000-7000.
		tr, _ := natTranslator(t, dir, "pool4-ports: {udp: 4000-5998}\n")
		natFlows(t, tr, now, "2001:db8:6::10", "2001:db8:6::11")
		if _, err := newStateStore(dir, slog.New(slog.DiscardHandler)).save(tr, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		file   func(t *testing.T, dir string)
		more   string // configuration keys of the new start
		loaded bool
		logs   []string
		bad    bool // the file is kept aside
	}{
		{name: "no file", logs: []string{`level=INFO msg="NAT64 state: no saved tables, starting empty"`}},
		{name: "garbage", file: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, natStateFile), []byte("192.0.2.80\t2001:db8::69\t1795435200\n"), 0o600)
		}, logs: []string{`level=ERROR msg="NAT64 state: the saved tables are damaged, starting empty"`, "no NAT64BR magic", "kept_as="}, bad: true},
		{name: "truncated", file: func(t *testing.T, dir string) {
			good(t, dir)
			p := filepath.Join(dir, natStateFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-10], 0o600)
		}, logs: []string{"level=ERROR", "checksum"}, bad: true},
		{name: "same configuration, mapping-log", file: good, more: "mapping-log: true\n",
			loaded: true, logs: []string{"bib=2 sessions=2"}},
		{name: "port range narrowed, mapping-log", file: good, more: "mapping-log: true\npool4-ports: {udp: 6000-7000}\n", loaded: true,
			logs: []string{"bib=0 sessions=0 skipped_bib=2 skipped_sessions=2 skipped_by_cause=\"pool4_ports=2/2\"",
				`msg="NAT64 state: entry skipped" cause=pool4_ports proto=udp ipv6=[2001:db8:6::10]:5000 ipv4=192.0.2.1:5000`}},
		{name: "port range narrowed", file: good, more: "pool4-ports: {udp: 6000-7000}\n", loaded: true,
			logs: []string{"skipped_by_cause=\"pool4_ports=2/2\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != nil {
				tc.file(t, dir)
			}
			tr, cfg := natTranslator(t, dir, tc.more)
			log, logged := newTestLog()
			if got := newStateStore(dir, log).load(tr, now.Add(time.Second), cfg.MappingLog); got != tc.loaded {
				t.Errorf("loaded %v", got)
			}
			for _, want := range tc.logs {
				if !strings.Contains(logged.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logged)
				}
			}
			if n := strings.Count(logged.String(), "entry skipped"); !cfg.MappingLog && n != 0 {
				t.Errorf("%d lines an entry without mapping-log", n)
			}
			_, err := os.Stat(filepath.Join(dir, natStateFile+".bad"))
			if tc.bad != (err == nil) {
				t.Errorf("kept aside: %v, want %v", err == nil, tc.bad)
			}
			if !tc.loaded && tr.NATStats().Sessions != 0 {
				t.Errorf("%d sessions", tr.NATStats().Sessions)
			}
		})
	}
}

// TestNATStatePeriodic runs the periodic saves: the file is written every
// interval, and not at all with interval 0.
func TestNATStatePeriodic(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name     string
		interval time.Duration
		writes   bool
	}{
		{"every 20ms", 20 * time.Millisecond, true},
		{"only at stop", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tr, _ := natTranslator(t, dir, "")
			natFlows(t, tr, now, "2001:db8:6::10")
			log, logged := newTestLog()
			s := newStateStore(dir, log)
			s.tick = 5 * time.Millisecond
			s.start(func() *xlat.Translator { return tr }, tc.interval)
			defer s.close()
			path := filepath.Join(dir, natStateFile)
			var first time.Time
			deadline := time.Now().Add(3 * time.Second)
			if !tc.writes {
				deadline = time.Now().Add(200 * time.Millisecond)
			}
			for time.Now().Before(deadline) {
				if fi, err := os.Stat(path); err == nil {
					if first.IsZero() {
						first = fi.ModTime()
						natFlows(t, tr, now, "2001:db8:6::11")
					} else if fi.Size() > 48+21+42 {
						break // written again, with the new flow
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
			s.close()
			fi, err := os.Stat(path)
			switch {
			case tc.writes && (err != nil || fi.Size() != 48+21+2*42):
				t.Errorf("not written again with two sessions: %v %v\n%s", fi, err, logged)
			case !tc.writes && err == nil:
				t.Error("written with state-interval 0")
			}
		})
	}
}

// TestReloadReconcilesNAT reloads a configuration without the pool4
// address the bindings use: they are expired and logged, one line, and
// one a binding with mapping-log.
func TestReloadReconcilesNAT(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	// The second host's port 5000 is taken: it gets another one, kept
	// inside 4000-6000 so that the new range leaves out both.
	const ports = "pool4-ports: {udp: 4000-6000}\n"
	tr, _ := natTranslator(t, dir, ports)
	pubs := natFlows(t, tr, now, "2001:db8:6::10", "2001:db8:6::11")
	for _, more := range []string{"", "mapping-log: true\n"} {
		old := tr
		next, cfg := natTranslator(t, dir, more+"pool4-ports: {udp: 20000-30000}\n")
		if err := next.KeepState(old); err != nil {
			t.Fatal(err)
		}
		log, logged := newTestLog()
		(&runner{log: log}).reconcileNAT(next, cfg)
		if !strings.Contains(logged.String(), `msg="reload: NAT64 entries the configuration no longer allows expired" bib=2 sessions=2 by_cause="pool4_ports=2/2"`) {
			t.Errorf("log:\n%s", logged)
		}
		if n := strings.Count(logged.String(), `msg="reload: NAT64 entry expired" cause=pool4_ports proto=udp`); n != map[bool]int{false: 0, true: 2}[cfg.MappingLog] {
			t.Errorf("%d lines an entry (mapping-log %v):\n%s", n, cfg.MappingLog, logged)
		}
		if replyReaches(t, next, now, pubs[0], "2001:db8:6::10") {
			t.Error("an expired binding still forwards")
		}
		if p := natFlows(t, next, now, "2001:db8:6::10")[0]; p.Port() < 20000 || p.Port() > 30000 {
			t.Errorf("new binding %v outside the new ports", p)
		}
		tr, _ = natTranslator(t, dir, ports)
		pubs = natFlows(t, tr, now, "2001:db8:6::10", "2001:db8:6::11")
	}
}
