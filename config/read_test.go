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

// manyKeys is a document of n keys, each line made by line.
func manyKeys(n int, line func(i int) string) []byte {
	var b strings.Builder
	for i := range n {
		b.WriteString(line(i))
	}
	return []byte(b.String())
}

func unknownKey(i int) string { return fmt.Sprintf("k%d: 1\n", i) }

// TestManyProblems: a file of many bad keys gets the first MaxProblems
// problems and a line counting the rest.
func TestManyProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		line func(i int) string
		want int
	}{
		{"unknown keys", unknownKey, 3000},
		{"repeated keys", func(int) string { return "mode: siit\n" }, 2999},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("many.yaml", manyKeys(3000, tc.line))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v", err)
			}
			if ce.Count != tc.want || len(ce.Problems) != MaxProblems+1 ||
				ce.Problems[MaxProblems] != fmt.Sprintf("many.yaml: ... and %d more problem(s), %d in all", tc.want-MaxProblems, tc.want) {
				t.Fatalf("count %d, %d listed, last %q", ce.Count, len(ce.Problems), ce.Problems[len(ce.Problems)-1])
			}
		})
	}
}

// TestValidationLinear: validating four times the unknown keys takes
// about four times as long, not sixteen. A file of 80,000 of them
// (789 KB) took 58 s when each decoder message scanned every key path
// and the YAML decoder compared every key of a mapping with every other;
// it takes about 1 s now. Times are noisy on a shared machine: each is
// the best of three, and the bound is loose.
func TestValidationLinear(t *testing.T) {
	best := func(n int) time.Duration {
		doc := manyKeys(n, unknownKey)
		d := time.Duration(1 << 62)
		for range 3 {
			start := time.Now()
			Parse("many.yaml", doc)
			d = min(d, time.Since(start))
		}
		return d
	}
	small, large := best(2000), best(8000)
	t.Logf("2000 unknown keys: %v, 8000: %v (x%.1f)", small, large, float64(large)/float64(small))
	if large > 10*small {
		t.Errorf("4 times the keys took %.1f times as long: validation is not linear", float64(large)/float64(small))
	}
}
