package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// One nat64br per port: two translating on the same interface both answer
// ARP/ND and both translate, so every host gets duplicate replies. run
// takes a lock per interface before it opens a port, changes one
// (take-over) or touches data-dir and the control socket, so a second
// instance is refused whatever its metrics, control-socket or data-dir.
//
// The lock is a listening Unix socket in the abstract namespace, named
// after the interface (portLockName). That namespace is the network
// namespace's, as interface names are: instances in other namespaces (a
// container, the lab) do not collide, and a lock needs no directory,
// no privilege and no cleanup, since the kernel drops it when the
// process ends, however it ends. A second run finds the name in use,
// connects, and reads the holder's PID with SO_PEERCRED.

// portLockName is the abstract socket name of ifname's lock.
func portLockName(ifname string) string { return "@nat64br/port/" + ifname }

// portLock holds an interface for this process until closed.
type portLock struct {
	ln *net.UnixListener
}

// lockPort takes ifname's lock. If another process holds it, the error
// wraps errRunning and names the holder's PID and command when it can
// read them.
func lockPort(ifname string) (*portLock, error) {
	name := portLockName(ifname)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%w: %s translates on %s (it holds the lock %s): stop it first", errRunning, lockHolder(name), ifname, name)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot lock %s for this nat64br: %w", ifname, err)
	}
	// Connections (from lockHolder) are closed at once, so that the
	// backlog never fills.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return &portLock{ln: ln}, nil
}

// close releases the lock.
func (l *portLock) close() {
	if l != nil {
		l.ln.Close()
	}
}

// lockHolder names the process listening on the abstract socket name:
// "nat64br (pid 1234)", or "another process" if it cannot tell.
func lockHolder(name string) string {
	c, err := net.DialTimeout("unix", name, time.Second)
	if err != nil {
		return "another process"
	}
	defer c.Close()
	sc, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return "another process"
	}
	var cred *syscall.Ucred
	sc.Control(func(fd uintptr) {
		cred, err = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err != nil || cred == nil || cred.Pid <= 0 {
		return "another process"
	}
	comm, _ := os.ReadFile("/proc/" + strconv.Itoa(int(cred.Pid)) + "/comm")
	if c := strings.TrimSpace(string(comm)); c != "" {
		return fmt.Sprintf("%s (pid %d)", c, cred.Pid)
	}
	return fmt.Sprintf("pid %d", cred.Pid)
}

// lockPorts takes the lock of each interface named, once each (both sides
// may share one), or none if one is held.
func lockPorts(names ...string) ([]*portLock, error) {
	var locks []*portLock
	for i, n := range names {
		if n == "" || i > 0 && n == names[0] {
			continue
		}
		l, err := lockPort(n)
		if err != nil {
			for _, l := range locks {
				l.close()
			}
			return nil, err
		}
		locks = append(locks, l)
	}
	return locks, nil
}
