package lab

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sandboxUID is the unprivileged user the test runs nat64br as: a number
// with no passwd entry (as the container image's 65532), so that the
// test needs no user of the machine.
const sandboxUID = 65532

// capNetRaw is CapEff and CapPrm of /proc/PID/status with CAP_NET_RAW
// (13) alone.
const capNetRaw = "0000000000002000"

// TestSandbox starts the shipped kind of binary (CGO_ENABLED=0) in a small
// lab in each way an operator does: by hand as root with a user to switch
// to, by hand as root with none, and as an unprivileged user with ambient
// CAP_NET_RAW and CAP_NET_ADMIN as systemd's unit does. Each time it checks
// /proc/PID/status once nat64br runs (the user, CAP_NET_RAW alone,
// no_new_privs, seccomp mode 2), that it still translates (ping), answers
// on its control socket, applies a reload, and saves its NAT64 state at
// stop into a data-dir root made. It also checks that a data-dir another
// user owns and a symlink planted at the state's temporary file give clear
// errors. It needs root.
func TestSandbox(t *testing.T) {
	needLab(t)
	// Everything the unprivileged user reads (binary, configuration) is
	// under a 0755 directory.
	top, err := os.MkdirTemp("", "nat64br-sandbox-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := buildNat64brIn(t, top, false)
	uid := "65532"
	ambient := []string{"setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups",
		"--inh-caps=+net_raw,+net_admin", "--ambient-caps=+net_raw,+net_admin", "--bounding-set=-all,+net_raw,+net_admin"}
	// Without a nat64br user (CI) the default stays root; with one, user:
	// root does the same.
	stayRoot := ""
	if _, err := user.Lookup("nat64br"); err == nil {
		stayRoot = "sandbox: {user: root}\n"
	}
	for i, tc := range []struct {
		name    string
		sandbox string   // the sandbox block
		wrap    []string // how nat64br is started
		userDir bool     // the run's directory (control socket, data-dir) is the user's, as systemd makes it
		plant   func(t *testing.T, data string)
		uid     string // Uid of /proc/PID/status
		start   string // start fails with this, if set
		stop    string // the stop logs this, if set (else: the state is saved)
	}{
		{name: "root to a user", sandbox: "sandbox: {user: \"65532\"}\n", uid: uid},
		{name: "root without the nat64br user", sandbox: stayRoot, uid: "0"},
		{name: "user with ambient capabilities", wrap: ambient, userDir: true, uid: uid},
		{name: "data-dir of another user", sandbox: "sandbox: {user: \"65532\"}\n",
			plant: func(t *testing.T, data string) { mkdirOwned(t, data, 1234) },
			start: "data-dir " + "%DATA% is owned by uid 1234, not by nat64br's uid 65532 or root: chown 65532"},
		{name: "symlink at the state's temporary file", sandbox: "sandbox: {user: \"65532\"}\n",
			plant: func(t *testing.T, data string) {
				mkdirOwned(t, data, 0)
				if err := os.Symlink("/etc/passwd", filepath.Join(data, "nat64.state.tmp")); err != nil {
					t.Fatal(err)
				}
			},
			uid: uid, stop: "nat64.state.tmp is in the way"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wrap != nil {
				if _, err := exec.LookPath(tc.wrap[0]); err != nil {
					t.Skipf("needs %s (util-linux) to start nat64br as a user with ambient capabilities", tc.wrap[0])
				}
			}
			dir := filepath.Join(top, string(rune('a'+i)))
			owner := 0
			if tc.userDir {
				owner = sandboxUID
			}
			mkdirOwned(t, dir, owner)
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, "data")
			if tc.plant != nil {
				tc.plant(t, data)
			}
			l := &lab{opts: Options{Nat64br: exe, Wrap: tc.wrap, Config: func(string) string {
				return demoNAT64Config + "data-dir: " + data + "\n" + tc.sandbox
			}}}
			defer l.cleanup()
			if err := l.build(); err != nil {
				t.Fatal(err)
			}
			err := l.startNat64br(dir)
			if tc.start != "" {
				want := strings.ReplaceAll(tc.start, "%DATA%", data)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("start: want an error with %q, got %v", want, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if t.Failed() {
					t.Logf("nat64br's log:\n%s", l.natOutput())
				}
			}()
			st := statusOf(t, l.nat.Process.Pid)
			ids := strings.Repeat(tc.uid+" ", 3) + tc.uid // real, effective, saved, filesystem
			for k, want := range map[string]string{"Uid": ids, "Gid": ids, "CapEff": capNetRaw, "CapPrm": capNetRaw, "CapInh": "0000000000000000",
				"CapAmb": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"} {
				if got := st[k]; got != want {
					t.Errorf("/proc/%d/status %s: %q, want %q", l.nat.Process.Pid, k, got, want)
				}
			}
			t.Logf("/proc/PID/status: Uid %s, Gid %s, CapEff %s, CapPrm %s, CapBnd %s, NoNewPrivs %s, Seccomp %s",
				st["Uid"], st["Gid"], st["CapEff"], st["CapPrm"], st["CapBnd"], st["NoNewPrivs"], st["Seccomp"])
			if rtts, err := l.ping(labVia6, 3); len(rtts) < 2 {
				t.Errorf("ping %s through nat64br: %d/3 replies (%v)", labVia6, len(rtts), err)
			}
			if _, out, ok := l.status(); !ok {
				t.Errorf("status over the control socket: %s", out)
			}
			if ok, what := l.ctlReloadCheck(); !ok {
				t.Errorf("reload over the control socket: %s", what)
			}
			if err := os.WriteFile(l.configPath, []byte(demoNAT64Config+"data-dir: "+data+"\n"+tc.sandbox+"icmp-error-rate: 500\n"+
				"control-socket: "+l.controlSocket+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			_ = l.nat.Process.Signal(syscall.SIGHUP)
			if !l.waitLog("icmp-error-rate: 1000 -> 500", 5*time.Second) {
				t.Errorf("SIGHUP: the changed configuration was not applied")
			}
			if _, err := l.stopNat64br(); err != nil {
				t.Fatal(err)
			}
			want := "NAT64 state saved"
			if tc.stop != "" {
				want = tc.stop
			}
			if !strings.Contains(l.natOutput(), want) {
				t.Errorf("the stop did not log %q", want)
			}
			if tc.stop == "" {
				fi, err := os.Stat(filepath.Join(data, "nat64.state"))
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Sys().(*syscall.Stat_t).Uid; tc.uid != "0" && got != sandboxUID {
					t.Errorf("nat64.state is owned by uid %d, want %d", got, sandboxUID)
				}
			}
		})
	}
}

// mkdirOwned makes dir (0700) owned by uid.
func mkdirOwned(t *testing.T, dir string, uid int) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// statusOf reads /proc/pid/status, or fails the test.
func statusOf(t *testing.T, pid int) map[string]string {
	t.Helper()
	st, err := procStatus(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
