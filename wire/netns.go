package wire

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// InNetns runs fn with the calling goroutine's OS thread inside the named
// network namespace (/var/run/netns/NAME, as ip netns makes them), then
// moves the thread back. Sockets opened in fn, packet sockets included,
// stay in the namespace. The demo lab and the root tests use it.
func InNetns(name string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", name, err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread is in the wrong namespace and must not be reused.
			panic(fmt.Sprintf("cannot return to the original network namespace: %v", err))
		}
	}()
	return fn()
}
