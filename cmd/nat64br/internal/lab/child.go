package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// childEnv, set in the environment of the lab's own executable, makes it
// the lab's helper process instead (see Child).
const childEnv = "NAT64BR_LAB_ECHO"

// Child turns this process into the lab's helper when the lab started it
// as one, and exits when the helper is done; otherwise it returns at once.
// The lab's executables (the demo driver, the package's tests) call it
// first thing. The helper is a TCP line echo server, run in the server's
// namespace to hold the server ends of the state pass's sessions: a
// process may not open enough files for both ends of 10,000 connections
// (RLIMIT_NOFILE, which root without CAP_SYS_RESOURCE cannot raise).
func Child() {
	addr := os.Getenv(childEnv)
	if addr == "" {
		return
	}
	if err := echoChild(addr, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lab echo helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// echoChild listens on addr, says "ready" on out, and echoes what each
// connection sends until in closes (the lab ended or died).
func echoChild(addr string, in io.Reader, out io.Writer) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go echo(c)
		}
	}()
	fmt.Fprintln(out, "ready")
	_, _ = io.Copy(io.Discard, in)
	return nil
}

// echo writes back what c reads until it fails, then closes it. It
// copies through a small buffer of its own: io.Copy would splice through
// a pipe, two more open files for each connection.
func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

// startEchoChild starts the lab's executable as the echo helper on addr
// in ns, waits until it listens, and adds the cleanup that stops it.
func (l *lab) startEchoChild(ns labNS, addr string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := ns.cmd(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+addr)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	l.cleanups = append(l.cleanups, func() { stopChild(cmd, stdin, exited) })
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
	}()
	select {
	case ok := <-ready:
		if ok {
			return nil
		}
	case <-time.After(10 * time.Second):
	}
	stopChild(cmd, stdin, exited)
	return errors.New("the lab's echo helper did not start: " + lastLines(stderr.String(), 2))
}

// stopChild closes the helper's stdin, which ends it, and kills it if it
// has not exited 5 s later.
func stopChild(cmd *exec.Cmd, stdin io.Closer, exited chan struct{}) {
	_ = stdin.Close()
	waitOrKill(cmd.Process, exited, 5*time.Second)
}

// waitOrKill waits up to d for exited to close (the process asked to
// stop has exited), then kills p and waits for it.
func waitOrKill(p *os.Process, exited <-chan struct{}, d time.Duration) {
	select {
	case <-exited:
	case <-time.After(d):
		_ = p.Kill()
		<-exited
	}
}

// procStatus reads /proc/PID/status into a map, its values with single
// spaces (sizes end in " kB").
func procStatus(pid int) (map[string]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return out, nil
}

// kiB returns the size of st's field key (e.g. VmRSS), in KiB, and
// whether st has it.
func kiB(st map[string]string, key string) (int64, bool) {
	v, ok := st[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	return n, err == nil
}
