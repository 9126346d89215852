package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nat64br/nat64br/xlat"
)

// TestNATListStream: bib and sessions stream a natListReply that reads
// as one JSON document, cut at the request's limit (truncated then), and
// filtered as asked.
func TestNATListStream(t *testing.T) {
	tr, _ := natTranslator(t, t.TempDir(), "")
	now := time.Now()
	var hosts []string
	for i := 1; i <= 10; i++ {
		hosts = append(hosts, fmt.Sprintf("2001:db8:1::%d", i))
	}
	natFlows(t, tr, now, hosts...)
	listings := make(chan struct{}, 1)
	for _, tc := range []struct {
		name, query string
		sessions    bool
		want        int
		truncated   bool
	}{
		{"all sessions", "", true, 10, false},
		{"limit", "limit=3", true, 3, true},
		{"limit exact", "limit=10", true, 10, false},
		{"filtered", "addr=2001:db8:1::7", true, 1, false},
		{"bib limit", "proto=udp&limit=4", false, 4, true},
		{"none", "proto=tcp", true, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := httptest.NewRequest("GET", "/sessions?"+tc.query, nil)
			a, err := decodeArgs("GET /sessions", q)
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			serveNATList(w, q, a, tr, tc.sessions, listings)
			var l natListReply
			if err := json.Unmarshal(w.Body.Bytes(), &l); err != nil {
				t.Fatalf("%v:\n%s", err, w.Body)
			}
			if len(l.Entries) != tc.want || l.Truncated != tc.truncated {
				t.Fatalf("%d entries, truncated %v; want %d, %v\n%s", len(l.Entries), l.Truncated, tc.want, tc.truncated, w.Body)
			}
			if l.Entries == nil {
				t.Error(`no "entries" list`)
			}
			lines := tc.want + 4 // an entry a line, 4 of the document around them
			if tc.truncated {
				lines++
			}
			if n := strings.Count(w.Body.String(), "\n"); n != lines {
				t.Errorf("%d lines, want an entry a line", n)
			}
		})
	}
}

// testLimits are small limits, for TestControlLimits.
var testLimits = httpLimits{conns: 2, header: 300 * time.Millisecond, idle: 300 * time.Millisecond, headerBytes: 1 << 10}

// TestControlLimits: a connection that sends nothing is closed after the
// header timeout; connections past the cap wait, unaccepted, until one
// is free; a request with a body, or too large a header, is refused.
func TestControlLimits(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "c.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := r.serveHTTP(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }), "test", testLimits)
	defer srv.Close()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// ask sends a request and returns the reply's status line, or the
	// read error within d.
	ask := func(c net.Conn, req string, d time.Duration) string {
		t.Helper()
		if _, err := io.WriteString(c, req); err != nil {
			return err.Error()
		}
		c.SetReadDeadline(time.Now().Add(d))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err.Error()
		}
		return strings.TrimSpace(line)
	}
	const get = "GET /status HTTP/1.1\r\nHost: x\r\n\r\n"

	t.Run("silent client closed", func(t *testing.T) {
		c := dial()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read %v, want EOF: the server closes", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed after %v", d)
		}
	})
	t.Run("cap", func(t *testing.T) {
		a, b := dial(), dial() // they take both places, saying nothing
		a.Write([]byte("G"))
		b.Write([]byte("G"))
		time.Sleep(50 * time.Millisecond)
		c := dial()
		start := time.Now()
		got := ask(c, get, 3*time.Second)
		if got != "HTTP/1.1 200 OK" {
			t.Fatalf("third connection: %q", got)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("third connection answered after %v, while the two held their places", d)
		}
	})
	t.Run("body", func(t *testing.T) {
		got := ask(dial(), "POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("x", 1000), 3*time.Second)
		if got != "HTTP/1.1 413 Request Entity Too Large" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("chunked body", func(t *testing.T) {
		got := ask(dial(), "POST /reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 3*time.Second)
		if got != "HTTP/1.1 413 Request Entity Too Large" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("header", func(t *testing.T) {
		got := ask(dial(), "GET /status HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("x", 8<<10)+"\r\n\r\n", 3*time.Second)
		if got != "HTTP/1.1 431 Request Header Fields Too Large" {
			t.Fatalf("got %q", got)
		}
	})
}

// TestAppendNATEntry: appendNATEntry writes what encoding/json does.
func TestAppendNATEntry(t *testing.T) {
	ap := netip.MustParseAddrPort
	exp := time.Unix(1_800_000_000, 0)
	for _, e := range []xlat.NATEntry{
		{Proto: "tcp", IPv6: ap("[2001:db8::1]:1024"), IPv4: ap("198.51.100.1:40000"), Remote: ap("203.0.113.5:443"), State: "ESTABLISHED", Expires: exp},
		{Proto: "udp", IPv6: ap("[2001:db8::1]:53"), IPv4: ap("198.51.100.1:53"), Expires: exp.UTC()},
		{Proto: "icmp", IPv6: ap("[2001:db8::2]:7"), IPv4: ap("198.51.100.2:7"), Static: true, Sessions: 12},
		{},
	} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendNATEntry(nil, &e); string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
	e := xlat.NATEntry{Proto: "tcp", IPv6: ap("[2001:db8::1]:1024"), IPv4: ap("198.51.100.1:40000"), Remote: ap("203.0.113.5:443"), State: "ESTABLISHED", Expires: exp}
	b := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { b = appendNATEntry(b[:0], &e) }); n != 0 {
		t.Errorf("%v allocations an entry", n)
	}
}
