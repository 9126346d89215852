package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/dataplane"
	"github.com/nat64br/nat64br/xlat"
	"github.com/nat64br/nat64br/xlat/xlattest"
)

// TestMetrics scrapes the endpoint of a data plane that has moved frames:
// the text passes the Prometheus linter, and the counters are the data
// plane's own.
func TestMetrics(t *testing.T) {
	l := newMemLab(t)
	cfg, err := config.Parse("mem.yaml", []byte(demoConfig))
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), cfg: cfg, d: l.d, started: time.Now(), mem: memBudget{256 << 20, "cgroup v2 memory.max of /"}}

	// A frame of another EtherType (dropped and counted), then a datagram
	// to the server, which answers ARP, so the datagram crosses.
	l.send(t, l.peer6, xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetType(0x88b5)), xlattest.Payload(46)))
	ip6 := xlattest.IPv6(labClient6, labVia6, layers.IPProtocolUDP)
	l.send(t, l.peer6, xlattest.Serialize(eth(mac6, hostMAC, layers.EthernetTypeIPv6), ip6, xlattest.UDP(5000, 7, ip6), xlattest.Payload(32)))
	l.expect(t, l.peer4, "ARP request for the server", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeARP) != nil })
	l.send(t, l.peer4, xlattest.Serialize(eth(mac4, srvMAC, layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet,
		Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 2,
		SourceHwAddress: srvMAC[:], SourceProtAddress: xlattest.IP(labServer4).To4(), DstHwAddress: mac4[:], DstProtAddress: xlattest.IP("192.0.2.1").To4()}))
	l.expect(t, l.peer4, "the translated datagram", func(p gopacket.Packet) bool { return p.Layer(layers.LayerTypeUDP) != nil })
	// Workers publish their counters after each batch is sent: wait for
	// every batch, not only the last one seen on the wire.
	var k dataplane.Counters
	counted := func() bool {
		return k[dataplane.FramesIn6] >= 2 && k[dataplane.FramesIn4] >= 1 && k[dataplane.OtherEtherType] == 1 && k[dataplane.BytesIn6] != 0 && k[dataplane.Batches] != 0
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if k = l.d.Counters(); counted() {
			break
		}
	}
	if !counted() {
		t.Fatalf("counters: %v", k)
	}

	c := newCollector(r)
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %v", err, problems)
	}
	want := fmt.Sprintf(`# HELP nat64br_frames_total Ethernet frames received (in) and sent (out) on each port, translated or answered.
# TYPE nat64br_frames_total counter
nat64br_frames_total{direction="in",port="ipv4"} %d
nat64br_frames_total{direction="in",port="ipv6"} %d
nat64br_frames_total{direction="out",port="ipv4"} %d
nat64br_frames_total{direction="out",port="ipv6"} %d
`, k[dataplane.FramesIn4], k[dataplane.FramesIn6], k[dataplane.FramesOut4], k[dataplane.FramesOut6])
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "nat64br_frames_total"); err != nil {
		t.Error(err)
	}
	// The ledger: the other EtherType was dropped, the datagram
	// translated, the ARP reply handled.
	want = `# HELP nat64br_frame_fates_total What became of the frames received on each port: link (ARP, ND), translated, answered, fragment_held or dropped; they add up to nat64br_frames_total in.
# TYPE nat64br_frame_fates_total counter
nat64br_frame_fates_total{fate="answered",port="ipv4"} 0
nat64br_frame_fates_total{fate="answered",port="ipv6"} 0
nat64br_frame_fates_total{fate="dropped",port="ipv4"} 0
nat64br_frame_fates_total{fate="dropped",port="ipv6"} 1
nat64br_frame_fates_total{fate="fragment_held",port="ipv4"} 0
nat64br_frame_fates_total{fate="fragment_held",port="ipv6"} 0
nat64br_frame_fates_total{fate="link",port="ipv4"} 1
nat64br_frame_fates_total{fate="link",port="ipv6"} 0
nat64br_frame_fates_total{fate="translated",port="ipv4"} 0
nat64br_frame_fates_total{fate="translated",port="ipv6"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "nat64br_frame_fates_total"); err != nil {
		t.Error(err)
	}

	// Over HTTP, with the Go and process collectors: the whole text lints.
	m, err := startMetrics(r, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	resp, err := http.Get("http://" + m.ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %v %v", resp.Status, err)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil || len(problems) != 0 {
		t.Fatalf("lint of the scrape: %v %v", err, problems)
	}
	for _, s := range []string{
		`nat64br_drops_total{reason="other_ethertype"} 1`,
		fmt.Sprintf(`nat64br_drops_total{reason="%s"} 0`, xlat.ReasonTruncated),
		fmt.Sprintf(`nat64br_bytes_total{direction="in",port="ipv6"} %d`, k[dataplane.BytesIn6]),
		`nat64br_neighbors{port="ipv4"} 1`,
		`nat64br_batch_frames_bucket{le="64"}`,
		`nat64br_build_info{data_path="ring",goversion=`,
		`nat64br_memory_budget_bytes 2.68435456e+08`,
		`go_goroutines `,
	} {
		if !bytes.Contains(body, []byte(s)) {
			t.Errorf("the scrape has no %q", s)
		}
	}
}
