package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nat64br/nat64br/xlat/xlattest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the generator in golden_cases_test.go")

const goldenDir = "../../testdata/golden"

// goldenCase is one rule of the translator, as packets: inputs (the IP
// version says the side) and the expected outputs in order, with the
// configuration that applies.
type goldenCase struct {
	name   string
	config string
	in     [][]byte
	want   [][]byte
	// ignore lists, per expected packet, byte ranges the translator may
	// choose (the IPv4 Identification it generates); checksums covering
	// them are verified instead of compared.
	ignore map[int][][2]int
	// badL4 marks cases whose transport checksums are wrong on purpose and
	// must stay "equivalently wrong".
	badL4 bool
	// at, when set, is the arrival time of each input after the epoch
	// (NAT64 lifetimes); by default inputs are a millisecond apart.
	at []time.Duration
}

var epoch = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// writePcap writes pkts, each at epoch plus at[i] (or i milliseconds when
// at is nil).
func writePcap(path string, pkts [][]byte, at []time.Duration) error {
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(262144, layers.LinkTypeRaw); err != nil {
		return err
	}
	for i, p := range pkts {
		ts := epoch.Add(time.Duration(i) * time.Millisecond)
		if at != nil {
			ts = epoch.Add(at[i])
		}
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(p), Length: len(p)}
		if err := w.WritePacket(ci, p); err != nil {
			return err
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func readPcap(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, data)
	}
}

func TestGolden(t *testing.T) {
	cases := goldenCases()
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join(goldenDir, "*"))
		for _, f := range old {
			os.Remove(f)
		}
	}
	seen := map[string]bool{}
	for _, gc := range cases {
		if seen[gc.name] {
			t.Fatalf("duplicate golden case %s", gc.name)
		}
		seen[gc.name] = true
		t.Run(gc.name, func(t *testing.T) {
			base := filepath.Join(goldenDir, gc.name)
			if *update {
				if err := os.WriteFile(base+".yaml", []byte(gc.config), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := writePcap(base+".in.pcap", gc.in, gc.at); err != nil {
					t.Fatal(err)
				}
				if err := writePcap(base+".want.pcap", gc.want, nil); err != nil {
					t.Fatal(err)
				}
			}
			// The files must be what the generator makes.
			in, err1 := readPcap(base + ".in.pcap")
			want, err2 := readPcap(base + ".want.pcap")
			cfg, err3 := os.ReadFile(base + ".yaml")
			if err := errors.Join(err1, err2, err3); err != nil {
				t.Fatalf("%v (run go test ./cmd/nat64br -run TestGolden -update)", err)
			}
			if !equalPkts(in, gc.in) || !equalPkts(want, gc.want) || string(cfg) != gc.config {
				t.Fatalf("testdata/golden/%s.* differ from the generator (run go test ./cmd/nat64br -run TestGolden -update)", gc.name)
			}
			runGolden(t, base+".yaml", in, want, gc)
		})
	}
	if !*update {
		files, _ := filepath.Glob(filepath.Join(goldenDir, "*.yaml"))
		for _, f := range files {
			if name := strings.TrimSuffix(filepath.Base(f), ".yaml"); !seen[name] {
				t.Errorf("testdata/golden/%s has no generator case (run -update)", name)
			}
		}
	}
}

func equalPkts(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// runGolden replays in through the real replay command and compares what
// leaves each side with the expected packets of that IP version.
func runGolden(t *testing.T, cfg string, in, want [][]byte, gc goldenCase) {
	t.Helper()
	dir := t.TempDir()
	var in4, in6 [][]byte
	var at4, at6 []time.Duration
	for i, p := range in {
		at := time.Duration(i) * time.Millisecond
		if gc.at != nil {
			at = gc.at[i]
		}
		if p[0]>>4 == 6 {
			in6, at6 = append(in6, p), append(at6, at)
		} else {
			in4, at4 = append(in4, p), append(at4, at)
		}
	}
	args := []string{"replay", "-q", "--config", cfg, "--out6", filepath.Join(dir, "out6.pcap"), "--out4", filepath.Join(dir, "out4.pcap")}
	if len(in6) > 0 {
		if err := writePcap(filepath.Join(dir, "in6.pcap"), in6, at6); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--in6", filepath.Join(dir, "in6.pcap"))
	}
	if len(in4) > 0 {
		if err := writePcap(filepath.Join(dir, "in4.pcap"), in4, at4); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--in4", filepath.Join(dir, "in4.pcap"))
	}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("replay exit status %d: %s", code, stderr.String())
	}
	for _, side := range []struct {
		file string
		ver  byte
	}{{"out6.pcap", 6}, {"out4.pcap", 4}} {
		got, err := readPcap(filepath.Join(dir, side.file))
		if err != nil {
			t.Fatal(err)
		}
		var exp [][]byte
		var idx []int
		for i, p := range want {
			if p[0]>>4 == side.ver {
				exp = append(exp, p)
				idx = append(idx, i)
			}
		}
		if len(got) != len(exp) {
			t.Fatalf("IPv%d side: %d packet(s), want %d", side.ver, len(got), len(exp))
		}
		for j := range got {
			g, w := got[j], exp[j]
			if err := xlattest.Check(g, gc.badL4); err != nil {
				t.Errorf("IPv%d packet %d does not check: %v", side.ver, j, err)
			}
			if len(g) == len(w) {
				for _, r := range gc.ignore[idx[j]] {
					g = maskRange(g, w, r)
				}
				g = fixMaskedChecksums(g, w, gc.ignore[idx[j]])
			}
			if d := xlattest.Diff(g, w); d != "" {
				t.Errorf("IPv%d packet %d: %s", side.ver, j, d)
			}
		}
	}
}

// maskRange copies the expected bytes of range r over a copy of got.
func maskRange(got, want []byte, r [2]int) []byte {
	g := append([]byte(nil), got...)
	copy(g[r[0]:r[1]], want[r[0]:r[1]])
	return g
}

// fixMaskedChecksums copies the expected IPv4 header checksums (outer, and
// of a quoted header at offset 28) when an ignored range falls inside that
// header: the real ones were verified by xlattest.Check.
func fixMaskedChecksums(got, want []byte, ign [][2]int) []byte {
	if len(ign) == 0 || got[0]>>4 != 4 {
		return got
	}
	g := append([]byte(nil), got...)
	for _, r := range ign {
		switch {
		case r[1] <= 20:
			copy(g[10:12], want[10:12])
		case r[0] >= 28 && r[1] <= 48 && len(g) >= 48:
			copy(g[38:40], want[38:40])
		}
	}
	return g
}

// ipv4ID is the ignore range of the Identification field of an IPv4 header
// at offset at.
func ipv4ID(at int) [2]int { return [2]int{at + 4, at + 6} }

func be16(b []byte, at int) uint16 { return binary.BigEndian.Uint16(b[at:]) }
