package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/nat64br/nat64br"

// depRule is one row of the import table of STYLE.md: what a package may
// import besides the standard library, and what it must not import even
// from the standard library.
type depRule struct {
	allow  []string // import path prefixes allowed outside the standard library
	forbid []string // standard library packages it must not use
	why    string
}

var depRules = map[string]depRule{
	module + "/xlat/header": {why: "leaf: views and checksums only"},
	module + "/xlat": {allow: []string{module + "/xlat/header"}, forbid: []string{"os", "log", "log/slog", "net"},
		why: "pure translation: no I/O, no logging"},
	module + "/xlat/xlattest": {allow: []string{"github.com/gopacket/gopacket"}, why: "test helper: gopacket as an independent codec"},
	module + "/arpnd": {allow: []string{module + "/xlat/header", "github.com/mdlayher/ethernet"},
		why: "ARP/ND and the neighbor cache; no translation, no I/O ports, no config"},
	module + "/wire": {allow: []string{module + "/xlat/header", "golang.org/x/sys/unix", "github.com/mdlayher/packet",
		"github.com/mdlayher/socket", "github.com/gopacket/gopacket", "golang.org/x/net/bpf"}, why: "frame I/O only"},
	module + "/wire/wiretest": {allow: []string{module + "/wire", "github.com/gopacket/gopacket"},
		why: "test helper: network namespaces for root tests, in-memory links with gopacket as an independent codec"},
	module + "/dataplane": {allow: []string{"golang.org/x/sys/unix", module + "/wire", module + "/arpnd", module + "/xlat"},
		forbid: []string{"net/http"}, why: "the frame path: ports through its own interfaces, no config, no HTTP, no metrics, no pcap codec"},
	module + "/bgp": {allow: []string{"github.com/osrg/gobgp/v4", "google.golang.org/protobuf"},
		why: "the BGP speaker: GoBGP as a library, its own Options and a health input; no translation, ports, data plane or config"},
	module + "/bgp/bgptest": {allow: []string{"github.com/osrg/gobgp/v4"},
		why: "test helper: an in-process GoBGP router"},
	module + "/config": {allow: []string{"go.yaml.in/yaml/v3"}, why: "parsing only: typed values, no runtime"},
	module + "/cmd/nat64br/internal/lab": {allow: []string{"golang.org/x/net", "golang.org/x/sys/unix", module + "/wire", module + "/xlat/header",
		"github.com/gopacket/gopacket",
		"github.com/prometheus/client_golang/prometheus/testutil/promlint"},
		why: "the demo lab runs the nat64br binary as an operator would: not main, dataplane, xlat, arpnd or config; " +
			"wire for namespaces, offloads and raw frames, the leaf's EtherTypes for malformed ones, gopacket for trace's pcapng, promlint for the scrape"},
	module + "/cmd/nat64br/internal/lab/demo": {allow: []string{module + "/cmd/nat64br/internal/lab"},
		why: "the demo driver: flags, then the lab"},
}

// TestImportTable enforces STYLE.md's package boundaries on every
// non-test import of the module's packages.
func TestImportTable(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Skipf("go list: %v (needs the go tool)", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		rule, ok := depRules[pkg]
		if !ok && strings.HasPrefix(pkg, module+"/cmd/") {
			continue // the command sees everything
		}
		if !ok {
			t.Errorf("%s has no row in the import table (add it to depRules and STYLE.md's table)", pkg)
			continue
		}
		for _, imp := range imports {
			std := !strings.Contains(strings.Split(imp, "/")[0], ".")
			if std {
				for _, bad := range rule.forbid {
					if imp == bad {
						t.Errorf("%s imports %s: %s", pkg, imp, rule.why)
					}
				}
				continue
			}
			allowed := false
			for _, a := range rule.allow {
				if imp == a || strings.HasPrefix(imp, a+"/") {
					allowed = true
				}
			}
			if !allowed {
				t.Errorf("%s imports %s: %s", pkg, imp, rule.why)
			}
		}
	}
}
