package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalsDuringReload: while a reload reads or validates a file
// (here: holds reloadMu), SIGUSR1 is served, status answers, a refused
// reload is counted without waiting, and SIGTERM stops nat64br; the
// reload, when it goes on, applies nothing.
func TestSignalsDuringReload(t *testing.T) {
	l := newMemLab(t)
	r := l.runner(t, t.TempDir())
	var logs *syncBuffer
	r.log, logs = newTestLog()
	r.reloadMu.Lock() // a reload reading a slow file
	sig := make(chan os.Signal, 4)
	done := make(chan int, 1)
	go func() { done <- r.serveSignals(sig, func() {}) }()

	sig <- syscall.SIGHUP
	sig <- syscall.SIGUSR1
	waitFor(t, "SIGUSR1's counters in the log", func() bool { return strings.Contains(logs.String(), "msg=counters") })
	answered := make(chan struct{})
	go func() { r.status(); close(answered) }()
	select {
	case <-answered:
	case <-time.After(5 * time.Second):
		t.Fatal("status waited for the reload")
	}

	start := time.Now()
	sig <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit status %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not stop nat64br while a reload was reading")
	}
	t.Logf("stopped in %v", time.Since(start))
	r.reloadMu.Unlock()
	// The reload SIGHUP asked for now runs, and is refused: the data
	// plane is closed.
	waitFor(t, "the pending reload refused", func() bool { return strings.Contains(logs.String(), "nat64br is stopping") })
}

// waitFor polls cond every 10 ms for up to 5 s, failing t if it never
// holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("no %s within 5 s", what)
}

// TestReloadRefusesFile: a reload of a FIFO, of /dev/zero or of a file
// over NAT64BR_CONFIG_MAX_BYTES is refused at once, with the reason, and
// the running configuration stays.
func TestReloadRefusesFile(t *testing.T) {
	l := newMemLab(t)
	r := l.runner(t, t.TempDir())
	running := r.config()
	for _, tc := range []struct {
		name, says string
		make       func(path string) error
	}{
		{"fifo", "not a regular file (a FIFO)", func(p string) error { return syscall.Mkfifo(p, 0o600) }},
		{"dev zero", "not a regular file (a character device)", func(p string) error { return os.Symlink("/dev/zero", p) }},
		{"too large", "more than the 100 accepted", func(p string) error {
			t.Setenv(configMaxBytesEnv, "100")
			return os.WriteFile(p, []byte(demoConfig), 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.Remove(r.path); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if err := tc.make(r.path); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, problems := r.reloadResult()
			if len(problems) != 2 || problems[0] != "the file cannot be read" || !strings.HasPrefix(problems[1], r.path+": ") || !strings.Contains(problems[1], tc.says) {
				t.Fatalf("problems %q, want one naming %s and saying %q", problems, r.path, tc.says)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refused after %v", d)
			}
			if r.config() != running {
				t.Error("the running configuration was replaced")
			}
		})
	}
}
