package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockFile is the store's lock, held (flock, exclusive) by the daemon that
// records into it for as long as it runs; it holds that daemon's PID.
const LockFile = "daemon.lock"

// lockWait is how long a daemon waits for the store's lock before it
// says who holds it.
const lockWait = 3 * time.Second

// ErrStoreInUse reports a store another daemon records into.
var ErrStoreInUse = errors.New("store is in use by another daemon")

// lockStore takes the store's lock for this process, or says who holds
// it. Two daemons on one store would store every packet twice and run two
// retention loops. The kernel releases the lock when the process dies.
func lockStore(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	// A daemon killed a moment ago holds it until the last of its
	// threads is gone: a quick restart waits for that, briefly.
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	for deadline := time.Now().Add(lockWait); errors.Is(err, syscall.EWOULDBLOCK) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(b[:n]))
			if _, perr := strconv.Atoi(pid); perr != nil {
				pid = "unknown"
			}
			return nil, fmt.Errorf("%w (PID %s holds %s)", ErrStoreInUse, pid, path)
		}
		return nil, fmt.Errorf("lock store: %w", err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// lockDir serializes the catalog's creation and rebuilding between the
// processes that open the store (an flock on the directory itself).
func lockDir(dir string) func() {
	f, err := os.Open(dir)
	if err != nil {
		return func() {}
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	return func() { f.Close() }
}

// tryLockDir is lockDir that does not wait: ok is false while another
// process rebuilds the catalog.
func tryLockDir(dir string) (unlock func(), ok bool) {
	f, err := os.Open(dir)
	if err != nil {
		return func() {}, true
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}

// A Pin keeps a segment's file from being freed while a reader needs it:
// retention may expire the segment meanwhile (its file moves to the trash,
// which does not disturb an open file), but the reaper leaves a pinned
// file whole (a shared flock on it, which SQLite's own locks ignore).
type Pin struct {
	f    *os.File
	a    *Archive
	s    Segment
	orig string
}

// ErrExpired reports a segment that retention deleted before a reader
// could pin it.
var ErrExpired = errors.New("segment deleted by retention during the read")

// Pin pins a segment's file for a reader. A segment already gone is
// ErrExpired.
func (a *Archive) Pin(s Segment) (*Pin, error) {
	path := a.Path(s)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Expired since it was selected: in the trash, unless reaped.
		f, err = os.Open(a.trashPath(path))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", s.File, ErrExpired)
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", s.File, ErrExpired) // being reaped
		}
		return nil, err
	}
	p := &Pin{f: f, a: a, s: s, orig: path}
	if _, err := p.Path(); err != nil {
		// Freed (or removed empty) between the open and the lock: gone
		// before it was pinned, whoever removed it.
		f.Close()
		if errors.Is(err, ErrDiscarded) {
			return nil, fmt.Errorf("%s: %w", s.File, ErrExpired)
		}
		return nil, err
	}
	return p, nil
}

// Path is where the pinned file is now: its place in the store, or in the
// trash once retention expired it.
func (p *Pin) Path() (string, error) {
	fi, err := p.f.Stat()
	if err != nil {
		return "", err
	}
	for _, path := range []string{p.orig, p.a.trashPath(p.orig)} {
		if cur, err := os.Stat(path); err == nil && os.SameFile(fi, cur) {
			return path, nil
		}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 0 {
		// Removed whole, never moved to the trash: a recording removes a
		// segment that never got a packet (opened ahead of the next
		// commit when the recording stops), and the reaper never frees
		// a pinned file.
		return "", fmt.Errorf("%s: %w", p.s.File, ErrDiscarded)
	}
	return "", fmt.Errorf("%s: %w", p.s.File, ErrExpired)
}

// ErrDiscarded reports a pinned segment whose file was removed whole: its
// recording removed it empty, so there is nothing to read in it.
var ErrDiscarded = errors.New("segment removed empty by its recording")

// Close releases the pin.
func (p *Pin) Close() error { return p.f.Close() }

// lockForReap locks the file at path against readers' pins while the
// reaper frees it; ok is false while a reader pins it. A file that is
// gone has no reader (its name is .reap, or only side files are left); one
// that cannot be opened for another reason (no file descriptor left) may
// have one, and is left for a later pass.
func lockForReap(path string) (unlock func(), ok bool) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, true
	}
	if err != nil {
		return nil, false
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}
