package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteFileAtomic writes over an old file: a write that fails, however
// far it got, leaves the old file and no temporary one.
func TestWriteFileAtomic(t *testing.T) {
	errCut := errors.New("cut")
	for _, tc := range []struct {
		name  string
		old   string // "" : no file before
		write func(w io.Writer) error
		want  string // the file after
		err   error
	}{
		{"new file", "", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, "new", nil},
		{"replaced", "old", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, "new", nil},
		{"interrupted after some bytes", "old", func(w io.Writer) error {
			io.WriteString(w, "half of the n")
			return errCut
		}, "old", errCut},
		{"interrupted after more than the buffer", "old", func(w io.Writer) error {
			w.Write(make([]byte, 1<<20))
			return errCut
		}, "old", errCut},
		{"interrupted before a first file", "", func(w io.Writer) error { return errCut }, "", errCut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tc.old != "" {
				if err := os.WriteFile(path, []byte(tc.old), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := writeFileAtomic(path, 0o600, tc.write); !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			got, err := os.ReadFile(path)
			if tc.want == "" && !errors.Is(err, os.ErrNotExist) || tc.want != "" && string(got) != tc.want {
				t.Errorf("file %q (%v), want %q", got, err, tc.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) > 1 || len(ents) == 1 && ents[0].Name() != "f" {
				t.Errorf("left in the directory: %v", ents)
			}
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v", fi.Mode())
			}
		})
	}
	// A crash between the write and the rename leaves a temporary file:
	// the old file is whole, and the next write goes over the leftover.
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	os.WriteFile(path, []byte("old"), 0o600)
	os.WriteFile(path+".tmp", []byte("a longer leftover of a crash"), 0o600)
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("file %q", got)
	}
	if err := writeFileAtomic(path, 0o600, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Errorf("file %q after a leftover", got)
	}
	if err := writeFileAtomic(filepath.Join(dir, "none", "f"), 0o600, func(io.Writer) error { return nil }); err == nil {
		t.Error("a write into a missing directory succeeded")
	}
}
