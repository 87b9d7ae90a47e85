// Package atomicfile puts a file in place whole or not at all: the
// writers make a temporary beside it, write and sync it, and Rename it
// over the name. After a crash the name holds the old file or the whole
// new one, and once Rename returns, the new one.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// Rename moves tmp, written and synced, to path, and syncs path's
// directory: without that, the rename itself may not survive a crash,
// and the name may hold the old file, or none, after one.
func Rename(tmp, path string) error {
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes the directory's entries durable (its creates, renames
// and removes). A filesystem that cannot sync a directory (EINVAL) is
// taken at its word.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
