package store

import (
	"errors"
	"fmt"
	"os"
)

// ErrBusyRecording refuses to rewrite a database a live capture or import
// is writing.
var ErrBusyRecording = errors.New("a session is being recorded")

// Vacuum gives the space of deleted sessions back to the filesystem by
// rewriting the database (SQLite's VACUUM, which needs free space about
// the database's size while it runs). It refuses while another process
// records into the database. It returns the file's size before and after.
func (db *DB) Vacuum() (before, after int64, err error) {
	if db.readOnly {
		return 0, 0, errors.New("vacuum: the database is open read-only")
	}
	sessions, err := db.Sessions()
	if err != nil {
		return 0, 0, err
	}
	for _, s := range sessions {
		if s.Status == StatusRecording && !ownSession(s) {
			return 0, 0, fmt.Errorf("vacuum: %w: session %d (process %d on %s); try again when it ends", ErrBusyRecording, s.ID, s.PID, s.Hostname)
		}
	}
	before = db.fileSize()
	// The reserve is space a full disk's delete relies on: vacuum does not
	// count it as its own, and puts it back after.
	db.ReleaseReserve()
	defer db.keepReserve()
	if err := db.conn.Exec("VACUUM"); err != nil {
		return before, 0, fmt.Errorf("vacuum: %w", db.classifyWrite(err))
	}
	if err := db.Checkpoint(true); err != nil {
		return before, 0, fmt.Errorf("vacuum: %w", err)
	}
	return before, db.fileSize(), nil
}

func (db *DB) fileSize() int64 {
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
