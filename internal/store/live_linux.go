//go:build linux

package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// liveBase is the first byte of the recording locks: a recording process
// holds an open-file-description lock (F_OFD_SETLK) on byte liveBase+ID of
// the database file for as long as it records session ID. The kernel
// drops it when the process dies, however it dies, before it is a zombie
// and before its PID can be reused; PIDs are no proof of life. The byte is
// far beyond any SQLite locks (at 1 GiB), and locks on bytes past the end
// of a file take no space.
const liveBase = 1 << 62

// creatingByte is the creation lock (Create): the byte below the
// recording locks.
const creatingByte = liveBase - 1

func lockCreating(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: creatingByte, Len: 1}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
}

func creatingHeld(f *os.File) bool {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: creatingByte, Len: 1}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type != unix.F_UNLCK
}

// holdLive takes the recording lock of session id.
func (db *DB) holdLive(id int64) error {
	if db.live == nil {
		f, err := os.OpenFile(db.path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		db.live = f
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: liveBase + id, Len: 1}
	return unix.FcntlFlock(db.live.Fd(), unix.F_OFD_SETLK, &lk)
}

// releaseLive lets go of the recording lock of session id.
func (db *DB) releaseLive(id int64) {
	if db.live == nil {
		return
	}
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: liveBase + id, Len: 1}
	unix.FcntlFlock(db.live.Fd(), unix.F_OFD_SETLK, &lk)
}

// liveHeld reports whether a process holds the recording lock of session
// id; known is false when the lock cannot be tested.
func (db *DB) liveHeld(id int64) (held, known bool) {
	if db.probe == nil {
		f, err := os.Open(db.path)
		if err != nil {
			return false, false
		}
		db.probe = f
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: liveBase + id, Len: 1}
	if err := unix.FcntlFlock(db.probe.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false, false
	}
	return lk.Type != unix.F_UNLCK, true
}

// sqliteShared is the byte range SQLite's readers lock for reading (its
// SHARED lock): a writer's EXCLUSIVE lock needs all of it.
const sqliteSharedFirst, sqliteSharedSize = 0x40000000 + 2, 510

// lockShared takes a reader's SHARED lock on the database file f, as
// SQLite's readers do: no writer may change the file (nor roll back its
// journal) while it is held; closing f releases it.
func lockShared(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: sqliteSharedFirst, Len: sqliteSharedSize}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
}
