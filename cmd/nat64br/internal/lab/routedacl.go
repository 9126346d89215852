package lab

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// The routed access control pass: `clients` (IPv6 prefixes allowed to use
// the NAT64), `clients-refusal` (icmp, the default: ICMPv6 destination
// unreachable, code 1, administratively prohibited; or drop) and
// `denylist4` (IPv4 destinations refused).

const (
	rtClients   = "2001:db8:6::/120" // holds labClient6, not rtOutsider
	rtDenylist4 = "203.0.113.192/26" // holds rtDenied4, not armServer4
	adminProhib = "Administratively prohibited"
)

// accessConfig is the access control configuration with refusal ("" for
// the default).
func accessConfig(refusal string) string {
	extra := "clients: [\"" + rtClients + "\"]\ndenylist4: [" + rtDenylist4 + "]\n"
	if refusal != "" {
		extra += "clients-refusal: " + refusal + "\n"
	}
	return routedConfig("nat64", false, extra)
}

// accessChecks runs nat64br with clients and denylist4, refusing with
// ICMP, then with clients-refusal: drop.
func (r *routedLab) accessChecks(ctx context.Context, rep *Report) error {
	if r.start(rep, "configuration with clients and denylist4 (clients-refusal: icmp, the default)", accessConfig("")) {
		r.allowedCheck(rep, "icmp")
		res, line := pingTool(r.c6, "-6", "-c", "3", "-I", rtOutsider, armVia6)
		rep.add("ping from "+rtOutsider+" (outside clients)", res.received == 0 && len(res.errors) > 0 && allContain(res.errors, adminProhib),
			"%s (want: no reply, ICMPv6 %s)", line, adminProhib)
		r.refusedTCP(rep, "TCP from "+rtOutsider, rtOutsider, armVia6, "/outsider-icmp")
		res, line = pingTool(r.c6, "-6", "-c", "3", "-I", labClient6, rtDenied6)
		rep.add("ping to "+rtDenied4+" (inside denylist4)", res.received == 0, "%s (want: no reply)", line)
		r.refusedTCP(rep, "TCP to "+rtDenied4+" (inside denylist4)", labClient6, rtDenied6, "/denied")
		r.stop(rep, "clients-refusal: icmp")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.start(rep, "configuration with clients-refusal: drop", accessConfig("drop")) {
		r.allowedCheck(rep, "drop")
		res, line := pingTool(r.c6, "-6", "-c", "3", "-I", rtOutsider, armVia6)
		rep.add("ping from "+rtOutsider+", clients-refusal: drop", res.received == 0 && len(res.errors) == 0,
			"%s (want: no reply, no ICMP error)", line)
		r.refusedTCP(rep, "TCP from "+rtOutsider+", clients-refusal: drop", rtOutsider, armVia6, "/outsider-drop")
		r.stop(rep, "clients-refusal: drop")
	}
	return ctx.Err()
}

// allowedCheck pings the server and fetches a page from the allowed client.
func (r *routedLab) allowedCheck(rep *Report, refusal string) {
	res, line := pingTool(r.c6, "-6", "-c", "3", "-I", labClient6, armVia6)
	rep.add(fmt.Sprintf("ping from %s (inside clients; %s)", labClient6, refusal), res.received == 3 && len(res.errors) == 0, "%s", line)
	n, sum, dur, err := r.download(r.c6, labClient6, fmt.Sprintf("http://[%s]/allowed-%s?bytes=%d", armVia6, refusal, 1<<20))
	want := payloadSHA(1, 1<<20)
	rep.add(fmt.Sprintf("HTTP 1 MB to %s from %s (%s)", armServer4, labClient6, refusal), err == nil && n == 1<<20 && sum == want,
		"%s, sha256 %s, %s", byteCount(n), shaVerdict(sum, want), rate(n, dur, err))
}

// refusedTCP asks for path from src to [dst]:80: the connection must
// fail and the server must not see the request.
func (r *routedLab) refusedTCP(rep *Report, what, src, dst, path string) {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	start := time.Now()
	var conn net.Conn
	err := r.c6.do(func() (err error) { conn, err = dialer.Dial("tcp6", "["+dst+"]:80"); return err })
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: lab\r\n\r\n", path)
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
		conn.Close()
	}
	seen := r.saw(path)
	outcome := "connected"
	if err != nil {
		outcome = err.Error()
		if i := strings.LastIndex(outcome, ": "); i >= 0 {
			outcome = outcome[i+2:]
		}
	}
	rep.add(what, err != nil && !seen, "%s after %s; the server saw the request: %v", outcome, time.Since(start).Round(time.Microsecond), seen)
}

// saw reports whether the server's HTTP handler was asked for path.
func (r *routedLab) saw(path string) bool {
	r.seenMu.Lock()
	defer r.seenMu.Unlock()
	return r.seen[path] != ""
}

// allContain reports whether every one of ss contains sub.
func allContain(ss []string, sub string) bool {
	for _, s := range ss {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
