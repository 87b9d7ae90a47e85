package archive

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ReserveFile is the file in a store directory that keeps disk space for
// retention, as DB-reserve does for a database: on a full filesystem the
// catalog cannot take the write that marks a segment expiring, nor a
// restart's open, so retention gives the reserve back to the filesystem,
// deletes, and makes the reserve again once there is room.
const ReserveFile = "reserve"

// ReserveSize is the reserve's size: room for the catalog's writes of a
// few deletes (WAL frames of 4 KiB pages, 32 KiB of shared memory, the
// trash directory) and a restart's repair (a few 64 KiB pages of a
// segment's session row).
const ReserveSize = 1 << 20

// ReservePath is the reserve file of the store directory dir.
func ReservePath(dir string) string { return filepath.Join(dir, ReserveFile) }

// HasReserve reports whether the store's reserve is in place, whole.
func HasReserve(dir string) bool {
	fi, err := os.Stat(ReservePath(dir))
	return err == nil && fi.Size() >= ReserveSize
}

// KeepReserve makes the store's reserve file (0600) when it is missing
// or short. It is written whole under a temporary name, synced (so that
// its blocks are allocated, not merely promised), and renamed into
// place: the reserve is either absent or whole. On a filesystem without
// the room it fails and leaves nothing behind.
func KeepReserve(dir string) error {
	if HasReserve(dir) {
		return nil
	}
	tmp, err := os.CreateTemp(dir, ".reserve-*")
	if err != nil {
		return fmt.Errorf("store reserve: %w", err)
	}
	name := tmp.Name()
	_, err = tmp.Write(make([]byte, ReserveSize))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, ReservePath(dir))
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("store reserve: %w", err)
	}
	return nil
}

// ReleaseReserve removes the store's reserve file, giving its space to
// the filesystem. It reports whether there was one.
func ReleaseReserve(dir string) bool {
	return os.Remove(ReservePath(dir)) == nil
}

// DiskSpace returns the bytes available to unprivileged users and the
// total size of the filesystem holding dir (-1, -1 when it cannot say).
func DiskSpace(dir string) (free, total int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, -1
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize)
}

// OpenRoomy opens a store for writing as Open does, on a filesystem that
// may be full. Opening writes (the catalog's WAL and shared memory, the
// repair of segments a crash left open, the holds), so on a filesystem
// with less free than the reserve it first frees what the trash still
// holds and gives the reserve back to the filesystem; and it does so too,
// then tries again, when Open fails while the filesystem is that full.
// The daemon then starts and retention makes room. released reports that
// the reserve is gone (retention makes it again once there is room).
func OpenRoomy(dir string, opts Options) (a *Archive, released bool, err error) {
	full := func() bool {
		if opts.ReadOnly {
			return false
		}
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return false
		}
		free, _ := DiskSpace(dir)
		return free >= 0 && free < ReserveSize
	}
	release := func() {
		(&Archive{dir: dir}).Reap(nil)
		released = ReleaseReserve(dir) || released
	}
	if full() {
		release()
	}
	a, err = Open(dir, opts)
	if err != nil && full() {
		release()
		a, err = Open(dir, opts)
	}
	return a, released, err
}
