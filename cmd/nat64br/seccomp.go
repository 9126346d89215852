package main

import (
	"errors"
	"fmt"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
)

// seccompAllowed are the system calls nat64br may make once it runs: those
// strace -f saw it and the Go runtime make through a lab run (start, ARP,
// ND, translation on both data paths, NAT64 state saves, reload, the
// control socket, a metrics scrape, SIGUSR1, stop), plus those of ordinary
// TCP and UDP clients and servers (a BGP speaker: accept4, connect,
// TCP_MD5SIG through setsockopt) and their 32-bit and time64 spellings.
// A name an architecture does not have is left out there (filterNames).
// What is missing: every way to run a program (execve), to trace, to load
// modules or BPF programs, mount, reboot, change a user or a capability,
// open a socket's namespace (setns, unshare), keyctl, io_uring, ptrace.
// Such a call fails with EPERM; nat64br goes on.
var seccompAllowed = []string{
	// Memory, threads, signals, time: the Go runtime.
	"brk", "mmap", "mmap2", "munmap", "mremap", "madvise", "mprotect", "mincore", "membarrier",
	"clone", "clone3", "exit", "exit_group", "futex", "futex_time64", "set_robust_list", "get_robust_list", "rseq",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigreturn", "sigaltstack", "rt_sigpending", "rt_sigtimedwait", "rt_sigtimedwait_time64",
	"gettid", "getpid", "getppid", "tgkill", "tkill", "kill",
	"sched_yield", "sched_getaffinity", "sched_setaffinity", "getcpu",
	"nanosleep", "clock_nanosleep", "clock_nanosleep_time64", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
	"gettimeofday", "time", "setitimer", "getitimer", "timer_create", "timer_settime", "timer_settime64", "timer_delete",
	"getrlimit", "ugetrlimit", "prlimit64", "getrusage", "uname", "getrandom", "restart_syscall", "arch_prctl", "set_tid_address", "set_thread_area",
	"getuid", "geteuid", "getgid", "getegid", "getuid32", "geteuid32", "getgid32", "getegid32", "getgroups", "getgroups32",
	"capget", "sysinfo", "umask",
	// Files: the configuration, data-dir, /proc and /sys.
	"read", "write", "readv", "writev", "pread64", "pwrite64", "open", "openat", "close", "close_range", "lseek", "_llseek",
	"stat", "lstat", "fstat", "stat64", "lstat64", "fstat64", "newfstatat", "fstatat64", "statx", "fstatfs", "fstatfs64", "statfs", "statfs64",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64", "getcwd",
	"fcntl", "fcntl64", "dup", "dup2", "dup3", "pipe", "pipe2", "eventfd2", "flock",
	"fsync", "fdatasync", "ftruncate", "ftruncate64", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat",
	"rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir",
	"sendfile", "sendfile64", "splice", "copy_file_range",
	// Polling.
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	"poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
	// Sockets: the packet ports and their rings, netlink (interfaces and
	// addresses), the control socket, metrics, sd_notify, TCP and UDP.
	"socket", "socketpair", "socketcall", "bind", "listen", "accept", "accept4", "connect", "shutdown",
	"getsockname", "getpeername", "setsockopt", "getsockopt",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "recvmmsg_time64", "send", "recv",
	"ioctl",
}

// errSeccompArch is wrapped by loadSeccomp's error on an architecture the
// filter library has no system call table for (all but amd64, arm64, 386
// and arm).
var errSeccompArch = errors.New("the system call filter supports amd64, arm64, 386 and arm")

// loadSeccomp installs the filter on every thread (TSYNC) with
// no_new_privs, and returns how many system calls it lets through.
func loadSeccomp() (int, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errSeccompArch, err)
	}
	names := filterNames(seccompAllowed, info)
	f := seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync,
		Policy: seccomp.Policy{
			DefaultAction: seccomp.ActionErrno,
			Syscalls:      []seccomp.SyscallGroup{{Action: seccomp.ActionAllow, Names: names}},
		},
	}
	if err := seccomp.LoadFilter(f); err != nil {
		return 0, fmt.Errorf("system call filter: %w", err)
	}
	return len(names), nil
}

// filterNames returns those of names that info's architecture has.
func filterNames(names []string, info *arch.Info) []string {
	var out []string
	for _, n := range names {
		if _, ok := info.SyscallNames[n]; ok {
			out = append(out, n)
		}
	}
	return out
}
