package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nat64br/nat64br/config"
	"github.com/nat64br/nat64br/dataplane"
	"github.com/nat64br/nat64br/xlat"
)

// The operator commands: clients of the control socket (control.go).

// cmdCtl runs operator command in.cmd: one request to the control socket,
// its reply printed as tables or as JSON.
func cmdCtl(in *invocation) int {
	name, stdout, stderr := in.cmd.name, in.stdout, in.stderr
	var proto, addr string
	var limit int
	var explain bool
	if name == "bib" || name == "sessions" {
		proto, addr, limit = in.str("proto"), in.str("addr"), in.int("limit")
	}
	if name == "stats" {
		explain = in.bool("explain")
	}
	asCSV := name != "reload" && in.bool("csv")
	if asCSV && in.bool("json") {
		return in.cmd.fail(stderr, "--csv and --json exclude each other")
	}
	path, ok := ctlSocket(in)
	if !ok {
		return 1
	}
	method, p := http.MethodGet, "/"+name
	if name == "reload" {
		method = http.MethodPost
	}
	q := url.Values{}
	if proto != "" {
		q.Set("proto", proto)
	}
	if addr != "" {
		q.Set("addr", addr)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	timeout := time.Minute
	if name == "bib" || name == "sessions" {
		// The daemon runs maxListings at once, the others wait their
		// turn; it cuts off a listing that stalls (writeStall).
		timeout = listTimeout
	}
	body, err := ctlRequestTimeout(path, method, p, timeout)
	if err != nil {
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	if in.bool("json") {
		stdout.Write(body)
		return ctlExit(name, body)
	}
	if err := ctlPrint(name, body, printOptions{explain: explain, csv: asCSV, limited: limit != 0}, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	return ctlExit(name, body)
}

// cmdTrace is nat64br trace: the next dropped frames into a pcapng file.
func cmdTrace(in *invocation) int {
	stdout, stderr := in.stdout, in.stderr
	path, ok := ctlSocket(in)
	if !ok {
		return 1
	}
	out, timeout := in.str("pcap"), in.duration("timeout")
	q := url.Values{"reason": {in.str("reason")}, "count": {fmt.Sprint(in.int("count"))}, "timeout": {timeout.String()}}
	body, err := ctlRequestTimeout(path, http.MethodPost, "/trace?"+q.Encode(), timeout+30*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	if err := os.WriteFile(out, body, 0o600); err != nil {
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	n := 0
	if r, err := pcapgo.NewNgReader(bytes.NewReader(body), pcapgo.DefaultNgReaderOptions); err == nil {
		for {
			if _, _, err := r.ReadPacketData(); err != nil {
				break
			}
			n++
		}
	}
	fmt.Fprintf(stdout, "%d dropped frame(s) written to %s\n", n, out)
	return 0
}

// ctlSocket returns the control socket of an operator command: --socket,
// else the control-socket of the --config file, else the default. It
// reports a problem on in.stderr and returns false.
func ctlSocket(in *invocation) (string, bool) {
	if p := in.str("socket"); p != "" {
		return p, true
	}
	cfgPath := in.str("config")
	if cfgPath == "" {
		return config.DefaultControlSocket, true
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		printConfigError(in.stderr, err)
		return "", false
	}
	if cfg.ControlSocket == "" {
		fmt.Fprintf(in.stderr, "nat64br: %s sets no control-socket\n", cfgPath)
		return "", false
	}
	return cfg.ControlSocket, true
}

// ctlExit is 1 for a refused reload, else 0.
func ctlExit(name string, body []byte) int {
	if name != "reload" {
		return 0
	}
	var r reloadReply
	if json.Unmarshal(body, &r) != nil || !r.Applied {
		return 1
	}
	return 0
}

// listTimeout is how long bib and sessions wait for their listing.
const listTimeout = 10 * time.Minute

// ctlRequest sends one request over the Unix socket at path and returns
// the reply's body; a reply with an error is returned as one.
func ctlRequest(path, method, p string) ([]byte, error) {
	return ctlRequestTimeout(path, method, p, time.Minute)
}

func ctlRequestTimeout(path, method, p string, timeout time.Duration) ([]byte, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "unix", path)
	}}
	req, err := http.NewRequest(method, "http://nat64br"+p, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr, Timeout: timeout}).Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "connection refused") {
			return nil, fmt.Errorf("cannot reach nat64br at %s (is it running? are you root?): %w", path, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("%s %s: %s", method, p, resp.Status)
	}
	return body, nil
}

// table is what an operator command prints: a header and rows of cells,
// aligned for people, or CSV (RFC 4180) with --csv.
type table struct {
	header []string // nil: no header line
	rows   [][]string
}

// add appends a row of cells, each formatted with %v.
func (t *table) add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, row)
}

// text writes t to w in aligned columns.
func (t *table) text(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if t.header != nil {
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	}
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// csv writes t to w as CSV, every row as wide as the header.
func (t *table) csv(w io.Writer) error {
	cw := csv.NewWriter(w)
	if t.header != nil {
		cw.Write(t.header)
	}
	for _, r := range t.rows {
		for len(r) < len(t.header) {
			r = append(r, "")
		}
		cw.Write(r)
	}
	cw.Flush()
	return cw.Error()
}

// printOptions are the flags that shape an operator command's output.
type printOptions struct {
	explain bool // stats: what each counter means
	csv     bool // CSV instead of aligned columns
	limited bool // bib, sessions: --limit was given
}

// ctlPrint writes the reply to command name as tables on w; with o.csv,
// as one CSV table, and what is not part of it (a truncated list) on
// stderr.
func ctlPrint(name string, body []byte, o printOptions, w, stderr io.Writer) error {
	out := func(t *table) error {
		if o.csv {
			return t.csv(w)
		}
		t.text(w)
		return nil
	}
	switch name {
	case "status":
		var s statusReply
		if err := json.Unmarshal(body, &s); err != nil {
			return err
		}
		cpus := make([]string, len(s.WorkerCPUs))
		for i, c := range s.WorkerCPUs {
			cpus[i] = strconv.Itoa(c)
		}
		ports := &table{header: []string{"PORT", "INTERFACE", "MAC", "LINK", "MTU", "ANSWERS FOR"}}
		for _, p := range s.Ports {
			ports.add(p.Side, p.Interface, p.MAC, p.Link, p.MTU, strings.Join(p.Answers, ", "))
		}
		if o.csv {
			// One KEY,VALUE table: the daemon's fields, then each port's.
			t := &table{header: []string{"KEY", "VALUE"}}
			t.add("version", s.Version)
			t.add("go", s.Go)
			t.add("pid", s.PID)
			t.add("started", s.Started.Format(time.RFC3339))
			t.add("uptime", s.Uptime)
			t.add("config", s.Config)
			t.add("config_sha256", s.ConfigHash)
			t.add("mode", s.Mode)
			t.add("prefix", s.Prefix)
			t.add("data_path", s.DataPath)
			t.add("workers", s.Workers)
			t.add("worker_cpus", strings.Join(cpus, " "))
			t.add("spread", s.Spread)
			t.add("metrics", s.Metrics)
			t.add("memory_budget", s.Memory.Budget.Bytes)
			t.add("memory_budget_source", s.Memory.Budget.Source)
			t.add("memory_sized", strings.Join(s.Memory.Sized, " "))
			for _, p := range s.Ports {
				t.add("port."+p.Side+".interface", p.Interface)
				t.add("port."+p.Side+".mac", p.MAC)
				t.add("port."+p.Side+".link", p.Link)
				t.add("port."+p.Side+".mtu", p.MTU)
				t.add("port."+p.Side+".answers_for", strings.Join(p.Answers, " "))
			}
			if b := s.BGP; b != nil {
				t.add("bgp.healthy", b.Healthy)
				t.add("bgp.reason", b.Reason)
				t.add("bgp.since", b.Since.Format(time.RFC3339))
				t.add("bgp.drain", b.Drain)
				for _, x := range b.Sessions {
					t.add("bgp.session."+x.Neighbor, fmt.Sprintf("asn %d %s uptime %s sent %d received %d", x.ASN, x.State, orNone(x.Uptime), x.Sent, x.Received))
				}
				for _, x := range b.Announced {
					t.add("bgp.announced."+x.Prefix, x.Family+" next-hop "+x.NextHop)
				}
			}
			return out(t)
		}
		pinned := ""
		if len(cpus) > 0 {
			pinned = ", idle ones pinned to CPUs " + strings.Join(cpus, ", ")
		}
		spread := ""
		if s.Spread != "" {
			spread = ", spread by " + s.Spread
		}
		info := &table{}
		info.add("nat64br", fmt.Sprintf("%s (%s), pid %d, up %s since %s", s.Version, s.Go, s.PID, s.Uptime, s.Started.Format(time.RFC3339)))
		info.add("config", s.Config)
		info.add("sha256", s.ConfigHash)
		info.add("mode", fmt.Sprintf("%s, prefix %s", s.Mode, orNone(s.Prefix)))
		info.add("data path", fmt.Sprintf("%s, %d worker(s)%s%s", s.DataPath, s.Workers, spread, pinned))
		info.add("metrics", orNone(s.Metrics))
		info.add("memory", fmt.Sprintf("budget %s; sized to it: %s", s.Memory.Budget, orNone(strings.Join(s.Memory.Sized, " "))))
		if b := s.BGP; b != nil {
			state := "announcing"
			if !b.Healthy {
				state = "withdrawn"
			}
			info.add("bgp", fmt.Sprintf("%s (%s) since %s, drain %s", state, b.Reason, b.Since.Format(time.RFC3339), b.Drain))
		}
		info.text(w)
		fmt.Fprintln(w)
		ports.text(w)
		if b := s.BGP; b != nil {
			fmt.Fprintln(w)
			sessions := &table{header: []string{"NEIGHBOR", "ASN", "STATE", "UPTIME", "SENT", "RECEIVED"}}
			for _, x := range b.Sessions {
				sessions.add(x.Neighbor, x.ASN, x.State, orNone(x.Uptime), x.Sent, x.Received)
			}
			sessions.text(w)
			fmt.Fprintln(w)
			routes := &table{header: []string{"ANNOUNCED", "FAMILY", "NEXT HOP"}}
			for _, x := range b.Announced {
				routes.add(x.Prefix, x.Family, x.NextHop)
			}
			if len(b.Announced) == 0 {
				routes.add("(none)", "", "")
			}
			routes.text(w)
		}
	case "stats":
		var s statsReply
		if err := json.Unmarshal(body, &s); err != nil {
			return err
		}
		t := &table{header: []string{"COUNTER", "VALUE"}}
		if o.explain {
			t.header = append(t.header, "MEANING")
		}
		names := make([]string, 0, len(s.Counters))
		for k := range s.Counters {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if v := s.Counters[k]; v != 0 || o.explain {
				if o.explain {
					t.add(k, v, explainCounter(k))
				} else {
					t.add(k, v)
				}
			}
		}
		for _, side := range []string{"ipv6", "ipv4"} {
			b, _ := json.Marshal(s.Ports[side])
			var m map[string]uint64
			_ = json.Unmarshal(b, &m)
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if m[k] != 0 {
					t.add("port_"+side+"."+k, m[k])
				}
			}
		}
		if n := s.NAT64; n != nil {
			for i, p := range xlat.NATProtocols {
				t.add("nat64.sessions."+p, n.SessionsByProto[i])
				t.add("nat64.bib."+p, n.BIBByProto[i])
			}
			t.add("nat64.sessions_created", n.SessionsCreated)
			t.add("nat64.sessions_expired", n.SessionsExpired)
			t.add("nat64.held_syns", n.HeldSYNs)
			t.add("nat64.table_bytes", n.TableBytes)
		}
		return out(t)
	case "bib", "sessions":
		var l natListReply
		if err := json.Unmarshal(body, &l); err != nil {
			return err
		}
		t := &table{header: []string{"PROTO", "IPV6", "IPV4", "SESSIONS", "STATIC", "EXPIRES"}}
		if name == "sessions" {
			t.header = []string{"PROTO", "IPV6", "IPV4", "REMOTE", "STATE", "EXPIRES"}
		}
		for _, e := range l.Entries {
			// People read how long is left; CSV gets the time (RFC 3339).
			exp := "-"
			switch {
			case e.Expires.IsZero() && o.csv:
				exp = ""
			case o.csv:
				exp = e.Expires.Format(time.RFC3339)
			case !e.Expires.IsZero():
				exp = "in " + time.Until(e.Expires).Round(time.Second).String()
			}
			if name == "bib" {
				t.add(e.Proto, e.IPv6, e.IPv4, e.Sessions, e.Static, exp)
			} else {
				t.add(e.Proto, e.IPv6, e.IPv4, e.Remote, orNone(e.State), exp)
			}
		}
		if err := out(t); err != nil {
			return err
		}
		more := ""
		if l.Truncated {
			more = " (truncated: narrow it with --proto or --addr)"
			if o.limited {
				more = " (more left out by --limit)"
			}
		}
		if o.csv {
			if l.Truncated {
				fmt.Fprintf(stderr, "nat64br: %d entries%s\n", len(l.Entries), more)
			}
			return nil
		}
		fmt.Fprintf(w, "%d entries%s\n", len(l.Entries), more)
	case "neighbors":
		var ns []neighborReply
		if err := json.Unmarshal(body, &ns); err != nil {
			return err
		}
		t := &table{header: []string{"PORT", "ADDRESS", "MAC", "STATE"}}
		for _, n := range ns {
			t.add(n.Side, n.Addr, n.MAC, n.State)
		}
		return out(t)
	case "pool":
		var p poolReply
		if err := json.Unmarshal(body, &p); err != nil {
			return err
		}
		if o.csv {
			// One table: each pool4 address and protocol, then the
			// dynamic pool (USED: addresses mapped).
			t := &table{header: []string{"POOL", "ADDRESS", "PROTO", "USED", "OF"}}
			for _, u := range p.Pool4 {
				t.add("pool4", u.Addr, u.Proto, u.Used, u.Size)
			}
			if d := p.Dynamic; d != nil {
				t.add("dynamic", d.Prefix, "", d.Mappings, d.Addresses)
			}
			return out(t)
		}
		t := &table{}
		if len(p.Pool4) > 0 {
			t.header = []string{"POOL4 ADDRESS", "PROTO", "USED", "OF"}
			for _, u := range p.Pool4 {
				t.add(u.Addr, u.Proto, u.Used, u.Size)
			}
		}
		if d := p.Dynamic; d != nil {
			t.add("dynamic pool "+d.Prefix, fmt.Sprintf("%d of %d addresses mapped", d.Mappings, d.Addresses))
		}
		if len(p.Pool4) == 0 && p.Dynamic == nil {
			t.add("no pool4 port bound yet, no dynamic pool")
		}
		t.text(w)
	case "reload":
		var r reloadReply
		if err := json.Unmarshal(body, &r); err != nil {
			return err
		}
		if r.Applied {
			fmt.Fprintf(w, "reloaded; changed: %s\n", strings.Join(r.Changed, ", "))
		} else {
			fmt.Fprintln(w, "reload refused, the running configuration stays:")
			for _, p := range r.Problems {
				fmt.Fprintf(w, "  %s\n", p)
			}
		}
	}
	return nil
}

// explainCounter says what the counter named name counts.
func explainCounter(name string) string {
	if c, ok := dataplane.CounterNamed(name); ok {
		return c.Explain()
	}
	return ""
}

// orNone returns s, or "none" if it is empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
