package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// Reading a configuration file is bounded: it must be a regular file
// (a FIFO would block the reader until someone writes to it, /dev/zero
// never ends), no larger than a cap, read within a time. A key of the
// file cannot bound the reading of the file that holds it, so the bounds
// are ReadLimits, from the command (its environment) or the defaults.

// Defaults of ReadLimits.
const (
	// DefaultMaxBytes caps a configuration file: 4 MiB holds some 60,000
	// eam entries, and parsing it takes about 40 times its size at peak.
	DefaultMaxBytes = 4 << 20
	// DefaultReadTimeout bounds the reading of a configuration file (a
	// regular file on a stalled network or FUSE file system).
	DefaultReadTimeout = 10 * time.Second
)

// ReadLimits bound the reading of a configuration file; a zero field
// means its default.
type ReadLimits struct {
	MaxBytes int64         // the largest file accepted
	Timeout  time.Duration // how long reading it may take
}

// ErrNotRegular is wrapped by the error for a configuration file that is
// not a regular file (a FIFO, a device, a directory, a socket).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the error for a configuration file larger
// than ReadLimits.MaxBytes.
var ErrTooLarge = errors.New("file too large")

// ErrReadTimeout is wrapped by the error for a configuration file that
// could not be read within ReadLimits.Timeout.
var ErrReadTimeout = errors.New("read timed out")

func (l ReadLimits) withDefaults() ReadLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultReadTimeout
	}
	return l
}

// ReadFile reads the configuration file at path within l. It opens the
// file without blocking (O_NONBLOCK: a FIFO with no writer opens at
// once), refuses what is not a regular file before reading a byte,
// refuses a file larger than l.MaxBytes from its size and again while
// reading (it may grow), and gives up after l.Timeout. A read that
// outlasts it goes on in a goroutine of its own until the file system
// answers; the caller is not kept waiting.
func ReadFile(path string, l ReadLimits) ([]byte, error) {
	l = l.withDefaults()
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w (%s): a configuration is read from a regular file only", path, ErrNotRegular, kind(fi.Mode()))
	}
	if fi.Size() > l.MaxBytes {
		f.Close()
		return nil, fmt.Errorf("%s: %w: %d bytes, more than the %d accepted (NAT64BR_CONFIG_MAX_BYTES raises it)", path, ErrTooLarge, fi.Size(), l.MaxBytes)
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, l.MaxBytes+1))
		done <- result{b, err}
	}()
	t := time.NewTimer(l.Timeout)
	defer t.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		if int64(len(r.b)) > l.MaxBytes {
			return nil, fmt.Errorf("%s: %w: more than the %d bytes accepted (NAT64BR_CONFIG_MAX_BYTES raises it)", path, ErrTooLarge, l.MaxBytes)
		}
		return r.b, nil
	case <-t.C:
		return nil, fmt.Errorf("%s: %w after %v", path, ErrReadTimeout, l.Timeout)
	}
}

// kind names the type of a file that is not regular.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.String()
}
