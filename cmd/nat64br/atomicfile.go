package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// nat64br runs as root or as its own user and writes its state files in
// data-dir. A directory another user may write to would let that user
// plant a symlink at a name nat64br opens, and have it overwrite or read
// a file it could not touch itself. So the directory is checked before
// use (checkDataDir), files are created with O_EXCL|O_NOFOLLOW and read
// with O_NOFOLLOW, and what is not as expected is refused, never followed
// nor deleted.

// errUnsafe is wrapped by the errors of a path nat64br refuses to use
// because another user could have put, or could put, something there.
var errUnsafe = errors.New("refused")

// checkDataDir makes dir (0700) if it does not exist, and checks that it
// is a directory, not a symlink, owned by nat64br's effective uid, by
// root or by owner (the uid it runs as after start, sandbox.go; 0 when
// that is root), and not writable by group or others. Its errors wrap
// errUnsafe and say how to fix the directory.
func checkDataDir(dir string, owner int) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data-dir: %w", err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("data-dir: %w", err)
	}
	uid, mode := fileOwner(fi), fi.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		to, _ := os.Readlink(dir)
		return fmt.Errorf("%w: data-dir %s is a symlink (to %q): set data-dir to the directory itself", errUnsafe, dir, to)
	case !mode.IsDir():
		return fmt.Errorf("%w: data-dir %s is not a directory (mode %v): remove it or set another data-dir", errUnsafe, dir, mode)
	case uid != os.Geteuid() && uid != 0 && uid != owner:
		want := os.Geteuid()
		if owner != 0 {
			want = owner
		}
		return fmt.Errorf("%w: data-dir %s is owned by uid %d, not by nat64br's uid %d or root: chown %d %s", errUnsafe, dir, uid, want, want, dir)
	case mode.Perm()&0o022 != 0:
		return fmt.Errorf("%w: data-dir %s is writable by others (mode %04o, owner uid %d): chmod 0700 %s", errUnsafe, dir, mode.Perm(), uid, dir)
	}
	return nil
}

// fileOwner is the uid owning fi's file.
func fileOwner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// openRead opens path for reading without following a symlink there
// (O_NOFOLLOW), and only if it is a regular file.
func openRead(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%w: %s is a symlink: nat64br does not follow it; remove it", errUnsafe, path)
	}
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%w: %s is not a regular file (mode %v)", errUnsafe, path, fi.Mode())
		}
		return nil, err
	}
	return f, nil
}

// readFile is os.ReadFile through openRead.
func readFile(path string) ([]byte, error) {
	f, err := openRead(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// writeFileAtomic writes path through a temporary file in the same
// directory, path+".tmp": write, fsync, rename over path, fsync the
// directory. A crash or a failed write at any point leaves the old file
// whole, or the new one. The temporary file is created with
// O_EXCL|O_NOFOLLOW, so neither a symlink nor a file planted at its name
// is written through; a leftover of a crash is removed first if it is a
// regular file of nat64br's uid, and anything else there is refused. The
// rename replaces a symlink at path itself, never its target. One writer
// per path at a time: the temporary file's name is fixed.
func writeFileAtomic(path string, perm os.FileMode, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	if err := removeStaleTemp(tmp); err != nil {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// removeStaleTemp removes tmp, a crash's leftover temporary file, if it
// is a regular file owned by nat64br's effective uid; anything else there
// is an error wrapping errUnsafe, and stays.
func removeStaleTemp(tmp string) error {
	fi, err := os.Lstat(tmp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fileOwner(fi) != os.Geteuid() {
		return fmt.Errorf("%w: %s is in the way (mode %v, owner uid %d), not a leftover of nat64br: remove it by hand", errUnsafe, tmp, fi.Mode(), fileOwner(fi))
	}
	return os.Remove(tmp)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
