package xlat_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// stateOptions are natOptions with a port forward: [2001:db8:1::80]:8080
// is reached at 203.0.113.1:80 over TCP.
func stateOptions() xlat.Options {
	o := natOptions()
	o.NAT.StaticBIB = []xlat.StaticBIB{{Proto: 6, IPv6: netip.MustParseAddrPort("[2001:db8:1::80]:8080"), IPv4: netip.MustParseAddrPort(pub + ":80")}}
	return o
}

// populate makes five sessions, each with its own BIB entry: UDP from
// cli:5000 and cli2:5001 (bound to pub:5000 and pub:5001, ports being
// kept), a TCP connection from cli:40000 (established), an echo from cli
// (identifier 77), and a TCP connection through the port forward
// (established).
func populate(t testing.TB, r *natRig) {
	t.Helper()
	for _, p := range []struct {
		from xlat.Side
		pkt  []byte
	}{
		{xlat.Side6, udp6(cli, 5000, srv6, 53)},
		{xlat.Side6, udp6(cli2, 5001, srv6, 53)},
		{xlat.Side6, tcp6(cli, 40000, srv6, 80, "S")},
		{xlat.Side4, tcp4(srv4, 80, pub, 40000, "SA")},
		{xlat.Side6, natEcho6(cli, 77)},
		{xlat.Side4, tcp4(srv4, 50000, pub, 80, "S")},
		{xlat.Side6, tcp6("2001:db8:1::80", 8080, srv6, 50000, "SA")},
	} {
		if v, _ := r.send(p.from, p.pkt); v.Action() != xlat.Forward {
			t.Fatalf("populating: %v %v", v.Action(), v.Reason())
		}
	}
	if st := r.tr.NATStats(); st.Sessions != 5 || st.BIB != 5 {
		t.Fatalf("populated %d sessions, %d BIB entries", st.Sessions, st.BIB)
	}
}

func natEcho6(src string, id uint16) []byte {
	ip := xlattest.IPv6(src, srv6, layers.IPProtocolICMPv6)
	return xlattest.Serialize(ip, xlattest.ICMPv6(128, 0, ip), &layers.ICMPv6Echo{Identifier: id, SeqNumber: 1}, xlattest.Payload(16))
}

// listNAT returns the sessions (or the BIB entries) of tr, sorted.
func listNAT(tr *xlat.Translator, sessions bool) []xlat.NATEntry {
	var out []xlat.NATEntry
	fn := func(e xlat.NATEntry) bool { out = append(out, e); return true }
	if sessions {
		tr.Sessions(xlat.NATFilter{}, fn)
	} else {
		tr.BIB(xlat.NATFilter{}, fn)
	}
	slices.SortFunc(out, func(a, b xlat.NATEntry) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return out
}

func save(t testing.TB, tr *xlat.Translator, now time.Time) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := tr.SaveNAT(&b, now); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestNATStateRoundTrip saves the tables and loads them into a new
// translator: the same BIB and sessions, expiring at the same wall-clock
// times, and the flows go on.
func TestNATStateRoundTrip(t *testing.T) {
	r := newRig(t, stateOptions())
	populate(t, r)
	r.now = r.now.Add(10 * time.Second)
	data := save(t, r.tr, r.now)
	if want := 48 + 5*(31+11) + 21; len(data) != want {
		t.Errorf("%d bytes, want %d", len(data), want)
	}

	r2 := newRig(t, stateOptions())
	r2.now = r.now.Add(time.Minute) // down for a minute: the echo's 60 s ran out
	var skipped []string
	st, err := r2.tr.LoadNAT(data, r2.now, func(e xlat.NATEntry, why xlat.NATDrop) {
		skipped = append(skipped, fmt.Sprint(why, " ", e.Proto, " ", e.IPv6))
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.BIB != 4 || st.Sessions != 4 || st.DroppedBIB[xlat.NATDropExpired] != 1 || st.DroppedSessions[xlat.NATDropExpired] != 1 {
		t.Errorf("stats %+v", st)
	}
	if want := []string{"expired icmp [" + cli + "]:77"}; !slices.Equal(skipped, want) {
		t.Errorf("skipped %q, want %q", skipped, want)
	}
	isICMP := func(e xlat.NATEntry) bool { return e.Proto == "icmp" }
	for _, sessions := range []bool{true, false} {
		if diff := diffEntries(slices.DeleteFunc(listNAT(r.tr, sessions), isICMP), listNAT(r2.tr, sessions)); diff != "" {
			t.Errorf("after the load, sessions %v (-saved +loaded):\n%s", sessions, diff)
		}
	}
	if got := r2.tr.NATStats(); got.Sessions != 4 || got.BIB != 4 || got.SessionsCreated != 0 {
		t.Errorf("NATStats %+v", got)
	}
	// The flows go on: replies find their hosts, the hosts keep their
	// bindings, and the restored ports are not handed out again.
	v, out := r2.send(xlat.Side4, udp4(srv4, 53, pub, 5000))
	want(t, v, xlat.Forward, xlat.Side6)
	if _, dst := ends(t, out); dst != netip.MustParseAddrPort("["+cli+"]:5000") {
		t.Errorf("reply to %v", dst)
	}
	v, _ = r2.send(xlat.Side4, tcp4(srv4, 80, pub, 40000, "A"))
	want(t, v, xlat.Forward, xlat.Side6)
	_, out = r2.send(xlat.Side6, udp6("2001:db8:1::30", 5000, srv6, 53))
	if src, _ := ends(t, out); src.Port() == 5000 {
		t.Error("a restored port was handed out again")
	}
	if use := r2.tr.Pool4Usage(nil); len(use) != 3 || use[0].Used != 2 || use[1].Used != 3 || use[2].Used != 0 {
		t.Errorf("pool4 use %+v: want 2 TCP (a dynamic binding and the port forward), 3 UDP and 0 ICMP ports", use)
	}
	checkPool4(t, r2.tr)
	// Four restored bindings and the new one: five records again.
	again := save(t, r2.tr, r2.now)
	if len(again) != len(data) {
		t.Errorf("saved again: %d bytes, want %d", len(again), len(data))
	}
}

// TestNATStateFilter loads a state file, and reloads the tables it came
// from, under changed configurations: what they no longer allow goes, the
// rest stays with its sessions.
func TestNATStateFilter(t *testing.T) {
	type drops map[xlat.NATDrop]int // BIB entries dropped (each had one session)
	for _, tc := range []struct {
		name   string
		change func(*xlat.Options)
		down   time.Duration // load only
		drops  drops
		only   string // "load" or "reload": the case applies to that only
		check  func(t *testing.T, r *natRig)
	}{
		{name: "same configuration", drops: drops{}},
		{name: "down longer than UDP and ICMP lifetimes", down: 6 * time.Minute, only: "load", drops: drops{xlat.NATDropExpired: 3}},
		{name: "prefix changed", change: func(o *xlat.Options) { o.Prefix = netip.MustParsePrefix("64:ff9b:1::/96") },
			drops: drops{xlat.NATDropPrefix: 5}},
		{name: "pool4 address replaced", change: func(o *xlat.Options) {
			o.NAT.Pool4 = []netip.Prefix{netip.MustParsePrefix("203.0.113.2/32")}
			o.NAT.StaticBIB = nil
		}, drops: drops{xlat.NATDropPool4: 5}, check: func(t *testing.T, r *natRig) {
			_, out := r.send(xlat.Side6, udp6(cli, 5000, srv6, 53))
			if src, _ := ends(t, out); src != netip.MustParseAddrPort("203.0.113.2:5000") {
				t.Errorf("new binding %v, want 203.0.113.2:5000", src)
			}
		}},
		{name: "pool4 address added", change: func(o *xlat.Options) {
			o.NAT.Pool4 = append(o.NAT.Pool4, netip.MustParsePrefix("203.0.113.2/32"))
		}, drops: drops{}, check: func(t *testing.T, r *natRig) {
			for _, u := range r.tr.Pool4Usage(nil) {
				if u.Addr.String() == pub && u.Used != map[string]int{"tcp": 2, "udp": 2, "icmp": 1}[u.Proto] {
					t.Errorf("pool4 use %+v", u)
				}
			}
		}},
		{name: "UDP ports narrowed", change: func(o *xlat.Options) { o.NAT.UDPPorts = xlat.PortRange{Lo: 2000, Hi: 3000} },
			drops: drops{xlat.NATDropPorts: 2}, check: func(t *testing.T, r *natRig) {
				_, out := r.send(xlat.Side6, udp6(cli, 5000, srv6, 53))
				if src, _ := ends(t, out); src.Port() < 2000 || src.Port() > 3000 {
					t.Errorf("new binding %v outside 2000-3000", src)
				}
			}},
		{name: "static-bib entry removed", change: func(o *xlat.Options) { o.NAT.StaticBIB = nil }, drops: drops{xlat.NATDropStatic: 1},
			check: func(t *testing.T, r *natRig) {
				if v, _ := r.send(xlat.Side4, tcp4(srv4, 50001, pub, 80, "S")); v.Action() == xlat.Forward {
					t.Error("the removed port forward still forwards")
				}
			}},
		{name: "static-bib entry moved", change: func(o *xlat.Options) {
			o.NAT.StaticBIB[0].IPv6 = netip.MustParseAddrPort("[2001:db8:1::81]:8080")
		}, drops: drops{xlat.NATDropStatic: 1}, check: func(t *testing.T, r *natRig) {
			_, out := r.send(xlat.Side4, tcp4(srv4, 50001, pub, 80, "S"))
			if _, dst := ends(t, out); dst != netip.MustParseAddrPort("[2001:db8:1::81]:8080") {
				t.Errorf("port forward to %v", dst)
			}
		}},
		{name: "static-bib entry on a dynamic binding's IPv4 side", change: func(o *xlat.Options) {
			o.NAT.StaticBIB = append(o.NAT.StaticBIB, xlat.StaticBIB{Proto: 17, IPv6: netip.MustParseAddrPort("[2001:db8:1::99]:53"), IPv4: netip.MustParseAddrPort(pub + ":5000")})
		}, drops: drops{xlat.NATDropStaticClash: 1}, check: func(t *testing.T, r *natRig) {
			_, out := r.send(xlat.Side4, udp4(srv4, 53, pub, 5000))
			if _, dst := ends(t, out); dst != netip.MustParseAddrPort("[2001:db8:1::99]:53") {
				t.Errorf("port forward to %v", dst)
			}
		}},
		{name: "static-bib entry on a dynamic binding's IPv6 side", change: func(o *xlat.Options) {
			o.NAT.StaticBIB = append(o.NAT.StaticBIB, xlat.StaticBIB{Proto: 17, IPv6: netip.MustParseAddrPort("[" + cli + "]:5000"), IPv4: netip.MustParseAddrPort(pub + ":7000")})
		}, drops: drops{xlat.NATDropStaticClash: 1}, check: func(t *testing.T, r *natRig) {
			_, out := r.send(xlat.Side6, udp6(cli, 5000, srv6, 53))
			if src, _ := ends(t, out); src != netip.MustParseAddrPort(pub+":7000") {
				t.Errorf("static binding left as %v", src)
			}
		}},
		{name: "session limit", change: func(o *xlat.Options) { o.NAT.MaxSessions = 2 }, only: "load", drops: drops{xlat.NATDropLimit: 3}},
		{name: "BIB limit", change: func(o *xlat.Options) { o.NAT.MaxBIB = 2 }, only: "load", drops: drops{xlat.NATDropLimit: 3}},
		{name: "per-host limit", change: func(o *xlat.Options) { o.NAT.MaxSessionsPerHost = 1 }, only: "load", drops: drops{xlat.NATDropLimit: 2}},
		{name: "lower limits reloaded", change: func(o *xlat.Options) { o.NAT.MaxSessions = 2; o.NAT.MaxSessionsPerHost = 1 },
			drops: drops{}, only: "reload", check: func(t *testing.T, r *natRig) {
				// Nothing went; new flows are refused until the tables are
				// under the limits again.
				if v, _ := r.send(xlat.Side6, udp6("2001:db8:2::1", 1, srv6, 53)); v.Reason() != xlat.ReasonSessionLimit && v.Reason() != xlat.ReasonHostLimit {
					t.Errorf("a new flow over the limit: %v %v", v.Action(), v.Reason())
				}
				v, _ := r.send(xlat.Side6, udp6(cli, 5000, srv6, 53))
				want(t, v, xlat.Forward, xlat.Side4)
			}},
		{name: "clients narrowed", change: func(o *xlat.Options) { o.Clients = []netip.Prefix{netip.MustParsePrefix(cli + "/128")} },
			// cli2's binding goes; the port forward to 2001:db8:1::80
			// stays, as configured (check-config warns about it).
			drops: drops{xlat.NATDropClients: 1}, check: func(t *testing.T, r *natRig) {
				if v, _ := r.send(xlat.Side4, udp4(srv4, 53, pub, 5001)); v.Action() == xlat.Forward {
					t.Error("the removed client's binding still forwards")
				}
			}},
		{name: "UDP lifetime shortened", change: func(o *xlat.Options) { o.NAT.UDPTimeout = 2 * time.Minute },
			drops: drops{}, check: func(t *testing.T, r *natRig) {
				for _, e := range listNAT(r.tr, true) {
					if e.Proto == "udp" && e.Expires.After(r.now.Add(2*time.Minute)) {
						t.Errorf("%v expires at %v, after the new lifetime", e.IPv6, e.Expires)
					}
				}
			}},
	} {
		run := func(t *testing.T, load bool) {
			r := newRig(t, stateOptions())
			populate(t, r)
			o := stateOptions()
			if tc.change != nil {
				tc.change(&o)
			}
			next, err := xlat.New(o)
			if err != nil {
				t.Fatal(err)
			}
			var st xlat.NATStateStats
			if load {
				data := save(t, r.tr, r.now)
				r.now = r.now.Add(tc.down + time.Second)
				if st, err = next.LoadNAT(data, r.now, nil); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := next.KeepState(r.tr); err != nil {
					t.Fatal(err)
				}
				var errs []error
				if st, errs = next.Reconcile(r.now, nil); len(errs) != 0 {
					t.Fatal(errs)
				}
			}
			r.tr = next
			got, total := drops{}, 0
			for why, n := range st.DroppedBIB {
				if n != 0 {
					got[xlat.NATDrop(why)] = n
					total += n
				}
				if st.DroppedSessions[why] != n {
					t.Errorf("%v: %d BIB entries, %d sessions", xlat.NATDrop(why), n, st.DroppedSessions[why])
				}
			}
			if !maps(got, tc.drops) {
				t.Errorf("dropped %v, want %v", got, tc.drops)
			}
			if st.Sessions != 5-total || int(r.tr.NATStats().Sessions) != 5-total {
				t.Errorf("kept %d sessions (tables: %d), want %d", st.Sessions, r.tr.NATStats().Sessions, 5-total)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
			checkPool4(t, r.tr)
		}
		if tc.only != "reload" {
			t.Run("load/"+tc.name, func(t *testing.T) { run(t, true) })
		}
		if tc.only != "load" {
			t.Run("reload/"+tc.name, func(t *testing.T) { run(t, false) })
		}
	}
}

// diffEntries lists the entries only one of a and b holds, as -a and +b
// lines.
func diffEntries(a, b []xlat.NATEntry) string {
	var out strings.Builder
	in := func(e xlat.NATEntry, l []xlat.NATEntry) bool { return slices.Contains(l, e) }
	for _, e := range a {
		if !in(e, b) {
			fmt.Fprintf(&out, "-%+v\n", e)
		}
	}
	for _, e := range b {
		if !in(e, a) {
			fmt.Fprintf(&out, "+%+v\n", e)
		}
	}
	return out.String()
}

func maps[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkPool4 requires every BIB entry to have its own IPv4 transport
// address, and pool4 to count as used exactly the ports they hold.
func checkPool4(t *testing.T, tr *xlat.Translator) {
	t.Helper()
	seen := map[string]bool{}
	used := map[string]int{}
	for _, e := range listNAT(tr, false) {
		k := e.Proto + " " + e.IPv4.String()
		if seen[k] {
			t.Errorf("%s bound twice", k)
		}
		seen[k] = true
		used[e.Proto+" "+e.IPv4.Addr().String()]++
	}
	for _, u := range tr.Pool4Usage(nil) {
		if k := u.Proto + " " + u.Addr.String(); used[k] != u.Used {
			t.Errorf("pool4 %s: %d ports used, %d bound", k, u.Used, used[k])
		}
	}
}

// TestNATStateDamaged loads damaged and hostile files: each is an error
// that names the problem, and the tables stay empty.
func TestNATStateDamaged(t *testing.T) {
	r := newRig(t, stateOptions())
	populate(t, r)
	good := save(t, r.tr, r.now)
	// reseal fixes the checksum of a file changed on purpose.
	reseal := func(b []byte) []byte {
		binary.BigEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crc32.MakeTable(crc32.Castagnoli)))
		return b
	}
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty", nil, xlat.ErrNATState, "no NAT64BR magic"},
		{"text", []byte("# dynamic.map\n"), xlat.ErrNATState, "no NAT64BR magic"},
		{"header only", good[:48], xlat.ErrNATState, "shorter than a header and a trailer"},
		{"truncated", good[:len(good)-30], xlat.ErrNATState, "checksum"},
		{"last byte gone", good[:len(good)-1], xlat.ErrNATState, "checksum"},
		{"bit flipped", edit(func(b []byte) []byte { b[70] ^= 4; return b }), xlat.ErrNATState, "checksum"},
		{"version 2", edit(func(b []byte) []byte { b[9] = 2; return reseal(b) }), xlat.ErrNATStateVersion, "version 2"},
		{"unknown flags", edit(func(b []byte) []byte { b[11] = 1; return reseal(b) }), xlat.ErrNATState, "flags"},
		{"bad record type", edit(func(b []byte) []byte { b[48] = 'X'; return reseal(b) }), xlat.ErrNATState, "record at byte 48"},
		{"bad protocol", edit(func(b []byte) []byte { b[49] = 3; return reseal(b) }), xlat.ErrNATState, "protocol 3"},
		{"bad BIB flags", edit(func(b []byte) []byte { b[50] = 2; return reseal(b) }), xlat.ErrNATState, "flags 0x2"},
		{"no sessions", edit(func(b []byte) []byte { binary.BigEndian.PutUint32(b[48+27:], 0); return reseal(b) }), xlat.ErrNATState, "no sessions"},
		{"too many sessions", edit(func(b []byte) []byte { binary.BigEndian.PutUint32(b[48+27:], 1<<32-1); return reseal(b) }), xlat.ErrNATState, "do not fit"},
		{"trailer count", edit(func(b []byte) []byte { b[len(b)-6]++; return reseal(b) }), xlat.ErrNATState, "the trailer says"},
		{"no trailer", edit(func(b []byte) []byte { b[len(b)-21] = 'B'; return reseal(b) }), xlat.ErrNATState, "no trailer"},
		{"garbage after the trailer", reseal(append(append([]byte(nil), good...), make([]byte, 25)...)), xlat.ErrNATState, ""},
		{"a session's TCP state", edit(func(b []byte) []byte {
			for off := 48; off < len(b)-21; {
				n := int(binary.BigEndian.Uint32(b[off+27:]))
				if b[off+1] == 0 {
					b[off+31+6] = 9
					break
				}
				off += 31 + 11*n
			}
			return reseal(b)
		}), xlat.ErrNATState, "TCP state 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh := newRig(t, stateOptions())
			_, err := fresh.tr.LoadNAT(tc.data, fresh.now, nil)
			if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.msg) {
				t.Fatalf("error %v, want %v with %q", err, tc.want, tc.msg)
			}
			if st := fresh.tr.NATStats(); st.Sessions != 0 || st.BIB != 1 {
				t.Errorf("%d sessions, %d BIB entries after a refused file", st.Sessions, st.BIB)
			}
		})
	}
	// A hostile file that checks: the same binding twice. The second is
	// skipped.
	twice := append(append([]byte(nil), good[:len(good)-21]...), good[48:48+42]...)
	twice = append(twice, good[len(good)-21:]...)
	binary.BigEndian.PutUint64(twice[len(twice)-20:], 6)
	binary.BigEndian.PutUint64(twice[len(twice)-12:], 6)
	fresh := newRig(t, stateOptions())
	st, err := fresh.tr.LoadNAT(reseal(twice), fresh.now, nil)
	if err != nil || st.BIB != 5 || st.DroppedBIB[xlat.NATDropDuplicate] != 1 {
		t.Errorf("a binding twice: %+v, %v", st, err)
	}
}

// TestNATStateConcurrent saves and reloads (a pool4 change) while workers
// make and use bindings: every binding keeps its own port, and pool4
// counts them right (run it with -race).
func TestNATStateConcurrent(t *testing.T) {
	o := natOptions("203.0.113.0/30")
	tr, err := xlat.New(o)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	var cur sync.Mutex // the current translator, swapped by the reload
	current := tr
	var wg sync.WaitGroup
	for h := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			host := fmt.Sprintf("2001:db8:1::%x", h+1)
			buf := make([]byte, 2048)
			for f := range 400 {
				cur.Lock()
				w := current.Clone()
				cur.Unlock()
				pkt := udp6(host, uint16(10000+f), srv6, 53)
				copy(buf[xlat.Headroom:], pkt)
				w.Translate(buf, xlat.Headroom, len(pkt), xlat.Side6, now)
			}
		}()
	}
	wg.Add(1)
	go func() { // the periodic saves
		defer wg.Done()
		for range 10 {
			cur.Lock()
			tr := current
			cur.Unlock()
			if _, err := tr.SaveNAT(&bytes.Buffer{}, now); err != nil {
				t.Error(err)
			}
		}
	}()
	for _, p := range []string{"203.0.113.0/30", "203.0.113.2/31", "203.0.113.8/30"} {
		o.NAT.Pool4 = append(o.NAT.Pool4[:0], netip.MustParsePrefix(p))
		o.Prefix = netip.MustParsePrefix(map[bool]string{false: "64:ff9b::/96", true: "64:ff9b:1::/96"}[p == "203.0.113.0/30"])
		next, err := xlat.New(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := next.KeepState(current); err != nil {
			t.Fatal(err)
		}
		next.Reconcile(now, nil)
		cur.Lock()
		current = next
		cur.Unlock()
	}
	wg.Wait()
	checkPool4(t, current)
	for _, e := range listNAT(current, false) {
		if a := e.IPv4.Addr().String(); a != "203.0.113.8" && a != "203.0.113.9" && a != "203.0.113.10" && a != "203.0.113.11" {
			t.Errorf("%v bound to the removed address", e)
		}
	}
}

// FuzzLoadNAT loads arbitrary bytes as a state file, as they are and with
// their checksum made right (so that the records are parsed): no panic; a
// file that loads leaves tables that save again, and that file loads to
// the same sessions.
func FuzzLoadNAT(f *testing.F) {
	r := newRig(f, stateOptions())
	populate(f, r)
	good := save(f, r.tr, r.now)
	f.Add(good)
	f.Add(good[:100])
	f.Add([]byte("NAT64BR\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		loadChecked(t, data)
		if len(data) >= 4 {
			data = append([]byte(nil), data...)
			binary.BigEndian.PutUint32(data[len(data)-4:], crc32.Checksum(data[:len(data)-4], crc32.MakeTable(crc32.Castagnoli)))
			loadChecked(t, data)
		}
	})
}

func loadChecked(t *testing.T, data []byte) {
	a, _ := xlat.New(stateOptions())
	now := time.Unix(1_700_000_030, 0)
	st, err := a.LoadNAT(data, now, nil)
	if err != nil {
		if st.Sessions != 0 || a.NATStats().Sessions != 0 {
			t.Fatalf("an error (%v) and %d sessions", err, a.NATStats().Sessions)
		}
		return
	}
	if int64(st.Sessions) != a.NATStats().Sessions {
		t.Fatalf("loaded %d sessions, the tables hold %d", st.Sessions, a.NATStats().Sessions)
	}
	checkPool4(t, a)
	var buf bytes.Buffer
	if _, err := a.SaveNAT(&buf, now); err != nil {
		t.Fatal(err)
	}
	b, _ := xlat.New(stateOptions())
	if _, err := b.LoadNAT(buf.Bytes(), now, nil); err != nil {
		t.Fatalf("saved again, it does not load: %v", err)
	}
	if diff := diffEntries(listNAT(a, true), listNAT(b, true)); diff != "" {
		t.Fatalf("saved and loaded again (-first +second):\n%s", diff)
	}
}

// TestNATStateDenylist4 loads and reloads the tables under a denylist4
// that covers the server every session goes to: the sessions go, with no
// BIB entry (a binding outlives its sessions until it times out).
func TestNATStateDenylist4(t *testing.T) {
	for _, load := range []bool{true, false} {
		r := newRig(t, stateOptions())
		populate(t, r)
		o := stateOptions()
		o.Denylist4 = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
		next, err := xlat.New(o)
		if err != nil {
			t.Fatal(err)
		}
		var st xlat.NATStateStats
		if load {
			st, err = next.LoadNAT(save(t, r.tr, r.now), r.now.Add(time.Second), nil)
		} else if err = next.KeepState(r.tr); err == nil {
			var errs []error
			st, errs = next.Reconcile(r.now, nil)
			err = errors.Join(errs...)
		}
		if err != nil {
			t.Fatal(err)
		}
		if st.DroppedSessions[xlat.NATDropDenylist4] != 5 || st.Sessions != 0 || next.NATStats().Sessions != 0 {
			t.Errorf("load %v: stats %+v, tables %+v", load, st, next.NATStats())
		}
	}
}
