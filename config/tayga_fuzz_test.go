package config

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// taygaWords are the directives of a tayga.conf or map-file as TAYGA
// reads them: the words of each line, comments removed.
func taygaWords(s string) [][]string {
	var out [][]string
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if w := strings.Fields(line); len(w) > 0 {
			out = append(out, w)
		}
	}
	return out
}

// checkTAYGAValues checks that the converted document doc carries the
// values of conf (and of mapFile, once a map-file directive) as TAYGA read
// them: it must be YAML whose addresses, prefixes and MTU are those of the
// directives, and whose eam lists every map line in order, whatever
// characters the values hold (but invalid UTF-8). masq is the --masquerade address, or "".
func checkTAYGAValues(t *testing.T, conf, mapFile, masq string, doc []byte) {
	t.Helper()
	var got map[string]any
	if err := yaml.Unmarshal(doc, &got); err != nil {
		t.Fatalf("the converted document is not YAML: %v\n%s", err, doc)
	}
	want := map[string]string{}
	var maps [][2]string
	for _, w := range taygaWords(conf) {
		switch w[0] {
		case "ipv4-addr", "ipv6-addr", "prefix", "dynamic-pool", "offlink-mtu":
			want[w[0]] = w[1]
		case "map":
			maps = append(maps, [2]string{w[1], w[2]})
		}
	}
	for _, w := range taygaWords(conf) {
		if w[0] == "map-file" {
			for _, m := range taygaWords(mapFile) {
				maps = append(maps, [2]string{m[1], m[2]})
			}
		}
	}
	if masq != "" {
		delete(want, "dynamic-pool")
		if _, ok := want["ipv4-addr"]; ok {
			want["ipv4-addr"] = masq
		}
	}
	if v, ok := want["offlink-mtu"]; ok {
		n, _ := strconv.Atoi(v)
		if g := fmt.Sprint(got["lowest-ipv6-mtu"]); g != strconv.Itoa(n) {
			t.Fatalf("offlink-mtu %s converted to lowest-ipv6-mtu %s:\n%s", v, g, doc)
		}
		delete(want, "offlink-mtu")
	}
	// strconv.Quote writes a byte of invalid UTF-8 as \xff, which YAML
	// reads as U+00FF: such a value is no address either way.
	same := func(g any, v string) bool { s, ok := g.(string); return ok && (s == v || !utf8.ValidString(v)) }
	for k, v := range want {
		if !same(got[k], v) {
			t.Fatalf("%s %q converted to %#v:\n%s", k, v, got[k], doc)
		}
	}
	eam, _ := got["eam"].([]any)
	if len(eam) != len(maps) {
		t.Fatalf("%d map lines, %d eam entries:\n%s", len(maps), len(eam), doc)
	}
	for i, e := range eam {
		m, _ := e.(map[string]any)
		if !same(m["ipv4"], maps[i][0]) || !same(m["ipv6"], maps[i][1]) || len(m) != 2 {
			t.Fatalf("map %s %s converted to %#v:\n%s", maps[i][0], maps[i][1], e, doc)
		}
	}
}
