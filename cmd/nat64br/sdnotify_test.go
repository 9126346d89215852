package main

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSdNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	for _, msg := range []string{"READY=1", sdReloading()} {
		if err := sdNotify(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 256)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("got %q %v, want %q", buf[:n], err, msg)
		}
	}
	if !strings.HasPrefix(sdReloading(), "RELOADING=1\nMONOTONIC_USEC=") {
		t.Errorf("reloading message %q", sdReloading())
	}
}

// notifySocket listens where sdNotify sends (NOTIFY_SOCKET) for the test.
func notifySocket(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return c
}

// notified returns the messages sent to c within d.
func notified(c *net.UnixConn, d time.Duration) []string {
	var out []string
	buf := make([]byte, 1024)
	for deadline := time.Now().Add(d); ; {
		c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, string(buf[:n]))
	}
}

// TestReloadNotify checks what systemd hears of reloads: a refused one
// is no reload (no RELOADING=1, no READY=1, a STATUS= line saying so); an
// applied one is bracketed by RELOADING=1 and READY=1.
func TestReloadNotify(t *testing.T) {
	l := newMemLab(t)
	r := l.runner(t, t.TempDir())
	cfgPath := r.path
	c := notifySocket(t)

	if err := os.WriteFile(cfgPath, []byte(demoConfig+"mtu:\n  ipv6: 900\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, problems := r.reloadResult(); problems == nil {
		t.Fatal("a broken file was applied")
	}
	msgs := notified(c, 200*time.Millisecond)
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0], "STATUS=translating with the previous configuration: reload refused") {
		t.Errorf("refused reload notified %q, want one STATUS= line", msgs)
	}

	if err := os.WriteFile(cfgPath, []byte(demoConfig+"icmp-error-rate: 10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, problems := r.reloadResult(); problems != nil {
		t.Fatalf("reload refused: %q", problems)
	}
	msgs = notified(c, 200*time.Millisecond)
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0], "RELOADING=1\nMONOTONIC_USEC=") || msgs[1] != "READY=1\nSTATUS=translating" {
		t.Errorf("applied reload notified %q, want RELOADING=1 then READY=1", msgs)
	}
}

func TestSdWatchdog(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		name, usec, pid string
		want            time.Duration
	}{
		{name: "none"},
		{name: "30s", usec: "30000000", want: 30 * time.Second},
		{name: "30s for this process", usec: "30000000", pid: pid, want: 30 * time.Second},
		{name: "for another process", usec: "30000000", pid: "1"},
		{name: "zero", usec: "0"},
		{name: "garbage", usec: "30s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			if got := sdWatchdog(); got != tc.want {
				t.Errorf("sdWatchdog() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWatchdog checks that a running plane's liveness reaches systemd's
// watchdog, and that nothing is sent once stopped.
func TestWatchdog(t *testing.T) {
	l := newMemLab(t)
	r := &runner{log: slog.New(slog.NewTextHandler(io.Discard, nil)), d: l.d}
	c := notifySocket(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { r.watchdog(250*time.Millisecond, stop); close(done) }()
	msgs := notified(c, 900*time.Millisecond)
	close(stop)
	<-done
	if len(msgs) < 2 || slices.ContainsFunc(msgs, func(m string) bool { return m != "WATCHDOG=1" }) {
		t.Errorf("watchdog sent %q, want WATCHDOG=1 two or three times", msgs)
	}
	if msgs := notified(c, 400*time.Millisecond); len(msgs) != 0 {
		t.Errorf("stopped watchdog sent %q", msgs)
	}
}
