package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// TestWriteFileAtomicNoFollow plants symlinks and files where
// writeFileAtomic and readFile go: none is followed, the file they point
// to keeps its content, and what is not nat64br's own is not deleted.
func TestWriteFileAtomicNoFollow(t *testing.T) {
	newContent := func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }
	for _, tc := range []struct {
		name    string
		plant   func(t *testing.T, path, victim string)
		wantErr bool   // the write is refused
		want    string // path's content after the write ("" : not a regular file)
	}{
		{"symlink at the final name", func(t *testing.T, path, victim string) {
			mustSymlink(t, victim, path)
		}, false, "new"},
		{"symlink at the temporary name", func(t *testing.T, path, victim string) {
			mustSymlink(t, victim, path+".tmp")
		}, true, ""},
		{"dangling symlink at the temporary name", func(t *testing.T, path, victim string) {
			mustSymlink(t, victim+".none", path+".tmp")
		}, true, ""},
		{"directory at the temporary name", func(t *testing.T, path, victim string) {
			if err := os.Mkdir(path+".tmp", 0o700); err != nil {
				t.Fatal(err)
			}
		}, true, ""},
		{"leftover of a crash at the temporary name", func(t *testing.T, path, victim string) {
			if err := os.WriteFile(path+".tmp", []byte("a leftover"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, false, "new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, other := t.TempDir(), t.TempDir()
			path, victim := filepath.Join(dir, "dynamic.map"), filepath.Join(other, "shadow")
			if err := os.WriteFile(victim, []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, path, victim)
			err := writeFileAtomic(path, 0o600, newContent)
			if tc.wantErr != (err != nil) || err != nil && !errors.Is(err, errUnsafe) {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			if got, _ := os.ReadFile(victim); string(got) != "secret" {
				t.Errorf("the symlink's target was written: %q", got)
			}
			if fi, err := os.Lstat(path); tc.want != "" && (err != nil || !fi.Mode().IsRegular()) {
				t.Errorf("%s: %v %v", path, fi, err)
			}
			if got, _ := readFile(path); tc.want != "" && string(got) != tc.want {
				t.Errorf("file %q, want %q", got, tc.want)
			}
			if tc.wantErr {
				if _, err := os.Lstat(path + ".tmp"); err != nil {
					t.Errorf("what was at the temporary name was deleted: %v", err)
				}
			}
		})
	}
	// Reads do not follow a symlink either.
	dir := t.TempDir()
	victim := filepath.Join(dir, "shadow")
	os.WriteFile(victim, []byte("secret"), 0o600)
	mustSymlink(t, victim, filepath.Join(dir, "nat64.state"))
	if b, err := readFile(filepath.Join(dir, "nat64.state")); !errors.Is(err, errUnsafe) || len(b) != 0 {
		t.Errorf("read through a symlink: %q, %v", b, err)
	}
}

func mustSymlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

// TestCheckDataDir refuses a data-dir that another user could write to,
// with a message that names it and says how to fix it.
func TestCheckDataDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, dir string) // dir does not exist yet
		root bool                           // needs root (chown)
		want string                         // in the error; "" : accepted
	}{
		{"normal", func(t *testing.T, dir string) { os.Mkdir(dir, 0o700) }, false, ""},
		{"readable by others", func(t *testing.T, dir string) { os.Mkdir(dir, 0o755) }, false, ""},
		{"missing: made 0700", func(t *testing.T, dir string) {}, false, ""},
		{"symlink", func(t *testing.T, dir string) {
			real := dir + ".real"
			os.Mkdir(real, 0o700)
			mustSymlink(t, real, dir)
		}, false, "is a symlink"},
		{"a file", func(t *testing.T, dir string) { os.WriteFile(dir, nil, 0o600) }, false, "is not a directory"},
		{"group-writable", func(t *testing.T, dir string) { os.Mkdir(dir, 0o700); os.Chmod(dir, 0o770) }, false, "writable by others (mode 0770, owner uid"},
		{"world-writable", func(t *testing.T, dir string) { os.Mkdir(dir, 0o700); os.Chmod(dir, 0o777) }, false, "writable by others (mode 0777, owner uid"},
		{"sticky and world-writable", func(t *testing.T, dir string) {
			os.Mkdir(dir, 0o700)
			os.Chmod(dir, 0o777|os.ModeSticky)
		}, false, "chmod 0700"},
		{"owned by another uid", func(t *testing.T, dir string) {
			os.Mkdir(dir, 0o700)
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, true, "is owned by uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			dir := filepath.Join(t.TempDir(), "data")
			tc.make(t, dir)
			err := checkDataDir(dir, 0)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				fi, err := os.Lstat(dir)
				if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
					t.Fatalf("%v %v", fi, err)
				}
				if err := writeFileAtomic(filepath.Join(dir, "nat64.state"), 0o600, func(io.Writer) error { return nil }); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errUnsafe) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %v, want one with %q and the path", err, tc.want)
			}
			t.Log(err)
		})
	}
}
