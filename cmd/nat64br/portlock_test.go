package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestLockPort takes interface locks: a second locker of a held name is
// refused with the holder's PID, other names are free, and a released
// name can be taken again.
func TestLockPort(t *testing.T) {
	name := func(s string) string { return fmt.Sprintf("t%d%s", os.Getpid()%100000, s) } // names no real interface has
	held := []string{name("a"), name("b")}
	locks, err := lockPorts(held...)
	if err != nil || len(locks) != 2 {
		t.Fatalf("%d locks: %v", len(locks), err)
	}
	defer func() {
		for _, l := range locks {
			l.close()
		}
	}()
	for _, tc := range []struct {
		name  string
		ports []string
		err   error // nil: taken
	}{
		{"same interface", []string{held[0]}, errRunning},
		{"same interfaces", held, errRunning},
		{"one of them", []string{name("c"), held[1]}, errRunning},
		{"another interface", []string{name("c")}, nil},
		{"two others", []string{name("c"), name("d")}, nil},
		{"one shared by both sides", []string{name("c"), name("c")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls, err := lockPorts(tc.ports...)
			for _, l := range ls {
				l.close()
			}
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			want := fmt.Sprintf("(pid %d)", os.Getpid())
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "translates on") {
				t.Fatalf("error %v, want %v naming %s", err, tc.err, want)
			}
			t.Log(err)
		})
	}
	locks[0].close()
	l, err := lockPort(held[0])
	if err != nil {
		t.Fatalf("a released lock: %v", err)
	}
	locks[0] = l
}
