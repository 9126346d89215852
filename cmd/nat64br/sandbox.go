package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nat64br/nat64br/config"
)

// Once run has opened its ports, its metrics listener and its control
// socket, and taken the ports over from the kernel, it needs no privilege
// but its open sockets: nothing later opens a port, changes an interface or
// writes /proc/sys (a reload that would is refused: it needs a restart). So
// it gives up what it can (sandbox in the configuration):
//
//   - started by root, it goes on as sandbox.user (default nat64br when
//     that user exists; without it, it stays uid 0), its groups reduced to
//     the user's group;
//   - it keeps CAP_NET_RAW only (keptCaps) in its effective and permitted
//     sets, none inheritable or ambient, and drops the rest from the
//     bounding set when it may (as root; systemd's unit bounds it already);
//   - it sets no_new_privs;
//   - it installs a seccomp filter (seccomp.go) that lets through the
//     system calls nat64br and the Go runtime make, and fails every other
//     with EPERM.
//
// Capabilities, securebits and no_new_privs are per thread in Linux, so
// every step goes to all of the runtime's threads (syscall.AllThreadsSyscall;
// setuid and setgid do already), and the filter is installed with
// SECCOMP_FILTER_FLAG_TSYNC. AllThreadsSyscall is not available in a
// program that links cgo (the race detector does): such a build keeps its
// privileges and says so. The shipped binary is CGO_ENABLED=0.

// sandboxUser is who nat64br goes on as after start.
type sandboxUser struct {
	name     string
	uid, gid int
	switchTo bool // started as root and the user is not root: setuid to it
}

// defaultSandboxUser is sandbox.user when it is not set.
const defaultSandboxUser = "nat64br"

// lookupSandboxUser resolves sandbox.user and sandbox.group before start,
// so that a misspelled user stops nat64br before it opens anything. A
// missing default user is not an error: nat64br then stays the user it was
// started as. A number that names no user is used as it is (a container's
// uid 65532).
func lookupSandboxUser(sb config.Sandbox) (sandboxUser, error) {
	u := sandboxUser{uid: os.Geteuid(), gid: os.Getegid()}
	if !sb.Drop {
		return u, nil
	}
	name := sb.User
	if name == "" {
		name = defaultSandboxUser
	}
	pw, err := lookupUser(name)
	var unknown user.UnknownUserError
	switch {
	case errors.As(err, &unknown) && sb.User == "":
		return u, nil
	case err != nil:
		return u, fmt.Errorf("sandbox.user: %w", err)
	}
	u.name = name
	u.uid, _ = strconv.Atoi(pw.Uid)
	u.gid, _ = strconv.Atoi(pw.Gid)
	if sb.Group != "" {
		g, err := user.LookupGroup(sb.Group)
		if err != nil {
			if g, err = user.LookupGroupId(sb.Group); err != nil {
				n, aerr := strconv.Atoi(sb.Group)
				if aerr != nil || n < 0 {
					return u, fmt.Errorf("sandbox.group: %w", err)
				}
				g = &user.Group{Gid: strconv.Itoa(n)}
			}
		}
		u.gid, _ = strconv.Atoi(g.Gid)
	}
	u.switchTo = os.Geteuid() == 0 && u.uid != 0
	return u, nil
}

// lookupUser finds name as a user name, then as a uid; a number that
// names no user stands for itself, with a group of the same number.
func lookupUser(name string) (*user.User, error) {
	pw, err := user.Lookup(name)
	if err == nil {
		return pw, nil
	}
	if pw, ierr := user.LookupId(name); ierr == nil {
		return pw, nil
	}
	if n, aerr := strconv.Atoi(name); aerr == nil && n >= 0 {
		return &user.User{Uid: name, Gid: name, Username: name}, nil
	}
	return nil, err
}

// keptCaps are the capabilities nat64br keeps after start. CAP_NET_RAW
// covers its packet sockets; nothing it does after start needs
// CAP_NET_ADMIN (take-over, promiscuous mode, multicast memberships and the
// socket buffers beyond the limits are all done at start). A feature that
// binds a port below 1024 after start (a BGP listener on 179 opened
// later) would add CAP_NET_BIND_SERVICE here when its configuration asks
// for it; one that opens its sockets in start needs nothing.
func keptCaps(*config.Config) []uintptr { return []uintptr{unix.CAP_NET_RAW} }

// errNoAllThreads is the error of a build that links cgo.
var errNoAllThreads = errors.New("this nat64br links cgo (a race-detector or cgo build), where Go cannot change every thread's privileges: build it with CGO_ENABLED=0 (make build)")

// sandbox gives up the privileges cfg.Sandbox says, as the comment at the
// top of this file describes, and logs what the process holds afterwards.
// It runs once, after start and before the signal loop.
func (r *runner) sandbox(cfg *config.Config, u sandboxUser) error {
	sb := cfg.Sandbox
	if !sb.Drop && !sb.Seccomp {
		r.log.Warn("sandbox off: nat64br keeps its user and every capability, and makes any system call (sandbox.drop and sandbox.seccomp: for debugging only)")
		return nil
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_GET_NO_NEW_PRIVS, 0, 0); e == syscall.ENOTSUP {
		r.log.Warn("sandbox not applied: nat64br keeps its privileges", "reason", errNoAllThreads)
		return nil
	}
	if sb.Drop {
		if err := r.dropPrivileges(cfg, u); err != nil {
			return fmt.Errorf("sandbox: %w (sandbox.drop: false runs without dropping)", err)
		}
	} else {
		r.log.Warn("sandbox.drop is false: nat64br keeps its user and every capability (debugging only)")
	}
	seccompNote := "off (sandbox.seccomp: false)"
	if sb.Seccomp {
		n, err := loadSeccomp()
		switch {
		case errors.Is(err, errSeccompArch):
			r.log.Warn("no system call filter on this architecture", "err", err)
			seccompNote = "not on this architecture"
		case err != nil:
			return fmt.Errorf("sandbox: %w (sandbox.seccomp: false runs without it)", err)
		default:
			seccompNote = fmt.Sprintf("%d system calls allowed, others fail with EPERM", n)
		}
	} else {
		r.log.Warn("sandbox.seccomp is false: no system call filter (debugging only)")
	}
	st := procStatus("Uid", "Gid", "Groups", "CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
	name := "" // the user it switched to, if it did
	if u.switchTo && sb.Drop {
		name = u.name
	}
	r.log.Info("sandbox applied", "user", name, "uid", st["Uid"], "gid", st["Gid"], "groups", st["Groups"], "cap_eff", st["CapEff"], "cap_prm", st["CapPrm"],
		"cap_inh", st["CapInh"], "cap_bnd", st["CapBnd"], "cap_amb", st["CapAmb"], "no_new_privs", st["NoNewPrivs"], "seccomp", st["Seccomp"], "filter", seccompNote)
	if f, err := os.Open(cfg.Path); err != nil {
		r.log.Warn("the configuration is not readable any more: reloads will fail; make it readable by nat64br's user", "config", cfg.Path, "err", err)
	} else {
		f.Close()
	}
	return nil
}

// dropPrivileges switches to u (when started as root), keeps keptCaps
// only and sets no_new_privs, on every thread.
func (r *runner) dropPrivileges(cfg *config.Config, u sandboxUser) error {
	kept := keptCaps(cfg)
	if os.Geteuid() == 0 && !u.switchTo {
		if cfg.Sandbox.User == "" {
			r.log.Warn("no user "+defaultSandboxUser+": nat64br stays uid 0 with "+capNames(kept)+" only; create the user (contrib/nat64br.sysusers) or set sandbox.user", "key", "sandbox.user")
		} else {
			r.log.Warn("sandbox.user is root: nat64br stays uid 0 with "+capNames(kept)+" only", "key", "sandbox.user")
		}
	}
	if os.Geteuid() != 0 && cfg.Sandbox.User != "" && u.uid != os.Geteuid() {
		r.log.Warn("not started as root: nat64br stays the user it was started as", "uid", os.Geteuid(), "sandbox_user", cfg.Sandbox.User)
	}
	if u.switchTo {
		if err := r.handOver(cfg, u); err != nil {
			return err
		}
	}
	// The bounding set: only root (CAP_SETPCAP) may shrink it; under
	// systemd CapabilityBoundingSet= did.
	if hasCap(unix.CAP_SETPCAP) {
		for c := uintptr(0); c <= lastCap(); c++ {
			if !slices.Contains(kept, c) {
				if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0); e != 0 && e != syscall.EINVAL {
					return fmt.Errorf("dropping capability %d from the bounding set: %w", c, e)
				}
			}
		}
	}
	if u.switchTo {
		if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); e != 0 {
			return fmt.Errorf("PR_SET_KEEPCAPS: %w", e)
		}
		if err := syscall.Setgroups([]int{u.gid}); err != nil {
			return fmt.Errorf("setgroups %d: %w", u.gid, err)
		}
		if err := syscall.Setgid(u.gid); err != nil {
			return fmt.Errorf("setgid %d: %w", u.gid, err)
		}
		if err := syscall.Setuid(u.uid); err != nil {
			return fmt.Errorf("setuid %d: %w", u.uid, err)
		}
		if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0); e != 0 {
			return fmt.Errorf("PR_SET_KEEPCAPS: %w", e)
		}
	}
	if err := setCaps(kept); err != nil {
		return err
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); e != 0 && e != syscall.EINVAL {
		return fmt.Errorf("clearing the ambient capabilities: %w", e)
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %w", e)
	}
	return nil
}

// handOver gives u the files nat64br writes after the drop, which root
// made or owns: data-dir and its state files, and the control socket with
// its directory when nat64br made that. Only what checkDataDir and
// clearStaleSocket accepted at start is there, and nothing is followed
// (lchown).
func (r *runner) handOver(cfg *config.Config, u sandboxUser) error {
	var paths []string
	if r.state != nil || r.dyn != nil {
		paths = append(paths, cfg.DataDir)
		for _, f := range []string{natStateFile, natStateFile + ".tmp", natStateFile + ".bad", dynamicMapFile, dynamicMapFile + ".tmp"} {
			paths = append(paths, filepath.Join(cfg.DataDir, f))
		}
	}
	if r.control != nil {
		paths = append(paths, r.control.path)
		if r.control.madeDir {
			paths = append(paths, filepath.Dir(r.control.path))
		}
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fileOwner(fi) != 0 || fi.Mode()&fs.ModeSymlink != 0 {
			continue // the user's already, or not nat64br's to give
		}
		if err := os.Lchown(p, u.uid, u.gid); err != nil {
			return fmt.Errorf("handing %s to uid %d: %w", p, u.uid, err)
		}
	}
	return nil
}

// setCaps makes caps the effective and permitted sets of every thread
// (the ones of them it has), with none inheritable.
func setCaps(caps []uintptr) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var have [2]unix.CapUserData
	if err := unix.Capget(&hdr, &have[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	var data [2]unix.CapUserData
	for _, c := range caps {
		bit := uint32(1) << (c % 32)
		if have[c/32].Permitted&bit != 0 {
			data[c/32].Effective |= bit
			data[c/32].Permitted |= bit
		}
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}

// hasCap says whether the calling thread has capability c in effect.
func hasCap(c uintptr) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) != nil {
		return false
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}

// lastCap is the kernel's highest capability number.
func lastCap() uintptr {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if n, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && n > 0 && n < 64 {
		return uintptr(n)
	}
	return unix.CAP_LAST_CAP
}

// capNames names caps for the log.
func capNames(caps []uintptr) string {
	names := map[uintptr]string{unix.CAP_NET_RAW: "CAP_NET_RAW", unix.CAP_NET_ADMIN: "CAP_NET_ADMIN", unix.CAP_NET_BIND_SERVICE: "CAP_NET_BIND_SERVICE"}
	var out []string
	for _, c := range caps {
		if n, ok := names[c]; ok {
			out = append(out, n)
		} else {
			out = append(out, "capability "+strconv.Itoa(int(c)))
		}
	}
	return strings.Join(out, ", ")
}

// procStatus returns the fields named of /proc/self/status, with the
// whitespace between values made single spaces.
func procStatus(fields ...string) map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if ok && slices.Contains(fields, k) {
			out[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return out
}
