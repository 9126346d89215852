package main

import (
	"bytes"
	"context"
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
	var explain bool
	if name == "bib" || name == "sessions" {
		proto, addr = in.str("proto"), in.str("addr")
	}
	if name == "stats" {
		explain = in.bool("explain")
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
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	body, err := ctlRequest(path, method, p)
	if err != nil {
		fmt.Fprintf(stderr, "nat64br: %v\n", err)
		return 1
	}
	if in.bool("json") {
		stdout.Write(body)
		return ctlExit(name, body)
	}
	if err := ctlPrint(name, body, explain, stdout); err != nil {
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
	cfg, err := config.Load(cfgPath)
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

// ctlPrint writes the reply to command name as tables.
func ctlPrint(name string, body []byte, explain bool, w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	switch name {
	case "status":
		var s statusReply
		if err := json.Unmarshal(body, &s); err != nil {
			return err
		}
		fmt.Fprintf(tw, "nat64br\t%s (%s), pid %d, up %s since %s\n", s.Version, s.Go, s.PID, s.Uptime, s.Started.Format(time.RFC3339))
		fmt.Fprintf(tw, "config\t%s\n", s.Config)
		fmt.Fprintf(tw, "sha256\t%s\n", s.ConfigHash)
		fmt.Fprintf(tw, "mode\t%s, prefix %s\n", s.Mode, orNone(s.Prefix))
		pinned := ""
		if len(s.WorkerCPUs) > 0 {
			cpus := make([]string, len(s.WorkerCPUs))
			for i, c := range s.WorkerCPUs {
				cpus[i] = strconv.Itoa(c)
			}
			pinned = ", idle ones pinned to CPUs " + strings.Join(cpus, ", ")
		}
		spread := ""
		if s.Spread != "" {
			spread = ", spread by " + s.Spread
		}
		fmt.Fprintf(tw, "data path\t%s, %d worker(s)%s%s\n", s.DataPath, s.Workers, spread, pinned)
		fmt.Fprintf(tw, "metrics\t%s\n", orNone(s.Metrics))
		tw.Flush()
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "PORT\tINTERFACE\tMAC\tLINK\tMTU\tANSWERS FOR")
		for _, p := range s.Ports {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", p.Side, p.Interface, p.MAC, p.Link, p.MTU, strings.Join(p.Answers, ", "))
		}
	case "stats":
		var s statsReply
		if err := json.Unmarshal(body, &s); err != nil {
			return err
		}
		names := make([]string, 0, len(s.Counters))
		for k := range s.Counters {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintln(tw, "COUNTER\tVALUE")
		for _, k := range names {
			if v := s.Counters[k]; v != 0 || explain {
				line := fmt.Sprintf("%s\t%d", k, v)
				if explain {
					line += "\t" + explainCounter(k)
				}
				fmt.Fprintln(tw, line)
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
					fmt.Fprintf(tw, "port_%s.%s\t%d\n", side, k, m[k])
				}
			}
		}
		if n := s.NAT64; n != nil {
			for i, p := range xlat.NATProtocols {
				fmt.Fprintf(tw, "nat64.sessions.%s\t%d\n", p, n.SessionsByProto[i])
				fmt.Fprintf(tw, "nat64.bib.%s\t%d\n", p, n.BIBByProto[i])
			}
			fmt.Fprintf(tw, "nat64.sessions_created\t%d\nnat64.sessions_expired\t%d\nnat64.held_syns\t%d\nnat64.table_bytes\t%d\n",
				n.SessionsCreated, n.SessionsExpired, n.HeldSYNs, n.TableBytes)
		}
	case "bib", "sessions":
		var l natListReply
		if err := json.Unmarshal(body, &l); err != nil {
			return err
		}
		if name == "bib" {
			fmt.Fprintln(tw, "PROTO\tIPV6\tIPV4\tSESSIONS\tSTATIC\tEXPIRES")
		} else {
			fmt.Fprintln(tw, "PROTO\tIPV6\tIPV4\tREMOTE\tSTATE\tEXPIRES")
		}
		for _, e := range l.Entries {
			exp := "-"
			if !e.Expires.IsZero() {
				exp = "in " + time.Until(e.Expires).Round(time.Second).String()
			}
			if name == "bib" {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\t%s\n", e.Proto, e.IPv6, e.IPv4, e.Sessions, e.Static, exp)
			} else {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Proto, e.IPv6, e.IPv4, e.Remote, orNone(e.State), exp)
			}
		}
		tw.Flush()
		more := ""
		if l.Truncated {
			more = " (truncated: narrow it with --proto or --addr)"
		}
		fmt.Fprintf(w, "%d entries%s\n", len(l.Entries), more)
	case "neighbors":
		var ns []neighborReply
		if err := json.Unmarshal(body, &ns); err != nil {
			return err
		}
		fmt.Fprintln(tw, "PORT\tADDRESS\tMAC\tSTATE")
		for _, n := range ns {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Side, n.Addr, n.MAC, n.State)
		}
	case "pool":
		var p poolReply
		if err := json.Unmarshal(body, &p); err != nil {
			return err
		}
		if len(p.Pool4) > 0 {
			fmt.Fprintln(tw, "POOL4 ADDRESS\tPROTO\tUSED\tOF")
			for _, u := range p.Pool4 {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", u.Addr, u.Proto, u.Used, u.Size)
			}
		}
		if d := p.Dynamic; d != nil {
			fmt.Fprintf(tw, "dynamic pool %s\t%d of %d addresses mapped\n", d.Prefix, d.Mappings, d.Addresses)
		}
		if len(p.Pool4) == 0 && p.Dynamic == nil {
			fmt.Fprintln(tw, "no pool4 port bound yet, no dynamic pool")
		}
	case "reload":
		var r reloadReply
		if err := json.Unmarshal(body, &r); err != nil {
			return err
		}
		if r.Applied {
			fmt.Fprintf(tw, "reloaded; changed: %s\n", strings.Join(r.Changed, ", "))
		} else {
			fmt.Fprintln(tw, "reload refused, the running configuration stays:")
			for _, p := range r.Problems {
				fmt.Fprintf(tw, "  %s\n", p)
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
