package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadFileRefuses: what is not a regular file is refused before a
// byte is read (a FIFO without a writer would block, /dev/zero never
// ends), and so is a file over the cap.
func TestReadFileRefuses(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("# padding\n", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		limits     ReadLimits
		want       error
		says       string
	}{
		{"fifo", fifo, ReadLimits{}, ErrNotRegular, "a FIFO"},
		{"dev zero", "/dev/zero", ReadLimits{}, ErrNotRegular, "a character device"},
		{"directory", dir, ReadLimits{}, ErrNotRegular, "a directory"},
		{"too large", big, ReadLimits{MaxBytes: 1000}, ErrTooLarge, "2000 bytes, more than the 1000 accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := LoadLimited(tc.path, tc.limits)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) || !strings.HasPrefix(err.Error(), tc.path+": ") {
				t.Fatalf("err = %v, want %v naming %s and saying %q", err, tc.want, tc.path, tc.says)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
	if _, err := LoadLimited(big, ReadLimits{MaxBytes: 2000}); err != nil {
		t.Fatalf("a file at the cap: %v", err)
	}
}

// TestManyProblems: a file of 80,000 unknown keys (789 KB) is answered
// at once, with the first MaxProblems problems and a count of the rest.
// It took 58 s when keys were looked up by line one scan each, and the
// YAML decoder compared every key with every other; the bound here is
// loose on purpose (a shared, busy machine), the check is that it is
// not quadratic any more.
func TestManyProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		line func(i int) string
	}{
		{"unknown keys", func(i int) string { return fmt.Sprintf("k%d: 1\n", i) }},
		{"repeated keys", func(i int) string { return "mode: siit\n" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 80000
			var b strings.Builder
			for i := range n {
				b.WriteString(tc.line(i))
			}
			start := time.Now()
			_, err := Parse("many.yaml", []byte(b.String()))
			took := time.Since(start)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v", err)
			}
			want := n
			if tc.name == "repeated keys" {
				want = n - 1
			}
			if ce.Count != want || len(ce.Problems) != MaxProblems+1 ||
				ce.Problems[MaxProblems] != fmt.Sprintf("many.yaml: ... and %d more problem(s), %d in all", want-MaxProblems, want) {
				t.Fatalf("count %d, %d listed, last %q", ce.Count, len(ce.Problems), ce.Problems[len(ce.Problems)-1])
			}
			t.Logf("%d problems in %v", ce.Count, took)
			if took > 5*time.Second {
				t.Fatalf("validation took %v", took)
			}
		})
	}
}
