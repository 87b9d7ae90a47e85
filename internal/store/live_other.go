//go:build !linux

package store

import "os"

// holdLive cannot lock here: liveness falls back to the recording
// process's PID.
func (db *DB) holdLive(id int64) error { return nil }

func (db *DB) releaseLive(id int64) {}

// lockCreating cannot lock here: a repair in another process may take a
// segment being created for one a recording left empty.
func lockCreating(f *os.File) error { return nil }

func creatingHeld(f *os.File) bool { return false }

func (db *DB) liveHeld(id int64) (held, known bool) { return false, false }

// lockShared cannot lock here: a read through a hot journal is not
// protected from a writer that rolls it back meanwhile.
func lockShared(f *os.File) error { return nil }
