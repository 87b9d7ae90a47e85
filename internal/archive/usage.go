package archive

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Usage is what a store directory takes on its filesystem, in file
// bytes: the blocks its files occupy (as du(1) counts them), side files
// included, whatever SQLite's own counters say about the packets inside.
type Usage struct {
	// Total is every file of the store but the trash: the catalog and its
	// WAL, the segments (open ones at their current size) with their
	// journals, WALs, spill files, and the reserve.
	Total int64
	// Trash is what expired segments still hold until Reap frees it.
	Trash int64
}

// DiskUsage measures the store directory dir. Files that vanish during
// the walk (a segment retention or a reader removes) are skipped.
func DiskUsage(dir string) Usage {
	var u Usage
	trash := filepath.Join(dir, TrashDir)
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		n := fileBytes(path)
		if filepath.Dir(path) == trash {
			u.Trash += n
		} else {
			u.Total += n
		}
		return nil
	})
	return u
}

// fileBytes is what one file takes on disk: its allocated blocks, or its
// length where the filesystem reports none (0 for a file that is gone).
func fileBytes(path string) int64 {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blocks > 0 {
		return st.Blocks * 512
	}
	return fi.Size()
}

// SegmentFileBytes is what a segment takes on disk now, in file bytes,
// with every file SQLite keeps beside it.
func (a *Archive) SegmentFileBytes(s Segment) int64 {
	var n int64
	p := a.Path(s)
	for _, side := range []string{"", "-wal", "-journal", "-shm", "-reserve"} {
		n += fileBytes(p + side)
	}
	return n
}

// catalogWALTrim is the size above which TrimCatalog empties the
// catalog's WAL.
const catalogWALTrim = 256 << 10

// TrimCatalog gives back the space of the catalog's WAL when it has grown
// past catalogWALTrim: SQLite reuses a WAL from its start after a
// checkpoint but never shrinks it, so every segment's updates would keep
// some megabytes of the store's budget. It checkpoints and truncates the
// WAL if no connection is using it right now, and otherwise leaves it
// for a later call: it waits at most 50 ms for a lock.
func (a *Archive) TrimCatalog() error {
	fi, err := os.Stat(filepath.Join(a.dir, CatalogFile+"-wal"))
	if err != nil || fi.Size() < catalogWALTrim || a.readOnly {
		return nil
	}
	if err := a.conn.BusyTimeout(50 * time.Millisecond); err != nil {
		return err
	}
	defer a.conn.BusyTimeout(10 * time.Second)
	return a.conn.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
}
